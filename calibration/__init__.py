"""INT8 calibration of the referable-DR model: explicit (Q/DQ) quantization that TensorRT accepts.

Not shipped on the device; run from a source checkout by `appliance calibrate`. One job a module:

| module | job |
|---|---|
| `errors.py` | CalibrationError (a typed appliance error with an operator sentence) |
| `images.py` | the stratified calibration set from the TRAIN split, its recorded list, the TEST split |
| `reader.py` | decoding photos the appliance's way, and onnxruntime's CalibrationDataReader over them |
| `quantize.py` | `quantize_static` in TensorRT's form (variants: method, head, stem, depthwise), the Q/DQ check |
| `bias.py` | bias correction: cancels the systematic error of rounding the weights |
| `parity.py` | INT8 vs FP32 on one split: AUC difference, decision agreement, score differences; the choice |
| `manifest.py` | the INT8 model's manifest (same schema as the FP32 one) |
| `report.py` | models/INT8_PARITY.md |
| `run.py` | the whole command: select, calibrate, compare on validation, report on test, ship the best |

Nothing here imports torch.
"""
