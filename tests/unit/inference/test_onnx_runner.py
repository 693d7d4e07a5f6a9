"""OnnxRunner on a tiny ONNX model built in the test: outputs against numpy, loading checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from model_fakes import SIZE, WriteManifest, expected_scores, tiny_onnx

from appliance.errors import ModelError, ModelIntegrityError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.onnx_runner import OnnxRunner, choose_providers


def batch_of(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 2.0, (n, 3, SIZE, SIZE)).astype(np.float32)


@pytest.mark.parametrize("n", [1, 5])
def test_scores_match_numpy(manifest: ModelManifest, n: int) -> None:
    batch = batch_of(n, seed=n)
    with OnnxRunner(manifest, intra_op_threads=1) as runner:
        scores = runner.infer(batch)
    assert scores.dtype == np.float32 and scores.shape == (n,)
    np.testing.assert_allclose(scores, expected_scores(batch), rtol=1e-5, atol=1e-6)
    # Different images give different scores: the model really ran on them.
    assert n == 1 or np.unique(scores).size == n


def test_runs_on_the_cpu_here_and_names_itself(manifest: ModelManifest) -> None:
    with OnnxRunner(manifest) as runner:
        assert runner.providers[-1] == "CPUExecutionProvider"
        assert manifest.info(runner.name).runner == "onnxruntime"


def test_cuda_is_preferred_when_onnxruntime_offers_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: with_cuda)
    assert choose_providers() == with_cuda
    without_cuda = ["AzureExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: without_cuda)
    assert choose_providers() == ["CPUExecutionProvider"]


def test_session_is_built_from_the_hashed_bytes_not_the_path(
    manifest: ModelManifest, monkeypatch: pytest.MonkeyPatch, model_bytes: bytes
) -> None:
    seen: list[Any] = []
    real = ort.InferenceSession

    def spy(model: Any, **kwargs: Any) -> ort.InferenceSession:
        seen.append(model)
        return real(model, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    with OnnxRunner(manifest, intra_op_threads=3) as runner:
        runner.infer(batch_of(1))
    assert seen == [model_bytes]


def test_file_swapped_after_the_manifest_was_checked_is_refused(manifest: ModelManifest) -> None:
    manifest.model_path.write_bytes(tiny_onnx(output_name="referable_probability") + b"\x00")
    runner = OnnxRunner(manifest)
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        runner.activate()
    assert not runner.is_active


def test_file_onnxruntime_cannot_parse_is_a_model_error(write_manifest: WriteManifest) -> None:
    manifest = load_manifest(write_manifest(model=b"this is not an onnx model"))
    with pytest.raises(ModelError, match="could not be loaded by onnxruntime; reinstall the model"):
        OnnxRunner(manifest).activate()


def test_model_without_the_manifest_input_name_is_refused(write_manifest: WriteManifest) -> None:
    manifest = load_manifest(write_manifest(model=tiny_onnx(input_name="pixels")))
    with pytest.raises(ModelError, match="does not have the input 'image'"):
        OnnxRunner(manifest).activate()


def test_model_of_another_input_size_is_refused(write_manifest: WriteManifest) -> None:
    manifest = load_manifest(write_manifest(model=tiny_onnx(size=16)))
    with pytest.raises(ModelError, match=r"expects input shape \['N', 3, 16, 16\]"):
        OnnxRunner(manifest).activate()


def test_failure_inside_onnxruntime_is_a_model_error(
    manifest: ModelManifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OnnxRunner(manifest) as runner:
        session = runner._session
        assert session is not None

        def broken_run(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

        monkeypatch.setattr(session, "run", broken_run)
        with pytest.raises(ModelError, match="failed while scoring images") as info:
            runner.infer(batch_of(2))
        assert "illegal memory access" in info.value.detail


def test_infer_after_deactivate_is_refused(manifest: ModelManifest) -> None:
    runner = OnnxRunner(manifest)
    with runner:
        pass
    with pytest.raises(RunnerUnavailableError):
        runner.infer(batch_of(1))


def test_thread_count_must_be_positive(manifest: ModelManifest) -> None:
    with pytest.raises(ValueError, match="intra_op_threads"):
        OnnxRunner(manifest, intra_op_threads=0)
