"""TensorRTRunner against fake tensorrt and pycuda modules that record every call (10.x and 8.6 APIs)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from model_fakes import SIZE, expected_scores
from trt_fakes import CORRUPT_ENGINE, EngineSpec, FakeGpuLibs, InstallFakes

from appliance.errors import ModelError, RunnerUnavailableError
from appliance.inference import trt_runner
from appliance.inference.manifest import ModelManifest
from appliance.inference.trt_runner import TensorRTRunner

ENGINE_BYTES = b"serialized engine for the tiny model"
SAMPLE = (3, SIZE, SIZE)
FLOAT32 = np.dtype(np.float32)


@pytest.fixture
def engine_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.engine"
    path.write_bytes(ENGINE_BYTES)
    return path


def batch_of(n: int) -> np.ndarray:
    return np.random.default_rng(n).normal(0.0, 2.0, (n, *SAMPLE)).astype(np.float32)


def run_once(runner: TensorRTRunner, batch: np.ndarray) -> np.ndarray:
    with runner:
        worker = runner._worker
        scores = runner.infer(batch)
    assert worker is not None and not worker.is_alive(), "deactivate must join the inference thread"
    return scores


def assert_one_foreign_thread(libs: FakeGpuLibs) -> None:
    threads = libs.rec.threads()
    assert len(threads) == 1, "every CUDA and TensorRT call must happen on one thread"
    assert threads != {threading.get_ident()}, "that thread must not be the caller's"


def test_tensorrt_10_api(install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path) -> None:
    libs = install_gpu_fakes(api="10")
    batch = batch_of(3)
    scores = run_once(TensorRTRunner(manifest, engine_file, max_batch=4), batch)

    assert scores.dtype == np.float32 and scores.shape == (3,)
    np.testing.assert_allclose(scores, expected_scores(batch), rtol=1e-6)
    rec = libs.rec
    assert rec.args("deserialize_cuda_engine") == [(ENGINE_BYTES,)]
    assert rec.args("pagelocked_empty") == [((4, *SAMPLE), FLOAT32), ((4, 1), FLOAT32)]
    in_bytes, out_bytes = 4 * 3 * SIZE * SIZE * 4, 4 * 1 * 4
    assert rec.args("mem_alloc") == [(in_bytes,), (out_bytes,)]
    dev_in, dev_out = sorted(libs.gpu.memory)
    assert rec.args("set_tensor_address") == [("image", dev_in), ("referable_probability", dev_out)]
    assert rec.args("set_input_shape") == [("image", (3, *SAMPLE))]
    assert rec.args("execute_async_v3") == [(0xBEEF,)]
    assert "execute_async_v2" not in rec.names()
    (htod,) = rec.args("memcpy_htod_async")
    (dtoh,) = rec.args("memcpy_dtoh_async")
    assert htod[:2] == (dev_in, (3, *SAMPLE)) and dtoh[:2] == ((3, 1), dev_out)
    assert htod[2] is dtoh[2], "both copies go on the runner's one stream"
    order = rec.names()
    sequence = ["memcpy_htod_async", "execute_async_v3", "memcpy_dtoh_async", "stream.synchronize"]
    assert [order.index(name) for name in sequence] == sorted(order.index(name) for name in sequence)
    assert order[:3] == ["init", "Device", "make_context"]
    assert order[-4:] == ["free", "free", "ctx.pop", "ctx.detach"]
    assert sorted(libs.gpu.freed) == [dev_in, dev_out]
    assert_one_foreign_thread(libs)


def test_tensorrt_8_6_binding_api(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    libs = install_gpu_fakes(api="8.6")
    batch = batch_of(2)
    scores = run_once(TensorRTRunner(manifest, engine_file, max_batch=4), batch)

    assert scores.dtype == np.float32 and scores.shape == (2,)
    np.testing.assert_allclose(scores, expected_scores(batch), rtol=1e-6)
    rec = libs.rec
    assert rec.args("deserialize_cuda_engine") == [(ENGINE_BYTES,)]
    assert rec.args("get_profile_shape") == [(0, 0)]
    assert rec.args("pagelocked_empty") == [((4, *SAMPLE), FLOAT32), ((4, 1), FLOAT32)]
    dev_in, dev_out = sorted(libs.gpu.memory)
    assert rec.args("set_binding_shape") == [(0, (2, *SAMPLE))]
    assert rec.args("execute_async_v2") == [([dev_in, dev_out], 0xBEEF)]
    assert not {"set_input_shape", "set_tensor_address", "execute_async_v3"} & set(rec.names())
    assert len(rec.args("memcpy_htod_async")) == len(rec.args("memcpy_dtoh_async")) == 1
    assert rec.args("stream.synchronize") == [()]
    assert rec.names()[-2:] == ["ctx.pop", "ctx.detach"]
    assert_one_foreign_thread(libs)


@pytest.mark.parametrize("api", ["10", "8.6"])
def test_batches_larger_than_the_buffers_run_in_chunks(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path, api: str
) -> None:
    libs = install_gpu_fakes(api=api)
    batch = batch_of(5)
    scores = run_once(TensorRTRunner(manifest, engine_file, max_batch=2), batch)
    np.testing.assert_allclose(scores, expected_scores(batch), rtol=1e-6)
    shapes = [args[-1] for args in libs.rec.args("set_input_shape" if api == "10" else "set_binding_shape")]
    assert shapes == [(2, *SAMPLE), (2, *SAMPLE), (1, *SAMPLE)]
    assert len(libs.rec.args("stream.synchronize")) == 3


def test_profile_caps_the_buffers(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    libs = install_gpu_fakes(api="10", spec=EngineSpec(profile_max=3))
    run_once(TensorRTRunner(manifest, engine_file, max_batch=8), batch_of(1))
    assert libs.rec.args("pagelocked_empty")[0] == ((3, *SAMPLE), np.dtype(np.float32))


def test_static_batch_engine_needs_no_profile(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    libs = install_gpu_fakes(api="10", spec=EngineSpec(static_batch=2))
    run_once(TensorRTRunner(manifest, engine_file, max_batch=8), batch_of(1))
    assert libs.rec.args("pagelocked_empty")[0] == ((2, *SAMPLE), np.dtype(np.float32))
    assert libs.rec.args("get_tensor_profile_shape") == []


def test_several_callers_share_the_one_inference_thread(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    libs = install_gpu_fakes(api="10")
    batches = [batch_of(n) for n in (1, 2, 3, 4)]
    results: dict[int, np.ndarray] = {}
    with TensorRTRunner(manifest, engine_file) as runner:
        callers = [
            threading.Thread(target=lambda i=i: results.__setitem__(i, runner.infer(batches[i])))
            for i in range(len(batches))
        ]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
    for i, batch in enumerate(batches):
        np.testing.assert_allclose(results[i], expected_scores(batch), rtol=1e-6)
    assert len(libs.rec.args("execute_async_v3")) == 4
    assert_one_foreign_thread(libs)


def test_engine_that_does_not_deserialize_is_a_model_error(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, tmp_path: Path
) -> None:
    libs = install_gpu_fakes(api="10")
    engine = tmp_path / "corrupt.engine"
    engine.write_bytes(CORRUPT_ENGINE)
    runner = TensorRTRunner(manifest, engine)
    with pytest.raises(ModelError, match=r"could not be deserialized.*rebuild the engine"):
        runner.activate()
    assert not runner.is_active
    assert libs.rec.names()[-2:] == ["ctx.pop", "ctx.detach"], "the CUDA context is released"
    assert_one_foreign_thread(libs)


def test_missing_engine_file_is_a_model_error(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, tmp_path: Path
) -> None:
    libs = install_gpu_fakes(api="10")
    with pytest.raises(ModelError, match=r"absent\.engine cannot be read"):
        TensorRTRunner(manifest, tmp_path / "absent.engine").activate()
    assert libs.rec.calls == []


@pytest.mark.parametrize("api", ["10", "8.6"])
def test_engine_for_another_model_is_refused(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path, api: str
) -> None:
    install_gpu_fakes(api=api, spec=EngineSpec(input_name="input_1"))
    with pytest.raises(ModelError, match="does not have the input 'image'"):
        TensorRTRunner(manifest, engine_file).activate()


def test_engine_of_another_input_size_is_refused(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    install_gpu_fakes(api="10", spec=EngineSpec(size=SIZE * 2))
    with pytest.raises(ModelError, match="do not fit"):
        TensorRTRunner(manifest, engine_file).activate()


def test_failed_execution_is_a_model_error(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    install_gpu_fakes(api="10", spec=EngineSpec(execute_ok=False))
    with TensorRTRunner(manifest, engine_file) as runner, pytest.raises(ModelError, match="could not run"):
        runner.infer(batch_of(1))


def test_hung_gpu_is_a_model_error_not_a_hang(
    install_gpu_fakes: InstallFakes,
    manifest: ModelManifest,
    engine_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold = threading.Event()
    install_gpu_fakes(api="10", spec=EngineSpec(hold=hold))
    monkeypatch.setattr(trt_runner, "INFER_TIMEOUT_S", 0.05)
    runner = TensorRTRunner(manifest, engine_file)
    runner.activate()
    try:
        with pytest.raises(ModelError, match="GPU did not answer"):
            runner.infer(batch_of(1))
    finally:
        hold.set()
        runner.deactivate()


def test_no_gpu_is_runner_unavailable(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    libs = install_gpu_fakes(api="10", context_fails=True)
    runner = TensorRTRunner(manifest, engine_file)
    with pytest.raises(RunnerUnavailableError, match="No usable GPU"):
        runner.activate()
    assert "deserialize_cuda_engine" not in libs.rec.names()


def test_infer_after_deactivate_is_refused(
    install_gpu_fakes: InstallFakes, manifest: ModelManifest, engine_file: Path
) -> None:
    install_gpu_fakes(api="10")
    runner = TensorRTRunner(manifest, engine_file)
    with runner:
        pass
    with pytest.raises(RunnerUnavailableError):
        runner.infer(batch_of(1))


@pytest.mark.usefixtures("no_gpu_libs")
def test_activate_without_tensorrt_is_runner_unavailable(manifest: ModelManifest, engine_file: Path) -> None:
    runner = TensorRTRunner(manifest, engine_file)
    with pytest.raises(RunnerUnavailableError, match="not installed on this box") as info:
        runner.activate()
    assert info.value.reason_code == "runner_unavailable"
    assert not runner.is_active


def test_module_imports_without_tensorrt_or_pycuda() -> None:
    code = (
        "import sys\n"
        "for name in ('tensorrt', 'pycuda', 'pycuda.driver'):\n"
        "    sys.modules[name] = None\n"
        "import appliance.inference.trt_runner, appliance.inference.registry\n"
        "print('imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
