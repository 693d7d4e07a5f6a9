"""Training pipeline: the numpy metrics, and one tiny real epoch through training, export and onnxruntime."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.devset
def test_split_is_patient_level_and_about_70_15_15(devset: Path) -> None:
    from appliance.evaluation.split import SPLITS
    from training.data import read_examples

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
    from appliance.checksum import sha256_file
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
    assert sha256_file(onnx_path) in manifest and "size = 64" in manifest

    # An independent check on a fresh batch: onnxruntime and torch agree on the best checkpoint.
    import torch

    from training.nets import ProbabilityHead, referable_net
    net = referable_net(None)
    net.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=True)["model"])
    x = np.random.default_rng(0).normal(size=(3, 3, 64, 64)).astype(np.float32)
    assert export.max_difference(ProbabilityHead(net).eval(), onnx_path, x) <= 1e-4
    assert export.onnx_predict(onnx_path, x).shape == (3, 1)

    # A second run warm-started from the first, with the other-camera recipe, exported with flip
    # averaging and Platt scaling in the graph; its card lists both training commands.
    report2 = train.main([
        "--name", "tiny2", "--data-dir", str(devset), "--runs-dir", str(tmp_path / "runs"),
        "--cache-dir", str(tmp_path / "cache"), "--limit", "8", "--eval-limit", "8",
        "--size", "64", "--epochs", "1", "--batch", "4", "--threads", "2", "--init-from", str(run / "best.pt"),
        "--natural-weight", "3", "--camera-aug", "--bf16",
    ])
    assert math.isfinite(report2["history"][0]["loss"])
    out2 = tmp_path / "models2"
    summary2 = export.main(["--run", str(tmp_path / "runs" / "tiny2"), "--out", str(out2),
                            "--calibration", "platt", "--tta-hflip", "--heatmap"])
    a, b = summary2["platt"]["a"], summary2["platt"]["b"]
    assert summary2["max_abs_diff"] <= 1e-4 and (a, b) != (1.0, 0.0)
    assert "Platt-calibrated on the validation split" in (out2 / "dr-reference.toml").read_text()
    card = (out2 / "CARD.md").read_text()
    assert "--name tiny --" in card and "--name tiny2" in card and "Natural-colour images weigh 3x" in card
    assert {"all", "natural", "enhanced"} <= set(summary2["metrics"]["test"])
    per_source = {k for k in summary2["metrics"]["test"] if k.startswith("source:")}
    assert per_source and per_source <= {"source:eyepacs", "source:eyepacs-enhanced256"}
    manifest_text = (out2 / "dr-reference.toml").read_text()
    assert "[validation]" in manifest_text and "not_referable_quantiles" in manifest_text
    # The heatmap model explains exactly this score: the sigmoid of its mean is the probability.
    assert summary2["heatmap"]["mean_vs_score"] <= 1e-4
    from appliance.inference.heatmap import HeatmapModel
    from appliance.inference.manifest import load_manifest
    heat = HeatmapModel(load_manifest(out2 / "dr-reference.toml"))
    assert heat.activation_map(np.full((80, 96, 3), 120, np.uint8)).shape == (2, 2)  # 64 px / 32
    flipped = export.onnx_predict(Path(summary2["onnx"]), x[:, :, :, ::-1].copy())
    assert np.allclose(export.onnx_predict(Path(summary2["onnx"]), x), flipped, atol=1e-5)


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_nll() -> None:
    from training.temperature import ece, fit_temperature, nll, sigmoid

    rng = np.random.default_rng(0)
    z = rng.normal(size=4000) * 3.0
    y = (rng.random(4000) < sigmoid(z)).astype(np.float64)  # labels drawn from calibrated logits z
    t = fit_temperature(y, 4.0 * z)  # over-confident by 4x
    assert t == pytest.approx(4.0, rel=0.15)
    assert nll(y, 4.0 * z / t) < nll(y, 4.0 * z)
    assert ece(y, sigmoid(4.0 * z / t)) < ece(y, sigmoid(4.0 * z))
    assert nll(np.array([1.0, 0.0]), np.array([0.0, 0.0])) == pytest.approx(math.log(2.0))


def test_mobilenet_v3_small_has_torchvision_layout_and_a_fresh_one_logit_head() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training.nets import PRETRAINED, input_spec, make_net
    from training.nets_v3 import MobileNetV3Small

    assert sum(p.numel() for p in MobileNetV3Small().parameters()) == 2_542_856  # torchvision's count
    weights = PRETRAINED["mobilenet_v3_small"]
    net = make_net("mobilenet_v3_small", weights if weights.is_file() else None)  # strict load when present
    logits = net.eval()(torch.zeros(2, 3, 96, 96))
    assert logits.shape == (2, 1) and torch.all(logits == 0)  # zero head: p = 0.5 to start
    assert input_spec("mobilenet_v3_small", 96, True).mean == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        make_net("resnet18", None)


def test_flip_tta_gives_the_same_logit_for_an_image_and_its_mirror() -> None:
    pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    import torch

    from training.data import SplitData
    from training.nets import input_spec, make_net
    from training.train import predict_logits

    torch.manual_seed(0)
    net = make_net("mobilenet_v2", None)
    torch.nn.init.normal_(net.classifier[1].weight)  # a non-zero head, so logits differ per image
    img = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    both = np.concatenate([img, img[:, :, ::-1]])
    data = SplitData(both, np.zeros(2, np.float32), np.zeros(2, bool), np.zeros(2, bool), ["a", "b"])
    spec = input_spec("mobilenet_v2", 64, False)
    plain, tta = predict_logits(net, data, spec), predict_logits(net, data, spec, tta=True)
    # Random weights with unit BN statistics give tiny logits: compare relative to their size.
    assert abs(plain[0] - plain[1]) > 1e-3 * abs(plain[0])  # the net itself is not mirror-symmetric
    assert abs(tta[0] - tta[1]) < 1e-4 * abs(tta[0])


@pytest.mark.devset
@pytest.mark.slow
def test_one_tiny_mobilenet_v3_epoch_with_tta_and_no_test(devset: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training import train

    report = train.main([
        "--name", "tiny3", "--data-dir", str(devset), "--runs-dir", str(tmp_path / "runs"),
        "--cache-dir", str(tmp_path / "cache"), "--limit", "4", "--eval-limit", "4", "--size", "48",
        "--epochs", "1", "--batch", "4", "--backbone", "mobilenet_v3_small", "--pretrained", "none",
        "--tta", "--no-test",
    ])
    assert report["config"]["backbone"] == "mobilenet_v3_small" and math.isfinite(report["history"][0]["loss"])
    assert "test" not in report and report["validation_tta"]["all"]["positive"] >= 1


def test_ablation_intervals_shrink_with_n_and_a_run_against_itself_differs_by_zero() -> None:
    from training.ablation import hanley_mcneil, paired_delta

    small, large = hanley_mcneil(0.75, 25, 99), hanley_mcneil(0.75, 194, 800)
    assert small[0] < large[0] < 0.75 < large[1] < small[1]
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(np.float64)
    s = rng.normal(size=300) + y
    assert paired_delta(y, s, s) == (0.0, 0.0, 0.0)
    delta, lo, hi = paired_delta(y, s + 2.0 * y, s)  # strictly better ranking
    assert delta > 0 and lo > 0 and hi >= delta


def test_platt_scaling_recovers_a_known_scale_and_offset() -> None:
    from training.temperature import fit_platt, nll, sigmoid

    rng = np.random.default_rng(1)
    z = rng.normal(size=6000) * 2.0
    y = (rng.random(6000) < sigmoid(z)).astype(np.float64)
    raw = (z - 1.5) / 0.5  # what a model trained with pos_weight might emit: offset and too sharp
    a, b = fit_platt(y, raw)
    assert a == pytest.approx(0.5, rel=0.1) and b == pytest.approx(1.5, abs=0.15)  # z = 0.5 raw + 1.5
    assert nll(y, a * raw + b) < nll(y, raw)
    a1, b1 = fit_platt(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.3]))  # one class: finite, no crash
    assert math.isfinite(a1) and math.isfinite(b1)


def test_probability_head_applies_flip_averaging_and_platt_in_one_batch() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training.nets import ProbabilityHead, make_net

    torch.manual_seed(0)
    net = make_net("mobilenet_v2", None).eval()
    torch.nn.init.normal_(net.classifier[1].weight)
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        z = 0.5 * (net(x) + net(torch.flip(x, dims=[3])))
        got = ProbabilityHead(net, 0.7, -0.3, hflip=True).eval()(x)
        mirrored = ProbabilityHead(net, 0.7, -0.3, hflip=True).eval()(torch.flip(x, dims=[3]))
    assert got.shape == (3, 1)
    assert torch.allclose(got, torch.sigmoid(0.7 * z - 0.3), atol=1e-6)
    assert torch.allclose(got, mirrored, atol=1e-6)  # the score no longer depends on handedness


def test_camera_degradation_is_seeded_and_leaves_the_cache_alone() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training.augment import camera_degrade

    rng = np.random.default_rng(0)
    squares = torch.from_numpy(rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8))
    before = squares.clone()
    one = camera_degrade(squares, torch.Generator().manual_seed(3), p=1.0)
    two = camera_degrade(squares, torch.Generator().manual_seed(3), p=1.0)
    assert torch.equal(squares, before) and torch.equal(one, two)
    assert one.dtype == torch.uint8 and one.shape == squares.shape
    assert all(not torch.equal(one[i], squares[i]) for i in range(6))  # every image degraded at p = 1
    assert torch.equal(camera_degrade(squares, torch.Generator().manual_seed(3), p=0.0), squares)
