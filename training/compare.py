"""Two shipped models on the same photos, through the whole appliance path: paired AUC differences per source.

    python -m training.compare --base /tmp/old/dr-reference.toml --new models/dr-reference.toml \\
        ../shared/data/fundus ../shared/data/fundus-cameras --split test --exclude-source eyepacs-enhanced256

Each photo is read, gated and scored by `appliance.evaluation.dr.evaluate_images` (the code
`appliance evaluate` runs) once per model; every photo with a label and a score counts (gate
ignored, as training's figures). Per source: each model's AUC, the paired difference with a
class-stratified bootstrap interval (the same resamples for both models), and each model's
sensitivity, specificity and non-referable median score at its own locked threshold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from appliance.config import LimitsConfig, QualityConfig
from appliance.evaluation.dataset import read_labels
from appliance.evaluation.dr import evaluate_images
from appliance.evaluation.metrics import at_threshold, roc_auc
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.registry import select_runner
from training.ablation import paired_delta


def scores(manifest: ModelManifest, items: list[Any]) -> np.ndarray:
    runner = select_runner(manifest, preference="onnxruntime", engine_dir=Path("/nonexistent"), intra_op_threads=2)
    with runner:
        run = evaluate_images(items, limits=LimitsConfig(), quality=QualityConfig(), manifest=manifest, runner=runner)
    return np.array([np.nan if r.score is None else r.score for r in run.results], np.float64)


def _at(manifest: ModelManifest, y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    op = at_threshold(y, s, manifest.threshold)
    healthy = s[~y]
    return {"auc": roc_auc(y, s), "sensitivity": op.sensitivity, "specificity": op.specificity,
            "not_referable_median": float(np.median(healthy)) if healthy.size else float("nan")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.split("\n")[0])
    p.add_argument("data_dir", type=Path, nargs="+")
    p.add_argument("--base", type=Path, required=True, help="manifest of the earlier model")
    p.add_argument("--new", type=Path, required=True, help="manifest of the new model")
    p.add_argument("--split", choices=("val", "test"), default="test")
    p.add_argument("--exclude-source", action="append", default=[], metavar="PREFIX")
    p.add_argument("--out", type=Path, help="write the JSON here too")
    args = p.parse_args(argv)
    items = [r for d in args.data_dir for r in read_labels(d)
             if r.split == args.split and r.referable is not None
             and not any(r.source.startswith(x) for x in args.exclude_source)]
    base, new = load_manifest(args.base), load_manifest(args.new)
    s_base, s_new = scores(base, items), scores(new, items)
    y_all = np.array([bool(i.referable) for i in items])
    sources = np.array([i.source.split(":")[0] for i in items])
    ok = np.isfinite(s_base) & np.isfinite(s_new)
    out: dict[str, Any] = {"base": f"{base.name} {base.version}", "new": f"{new.name} {new.version}",
                           "split": args.split, "excluded": args.exclude_source, "per_source": {}}
    groups = [("pooled", ok)] + [(src, ok & (sources == src)) for src in sorted(set(sources.tolist()))]
    for name, keep in groups:
        y = y_all[keep]
        if y.all() or not y.any():
            continue
        delta = paired_delta(y, s_new[keep], s_base[keep])
        out["per_source"][name] = {"referable": int(y.sum()), "not_referable": int((~y).sum()),
                                   "base": _at(base, y, s_base[keep]), "new": _at(new, y, s_new[keep]),
                                   "auc_delta": {"value": delta[0], "low": delta[1], "high": delta[2]}}
    text = json.dumps(out, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return out


if __name__ == "__main__":
    main()
