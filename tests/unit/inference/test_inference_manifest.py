"""Model manifests: the happy path and every way a manifest or its model file can be wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from model_fakes import WriteManifest

from appliance.checksum import sha256_file
from appliance.domain import ModelInfo
from appliance.errors import ManifestError, ModelIntegrityError
from appliance.inference.manifest import load_manifest
from appliance.inference.preprocess import InputSpec


def test_valid_manifest_loads_every_field(write_manifest: WriteManifest, model_bytes: bytes) -> None:
    path = write_manifest()
    m = load_manifest(path)
    assert (m.name, m.version, m.format) == ("dr-test", "0.1.0", "onnx")
    assert m.model_path == path.parent / "model.onnx"
    assert m.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert m.input_name == "image" and m.output_name == "referable_probability"
    assert m.input == InputSpec(
        size=8, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), local_contrast=False
    )
    assert m.output_meaning == "probability of referable DR"
    assert m.threshold == pytest.approx(0.42)
    assert m.threshold_chosen_on.startswith("validation split")
    assert m.training == {"validation_auc": 0.8, "data": "test fixture"}
    assert m.info("onnxruntime") == ModelInfo("dr-test", "0.1.0", m.sha256, "onnxruntime")


def test_uppercase_hash_and_integer_numbers_are_accepted(write_manifest: WriteManifest) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["sha256"] = d["sha256"].upper()
        d["input"]["mean"] = [0, 0, 0]
        d["input"]["std"] = [1, 1, 1]
        d["threshold"]["operating"] = 1
        del d["training"]

    m = load_manifest(write_manifest(edit))
    assert m.sha256 == m.sha256.lower()
    assert m.input.mean == (0.0, 0.0, 0.0) and m.input.std == (1.0, 1.0, 1.0)
    assert m.threshold == 1.0 and m.training == {}


@pytest.mark.parametrize(
    ("section", "key", "named"),
    [
        (None, "name", "'name'"),
        (None, "version", "'version'"),
        (None, "file", "'file'"),
        (None, "sha256", "'sha256'"),
        (None, "format", "'format'"),
        (None, "input", "[input]"),
        (None, "output", "[output]"),
        (None, "threshold", "[threshold]"),
        ("input", "name", "[input] 'name'"),
        ("input", "size", "[input] 'size'"),
        ("input", "mean", "[input] 'mean'"),
        ("input", "std", "[input] 'std'"),
        ("input", "local_contrast", "[input] 'local_contrast'"),
        ("input", "layout", "[input] 'layout'"),
        ("output", "name", "[output] 'name'"),
        ("output", "meaning", "[output] 'meaning'"),
        ("threshold", "operating", "[threshold] 'operating'"),
    ],
)
def test_missing_key_names_the_file_and_the_key(
    write_manifest: WriteManifest, section: str | None, key: str, named: str
) -> None:
    def edit(d: dict[str, Any]) -> None:
        del (d if section is None else d[section])[key]

    path = write_manifest(edit)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(path) in info.value.message
    assert named in info.value.message
    assert info.value.reason_code == "model_manifest_invalid"


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("input", "size", "224", "[input] 'size'"),
        ("input", "size", True, "[input] 'size'"),
        ("input", "size", 4, "[input] 'size'"),
        ("input", "mean", [0.5, 0.5], "[input] 'mean'"),
        ("input", "std", [0.2, 0.0, 0.2], "[input] 'std'"),
        ("input", "std", ["a", "b", "c"], "[input] 'std'"),
        ("input", "local_contrast", 1, "[input] 'local_contrast'"),
        ("input", "layout", "NHWC", "[input] 'layout'"),
        ("input", "colour", "BGR", "[input] 'colour'"),
        ("threshold", "operating", "0.42", "[threshold] 'operating'"),
        ("threshold", "operating", 1.5, "[threshold] 'operating'"),
        ("threshold", "operating", True, "[threshold] 'operating'"),
        ("output", "name", "", "[output] 'name'"),
        (None, "version", 1, "'version'"),
        (None, "sha256", "abc123", "'sha256'"),
        (None, "format", "pytorch", "'format'"),
        (None, "input", "image", "'input'"),
        (None, "treshold", 0.5, "'treshold'"),
        ("input", "sizes", 224, "[input] 'sizes'"),
    ],
)
def test_ill_typed_or_unknown_key_names_the_file_and_the_key(
    write_manifest: WriteManifest, section: str | None, key: str, value: Any, named: str
) -> None:
    def edit(d: dict[str, Any]) -> None:
        (d if section is None else d[section])[key] = value

    path = write_manifest(edit)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(path) in info.value.message
    assert named in info.value.message


def test_missing_manifest_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ManifestError, match=r"absent\.toml is missing"):
        load_manifest(path)


def test_manifest_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "unterminated\n')
    with pytest.raises(ManifestError, match=r"broken\.toml cannot be read"):
        load_manifest(path)


def test_missing_model_file(write_manifest: WriteManifest) -> None:
    path = write_manifest()
    (path.parent / "model.onnx").unlink()
    with pytest.raises(ManifestError, match=r"model\.onnx .*is missing; reinstall the model"):
        load_manifest(path, verify=False)


def test_model_changed_by_one_byte_is_refused(write_manifest: WriteManifest, model_bytes: bytes) -> None:
    path = write_manifest()
    tampered = bytearray(model_bytes)
    tampered[len(tampered) // 2] ^= 0x01
    (path.parent / "model.onnx").write_bytes(bytes(tampered))
    with pytest.raises(ModelIntegrityError) as info:
        load_manifest(path)
    message = info.value.message
    assert "model.onnx does not match its manifest" in message
    assert hashlib.sha256(bytes(tampered)).hexdigest() in message
    assert "corrupt or tampered with; reinstall the model" in message
    assert info.value.reason_code == "model_integrity"


def test_verify_false_skips_the_hash(write_manifest: WriteManifest) -> None:
    path = write_manifest()
    (path.parent / "model.onnx").write_bytes(b"something else")
    assert load_manifest(path, verify=False).name == "dr-test"


def test_sha256_file_hashes_files_larger_than_one_chunk(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # ~2.2 MiB: three chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def _validation() -> dict[str, Any]:
    return {"data": "validation split, natural colour", "quantile_levels": [0.0, 0.5, 1.0],
            "not_referable_quantiles": [0.01, 0.1, 0.6], "referable_quantiles": [0.2, 0.7, 0.99],
            "n_referable": 40, "n_not_referable": 60, "target_sensitivity": 0.87, "sensitivity": 0.9,
            "specificity": 0.7}


def test_camera_normalise_and_the_validation_scores_are_read(write_manifest: WriteManifest) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["input"]["camera_normalise"] = True
        d["validation"] = _validation()

    m = load_manifest(write_manifest(edit))
    assert m.input.camera_normalise is True
    assert m.validation is not None
    assert m.validation.quantile_levels == (0.0, 0.5, 1.0)
    assert m.validation.not_referable_quantiles == (0.01, 0.1, 0.6)
    assert (m.validation.n_referable, m.validation.n_not_referable) == (40, 60)
    assert m.validation.target_sensitivity == pytest.approx(0.87)


def test_older_manifests_have_no_validation_scores_and_the_plain_view(write_manifest: WriteManifest) -> None:
    m = load_manifest(write_manifest())
    assert m.validation is None and m.input.camera_normalise is False


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("referable_quantiles", [0.2, 0.7], "quantile lists must match"),
        ("quantile_levels", [0.5, 0.0, 1.0], "quantile lists must match"),
        ("quantile_levels", [0.0, 0.5, 2.0], "quantile lists must match"),
        ("not_referable_quantiles", [0.1, "x", 0.3], "'not_referable_quantiles' must be a list of numbers"),
        ("specificity", 1.5, "must be in [0, 1]"),
        ("n_referable", 4.5, "'n_referable'"),
        ("spread", 1, "[validation] 'spread'"),
    ],
)
def test_a_malformed_validation_section_is_refused(write_manifest: WriteManifest, key: str, value: Any,
                                                   named: str) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["validation"] = {**_validation(), key: value}

    with pytest.raises(ManifestError) as info:
        load_manifest(write_manifest(edit))
    assert named in info.value.message
