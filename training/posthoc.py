"""Evaluate a finished run's best.pt without training: flip TTA on/off, temperature scaling, AUC intervals.

    python -m training.posthoc --run training/runs/ref192lc [--test]

Temperature is fitted on the validation split only; `--test` also scores the test split (report only,
never for selection). Writes <run>/posthoc.json (printed too) and the validation logits
<run>/val_logits_{plain,tta}.npy, in the split's file order, for paired comparisons between runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.data import SplitData, load_split
from training.nets import make_net
from training.temperature import bootstrap_auc, ece, fit_temperature, nll, sigmoid
from training.train import args_from_config, predict_logits, run_spec, scores, split_examples


def _block(data: SplitData, logits: np.ndarray, temperature: float) -> dict[str, Any]:
    probs = sigmoid(logits)
    y = data.labels.astype(np.float64)
    lo, hi = bootstrap_auc(y, logits)
    return {"by_source": scores(data, probs), "auc_ci95": [lo, hi], "n": len(y),
            "nll": nll(y, logits), "ece": ece(y, probs),
            "nll_temperature": nll(y, logits / temperature), "ece_temperature": ece(y, sigmoid(logits / temperature))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m training.posthoc", description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training/runs/<name> with best.pt, report.json")
    p.add_argument("--test", action="store_true", help="also score the test split (reporting only)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    config = json.loads((args.run / "report.json").read_text())["config"]
    targs = args_from_config(config, no_test=not args.test)
    backbone = config.get("backbone", "mobilenet_v2")
    spec = run_spec(targs)
    net = make_net(backbone, None)
    net.load_state_dict(torch.load(args.run / "best.pt", map_location="cpu", weights_only=True)["model"])
    examples, _ = split_examples(targs)
    names = ("val", "test") if args.test else ("val",)
    data = {n: load_split(examples[n], targs.data_dir[0], spec, targs.cache_dir) for n in names}
    out: dict[str, Any] = {"run": str(args.run), "backbone": backbone, "size": spec.size}
    for tta in (False, True):
        logits = {n: predict_logits(net, data[n], spec, tta=tta) for n in names}
        np.save(args.run / f"val_logits_{'tta' if tta else 'plain'}.npy", logits["val"])  # paired comparisons
        t = fit_temperature(data["val"].labels.astype(np.float64), logits["val"])  # validation only
        key = "tta_hflip" if tta else "plain"
        out[key] = {"temperature": t, **{n: _block(data[n], logits[n], t) for n in names}}
    out["wall_seconds"] = round(time.time() - started, 1)
    (args.run / "posthoc.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
