"""A short run of the load test (bench/load.py; `make load` runs the full one): exams go through while locust
pollers read the status and the worklist, and nothing fails. Figures are printed, never asserted."""

from __future__ import annotations

import argparse

import pytest

from bench.load import render, run


@pytest.mark.slow
def test_exams_and_pollers_at_once_without_an_error() -> None:
    figures = run(argparse.Namespace(users=4, duration=8, exams=2, size="512px"))
    print(render(figures))
    assert figures["exam_errors"] == [] and figures["poll_failures"] == 0, figures
    assert figures["poll_requests"] > 0 and figures["under_load"]["exams"] >= 2
    assert figures["locust_exit"] == 0, figures["locust_tail"]
