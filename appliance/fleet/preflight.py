"""Steps between writing the slot and switching to it: the TensorRT engine for the new model, and the store
migration tried on a copy of the store (with a snapshot kept for a rollback)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from appliance.fleet import migration
from appliance.fleet.errors import UpdateError
from appliance.fleet.runner import SlotRunner, last_line

ENGINE_TIMEOUT_S = 3600.0
MIGRATION_TIMEOUT_S = 600.0


def has_tensorrt() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def build_engine(runner: SlotRunner, slot: str) -> str:
    """Build the new model's TensorRT engine with the slot's own `appliance build-engine` (which checks it
    against onnxruntime); what was done, in words.

    Raises:
        UpdateError: the build failed (update_engine_failed).
    """
    done = runner.run(slot, ["build-engine"], timeout=ENGINE_TIMEOUT_S)
    if done.returncode != 0:
        raise UpdateError(f"The update was not applied: the TensorRT engine could not be built "
                          f"({last_line(done.stderr)}).", reason_code="update_engine_failed")
    return "engine built and checked against onnxruntime"


def try_migration(runner: SlotRunner, slot: str, data_dir: Path, new_schema: int, version: str) -> str:
    """Let the slot's firmware migrate a copy of the store, check the copy, then keep a snapshot of the store
    (for a rollback); what was done, in words.

    Raises:
        UpdateError: the copy could not be made, the migration failed, or the copy is not sound
            (update_migration_failed); nothing was switched.
    """
    folder = migration.check_folder(data_dir)
    copy = migration.copy_store(data_dir, folder / "exams.sqlite3")
    done = runner.run(slot, ["health", "--json", "--store-only"], timeout=MIGRATION_TIMEOUT_S,
                      env={"APPLIANCE_DATA_DIR": str(folder)})
    verdict = migration.integrity(copy) if done.returncode == 0 else last_line(done.stderr or done.stdout)
    reached = migration.schema_of(copy)
    if done.returncode != 0 or verdict != "ok" or reached != new_schema:
        raise UpdateError(f"The update was not applied: the store migration failed on a copy of the store "
                          f"({verdict}; schema {reached}).", reason_code="update_migration_failed")
    migration.copy_store(data_dir, migration.snapshot_path(data_dir, version))
    return f"the copy migrated to schema {new_schema}, integrity ok; snapshot kept"
