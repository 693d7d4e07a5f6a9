"""The model's square cut around the gate's circle, or around its own second fit? A/B on real photos.

    python -m bench.aperture_reuse                          # validation photos of every natural-colour source
    python -m bench.aperture_reuse --limit 200 --side 4000 --json   # 200 of them, at a camera's size

The quality gate fits the aperture circle of every photo at capture, on its working copy (at most 512 px);
the model's camera-normalised preprocessing needs the same circle to cut its square. Before, preprocessing
fitted it a second time on the photo the model gets (a reduced decode of a camera's full-size photo); now
the pipeline hands it the gate's circle from the stored metrics (`circle_from_metrics`). Each labelled
natural-colour photo of the split (patients no training saw on `val`/`test`) goes through decode and the
gate (as at capture; with `--side` first upscaled to a camera's size as bench/reduced_decode.py does, and
then decoded reduced for the model, as at finish), and the model scores it both ways. Reported: how far
the two circles lie apart (centre and radius, in pixels of the model's square), the change of the score,
the decisions at the locked threshold that differ, AUC both ways with the paired difference, and the time
of preprocessing with the gate's circle against fitting it again; with `--side`, also how far each way's
score and decision lie from the original photo's (the photo as validated, where both circles are one).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.config import load_config
from appliance.evaluation.dataset import default_cameras_dir, default_data_dir, read_labels
from appliance.evaluation.metrics import roc_auc
from appliance.imaging import decode_image
from appliance.inference.preprocess import aperture_circle, preprocess
from appliance.quality import assess, circle_from_metrics
from bench.reduced_decode import camera_size, shipped_model
from training.ablation import paired_delta

ENHANCED = "eyepacs-enhanced256"


def compare(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(env={})
    model = shipped_model(intra_op_threads=1)
    manifest = model.manifest
    items = [i for folder in (default_data_dir(), default_cameras_dir()) if (folder / "labels.csv").is_file()
             for i in read_labels(folder)
             if i.split == args.split and i.referable is not None and not i.source.startswith(ENHANCED)]
    if args.limit and args.limit < len(items):  # a seeded draw across every source
        items = random.Random(args.seed).sample(items, args.limit)
    if not items:
        raise SystemExit(f"bench.aperture_reuse: no labelled natural-colour photos of the {args.split} split")
    side = manifest.input.size
    rows: list[dict[str, Any]] = []
    seconds = {"gate_circle": 0.0, "fitted_again": 0.0}
    for n, item in enumerate(items):
        data = item.path.read_bytes() if not args.side else camera_size(item.path, args.side, seed=n)
        report = assess(decode_image(data, config.limits), config.quality)
        image = decode_image(data, config.limits, reduced=True)
        given = circle_from_metrics(report.metrics, *image.shape[:2])
        start = time.perf_counter()
        with_gate = preprocess(image, manifest.input, given)
        seconds["gate_circle"] += time.perf_counter() - start
        start = time.perf_counter()
        own = aperture_circle(image)  # the second fit, timed with the preprocessing it serves
        refitted = preprocess(image, manifest.input, own)
        seconds["fitted_again"] += time.perf_counter() - start
        a, b = model.runner.infer(np.stack([with_gate, refitted]))
        original = float(model.score([decode_image(item.path.read_bytes(), config.limits)])[0]) if args.side else None
        used = aperture_circle(image, given)  # what the square was cut around (the gate's, if plausible)
        scale = side / (2 * own[2])  # image px -> the model's square px
        rows.append({"file": item.file, "referable": bool(item.referable), "gate": float(a), "refit": float(b),
                     "original": original,
                     "had_circle": given is not None,
                     "centre_px": float(np.hypot(used[0] - own[0], used[1] - own[1]) * scale),
                     "radius_px": float(abs(used[2] - own[2]) * scale)})
        if not args.json:
            print(f"\r{n + 1}/{len(items)}", end="", flush=True)
    model.close()
    if not args.json:
        print()
    return summarise(rows, seconds, model.threshold, args)


def _spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 4), "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 4),
            "max": round(ordered[-1], 4)}


def summarise(rows: Sequence[dict[str, Any]], seconds: dict[str, float], threshold: float,
              args: argparse.Namespace) -> dict[str, Any]:
    labels = np.asarray([r["referable"] for r in rows], dtype=bool)
    gate, refit = (np.asarray([r[k] for r in rows]) for k in ("gate", "refit"))
    flips = [r for r in rows if (r["gate"] >= threshold) != (r["refit"] >= threshold)]
    delta, low, high = paired_delta(labels, gate, refit)  # AUC(gate) - AUC(refit)
    from_original = {way: {"score_abs": _spread([abs(r[key] - r["original"]) for r in rows]),
                           "same_decision": sum((r[key] >= threshold) == (r["original"] >= threshold) for r in rows)}
                     for way, key in (("gate_circle", "gate"), ("fitted_again", "refit"))} if args.side else None
    return {
        "split": args.split, "photos": len(rows), "longer_side_px": args.side or "as stored",
        "without_gate_circle": sum(not r["had_circle"] for r in rows),
        "centre_apart_model_px": _spread([r["centre_px"] for r in rows]),
        "radius_apart_model_px": _spread([r["radius_px"] for r in rows]),
        "score_abs_change": _spread([abs(r["gate"] - r["refit"]) for r in rows]),
        "decisions_that_differ": [{k: r[k] for k in ("file", "gate", "refit")} for r in flips],
        "agreement": round(1 - len(flips) / len(rows), 4), "threshold": threshold,
        "auc": {"gate_circle": round(roc_auc(labels, gate), 4), "fitted_again": round(roc_auc(labels, refit), 4),
                "paired_delta": [round(delta, 4), round(low, 4), round(high, 4)]},
        "preprocess_ms_per_photo": {k: round(1000 * v / len(rows), 2) for k, v in seconds.items()},
        "from_original": from_original,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, default=0, help="a seeded draw of this many photos (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--side", type=int, default=0, help="upscale to this longer side first (px)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = compare(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['photos']} {result['split']} photos ({result['longer_side_px']}), "
          f"{result['without_gate_circle']} without a circle from the gate:")
    print(f"  circles apart, in px of the model's square: centre {result['centre_apart_model_px']}, "
          f"radius {result['radius_apart_model_px']}")
    print(f"  score |change| {result['score_abs_change']}; decisions at {result['threshold']} that differ: "
          f"{len(result['decisions_that_differ'])} (agreement {result['agreement']}) {result['decisions_that_differ']}")
    auc = result["auc"]
    print(f"  AUC with the gate's circle {auc['gate_circle']}, fitted again {auc['fitted_again']}; "
          f"paired difference (95 % CI) {auc['paired_delta']}")
    print(f"  preprocess per photo: {result['preprocess_ms_per_photo']}")
    for way, change in (result["from_original"] or {}).items():
        print(f"  {way} against the original photo: score |change| {change['score_abs']}, same decision "
              f"{change['same_decision']}/{result['photos']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
