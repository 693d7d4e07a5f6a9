"""Markdown ablation table from finished runs' report.json (and val logits, when saved).

    python -m training.ablation --base pilot_lc1 pilot_lc0 pilot_lc1 abl_v3s abl_s160 abl_s224

Validation AUC only (the test split is not for model selection). Interval: 95 % bootstrap over
validation images when <run>/val_logits_plain.npy exists, else the Hanley-McNeil normal
approximation (marked "HM"). The paired difference to --base resamples the same images for both runs,
which is far tighter than comparing two separate intervals.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from training.metrics import roc_auc

ROOT = Path(__file__).resolve().parent


def hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    """95 % normal-approximation interval of an AUC (Hanley & McNeil 1982), clipped to 0..1."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    half = 1.96 * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def paired_delta(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on the same images, and its 95 % bootstrap interval (class-stratified)."""
    y = labels.astype(bool)
    deltas = [roc_auc(y[idx], a[idx]) - roc_auc(y[idx], b[idx]) for idx in _resamples(y)]
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return roc_auc(y, a) - roc_auc(y, b), float(lo), float(hi)


def _resamples(y: np.ndarray, rounds: int = 1000, seed: int = 0) -> list[np.ndarray]:
    """Class-stratified bootstrap index sets (same seed for every run, so resamples are shared)."""
    pos, neg = np.flatnonzero(y.astype(bool)), np.flatnonzero(~y.astype(bool))
    rng = np.random.default_rng(seed)
    return [np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))] for _ in range(rounds)]


def _labels(runs: Path, name: str) -> np.ndarray:
    """Validation labels in split file order, from the cache the run used (built if missing)."""
    return _validation(runs, name)[0]


def _validation(runs: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation labels, natural-colour mask and source names in split file order (the run's cache)."""
    from training.data import load_split
    from training.train import args_from_config, run_spec, split_examples

    config = json.loads((runs / name / "report.json").read_text())["config"]
    targs = args_from_config(config, no_test=True)
    examples, _ = split_examples(targs)
    data = load_split(examples["val"], targs.data_dir[0], run_spec(targs), targs.cache_dir)
    sources = data.sources if data.sources is not None else np.full(len(data.labels), "eyepacs")
    return data.labels, data.natural, sources


#: Sensitivity the threshold is locked at in the transfer column (as `training.export --target-sensitivity`).
LOCK_SENSITIVITY = 0.89


def transfer(y: np.ndarray, s: np.ndarray, sources: np.ndarray) -> dict[str, Any]:
    """Lock a threshold on all of `y`/`s` (sensitivity >= LOCK_SENSITIVITY), then each source's
    specificity there: the spread (largest - smallest) says whether one threshold serves every camera."""
    from training.metrics import at_threshold, choose_threshold

    lock = choose_threshold(y, s, LOCK_SENSITIVITY, decimals=6)
    spec = {str(src): at_threshold(y[sources == src], s[sources == src], lock.threshold).specificity
            for src in sorted(set(sources.tolist())) if (y[sources == src] == 0).sum() >= 30}
    return {"threshold": lock.threshold, "specificity": spec,
            "spread": max(spec.values()) - min(spec.values()) if len(spec) > 1 else float("nan")}


def row(runs: Path, name: str, base: str | None, subset: str = "all") -> dict[str, Any]:
    report = json.loads((runs / name / "report.json").read_text())
    val = report["validation"]
    auc, n_pos, n_neg = val[subset]["auc"], val[subset]["positive"], val[subset]["negative"]
    out: dict[str, Any] = {"name": name, "command": report["command"], "auc": auc, "n": (n_pos, n_neg),
                           "natural": val["natural"]["auc"], "enhanced": val["enhanced"]["auc"],
                           "curve": [h["val_auc"] for h in report["history"]],
                           "epoch_s": sum(h["seconds"] for h in report["history"]),
                           "wall_s": report["wall_seconds_this_invocation"], "ci": hanley_mcneil(auc, n_pos, n_neg),
                           "ci_kind": "HM", "delta": None, "tta": None}
    logits = runs / name / "val_logits_plain.npy"
    if logits.exists():
        y, natural, sources = _validation(runs, name)
        keep = natural if subset == "natural" else np.ones_like(natural)
        y, sources = y[keep], sources[keep]
        s = np.load(logits)[keep]
        out["transfer"] = transfer(y, s, sources) if subset == "natural" else None
        deltas = [roc_auc(y[idx], s[idx]) for idx in _resamples(y)]
        out["ci"], out["ci_kind"] = tuple(np.percentile(deltas, [2.5, 97.5])), "boot"
        base_logits = runs / base / "val_logits_plain.npy" if base else None
        if base and name != base and base_logits is not None and base_logits.exists():
            out["delta"] = paired_delta(y, s, np.load(base_logits)[keep])
        tta = runs / name / "val_logits_tta.npy"  # written by training.posthoc
        if tta.exists():
            out["tta"] = paired_delta(y, np.load(tta)[keep], s)
    return out


def _signed(d: tuple[float, float, float] | None) -> str:
    return "—" if d is None else f"{d[0]:+.3f} ({d[1]:+.3f}, {d[2]:+.3f})"


def _spread(r: dict[str, Any]) -> str:
    t = r.get("transfer")
    if not t:
        return "—"
    cells = ", ".join(f"{k.split('-')[0]} {v:.2f}" for k, v in t["specificity"].items())
    return f"{t['spread']:.2f} ({cells})"


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| run | val AUC (95 % CI) | Δ vs base, paired (95 % CI) | natural | enhanced | val AUC per epoch "
            f"| flip TTA: Δ, paired (95 % CI) | specificity spread at sens {LOCK_SENSITIVITY} (per source) "
            "| train s (all epochs) | wall s |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        delta, tta = (_signed(r[k]) for k in ("delta", "tta"))
        lines.append(f"| {r['name']} | {r['auc']:.3f} ({r['ci'][0]:.3f}-{r['ci'][1]:.3f} {r['ci_kind']}) | {delta} "
                     f"| {r['natural']:.3f} | {r['enhanced']:.3f} | {', '.join(f'{a:.3f}' for a in r['curve'])} "
                     f"| {tta} | {_spread(r)} | {r['epoch_s']:.0f} | {r['wall_s']:.0f} |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(prog="python -m training.ablation", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run names under --runs-dir")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    p.add_argument("--base", default=None, help="run that paired differences are taken against")
    p.add_argument("--subset", choices=("all", "natural"), default="all",
                   help="validation photos compared: all, or the natural-colour photos of every source (then "
                        "also the spread of specificity between sources at one pooled threshold)")
    args = p.parse_args(argv)
    rows = [row(args.runs_dir, n, args.base, args.subset) for n in args.runs
            if (args.runs_dir / n / "report.json").exists()]
    text = markdown(rows) + "\nCommands:\n" + "".join(f"- {r['name']}: `{r['command']}`\n" for r in rows)
    print(text)
    return text


if __name__ == "__main__":
    main()
