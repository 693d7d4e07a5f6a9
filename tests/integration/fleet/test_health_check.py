"""`appliance health` on this checkout: the shipped model matches its hash and screens the health photos as
SAMPLES.toml says, the store takes a write, and the kiosk's answer counts (a real HTTP server standing in for
it: 200 ok, then 503); a model whose outcome on the health photos nobody recorded is not healthy."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from model_fakes import manifest_fields, tiny_onnx, to_toml

from appliance.config import Config
from appliance.fleet.health import check_health


@pytest.fixture
def kiosk() -> Iterator[dict[str, int]]:
    """A /healthz answering with the status in `answer["status"]`."""
    answer = {"status": 200}

    class Healthz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer["status"])
            self.end_headers()
            self.wfile.write(json.dumps({"ok": answer["status"] == 200}).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["port"] = server.server_address[1]
    yield answer
    server.shutdown()
    server.server_close()


def config_for(tmp_path: Path, port: int, manifest: str | None = None) -> Config:
    config = Config(data_dir=str(tmp_path / "data"))
    config.server.port = port
    config.model.runner = "onnxruntime"
    config.model.intra_op_threads = 1
    if manifest is not None:
        config.model.manifest = manifest
    return config


def test_the_shipped_firmware_is_healthy_and_the_kiosk_answer_counts(tmp_path: Path, kiosk: dict[str, int]) -> None:
    config = config_for(tmp_path, kiosk["port"])
    report = check_health(config)
    assert report.ok, report.failures()
    assert report.checks["photo"]["expected_from"] == "SAMPLES.toml"
    assert [p["over_threshold"] for p in report.checks["photo"]["photos"]] == [True, False]
    kiosk["status"] = 503
    report = check_health(config)
    assert not report.ok and report.failures() == ["kiosk: the kiosk answered 503"]


def test_a_model_without_a_recorded_outcome_is_not_healthy(tmp_path: Path, kiosk: dict[str, int]) -> None:
    model = tiny_onnx()
    (tmp_path / "m.onnx").write_bytes(model)
    (tmp_path / "m.toml").write_text(to_toml(manifest_fields("m.onnx", hashlib.sha256(model).hexdigest())))
    report = check_health(config_for(tmp_path, kiosk["port"], str(tmp_path / "m.toml")))
    assert report.checks["model"]["ok"] and not report.checks["photo"]["ok"]
    assert "no known outcome of the health photos" in report.checks["photo"]["problem"]
