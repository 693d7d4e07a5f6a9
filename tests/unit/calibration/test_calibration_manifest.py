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


def test_the_camera_normalised_contract_and_the_validation_scores_are_carried_over(tiny_manifest: Path) -> None:
    text = tiny_manifest.read_text().replace("local_contrast = false",
                                             "local_contrast = false\ncamera_normalise = true")
    assert "camera_normalise = true" in text
    text += ('\n[validation]\ndata = "natural"\nquantile_levels = [0.0, 0.5, 1.0]\n'
             "not_referable_quantiles = [0.1, 0.2, 0.9]\nreferable_quantiles = [0.3, 0.8, 1.0]\n"
             "n_referable = 40\nn_not_referable = 60\ntarget_sensitivity = 0.89\nsensitivity = 0.9\n"
             "specificity = 0.64\n")
    tiny_manifest.write_text(text)
    fp32 = load_manifest(tiny_manifest)
    assert fp32.input.camera_normalise and fp32.validation is not None
    int8_text = manifest_text(fp32, name="dr-tiny-int8", model_file=fp32.model_path.name, sha256=fp32.sha256,
                              training={"precision": "int8"})
    int8 = write_manifest(tiny_manifest.parent / "dr-tiny-int8.toml", int8_text)
    # An INT8 model fed another preprocessing than its FP32 model would score other photos.
    assert int8.input == fp32.input
    assert int8.validation is not None
    assert int8.validation.not_referable_quantiles == fp32.validation.not_referable_quantiles
    assert int8.validation.target_sensitivity == fp32.validation.target_sensitivity
    assert "FP32 model" in int8.validation.data


def test_a_manifest_whose_sha_does_not_match_is_not_left_behind(tiny_manifest: Path) -> None:
    fp32 = load_manifest(tiny_manifest)
    text = manifest_text(fp32, name="x", model_file=fp32.model_path.name, sha256="0" * 64, training={})
    target = tiny_manifest.parent / "x.toml"
    with pytest.raises(CalibrationError, match="did not load back"):
        write_manifest(target, text)
    assert not target.exists() and not list(tiny_manifest.parent.glob("*.tmp"))


def test_the_fp32_heatmap_model_is_carried_over_relative_to_the_int8_folder(tiny_manifest: Path) -> None:
    (tiny_manifest.parent / "heat.onnx").write_bytes(b"heatmap model bytes")
    digest = hashlib.sha256(b"heatmap model bytes").hexdigest()
    with tiny_manifest.open("a") as f:
        f.write(f'\n[heatmap]\nfile = "heat.onnx"\nsha256 = "{digest}"\noutput = "referable_heatmap"\n')
    fp32 = load_manifest(tiny_manifest)
    elsewhere = tiny_manifest.parent / "int8"
    elsewhere.mkdir()
    int8_file = elsewhere / "q.onnx"
    shutil.copyfile(fp32.model_path, int8_file)
    text = manifest_text(fp32, name="q", model_file="q.onnx", sha256=hashlib.sha256(int8_file.read_bytes()).hexdigest(),
                         training={}, folder=elsewhere)
    int8 = write_manifest(elsewhere / "q.toml", text)
    assert fp32.heatmap is not None and int8.heatmap is not None
    assert int8.heatmap.path.resolve() == fp32.heatmap.path.resolve()  # the same file...
    assert (int8.heatmap.sha256, int8.heatmap.output_name) == (fp32.heatmap.sha256, fp32.heatmap.output_name)
    assert 'file = "../heat.onnx"' in text
