"""The optional class-activation heatmap: its manifest section, the hash-checked model, the overlay."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from model_fakes import WriteManifest, tiny_heatmap_onnx

from appliance.errors import ManifestError, ModelIntegrityError
from appliance.inference.heatmap import HeatmapModel, HeatmapUnavailableError, overlay
from appliance.inference.manifest import load_manifest


def _with_heatmap(write_manifest: WriteManifest, tmp_path: Path, data: bytes | None = None,
                  **overrides: Any) -> Path:
    data = tiny_heatmap_onnx() if data is None else data
    (tmp_path / "heat.onnx").write_bytes(data)
    section = {"file": "heat.onnx", "sha256": hashlib.sha256(data).hexdigest(), "output": "referable_heatmap",
               **overrides}
    return write_manifest(lambda d: d.update(heatmap=section))


def _photo(side: int = 64) -> np.ndarray:
    image = np.zeros((side, side + 16, 3), np.uint8)
    cv2.circle(image, (side // 2 + 8, side // 2), side // 2 - 2, (170, 80, 40), -1)
    cv2.circle(image, (side // 2 + 20, side // 2), 6, (250, 250, 250), -1)  # one bright spot
    return image


def test_the_heatmap_section_is_optional_and_parsed(write_manifest: WriteManifest, tmp_path: Path) -> None:
    assert load_manifest(write_manifest()).heatmap is None
    m = load_manifest(_with_heatmap(write_manifest, tmp_path, meaning="logit per region"))
    assert m.heatmap is not None and m.heatmap.path == tmp_path / "heat.onnx"
    assert (m.heatmap.output_name, m.heatmap.meaning) == ("referable_heatmap", "logit per region")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"colour": "red"}, r"unknown key \[heatmap\] 'colour'"),
    ({"sha256": "abc"}, r"\[heatmap\] 'sha256' must be 64 hexadecimal"),
    ({"output": ""}, r"\[heatmap\] 'output' must not be empty"),
])
def test_a_broken_heatmap_section_is_refused(write_manifest: WriteManifest, tmp_path: Path,
                                             overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        load_manifest(_with_heatmap(write_manifest, tmp_path, **overrides))


def test_the_map_and_its_png_come_from_the_model(write_manifest: WriteManifest, tmp_path: Path) -> None:
    model = HeatmapModel(load_manifest(_with_heatmap(write_manifest, tmp_path)))
    cam = model.activation_map(_photo())
    assert cam.shape == (4, 4) and cam.dtype == np.float32 and np.ptp(cam) > 0  # 8 px input, 2x2 pooling
    png = cv2.imdecode(np.frombuffer(model.overlay_png(_photo()), np.uint8), cv2.IMREAD_COLOR)
    assert png is not None and png.shape == (8, 8, 3)  # the model's view: input size, square


def test_a_tampered_heatmap_model_is_not_loaded(write_manifest: WriteManifest, tmp_path: Path) -> None:
    model = HeatmapModel(load_manifest(_with_heatmap(write_manifest, tmp_path)))
    (tmp_path / "heat.onnx").write_bytes(tiny_heatmap_onnx() + b"\0")
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        model.activation_map(_photo())


def test_no_heatmap_model_is_a_typed_404(write_manifest: WriteManifest) -> None:
    with pytest.raises(HeatmapUnavailableError) as err:
        HeatmapModel(load_manifest(write_manifest()))
    assert err.value.http_status == 404 and err.value.reason_code == "heatmap_unavailable"


def test_overlay_colours_high_regions_red_and_leaves_the_surround_black() -> None:
    view = np.zeros((32, 32, 3), np.uint8)
    cv2.circle(view, (16, 16), 14, (120, 120, 120), -1)
    cam = np.zeros((4, 4), np.float32)
    cam[1:3, 2:4] = 5.0  # evidence on the right half, centre rows
    out = overlay(view, cam)
    assert out.shape == view.shape and out.dtype == np.uint8
    assert (out[view.max(axis=2) == 0] == 0).all()  # outside the field of view: untouched black
    hot, cold = out[16, 24], out[16, 6]
    assert hot[0] > hot[1] + 40 and hot[0] > hot[2] + 40  # red (JET top) where the map is high
    assert abs(int(cold[0]) - 120) <= 25  # nearly the photo where the map is low
    assert np.array_equal(overlay(view, np.ones((4, 4), np.float32)), view)  # a flat map adds nothing
