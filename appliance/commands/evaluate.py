"""`appliance evaluate DATA_DIR`: judge the model and the quality gate on a labelled folder.

Runs every photo of the folder's labels.csv through the whole appliance path and prints AUC,
sensitivity and specificity at the manifest's locked threshold with bootstrap intervals, the
gate's imageability, per-source results and the throughput. This is how the model is judged on
data from other sites, so it reads any folder with the dev set's columns.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from appliance.config import Config, QualityConfig, quality_profile
from appliance.errors import ManifestError
from appliance.evaluation.dataset import DatasetError, LabelledImage, read_labels
from appliance.evaluation.dr import DEFAULT_BATCH_SIZE, evaluate_images
from appliance.evaluation.report import format_report, summarise
from appliance.inference.manifest import load_manifest
from appliance.inference.registry import PREFERENCES, select_runner

EXIT_BAD_INPUT = 2
#: Suffix of the INT8 twin's manifest beside the FP32 one (models/dr-reference-int8.toml).
INT8_SUFFIX = "-int8"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "evaluate", parents=[common], help="measure the model and quality gate on a labelled folder",
        description="Run every photo listed in DATA_DIR/labels.csv (columns file, dr_grade, referable, quality, "
                    "source) through the quality gate, preprocessing and the model, and report referable-DR "
                    "AUC, sensitivity and specificity at the locked threshold with bootstrap 95 % intervals, "
                    "imageability, per-source results and images/second.",
    )
    cmd.add_argument("data_dir", type=Path, nargs="+", metavar="DATA_DIR",
                     help="folder holding labels.csv and the photos; several folders are pooled")
    cmd.add_argument("--json", action="store_true", help="print machine-readable JSON")
    cmd.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                     help="fp32: the [model] manifest; int8: its -int8 twin (default: fp32)")
    cmd.add_argument("--runner", choices=PREFERENCES,
                     help="inference backend (default: [model] runner); tensorrt fails rather than falls back")
    cmd.add_argument("--manifest", type=Path,
                     help="model manifest to evaluate (overrides the one --precision picks, which then "
                          "only labels the report)")
    cmd.add_argument("--limit", type=int, help="evaluate at most N photos (a fixed pseudo-random choice)")
    cmd.add_argument("--split", choices=("all", "val", "test"), default="all",
                     help="test (val): only the patient-held-out test (validation) split, by the `patient` "
                          "column or the dev-set file name (default: all)")
    cmd.add_argument("--exclude-source", action="append", default=[], metavar="PREFIX",
                     help="leave out photos whose `source` starts with PREFIX (e.g. eyepacs-enhanced256, the "
                          "renderings no camera produces); repeatable")
    cmd.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (default: 1000)")
    cmd.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    cmd.add_argument("--quality-profile", action="append", default=[], metavar="[SOURCE=]PROFILE",
                     help="quality-gate camera profile (a name in appliance/quality/profiles or a .toml path): "
                          "PROFILE for every photo, SOURCE=PROFILE for the photos of one `source`; repeatable "
                          "(default: [quality] profile)")
    cmd.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                     help=f"photos per model call (default: {DEFAULT_BATCH_SIZE})")
    cmd.set_defaults(handler=run)


def manifest_path(config: Config, precision: str, override: Path | None) -> Path:
    """The manifest to evaluate: the override, else [model] manifest (fp32) or its -int8 twin.

    Raises:
        ManifestError: int8 was asked for and the twin does not exist (calibration has not run).
    """
    if override is not None:
        return override
    path = config.manifest_path
    if precision == "fp32":
        return path
    twin = path.with_name(path.stem + INT8_SUFFIX + path.suffix)
    if not twin.is_file():
        raise ManifestError(
            f"There is no INT8 model: {twin} is missing. Run `appliance calibrate` to make it, "
            "or name a manifest with --manifest.", reason_code="int8_model_missing",
        )
    return twin


def quality_profiles(config: Config, specs: list[str]) -> tuple[QualityConfig, dict[str, QualityConfig]]:
    """The gate's thresholds for every photo and per source, from `[SOURCE=]PROFILE` specs.

    A bare PROFILE replaces the config's profile for every source without its own. The split is
    at the last "=", so a source may hold "=" but a profile name may not.

    Raises:
        ConfigError: an unknown profile or an unreadable profile file.
    """
    default, by_source = config.quality, {}
    for spec in specs:
        source, sep, profile = spec.rpartition("=")
        if sep and source:
            by_source[source] = quality_profile(profile)
        else:
            default = quality_profile(profile)
    return default, by_source


def choose_images(items: list[LabelledImage], split: str, limit: int | None) -> tuple[list[LabelledImage], int]:
    """The photos to evaluate, in labels.csv order, and how many had no patient id for the split.

    `split` "test" ("val") keeps the test (validation) patients (by the `patient` column, else the dev-set file name);
    photos without a patient id are left out (they cannot be placed safely). `limit` keeps the
    first N in sha256(file) order: a choice that mixes sources and does not depend on the file's row order.
    """
    no_patient = 0
    if split != "all":
        splits = [i.split for i in items]
        no_patient = sum(1 for s in splits if s is None)
        items = [i for i, s in zip(items, splits, strict=True) if s == split]
    if limit is not None and limit < len(items):
        chosen = set(sorted(range(len(items)), key=lambda k: hashlib.sha256(items[k].file.encode()).digest())[:limit])
        items = [item for k, item in enumerate(items) if k in chosen]
    return items, no_patient


def run(config: Config, args: argparse.Namespace) -> int:
    if args.bootstrap < 0 or args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        print("error: need --bootstrap >= 0, --batch-size >= 1 and --limit >= 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    folders = " + ".join(str(d) for d in args.data_dir)
    try:
        rows = [row for folder in args.data_dir for row in read_labels(folder)]
        rows = [r for r in rows if not any(r.source.startswith(p) for p in args.exclude_source)]
        items, no_patient = choose_images(rows, args.split, args.limit)
        if not items:
            why = (f"; {no_patient} of {len(rows)} rows have no patient id (no `patient` column, "
                   "no dev-set file name)" if args.split != "all" else "")
            raise DatasetError(f"No photos to evaluate in {folders} (split {args.split}{why}).",
                               reason_code="dataset_empty")
    except DatasetError as exc:
        print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    quality, quality_by_source = quality_profiles(config, args.quality_profile)
    path = manifest_path(config, args.precision, args.manifest)
    manifest = load_manifest(path)
    engine_dir = Path(config.model.engine_dir)
    if not engine_dir.is_absolute():
        engine_dir = config.data_path / engine_dir
    runner = select_runner(manifest, preference=args.runner or config.model.runner, engine_dir=engine_dir,
                           intra_op_threads=config.model.intra_op_threads)
    with runner:
        result = evaluate_images(items, limits=config.limits, quality=quality, manifest=manifest, runner=runner,
                                 batch_size=args.batch_size, quality_by_source=quality_by_source)
    dataset = {"folder": folders, "split": args.split, "rows_in_labels": len(rows),
               "rows_without_patient_id": no_patient, "limit": args.limit, "excluded_sources": args.exclude_source}
    report = summarise(result, manifest, dataset=dataset, replicates=args.bootstrap, seed=args.seed,
                       precision=args.precision)
    report["model"]["manifest"] = str(path)
    report["quality_gate"] = {"profile": quality.profile,
                              "by_source": {k: v.profile for k, v in sorted(quality_by_source.items())}}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
