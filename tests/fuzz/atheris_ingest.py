"""Coverage-guided fuzzing (atheris, libFuzzer) of image ingest and the quality gate: decode_image, then assess
on whatever decodes. Any exception but an ImageError is a finding (libFuzzer stops and writes the input as
crash-*); so is an input slower than -timeout seconds or a process over -rss_limit_mb.

Run by `make fuzz` where atheris installs (x86-64 Linux wheels for CPython 3.11 at the time of writing):

    python -m tests.fuzz.atheris_ingest -max_total_time=120 -timeout=30 -rss_limit_mb=3072 CORPUS_DIR [SEEDS_DIR]

The shipped camera JPEGs (appliance/devices/samples) are good seeds.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["appliance"]):
    from appliance.config import LimitsConfig, QualityConfig
    from appliance.errors import ImageError
    from appliance.imaging import decode_image
    from appliance.quality import assess

#: The box's limits, but small images reach the decoder and the gate too.
LIMITS = LimitsConfig(min_image_side=8)
GATE = QualityConfig()


def one_input(data: bytes) -> None:
    try:
        image = decode_image(data, LIMITS)
    except ImageError as exc:
        if not (exc.reason_code and exc.message):
            raise AssertionError(f"an ImageError without a reason or a sentence: {exc!r}") from exc
        return
    report = assess(image, GATE)
    if report.passed == bool(report.reason_codes):
        raise AssertionError(f"a report that passed with reasons, or failed without: {report!r}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
