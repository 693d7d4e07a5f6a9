"""INT8 calibration of the referable-DR model: explicit (Q/DQ) quantization that TensorRT accepts.

Not shipped on the device; run from a source checkout by `appliance calibrate`. One job a module:

| module | job |
|---|---|
| `errors.py` | CalibrationError (a typed appliance error with an operator sentence) |
| `images.py` | the stratified calibration set from the TRAIN split, its recorded list, the TEST split |
| `reader.py` | decoding photos the appliance's way, and onnxruntime's CalibrationDataReader over them |
| `quantize.py` | `quantize_static` in TensorRT's form, and the structural check of the result |
| `parity.py` | INT8 vs FP32 on the test split: AUC difference, decision agreement, score differences |
| `manifest.py` | the INT8 model's manifest (same schema as the FP32 one) |
| `run.py` | the whole command: select, calibrate each method, compare, ship the best, report |

Nothing here imports torch.
"""
