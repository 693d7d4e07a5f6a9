"""Explicit INT8 quantization with onnxruntime's `quantize_static`, in the form TensorRT builds from.

TensorRT's explicit-quantization path (8.6 and 10.x) wants:
- QuantizeLinear/DequantizeLinear (Q/DQ) pairs, signed int8, symmetric: every zero point 0
  (ActivationSymmetric, WeightSymmetric);
- per-channel weight scales (DequantizeLinear `axis` = the output-channel axis);
- biases left in float: a DequantizeLinear of an int32 bias is refused by TensorRT's ONNX parser
  (QuantizeBias = False);
- weights kept in float behind their own Q/DQ pair (AddQDQPairToWeight): TensorRT 10 also takes
  pre-quantized int8 weights, but 8.6 (JetPack 5) expects high-precision weights and quantizes them
  itself with the Q scale. The file stays FP32-sized; the engine does not;
- one Q/DQ pair per consumer (DedicatedQDQPair), which TensorRT's Q/DQ fusion expects.
The classifier head (its Gemm/MatMul) and the final Sigmoid/Softmax may stay in float
(`float_head`): an int8 probability would have a resolution of 1/127, coarse at a threshold.

Placement (`placement`): "inputs" (the default) follows TensorRT's Q/DQ placement advice: quantize
the inputs of weighted ops (Conv, Gemm, MatMul) and of the residual Add, never their outputs; the
engine then fuses Conv + activation and requantizes once, at the next layer's input. "all" is
onnxruntime's default (every supported op's inputs and outputs), which quantizes a Conv's output
and then its Clip's output again: two roundings per layer where TensorRT would make one.

Calibration is chunked (quantize_static's `CalibStridedMinMax`, which works for every method) so
the intermediate activations of only a few batches are held at once, and the ranges are cached per
method so a second variant (head in float or not) reuses them without another pass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from calibration.errors import CalibrationError
from calibration.reader import SquaresReader, chunk_items

log = logging.getLogger(__name__)

METHODS: dict[str, CalibrationMethod] = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
#: Ops the head chain may pass through, walking back from the graph output to the last Gemm/MatMul:
#: shape ops, activations, and the score arithmetic of an exported model (Platt scale and offset: Mul,
#: Add; flip averaging: Slice of the doubled batch, Add, Mul by 0.5).
_HEAD_PASS_THROUGH = {"Sigmoid", "Softmax", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Add",
                      "Transpose", "Mul", "Div", "Sub", "Slice"}
_HEAD_LINEAR = {"Gemm", "MatMul"}
_HEAD_ACTIVATIONS = {"Sigmoid", "Softmax"}
#: Op types whose inputs (only) get Q/DQ under placement "inputs": the weighted ops and the residual Add.
_INPUT_ONLY_OPS = {"Conv", "Gemm", "MatMul", "Add"}
PLACEMENTS = ("inputs", "all")
#: Ops whose input 1 is a weight that must be quantized per channel, and the channel axis of that weight.
_WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1}


@dataclass(frozen=True)
class QuantizeOptions:
    """One quantized variant.

    method: a key of METHODS. float_head: keep the classifier head (Gemm/MatMul + Sigmoid) in float.
    placement: "inputs" or "all" (see the module docstring). float_convs: keep the first N Convs in
    float. float_depthwise: keep every depthwise Conv in float (few weights per channel make them the
    most sensitive to rounding; they are a few per cent of the compute). bias_correction: cancel the
    weights' rounding bias (calibration.bias; applied by the caller, which has the photos).
    chunk: reader items (batches) per calibration chunk, bounding the activations held in memory.
    percentile: for the percentile method, the share (0..100) of |activation| values kept in range.
    """

    method: str = "minmax"
    float_head: bool = True
    placement: str = "inputs"
    float_convs: int = 0
    float_depthwise: bool = False
    bias_correction: bool = True
    chunk: int = 8
    percentile: float = 99.999

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, not {self.method!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, not {self.placement!r}")
        if self.float_convs < 0:
            raise ValueError(f"float_convs must be >= 0, got {self.float_convs}")
        if self.chunk < 1 or not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"need chunk >= 1 and 0 < percentile <= 100, got {self.chunk}, {self.percentile}")

    @property
    def label(self) -> str:
        """E.g. "minmax, head float, bias corrected" (the parts that differ from full int8 are named)."""
        parts = [self.method, f"head {'float' if self.float_head else 'int8'}"]
        if self.float_convs:
            parts.append(f"first {self.float_convs} convs float")
        if self.float_depthwise:
            parts.append("depthwise float")
        parts.append("bias corrected" if self.bias_correction else "no bias correction")
        if self.placement != "inputs":
            parts.append("Q/DQ everywhere")
        return ", ".join(parts)

    @property
    def ranges_key(self) -> str:
        """What the calibrated ranges depend on (method, placement, percentile): one cache file each."""
        suffix = f"-p{self.percentile:g}" if self.method == "percentile" else ""
        return f"{self.method}-{self.placement}{suffix}"

    @property
    def op_types(self) -> list[str] | None:
        """quantize_static's op_types_to_quantize (None: onnxruntime's default, every supported op)."""
        return sorted(_INPUT_ONLY_OPS) if self.placement == "inputs" else None

    def extra_options(self, chunk_stride: int) -> dict[str, Any]:
        """quantize_static's extra_options for TensorRT's form (see the module docstring)."""
        options: dict[str, Any] = {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QuantizeBias": False,
            "AddQDQPairToWeight": True,
            "DedicatedQDQPair": True,
            "CalibTensorRangeSymmetric": True,
            "CalibPercentile": self.percentile,
            "CalibStridedMinMax": chunk_stride,
        }
        if self.placement == "inputs":
            options["OpTypesToExcludeOutputQuantization"] = sorted(_INPUT_ONLY_OPS)
        return options


def prepare(fp32_model: Path, out: Path, *, pre_process: bool = True) -> Path:
    """Shape inference and graph clean-up (onnxruntime's `quant_pre_process`), then name every node.

    Names matter: `nodes_to_exclude` matches node names, and an unnamed node would match "".
    Falls back to shape inference without graph optimisation if the optimiser fails.

    Raises:
        CalibrationError: the model cannot be read or prepared.
    """
    try:
        if pre_process:
            try:
                quant_pre_process(str(fp32_model), str(out))
            except Exception as exc:  # onnxruntime raises its own pybind types here
                log.warning("quant_pre_process with optimisation failed (%s); retrying without it", exc)
                quant_pre_process(str(fp32_model), str(out), skip_optimization=True)
            model = onnx.load(str(out))
        else:
            model = onnx.load(str(fp32_model))
    except Exception as exc:
        raise CalibrationError(f"The FP32 model {fp32_model} could not be prepared for quantization.",
                               detail=repr(exc)) from exc
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)
    onnx.save(model, str(out))
    return out


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the classifier head: the nodes from the last Gemm/MatMul to the (first) graph output.

    Walks back from the output through shape and activation ops; if no Gemm/MatMul is met, only the
    final Sigmoid/Softmax nodes of that chain are returned (possibly none).
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    constants = {init.name for init in graph.initializer}
    chain: list[onnx.NodeProto] = []
    node = producer.get(graph.output[0].name)
    while node is not None and len(chain) < 16:
        chain.append(node)
        if node.op_type in _HEAD_LINEAR:
            return [n.name for n in chain]
        if node.op_type not in _HEAD_PASS_THROUGH:
            break
        data_inputs = [name for name in node.input if name and name not in constants and name in producer]
        node = producer[data_inputs[0]] if data_inputs else None
    return [n.name for n in chain if n.op_type in _HEAD_ACTIVATIONS]


def leading_convs(model: onnx.ModelProto, count: int) -> list[str]:
    """Names of the first `count` Conv nodes in graph (topological) order: the stem, where a rounding
    error travels through the whole network and few channels per layer leave nothing to average it out."""
    return [n.name for n in model.graph.node if n.op_type == "Conv"][:count]


def depthwise_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the depthwise Conv nodes (one input channel per group, more than one group)."""
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        group = next((int(a.i) for a in node.attribute if a.name == "group"), 1)
        weight = inits.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if weight is not None and group > 1 and len(weight.dims) > 1 and weight.dims[1] == 1:
            out.append(node.name)
    return out


def quantize(prepared: Path, out: Path, reader: SquaresReader, options: QuantizeOptions,
             cache_dir: Path) -> list[str]:
    """Calibrate (or reuse `cache_dir`'s ranges for this method) and write the Q/DQ model to `out`.

    Returns the names of the nodes kept in float. The result is checked with `check_qdq`.

    Raises:
        CalibrationError: quantization failed or produced a graph TensorRT would not take.
    """
    model = onnx.load(str(prepared))
    excluded = head_nodes(model) if options.float_head else []
    excluded += leading_convs(model, options.float_convs)
    excluded += [name for name in depthwise_convs(model) if name not in excluded] if options.float_depthwise else []
    cache = cache_dir / f"ranges-{options.ranges_key}.json"
    reader.rewind()
    try:
        quantize_static(
            str(prepared), str(out), calibration_data_reader=reader, quant_format=QuantFormat.QDQ,
            op_types_to_quantize=options.op_types,
            per_channel=True, reduce_range=False,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded, calibrate_method=METHODS[options.method],
            extra_options=options.extra_options(chunk_items(len(reader), options.chunk)),
            calibration_cache_path=cache,
        )
    except Exception as exc:  # onnxruntime and onnx raise many types; all mean "no model"
        raise CalibrationError(f"Quantization ({options.label}) failed; see the log for the cause.",
                               detail=repr(exc)) from exc
    check_qdq(onnx.load(str(out)))
    return excluded


@dataclass(frozen=True)
class QdqSummary:
    """What check_qdq found: counts of Q and DQ nodes and of per-channel weights, the opset, and the
    ops left in float (Conv/Gemm/MatMul whose weight is not dequantized; Sigmoid/Softmax fed no DQ)."""

    quantize_nodes: int
    dequantize_nodes: int
    per_channel_weights: int
    opset: int
    float_ops: list[str] = field(default_factory=list)


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray[Any, Any]]:
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _axis(node: onnx.NodeProto) -> int | None:
    return next((int(a.i) for a in node.attribute if a.name == "axis"), None)


