"""The Runner base class: state checks, input checks and output checks every backend inherits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from model_fakes import SIZE

from appliance.errors import ModelError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.runner import Batch, Runner


class ScriptedRunner(Runner):
    """Returns whatever the test scripts, and counts the hooks' calls."""

    name = "scripted"

    def __init__(self, manifest: ModelManifest, output: Any = None, fail_activate: bool = False) -> None:
        super().__init__(manifest)
        self.output, self.fail_activate = output, fail_activate
        self.hooks: list[str] = []

    def activate_impl(self) -> None:
        self.hooks.append("activate")
        if self.fail_activate:
            raise ModelError("cannot load")

    def infer_impl(self, batch: Batch) -> Any:
        self.hooks.append("infer")
        return np.full((batch.shape[0], 1), 0.25, np.float32) if self.output is None else self.output

    def deactivate_impl(self) -> None:
        self.hooks.append("deactivate")


def good_batch(n: int = 2) -> np.ndarray:
    return np.zeros((n, 3, SIZE, SIZE), np.float32)


@pytest.fixture(params=["scripted", "onnxruntime"])
def runner(request: pytest.FixtureRequest, manifest: ModelManifest) -> Runner:
    """The contract holds for the base class's fake and for a real backend alike."""
    if request.param == "scripted":
        return ScriptedRunner(manifest)
    return OnnxRunner(manifest, intra_op_threads=1)


def test_infer_before_activate_is_refused(runner: Runner) -> None:
    with pytest.raises(RunnerUnavailableError, match="before the model was loaded") as info:
        runner.infer(good_batch())
    assert info.value.reason_code == "runner_unavailable"


@pytest.mark.parametrize(
    ("batch", "complaint"),
    [
        (np.zeros((2, 3, SIZE, SIZE), np.float64), "float32"),
        (np.zeros((2, 3, SIZE, SIZE), np.uint8), "float32"),
        ([[0.0]], "float32"),
        (np.zeros((3, SIZE, SIZE), np.float32), r"\[N, 3, 8, 8\].*got \[3, 8, 8\]"),
        (np.zeros((2, SIZE, SIZE, 3), np.float32), r"got \[2, 8, 8, 3\]"),
        (np.zeros((2, 3, SIZE + 1, SIZE), np.float32), r"got \[2, 3, 9, 8\]"),
        (np.zeros((0, 3, SIZE, SIZE), np.float32), "N >= 1"),
    ],
)
def test_wrong_batch_is_a_clear_value_error(runner: Runner, batch: Any, complaint: str) -> None:
    with runner, pytest.raises(ValueError, match=complaint):
        runner.infer(batch)


def test_context_manager_activates_and_deactivates(runner: Runner) -> None:
    assert not runner.is_active
    with runner as active:
        assert active is runner and runner.is_active
        scores = runner.infer(good_batch(3))
        assert scores.shape == (3,) and scores.dtype == np.float32
    assert not runner.is_active


def test_context_manager_deactivates_when_the_body_raises(runner: Runner) -> None:
    with pytest.raises(KeyError), runner:
        raise KeyError("boom")
    assert not runner.is_active


def test_activate_and_deactivate_are_idempotent(manifest: ModelManifest) -> None:
    runner = ScriptedRunner(manifest)
    runner.activate()
    runner.activate()
    runner.deactivate()
    runner.deactivate()
    assert runner.hooks == ["activate", "deactivate"]


def test_failed_activation_leaves_the_runner_inactive(manifest: ModelManifest) -> None:
    runner = ScriptedRunner(manifest, fail_activate=True)
    with pytest.raises(ModelError):
        runner.activate()
    assert not runner.is_active
    runner.deactivate()  # nothing to release: no hook call
    assert runner.hooks == ["activate"]


def test_column_output_is_flattened_to_float32(manifest: ModelManifest) -> None:
    out = np.array([[0.1], [0.9]], np.float64)
    with ScriptedRunner(manifest, output=out) as runner:
        scores = runner.infer(good_batch(2))
    assert scores.dtype == np.float32 and scores.shape == (2,)
    np.testing.assert_allclose(scores, [0.1, 0.9], rtol=1e-6)


@pytest.mark.parametrize(
    ("output", "complaint"),
    [
        (np.zeros((2, 2), np.float32), "wrong shape"),
        (np.zeros((3,), np.float32), "wrong shape"),
        (np.array([0.5, np.nan], np.float32), "not probabilities"),
        (np.array([0.5, 1.5], np.float32), "not probabilities"),
        (np.array([-2.0, 0.5], np.float32), "not probabilities"),
    ],
)
def test_output_that_is_not_n_probabilities_is_a_model_error(
    manifest: ModelManifest, output: np.ndarray, complaint: str
) -> None:
    with ScriptedRunner(manifest, output=output) as runner, pytest.raises(ModelError, match=complaint):
        runner.infer(good_batch(2))


def test_rounding_just_outside_the_unit_interval_is_clipped(manifest: ModelManifest) -> None:
    out = np.array([1.0 + 1e-7, -1e-7], np.float32)
    with ScriptedRunner(manifest, output=out) as runner:
        scores = runner.infer(good_batch(2))
    assert scores.tolist() == [1.0, 0.0]
