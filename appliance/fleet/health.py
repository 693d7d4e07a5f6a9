"""`appliance health`: is the firmware that runs this box fit to screen? An update commits only when it is.

Four checks, each with its own `ok`:
- model: the configured model loads on its runner and its file matches the manifest's sha256;
- photo: the health photos (see photos.py) screen to their known outcome with that model;
- store: the data folder and the exam store take a write;
- kiosk: the running server answers `GET /healthz` with ok.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import appliance
from appliance.config import Config
from appliance.errors import ApplianceError
from appliance.fleet.launch import this_firmware_slot
from appliance.fleet.manifest import MANIFEST_NAME, BundleManifest, ExpectedPhoto
from appliance.inference.model import Model

#: Seconds to wait for the kiosk's answer.
KIOSK_TIMEOUT_S = 5.0


@dataclass
class HealthReport:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check["ok"] for check in self.checks.values())

    def failures(self) -> list[str]:
        return [f"{name}: {check.get('problem', 'failed')}" for name, check in self.checks.items() if not check["ok"]]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "software_version": appliance.__version__, **self.checks}


def check_health(config: Config, *, kiosk: bool = True) -> HealthReport:
    """Run every check (the kiosk's unless `kiosk` is False); never raises for a failed check."""
    report = HealthReport()
    model = None
    try:
        model = _load_model(config)
        info = model.info
        report.checks["model"] = {"ok": True, "name": info.name, "version": info.version, "sha256": info.sha256,
                                  "runner": info.runner}
        report.checks["photo"] = _photo_check(model)
    except ApplianceError as exc:
        report.checks["model"] = {"ok": False, "problem": exc.message, "reason_code": exc.reason_code}
        report.checks["photo"] = {"ok": False, "problem": "not screened: the model did not load"}
    finally:
        if model is not None:
            model.close()
    report.checks["store"] = store_check(config)
    if kiosk:
        report.checks["kiosk"] = _kiosk_check(config)
    return report


def _load_model(config: Config) -> Model:
    from appliance.commands.build_engine import engine_dir
    from appliance.inference.manifest import load_manifest
    from appliance.inference.registry import select_runner

    manifest = load_manifest(config.manifest_path)  # hashes the model file
    runner = select_runner(manifest, preference=config.model.runner, engine_dir=engine_dir(config, None),
                           intra_op_threads=config.model.intra_op_threads)
    runner.activate()
    return Model(manifest=manifest, runner=runner)


def _photo_check(model: Model) -> dict[str, Any]:
    from appliance.fleet import photos

    try:
        expected, source = expected_photos(model.info.sha256)
    except ApplianceError as exc:
        return {"ok": False, "problem": exc.message}
    if not expected:
        return {"ok": False, "problem": f"no known outcome of the health photos for model sha256 "
                                        f"{model.info.sha256[:12]}… (neither SAMPLES.toml nor the slot's bundle)"}
    try:
        found = photos.measure(model, [e.file for e in expected])
    except (OSError, ApplianceError) as exc:
        return {"ok": False, "problem": f"the health photos could not be screened: {exc}"}
    problems = [p for e, f in zip(expected, found, strict=True) for p in photos.differences(e, f)]
    return {"ok": not problems, "expected_from": source, "photos": [vars(f) for f in found],
            **({"problem": "; ".join(problems)} if problems else {})}


def expected_photos(model_sha256: str) -> tuple[list[ExpectedPhoto], str]:
    """What the health photos should screen to with this model, and where that is recorded."""
    from appliance.fleet import photos

    bundle = running_bundle()
    if bundle is not None and bundle.health_model_sha256 == model_sha256 and bundle.health_photos:
        return list(bundle.health_photos), "bundle"
    samples = photos.Samples.load()
    if samples.model_sha256 == model_sha256:
        return [samples.photos[name] for name in photos.HEALTH_PHOTOS if name in samples.photos], "SAMPLES.toml"
    return [], ""


def running_bundle() -> BundleManifest | None:
    """The manifest of the slot this firmware was installed in (verified at install), or None (a checkout)."""
    slot = this_firmware_slot()
    if slot is None:
        return None
    try:
        return BundleManifest.from_bytes((slot / MANIFEST_NAME).read_bytes())
    except (OSError, ApplianceError):
        return None


def store_check(config: Config) -> dict[str, Any]:
    from appliance.store import ExamStore
    from appliance.store.files import atomic_write

    try:
        with ExamStore.open(config.data_path) as store:
            atomic_write(store.data_dir / ".health-probe", b"ok")
            store.write(lambda conn: conn.execute("SELECT 1").fetchone())
    except ApplianceError as exc:
        return {"ok": False, "writable": False, "problem": exc.message}
    except OSError as exc:
        return {"ok": False, "writable": False, "problem": f"the data folder cannot be written ({exc.strerror})"}
    return {"ok": True, "writable": True}


def _kiosk_check(config: Config) -> dict[str, Any]:
    # bandit B104 is a false alarm: this compares with the every-interface addresses (to ask loopback); binds nothing
    host = config.server.host if config.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # nosec B104
    url = f"http://{'[' + host + ']' if ':' in host else host}:{config.server.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=KIOSK_TIMEOUT_S) as answer:  # nosec B310 # http:// to this box's own kiosk
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return {"ok": False, "url": url, "problem": f"the kiosk answered {exc.code}"}
    except (OSError, ValueError) as exc:
        return {"ok": False, "url": url, "problem": f"the kiosk does not answer ({exc})"}
    return {"ok": bool(body.get("ok")), "url": url, "software_version": body.get("software_version"),
            **({} if body.get("ok") else {"problem": "the kiosk says it is not ok"})}
