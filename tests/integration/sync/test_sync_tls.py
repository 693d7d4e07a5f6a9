"""TLS: the EHR's certificate is trusted through `[sync] ca_file` (sent), and refused without it (parked with
a sentence that names ca_file); a bearer token from `token_file` is what the server sees."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fhir_receiver import running_receiver
from sync_exams import store_exam
from sync_harness import sync_config

from appliance.store import ExamStore
from appliance.sync.worker import SyncWorker

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def self_signed(folder: Path) -> tuple[str, str]:
    cert, key = folder / "ehr.pem", folder / "ehr.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return str(cert), str(key)


def test_the_ehrs_certificate_is_trusted_through_ca_file_only(
        tmp_path: Path, store: ExamStore, make_worker: Callable[..., SyncWorker]) -> None:
    cert, key = self_signed(tmp_path)
    store_exam(store, 61)
    with running_receiver(tls=(cert, key)) as ehr:
        report = make_worker(store, sync_config(None, ehr)).drain()
        assert report.parked == 1
        [item] = store.outbox.parked()
        assert item.last_error and item.last_error.startswith("The EHR's TLS certificate was not accepted")
        assert "check [sync] ca_file" in item.last_error

        store.outbox.requeue(item.id, actor="admin-1", now=item.parked_at or item.created_at)
        token = tmp_path / "token"
        token.write_text("tok-0123456789\n")
        seen: list[str] = []
        original = ehr.handle

        def spy(headers: object, body: bytes) -> tuple[int, dict[str, object]]:
            seen.append(str(headers.get("Authorization")))  # type: ignore[attr-defined]
            return original(headers, body)

        ehr.handle = spy  # type: ignore[method-assign]
        report = make_worker(store, sync_config(None, ehr, ca_file=cert, token_file=str(token))).drain()
        assert (report.sent, report.parked) == (1, 0)
        assert ehr.count("DiagnosticReport") == 1 and seen == ["Bearer tok-0123456789"]
