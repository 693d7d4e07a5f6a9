"""Test doubles for the evaluation tests: the tiny ONNX model with a manifest, a labelled folder of synthetic photos."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import cv2
import numpy as np
from model_fakes import manifest_fields, tiny_onnx, to_toml

from tests.unit.quality import synthetic_fundus

HEADER = "file,dr_grade,referable,quality,source,original_name\n"


def write_tiny_manifest(folder: Path, threshold: float = 0.5) -> Path:
    """The tiny model (sigmoid of the mean input) and its manifest in `folder`; returns the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_onnx()
    (folder / "model.onnx").write_bytes(model)
    fields = copy.deepcopy(manifest_fields("model.onnx", hashlib.sha256(model).hexdigest()))
    fields["threshold"]["operating"] = threshold
    path = folder / "model.toml"
    path.write_text(to_toml(fields))
    return path


def write_synthetic_folder(folder: Path) -> Path:
    """Fundus-like photos, a grey document, a blue picture, a missing and a corrupt file, an unlabelled photo."""
    (folder / "img").mkdir(parents=True)
    rows = []
    for k in range(4):
        image = synthetic_fundus.fundus(300, 400, seed=k)
        if k % 2:
            image = synthetic_fundus.darken(image, 0.8)
        cv2.imwrite(str(folder / "img" / f"f{k}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows.append(f"img/f{k}.png,{2 * (k % 2)},{k % 2},good,camera-a,")
    # A grey document is refused by the decoder (image_grayscale); a blue gradient is decoded, then not a fundus.
    cv2.imwrite(str(folder / "img" / "doc.png"), synthetic_fundus.document(400, 300))
    sky = np.zeros((300, 400, 3), np.uint8)
    sky[:, :, 0] = np.linspace(120, 250, 400, dtype=np.uint8)[None, :]  # OpenCV order: blue first
    sky[:, :, 1] = 90
    cv2.imwrite(str(folder / "img" / "sky.png"), sky)
    rows += ["img/doc.png,0,0,reject,camera-b,", "img/sky.png,3,1,,camera-b,"]
    rows.append("img/missing.jpg,0,0,,camera-b,")
    (folder / "img" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    rows.append("img/bad.jpg,4,1,,camera-b,")
    cv2.imwrite(str(folder / "img" / "unlabelled.png"),
                cv2.cvtColor(synthetic_fundus.fundus(300, 400, seed=9), cv2.COLOR_RGB2BGR))
    rows.append("img/unlabelled.png,,,,camera-a,")
    (folder / "labels.csv").write_text(HEADER + "\n".join(rows) + "\n")
    return folder