def check_qdq(model: onnx.ModelProto) -> QdqSummary:
    """Check that `model` is a Q/DQ graph in TensorRT's form; return what was found.

    Checked: Q and DQ nodes exist; every QuantizeLinear feeds only DequantizeLinear nodes; every Q/DQ
    has an explicit int8 zero point that is all zeros and positive scales; no DequantizeLinear reads
    int32 (a quantized bias); every Conv weight that is dequantized has one scale per output channel
    and the DQ `axis` set to that channel axis.

    Raises:
        CalibrationError: any of the above fails (the message names the first offending node).
    """
    nodes = list(model.graph.node)
    consts = _constants(model)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producer = {out: node for node in nodes for out in node.output}
    qs = [n for n in nodes if n.op_type == "QuantizeLinear"]
    dqs = [n for n in nodes if n.op_type == "DequantizeLinear"]
    if not qs or not dqs:
        raise CalibrationError("The quantized model holds no QuantizeLinear/DequantizeLinear nodes.")

    def bad(node: onnx.NodeProto, why: str) -> CalibrationError:
        return CalibrationError(f"The quantized model is not in TensorRT's Q/DQ form: node {node.name!r} {why}.")

    for q in qs:
        if any(c.op_type != "DequantizeLinear" for c in consumers.get(q.output[0], [])):
            raise bad(q, "feeds a node other than DequantizeLinear")
    for node in qs + dqs:
        if len(node.input) < 3 or node.input[2] not in consts:
            raise bad(node, "has no constant zero point (the default would be uint8)")
        zero, scale = consts[node.input[2]], consts.get(node.input[1])
        if zero.dtype != np.int8 or np.any(zero != 0):
            raise bad(node, f"has zero point {zero.tolist()} of {zero.dtype}; int8 zeros are required")
        if scale is None or np.any(scale <= 0):
            raise bad(node, "has a missing or non-positive scale")
    for dq in dqs:
        source = consts.get(dq.input[0])
        if source is not None and source.dtype == np.int32:
            raise bad(dq, "dequantizes an int32 tensor (a quantized bias)")
    per_channel = 0
    for node in nodes:
        if node.op_type not in _WEIGHT_AXIS or len(node.input) < 2:
            continue
        dq = producer.get(node.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        scale = consts[dq.input[1]]
        channels = _weight_shape(dq, consts, producer)[_WEIGHT_AXIS[node.op_type]]
        if scale.ndim != 1 or scale.size != channels or _axis(dq) != _WEIGHT_AXIS[node.op_type]:
            raise bad(dq, f"gives weight scales of shape {list(scale.shape)} on axis {_axis(dq)}; "
                          f"one per output channel ({channels}) on axis {_WEIGHT_AXIS[node.op_type]} is required")
        per_channel += 1
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    dq_outputs = {dq.output[0] for dq in dqs}
    # A Conv/Gemm/MatMul runs in float when its weight is not dequantized; an activation when no input is.
    float_ops = [n.name for n in nodes
                 if (n.op_type in _HEAD_LINEAR | {"Conv"} and n.input[1] not in dq_outputs)
                 or (n.op_type in _HEAD_ACTIVATIONS and not dq_outputs.intersection(n.input))]
    return QdqSummary(quantize_nodes=len(qs), dequantize_nodes=len(dqs), per_channel_weights=per_channel,
                      opset=opset, float_ops=float_ops)


def _weight_shape(dq: onnx.NodeProto, consts: dict[str, np.ndarray[Any, Any]],
                  producer: dict[str, onnx.NodeProto]) -> tuple[int, ...]:
    """Shape of the weight behind a DQ: its int8 input, or the float weight behind its Q (AddQDQPairToWeight)."""
    if dq.input[0] in consts:
        return tuple(consts[dq.input[0]].shape)
    q = producer.get(dq.input[0])
    if q is not None and q.op_type == "QuantizeLinear" and q.input[0] in consts:
        return tuple(consts[q.input[0]].shape)
    raise CalibrationError(f"The quantized model's weight behind node {dq.name!r} is not a constant.")


def describe(summary: QdqSummary, excluded: Sequence[str]) -> str:
    """One line for the log and the report (float nodes named when few, counted when many)."""
    names = list(excluded)
    floats = ", ".join(names) if len(names) <= 3 else f"{len(names)} nodes ({', '.join(names[:2])}, ...)"
    return (f"{summary.quantize_nodes} Q / {summary.dequantize_nodes} DQ nodes, {summary.per_channel_weights} "
            f"per-channel weights, opset {summary.opset}, float: {floats or 'none'}")


def conv_macs(model: onnx.ModelProto) -> dict[str, int]:
    """Multiply-accumulates of every Conv node for one image, from ONNX shape inference (0 where unknown)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.graph.value_info, *inferred.graph.output]}
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    macs = {}
    for node in model.graph.node:
        if node.op_type == "Conv" and node.input[1] in weights:
            w, out = weights[node.input[1]], shapes.get(node.output[0], [])
            spatial = int(np.prod(out[2:])) if len(out) > 2 else 0
            macs[node.name] = int(np.prod(w)) * spatial
    return macs


def float_share(macs: dict[str, int], excluded: Iterable[str]) -> float:
    """Share (0..1) of the convolutions' multiply-accumulates left in float by `excluded`."""
    total = sum(macs.values())
    kept = set(excluded)
    return sum(v for k, v in macs.items() if k in kept) / total if total else 0.0
