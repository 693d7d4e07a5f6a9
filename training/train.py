"""Fine-tune MobileNetV2 or MobileNetV3-Small for referable DR (ICDR grade >= 2) on the dev set; CLI, resumable.

    python -m training.train --name ref224 --size 224 --epochs 6

Writes under training/runs/<name>/: last.pt (resume point), best.pt (best validation AUC),
report.json (validation and test AUC, per source, counts) and val_logits_plain.npy. The test split
is scored once, at the end, with the best-on-validation weights (never with --no-test).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from tqdm import tqdm

from appliance.evaluation.dataset import default_cameras_dir, default_data_dir
from appliance.evaluation.split import SPLITS
from appliance.inference.preprocess import InputSpec
from training.augment import augment, camera_degrade, to_input
from training.data import Example, SplitData, load_split, read_examples, subsample
from training.metrics import roc_auc
from training.nets import BACKBONES, PRETRAINED, input_spec, make_net

ROOT = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="reference", help="run name: folder under --runs-dir")
    p.add_argument("--data-dir", type=Path, action="append", default=None,
                   help="labelled folder (labels.csv, images/); repeatable (default: the dev set and, where "
                        "present, the other cameras' folder)")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    p.add_argument("--cache-dir", type=Path, default=ROOT / "cache")
    p.add_argument("--backbone", choices=BACKBONES, default="mobilenet_v2",
                   help="ImageNet-pretrained compact CNN (its own input normalisation is used)")
    p.add_argument("--pretrained", default=None,
                   help="ImageNet state_dict (default: the backbone's file in shared/models/pretrained), or 'none'")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--size", type=int, default=224, help="input side in pixels")
    p.add_argument("--local-contrast", action="store_true", help="Graham local-contrast normalisation")
    p.add_argument("--camera-normalise", action="store_true",
                   help="camera-independent view: crop on the fitted aperture, field-only local contrast, "
                        "detail scaled to one spread, rim masked (appliance.inference.preprocess)")
    p.add_argument("--select-on", choices=("all", "natural"), default="all",
                   help="validation photos whose AUC picks the best epoch (natural: every natural-colour source)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="use at most this many training images")
    p.add_argument("--eval-limit", type=int, default=None, help="at most this many val/test images each")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <run>/last.pt")
    p.add_argument("--no-test", action="store_true",
                   help="never load or score the test split (ablation runs: test is not for selection)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="start from the weights of a checkpoint (e.g. training/runs/<run>/best.pt)")
    p.add_argument("--natural-weight", type=float, default=1.0,
                   help="loss weight of natural-colour images (the rendering the appliance sees)")
    p.add_argument("--camera-aug", action="store_true",
                   help="also JPEG re-encoding and blur, as other cameras produce")
    p.add_argument("--balance-sources", action="store_true",
                   help="weigh each source's referable and non-referable photos equally in the loss (no pos_weight)")
    p.add_argument("--enhanced-share", type=float, default=1.0,
                   help="share of the enhanced EyePACS renderings drawn afresh for each epoch (default: 1, all)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for training steps (about 2x faster on AVX512-BF16 CPUs)")
    p.add_argument("--tta", action="store_true",
                   help="also report validation/test AUC with horizontal-flip test-time augmentation")
    p.add_argument("--pack", type=Path, default=None,
                   help="train from a `python -m training.pack` file instead of the labelled folders (a lent GPU "
                        "machine has no data): its size, view and folders are the run's; there is no test split")
    p.add_argument("--train-sources", default=None,
                   help="comma-separated sources (labels.csv `source` before the colon) to train on; default all "
                        "(ablations: e.g. eyepacs,eyepacs-enhanced256 for the development set alone)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--deadline-min", type=float, default=None,
                   help="stop after the epoch that would leave too little time for another before this many "
                        "minutes (a lent machine's lease); the report says so (`stopped_early`)")
    args = p.parse_args(argv)
    if args.pack is not None:
        args.data_dir = args.data_dir or []
        args.no_test = True
    elif args.data_dir is None:
        args.data_dir = [d for d in (default_data_dir(), default_cameras_dir()) if (d / "labels.csv").exists()]
        if not args.data_dir:
            p.error(f"no labelled folder found at {default_data_dir()}; name one with --data-dir")
    return args


def args_from_config(config: dict[str, Any], **overrides: Any) -> argparse.Namespace:
    """A finished run's training options (report.json's config) as train's Namespace, paths as Paths.

    Runs made before --data-dir was repeatable recorded one folder as a string."""
    folders = config["data_dir"] if isinstance(config["data_dir"], list) else [config["data_dir"]]
    merged = {"camera_normalise": False, "select_on": "all", "balance_sources": False, "enhanced_share": 1.0,
              **config, **overrides}
    return argparse.Namespace(**{**merged, "data_dir": [Path(f) for f in folders],
                                 "cache_dir": Path(config["cache_dir"])})


def run_spec(args: argparse.Namespace) -> InputSpec:
    """The model's input contract for a run's options."""
    return input_spec(getattr(args, "backbone", "mobilenet_v2"), args.size, args.local_contrast,
                      getattr(args, "camera_normalise", False))


def split_examples(args: argparse.Namespace) -> tuple[dict[str, list[Example]], dict[str, Any]]:
    """Examples per split (EyeQ rejects left out everywhere: their grades are unreliable) and counts."""
    everything = read_examples(args.data_dir)  # a list of folders
    splits: dict[str, list[Example]] = {}
    counts: dict[str, Any] = {}
    for name in SPLITS:
        rows = [e for e in everything if e.split == name]
        kept = [e for e in rows if not e.reject]
        kept = subsample(kept, args.limit if name == "train" else args.eval_limit)
        splits[name] = kept
        counts[name] = {
            "images": len(kept), "patients": len({(e.source, e.patient) for e in kept}),
            "positive": sum(e.referable for e in kept), "negative": sum(not e.referable for e in kept),
            "natural": sum(e.natural for e in kept), "enhanced": sum(not e.natural for e in kept),
            "eyeq_reject_excluded": sum(e.reject for e in rows),
            "by_source": {src: {"images": sum(e.source == src for e in kept),
                                "positive": sum(e.referable for e in kept if e.source == src)}
                          for src in sorted({e.source for e in kept})},
        }
    patients = [{e.patient for e in splits[n]} for n in SPLITS]
    if patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2]:
        raise RuntimeError("a patient is in two splits")  # cannot happen with patient_split; guard anyway
    return splits, counts


def _bar_interval() -> float:
    return 0.1 if sys.stderr.isatty() else 60.0  # keep nohup logs readable


@dataclass(frozen=True)
class Recipe:
    """Per-step options of a training epoch (see the matching command-line flags)."""

    batch: int
    pos_weight: torch.Tensor
    natural_weight: float = 1.0
    camera_aug: bool = False
    bf16: bool = False
    balance_sources: bool = False
    enhanced_share: float = 1.0
    device: str = "cpu"
    workers: int = 1  # threads for camera_degrade


def source_balance(data: SplitData) -> npt.NDArray[np.float32]:
    """Per-image loss weights that give each source's referable and non-referable photos half of
    that source's weight each (mean 1 over the split).

    Sources differ in their share of referable photos (EyePACS ~20 %, APTOS and IDRiD ~60 %): a
    model that could tell the camera apart would learn that as a prior, and its scores would move
    with the camera. Balanced within each source, the camera carries no information on the label.
    """
    sources = data.sources if data.sources is not None else np.full(len(data.labels), "all")
    weights = np.zeros(len(data.labels), np.float32)
    for src in set(sources.tolist()):
        in_src = sources == src
        for label in (0.0, 1.0):
            cell = in_src & (data.labels == label)
            if cell.any():
                weights[cell] = in_src.sum() / (2.0 * cell.sum()) if (in_src & (data.labels != label)).any() else 1.0
    return weights / weights.mean()


def train_epoch(net: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, data: SplitData,
                spec: InputSpec, recipe: Recipe, gen: torch.Generator, desc: str) -> float:
    """One pass over `data` in a `gen`-seeded order with augmentation; returns the mean weighted BCE."""
    net.train()
    batch = recipe.batch
    order = torch.randperm(len(data.labels), generator=gen).numpy()
    if recipe.enhanced_share < 1.0:  # a fresh random part of the enhanced renderings each epoch
        keep = torch.rand(len(order), generator=gen).numpy() < recipe.enhanced_share
        order = order[data.natural[order] | keep]
    dev = torch.device(recipe.device)
    images = torch.from_numpy(data.images)
    labels = torch.from_numpy(data.labels).to(dev)
    weights = torch.where(torch.from_numpy(data.natural), recipe.natural_weight, 1.0)
    if recipe.balance_sources:
        weights = weights * torch.from_numpy(source_balance(data))
    weights, pos_weight = weights.to(dev), recipe.pos_weight.to(dev)
    starts = [s for s in range(0, len(order), batch) if len(order) - s >= 2]  # BN needs >= 2
    total, seen = torch.zeros((), device=dev), 0  # summed on the device: no sync per step on a GPU
    with tqdm(starts, desc=desc, unit="batch", mininterval=_bar_interval()) as bar:
        for step, s in enumerate(bar):
            idx = torch.from_numpy(np.sort(order[s:s + batch]))
            squares = camera_degrade(images[idx], gen, workers=recipe.workers) if recipe.camera_aug else images[idx]
            x = augment(squares.to(dev, non_blocking=True), spec, gen).contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=recipe.bf16):
                logit = net(x).squeeze(1).float()
            idx_d = idx.to(dev)
            per_image = F.binary_cross_entropy_with_logits(logit, labels[idx_d], pos_weight=pos_weight,
                                                           reduction="none")
            loss = (per_image * weights[idx_d]).sum() / weights[idx_d].sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            total, seen = total + loss.detach() * len(idx), seen + len(idx)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{total.item() / seen:.4f}", lr=f"{sched.get_last_lr()[0]:.2e}", refresh=False)
    return float(total.item()) / max(seen, 1)


@torch.no_grad()
def predict_logits(net: torch.nn.Module, data: SplitData, spec: InputSpec, batch: int = 64,
                   tta: bool = False) -> npt.NDArray[np.float64]:
    """Logit of referable DR per image (eval mode). `tta`: mean of the logits of the image and its
    horizontal mirror (a fundus has no handedness that matters for DR; averaging logits, not
    probabilities, keeps the result a logit that temperature scaling can rescale)."""
    net.eval()
    dev = next(net.parameters()).device
    out = []
    for s in range(0, len(data.labels), batch):
        x = to_input(torch.from_numpy(data.images[s:s + batch]).to(dev), spec).contiguous(
            memory_format=torch.channels_last)
        logit = net(x).squeeze(1)
        if tta:
            logit = 0.5 * (logit + net(torch.flip(x, dims=[3])).squeeze(1))
        out.append(logit.float().cpu())
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def predict(net: torch.nn.Module, data: SplitData, spec: InputSpec, batch: int = 64,
            tta: bool = False) -> npt.NDArray[np.float64]:
    """Probability of referable DR per image, 0..1 (eval mode; see `predict_logits` for `tta`)."""
    return 1.0 / (1.0 + np.exp(-predict_logits(net, data, spec, batch, tta)))


def subsets(data: SplitData) -> list[tuple[str, npt.NDArray[np.bool_]]]:
    """Named photo subsets of a split: all, natural colour, enhanced, then each source on its own."""
    out = [("all", np.ones_like(data.natural)), ("natural", data.natural), ("enhanced", ~data.natural)]
    if data.sources is not None:
        out += [(f"source:{src}", data.sources == src) for src in sorted(set(data.sources.tolist()))]
    return out


def scores(data: SplitData, probs: npt.NDArray[np.float64]) -> dict[str, Any]:
    """AUC overall, natural colour vs enhanced, and per source, with class counts."""
    out: dict[str, Any] = {}
    for name, keep in subsets(data):
        y = data.labels[keep]
        out[name] = {"auc": roc_auc(y, probs[keep]), "positive": int(y.sum()), "negative": int((1 - y).sum())}
    return out


def load_data(args: argparse.Namespace) -> tuple[dict[str, SplitData], dict[str, Any]]:
    """The splits a run uses and their counts: from the labelled folders (cached), or from `--pack`.

    With a pack, its folders and input options become the run's (`args` is updated), so the run's
    config names the data it was made from and exports like any other run; `--train-sources` then
    keeps those sources of the training split alone."""
    if args.pack is not None:
        from training import pack

        data, meta = pack.read(args.pack)
        for key, value in meta["config"].items():
            setattr(args, key, [Path(v) for v in value] if key == "data_dir" else
                    Path(value) if key == "cache_dir" else value)
        counts: dict[str, Any] = {**meta["counts"], "pack": str(args.pack)}
    else:
        examples, counts = split_examples(args)
        used = [n for n in SPLITS if not (args.no_test and n == "test")]
        data = {n: load_split(examples[n], args.data_dir[0], run_spec(args), args.cache_dir) for n in used}
    if args.train_sources:
        wanted = args.train_sources.split(",")
        train = data["train"]
        sources = train.sources if train.sources is not None else np.full(len(train.labels), "eyepacs")
        data["train"] = train.select(np.isin(sources, wanted))
        counts["train_sources"] = {"kept": wanted, "images": len(data["train"].labels)}
        if not len(data["train"].labels):
            raise SystemExit(f"--train-sources {args.train_sources}: no training photo is from those sources")
    return data, counts


def _schedule(total_steps: int) -> Any:
    warmup = max(1, min(100, total_steps // 10))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup)))))
    return factor


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, keep the best-on-validation weights, then score val and test once. Returns the report."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.time()
    run = args.runs_dir / args.name
    run.mkdir(parents=True, exist_ok=True)
    data, counts = load_data(args)
    print(json.dumps(counts), flush=True)
    spec = run_spec(args)
    device = torch.device(args.device)
    # No cudnn.benchmark: each new batch shape (an epoch's last batch varies with --enhanced-share) is autotuned
    # again. Measured on an H200 (training/gpu_runs.sh): with it, epochs of 20-26 s (a few of 4-6 s); without it,
    # 10-14 s (a few of 5 s). What still makes most epochs slower than the fastest was not found in the lease.
    torch.backends.cudnn.benchmark = False
    select = data["val"].natural if args.select_on == "natural" else np.ones_like(data["val"].natural)

    pretrained = PRETRAINED[args.backbone] if args.pretrained is None else args.pretrained
    net = make_net(args.backbone, None if pretrained == "none" else Path(pretrained))
    if args.init_from is not None:  # weights only: a fresh optimiser and schedule for this run
        net.load_state_dict(torch.load(args.init_from, map_location="cpu", weights_only=True)["model"])
    net = net.to(device).to(memory_format=torch.channels_last)  # same maths; about 2x faster convolutions on CPU
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    per_epoch = round(float(data["train"].natural.sum()) + args.enhanced_share * float((~data["train"].natural).sum()))
    steps_per_epoch = len([s for s in range(0, per_epoch, args.batch) if per_epoch - s >= 2])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(args.epochs * steps_per_epoch))
    n_pos = float(data["train"].labels.sum())
    pos_weight = torch.tensor(1.0 if args.balance_sources else (len(data["train"].labels) - n_pos) / max(n_pos, 1.0))
    config = {k: str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "data_dir" else v
              for k, v in vars(args).items() if k != "resume"}
    command = "python -m training.train " + shlex.join(argv if argv is not None else sys.argv[1:])
    state: dict[str, Any] = {"epoch": 0, "history": [], "best_auc": -1.0, "config": config,
                             "command": command}

    if args.resume and (run / "last.pt").exists():
        state = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
        if state["config"] != config:
            raise SystemExit(f"--resume: {run}/last.pt was made with other settings: {state['config']}")
        net.load_state_dict(state.pop("model"))
        opt.load_state_dict(state.pop("optimizer"))
        sched.load_state_dict(state.pop("scheduler"))
        print(f"resumed after epoch {state['epoch']}", flush=True)

    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        t0 = time.time()
        if args.deadline_min is not None and state["history"]:
            per_epoch_s = max(h["seconds"] for h in state["history"])
            if t0 - started + per_epoch_s > 60 * args.deadline_min:
                state["stopped_early"] = f"after epoch {epoch - 1} of {args.epochs}: --deadline-min {args.deadline_min}"
                print(state["stopped_early"], flush=True)
                break
        torch.manual_seed(args.seed * 1000 + epoch)  # dropout; order and augmentation use `gen`
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        recipe = Recipe(args.batch, pos_weight, args.natural_weight, args.camera_aug, args.bf16,
                        args.balance_sources, args.enhanced_share, args.device, max(1, args.threads))
        loss = train_epoch(net, opt, sched, data["train"], spec, recipe, gen, f"epoch {epoch}/{args.epochs}")
        val_probs = predict(net, data["val"], spec)
        val_auc = roc_auc(data["val"].labels[select], val_probs[select])
        seconds = round(time.time() - t0, 1)
        state["history"].append({"epoch": epoch, "loss": loss, "val_auc": val_auc, "seconds": seconds,
                                 "val": {k: v["auc"] for k, v in scores(data["val"], val_probs).items()}})
        print(f"epoch {epoch}: loss {loss:.4f} val AUC {val_auc:.4f} ({seconds:.0f} s)", flush=True)
        if not val_auc <= state["best_auc"]:  # NaN (one-class val set) counts as better: keeps a best.pt
            state["best_auc"], state["best_epoch"] = val_auc, epoch
            torch.save({"model": net.state_dict(), "epoch": epoch, "val_auc": val_auc, "config": config},
                       run / "best.pt")
        state["epoch"] = epoch
        torch.save({**state, "model": net.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict()}, run / "last.pt")

    best = torch.load(run / "best.pt", map_location=device, weights_only=True)
    net.load_state_dict(best["model"])
    report = {
        "config": config, "command": state["command"], "counts": counts, "history": state["history"],
        "best_epoch": best["epoch"], "wall_seconds_this_invocation": round(time.time() - started, 1),
        "stopped_early": state.get("stopped_early"),
    }
    val_logits = predict_logits(net, data["val"], spec)
    np.save(run / "val_logits_plain.npy", val_logits)  # split file order: paired comparisons of runs
    report["validation"] = scores(data["val"], 1.0 / (1.0 + np.exp(-val_logits)))
    if args.tta:
        report["validation_tta"] = scores(data["val"], predict(net, data["val"], spec, tta=True))
    if "test" in data:  # the only look at test
        report["test"] = scores(data["test"], predict(net, data["test"], spec))
        if args.tta:
            report["test_tta"] = scores(data["test"], predict(net, data["test"], spec, tta=True))
    (run / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("config", "counts", "history")},
                     indent=2), flush=True)
    return report


if __name__ == "__main__":
    main()
