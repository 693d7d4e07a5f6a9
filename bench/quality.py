"""How long the quality gate takes per photo, against decoding the JPEG it came in.

Prints, at the development set's size (512 px) and at a fundus camera's full resolution (the same
photos upscaled to 3000x2000 and re-encoded as JPEG quality 90), the median and 95th percentile
per photo of decoding (appliance.imaging.decode_image) and of the gate's checks
(appliance.quality.assess), and the checks' share of the total. Target: checks cost less than
decoding. Figures only, never asserted (timings depend on the machine and its load).

    .venv/bin/python bench/quality.py [--images N] [--repeats R] [--data DIR]

Photos: the development set's labelled natural-colour photos when found (FUNDUS_DATA_DIR or
../shared/data/fundus), else the IDRiD samples shipped with the simulated camera.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from appliance.config import LimitsConfig, QualityConfig
from appliance.evaluation.dataset import default_data_dir
from appliance.imaging import decode_image
from appliance.quality import assess

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "appliance" / "devices" / "samples"
FULL_SIZE = (3000, 2000)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def photos(data: Path, count: int) -> list[Path]:
    images = sorted((data / "images").glob("eyepacs_nat_*.jpg")) if (data / "labels.csv").is_file() else []
    chosen = images[:: max(1, len(images) // count)][:count] if images else sorted(SAMPLES.glob("*.jpg"))
    return chosen[:count]


def upscaled_jpeg(data: bytes, limits: LimitsConfig) -> bytes:
    image = decode_image(data, limits)
    big = cv2.resize(image, FULL_SIZE, interpolation=cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(encoded.tobytes())


def timed(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` runs, in ms: the least disturbed by other work on the machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def bench(files: list[bytes], repeats: int, limits: LimitsConfig, thresholds: QualityConfig) -> tuple[list[float], ...]:
    decode_ms, check_ms = [], []
    for data in files:
        image = decode_image(data, limits)
        decode_ms.append(timed(functools.partial(decode_image, data, limits), repeats))
        check_ms.append(timed(functools.partial(assess, image, thresholds), repeats))
    return decode_ms, check_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=default_data_dir())
    args = parser.parse_args()
    limits, thresholds = LimitsConfig(), QualityConfig()
    cv2.setNumThreads(1)  # one core, as one capture is judged while the box does other work
    paths = photos(args.data, args.images)
    small = [p.read_bytes() for p in paths]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs (load average {load:.1f} at the start), "
          f"OpenCV {cv2.__version__}, 1 OpenCV thread; {len(small)} photos from {paths[0].parent}; "
          f"best of {args.repeats} runs per photo")
    for label, files in (("dev-set size (<=512 px)", small),
                         (f"full resolution ({FULL_SIZE[0]}x{FULL_SIZE[1]} JPEG q90)",
                          [upscaled_jpeg(d, limits) for d in small])):
        decode_ms, check_ms = bench(files, args.repeats, limits, thresholds)
        d, c = np.asarray(decode_ms), np.asarray(check_ms)
        share = c.sum() / (c.sum() + d.sum())
        print(f"{label}:")
        print(f"  decode  median {np.median(d):7.2f} ms  p95 {np.percentile(d, 95):7.2f} ms")
        print(f"  checks  median {np.median(c):7.2f} ms  p95 {np.percentile(c, 95):7.2f} ms")
        print(f"  checks' share of decode+checks: {share:.0%}  (checks/decode, median: {np.median(c / d):.2f})")


if __name__ == "__main__":
    main()
