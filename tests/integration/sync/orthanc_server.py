"""A real Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) started on loopback for one test session: a temp
config with authentication on, the DICOMweb and Modality Worklists plugins, storage in a temp folder."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
USER, PASSWORD = "appliance", "orthanc-test-secret"
AE_TITLE = "ORTHANC"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plugin(name: str) -> Path | None:
    for folder in PLUGIN_DIRS:
        found = sorted(folder.glob(f"{name}*.so*")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def missing() -> str:
    """Why Orthanc cannot run here ("" when it can)."""
    if shutil.which("Orthanc") is None:
        return "Orthanc is not installed (Debian packages orthanc and orthanc-dicomweb; `make test` installs them)"
    for name in ("libOrthancDicomWeb", "libModalityWorklists"):
        if plugin(name) is None:
            return f"Orthanc plugin {name} not found (Debian packages orthanc-dicomweb / orthanc)"
    return ""


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    worklists: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def get(self, path: str) -> Any:
        answer = requests.get(self.url + path, auth=(USER, PASSWORD), timeout=30)
        answer.raise_for_status()
        return answer.json() if "json" in answer.headers.get("Content-Type", "") else answer.content

    def get_bytes(self, path: str) -> bytes:
        answer = requests.get(self.url + path, auth=(USER, PASSWORD), timeout=30)
        answer.raise_for_status()
        return answer.content

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.get("/statistics")
        return stats

    def clear(self) -> None:
        """Delete every patient (and so every study and instance)."""
        for patient in self.get("/patients"):
            requests.delete(f"{self.url}/patients/{patient}", auth=(USER, PASSWORD), timeout=30).raise_for_status()


@contextmanager
def running_orthanc(folder: Path) -> Iterator[Orthanc]:
    """Start Orthanc with its config and data under `folder`; stopped (and waited for) on exit."""
    http_port, dicom_port = free_port(), free_port()
    worklists = folder / "worklists"
    for sub in ("storage", "index", "worklists"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "sync-tests", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port, "DicomPort": dicom_port, "DicomAet": AE_TITLE, "DicomCheckCalledAet": False,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(plugin("libOrthancDicomWeb")), str(plugin("libModalityWorklists"))],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "Worklists": {"Enable": True, "Database": str(worklists)},
        "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True, "DicomCheckModalityHost": False,
        "DicomModalities": {"appliance": ["DRSCREEN", "127.0.0.1", 104]},
        "StorageCompression": False, "SaveJobs": False, "HttpThreadsCount": 8, "HttpTimeout": 30,
        "StableAge": 1, "ConcurrentJobs": 1, "LimitFindResults": 0, "LimitFindInstances": 0,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen(["Orthanc", str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    server = Orthanc(http_port=http_port, dicom_port=dicom_port, worklists=worklists, process=process)
    try:
        _wait_ready(server, folder / "orthanc.log")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(server: Orthanc, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"Orthanc exited at start:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(server.url + "/system", auth=(USER, PASSWORD), timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Orthanc did not start in {timeout_s} s:\n{log.read_text(errors='replace')[-3000:]}")
