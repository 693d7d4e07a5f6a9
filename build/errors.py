"""Typed errors of the engine build: each is a ModelError with a reason code and an operator sentence."""

from __future__ import annotations

from appliance.errors import ModelError


class EngineBuildError(ModelError):
    """TensorRT could not build an engine for this model on this device."""

    reason_code = "engine_build_failed"


class OnnxParseError(EngineBuildError):
    """TensorRT's ONNX parser refused the model; `errors` holds each parser error as text."""

    reason_code = "engine_onnx_unparsable"

    def __init__(self, message: str, *, errors: list[str], detail: str = "") -> None:
        super().__init__(message, detail=detail or "; ".join(errors))
        self.errors = errors


class EngineParityError(EngineBuildError):
    """The built engine scores images differently from onnxruntime beyond the tolerance; it was removed."""

    reason_code = "engine_disagrees"
