"""Building on and for the device: TensorRT engines from the model's ONNX (FP32 or Q/DQ INT8).

`build` is also the name of a PyPI package (pypa/build). From the repository root (pytest sets
pythonpath ".") this folder wins; the `appliance build-engine` command does not rely on sys.path
order and imports this package by its location instead (appliance.commands.build_engine).

Modules: `plan` (which TensorRT flags for which precision and API generation, pure),
`trt_build` (the TensorRT builder calls), `engine_cache` (cache key, atomic engine file and JSON
sidecar), `parity` (engine vs onnxruntime on real images), `engine` (the whole build).
"""
