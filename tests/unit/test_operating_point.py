"""`appliance operating-point adopt | revert | show`: refused without enough referable photos, for another model
or an edited report; audited and stored; then recorded and shown on every screening result."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from model_fakes import manifest_fields, tiny_onnx, to_toml

from appliance.cli import EXIT_BAD_INPUT, main
from appliance.config import load_config
from appliance.domain import OperatingPointSource, SiteOperatingPoint
from appliance.errors import ConfigError
from appliance.inference.manifest import load_manifest
from appliance.operating_point import effective_operating_point, status
from appliance.store import ExamStore
from tests.unit.evaluation.site_fakes import write_config, write_site_folder, write_site_manifest


@pytest.fixture
def box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """A config whose [site] asks for 4 referable photos, and a site report made with its model."""
    manifest = write_site_manifest(tmp_path / "model")
    config = write_config(tmp_path, manifest, "[site]\nmin_referable_photos = 4\n")
    site = write_site_folder(tmp_path / "site")
    assert main(["validate-site", str(site), "--config", str(config), "--json", "--bootstrap", "50"]) == 0
    report = tmp_path / "report.json"
    report.write_text(capsys.readouterr().out)
    return {"config": config, "report": report, "manifest": manifest, "site": site, "data": tmp_path / "var"}


def _audit(data: Path) -> list[tuple[str, str, dict[str, object]]]:
    with ExamStore.open(data) as store:
        return [(e.action, e.actor, e.detail) for e in store.audit_entries()
                if e.action.startswith("operating_point")]


def test_adopt_stores_audits_and_show_reports_it(box: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads(box["report"].read_text())
    assert main(["operating-point", "adopt", str(box["report"]), "--config", str(box["config"]),
                 "--actor", "admin-1"]) == 0
    out = capsys.readouterr().out
    assert "Adopted" in out and "site operating point adopted on" in out and "from 8 photos" in out
    [(action, actor, detail)] = _audit(box["data"])
    assert (action, actor) == ("operating_point_adopted", "admin-1")
    assert detail["threshold"] == report["site_operating_point"]["threshold"]
    assert detail["model_sha256"] == report["model"]["sha256"] and detail["n_referable"] == 4
    assert detail["report_sha256"] == report["report_sha256"]
    with ExamStore.open(box["data"]) as store:
        stored = store.site_operating_point()
    assert stored is not None and stored.threshold == report["site_operating_point"]["threshold"]
    assert (stored.n_photos, stored.adopted_by) == (8, "admin-1")

    assert main(["operating-point", "show", "--config", str(box["config"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "site" and shown["applies"] is True
    assert shown["threshold"] == stored.threshold and shown["locked_threshold"] == 0.5


def test_too_few_referable_photos_are_refused(box: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    strict = write_config(tmp_path, box["manifest"])  # the default: 50 referable photos
    assert main(["operating-point", "adopt", str(box["report"]), "--config", str(strict)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "error [operating_point_too_few_referable]" in err and "4 referable photos" in err and "50" in err
    assert _audit(box["data"]) == []


def test_a_report_from_another_model_is_refused(box: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    other = _other_model(tmp_path)
    config = write_config(tmp_path, other, "[site]\nmin_referable_photos = 4\n")
    assert main(["operating-point", "adopt", str(box["report"]), "--config", str(config)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "error [operating_point_model_mismatch]" in err and "validate the site again" in err
    assert _audit(box["data"]) == []


@pytest.mark.parametrize(("content", "code"), [
    (None, "report_missing"),
    ("not json", "report_invalid"),
    ('{"kind": "something else"}', "report_invalid"),
    ("edited", "report_altered"),
])
def test_a_missing_foreign_or_edited_report_is_refused(box: dict[str, Path], tmp_path: Path, content: str | None,
                                                       code: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "given.json"
    if content == "edited":
        report = json.loads(box["report"].read_text())
        report["site_operating_point"]["threshold"] = 0.01  # a lower threshold typed in by hand
        path.write_text(json.dumps(report))
    elif content is not None:
        path.write_text(content)
    assert main(["operating-point", "adopt", str(path), "--config", str(box["config"])]) == EXIT_BAD_INPUT
    assert f"error [{code}]" in capsys.readouterr().err
    assert _audit(box["data"]) == []


def test_revert_goes_back_to_the_locked_threshold_audited(box: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = str(box["config"])
    assert main(["operating-point", "adopt", str(box["report"]), "--config", config, "--actor", "a"]) == 0
    assert main(["operating-point", "revert", "--config", config, "--actor", "b", "--reason", "new camera"]) == 0
    assert "Reverted to the model's locked threshold" in capsys.readouterr().out
    actions = _audit(box["data"])
    assert [(a, who) for a, who, _ in actions] == [("operating_point_adopted", "a"), ("operating_point_reverted", "b")]
    reverted = actions[1][2]
    assert reverted["reason"] == "new camera" and reverted["reverted"]["n_photos"] == 8  # type: ignore[index]
    assert main(["operating-point", "show", "--config", config]) == 0
    assert "the model's locked threshold 0.5000" in capsys.readouterr().out


def test_screening_records_and_shows_the_site_operating_point_until_reverted(
        box: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config = str(box["config"])
    right, left = box["site"] / "img" / "p0.png", box["site"] / "img" / "p5.png"
    # The synthetic photos all have their disc on one side: the operator vouches for the eye labels.
    screen = ["screen", "--config", config, "--right", str(right), "--left", str(left), "--confirm-eyes"]
    assert main(["operating-point", "adopt", str(box["report"]), "--config", config]) == 0
    capsys.readouterr()
    threshold = json.loads(box["report"].read_text())["site_operating_point"]["threshold"]
    assert main([*screen, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    point = summary["operating_point"]
    assert point["source"] == "site" and point["threshold"] == threshold == summary["thresholds"]["referable"]
    assert point["n_photos"] == 8 and point["locked_threshold"] == 0.5
    today = datetime.now(timezone.utc).date().isoformat()
    assert point["description"].startswith(f"site operating point adopted on {today} from 8 photos")
    with ExamStore.open(box["data"]) as store:
        recorded = store.get_exam(summary["exam_id"]).result.operating_point
    assert recorded is not None and recorded.source is OperatingPointSource.SITE
    assert recorded.threshold == threshold and recorded.n_photos == 8

    assert main(screen) == 0
    assert f"Operating point: site operating point adopted on {today} from 8 photos" in capsys.readouterr().out

    assert main(["operating-point", "revert", "--config", config]) == 0
    capsys.readouterr()
    assert main([*screen, "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["operating_point"]["source"] == "locked" and after["thresholds"]["referable"] == 0.5
    assert "site operating point" not in after["operating_point"]["description"]


def test_a_point_adopted_for_another_model_is_set_aside_and_says_why(tmp_path: Path) -> None:
    manifest = load_manifest(write_site_manifest(tmp_path / "model", threshold=0.4))
    site = SiteOperatingPoint(threshold=0.2, model_sha256="f" * 64,
                              adopted_at=datetime(2025, 3, 4, tzinfo=timezone.utc), adopted_by="a",
                              n_photos=300, n_referable=60, target_sensitivity=0.87, report_sha256="0" * 64)
    point = effective_operating_point(site, manifest)
    assert point.source is OperatingPointSource.LOCKED and point.threshold == 0.4
    assert "adopted on 2025-03-04 is not applied" in point.note and "ffffffffffff" in point.note
    state = status(site, manifest)
    assert state["applies"] is False and state["note"] == point.note and state["adopted"]["threshold"] == 0.2
    same = effective_operating_point(SiteOperatingPoint(**{**site.__dict__, "model_sha256": manifest.sha256}),
                                     manifest)
    assert same.source is OperatingPointSource.SITE and same.threshold == 0.2 and same.locked_threshold == 0.4
    assert same.description.startswith("site operating point adopted on 2025-03-04 from 300 photos")


def test_min_referable_photos_comes_from_config_and_env_and_must_be_positive(tmp_path: Path) -> None:
    assert load_config(env={}).site.min_referable_photos == 50
    path = tmp_path / "box.toml"
    path.write_text("[site]\nmin_referable_photos = 80\n")
    assert load_config(path, env={}).site.min_referable_photos == 80
    assert load_config(path, env={"APPLIANCE_SITE_MIN_REFERABLE_PHOTOS": "120"}).site.min_referable_photos == 120
    with pytest.raises(ConfigError, match="min_referable_photos"):
        load_config(env={"APPLIANCE_SITE_MIN_REFERABLE_PHOTOS": "0"})


def _other_model(tmp_path: Path) -> Path:
    """Another model (the Q/DQ tiny model: other bytes, same contract) and its manifest."""
    folder = tmp_path / "other"
    folder.mkdir()
    model = tiny_onnx(quantized=True)
    (folder / "model.onnx").write_bytes(model)
    fields = copy.deepcopy(manifest_fields("model.onnx", hashlib.sha256(model).hexdigest()))
    (folder / "model.toml").write_text(to_toml(fields))
    return folder / "model.toml"


def test_after_a_model_change_results_use_the_locked_threshold_and_say_why(
        box: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operating-point", "adopt", str(box["report"]), "--config", str(box["config"])]) == 0
    other = tmp_path / "after-update"
    other.mkdir()
    # The same store, another installed model (an update): the site point is kept but not applied.
    updated = write_config(other, _other_model(tmp_path))
    updated.write_text(updated.read_text().replace(str(other / "var"), str(box["data"])))
    capsys.readouterr()
    right, left = box["site"] / "img" / "p0.png", box["site"] / "img" / "p5.png"
    assert main(["screen", "--config", str(updated), "--right", str(right), "--left", str(left), "--confirm-eyes",
                 "--json"]) == 0
    point = json.loads(capsys.readouterr().out)["operating_point"]
    assert point["source"] == "locked" and point["threshold"] == 0.42
    assert "is not applied: it was adopted for model sha256" in point["note"]
    assert point["note"] in point["description"]
    assert main(["operating-point", "show", "--config", str(updated)]) == 0
    assert "is not applied" in capsys.readouterr().out


def test_exams_stored_before_operating_points_show_the_locked_threshold() -> None:
    from appliance.domain import Exam as DomainExam
    from appliance.domain import Eye, ModelInfo, Outcome, Patient, Result
    from appliance.store.codec import result_from_dict
    from appliance.summary import exam_summary

    # A result stored before operating points were recorded reads back as decided at the locked threshold...
    stored = result_from_dict({"outcome": "NO_REFER", "message": "m", "threshold": 0.0868, "reasons": [],
                               "eye_scores": {}})
    assert stored.operating_point is not None and stored.operating_point.source is OperatingPointSource.LOCKED
    assert stored.operating_point.threshold == 0.0868
    # ...and a Result without one is shown the same way.
    result = Result(outcome=Outcome.NO_REFER, reasons=(), eye_scores={Eye.RIGHT: None, Eye.LEFT: None},
                    threshold=0.0868)
    exam = DomainExam(exam_id="e", patient=Patient("p"), images=(), result=result,
                      model=ModelInfo("m", "1", "0" * 64, "onnxruntime"),
                      created_at=datetime(2024, 1, 1, tzinfo=timezone.utc), operator="t")
    point = exam_summary(exam)["operating_point"]
    assert point["source"] == "locked" and point["threshold"] == 0.0868
