"""Assemble a running appliance from its config: store, model, camera, the exam pipeline and the services."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from appliance.config import Config
from appliance.devices import Camera, close_device
from appliance.devices.registry import open_camera
from appliance.fleet.slots import slots_of
from appliance.inference.heatmap import HeatmapModel
from appliance.inference.manifest import load_manifest
from appliance.inference.model import Model
from appliance.inference.registry import select_runner
from appliance.observability.metrics import BoxMetrics
from appliance.observability.update_state import slot_update_state
from appliance.operating_point import effective_operating_point
from appliance.pipeline import ScreeningPipeline
from appliance.services import Administration, BoxStatus, ExamRecords, Screening
from appliance.store import ExamStore
from appliance.store.at_rest import check_data_folder

log = logging.getLogger(__name__)


@dataclass
class Appliance:
    """A running box: its store, its model and camera, and the narrow services the kiosk is given."""

    config: Config
    store: ExamStore
    model: Model
    camera: Camera
    pipeline: ScreeningPipeline
    screening: Screening
    exams: ExamRecords
    status: BoxStatus
    admin: Administration
    #: The box's own Prometheus registry: the pipeline's counts and stage times, its status at each scrape.
    metrics: BoxMetrics

    def close(self) -> None:
        close_device(self.camera)
        self.metrics.close()
        self.model.close()
        self.store.close()

    def __enter__(self) -> Appliance:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_appliance(config: Config, *, actor: str = "system") -> Appliance:
    """Open the store, load and verify the model, activate its runner.

    Raises:
        ManifestError / ModelIntegrityError: the model is missing or does not match its manifest.
        RunnerUnavailableError: the configured runner cannot run here.
        StorageError: the data folder cannot be used.
        ConfigError: `require_encrypted_data` is on and the data folder is not on an encrypted volume.
    """
    manifest = load_manifest(config.manifest_path)
    at_rest = check_data_folder(config.data_path, required=config.require_encrypted_data)
    store = ExamStore.open(config.data_path)
    try:
        engine_dir = Path(config.model.engine_dir)
        if not engine_dir.is_absolute():
            engine_dir = config.data_path / engine_dir
        runner = select_runner(manifest, preference=config.model.runner, engine_dir=engine_dir,
                               intra_op_threads=config.model.intra_op_threads)
        runner.activate()
    except BaseException:
        store.close()
        raise
    info = manifest.info(runner.name)
    try:
        point = effective_operating_point(store.site_operating_point(), manifest)
        store.record_audit("model_loaded", actor=actor, detail={
            "name": info.name, "version": info.version, "sha256": info.sha256, "runner": info.runner,
            "operating_point": {"source": point.source.value, "threshold": point.threshold, "note": point.note},
        })
    except BaseException:
        runner.deactivate()
        store.close()
        raise
    log.info("model %s %s (sha256 %s…) on %s", info.name, info.version, info.sha256[:12], info.runner)
    if point.note:
        log.warning("operating point: %s", point.description)
    else:
        log.info("operating point: %s", point.description)
    heatmap = HeatmapModel(manifest, threads=config.model.intra_op_threads) if manifest.heatmap else None
    model = Model(manifest=manifest, runner=runner, heatmap=heatmap)
    try:
        camera = open_camera(config)
    except BaseException:
        model.close()
        store.close()
        raise
    metrics = BoxMetrics()
    pipeline = ScreeningPipeline(config=config, model=model, store=store, observer=metrics)
    status = BoxStatus(store=store, model=model, camera=camera, sync_config=config.sync, at_rest=at_rest,
                       at_rest_required=config.require_encrypted_data, drift_config=config.drift)
    metrics.watch(status, slot_update_state(slots_of(config).state_folder))  # where the state file is
    return Appliance(config=config, store=store, model=model, camera=camera, pipeline=pipeline,
                     screening=Screening(pipeline=pipeline, camera=camera),
                     exams=ExamRecords(store=store, model=model, limits=config.limits),
                     status=status, admin=Administration(config=config, store=store, model=model), metrics=metrics)
