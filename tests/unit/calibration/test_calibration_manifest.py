"""The INT8 manifest: the FP32 contract and threshold unchanged, loads with load_manifest, sha256 matches."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from appliance.inference.manifest import load_manifest
from calibration.errors import CalibrationError
from calibration.manifest import manifest_text, write_manifest


def test_int8_manifest_loads_and_keeps_the_fp32_contract(tiny_manifest: Path) -> None:
    fp32 = load_manifest(tiny_manifest)
    int8_file = tiny_manifest.parent / "dr-tiny-int8.onnx"
    shutil.copyfile(fp32.model_path, int8_file)  # any bytes: the manifest only hashes them
    digest = hashlib.sha256(int8_file.read_bytes()).hexdigest()
    text = manifest_text(fp32, name="dr-tiny-int8", model_file=int8_file.name, sha256=digest, training={
        "precision": "int8", "calibration_images": 300, "calibration_list_sha256": "ab" * 32,
        "float_nodes": ["/classifier/Gemm", "/Sigmoid"], "parity_auc_difference": -0.0012,
        "clinically_validated": False, "command": 'appliance calibrate --method "all"',
    })
    int8 = write_manifest(tiny_manifest.parent / "dr-tiny-int8.toml", text)
    again = load_manifest(tiny_manifest.parent / "dr-tiny-int8.toml")
    assert again == int8
    assert int8.name == "dr-tiny-int8" and int8.version == fp32.version and int8.format == "onnx"
    assert int8.sha256 == digest and int8.model_path == int8_file
    assert (int8.input, int8.input_name, int8.output_name, int8.output_meaning) == (
        fp32.input, fp32.input_name, fp32.output_name, fp32.output_meaning)
    assert int8.threshold == fp32.threshold
    assert "unchanged for INT8" in int8.threshold_chosen_on
    assert int8.training["precision"] == "int8" and int8.training["calibration_images"] == 300
    assert int8.training["float_nodes"] == ["/classifier/Gemm", "/Sigmoid"]
    assert int8.training["command"] == 'appliance calibrate --method "all"'
    assert int8.training["clinically_validated"] is False


def test_a_manifest_whose_sha_does_not_match_is_not_left_behind(tiny_manifest: Path) -> None:
    fp32 = load_manifest(tiny_manifest)
    text = manifest_text(fp32, name="x", model_file=fp32.model_path.name, sha256="0" * 64, training={})
    target = tiny_manifest.parent / "x.toml"
    with pytest.raises(CalibrationError, match="did not load back"):
        write_manifest(target, text)
    assert not target.exists() and not list(tiny_manifest.parent.glob("*.tmp"))
