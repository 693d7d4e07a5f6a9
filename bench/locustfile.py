"""Locust users for bench/load.py: signed-in kiosks polling the box's status and worklist, as the technician's
pages and a wall display do, while bench/load.py runs exams. Not meant to be run alone: bench/load.py signs
in one technician per user and passes the sign-in cookies in the file named by BENCH_LOAD_SESSIONS."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from locust import HttpUser, between, task

_SESSIONS: list[dict[str, str]] = json.loads(Path(os.environ["BENCH_LOAD_SESSIONS"]).read_text())
_NEXT = itertools.count()


class Poller(HttpUser):
    """One signed-in kiosk: the health answer and the status page, today's worklist and the open exams."""

    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        for name, value in _SESSIONS[next(_NEXT) % len(_SESSIONS)].items():
            self.client.cookies.set(name, value)

    @task(3)
    def health(self) -> None:
        self.client.get("/healthz")

    @task(1)
    def status_page(self) -> None:
        self.client.get("/status")

    @task(3)
    def worklist_today(self) -> None:
        self.client.get("/api/worklist", name="/api/worklist?scope=today")

    @task(1)
    def worklist_open(self) -> None:
        self.client.get("/api/worklist?scope=open", name="/api/worklist?scope=open")
