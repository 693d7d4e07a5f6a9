"""quantize_static in TensorRT's form on the tiny conv model, and check_qdq on good and bad graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from calibration_fakes import INPUT, SIZE
from onnx import TensorProto, helper, numpy_helper

from appliance.inference.preprocess import InputSpec
from calibration.errors import CalibrationError
from calibration.quantize import (
    QuantizeOptions,
    check_qdq,
    depthwise_convs,
    head_nodes,
    leading_convs,
    prepare,
    quantize,
)
from calibration.reader import SquaresReader, batch_tensor

SPEC = InputSpec(size=SIZE)
SQUARES = np.random.default_rng(1).integers(0, 256, (24, SIZE, SIZE, 3), dtype=np.uint8)


def quantized(tiny_model: Path, tmp_path: Path, options: QuantizeOptions) -> tuple[onnx.ModelProto, list[str], Path]:
    prepared = prepare(tiny_model, tmp_path / "prepared.onnx")
    reader = SquaresReader(INPUT, SQUARES, SPEC, batch_size=4, progress=False)
    out = tmp_path / f"q-{options.method}-{options.float_head}.onnx"
    excluded = quantize(prepared, out, reader, options, tmp_path)
    return onnx.load(str(out)), excluded, out


def scores(path: Path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {INPUT: batch_tensor(SQUARES, SPEC)})[0])


def test_the_head_is_found_walking_back_from_the_output(tiny_model: Path) -> None:
    assert head_nodes(onnx.load(str(tiny_model))) == ["/Sigmoid", "/classifier/Gemm"]


def test_the_head_includes_flip_averaging_and_platt_arithmetic_of_a_real_export(tmp_path: Path) -> None:
    """The graph training.export writes with --tta-hflip --calibration platt: the logit arithmetic after
    the Gemm (batch split, mean, scale, offset) stays in float with the head."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training.export import export_onnx
    from training.nets import ProbabilityHead, make_net

    torch.manual_seed(0)
    path = tmp_path / "tta.onnx"
    export_onnx(ProbabilityHead(make_net("mobilenet_v2", None), 0.8, -1.2, hflip=True), 32, path)
    model = onnx.load(str(path))
    head = head_nodes(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert [ops[name] for name in head][-1] == "Gemm" and ops[head[0]] == "Sigmoid"
    assert {"Slice", "Add", "Mul"} <= {ops[name] for name in head}


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_qdq_model_is_symmetric_int8_with_per_channel_weights(tiny_model: Path, tmp_path: Path, method: str) -> None:
    model, excluded, path = quantized(tiny_model, tmp_path, QuantizeOptions(method=method))
    assert excluded == ["/Sigmoid", "/classifier/Gemm"]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert {n.op_type for n in qdq} == {"QuantizeLinear", "DequantizeLinear"}
    for node in qdq:  # checked here directly, not only through check_qdq
        zero = inits[node.input[2]]
        assert zero.dtype == np.int8 and not zero.any(), node.name
    producer = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for conv in convs:
        dq = producer[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        assert next(a.i for a in dq.attribute if a.name == "axis") == 0
        assert inits[dq.input[1]].shape == (8,)  # one scale per output channel
        assert conv.input[2] in inits and inits[conv.input[2]].dtype == np.float32  # bias stays float
    summary = check_qdq(model)
    assert summary.per_channel_weights == len(convs) == 2 and summary.opset == 17
    assert "/classifier/Gemm" in summary.float_ops and "/Sigmoid" in summary.float_ops
    fp32 = scores(tiny_model)
    assert np.abs(scores(path) - fp32).max() < 0.05


def test_an_int8_head_is_quantized_too(tiny_model: Path, tmp_path: Path) -> None:
    model, excluded, _ = quantized(tiny_model, tmp_path, QuantizeOptions(method="minmax", float_head=False))
    producer = {o: n for n in model.graph.node for o in n.output}
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    assert excluded == [] and producer[gemm.input[1]].op_type == "DequantizeLinear"
    assert "/classifier/Gemm" not in check_qdq(model).float_ops


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        QuantizeOptions(method="kl")


def _qdq_graph(zero: np.ndarray, weight_scale: np.ndarray, axis: int | None = 0,
               bias_int32: bool = False) -> onnx.ModelProto:
    """image -> Q/DQ -> Conv(weight via Q/DQ) -> out; parts can be made wrong for check_qdq."""
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(zero, "z"),
        numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w"),
        numpy_helper.from_array(weight_scale, "ws"),
        numpy_helper.from_array(np.zeros(weight_scale.shape, np.int8), "wz"),
    ]
    axis_kw = {} if axis is None else {"axis": axis}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="xq"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="xd"),
        helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="wq", **axis_kw),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], name="wd", **axis_kw),
    ]
    conv_inputs = ["xd", "wd"]
    if bias_int32:
        inits += [numpy_helper.from_array(np.zeros(2, np.int32), "b"),
                  numpy_helper.from_array(np.array(0.01, np.float32), "bs"),
                  numpy_helper.from_array(np.array(0, np.int32), "bz")]
        nodes.append(helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bd"], name="bias_dq"))
        conv_inputs.append("bd")
    nodes.append(helper.make_node("Conv", conv_inputs, ["y"], name="conv"))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_check_qdq_accepts_a_well_formed_graph() -> None:
    summary = check_qdq(_qdq_graph(np.array(0, np.int8), np.array([0.1, 0.2], np.float32)))
    assert (summary.quantize_nodes, summary.dequantize_nodes, summary.per_channel_weights) == (2, 2, 1)


@pytest.mark.parametrize(("graph", "why"), [
    (_qdq_graph(np.array(3, np.int8), np.array([0.1, 0.2], np.float32)), "zero point"),
    (_qdq_graph(np.array(0, np.uint8), np.array([0.1, 0.2], np.float32)), "zero point"),
    (_qdq_graph(np.array(0, np.int8), np.array(0.1, np.float32), axis=None), "one per output channel"),
    (_qdq_graph(np.array(0, np.int8), np.array([0.1, 0.2], np.float32), axis=1), "one per output channel"),
    (_qdq_graph(np.array(0, np.int8), np.array([0.1, 0.2], np.float32), bias_int32=True), "int32"),
])
def test_check_qdq_refuses_what_tensorrt_would_not_take(graph: onnx.ModelProto, why: str) -> None:
    with pytest.raises(CalibrationError, match=why):
        check_qdq(graph)


def test_a_float_model_is_not_a_qdq_model(tiny_model: Path) -> None:
    with pytest.raises(CalibrationError, match="no QuantizeLinear"):
        check_qdq(onnx.load(str(tiny_model)))


def test_stem_and_depthwise_convs_are_found(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    assert leading_convs(model, 1) == ["/features/0/Conv"]
    assert leading_convs(model, 5) == ["/features/0/Conv", "/features/1/Conv"]
    assert depthwise_convs(model) == ["/features/1/Conv"]


def test_a_depthwise_float_variant_leaves_that_conv_unquantized(tiny_model: Path, tmp_path: Path) -> None:
    options = QuantizeOptions(method="minmax", float_depthwise=True)
    model, excluded, _ = quantized(tiny_model, tmp_path, options)
    assert "/features/1/Conv" in excluded
    summary = check_qdq(model)
    assert "/features/1/Conv" in summary.float_ops and "/features/0/Conv" not in summary.float_ops
    assert summary.per_channel_weights == 1
    assert options.label == "minmax, head float, depthwise float, bias corrected"
