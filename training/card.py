"""Write models/CARD.md, the model card, from the measured figures of a training run and its export."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from appliance.inference.preprocess import InputSpec


def _auc_rows(by_source: dict[str, dict[str, Any]], split: str) -> list[str]:
    return [f"| {split} | {src} | {m['auc']:.3f} | {m['positive']} | {m['negative']} |"
            for src, m in by_source.items()]


def _ci(m: dict[str, Any], key: str) -> str:
    e = m[key]
    if e["value"] is None:
        return "n/a"
    interval = "" if e["low"] is None else f" ({e['low']:.3f}-{e['high']:.3f})"
    return f"{e['value']:.3f}{interval}"


def _metric_rows(metrics: dict[str, dict[str, Any]], split: str) -> list[str]:
    return [f"| {split} | {src} | {m['n_referable']} / {m['n_not_referable']} | {_ci(m, 'auc')} | "
            f"{_ci(m, 'sensitivity')} | {_ci(m, 'specificity')} |" for src, m in metrics.items()]


def _recipe(cfg: dict[str, Any]) -> list[str]:
    """Method lines for the options a run may have set (absent in runs made before they existed)."""
    lines = []
    if cfg.get("init_from"):
        lines.append(f"- Started from the weights of `{cfg['init_from']}` (its command is listed under "
                     "Reproduce), with a fresh optimiser and schedule.")
    if cfg.get("natural_weight", 1.0) != 1.0:
        lines.append(f"- Natural-colour images weigh {cfg['natural_weight']:g}x in the loss (they are the "
                     "rendering the appliance sees, and only 12.5 % of the training images).")
    if cfg.get("camera_aug"):
        lines.append("- Other-camera augmentation: JPEG re-encoding (quality 30-90) and Gaussian blur (sigma "
                     "0.3-1.5 px), each on 30 % of the images.")
    if cfg.get("balance_sources"):
        lines.append("- Loss weights balance each source's referable and non-referable photos (half the source's "
                     "weight each; no pos_weight): sources differ in their share of referable photos (EyePACS "
                     "~20 %, APTOS and IDRiD ~60 %), and a model that could tell the camera apart would "
                     "otherwise learn that share as a prior, moving its scores with the camera.")
    if cfg.get("enhanced_share", 1.0) < 1.0:
        lines.append(f"- Each epoch draws a fresh random {100 * cfg['enhanced_share']:.0f} % of the enhanced "
                     "EyePACS renderings (every natural-colour photo every epoch).")
    if cfg.get("select_on") == "natural":
        lines.append("- The best epoch is chosen on the AUC of the validation split's natural-colour photos of "
                     "every source (what a camera produces), not on the enhanced renderings.")
    if cfg.get("bf16"):
        lines.append("- Training steps under bfloat16 autocast (weights, optimiser and evaluation in float32), "
                     "channels-last memory layout.")
    return lines


def write_card(path: Path, name: str, version: str, spec: InputSpec, report: dict[str, Any],
               summary: dict[str, Any], command: str, notes: str = "") -> None:
    """Render the card. `report` is the run's report.json, `summary` the export's measurements,
    `notes` optional markdown (choices and caveats of this version) placed after the figures."""
    cfg, counts = report["config"], summary["counts"]
    count_rows = [f"| {n} | {c['images']} | {c['patients']} | {c['positive']} | {c['negative']} | "
                  f"{c['natural']} | {c['enhanced']} | {c['eyeq_reject_excluded']} |"
                  for n, c in counts.items()]
    history = [f"| {h['epoch']} | {h['loss']:.4f} | {h['val_auc']:.4f} | {h['seconds']:.0f} |"
               for h in report["history"]]
    val, test = summary["val"], summary["test"]
    lines = [
        f"# Model card: {name} {version}",
        "",
        "> **Reference model for development. NOT clinically validated. Not for diagnostic use.**",
        "> It exists to build and test the appliance end to end; a product model needs external, "
        "multi-site clinical validation.",
        "",
        "## What it is",
        f"- Per-image probability (0..1) of referable diabetic retinopathy (ICDR grade >= 2; macular oedema "
        f"not considered). File `{name}-{version}.onnx` ({summary['bytes']:,} bytes), "
        f"manifest `{name}.toml`.",
        "- MobileNetV2 1.0 (plain PyTorch, `training/nets.py`), ImageNet-1k initialisation from the "
        "dequantised int8 torchvision-layout weights, new head Linear(1280, 1); the ONNX applies "
        "the sigmoid.",
        f"- Input `image` float32 [N, 3, {spec.size}, {spec.size}], RGB, made by "
        f"`appliance.inference.preprocess.preprocess` ("
        + ("camera_normalise = true: the square is cut around the aperture circle the quality gate fits, so "
           "every framing lands at one scale; local average over field pixels only (no halo at the rim), the "
           "detail scaled to one spread, everything outside 90 % of the radius or outside the camera's frame "
           "set to mid-grey" if spec.camera_normalise else
           f"crop to the field of view, square, resize; local_contrast = {str(spec.local_contrast).lower()}")
        + f"; mean {list(spec.mean)}, std {list(spec.std)}). "
        f"Output `referable_probability` float32 [N, 1]. ONNX opset 17, dynamic batch; onnxruntime matches "
        f"torch within {summary['max_abs_diff']:.1e}.",
        *([f"- Heatmap: `{summary['heatmap']['file']}` gives the referable-DR logit per region of the last "
           "feature map (class activation; its mean is the score's logit, checked within "
           f"{summary['heatmap']['mean_vs_score']:.1e}). The kiosk shows it on request over the model's view "
           "of a photo. A review aid only: not validated as a lesion detector."]
          if summary.get("heatmap") else []),
        "",
        "## Data",
        "EyePACS (Kaggle DR 2015) images of the fundus dev set: natural-colour photographs and a subset "
        "already enhanced by a third party (not natural colour). Labels are single-grader Kaggle grades "
        "(noisy). The IDRiD segmentation photos there have no grade and are not used. Images that EyeQ "
        "labels `reject` are excluded from every split (their grades are unreliable; the quality gate "
        "rejects such images).",
        *([
            "",
            "Natural-colour photos of other cameras and populations (`../shared/data/fundus-cameras`): IDRiD "
            "(India, Kowa VX-10α), APTOS 2019 (India, many cameras; released as 224 px squares with the aspect "
            "ratio lost) and ODIR-5K (China; Canon, Zeiss, Kowa; grades mapped from diagnostic keywords, "
            "noisier). Split by their `patient` column (both eyes of an ODIR patient together).",
            "",
            "| split | source | photos | referable |", "|---|---|---|---|",
            *[f"| {n} | {src} | {v['images']} | {v['positive']} |"
              for n, c in counts.items() for src, v in c.get("by_source", {}).items()],
        ] if any(c.get("by_source") for c in counts.values()) else []),
        "",
        "Split: patient-level, by sha256 of the patient id (both eyes of a patient in the same split), "
        "70/15/15.",
        "",
        "| split | images | patients | referable | not referable | natural | enhanced "
        "| EyeQ rejects excluded |",
        "|---|---|---|---|---|---|---|---|",
        *count_rows,
        "",
        "## Method",
        f"- {cfg['epochs']} epochs, batch {cfg['batch']}, AdamW (lr {cfg['lr']}, weight decay "
        f"{cfg['weight_decay']}), linear warm-up then cosine decay, BCE with "
        "pos_weight = negatives/positives "
        f"of the training split, BatchNorm in train mode, seed {cfg['seed']}, {cfg['threads']} CPU threads.",
        ("- Augmentation on the cached squares: horizontal flip, rotation by any angle, scale 0.9-1.1, a squash "
         "of up to 15 % on one axis, the framing of a camera whose aperture is wider than its sensor (35 % of "
         "photos lose a band at top and bottom, 15 % on all four sides, to mid-grey), detail contrast x0.75-1.33, "
         "per-channel gain x0.85-1.15, a small offset; mid-grey stays mid-grey."
         if spec.camera_normalise else
         "- Augmentation on the cached squares: horizontal flip, rotation by any angle, scale 0.9-1.1, "
         "brightness and contrast x0.8-1.2, gamma exp(+-0.2), inside the field of view only."),
        *_recipe(cfg),
        f"- Score: {summary.get('scoring', 'plain sigmoid of the logit')}.",
        f"- Validation AUC after every epoch; the best epoch ({report['best_epoch']}) is kept. "
        "The test split "
        "was scored once, at the end.",
        f"- Wall time of the training command: {report['wall_seconds_this_invocation'] / 60:.1f} min "
        "(its last invocation; caching, training and evaluation) on 2 CPU cores shared with other jobs.",
        "",
        "| epoch | train loss | val AUC | seconds |",
        "|---|---|---|---|",
        *history,
        "",
        "## Measured performance (onnxruntime outputs of the exported file)",
        "",
        f"Operating threshold **{val['threshold']}** (refer when probability >= threshold), chosen on the "
        "validation split only"
        + (", on the natural-colour photos of every source pooled (never on the enhanced renderings)"
           if summary.get("threshold_on") == "natural" else "")
        + f": sensitivity >= {summary.get('target_sensitivity', 0.87)}, then highest specificity. "
        "Every image of the split, "
        "no quality gate (`appliance evaluate` gives the gated figures). 95 % stratified bootstrap "
        "intervals, 1,000 replicates.",
        "",
        *(["| split | source | referable / not | AUC (95 % CI) | sensitivity (95 % CI) "
           "| specificity (95 % CI) |", "|---|---|---|---|---|---|",
           *_metric_rows(summary["metrics"]["val"], "validation"),
           *_metric_rows(summary["metrics"]["test"], "test")] if "metrics" in summary else [
            "| split | source | AUC | referable (n) | not referable (n) |", "|---|---|---|---|---|",
            *_auc_rows(summary["by_source"]["val"], "validation"),
            *_auc_rows(summary["by_source"]["test"], "test"), "",
            "| split | sensitivity | specificity |", "|---|---|---|",
            f"| validation | {val['sensitivity']:.3f} | {val['specificity']:.3f} |",
            f"| test | {test['sensitivity']:.3f} | {test['specificity']:.3f} |"]),
        "",
        "These are per-image figures on the held-out patients of these data sets; they say nothing about "
        "cameras, populations or graders not in them.",
        "",
        *([notes.strip(), ""] if notes.strip() else []),
        "## Reproduce",
        "```sh",
        *command.split(" && "),
        "```",
        "",
        "## Intended use and limits",
        "- Intended: development and testing of the screening appliance (pipeline, runners, INT8 "
        "calibration, kiosk), and as a baseline for better models.",
        "- Not intended: any clinical or diagnostic decision. Not clinically validated. Trained on a "
        f"CPU at {spec.size} px for {cfg['epochs']} epochs; small lesions (microaneurysms) may be missed.",
        "",
        "## Licences",
        "- EyePACS / Kaggle DR 2015 data: non-commercial research and education only.",
        "- IDRiD: CC BY 4.0 (Porwal et al., Data 2018). APTOS 2019: Kaggle competition data, non-commercial "
        "research. ODIR-5K: challenge data (Peking University), research use.",
        "- EyeQ quality labels: CC BY-NC-SA 4.0 (Fu et al., MICCAI 2019).",
        "- Initial weights: MobileNetV2 ImageNet weights (torchvision BSD-3-Clause; ONNX Model Zoo int8 "
        "release, Apache-2.0).",
        "- Being trained on non-commercial data, this model is for research and development use only.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Re-render a card from an exported run (its report.json and export.json) with new notes."""
    p = argparse.ArgumentParser(prog="python -m training.card", description=main.__doc__)
    p.add_argument("--run", type=Path, required=True, help="training/runs/<name>, exported")
    p.add_argument("--notes", type=Path, default=None, help="markdown placed after the figures")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "CARD.md")
    args = p.parse_args(argv)
    report = json.loads((args.run / "report.json").read_text())
    exported = json.loads((args.run / "export.json").read_text())
    spec = InputSpec(**{**exported["spec"], "mean": tuple(exported["spec"]["mean"]),
                        "std": tuple(exported["spec"]["std"])})
    notes = args.notes.read_text() if args.notes else ""
    write_card(args.out, exported["name"], exported["version"], spec, report, exported["summary"],
               exported["command"], notes)


if __name__ == "__main__":
    main()
