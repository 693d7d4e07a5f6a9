"""Preprocessed splits packed small enough to travel to a lent GPU machine, and read back there.

    python -m training.pack --out .gpu/cn256.npz --size 256 --camera-normalise --budget-mb 50

The GPU machine has no `../shared` data and takes at most 64 MiB of files with it, so the squares
of `training.data.load_split` (the appliance's own preprocessing, from the local cache) travel as
WebP in one `.npz`: every natural-colour training photo, the whole validation split (so a run's
`val_logits_plain.npy` is in split file order, as `training.ablation` pairs it), and as many
enhanced renderings as the byte budget leaves. The test split never travels: it is scored here,
by `training.export`, from the uncompressed cache. The pack records the folders and options it was
made from, so a run trained from it exports and ablates here like any other run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from training.data import SplitData

PACKED_SPLITS = ("train", "val")


def encode(images: npt.NDArray[np.uint8], quality: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """RGB squares -> one byte blob of WebP files and the offsets of each (len(images) + 1)."""
    def one(i: int) -> bytes:
        ok, buf = cv2.imencode(".webp", np.ascontiguousarray(images[i]), [cv2.IMWRITE_WEBP_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"WebP encoding failed for square {i}")
        return bytes(buf)  # channel order is irrelevant to a round trip: encode and decode as-is

    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(one, range(len(images))))
    offsets = np.zeros(len(parts) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in parts])
    return np.frombuffer(b"".join(parts), np.uint8), offsets


def decode(blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], size: int,
           workers: int = 8) -> npt.NDArray[np.uint8]:
    """The squares back from `encode`'s blob; raises RuntimeError on a damaged entry."""
    out = np.empty((len(offsets) - 1, size, size, 3), np.uint8)

    def one(i: int) -> None:
        img = cv2.imdecode(blob[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR)
        if img is None or img.shape != out.shape[1:]:
            raise RuntimeError(f"packed square {i} is damaged")
        out[i] = img

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(out))))
    return out


def choose(data: SplitData, split: str, budget: int, natural_bytes: int, seed: int = 0) -> npt.NDArray[np.bool_]:
    """Which photos of a split travel: all of val; natural-colour train photos, then enhanced ones while
    `budget` bytes last (an enhanced square costs about as much as a natural one, `natural_bytes`)."""
    if split != "train":
        return np.ones(len(data.labels), bool)
    keep = data.natural.copy()
    enhanced = np.flatnonzero(~data.natural)
    room = max(0, budget // max(natural_bytes, 1))
    picked = np.random.default_rng(seed).permutation(enhanced)[:room]
    keep[picked] = True
    return np.asarray(keep, bool)


def write(path: Path, splits: dict[str, SplitData], config: dict[str, Any], counts: dict[str, Any],
          quality: dict[str, int]) -> int:
    """Write the pack (WebP `quality` per split); returns its size in bytes."""
    arrays: dict[str, Any] = {}
    for name, data in splits.items():
        blob, offsets = encode(data.images, quality[name])
        sources = data.sources if data.sources is not None else np.full(len(data.labels), "eyepacs")
        arrays |= {f"{name}_blob": blob, f"{name}_offsets": offsets, f"{name}_labels": data.labels,
                   f"{name}_natural": data.natural, f"{name}_reject": data.reject,
                   f"{name}_files": np.array(data.files), f"{name}_sources": np.asarray(sources, str)}
    size = next(iter(splits.values())).images.shape[1]
    meta = {"config": config, "counts": counts, "size": size, "quality": quality}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    return path.stat().st_size


def read(path: Path) -> tuple[dict[str, SplitData], dict[str, Any]]:
    """The packed splits (decoded) and the pack's metadata (config, counts, size)."""
    with np.load(path, allow_pickle=False) as z:
        meta: dict[str, Any] = json.loads(str(z["meta"]))
        splits = {}
        for name in PACKED_SPLITS:
            if f"{name}_blob" not in z:
                continue
            splits[name] = SplitData(
                images=decode(z[f"{name}_blob"], z[f"{name}_offsets"], meta["size"]),
                labels=z[f"{name}_labels"], natural=z[f"{name}_natural"], reject=z[f"{name}_reject"],
                files=[str(f) for f in z[f"{name}_files"]], sources=z[f"{name}_sources"])
    return splits, meta


def main(argv: list[str] | None = None) -> Path:
    from training.data import load_split
    from training.train import parse_args, run_spec, split_examples

    p = argparse.ArgumentParser(prog="python -m training.pack", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-mb", type=float, default=50.0,
                   help="largest pack size, MB (the GPU machine takes 64 MiB in all)")
    p.add_argument("--quality", type=int, default=70,
                   help="WebP quality of the training squares, 1..100 (training also re-encodes a share as JPEG)")
    p.add_argument("--val-quality", type=int, default=80, help="WebP quality of the validation squares, 1..100")
    args, rest = p.parse_known_args(argv)
    if not (1 <= args.quality <= 100 and 1 <= args.val_quality <= 100) or args.budget_mb <= 0:
        p.error("--quality and --val-quality must be 1..100 and --budget-mb positive")
    quality = {"train": args.quality, "val": args.val_quality}
    targs = parse_args(["--no-test", *rest])  # the data options of training.train: --size, --camera-normalise, ...
    spec = run_spec(targs)
    examples, _ = split_examples(targs)
    full = {n: load_split(examples[n], targs.data_dir[0], spec, targs.cache_dir) for n in PACKED_SPLITS}
    def per_square(split: str) -> int:  # mean WebP bytes of a natural-colour square at that split's quality
        sample = full[split].images[np.flatnonzero(full[split].natural)[:200]]
        return len(encode(sample, quality[split])[0]) // max(len(sample), 1)

    square = {n: per_square(n) for n in PACKED_SPLITS}
    fixed = square["train"] * int(full["train"].natural.sum()) + square["val"] * len(full["val"].labels)
    room = int(args.budget_mb * 1e6 * 0.97) - fixed
    keep = {n: choose(full[n], n, room, int(square["train"] * 1.1)) for n in PACKED_SPLITS}
    splits = {n: full[n].select(keep[n]) for n in PACKED_SPLITS}
    counts = {n: {"images": len(d.labels), "positive": int(d.labels.sum()), "natural": int(d.natural.sum()),
                  "enhanced": int((~d.natural).sum()),
                  "by_source": {str(s): {"images": int((d.sources == s).sum()),
                                         "positive": int(d.labels[d.sources == s].sum())}
                                for s in sorted(set(np.asarray(d.sources).tolist()))}}
              for n, d in splits.items()}
    config = {"data_dir": [str(d) for d in targs.data_dir], "cache_dir": str(targs.cache_dir), "size": targs.size,
              "local_contrast": targs.local_contrast, "camera_normalise": targs.camera_normalise,
              "backbone": targs.backbone}
    size = write(args.out, splits, config, counts, quality)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:12]
    summary = {"pack": str(args.out), "mb": round(size / 1e6, 1), "sha256": digest, "counts": counts}
    print(json.dumps(summary), flush=True)
    out: Path = args.out
    return out


if __name__ == "__main__":
    main()
