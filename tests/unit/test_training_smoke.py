"""Training pipeline: the numpy metrics, and one tiny real epoch through training, export and onnxruntime."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from training.metrics import at_threshold, choose_threshold, roc_auc


def test_auc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(200) < 0.3
    scores = np.round(rng.random(200) + 0.4 * labels, 1)  # coarse scores: many ties
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels] for n in scores[~labels]]
    assert roc_auc(labels, scores) == pytest.approx(float(np.mean(pairs)), abs=1e-12)
    assert roc_auc(labels, -scores) == pytest.approx(1.0 - float(np.mean(pairs)), abs=1e-12)
    assert math.isnan(roc_auc(np.ones(5), np.arange(5.0)))


def test_threshold_keeps_sensitivity_and_maximises_specificity() -> None:
    labels = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9])
    op = choose_threshold(labels, scores, min_sensitivity=0.8)
    assert op.threshold == pytest.approx(0.6)  # 4/5 positives at >= 0.6, 5/5 negatives below
    assert (op.sensitivity, op.specificity) == (0.8, 1.0)
    assert at_threshold(labels, scores, 0.45).sensitivity == 1.0
    with pytest.raises(ValueError):
        choose_threshold(np.zeros(3), np.ones(3), 0.87)


@pytest.mark.devset
def test_split_is_patient_level_and_about_70_15_15(devset: Path) -> None:
    from training.data import SPLITS, read_examples

    examples = read_examples(devset)
    assert examples and all("idrid" not in e.file for e in examples)  # no grade, never used
    patients = {s: {e.patient for e in examples if e.split == s} for s in SPLITS}
    assert not (patients["train"] & patients["val"] or patients["train"] & patients["test"]
                or patients["val"] & patients["test"])
    share = {s: len(p) / sum(len(q) for q in patients.values()) for s, p in patients.items()}
    assert share["train"] == pytest.approx(0.70, abs=0.03)
    assert share["val"] == pytest.approx(0.15, abs=0.03) and share["test"] == pytest.approx(0.15, abs=0.03)


@pytest.mark.devset
@pytest.mark.slow
def test_one_tiny_epoch_trains_checkpoints_and_exports(devset: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    pytest.importorskip("onnx", reason="onnx is not installed (pip install -e .[train])")
    from training import export, train

    run = tmp_path / "runs" / "tiny"
    report = train.main([
        "--name", "tiny", "--data-dir", str(devset), "--runs-dir", str(tmp_path / "runs"),
        "--cache-dir", str(tmp_path / "cache"), "--limit", "8", "--eval-limit", "8",
        "--size", "64", "--epochs", "1", "--batch", "4", "--threads", "2",
    ])
    assert report["counts"]["train"]["images"] == 8
    assert math.isfinite(report["history"][0]["loss"])
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
    assert json.loads((run / "report.json").read_text())["best_epoch"] == 1

    summary = export.main(["--run", str(run), "--out", str(tmp_path / "models")])
    onnx_path = Path(summary["onnx"])
    assert onnx_path.is_file() and summary["max_abs_diff"] <= 1e-4
    manifest = (tmp_path / "models" / "dr-reference.toml").read_text()
    assert export.sha256(onnx_path) in manifest and "size = 64" in manifest

    # An independent check on a fresh batch: onnxruntime and torch agree on the best checkpoint.
    import torch

    from training.nets import referable_net
    net = referable_net(None)
    net.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=True)["model"])
    x = np.random.default_rng(0).normal(size=(3, 3, 64, 64)).astype(np.float32)
    assert export.max_difference(net.eval(), onnx_path, x) <= 1e-4
    assert export.onnx_predict(onnx_path, x).shape == (3, 1)
