"""Helpers for whole-box tests: run the CLI, start the real server, speak multipart HTTP."""

from __future__ import annotations

import http.cookiejar
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def box_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test box: its own data folder, onnxruntime, and the demo users (demo-tech 1234,
    demo-admin 9876) so that a test can sign in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_DATA_DIR"] = str(data_dir)
    env["APPLIANCE_MODEL_RUNNER"] = "onnxruntime"
    env["APPLIANCE_AUTH_DEMO_USERS"] = "1"
    env.update(extra)
    return env


def run_cli(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def multipart(fields: dict[str, str] | None, files: Sequence[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(url: str, *, fields: dict[str, str] | None = None, files: Sequence[tuple[str, str, bytes]] = (),
            opener: urllib.request.OpenerDirector | None = None, headers: dict[str, str] | None = None,
            json_body: Any = None, method: str | None = None) -> Response:
    """GET, or POST multipart/form-data when fields or files are given, or JSON when `json_body` is."""
    data = None
    headers = dict(headers or {})
    if fields is not None or files:
        data, headers["Content-Type"] = multipart(fields, files)
    elif json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if data else "GET"))
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=60) as resp:
            return Response(resp.status, resp.read(), resp.headers.get("Content-Type", ""), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return Response(err.code, err.read(), err.headers.get("Content-Type", ""), dict(err.headers))


class Kiosk:
    """A signed-in client of a running box, as the pages are: the session cookie, same-origin `Origin` and the
    CSRF token on every state-changing request."""

    def __init__(self, base: str, user: str = "demo-tech", pin: str = "1234") -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        pre = self.get("/api/session").json()["csrf_token"]
        signed = self._send("POST", "/api/session", pre, json_body={"user_id": user, "pin": pin})
        if signed.status != 200:
            raise AssertionError(f"sign-in as {user} failed: {signed.status} {signed.body!r}")
        self.csrf: str = signed.json()["csrf_token"]

    def get(self, path: str) -> Response:
        return request(self.base + path, opener=self.opener)

    def post(self, path: str, *, fields: dict[str, str] | None = None, files: Sequence[tuple[str, str, bytes]] = (),
             json_body: Any = None) -> Response:
        return self._send("POST", path, self.csrf, fields=fields, files=files, json_body=json_body)

    def _send(self, method: str, path: str, csrf: str, **body: Any) -> Response:
        headers = {"Origin": self.base, "X-CSRF-Token": csrf}
        return request(self.base + path, opener=self.opener, headers=headers, method=method, **body)


@contextmanager
def running_server(env: dict[str, str], port: int) -> Iterator[str]:
    """Start `appliance serve` as a real process; yield its base URL once it answers."""
    log = Path(env["APPLIANCE_DATA_DIR"]).parent / f"server-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"server exited early:\n{log.read_text()}")
                try:
                    if request(base + "/healthz").status in (200, 503):  # answering; 503 says what is unwell
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"server did not answer in 60 s:\n{log.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def store_rows(data_dir: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    """Read the box's SQLite store directly, as an auditor would."""
    db = sqlite3.connect(f"file:{data_dir / 'exams.sqlite3'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()
