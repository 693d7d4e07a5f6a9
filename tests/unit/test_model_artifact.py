"""The committed reference model: manifest matches the ONNX bytes, and the ONNX scores a real photo."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from appliance.inference.preprocess import InputSpec, preprocess

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    with (MODELS / "dr-reference.toml").open("rb") as f:
        return tomllib.load(f)


def test_manifest_sha256_matches_committed_onnx(manifest: dict[str, Any]) -> None:
    onnx_path = MODELS / manifest["file"]
    assert hashlib.sha256(onnx_path.read_bytes()).hexdigest() == manifest["sha256"]
    assert onnx_path.stat().st_size < 16 * 1024 * 1024
    assert manifest["format"] == "onnx" and manifest["training"]["clinically_validated"] is False
    assert 0.0 < manifest["threshold"]["operating"] < 1.0
    assert 0.5 < manifest["training"]["validation_auc"] <= 1.0


@pytest.mark.devset
def test_onnx_scores_a_preprocessed_real_photo(manifest: dict[str, Any], devset: Path,
                                               devset_rows: list[dict[str, str]]) -> None:
    inp = manifest["input"]
    spec = InputSpec(size=inp["size"], mean=tuple(inp["mean"]), std=tuple(inp["std"]),
                     local_contrast=inp["local_contrast"])
    name = next(r["file"] for r in devset_rows if "eyepacs_nat_" in r["file"])
    bgr = cv2.imread(str(devset / name), cv2.IMREAD_COLOR)
    assert bgr is not None
    x = preprocess(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), spec)[None]
    session = ort.InferenceSession(str(MODELS / manifest["file"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [inp["name"]]
    (out,) = session.run([manifest["output"]["name"]], {inp["name"]: x})
    assert out.shape == (1, 1) and out.dtype == np.float32
    assert 0.0 <= float(out[0, 0]) <= 1.0
