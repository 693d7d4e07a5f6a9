"""Shared test doubles: a tiny ONNX model (float or Q/DQ) built with onnx.helper, and manifests for any model.

Imported by the inference, engine-build and calibration tests (tests/ is on sys.path via its conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, helper

#: The tiny model's input side (pixels); small so the tests stay fast.
SIZE = 8


def tiny_onnx(
    size: int = SIZE, input_name: str = "image", output_name: str = "referable_probability", *,
    quantized: bool = False,
) -> bytes:
    """ONNX model: image [N, 3, size, size] -> (Q/DQ int8 when `quantized`) -> mean over C, H, W -> sigmoid
    -> [N, 1]."""
    nodes, first, initializers = [], input_name, []
    if quantized:
        initializers = [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [0.03]),
            helper.make_tensor("zero", TensorProto.INT8, [], [0]),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [input_name, "scale", "zero"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"]),
        ]
        first = "dq"
    nodes += [
        helper.make_node("Flatten", [first], ["flat"], axis=1),
        helper.make_node("ReduceMean", ["flat"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["mean"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 1])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # old enough for any onnxruntime the appliance allows
    return bytes(model.SerializeToString())


def expected_scores(batch: np.ndarray) -> np.ndarray:
    """What the tiny model computes, in numpy."""
    mean = batch.reshape(batch.shape[0], -1).astype(np.float64).mean(axis=1)
    scores: np.ndarray = (1.0 / (1.0 + np.exp(-mean))).astype(np.float32)
    return scores


def manifest_fields(model_file: str, sha256: str, size: int = SIZE) -> dict[str, Any]:
    """A valid manifest as a TOML-shaped dict (tests mutate a copy to break it)."""
    return {
        "name": "dr-test",
        "version": "0.1.0",
        "file": model_file,
        "sha256": sha256,
        "format": "onnx",
        "input": {
            "name": "image",
            "size": size,
            "layout": "NCHW",
            "colour": "RGB",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "local_contrast": False,
        },
        "output": {"name": "referable_probability", "meaning": "probability of referable DR"},
        "threshold": {"operating": 0.42, "chosen_on": "validation split, sensitivity 0.87"},
        "training": {"validation_auc": 0.8, "data": "test fixture"},
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for manifests: scalars and lists at the top, then one level of tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


#: write_manifest(edit=None, model=None) -> the manifest's path (see conftest).
WriteManifest = Callable[..., Path]


def tiny_heatmap_onnx(size: int = SIZE, input_name: str = "image", output_name: str = "referable_heatmap") -> bytes:
    """Heatmap model: image [N, 3, S, S] -> mean over channels -> 2x2 average pool -> [N, 1, S/2, S/2]."""
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["grey"], axes=[1], keepdims=1),
        helper.make_node("AveragePool", ["grey"], [output_name], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes, "tiny-heatmap",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 1, size // 2, size // 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())
