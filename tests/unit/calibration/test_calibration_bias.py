"""Bias correction: the expected weight-rounding error, by hand and on the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from calibration_fakes import INPUT, SIZE
from onnx import TensorProto, helper, numpy_helper

from appliance.inference.preprocess import InputSpec
from calibration.bias import correct_biases, input_means, layer_inputs, weight_rounding_bias
from calibration.quantize import QuantizeOptions, prepare, quantize
from calibration.reader import SquaresReader

SPEC = InputSpec(size=SIZE)
SQUARES = np.random.default_rng(2).integers(0, 256, (16, SIZE, SIZE, 3), dtype=np.uint8)


def test_rounding_error_of_a_pointwise_conv_by_hand() -> None:
    w = np.array([0.26, 0.13], np.float32).reshape(1, 2, 1, 1)  # rounds to 0.3 and 0.1 at scale 0.1
    error = weight_rounding_bias(w, np.array([0.1]), 0, np.array([2.0, 1.0]))
    assert error == pytest.approx([0.04 * 2.0 - 0.03 * 1.0])


def test_rounding_error_of_a_depthwise_conv_uses_its_own_channel_mean() -> None:
    w = np.zeros((2, 1, 3, 3), np.float32)
    w[0, 0, 0, 0], w[1, 0, 1, 1] = 0.26, 0.13
    error = weight_rounding_bias(w, np.array([0.1, 0.1]), 0, np.array([2.0, 5.0]), group=2)
    assert error == pytest.approx([0.04 * 2.0, -0.03 * 5.0])


def test_rounding_error_of_a_gemm_by_hand() -> None:
    w = np.array([[0.26, 0.13]], np.float32)  # [out, in], transB
    assert weight_rounding_bias(w, np.array([0.1]), 0, np.array([2.0, 1.0])) == pytest.approx([0.05])
    assert weight_rounding_bias(w.T, np.array([0.1]), 1, np.array([2.0, 1.0]),
                                transposed_gemm=False) == pytest.approx([0.05])


def test_a_quantized_conv_without_bias_gets_the_correction_as_its_bias() -> None:
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "z"),
        numpy_helper.from_array(np.array([0.26, 0.13], np.float32).reshape(1, 2, 1, 1), "w"),
        numpy_helper.from_array(np.array([0.1], np.float32), "ws"),
        numpy_helper.from_array(np.array([0], np.int8), "wz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="xq"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="xd"),
        helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="wq", axis=0),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], name="wd", axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])],
                              initializer=inits)
    model = helper.make_model(graph)
    assert correct_biases(model, {"x": np.array([2.0, 1.0])}) == 1
    conv = model.graph.node[-1]
    bias = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}[conv.input[2]]
    assert bias == pytest.approx([-0.05])


def test_correction_brings_the_first_layer_mean_back_to_the_float_one(tiny_model: Path, tmp_path: Path) -> None:
    prepared = prepare(tiny_model, tmp_path / "prepared.onnx")
    fp32 = onnx.load(str(prepared))
    out = tmp_path / "q.onnx"
    quantize(prepared, out, SquaresReader(INPUT, SQUARES, SPEC, progress=False),
             QuantizeOptions(method="minmax"), tmp_path)
    qdq = onnx.load(str(out))
    means = input_means(fp32, layer_inputs(fp32), SQUARES, SPEC, INPUT)
    assert set(means) == {INPUT, "r1", "flat"} and means[INPUT].shape == (3,)
    conv_out = ["c1", "c2"]
    target = input_means(fp32, conv_out, SQUARES, SPEC, INPUT)
    before = input_means(qdq, conv_out, SQUARES, SPEC, INPUT)
    assert correct_biases(qdq, means) == 2  # both convs; the head Gemm is float
    after = input_means(qdq, conv_out, SQUARES, SPEC, INPUT)
    err_before = np.abs(before["c1"] - target["c1"]).mean()
    err_after = np.abs(after["c1"] - target["c1"]).mean()
    assert err_after < 0.5 * err_before, (err_before, err_after)
