"""Bias correction: cancel the systematic error that rounding the weights to int8 adds to each layer.

Rounding a weight is a small error, but a layer sums its errors against inputs whose mean is not zero
(post-ReLU6 activations are positive): output channel c gets the bias Σ_j δW[c, j] · E[x_j], where δW is
the rounding error. A depthwise 3x3 channel sums only nine such errors against one channel's mean, so
nothing averages out; on the reference MobileNetV2 this moved the final probability by a few
hundredths (enough to flip refer decisions near the threshold). The expected error is computed from
the quantized weights (the Q/DQ graph's own scales) and the FP32 model's per-channel input means over
the calibration photos, and subtracted from the layer's float bias: Nagel et al. 2019, "Data-Free
Quantization Through Weight Equalization and Bias Correction", §4.2, with empirical input means.

Biases stay float in the Q/DQ graph (QuantizeBias = False), so TensorRT builds with the corrected
values. Every layer is corrected independently from one FP32 pass (shared by all variants), so no
iteration can diverge, as a layer-by-layer empirical correction of all layers at once did here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from appliance.inference.preprocess import InputSpec
from calibration.reader import batch_tensor

Means = dict[str, npt.NDArray[np.float64]]
Array = np.ndarray[Any, Any]


def input_means(model: onnx.ModelProto, tensors: Sequence[str], squares: npt.NDArray[np.uint8], spec: InputSpec,
                input_name: str, *, batch: int = 8, threads: int = 2) -> Means:
    """Per-channel (axis 1) mean of each named tensor of `model` over all photos and positions (float64)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph_inputs = {i.name for i in probe.graph.input}
    fetched = [name for name in tensors if name not in graph_inputs]
    known = {o.name for o in probe.graph.output}
    for name in fetched:
        if name not in known:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    sums: dict[str, Array] = {}
    count: dict[str, int] = {}
    for start in range(0, len(squares), batch):
        x = batch_tensor(squares[start:start + batch], spec)
        values = dict(zip(fetched, session.run(fetched, {input_name: x}), strict=True)) if fetched else {}
        values.update({name: x for name in tensors if name in graph_inputs})
        for name, value in values.items():
            v = np.asarray(value, np.float64)
            axes = (0, *range(2, v.ndim))
            sums[name] = sums.get(name, np.zeros(v.shape[1])) + v.sum(axis=axes)
            count[name] = count.get(name, 0) + v.size // v.shape[1]
    return {name: sums[name] / count[name] for name in tensors}


def weight_rounding_bias(weight: Array, scale: Array, axis: int, x_mean: Array, *, group: int = 1,
                         transposed_gemm: bool = True) -> Array:
    """Expected output error per output channel, Σ δW · E[x], of a Conv (OIHW weight) or Gemm (weight [out, in]).

    `scale` is the per-channel (or scalar) int8 scale of the weight along `axis`; rounding is ONNX
    QuantizeLinear's (half to even, saturating to [-128, 127]). Pure.
    """
    shape = [1] * weight.ndim
    if np.ndim(scale):
        shape[axis] = -1
    s = np.asarray(scale, np.float64).reshape(shape)
    w = weight.astype(np.float64)
    delta = np.clip(np.round(w / s), -128, 127) * s - w
    if weight.ndim == 2:  # Gemm: y = x W^T (transB) or x W
        d = delta if transposed_gemm else delta.T
        out: Array = d @ x_mean
        return out
    # Conv: output c reads input channels of its group; sum the kernel's errors, then weigh by the means.
    per_in = delta.reshape(delta.shape[0], delta.shape[1], -1).sum(axis=2)  # [O, I/group]
    out_per_group = delta.shape[0] // group
    in_per_group = delta.shape[1]
    result = np.empty(delta.shape[0])
    for c in range(delta.shape[0]):
        g = c // out_per_group
        result[c] = per_in[c] @ x_mean[g * in_per_group:(g + 1) * in_per_group]
    return result


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def layer_inputs(model: onnx.ModelProto) -> list[str]:
    """The data input of every Conv/Gemm of the float model: the tensors whose means correct_biases needs."""
    return sorted({n.input[0] for n in model.graph.node if n.op_type in ("Conv", "Gemm")})


def correct_biases(qdq: onnx.ModelProto, means: Means) -> int:
    """Subtract the expected weight-rounding error from the float bias of every quantized Conv/Gemm, in place.

    `means`: per-channel means of the FP32 model's layer inputs (input_means over layer_inputs), by
    tensor name; the Q/DQ graph keeps those names on the float side of its input Q/DQ pairs. A quantized
    layer without a bias gets one. Returns the number of layers corrected.

    Raises:
        KeyError: `means` lacks a quantized layer's input.
    """
    inits = {i.name: i for i in qdq.graph.initializer}
    producer = {o: n for n in qdq.graph.node for o in n.output}
    corrected = 0
    for node in list(qdq.graph.node):
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2:
            continue
        dq = producer.get(node.input[1])
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear" or q.input[0] not in inits or q.input[1] not in inits:
            continue  # a float layer, or weights stored as int8 (no float weight to compare with)
        weight = numpy_helper.to_array(inits[q.input[0]])
        scale = numpy_helper.to_array(inits[q.input[1]])
        source = _float_source(node.input[0], producer)
        if node.op_type == "Gemm":
            error = weight_rounding_bias(weight, scale, _attr(q, "axis", 1), means[source],
                                         transposed_gemm=bool(_attr(node, "transB", 0)))
        else:
            error = weight_rounding_bias(weight, scale, _attr(q, "axis", 1), means[source],
                                         group=_attr(node, "group", 1))
        if len(node.input) > 2 and node.input[2] in inits:
            init = inits[node.input[2]]
            bias = numpy_helper.to_array(init).astype(np.float64)
        else:
            init = qdq.graph.initializer.add()
            init.name = f"{node.name}_corrected_bias"
            bias = np.zeros(error.shape[0])
            if len(node.input) > 2:
                node.input[2] = init.name
            else:
                node.input.append(init.name)
        fixed = (bias - error.reshape(bias.shape)).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(fixed, init.name))
        corrected += 1
    return corrected


def _float_source(tensor: str, producer: dict[str, onnx.NodeProto]) -> str:
    """The float tensor behind a layer's input: through its DequantizeLinear and QuantizeLinear, if any."""
    dq = producer.get(tensor)
    if dq is None or dq.op_type != "DequantizeLinear":
        return tensor
    q = producer.get(dq.input[0])
    return q.input[0] if q is not None and q.op_type == "QuantizeLinear" else tensor
