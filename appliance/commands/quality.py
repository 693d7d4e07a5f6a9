"""`appliance quality-eval` and `appliance quality-calibrate`: the quality gate against graders'
labels on a labelled folder (labels.csv with the development set's columns, images beside it)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from appliance.config import Config, quality_profile
from appliance.errors import ConfigError
from appliance.evaluation.dataset import LabelledImage, read_labels
from appliance.evaluation.quality import (
    SPLITS,
    TUNE_SHARE,
    measure_images,
    model_by_gate,
    model_scorer,
    non_fundus_check,
    run_gate,
    select,
    source_group,
    summarise,
)
from appliance.quality.calibration import MIN_GAIN, USABLE_WEIGHT, Sample, calibrate
from appliance.quality.framings import FRAMINGS
from appliance.quality.profile_format import profile_toml
from appliance.quality.rules import RULES

EXIT_TARGET_MISSED = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "quality-eval", parents=[common],
        help="measure the quality gate against graders' labels on a labelled folder")
    _selection_arguments(evaluate)
    evaluate.add_argument("--profile", help="camera profile to evaluate (default: the config's [quality] thresholds)")
    evaluate.add_argument("--json", action="store_true", help="print JSON, with a per-image list")
    evaluate.add_argument("--metrics", action="store_true",
                          help="with --json, also every gate metric of each photo (to study or refit thresholds "
                               "without measuring the photos again)")
    evaluate.add_argument("--framing", choices=sorted(FRAMINGS),
                          help="reframe every photo first as another camera would have framed it "
                               "(docs/QUALITY.md, 'Every framing')")
    evaluate.add_argument("--aim-off", type=float, metavar="RHO",
                          help="first move every photo's view away from its optic disc, zoomed in so the aperture "
                               "stays full of retina, until the disc sits RHO field radii from the centre: a camera "
                               "aimed off the protocol's fields (photos without a disc found are left out)")
    evaluate.add_argument("--model", type=Path, metavar="MANIFEST",
                          help="also score images with this model and report its referable-DR AUC on "
                               "gate-passed vs gate-rejected images")
    evaluate.set_defaults(handler=run_eval)

    fit = commands.add_parser(
        "quality-calibrate", parents=[common],
        help="fit the quality gate's thresholds to a labelled folder and write a camera profile")
    _selection_arguments(fit, default_split="tune")
    fit.add_argument("--out", type=Path, required=True, metavar="PROFILE.toml", help="profile file to write")
    fit.add_argument("--profile", help="profile to start from (default: the config's [quality] thresholds)")
    fit.add_argument("--name", help="the profile's name (default: the output file's stem)")
    fit.add_argument("--target-false-reject", type=float, default=0.05, metavar="SHARE",
                           help="largest share of gradable photos the fitted gate may reject (default 0.05)")
    fit.add_argument("--usable-weight", type=float, default=USABLE_WEIGHT, metavar="W",
                           help=f"weight of a usable photo against a good one (default {USABLE_WEIGHT})")
    fit.add_argument("--min-gain", type=float, default=MIN_GAIN, metavar="SHARE",
                           help=f"least share of reject photos a threshold step must catch (default {MIN_GAIN})")
    fit.add_argument("--no-score", action="store_true",
                           help="fit single-metric thresholds only, no combined score")
    fit.add_argument("--data-dir", dest="more_dirs", type=Path, action="append", default=[], metavar="DIR",
                     help="another labelled folder pooled with DATA_DIR (repeatable; the same --sources and "
                          "--split apply)")
    fit.add_argument("--gradable-sources", default="", metavar="TEXT[,TEXT]",
                     help="unlabelled photos of sources containing one of these texts count as gradable "
                          "('good'): releases whose graders graded every photo, such as fundus-cameras")
    fit.add_argument("--per-source", action="store_true",
                     help="the false-reject target holds for each source on its own, not only over all")
    fit.add_argument("--backstop", type=float, metavar="SHARE",
                     help="then set every fitted threshold the fit left off (or looser) where at most SHARE of "
                          "each source's gradable photos fail it, with 10%% to spare: no check is left off")
    fit.add_argument("--keep", default="", metavar="KEY[,KEY]",
                     help="thresholds kept at the starting profile's values: quality ones not fitted (the photos "
                          "they reject count in the target), not-fundus ones not loosened")
    fit.set_defaults(handler=run_calibrate)


def _selection_arguments(parser: argparse.ArgumentParser, default_split: str = "all") -> None:
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder with labels.csv and the images")
    parser.add_argument("--sources", default="all",
                        help="comma-separated: all, natural, enhanced, or text found in the source column "
                             "(default: all)")
    parser.add_argument("--split", choices=SPLITS, default=default_split,
                        help=f"patient-level split: tune ({TUNE_SHARE * 100:.0f}%% of patients), heldout, or all "
                             f"(default: {default_split})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_eval(config: Config, args: argparse.Namespace) -> int:
    thresholds = quality_profile(args.profile) if args.profile else config.quality
    images = select(read_labels(args.data_dir), sources=args.sources, split=args.split)
    progress = not args.no_progress
    if args.model is not None:
        with model_scorer(args.model) as scorer:
            verdicts = run_gate(images, thresholds, config.limits, scorer=scorer, framing=args.framing,
                                aim_off_to=args.aim_off, progress=progress)
    else:
        verdicts = run_gate(images, thresholds, config.limits, framing=args.framing, aim_off_to=args.aim_off,
                            progress=progress)
    non_fundus = non_fundus_check(thresholds)
    report: dict[str, Any] = {
        "data_dir": str(args.data_dir),
        "profile": thresholds.profile,
        "sources": args.sources,
        "split": args.split,
        "framing": args.framing,
        "aim_off": args.aim_off,
        "left_out": len(images) - len(verdicts),
        "summary": summarise(verdicts),
        "non_fundus": {"images": len(non_fundus), "rejected_not_fundus": sum(r["not_fundus"] for r in non_fundus),
                       "missed": [r for r in non_fundus if not r["not_fundus"]]},
    }
    if args.model is not None:
        report["model"] = {"manifest": str(args.model), **model_by_gate(verdicts)}
    if args.json:
        report["images"] = [v.to_dict(with_metrics=args.metrics) for v in verdicts]
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        print(_text(report))
    return 0


def run_calibrate(config: Config, args: argparse.Namespace) -> int:
    base = quality_profile(args.profile) if args.profile else config.quality
    keep = [k.strip() for k in args.keep.split(",") if k.strip()]
    keys = {rule.key for rule in RULES}
    unknown = [k for k in keep if k not in keys]
    if unknown:
        raise ConfigError(f"--keep: not a threshold of the gate's rules: {', '.join(unknown)} "
                          f"(one of {', '.join(sorted(keys))})")
    images = [image for folder in (args.data_dir, *args.more_dirs)
              for image in select(read_labels(folder), sources=args.sources, split=args.split)]
    measured, undecodable = measure_images(images, base, config.limits, progress=not args.no_progress)
    graded = [w.strip() for w in args.gradable_sources.split(",") if w.strip()]

    def label(image: LabelledImage) -> str | None:
        if image.quality:
            return image.quality
        return "good" if any(w in image.source for w in graded) else None

    samples = [Sample(metrics, quality, source_group(image.source))
               for image, metrics in measured if (quality := label(image))]
    fit = calibrate(samples, base, args.target_false_reject, usable_weight=args.usable_weight,
                    min_gain=args.min_gain, score=not args.no_score, per_group=args.per_source, keep=keep,
                    backstop=args.backstop)
    name = args.name or args.out.stem
    thresholds = dataclasses.replace(fit.thresholds, profile=name)
    non_fundus = non_fundus_check(thresholds)
    caught = sum(r["not_fundus"] for r in non_fundus)
    about: dict[str, str | int | float] = {
        "name": name,
        "fitted_on": f"{' + '.join(d.name for d in (args.data_dir, *args.more_dirs))}: "
                     f"sources={args.sources} split={args.split}",
        "command": "appliance quality-calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
        "target_false_reject": args.target_false_reject,
        "usable_weight": args.usable_weight,
        "min_gain": args.min_gain,
        "photos": len(samples),
        "undecodable": undecodable,
        "good_rejected": f"{fit.good_rejected}/{fit.good}",
        **({"gradable_rejected_per_source": " ".join(f"{g}={k}/{n}" for g, (k, n) in fit.per_group.items())}
           if args.per_source else {}),
        "reject_caught": f"{fit.reject_caught}/{fit.reject}",
        "non_fundus_rejected": f"{caught}/{len(non_fundus)}",
        "combined_score": "no" if args.no_score else "yes",
        "rules_in_fit_order": " ".join(fit.order),
        **({"backstop": args.backstop} if args.backstop is not None else {}),
    }
    args.out.write_text(profile_toml(thresholds, about))
    print(f"wrote {args.out}: profile '{name}' fitted on {len(samples)} labelled photos "
          f"({undecodable} undecodable skipped)")
    print(f"  good rejected {fit.good_rejected}/{fit.good}, reject caught {fit.reject_caught}/{fit.reject} "
          "(on the photos it was fitted to: evaluate on held-out photos with quality-eval)")
    for group, (k, n) in fit.per_group.items():
        print(f"  {group}: gradable (good + usable) rejected {k}/{n}")
    for key in fit.order:
        print(f"  {key} = {getattr(thresholds, key):.6g}")
    for key in fit.loosened:
        print(f"  loosened for this camera's gradable photos: {key} = {getattr(thresholds, key):.6g}")
    print(f"  negative controls rejected as not_fundus: {caught}/{len(non_fundus)}")
    missed = sorted({r["name"] for r in non_fundus if not r["not_fundus"]})
    if missed:
        print(f"  WARNING: not rejected as not_fundus: {', '.join(missed)}")
    return 0


def _text(report: dict[str, Any]) -> str:
    framing = f", framing={report['framing']}" if report.get("framing") else ""
    if report.get("aim_off") is not None:
        framing += (f", aimed off: disc at {report['aim_off']} radii, "
                    f"{report['left_out']} photos without a disc left out")
    lines = [f"quality gate, profile '{report['profile']}', on {report['data_dir']} "
             f"(sources={report['sources']}, split={report['split']}{framing})"]
    summary = report["summary"]
    for name, block in [("all", summary["all"]), *summary["by_source"].items()]:
        c = block["confusion"]
        lines += [
            f"\n[{name}] {block['images']} images, {block['passed']} passed",
            f"  passed:                      {_fmt(block['passed_rate'])}",
            f"  labels: {block['labels']}",
            "                 gate passed  gate rejected",
            f"  gradable      {c['gradable_passed']:11d}  {c['gradable_rejected']:13d}",
            f"  reject        {c['reject_passed']:11d}  {c['reject_caught']:13d}",
            f"  reject caught (sensitivity): {_fmt(block['reject_sensitivity'])}",
            f"  good rejected:               {_fmt(block['good_false_reject_rate'])}",
            f"  usable rejected:             {_fmt(block['usable_false_reject_rate'])}",
            f"  unlabelled rejected:         {_fmt(block['unlabelled_rejected_rate'])}",
            f"  reasons: {block['reasons']}",
        ]
    nf = report["non_fundus"]
    lines.append(f"\nnon-fundus negative controls rejected as not_fundus: {nf['rejected_not_fundus']}/{nf['images']}")
    for row in nf["missed"]:
        lines.append(f"  missed: {row['name']} {row['size']} seed {row['seed']}: {row['reason_codes'] or 'passed'}")
    if "model" in report:
        lines.append(f"\nmodel {report['model']['manifest']}: referable-DR AUC by gate verdict")
        for name, block in [("all", report["model"]["all"]), *report["model"]["by_source"].items()]:
            for verdict in ("passed", "rejected"):
                b = block[verdict]
                auc = "n/a" if b["auc"] is None else f"{b['auc']:.3f}"
                lines.append(f"  [{name}] gate {verdict:8s}: AUC {auc} on {b['images']} images "
                             f"({b['referable']} referable)")
    return "\n".join(lines)


def _fmt(rate: dict[str, Any]) -> str:
    if rate["rate"] is None:
        return "n/a"
    lo, hi = rate["ci95"]
    return f"{rate['rate']:.1%} ({rate['k']}/{rate['n']}, 95% CI {lo:.1%}-{hi:.1%})"
