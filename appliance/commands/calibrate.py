"""`appliance calibrate`: make the INT8 (Q/DQ) twin of the FP32 model and report its parity.

The work is done by the repository's `calibration/` package (a source-checkout tool: it reads the
development set and the training split), imported only when this command runs.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from appliance.config import REPO_ROOT, Config


def default_data_dir() -> Path:
    """FUNDUS_DATA_DIR, else the development set beside the repository."""
    env = os.environ.get("FUNDUS_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "fundus"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "calibrate", parents=[common], help="make the INT8 (Q/DQ) model from the FP32 one and report parity",
        description="Quantize the FP32 model to explicit INT8 (Q/DQ, symmetric, per-channel weights) with "
                    "onnxruntime, calibrated on stratified TRAIN-split photos of the development set; compare "
                    "the variants with the FP32 model on the TEST split and write the best one, its manifest, "
                    "the calibration list and the parity report beside --out.",
    )
    cmd.add_argument("--manifest", type=Path, help="FP32 model manifest (default: models/dr-reference.toml)")
    cmd.add_argument("--method", choices=("minmax", "entropy", "percentile", "all"), default="all",
                     help="calibration method; all: compare the three and ship the best (default: all)")
    cmd.add_argument("--head", choices=("float", "int8", "both"), default="both",
                     help="keep the classifier head (Gemm + Sigmoid) in float, quantize it, or compare both "
                          "(default: both)")
    cmd.add_argument("--count", type=int, default=300, help="calibration photos (default: 300)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the photo selection (default: 0)")
    cmd.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "dr-reference-int8",
                     help="output stem: <out>.onnx and <out>.toml (default: models/dr-reference-int8)")
    cmd.add_argument("--data-dir", type=Path, default=None,
                     help="fundus development set (default: $FUNDUS_DATA_DIR or ../shared/data/fundus)")
    cmd.add_argument("--batch-size", type=int, default=4, help="photos per calibration batch (default: 4)")
    cmd.add_argument("--threads", type=int, default=2, help="onnxruntime threads for scoring (default: 2)")
    cmd.add_argument("--test-limit", type=int, default=None,
                     help="judge parity on at most this many evenly spaced test photos (default: the whole split)")
    cmd.add_argument("--no-parity", action="store_true", help="skip the parity run (one variant only)")
    cmd.add_argument("--parity-only", action="store_true",
                     help="only recompute the parity of the existing <out>.toml model and rewrite the report")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from calibration import run as calibration  # lazy: onnx, onnxruntime.quantization, the dev set

    limit_ok = args.test_limit is None or args.test_limit >= 1
    if args.count < 1 or args.batch_size < 1 or args.threads < 1 or not limit_ok:
        print("error: --count, --batch-size, --threads and --test-limit must be >= 1", file=sys.stderr)
        return 2
    manifest = args.manifest if args.manifest is not None else REPO_ROOT / "models" / "dr-reference.toml"
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    command = record(args)
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    if args.parity_only:
        calibration.parity_only(manifest, args.out.with_name(args.out.name + ".toml"), data_dir,
                                args.out.parent / "INT8_PARITY.md", test_limit=args.test_limit,
                                threads=args.threads, command=command, progress=progress)
    else:
        outcome = calibration.calibrate(calibration.Request(
            fp32_manifest=manifest, out=args.out, data_dir=data_dir, methods=calibration.methods_for(args.method),
            float_heads=calibration.heads_for(args.head), count=args.count, seed=args.seed,
            batch_size=args.batch_size, parity=not args.no_parity, test_limit=args.test_limit,
            threads=args.threads, command=command,
        ), progress=progress)
        progress(f"INT8 model {outcome.manifest.model_path}: sha256 {outcome.manifest.sha256}")
    print((args.out.parent / "INT8_PARITY.md").read_text(encoding="utf-8"))
    return 0


def record(args: argparse.Namespace) -> str:
    """The command line to write into the manifest and the report: every choice explicit."""
    words = ["appliance", "calibrate", "--method", args.method, "--head", args.head,
             "--count", str(args.count), "--seed", str(args.seed)]
    for flag in ("manifest", "out", "data_dir", "test_limit"):
        value = getattr(args, flag)
        default = REPO_ROOT / "models" / "dr-reference-int8" if flag == "out" else None
        if value is not None and value != default:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    if args.no_parity:
        words.append("--no-parity")
    if args.parity_only:
        words.append("--parity-only")
    return shlex.join(words)
