"""`appliance serve` killed with SIGKILL at random moments of capture, result and sync, restarted each time on
the same data folder: no exam whose result was shown is missing, no half exam, the database is intact,
every image file is there with its hash (tests/system/crash_loop.py says what is checked).

CRASHLOOP_ITERATIONS sets the kills: CI runs 15 (about a minute here); `make crashloop` runs 100.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.sync.fhir_receiver import FhirReceiver, running_receiver
from tests.system.crash_loop import MOMENTS, Ledger, crash_loop, store_problems

ITERATIONS = int(os.environ.get("CRASHLOOP_ITERATIONS", "15"))
SEED = int(os.environ.get("CRASHLOOP_SEED", "20261129"))


@pytest.fixture
def receiver() -> Iterator[FhirReceiver]:
    with running_receiver() as ehr:
        yield ehr


@pytest.mark.slow
def test_the_box_killed_again_and_again_keeps_every_shown_result_and_no_half_exam(
        tmp_path: Path, receiver: FhirReceiver) -> None:
    report = crash_loop(tmp_path / "var", receiver, ITERATIONS, SEED, progress=print)
    print(f"{report.iterations} kills {report.kills}; {report.shown} results shown; ready in "
          f"{min(report.ready_s):.2f}-{max(report.ready_s):.2f} s")
    assert report.problems == []
    assert report.iterations == ITERATIONS
    # The kills did land where they were meant to: each moment was reached, and results were shown.
    assert report.moments_missed <= ITERATIONS // 10, report
    if 3 * len(MOMENTS) <= ITERATIONS:
        assert all(report.kills[m] > 0 for m in MOMENTS), report.kills
        assert report.shown > 0 and receiver.posts > 0, report


def test_the_checks_see_a_lost_result_a_lost_photo_and_a_damaged_file(tmp_path: Path,
                                                                      receiver: FhirReceiver) -> None:
    report = crash_loop(tmp_path / "var", receiver, 1, SEED)  # one kill: a store with photos in it
    assert report.problems == []
    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "var", damaged)
    victim = next((damaged / "images").rglob("*.jpg"))
    victim.write_bytes(victim.read_bytes()[:-10])
    ledger = Ledger(shown={"f" * 32: "REFER"}, accepted={"e" * 32: {"0" * 64}})
    found = store_problems(damaged, ledger)
    assert any("does not match its hash" in p for p in found), found
    assert any("was shown with its result but is missing" in p for p in found), found
    assert any("with accepted photos is missing" in p for p in found), found
