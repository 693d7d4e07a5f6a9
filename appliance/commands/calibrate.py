"""`appliance calibrate`: make the INT8 (Q/DQ) twin of the FP32 model and report its parity.

The work is done by the repository's `calibration/` package (a source-checkout tool: it reads the
development set and the training split), imported only when this command runs.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from appliance.config import REPO_ROOT, Config
from appliance.evaluation.dataset import default_data_dir

DEFAULT_FP32 = REPO_ROOT / "models" / "dr-reference.toml"
DEFAULT_OUT = REPO_ROOT / "models" / "dr-reference-int8"



def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "calibrate", parents=[common], help="make the INT8 (Q/DQ) model from the FP32 one and report parity",
        description="Quantize the FP32 model to explicit INT8 (Q/DQ, symmetric, per-channel weights) with "
                    "onnxruntime, calibrated on stratified TRAIN-split photos of the development set; compare "
                    "the variants with the FP32 model on the validation split (to choose) and the test split "
                    "(to report); write the chosen one, its manifest, the calibration list and the parity "
                    "report beside --out. Without --head/--depthwise/--bias-correction/--float-convs, the "
                    "standard comparison runs: each method fully int8 and with depthwise convolutions in float, "
                    "plus (with --method all) the head quantized and the bias uncorrected, for the first method.",
    )
    cmd.add_argument("--manifest", type=Path, help="FP32 model manifest (default: models/dr-reference.toml)")
    cmd.add_argument("--method", choices=("minmax", "entropy", "percentile", "all"), default="all",
                     help="calibration method; all: compare the three (default: all)")
    cmd.add_argument("--head", choices=("float", "int8", "both"),
                     help="keep the classifier head (Gemm + Sigmoid) in float, quantize it, or compare both")
    cmd.add_argument("--depthwise", choices=("int8", "float", "both"),
                     help="quantize the depthwise convolutions, keep them in float, or compare both")
    cmd.add_argument("--bias-correction", choices=("on", "off", "both"),
                     help="correct the biases for the weights' rounding error, or not, or compare both")
    cmd.add_argument("--float-convs", type=int, help="keep the first N convolutions in float")
    cmd.add_argument("--count", type=int, default=300, help="calibration photos (default: 300)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the photo selection (default: 0)")
    cmd.add_argument("--out", type=Path, default=DEFAULT_OUT,
                     help="output stem: <out>.onnx and <out>.toml (default: models/dr-reference-int8)")
    cmd.add_argument("--data-dir", type=Path, action="append", default=None,
                     help="labelled folder; repeatable, pooled (default: $FUNDUS_DATA_DIR or ../shared/data/fundus)")
    cmd.add_argument("--batch-size", type=int, default=4, help="photos per calibration batch (default: 4)")
    cmd.add_argument("--threads", type=int, default=2, help="onnxruntime threads for scoring (default: 2)")
    cmd.add_argument("--eval-limit", type=int, default=None,
                     help="judge parity on at most this many evenly spaced photos per split (default: all)")
    cmd.add_argument("--no-parity", action="store_true", help="skip the parity run (one variant only)")
    cmd.add_argument("--parity-only", action="store_true",
                     help="only recompute the test parity of the existing <out>.toml model and rewrite the report")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from calibration import run as calibration  # lazy: onnx, onnxruntime.quantization, the dev set

    counts = (args.count, args.batch_size, args.threads, args.eval_limit or 1, 1 + (args.float_convs or 0))
    if min(counts) < 1:
        print("error: --count, --batch-size, --threads and --eval-limit must be >= 1, --float-convs >= 0",
              file=sys.stderr)
        return 2
    manifest = args.manifest if args.manifest is not None else DEFAULT_FP32
    data_dir = tuple(args.data_dir) if args.data_dir is not None else default_data_dir()
    command = record(args)
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    report = args.out.parent / "INT8_PARITY.md"
    if args.parity_only:
        calibration.parity_only(manifest, args.out.with_name(args.out.name + ".toml"), data_dir, report,
                                eval_limit=args.eval_limit, threads=args.threads, command=command, progress=progress)
    else:
        outcome = calibration.calibrate(calibration.Request(
            fp32_manifest=manifest, out=args.out, data_dir=data_dir, variants=variants(args),
            count=args.count, seed=args.seed, batch_size=args.batch_size, parity=not args.no_parity,
            eval_limit=args.eval_limit, threads=args.threads, command=command,
        ), progress=progress)
        progress(f"INT8 model {outcome.manifest.model_path}: sha256 {outcome.manifest.sha256}")
    print(report.read_text(encoding="utf-8"))
    return 0


def variants(args: argparse.Namespace) -> tuple[Any, ...]:
    """The QuantizeOptions to compare: the standard set, or the product of the choices given."""
    from calibration.quantize import QuantizeOptions
    from calibration.run import methods_for, standard_variants

    methods = methods_for(args.method)
    if args.head is None and args.depthwise is None and args.bias_correction is None and args.float_convs is None:
        return standard_variants(methods, ablations=args.method == "all")
    heads = {"float": (True,), "int8": (False,), "both": (True, False)}[args.head or "float"]
    depthwise = {"int8": (False,), "float": (True,), "both": (False, True)}[args.depthwise or "int8"]
    bias = {"on": (True,), "off": (False,), "both": (True, False)}[args.bias_correction or "on"]
    return tuple(
        QuantizeOptions(method=m, float_head=h, float_depthwise=d, bias_correction=b, float_convs=args.float_convs or 0)
        for m, h, d, b in itertools.product(methods, heads, depthwise, bias)
    )


def record(args: argparse.Namespace) -> str:
    """The command line to write into the manifest and the report: every choice explicit."""
    words = ["appliance", "calibrate", "--method", args.method, "--count", str(args.count), "--seed", str(args.seed)]
    for flag in ("head", "depthwise", "bias_correction", "float_convs", "manifest", "out", "data_dir", "eval_limit"):
        value = getattr(args, flag)
        default = {"out": DEFAULT_OUT, "manifest": DEFAULT_FP32}.get(flag)
        if isinstance(value, list):
            for item in value:
                words += [f"--{flag.replace('_', '-')}", str(item)]
        elif value is not None and value != default:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    words += ["--no-parity"] if args.no_parity else []
    words += ["--parity-only"] if args.parity_only else []
    return shlex.join(words)
