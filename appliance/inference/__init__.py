"""Inference: preprocessing, the Runner interface and its backends, model manifests."""
