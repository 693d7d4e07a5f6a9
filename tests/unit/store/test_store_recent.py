"""The drift watch's window read from a real store: the newest gate verdicts (first reasons, of exams opened
since a time) and the newest scores of one model; and the watch's report over them."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from store_fixtures import MODEL, T0, build_exam, save_exam

from appliance.config import DriftConfig
from appliance.drift import DriftState, watch_drift
from appliance.inference.manifest import load_manifest
from appliance.store import ExamStore, recent

MANIFEST = Path(__file__).resolve().parents[3] / "models" / "dr-reference.toml"


def fill(store: ExamStore) -> None:
    """Three exams, an hour apart: each a passed right photo (0.1) and a left one, the middle one blurred."""
    for i, left in enumerate((0.8, None, 0.6)):
        save_exam(store, build_exam(f"exam-{i}", seed=i, minutes=60 * i, left_score=left), actor="tech-1")


def test_gate_verdicts_newest_first_with_their_first_reason(store: ExamStore) -> None:
    fill(store)
    verdicts = store.read(lambda conn: recent.gate_verdicts(conn, limit=10, since=None))
    assert verdicts == [(True, None), (True, None), (False, "blurred"), (True, None), (True, None), (True, None)]
    assert store.read(lambda conn: recent.gate_verdicts(conn, limit=2, since=None)) == [(True, None)] * 2


def test_gate_verdicts_since_a_time_count_exams_opened_then(store: ExamStore) -> None:
    fill(store)
    since = T0 + timedelta(minutes=30)
    assert len(store.read(lambda conn: recent.gate_verdicts(conn, limit=10, since=since))) == 4


def test_model_scores_of_one_model_only_newest_first(store: ExamStore) -> None:
    fill(store)
    assert store.read(lambda conn: recent.model_scores(conn, MODEL.sha256, limit=10, since=None)) == [
        0.6, 0.1, 0.1, 0.8, 0.1]
    assert store.read(lambda conn: recent.model_scores(conn, "cd" * 32, limit=10, since=None)) == []
    since = T0 + timedelta(minutes=90)
    assert store.read(lambda conn: recent.model_scores(conn, MODEL.sha256, limit=10, since=since)) == [0.6, 0.1]


def test_the_watch_reads_its_window_from_the_store(store: ExamStore) -> None:
    fill(store)
    manifest = dataclasses.replace(load_manifest(MANIFEST, verify=False), sha256=MODEL.sha256)
    config = DriftConfig(min_photos=5, min_scores=50, window_days=1)
    report = watch_drift(store, manifest, config, now=T0 + timedelta(hours=3))
    assert (report.rejects.photos, report.rejects.rejected, report.rejects.state) == (6, 1, DriftState.OK)
    assert report.rejects.by_reason == {"blurred": 1 / 6}
    assert (report.scores.scores, report.scores.state) == (5, DriftState.TOO_FEW)
    assert report.state is DriftState.TOO_FEW
    later = watch_drift(store, manifest, config, now=T0 + timedelta(days=2))  # all older than the window
    assert (later.rejects.photos, later.scores.scores) == (0, 0)
