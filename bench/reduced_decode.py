"""Does decoding at reduced size change the gate's verdicts or the model's scores? Full vs reduced, A/B.

    python -m bench.reduced_decode                       # 40 natural-colour photos upscaled to 12 MP
    python -m bench.reduced_decode --count 100 --side 3000 --json
    python -m bench.reduced_decode --keep /tmp/camera-size   # also write the upscaled set (labels.csv too)
                                                             # for `appliance quality-eval` / `evaluate`

The shared data holds no photo larger than 512 px, where decoding is the same either way (factor 1). So
each photo (a seeded sample of the natural-colour photos of the development sets: IDRiD, ODIR, APTOS and
EyePACS) is upscaled with OpenCV (cubic) to `--side` px on its longer side, given the same grain as
bench/photos.py and re-encoded as JPEG 92, as a camera would deliver it. Each is then decoded twice by
appliance.imaging.decode_image, with every pixel (as the quality gate gets it, and as the model got it
before) and `reduced` (as the model now gets it), and both go through the quality gate and the model
(FP32); the original photo too, for scale (what the gate was calibrated and the model validated on).
Reported: the gate's verdicts that differ, the change of its metrics (median and largest), the change of
the model's score (median and largest; each way against the original) and of its decision at the locked
threshold, and the time of decode + gate + preprocess both ways. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from appliance.config import REPO_ROOT, load_config
from appliance.evaluation.dataset import default_data_dir
from appliance.imaging import decode_image, read_header, reduction
from appliance.inference.manifest import load_manifest
from appliance.inference.model import Model
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.preprocess import preprocess
from appliance.quality import assess
from bench.photos import GRAIN, JPEG_QUALITY

SOURCES = ("idrid", "odir", "aptos", "eyepacs_nat")
#: Metrics whose change is reported (the rest follow from these or change less).
METRICS = ("pixel_noise", "focus", "vessel_visibility", "mean_green", "fov_radius_fraction", "disc_x",
           "reject_probability")


def sample_rows(count: int, seed: int) -> list[tuple[Path, dict[str, str]]]:
    rows: list[tuple[Path, dict[str, str]]] = []
    for folder in (default_data_dir(), default_data_dir().parent / "fundus-cameras"):
        if not (folder / "labels.csv").is_file():
            continue
        with (folder / "labels.csv").open(newline="") as f:
            rows += [(folder, r) for r in csv.DictReader(f) if any(s in r["file"] for s in SOURCES)]
    if not rows:
        raise SystemExit(f"bench.reduced_decode: no development set at {default_data_dir()} (set FUNDUS_DATA_DIR)")
    random.Random(seed).shuffle(rows)
    return rows[:count]


def camera_size(path: Path, side: int, seed: int) -> bytes:
    image = np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR), np.uint8)
    h, w = image.shape[:2]
    scale = side / max(h, w)
    big = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(seed).normal(0.0, GRAIN, big.shape)
    noisy = np.clip(big.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    return bytes(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes())


def shipped_model(intra_op_threads: int) -> Model:
    """The shipped FP32 model on onnxruntime, active (close() it)."""
    manifest = load_manifest(REPO_ROOT / "models" / "dr-reference.toml")
    runner = OnnxRunner(manifest, intra_op_threads=intra_op_threads)
    runner.activate()
    return Model(manifest=manifest, runner=runner)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(env={})
    model = shipped_model(intra_op_threads=2)
    manifest = model.manifest
    threshold = model.threshold
    keep: Path | None = args.keep
    labels: list[dict[str, str]] = []
    per_photo: list[dict[str, Any]] = []
    seconds = {"full": 0.0, "reduced": 0.0}
    for i, (folder, row) in enumerate(sample_rows(args.count, args.seed)):
        data = camera_size(folder / row["file"], args.side, seed=i)
        if keep is not None:
            name = f"images/{Path(row['file']).stem}.jpg"
            (keep / name).parent.mkdir(parents=True, exist_ok=True)
            (keep / name).write_bytes(data)
            labels.append({**row, "file": name})
        outcome: dict[str, Any] = {"file": row["file"], "factor": reduction(read_header(data))}
        original = decode_image((folder / row["file"]).read_bytes(), config.limits)
        outcome["original"] = {"passed": assess(original, config.quality).passed, "score": model.score([original])[0]}
        for way, reduced in (("full", False), ("reduced", True)):
            start = time.perf_counter()
            image = decode_image(data, config.limits, reduced=reduced)
            report = assess(image, config.quality)
            preprocess(image, manifest.input)  # the model's own step, timed with the rest
            seconds[way] += time.perf_counter() - start
            outcome[way] = {"passed": report.passed, "reasons": list(report.reason_codes),
                            "metrics": {k: report.metrics.get(k) for k in METRICS},
                            "score": model.score([image])[0], "shape": list(image.shape[:2])}
        per_photo.append(outcome)
        if not args.json:
            print(f"\r{i + 1}/{args.count}", end="", flush=True)
    model.close()
    if keep is not None:
        with (keep / "labels.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(labels[0]))
            writer.writeheader()
            writer.writerows(labels)
    if not args.json:
        print()
    return summarise(per_photo, seconds, threshold, args)


def summarise(per_photo: Sequence[dict[str, Any]], seconds: dict[str, float], threshold: float,
              args: argparse.Namespace) -> dict[str, Any]:
    n = len(per_photo)
    flips = [p for p in per_photo if p["full"]["passed"] != p["reduced"]["passed"]]
    reasons = [p for p in per_photo if p["full"]["reasons"] != p["reduced"]["reasons"]]
    score_delta = [abs(p["full"]["score"] - p["reduced"]["score"]) for p in per_photo]
    from_original = {way: [abs(p[way]["score"] - p["original"]["score"]) for p in per_photo]
                     for way in ("full", "reduced")}
    decision_flips = [p for p in per_photo
                      if (p["full"]["score"] >= threshold) != (p["reduced"]["score"] >= threshold)]
    metric_change: dict[str, dict[str, float]] = {}
    for name in METRICS:
        pairs = [(p["full"]["metrics"][name], p["reduced"]["metrics"][name]) for p in per_photo
                 if p["full"]["metrics"][name] is not None and p["reduced"]["metrics"][name] is not None]
        if pairs:
            deltas = [abs(b - a) for a, b in pairs]
            metric_change[name] = {"median_abs": round(statistics.median(deltas), 5), "max_abs": round(max(deltas), 5),
                                   "median_full": round(statistics.median(a for a, _ in pairs), 5)}
    return {
        "photos": n, "longer_side_px": args.side, "factors": sorted({p["factor"] for p in per_photo}),
        "passed_full": sum(p["full"]["passed"] for p in per_photo),
        "passed_reduced": sum(p["reduced"]["passed"] for p in per_photo),
        "verdict_flips": [{"file": p["file"], "full": p["full"]["reasons"], "reduced": p["reduced"]["reasons"]}
                          for p in flips],
        "reason_changes": len(reasons),
        "score_abs_change": {"median": round(statistics.median(score_delta), 5), "max": round(max(score_delta), 5)},
        "score_abs_from_original": {way: {"median": round(statistics.median(d), 5), "max": round(max(d), 5)}
                                    for way, d in from_original.items()},
        "gate_agrees_with_original": {way: sum(p[way]["passed"] == p["original"]["passed"] for p in per_photo)
                                      for way in ("full", "reduced")},
        "decision_agrees_with_original": {way: sum((p[way]["score"] >= threshold)
                                                   == (p["original"]["score"] >= threshold) for p in per_photo)
                                          for way in ("full", "reduced")},
        "decision_flips_at_threshold": [{"file": p["file"], "full": round(p["full"]["score"], 4),
                                         "reduced": round(p["reduced"]["score"], 4)} for p in decision_flips],
        "metric_change": metric_change,
        "seconds_per_photo": {k: round(v / n, 4) for k, v in seconds.items()},
        "threshold": threshold,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=40, help="photos (default 40)")
    parser.add_argument("--side", type=int, default=4000, help="longer side after upscaling, px (default 4000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the upscaled photos and labels.csv into this folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = compare(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['photos']} photos upscaled to {result['longer_side_px']} px, decoded at 1/{result['factors']}:")
    print(f"  gate passed: full {result['passed_full']}, reduced {result['passed_reduced']}; verdicts that differ: "
          f"{len(result['verdict_flips'])} {result['verdict_flips']}; reason lists that differ: "
          f"{result['reason_changes']}")
    print(f"  model score |change|: median {result['score_abs_change']['median']}, max "
          f"{result['score_abs_change']['max']}; decisions at {result['threshold']} that differ: "
          f"{len(result['decision_flips_at_threshold'])} {result['decision_flips_at_threshold']}")
    for way, change in result["score_abs_from_original"].items():
        print(f"  model score |{way:>7} - original|: median {change['median']}, max {change['max']}; decision as on "
              f"the original: {result['decision_agrees_with_original'][way]}; gate verdict as on the original: "
              f"{result['gate_agrees_with_original'][way]}")
    for name, change in result["metric_change"].items():
        print(f"  {name:>22}: |change| median {change['median_abs']}, max {change['max_abs']} "
              f"(median value {change['median_full']})")
    print(f"  decode + gate + preprocess per photo: full {result['seconds_per_photo']['full']} s, "
          f"reduced {result['seconds_per_photo']['reduced']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
