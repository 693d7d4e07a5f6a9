"""The INT8 model's manifest: the FP32 manifest's schema and contract, the INT8 file and its provenance.

Input (every key of the contract, the camera normalisation included), output, the locked threshold
and the validation score quantiles are copied from the FP32 manifest unchanged (the threshold was
chosen on the validation split for the FP32 model; INT8 must match it, not re-tune it). The
quantization's provenance goes into the free-form [training] table, which load_manifest keeps.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from appliance.inference.manifest import ModelManifest, load_manifest
from calibration.errors import CalibrationError

TomlValue = str | int | float | bool | Sequence[str]


def _value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return "[" + ", ".join(json.dumps(v) for v in value) + "]"


def _floats(values: Sequence[float]) -> str:
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def manifest_text(fp32: ModelManifest, *, name: str, model_file: str, sha256: str,
                  training: Mapping[str, TomlValue], folder: Path | None = None) -> str:
    """The INT8 manifest TOML (pure). `model_file` is relative to the manifest's folder, `folder`.

    The FP32 model's [heatmap] (an explanation model run on onnxruntime on request, never quantized)
    is carried over, its file named relative to `folder` (default: the FP32 manifest's folder).
    """
    spec = fp32.input
    chosen_on = fp32.threshold_chosen_on or "the FP32 model's locked threshold"
    lines = [
        f"name = {_value(name)}",
        f"version = {_value(fp32.version)}",
        f"file = {_value(model_file)}",
        f"sha256 = {_value(sha256)}",
        'format = "onnx"',
        "",
        "[input]",
        f"name = {_value(fp32.input_name)}",
        f"size = {spec.size}",
        'layout = "NCHW"',
        'colour = "RGB"',
        f"mean = {_floats(spec.mean)}",
        f"std = {_floats(spec.std)}",
        f"local_contrast = {_value(spec.local_contrast)}",
        *(["camera_normalise = true"] if spec.camera_normalise else []),
        "",
        "[output]",
        f"name = {_value(fp32.output_name)}",
        f"meaning = {_value(fp32.output_meaning)}",
        "",
        "[threshold]",
        f"operating = {fp32.threshold!r}",
        f"chosen_on = {_value(f'{chosen_on} (the FP32 model {fp32.name} {fp32.version}; unchanged for INT8)')}",
        "",
        "[training]",
        *(f"{key} = {_value(value)}" for key, value in training.items()),
    ]
    if fp32.validation is not None:
        v = fp32.validation
        lines += [
            "",
            "[validation]",
            f"data = {_value(v.data + ' (scores of the FP32 model; the INT8 twin is held to its parity targets)')}",
            f"quantile_levels = {_floats(v.quantile_levels)}",
            f"not_referable_quantiles = {_floats(v.not_referable_quantiles)}",
            f"referable_quantiles = {_floats(v.referable_quantiles)}",
            f"n_referable = {v.n_referable}",
            f"n_not_referable = {v.n_not_referable}",
            f"target_sensitivity = {v.target_sensitivity!r}",
            f"sensitivity = {v.sensitivity!r}",
            f"specificity = {v.specificity!r}",
        ]
    if fp32.heatmap is not None:
        here = folder if folder is not None else fp32.model_path.parent
        lines += [
            "",
            "[heatmap]",
            f"file = {_value(os.path.relpath(fp32.heatmap.path, here))}",
            f"sha256 = {_value(fp32.heatmap.sha256)}",
            f"output = {_value(fp32.heatmap.output_name)}",
            *([f"meaning = {_value(fp32.heatmap.meaning)}"] if fp32.heatmap.meaning else []),
        ]
    return "\n".join(lines) + "\n"


def write_manifest(path: Path, text: str) -> ModelManifest:
    """Write the manifest atomically, then load it back (hashing its model) so a bad one is never left.

    Raises:
        CalibrationError: the written manifest does not load or its model's sha256 does not match.
    """
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        manifest = load_manifest(tmp)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise CalibrationError(f"The INT8 manifest for {path} did not load back: {exc}", detail=repr(exc)) from exc
    os.replace(tmp, path)
    return manifest
