"""Smoke run of bench/inference.py at tiny settings: it runs, reports every stage, and names a missing model.

No timing is asserted (the figures depend on the machine and its load).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper

from bench.inference import format_report, main, ratios, summarise

SIZE = 16


def tiny_model(folder: Path, stem: str, *, quantized: bool) -> Path:
    """image [N, 3, 16, 16] -> (Q/DQ) -> mean -> sigmoid, with its manifest; returns the manifest path."""
    nodes, inits, first = [], [], "image"
    if quantized:
        inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.03]),
                 helper.make_tensor("z", TensorProto.INT8, [], [0])]
        nodes = [helper.make_node("QuantizeLinear", ["image", "s", "z"], ["q"]),
                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])]
        first = "dq"
    nodes += [helper.make_node("Flatten", [first], ["flat"], axis=1),
              helper.make_node("ReduceMean", ["flat"], ["mean"], axes=[1], keepdims=1),
              helper.make_node("Sigmoid", ["mean"], ["p"])]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])
    output = helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 1])
    graph = helper.make_graph(nodes, "tiny", [image], [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    (folder / f"{stem}.onnx").write_bytes(data)
    manifest = folder / f"{stem}.toml"
    manifest.write_text(
        f'name = "tiny"\nversion = "1"\nfile = "{stem}.onnx"\nsha256 = "{hashlib.sha256(data).hexdigest()}"\n'
        'format = "onnx"\n[input]\nname = "image"\nsize = 16\nlayout = "NCHW"\ncolour = "RGB"\n'
        'mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\nlocal_contrast = false\n'
        '[output]\nname = "p"\nmeaning = "probability"\n[threshold]\noperating = 0.5\n'
    )
    return manifest


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        image = np.zeros((140, 160, 3), np.uint8)
        cv2.circle(image, (80, 70), 60, (40, 80 + 40 * i, 200), -1)
        cv2.imwrite(str(folder / f"p{i}.png"), image)
    return folder


def test_both_models_in_spawned_processes(tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fp32 = tiny_model(tmp_path, "fp32", quantized=False)
    int8 = tiny_model(tmp_path, "int8", quantized=True)
    code = main(["--images", str(photos), "--fp32", str(fp32), "--int8", str(int8), "--repeats", "2",
                 "--warmup", "1", "--rounds", "2", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    stages = [(r["stage"], r["model"], r["batch"]) for r in report["rows"]]
    assert stages == [("decode", "-", 1), ("preprocess 16px", "-", 1), ("model", "fp32", 1), ("model", "fp32", 4),
                      ("model", "int8", 1), ("model", "int8", 4)]
    for row in report["rows"]:
        assert row["median_ms"] > 0 and row["p95_ms"] >= row["median_ms"] and row["images_per_s"] > 0
        assert row["calls"] == 4  # 2 photos x 2 repeats; models: 2 repeats x 2 rounds
    models = [r for r in report["rows"] if r["stage"] == "model"]
    assert all(r["peak_rss_mib"] > 0 and r["model_rss_mib"] is not None for r in models)
    assert set(report["ratios"]) >= {"speedup_median_b1", "speedup_median_b4", "throughput_ratio_b4"}
    assert report["missing"] == {} and report["threads"] == 2
    assert set(report["end_to_end_ms"]) == {"fp32", "int8"} and report["end_to_end_ms"]["fp32"] > 0
    assert [r["notes"]["sha256"][:8] for r in models] == [hashlib.sha256((tmp_path / f"{m}.onnx").read_bytes())
                                                           .hexdigest()[:8] for m in ("fp32", "fp32", "int8", "int8")]
    assert report["machine"]["logical_cpus"] >= 1 and report["memory_measured_in"].startswith("one spawned")


def test_a_missing_int8_model_is_reported_not_fatal(
    tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fp32 = tiny_model(tmp_path, "fp32", quantized=False)
    code = main(["--images", str(photos), "--fp32", str(fp32), "--int8", str(tmp_path / "absent.toml"),
                 "--repeats", "1", "--warmup", "0", "--batches", "1", "--in-process"])
    assert code == 0
    out = capsys.readouterr().out
    assert "INT8 model missing:" in out and "absent.toml not found" in out
    assert "fp32" in out and "median ms" in out and "int8  " not in out


def test_no_model_at_all_exits_1(tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--images", str(photos), "--fp32", str(tmp_path / "a.toml"), "--int8", str(tmp_path / "b.toml"),
                 "--repeats", "1", "--in-process"])
    assert code == 1
    out = capsys.readouterr().out
    assert "FP32 model missing" in out and "INT8 model missing" in out and "preprocess 224px" in out


def test_summary_and_ratios_arithmetic() -> None:
    fp32 = summarise("model", "fp32", 4, [0.4, 0.4, 0.8], model_rss_mib=100.0)
    int8 = summarise("model", "int8", 4, [0.1, 0.2, 0.2], model_rss_mib=50.0)
    assert fp32.median_ms == pytest.approx(400.0) and fp32.per_image_ms == pytest.approx(100.0)
    assert fp32.images_per_s == pytest.approx(12 / 1.6)  # 3 calls of 4 images in 1.6 s
    assert ratios([fp32, int8]) == {"speedup_median_b4": 2.0, "throughput_ratio_b4": 3.2, "model_memory_ratio_b4": 0.5}
    cpu = {"cpu": "x", "arch": "y", "usable_cpus": 2, "logical_cpus": 2, "load_average_1m": 0.1, "onnxruntime": "1"}
    report = {"machine": cpu, "threads": 2, "images": {"count": 1, "folder": "f", "sizes": ["9x9"]}, "repeats": 3,
              "warmup": 0, "rounds": 1, "memory_measured_in": "m", "rows": [], "missing": {},
              "ratios": {"speedup_median_b4": 2.0}, "end_to_end_ms": {"fp32": 12.5}}
    text = format_report(report)
    assert "INT8 vs FP32: speedup_median_b4 2.0" in text and "(9x9 px)" in text
    assert "One photo end to end (fp32): decode + preprocess + model batch 1 = 12.5 ms" in text


def test_a_spawned_model_process_does_not_inherit_the_parents_peak_memory() -> None:
    # ru_maxrss survives exec(), so a spawned child would report the parent's peak; VmHWM does not.
    import multiprocessing

    from bench.inference import _rss_mib

    ballast = np.ones(160 * 2**20 // 8)  # 160 MiB touched in this (parent) process
    parent = _rss_mib()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        child = pool.apply(_rss_mib)
    assert ballast.sum() > 0
    assert child < parent - 100
