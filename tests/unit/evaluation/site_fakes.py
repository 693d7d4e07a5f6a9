"""Test doubles for site validation: a labelled folder of synthetic fundus photos whose referable photos the
tiny model scores higher, and the tiny model's manifest with or without a [validation] section."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import cv2
from model_fakes import manifest_fields, tiny_onnx, to_toml

from tests.unit.evaluation.eval_fakes import HEADER
from tests.unit.quality import synthetic_fundus

#: Brightness of the photos: the tiny model's score rises with the mean pixel, so referable photos are brighter.
REFERABLE_LEVELS = (1.0, 0.97, 0.94, 0.91)
NOT_REFERABLE_LEVELS = (0.9, 0.86, 0.83, 0.8)


def write_site_folder(folder: Path, *, n_referable: int = 4, n_not_referable: int = 4) -> Path:
    """Gradable synthetic photos, referable (grades 2-4) brighter than non-referable (grades 0-1); labels.csv."""
    (folder / "img").mkdir(parents=True)
    rows = []
    for k in range(n_referable + n_not_referable):
        referable = k < n_referable
        levels = REFERABLE_LEVELS if referable else NOT_REFERABLE_LEVELS
        image = synthetic_fundus.darken(synthetic_fundus.fundus(300, 400, seed=k), levels[k % len(levels)])
        cv2.imwrite(str(folder / "img" / f"p{k}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        grade = 2 + k % 3 if referable else k % 2
        rows.append(f"img/p{k}.png,{grade},{int(referable)},good,site-camera,photo{k}.jpg")
    (folder / "labels.csv").write_text(HEADER + "\n".join(rows) + "\n")
    return folder


def validation_section(not_referable: list[float], referable: list[float]) -> dict[str, Any]:
    """A [validation] table at the quartile levels."""
    return {
        "data": "pooled natural-colour validation photos (test fixture)",
        "quantile_levels": [0.1, 0.25, 0.5, 0.75, 0.9],
        "not_referable_quantiles": not_referable, "referable_quantiles": referable,
        "n_referable": 120, "n_not_referable": 480, "target_sensitivity": 0.75,
        "sensitivity": 0.76, "specificity": 0.8,
    }


def write_site_manifest(folder: Path, *, threshold: float = 0.5, validation: dict[str, Any] | None = None) -> Path:
    """The tiny model and its manifest (with `validation` as its [validation] section when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_onnx()
    (folder / "model.onnx").write_bytes(model)
    fields = copy.deepcopy(manifest_fields("model.onnx", hashlib.sha256(model).hexdigest()))
    fields["threshold"]["operating"] = threshold
    if validation is not None:
        fields["validation"] = validation
    path = folder / "model.toml"
    path.write_text(to_toml(fields))
    return path


def write_config(folder: Path, manifest: Path, extra: str = "") -> Path:
    """An appliance config with its store under `folder`/var and the given model."""
    path = folder / "appliance.toml"
    path.write_text(f'data_dir = "{folder / "var"}"\nlog_level = "WARNING"\n'
                    f'[model]\nmanifest = "{manifest}"\nrunner = "onnxruntime"\n{extra}')
    return path
