"""Shared by the fuzz tests: how many examples a run tries, and a per-example hang guard.

`FUZZ_SCALE` multiplies every test's example count (CI: 1; `make fuzz` sets 20); `FUZZ_RANDOM=1` draws new
examples on each run (CI is derandomized, so a red run reproduces). Hypothesis keeps no example database
here: a failure prints its falsifying example, which is the reproduction.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import HealthCheck, settings

from appliance.domain import QualityReport
from appliance.quality import REASON_MESSAGES

#: Longer than any honest decode + gate on this 2-core box (a 50 MP photo takes ~2 s), short enough to fail fast.
EXAMPLE_TIMEOUT_S = 30.0


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings for `examples` examples (times FUZZ_SCALE): no deadline (the hang guard is the limit,
    a shared CI core makes timings noisy), no database, derandomized unless FUZZ_RANDOM=1."""
    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    return settings(max_examples=max(1, round(examples * scale)), deadline=None, database=None,
                    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@contextmanager
def hang_guard(seconds: float = EXAMPLE_TIMEOUT_S) -> Iterator[None]:
    """End the whole test process, with every thread's traceback on stderr, if the block runs longer than
    `seconds`. faulthandler's watchdog thread fires even while the main thread is stuck inside C code (a
    decoder), where a signal or a timeout exception would wait for the C call to return."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def check_report(report: QualityReport) -> None:
    """What any gate report must be, whatever the input: known reason codes only, passed exactly when
    there is none, and every metric a finite float."""
    assert isinstance(report, QualityReport)
    assert set(report.reason_codes) <= set(REASON_MESSAGES)
    assert report.passed == (not report.reason_codes)
    assert all(isinstance(v, float) and np.isfinite(v) for v in report.metrics.values()), report.metrics
