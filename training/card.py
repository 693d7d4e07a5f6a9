"""Write models/CARD.md, the model card, from the measured figures of a training run and its export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.inference.preprocess import InputSpec


def _auc_rows(by_source: dict[str, dict[str, Any]], split: str) -> list[str]:
    return [f"| {split} | {src} | {m['auc']:.3f} | {m['positive']} | {m['negative']} |"
            for src, m in by_source.items()]


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
        f"`appliance.inference.preprocess.preprocess` (crop to the field of view, square, resize; "
        f"local_contrast = {str(spec.local_contrast).lower()}; mean {list(spec.mean)}, "
        f"std {list(spec.std)}). "
        f"Output `referable_probability` float32 [N, 1]. ONNX opset 17, dynamic batch; onnxruntime matches "
        f"torch within {summary['max_abs_diff']:.1e}.",
        "",
        "## Data",
        "EyePACS (Kaggle DR 2015) images of the fundus dev set: natural-colour photographs and a subset "
        "already enhanced by a third party (not natural colour). Labels are single-grader Kaggle grades "
        "(noisy). IDRiD images have no grade and are not used. Images that EyeQ labels `reject` are "
        "excluded from every split (their grades are unreliable; the quality gate rejects such images).",
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
        "- Augmentation on the cached squares: horizontal flip, rotation by any angle, scale 0.9-1.1, "
        "brightness and contrast x0.8-1.2, gamma exp(+-0.2), inside the field of view only.",
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
        "| split | source | AUC | referable (n) | not referable (n) |",
        "|---|---|---|---|---|",
        *_auc_rows(summary["by_source"]["val"], "validation"),
        *_auc_rows(summary["by_source"]["test"], "test"),
        "",
        f"Operating threshold **{val['threshold']}** (refer when probability >= threshold), chosen on the "
        "validation split only: sensitivity >= 0.87, then highest specificity.",
        "",
        "| split | sensitivity | specificity |",
        "|---|---|---|",
        f"| validation | {val['sensitivity']:.3f} | {val['specificity']:.3f} |",
        f"| test | {test['sensitivity']:.3f} | {test['specificity']:.3f} |",
        "",
        "These are per-image figures on one dataset's held-out patients; they say nothing about other "
        "cameras, populations or graders.",
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
        "- Not intended: any clinical or diagnostic decision. Not clinically validated. Trained at low "
        "resolution on CPU for a short time; small lesions (microaneurysms) may be missed.",
        "",
        "## Licences",
        "- EyePACS / Kaggle DR 2015 data: non-commercial research and education only.",
        "- EyeQ quality labels: CC BY-NC-SA 4.0 (Fu et al., MICCAI 2019).",
        "- Initial weights: MobileNetV2 ImageNet weights (torchvision BSD-3-Clause; ONNX Model Zoo int8 "
        "release, Apache-2.0).",
        "- Being trained on non-commercial data, this model is for research and development use only.",
        "",
    ]
    path.write_text("\n".join(lines))
