"""training.shift: the simulated camera changes, the perturbed copies of a split, and their summary table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.evaluation.split import file_split
from training.shift import PERTURBATIONS, summarise, write_shifted


def _photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.circle(image, (80, 60), 55, (40, 90, 170), -1)
    return np.asarray(cv2.add(image, rng.integers(0, 40, image.shape, dtype=np.uint8)), np.uint8)


def test_each_change_keeps_the_shape_and_changes_the_photo_the_way_it_says() -> None:
    photo = _photo()
    out = {name: change(photo) for name, (_, change) in PERTURBATIONS.items()}
    for name, image in out.items():
        assert image.shape == photo.shape and image.dtype == np.uint8, name
        assert not np.array_equal(image, photo), name
    assert out["dark"].mean() < photo.mean() < out["bright"].mean()
    assert out["warm"][..., 2].mean() > photo[..., 2].mean() and out["warm"][..., 0].mean() < photo[..., 0].mean()
    sharpness = {k: cv2.Laplacian(v, cv2.CV_64F).var() for k, v in (("photo", photo), *out.items())}
    assert sharpness["blur"] < 0.5 * sharpness["photo"] and sharpness["half_res"] < sharpness["photo"]


@pytest.mark.devset
def test_shifted_copies_hold_the_test_split_with_labels(devset: Path, tmp_path: Path) -> None:
    written = write_shifted(devset, tmp_path, "test", ["jpeg30", "dark"], limit=3)
    assert written == {"jpeg30": 3, "dark": 3}
    for name in written:
        with open(tmp_path / name / "labels.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 3 and all(file_split(r["file"]) == "test" and r["referable"] in "01" for r in rows)
        for row in rows:
            original = cv2.imread(str(devset / row["file"]))
            changed = cv2.imread(str(tmp_path / name / row["file"]))
            assert changed is not None and changed.shape == original.shape
            assert not np.array_equal(changed, original)


def test_the_summary_table_reads_evaluate_reports(tmp_path: Path) -> None:
    def estimate(v: float) -> dict[str, float]:
        return {"value": v, "low": v - 0.05, "high": v + 0.05}

    block = {"n": 10, "auc": estimate(0.8), "sensitivity": estimate(0.9), "specificity": estimate(0.5)}
    one = {**block, "n": 1, "sensitivity": estimate(1.0)}  # a one-photo natural source must not stand for all
    report = {"all_scored": block, "imageability": {"share": 0.75},
              "per_source": {"eyepacs:a": {"all_scored": one}, "eyepacs:x": {"all_scored": block},
                             "eyepacs-enhanced256:y": {"all_scored": block}}}
    (tmp_path / "blur").mkdir()
    (tmp_path / "blur" / "report.json").write_text(json.dumps(report))
    table = summarise(tmp_path)
    assert "Gaussian blur" in table and "| 10 | 0.750 | 0.800 (0.750-0.850) |" in table
    assert table.rstrip().endswith("| 0.900 (0.850-0.950) |")  # natural colour: the 10-photo source
    assert "jpeg30" not in table and "JPEG" not in table  # no report, no row
