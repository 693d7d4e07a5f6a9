"""`appliance validate-site DATA_DIR`: how the installed model does on a clinic's own labelled photos.

Runs every photo of DATA_DIR/labels.csv through the whole appliance path (decode, the box's quality
gate, preprocessing, the installed model) and reports, at the model's locked threshold, sensitivity
and specificity with bootstrap intervals, imageability, a per-grade table, the site's score
distribution against the model's validation distribution (a shift warning with its size) and the
threshold that would give the model's target sensitivity here. `--json` writes the report that
`appliance operating-point adopt` reads; `--pdf` a printable copy. Nothing is adopted here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.evaluation.dataset import DatasetError, read_labels
from appliance.evaluation.dr import DEFAULT_BATCH_SIZE, EvaluationRun, evaluate_images
from appliance.evaluation.site import SiteDataError, site_report
from appliance.evaluation.site_pdf import write_pdf
from appliance.inference.manifest import load_manifest
from appliance.inference.registry import select_runner

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "validate-site", parents=[common], help="validate the installed model on this site's labelled photos",
        description="Run every photo of DATA_DIR/labels.csv (columns file, dr_grade, referable, quality, source, "
                    "original_name; optional patient) through the appliance path and report sensitivity and "
                    "specificity at the locked threshold, imageability, a per-grade table, the score shift against "
                    "the model's validation photos, and the threshold that would reach the model's target "
                    "sensitivity on this site. Save --json output to adopt it with `appliance operating-point adopt`.",
    )
    cmd.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder holding labels.csv and the photos")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON (what operating-point adopt reads)")
    cmd.add_argument("--pdf", type=Path, metavar="REPORT.pdf", help="also write the report as a PDF")
    cmd.add_argument("--target-sensitivity", type=float,
                     help="sensitivity the site threshold must reach (default: the manifest's [validation] "
                          "target_sensitivity, else 0.87)")
    cmd.add_argument("--skip-unreadable", action="store_true",
                     help="report photos that cannot be read or decoded apart instead of refusing the folder")
    cmd.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (default: 1000)")
    cmd.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    cmd.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                     help=f"photos per model call (default: {DEFAULT_BATCH_SIZE})")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    try:
        return _run(config, args)
    except (DatasetError, SiteDataError) as exc:
        print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run(config: Config, args: argparse.Namespace) -> int:
    if args.bootstrap < 0 or args.batch_size < 1:
        raise SiteDataError("Need --bootstrap >= 0 and --batch-size >= 1.", reason_code="usage")
    if args.target_sensitivity is not None and not 0.0 < args.target_sensitivity <= 1.0:
        raise SiteDataError("--target-sensitivity must be in (0, 1].", reason_code="usage")
    folder: Path = args.data_dir
    if not folder.is_dir():
        raise SiteDataError(f"The folder {folder} does not exist.", reason_code="site_folder_missing")
    if not (folder / "labels.csv").is_file():
        raise SiteDataError(f"{folder} has no labels.csv (columns file, dr_grade, referable, quality, source, "
                            "original_name).", reason_code="site_labels_missing")
    items = read_labels(folder)
    if not items:
        raise SiteDataError(f"{folder / 'labels.csv'} lists no photos.", reason_code="dataset_empty")
    manifest = load_manifest(config.manifest_path)
    engine_dir = Path(config.model.engine_dir)
    if not engine_dir.is_absolute():
        engine_dir = config.data_path / engine_dir
    runner = select_runner(manifest, preference=config.model.runner, engine_dir=engine_dir,
                           intra_op_threads=config.model.intra_op_threads)
    with runner:
        result = evaluate_images(items, limits=config.limits, quality=config.quality, manifest=manifest,
                                 runner=runner, batch_size=args.batch_size,
                                 progress=args.verbose or sys.stderr.isatty())
    skipped = _check_unreadable(result, args.skip_unreadable)
    dataset = {"folder": str(folder.absolute()), "rows_in_labels": len(items), "unreadable_skipped": skipped,
               "quality_profile": config.quality.profile, "manifest": str(config.manifest_path)}
    report = site_report(result, manifest, dataset=dataset, replicates=args.bootstrap, seed=args.seed,
                         target_sensitivity=args.target_sensitivity)
    if args.pdf is not None:
        try:
            write_pdf(report, args.pdf)
        except OSError as exc:
            raise SiteDataError(f"Cannot write the PDF {args.pdf}: {exc.strerror or exc}.",
                                reason_code="site_pdf_unwritable") from exc
    print(json.dumps(report, indent=2) if args.json else format_site_report(report))
    return 0


def _check_unreadable(result: EvaluationRun, skip: bool) -> int:
    """The number of photos that could not be read or decoded; refuse them unless told to skip.

    Raises:
        SiteDataError: some photos could not be read and `skip` is False.
    """
    failed = [r for r in result.results if r.failure is not None]
    if failed and not skip:
        shown = "; ".join(f"{r.item.file} [{r.failure}] {r.failure_message}" for r in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise SiteDataError(
            f"{len(failed)} of {len(result.results)} photos cannot be read or decoded: {shown}{more}. Fix or remove "
            "them from labels.csv, or pass --skip-unreadable to report them apart.",
            reason_code="site_images_unreadable")
    return len(failed)


def _fmt(e: Mapping[str, Any], percent: bool = True) -> str:
    if e.get("value") is None:
        return "n/a"
    scale, unit, digits = (100.0, " %", 1) if percent else (1.0, "", 3)
    text = f"{e['value'] * scale:.{digits}f}{unit}"
    if e.get("low") is None or e.get("high") is None:
        return text
    return f"{text} (95 % CI {e['low'] * scale:.{digits}f}–{e['high'] * scale:.{digits}f}{unit})"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def format_site_report(report: Mapping[str, Any]) -> str:
    """The site-validation report as an administrator reads it on a terminal."""
    model, data, locked, site = report["model"], report["dataset"], report["locked_threshold"], \
        report["site_operating_point"]
    img = report["imageability"]
    lines = [
        "Site validation: " + data["folder"],
        f"Model: {model['name']} {model['version']} sha256 {model['sha256']}",
        f"Photos: {report['n_images']} listed, {report['n_graded']} graded (labelled and passed by the gate), "
        f"{data['unreadable_skipped']} unreadable skipped",
        f"Imageability (gate passed, profile {data['quality_profile']}): {_share(img['share'])} "
        f"({img['n_passed']}/{img['n_judged']})" + (
            f", 95 % CI {_share(img['low'])}–{_share(img['high'])}" if img["low"] is not None else ""),
        f"At the locked threshold {model['threshold']:.4f} ({locked['n_referable']} referable, "
        f"{locked['n_not_referable']} non-referable graded photos):",
        f"  sensitivity {_fmt(locked['sensitivity'])}",
        f"  specificity {_fmt(locked['specificity'])}",
        f"  AUC {_fmt(locked['auc'], percent=False)}",
        "Per ICDR grade (graded photos): grade  n  referred at locked / at site threshold",
    ]
    for row in report["per_grade"]:
        lines.append(f"  {row['grade']}{' (referable)' if row['referable'] else ' ' * 12}  {row['n']:>5}  "
                     f"{_share(row['share_referred']):>8} / {_share(row['share_referred_at_site_threshold'])}")
    dist = report["distribution"]
    lines.append("Score quantiles (levels " + ", ".join(f"{v:g}" for v in dist["levels"]) + "):")
    for name, key in (("site non-referable", "site_not_referable"), ("validation non-referable",
                                                                     "validation_not_referable"),
                      ("site referable", "site_referable"), ("validation referable", "validation_referable")):
        values = dist[key]
        shown = "unavailable" if values is None else " ".join("n/a" if v is None else f"{v:.3f}" for v in values)
        lines.append(f"  {name:<25} {shown}")
    lines.append(report["shift"]["message"])
    lines.append(
        f"Threshold for sensitivity {site['target_sensitivity']:.2f} ({site['target_from']}) on this site: "
        f"{site['threshold']:.4f}" + (f" (95 % CI {site['threshold_low']:.4f}–{site['threshold_high']:.4f})"
                                      if site["threshold_low"] is not None else "")
        + f"; there: sensitivity {_share(site['sensitivity'])}, specificity {_fmt(site['specificity'])}.")
    lines.append(f"  {site['caveat']} Adopt it only with `appliance operating-point adopt REPORT.json` "
                 f"(report from --json).")
    lines.append(report["notice"])
    return "\n".join(lines)
