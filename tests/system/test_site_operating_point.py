"""The whole box with a site operating point: validate-site on real labelled photos, adopt the report while the
kiosk runs, then every result (kiosk API, CLI, store) records and shows it; after revert none does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.tomlfile import tomllib
from tests.system.helpers import Kiosk, box_env, free_port, request, run_cli, running_server, store_rows

REPO = Path(__file__).resolve().parents[2]
MANIFEST = tomllib.loads((REPO / "models" / "dr-reference.toml").read_text())
HEADER = "file,dr_grade,referable,quality,source,original_name\n"


@pytest.fixture
def site_folder(tmp_path: Path, devset: Path, devset_rows: list[dict[str, str]]) -> Path:
    """Eight referable and eight non-referable natural-colour development-set photos graded `good`, linked into a
    site folder with its own labels.csv."""
    good = [r for r in devset_rows if r["quality"] == "good" and "eyepacs_nat_" in r["file"]]
    chosen = [r for r in good if r["referable"] == "1"][:8] + [r for r in good if r["referable"] == "0"][:8]
    if len(chosen) < 16:
        pytest.skip("the development set has too few good natural-colour photos of each class")
    folder = tmp_path / "site"
    (folder / "photos").mkdir(parents=True)
    lines = []
    for row in chosen:
        name = Path(row["file"]).name
        (folder / "photos" / name).symlink_to(devset / row["file"])
        lines.append(f"photos/{name},{row['dr_grade']},{row['referable']},good,clinic-camera,{name}")
    (folder / "labels.csv").write_text(HEADER + "\n".join(lines) + "\n")
    return folder


def _screen(kiosk: Kiosk, right: Path, left: Path, patient: str) -> dict[str, object]:
    answer = kiosk.post("/api/exams", fields={"patient_id": patient},
                        files=[("right", right.name, right.read_bytes()), ("left", left.name, left.read_bytes())])
    assert answer.status == 201, answer.body
    summary: dict[str, object] = answer.json()
    return summary


def test_adopted_site_operating_point_is_recorded_and_shown_until_reverted(
        tmp_path: Path, site_folder: Path, sample_pair: tuple[Path, Path]) -> None:
    data = tmp_path / "var"
    env = box_env(data, APPLIANCE_SITE_MIN_REFERABLE_PHOTOS="3")
    made = run_cli(["validate-site", str(site_folder), "--json", "--bootstrap", "200",
                    "--pdf", str(tmp_path / "site.pdf")], env)
    assert made.returncode == 0, made.stderr
    report_path = tmp_path / "site.json"
    report_path.write_text(made.stdout)
    report = json.loads(made.stdout)
    assert report["model"]["sha256"] == MANIFEST["sha256"] and report["n_images"] == 16
    assert report["shift"]["available"] is ("validation" in MANIFEST)
    assert (tmp_path / "site.pdf").read_bytes().startswith(b"%PDF")
    site = report["site_operating_point"]
    if site["n_referable"] < 3:
        pytest.skip(f"the gate passed only {site['n_referable']} of the 8 referable photos")
    threshold, n_photos = site["threshold"], site["n_photos"]

    right, left = sample_pair
    with running_server(env, free_port()) as base:
        kiosk = Kiosk(base)
        before = _screen(kiosk, right, left, "P-before")
        assert before["operating_point"]["source"] == "locked"  # type: ignore[index]

        adopted = run_cli(["operating-point", "adopt", str(report_path), "--actor", "admin-7"], env)
        assert adopted.returncode == 0, adopted.stderr
        health = request(base + "/healthz").json()
        assert health["operating_point"]["source"] == "site" and health["operating_point"]["threshold"] == threshold

        during = _screen(kiosk, right, left, "P-site")  # the running kiosk applies it at once
        point = during["operating_point"]
        assert point["source"] == "site" and point["threshold"] == threshold  # type: ignore[index]
        assert during["thresholds"]["referable"] == threshold  # type: ignore[index]
        assert point["description"].startswith("site operating point adopted on ")  # type: ignore[index]
        assert f"from {n_photos} photos" in point["description"]  # type: ignore[index]
        page = kiosk.get("/").body
        assert b'id="result-operating-point"' in page

        cli = run_cli(["screen", "--patient-id", "P-cli", "--right", str(right), "--left", str(left)], env)
        assert cli.returncode == 0, cli.stderr
        assert "Operating point: site operating point adopted on " in cli.stdout
        assert f"from {n_photos} photos" in cli.stdout

        reverted = run_cli(["operating-point", "revert", "--actor", "admin-7", "--reason", "test"], env)
        assert reverted.returncode == 0, reverted.stderr
        after = _screen(kiosk, right, left, "P-after")
        assert after["operating_point"]["source"] == "locked"  # type: ignore[index]
        assert after["thresholds"]["referable"] == MANIFEST["threshold"]["operating"]  # type: ignore[index]
        assert "site operating point" not in after["operating_point"]["description"]  # type: ignore[index]

    recorded = {row["patient_id"]: json.loads(row["result_json"])["operating_point"]
                for row in store_rows(data, "SELECT patient_id, result_json FROM exams")}
    assert recorded["P-site"]["source"] == recorded["P-cli"]["source"] == "site"
    assert recorded["P-site"]["threshold"] == threshold and recorded["P-site"]["n_photos"] == n_photos
    assert recorded["P-before"]["source"] == recorded["P-after"]["source"] == "locked"
    actions = [r["action"] for r in store_rows(data, "SELECT action FROM audit WHERE action LIKE 'operating_point%'")]
    assert actions == ["operating_point_adopted", "operating_point_reverted"]
    history = store_rows(data, "SELECT action, actor, threshold FROM operating_points ORDER BY id")
    assert [(r["action"], r["actor"]) for r in history] == [("adopt", "admin-7"), ("revert", "admin-7")]
    assert history[0]["threshold"] == threshold
