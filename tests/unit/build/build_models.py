"""Tiny test models for the engine-build tests: a float and a Q/DQ ONNX, and a manifest template."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass

from build_fakes import FakeDevice, Recorder
from onnx import TensorProto, helper

from appliance.inference.manifest import ModelManifest

SIZE = 8


def tiny_onnx(*, quantized: bool = False, size: int = SIZE) -> bytes:
    """image [N, 3, S, S] -> (Q/DQ int8 when `quantized`) -> mean -> sigmoid -> [N, 1]."""
    nodes = []
    first = "image"
    initializers = []
    if quantized:
        initializers = [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [0.03]),
            helper.make_tensor("zero", TensorProto.INT8, [], [0]),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["image", "scale", "zero"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"]),
        ]
        first = "dq"
    nodes += [
        helper.make_node("Flatten", [first], ["flat"], axis=1),
        helper.make_node("ReduceMean", ["flat"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["mean"], ["referable_probability"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("referable_probability", TensorProto.FLOAT, ["N", 1])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


MANIFEST = """name = "{name}"
version = "0.1.0"
file = "{file}"
sha256 = "{sha}"
format = "onnx"
[input]
name = "image"
size = {size}
layout = "NCHW"
colour = "RGB"
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
local_contrast = false
[output]
name = "referable_probability"
meaning = "probability of referable DR"
[threshold]
operating = {threshold}
"""

WriteModel = Callable[..., ModelManifest]


@dataclass
class FakeLibs:
    dev: FakeDevice
    rec: Recorder
    trt: types.ModuleType


InstallFakes = Callable[..., FakeLibs]
