"""`appliance quality-eval` and `appliance quality-calibrate` run as the operator runs them.

A small labelled folder is built in a temporary directory from ~20 development-set photos (links,
never copies in the repository) plus one damaged file; the commands run as subprocesses and their
--json output is checked against the gate run directly on the same photos.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.config import LimitsConfig, QualityConfig, quality_profile
from appliance.errors import ImageError
from appliance.evaluation.quality import aimed_off
from appliance.imaging import UInt8Image, decode_image
from appliance.quality import assess, judge
from appliance.quality.field_of_view import find_field
from appliance.quality.framings import FRAMINGS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.devset
REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["file", "dr_grade", "referable", "quality", "source", "original_name"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("APPLIANCE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "appliance", *args, "--no-progress"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def folder(devset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Natural-colour photos: 8 good, 4 usable, 8 reject, 2 IDRiD (unlabelled), 1 cut-short JPEG."""
    with (devset / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    chosen: list[dict[str, str]] = []
    for quality, count in (("good", 8), ("usable", 4), ("reject", 8)):
        pool = [r for r in rows if r["quality"] == quality and "eyepacs_nat_" in r["file"]]
        chosen += pool[:: max(1, len(pool) // count)][:count]
    chosen += [r for r in rows if "idrid" in r["file"]][:2]
    if len(chosen) < 20:
        pytest.skip("too few labelled natural-colour photos in the development set")
    root = tmp_path_factory.mktemp("labelled")
    (root / "images").mkdir()
    for row in chosen:
        (root / row["file"]).symlink_to(devset / row["file"])
    damaged = chosen[0]["file"].replace(".jpg", "_cut.jpg")
    (root / damaged).write_bytes((devset / chosen[0]["file"]).read_bytes()[:4000])
    with (root / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in COLUMNS} for r in chosen)
        writer.writerow({**{c: chosen[0].get(c, "") for c in COLUMNS}, "file": damaged, "quality": "good"})
    return root


#: What a test does to each decoded photo before the gate judges it; None leaves the photo out.
Change = Callable[[UInt8Image, QualityConfig], "UInt8Image | None"]


def direct(folder: Path, profile: str, change: Change | None = None) -> dict[str, tuple[bool, list[str]]]:
    """The verdict per file, from decode_image (+ `change`) + assess in this process."""
    thresholds = quality_profile(profile)
    out = {}
    with (folder / "labels.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                photo = decode_image((folder / row["file"]).read_bytes(), LimitsConfig())
            except ImageError as exc:
                out[row["file"]] = (False, [exc.reason_code])
                continue
            changed = photo if change is None else change(photo, thresholds)
            if changed is not None:
                report = assess(changed, thresholds)
                out[row["file"]] = (report.passed, list(report.reason_codes))
    return out


@pytest.mark.parametrize("profile", ["default", "eyepacs-natural"])
def test_quality_eval_json_matches_the_gate_run_directly(folder: Path, profile: str, tmp_path: Path) -> None:
    result = run("quality-eval", str(folder), "--json", "--profile", profile, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = direct(folder, profile)
    assert {i["file"]: (i["passed"], i["reason_codes"]) for i in report["images"]} == expected
    cut = next(i for i in report["images"] if i["file"].endswith("_cut.jpg"))
    assert cut["reason_codes"] == ["image_truncated"] and not cut["passed"]

    block = report["summary"]["all"]
    labels = {i["file"]: i["quality"] for i in report["images"]}
    caught = sum(1 for f, (ok, _) in expected.items() if labels[f] == "reject" and not ok)
    good_rejected = sum(1 for f, (ok, _) in expected.items() if labels[f] == "good" and not ok)
    assert block["labels"] == {"good": 9, "usable": 4, "reject": 8, "unlabelled": 2}
    assert block["confusion"]["reject_caught"] == caught
    assert block["reject_sensitivity"]["rate"] == pytest.approx(caught / 8)
    assert block["good_false_reject_rate"]["rate"] == pytest.approx(good_rejected / 9)
    codes = [c for _, (_, reasons) in expected.items() for c in reasons]
    assert block["reasons"] == {c: codes.count(c) for c in set(codes)}
    assert report["profile"] == profile
    assert report["non_fundus"]["rejected_not_fundus"] == report["non_fundus"]["images"] > 0
    assert set(report["summary"]["by_source"]) == {"eyepacs", "idrid-segmentation-subset"}


def test_quality_eval_metrics_are_the_gates_and_judge_to_its_verdict(folder: Path, tmp_path: Path) -> None:
    """--metrics dumps what the gate measured, so thresholds can be studied and refitted without
    measuring again: judging the dumped metrics gives the command's own verdict on every photo."""
    result = run("quality-eval", str(folder), "--json", "--metrics", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    thresholds = quality_profile("default")
    decoded = [i for i in report["images"] if i["metrics"]]
    assert len(decoded) == len(report["images"]) - 1  # the truncated file has no metrics
    for image in decoded:
        verdict = judge(image["metrics"], thresholds)
        assert (verdict.passed, list(verdict.reason_codes)) == (image["passed"], image["reason_codes"])
    fundus = [i for i in decoded if "not_fundus" not in i["reason_codes"]]
    assert fundus and all("reject_probability" in i["metrics"] and "focus" in i["metrics"] for i in fundus)
    plain = json.loads(run("quality-eval", str(folder), "--json", cwd=tmp_path).stdout)
    assert all("metrics" not in i for i in plain["images"])


def test_quality_eval_text_report(folder: Path, tmp_path: Path) -> None:
    result = run("quality-eval", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "reject caught (sensitivity)" in result.stdout and "non-fundus negative controls" in result.stdout
    assert "passed:" in result.stdout


def test_quality_eval_reframes_every_photo_and_reports_the_share_passed(folder: Path, tmp_path: Path) -> None:
    result = run("quality-eval", str(folder), "--json", "--framing", "stamp-inside", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["framing"] == "stamp-inside"
    expected = direct(folder, "default", lambda photo, _: FRAMINGS["stamp-inside"](photo, find_field(photo)))
    assert {i["file"]: (i["passed"], i["reason_codes"]) for i in report["images"]} == expected
    for block in (report["summary"]["all"], *report["summary"]["by_source"].values()):
        assert block["passed_rate"]["k"] == block["passed"] and block["passed_rate"]["n"] == block["images"]
    framed_passed = sum(ok for ok, _ in expected.values())
    assert report["summary"]["all"]["passed"] == framed_passed > 0


def test_quality_eval_aims_every_photo_off_its_fields(folder: Path, tmp_path: Path) -> None:
    result = run("quality-eval", str(folder), "--json", "--aim-off", "0.95", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = direct(folder, "default", lambda photo, thresholds: aimed_off(photo, thresholds, 0.95))
    assert {i["file"]: (i["passed"], i["reason_codes"]) for i in report["images"]} == expected
    assert report["aim_off"] == 0.95 and report["left_out"] == 23 - len(expected)
    # Most photos whose disc could be moved to the rim are told the field is not centred.
    judged = [i for i in report["images"] if i["reason_codes"] != ["image_truncated"]]
    assert sum("field_not_centred" in i["reason_codes"] for i in judged) >= len(judged) / 2


def test_calibrate_writes_a_profile_that_quality_eval_uses(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "clinic-camera.toml"
    result = run("quality-calibrate", str(folder), "--split", "all", "--target-false-reject", "0.1",
                 "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "negative controls rejected as not_fundus" in result.stdout
    thresholds = quality_profile(str(out))
    assert thresholds.score_model  # the combined score is fitted by default
    evaluated = run("quality-eval", str(folder), "--json", "--profile", str(out), cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert {i["file"]: (i["passed"], i["reason_codes"]) for i in report["images"]} == direct(folder, str(out))
    # Fitted on these very photos with a budget of 10 % of (8 good + 4 usable at half weight) = 1 photo:
    # the fit holds on them (the damaged file, rejected for its decoding, is not the fit's doing).
    good_rejected = [i for i in report["images"]
                     if i["quality"] == "good" and not i["passed"] and not i["file"].endswith("_cut.jpg")]
    assert len(good_rejected) <= 1


def test_calibrate_pools_folders_with_a_budget_per_source(folder: Path, tmp_path: Path) -> None:
    """A second folder of unlabelled photos from a release whose graders graded every photo
    (labelled here as IDRiD's grading set) counts as gradable, with its own false-reject budget."""
    other = tmp_path / "graded"
    (other / "images").mkdir(parents=True)
    with (folder / "labels.csv").open(newline="") as f:
        idrid = [r for r in csv.DictReader(f) if "idrid" in r["file"]]
    for row in idrid:
        (other / row["file"]).symlink_to((folder / row["file"]).resolve())
    with (other / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({**{c: r.get(c, "") for c in COLUMNS}, "source": "idrid-grading:test"} for r in idrid)
    out = tmp_path / "pooled.toml"
    result = run("quality-calibrate", str(folder), "--data-dir", str(other), "--split", "all", "--no-score",
                 "--sources", "eyepacs,idrid-grading", "--gradable-sources", "idrid-grading", "--per-source",
                 "--target-false-reject", "0.1", "--keep", "too_dark_mean,min_fov_rim_on_circle",
                 "--backstop", "0", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"idrid-grading: gradable (good + usable) rejected 0/{len(idrid)}" in result.stdout
    about = tomllib.loads(out.read_text())["profile"]
    assert about["fitted_on"] == f"{folder.name} + graded: sources=eyepacs,idrid-grading split=all"
    assert f"idrid-grading=0/{len(idrid)}" in about["gradable_rejected_per_source"]
    assert about["backstop"] == 0.0
    thresholds, default = quality_profile(str(out)), quality_profile("default")
    assert thresholds.too_dark_mean == default.too_dark_mean
    assert thresholds.min_fov_rim_on_circle == default.min_fov_rim_on_circle
    # With the backstop no check is left off: each sits beyond every gradable photo.
    assert thresholds.min_focus > 0.0 and thresholds.max_illum_dark_fraction < 1000.0
    bad = run("quality-calibrate", str(folder), "--keep", "min_sharpness", "--out", str(out), cwd=tmp_path)
    assert bad.returncode == 3 and "min_sharpness" in bad.stderr and "Traceback" not in bad.stderr


def test_a_folder_without_labels_is_a_clear_error(tmp_path: Path) -> None:
    result = run("quality-eval", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 3
    assert "labels.csv" in result.stderr and "Traceback" not in result.stderr


def test_model_auc_by_gate_verdict(folder: Path, tmp_path: Path) -> None:
    manifest = REPO / "models" / "dr-reference.toml"
    if not manifest.is_file():
        pytest.skip(f"no model at {manifest}")
    result = run("quality-eval", str(folder), "--json", "--model", str(manifest), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    scored = [i for i in report["images"] if i["score"] is not None]
    assert len(scored) == len(report["images"]) - 1  # all but the damaged file
    assert all(0.0 <= i["score"] <= 1.0 for i in scored)
    model = report["model"]["all"]
    assert model["passed"]["images"] + model["rejected"]["images"] == sum(i["referable"] is not None for i in scored)
