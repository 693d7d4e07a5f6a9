"""Training, evaluation and ONNX export of the referable-DR classifier (PyTorch; not shipped)."""
