"""`appliance sync`: --status [--json] (no credential, parked reasons), --requeue (audited), --once with nothing
configured, --purge honouring retention_days; and the systemd service + timer that run it."""

from __future__ import annotations

import configparser
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sync_fakes import finish

from appliance.cli import main
from appliance.domain import utc_now
from appliance.store import ExamStore

UNITS = Path(__file__).resolve().parents[3] / "systemd"
SECRET = "sekr1t-Pass"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("APPLIANCE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("APPLIANCE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def parked_store(data_dir: Path) -> int:
    with ExamStore.open(data_dir) as store:
        finish(store, 1)
        [item] = store.outbox.claim("dicom", now=utc_now() + timedelta(seconds=1), lease_s=5, owner="w")
        store.outbox.park(item.id, "w", reason="The PACS refused the appliance's credentials (HTTP 401).",
                          now=utc_now())
        return item.id


def test_status_shows_backlog_and_parked_items_without_credentials(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    item = parked_store(data_dir)
    monkeypatch.setenv("APPLIANCE_SYNC_DICOMWEB_URL", f"https://box:{SECRET}@pacs.example/dicom-web")
    monkeypatch.setenv("APPLIANCE_SYNC_PASSWORD", SECRET)
    assert main(["sync", "--status", "--json"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    status = json.loads(out)
    assert status["configured"] is True
    dicom, fhir = status["destinations"]
    assert (dicom["kind"], dicom["target"], dicom["parked"], fhir["pending"]) == (
        "dicom", "https://pacs.example/dicom-web", 1, 1)
    assert status["parked"][0]["item"] == item and "HTTP 401" in status["parked"][0]["reason"]
    assert main(["sync", "--status"]) == 0
    text = capsys.readouterr().out
    assert f"appliance sync --requeue {item}" in text and SECRET not in text


def test_requeue_is_audited_and_an_unknown_item_is_refused(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    item = parked_store(data_dir)
    assert main(["sync", "--requeue", str(item), "--actor", "admin-1"]) == 0
    assert f"Re-queued item {item}" in capsys.readouterr().out
    with ExamStore.open(data_dir) as store:
        assert store.outbox.parked() == []
        [entry] = [e for e in store.audit_entries() if e.action == "sync_requeued"]
        assert entry.actor == "admin-1"
    assert main(["sync", "--requeue", "999"]) == 2
    assert "sync_item_invalid" in capsys.readouterr().err


def test_once_with_nothing_configured_says_so(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--once"]) == 2
    assert "Nothing to send to" in capsys.readouterr().err


def test_purge_keeps_photos_while_retention_is_zero(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    parked_store(data_dir)
    assert main(["sync", "--purge"]) == 0
    assert "photos are kept" in capsys.readouterr().out
    monkeypatch.setenv("APPLIANCE_SYNC_RETENTION_DAYS", "30")
    assert main(["sync", "--purge"]) == 0
    assert "Purged 0 photo files" in capsys.readouterr().out  # nothing was confirmed by the archive


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_the_sync_timer_runs_one_pass_then_the_purge() -> None:
    service = read_unit("appliance-sync.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"].endswith("appliance sync --once -v")
    assert service["ExecStartPost"].endswith("appliance sync --purge")
    timer = read_unit("appliance-sync.timer")
    assert timer["Timer"]["OnUnitInactiveSec"] and timer["Install"]["WantedBy"] == "timers.target"


def test_healthz_sync_section_holds_counts_and_ids_only(data_dir: Path) -> None:
    from appliance.config import SyncConfig
    from appliance.services.status import sync_status

    item = parked_store(data_dir)
    config = SyncConfig(dicomweb_url=f"https://box:{SECRET}@pacs.example/dicom-web", password=SECRET)
    with ExamStore.open(data_dir) as store:
        public = sync_status(store, config, with_reasons=False)
        signed_in = sync_status(store, config, with_reasons=True)
    assert public["parked"] == [{"item": item, "kind": "dicom", "exam_id": f"{1:032x}",
                                 "parked_at": public["parked"][0]["parked_at"]}]
    assert "reason" in signed_in["parked"][0]
    assert SECRET not in json.dumps(public) and SECRET not in json.dumps(signed_in)
