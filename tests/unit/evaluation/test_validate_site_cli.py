"""`appliance validate-site` in-process: JSON and PDF reports, with and without the manifest's [validation]
section, and every bad input giving one line and exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from appliance.cli import EXIT_BAD_INPUT, main
from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.operating_point import report_digest
from tests.unit.evaluation.eval_fakes import HEADER, write_synthetic_folder
from tests.unit.evaluation.site_fakes import validation_section, write_config, write_site_folder, write_site_manifest

#: Far below the tiny model's scores of the synthetic photos (about 0.27-0.31): a shift to report.
LOW_VALIDATION = validation_section([0.05, 0.08, 0.1, 0.12, 0.15], [0.2, 0.3, 0.4, 0.5, 0.6])


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site_folder(tmp_path / "site")


def test_json_report_with_validation_scores_warns_of_the_shift(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = write_site_folder(tmp_path / "site", n_referable=10, n_not_referable=10)
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model", validation=LOW_VALIDATION))
    assert main(["validate-site", str(site), "--config", str(config), "--json", "--bootstrap", "100"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "dr_site_validation" and report["notice"] == NOT_VALIDATED_NOTICE
    assert report["report_sha256"] == report_digest(report)
    assert report["n_images"] == report["n_graded"] == 20
    assert report["imageability"]["share"] == 1.0
    locked = report["locked_threshold"]
    assert (locked["threshold"], locked["n_referable"], locked["n_not_referable"]) == (0.5, 10, 10)
    assert locked["sensitivity"]["value"] == 0.0  # every synthetic score is under 0.5
    assert [row["n"] for row in report["per_grade"]] == [5, 5, 4, 3, 3]
    shift = report["shift"]
    assert shift["available"] and shift["differs"] and shift["not_referable"]["differs"]
    assert shift["not_referable"]["median_difference"] > 0.1
    assert "SHIFT" in shift["message"] and "distributions differ" in shift["message"]
    site_point = report["site_operating_point"]
    assert site_point["target_from"] == "manifest" and site_point["target_sensitivity"] == 0.75
    assert site_point["threshold_low"] <= site_point["threshold"] <= site_point["threshold_high"]
    assert site_point["sensitivity"] >= 0.75 and site_point["n_referable"] == 10
    assert report["dataset"]["folder"] == str(site.absolute())


def test_text_report_without_validation_scores_says_the_comparison_is_unavailable(
        site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model"))
    assert main(["validate-site", str(site), "--config", str(config), "--bootstrap", "50",
                 "--target-sensitivity", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "Comparison with the model's validation scores unavailable" in out
    assert "validation non-referable  unavailable" in out
    assert re.search(r"Threshold for sensitivity 0\.50 \(option\) on this site: 0\.\d{4}", out)
    assert "At the locked threshold 0.5000 (4 referable, 4 non-referable graded photos)" in out
    assert NOT_VALIDATED_NOTICE in out


@pytest.mark.parametrize("validation", [None, LOW_VALIDATION])
def test_pdf_report_is_a_pdf_with_pages(validation: dict[str, object] | None, site: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model", validation=validation))
    pdf = tmp_path / "out" / "report.pdf"
    pdf.parent.mkdir()
    assert main(["validate-site", str(site), "--config", str(config), "--pdf", str(pdf), "--bootstrap", "50"]) == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b", data)) >= 1
    assert data.rstrip().endswith(b"%%EOF")
    assert "Site validation:" in capsys.readouterr().out


def test_unwritable_pdf_exits_2(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model"))
    code = main(["validate-site", str(site), "--config", str(config), "--pdf", str(tmp_path / "no" / "r.pdf"),
                 "--bootstrap", "10"])
    assert code == EXIT_BAD_INPUT and "error [site_pdf_unwritable]" in capsys.readouterr().err


def _bad_folder(tmp_path: Path, case: str) -> Path:
    folder = tmp_path / "bad"
    if case == "missing folder":
        return folder
    if case == "corrupt images":
        return write_synthetic_folder(folder)  # a missing file, a corrupt JPEG, a grey document
    folder.mkdir()
    if case == "no referable photos":
        write_site_folder(tmp_path / "ok")
        rows = (tmp_path / "ok" / "labels.csv").read_text().splitlines()
        kept = [r for r in rows[1:] if r.split(",")[2] == "0"]
        (tmp_path / "ok" / "labels.csv").write_text(HEADER + "\n".join(kept) + "\n")
        return tmp_path / "ok"
    if case == "empty labels.csv":
        (folder / "labels.csv").write_text(HEADER)
    if case == "labels.csv without columns":
        (folder / "labels.csv").write_text("file,referable\nx.jpg,1\n")
    return folder


@pytest.mark.parametrize(("case", "code"), [
    ("missing folder", "site_folder_missing"),
    ("no labels.csv", "site_labels_missing"),
    ("empty labels.csv", "dataset_empty"),
    ("labels.csv without columns", "dataset_invalid"),
    ("no referable photos", "site_no_referable"),
    ("corrupt images", "site_images_unreadable"),
])
def test_bad_input_exits_2_with_one_line(case: str, code: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model"))
    folder = _bad_folder(tmp_path, case)
    assert main(["validate-site", str(folder), "--config", str(config), "--bootstrap", "10"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = [x for x in captured.err.splitlines() if x.startswith("error")]
    assert line.startswith(f"error [{code}]: "), line
    assert "Traceback" not in captured.err


def test_corrupt_images_can_be_skipped_and_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model"))
    folder = write_synthetic_folder(tmp_path / "mixed")
    assert main(["validate-site", str(folder), "--config", str(config), "--json", "--skip-unreadable",
                 "--bootstrap", "10"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"]["unreadable_skipped"] == 3  # missing, corrupt, grey
    assert report["decode_failures"]["count"] == 3
    assert {e["reason"] for e in report["decode_failures"]["examples"]} >= {"image_file_missing"}


def test_a_handful_of_photos_is_not_judged_for_shift(site: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, write_site_manifest(tmp_path / "model", validation=LOW_VALIDATION))
    assert main(["validate-site", str(site), "--config", str(config), "--json", "--bootstrap", "50"]) == 0
    shift = json.loads(capsys.readouterr().out)["shift"]
    assert shift["available"] and shift["differs"] is False
    assert shift["not_referable"]["judged"] is False and "Too few non-referable photos (4" in shift["message"]
