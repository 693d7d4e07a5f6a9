"""The real thing once: `appliance bundle keygen/build/verify` through the CLI build a bundle of this
checkout's wheel and a small real ONNX model; installed on a box whose store was left by firmware with store
schema 3, the update migrates a copy of the store first, keeps a snapshot, switches, and the firmware then
serves from its slot (its models found from the slot, not the source tree) and passes the real health check
(model hash, the health photos' outcome, store, kiosk): committed, the old exam still reads back. Before
that, the same bundle fails its health check once (the config names a model it lacks) and the rollback puts
the store back at schema 3 for the old firmware."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_box import BOARD, REPO, Release, new_box
from model_fakes import manifest_fields, tiny_onnx, to_toml

from appliance.fleet import migration
from appliance.store import ExamStore
from appliance.store.schema import SCHEMA_VERSION
from tests.old_stores import EXAM_ID, make_old_store


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_the_real_firmware_bundled_installed_in_a_slot_migrates_the_store_and_passes_its_health_check(
        tmp_path: Path, release: Release) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    made = cli("bundle", "keygen", str(keys / "release.pem"))
    assert made.returncode == 0 and "key id" in made.stdout, made.stderr
    models = tmp_path / "models"
    models.mkdir()
    model = tiny_onnx(size=32)
    (models / "dr-tiny.onnx").write_bytes(model)
    (models / "dr-tiny.toml").write_text(to_toml(manifest_fields("dr-tiny.onnx", hashlib.sha256(model).hexdigest(),
                                                                  size=32)))
    built = cli("bundle", "build", "--key", str(keys / "release.pem"), "--version", "1.0.0", "--compatible",
                f"{BOARD}/*", "--model", str(models / "dr-tiny.toml"), "--out", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    bundle = Path(built.stdout.strip())
    verified = cli("bundle", "verify", str(bundle), "--keyring", str(keys))
    assert verified.returncode == 0 and "members verified" in verified.stdout, verified.stderr
    manifest = json.loads(subprocess.run(["tar", "-xOf", str(bundle), "bundle.json"], capture_output=True,
                                         check=True).stdout)
    assert manifest["app"].endswith(".whl") and manifest["store_schema"] == SCHEMA_VERSION
    assert [p["file"] for p in manifest["health"]["photos"]] == ["referable_01_right.jpg", "healthy_01_right.jpg"]

    keyring = tmp_path / "keyring"
    keyring.mkdir()
    (keyring / "release.pub").write_bytes((keys / "release.pub").read_bytes())
    (keyring / "old.pub").write_bytes((release.keyring / "release.pub").read_bytes())
    box = new_box(tmp_path / "box", keyring, health_timeout_s=240.0)
    (box.data_dir / "exams.sqlite3").unlink()
    make_old_store(box.data_dir, version=3)
    try:
        old = release.fake_bundle("0.9.0", store_schema=3)
        assert box.install(old).returncode == 0
        # The box's config names a model the bundle does not ship: the health check fails, the update is
        # rolled back, and the store (migrated by the new firmware at its start) is put back at schema 3.
        failed = box.install(bundle)
        # The server exits at its start (the model is missing): whichever comes first, the health check's
        # verdict or the boot counter's crash loop, sends the box back.
        assert failed.returncode == 1, failed.stderr
        assert "dr-reference.toml is missing" in failed.stdout or "crash loop" in failed.stdout, failed.stdout
        assert "the store is back at schema 3" in failed.stderr
        assert migration.schema_of(box.data_dir / "exams.sqlite3") == 3
        assert box.kiosk_version() == "0.9.0"
        with box.config_path.open("a") as config:
            config.write('[model]\nmanifest = "dr-tiny.toml"\n')
        done = box.install(bundle)
        assert done.returncode == 0, done.stdout + done.stderr
        status = box.status()
        assert status["running_version"] == "1.0.0" and status["committed"], status["summary"]
        steps = {s["step"]: s["message"] for s in status["last_update"]["history"]}
        assert "integrity ok" in steps["migration_check"]
        assert "TensorRT is not on this box" in steps["engine"]  # said so: no engine to build here
        health = json.loads(box.cli("update", "health", "--json").stdout)
        assert health["ok"] and health["model"]["name"] == "dr-test" and health["photo"]["expected_from"] == "bundle"
        assert health["kiosk"]["ok"] and health["store"]["writable"]
        # The engine builder ships beside the firmware: build-engine in the slot gets as far as TensorRT.
        slot = box.slots_root / status["active"]
        assert (slot / "app" / "build" / "engine.py").is_file() and not list((slot / "app").glob("*.whl"))
        engine = box.cli("build-engine", APPLIANCE_NO_SLOT="")
        assert engine.returncode != 0 and "engine_builder_missing" not in engine.stderr, engine.stderr
        # The `appliance` command of the firmware the box was installed with hands over to the active slot's.
        handed_over = box.cli("health", "--json", APPLIANCE_NO_SLOT="")
        assert json.loads(handed_over.stdout)["photo"]["expected_from"] == "bundle", handed_over.stderr
        assert migration.schema_of(migration.snapshot_path(box.data_dir, "1.0.0")) == 3
        with ExamStore.open(box.data_dir) as store:
            assert store.pragmas()["user_version"] == SCHEMA_VERSION
            assert store.get_exam(EXAM_ID).patient.patient_id == "P-old"
        with sqlite3.connect(box.data_dir / "exams.sqlite3") as conn:
            kinds = sorted(row[0] for row in conn.execute("SELECT kind FROM outbox WHERE exam_id = ?", (EXAM_ID,)))
        assert kinds == ["dicom", "fhir"]
    finally:
        box.stop()
