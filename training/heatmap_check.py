"""Where the model looks: the heatmap's mass at the rim of the field, and on bright lesions.

    python -m training.heatmap_check --manifest models/dr-reference.toml --out models/heatmap-check

Two measures, both in the model's own view (the square its input is made from) and with the
appliance's own heatmap model (`appliance.inference.heatmap.HeatmapModel`):

1. **Rim share.** The heatmap is made non-negative per photo (its minimum subtracted), upsampled to
   the view and normalised to sum 1. The *inner field* is the field of view eroded by 10 % of the
   view's side, the *rim* the band of field outside it, the *surround* the rest. For each region:
   its mean share of the mass and of the area, and their ratio. A model that uses the edge of the
   field as a cue has a rim ratio well above 1; one that looks at the retina, an inner ratio above
   1. Also the share of photos whose hottest point lies in each region. Measured on natural-colour
   test photos of every source.
2. **Bright lesions.** On IDRiD test photos of grade 3-4 (hard exudates are common there), bright
   yellow-white spots are found in the natural-colour view: much brighter than their neighbourhood
   in red and green, away from the optic disc (the brightest blurred spot, masked with a disc of
   12 % of the side). The *enrichment* is the heatmap mass on those spots (dilated 3 px) divided by
   their area share: 1 means the heatmap ignores them, above 1 that it is drawn to them. A heuristic
   lesion finder, not graders' annotations: the figure says whether the heat falls where exudates
   are, not whether every lesion is found.

Writes <out>.json (per photo and summary) and <out>.png (IDRiD photos beside their overlays; IDRiD
is CC BY 4.0, Porwal et al. 2018).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import LimitsConfig
from appliance.evaluation.dataset import LabelledImage, default_cameras_dir, default_data_dir, read_labels
from appliance.imaging import decode_image
from appliance.inference.heatmap import HeatmapModel, overlay
from appliance.inference.manifest import load_manifest
from appliance.inference.preprocess import FOV_LEVEL, natural_square
from training.data import ENHANCED_SOURCE

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float64]
#: The inner field is the field of view eroded by this share of the view's side.
RIM_SHARE = 0.10
#: Bright-lesion finder: a pixel this much brighter (0..255) than its neighbourhood in red and green.
LESION_EXCESS = 28.0
#: The optic disc (brightest blurred spot) is masked with a disc of this share of the side.
DISC_SHARE = 0.12


def heat_mass(cam: npt.NDArray[np.float32], side: int) -> Floats:
    """The heatmap as a non-negative mass over the view's pixels, summing to 1."""
    rel = cam.astype(np.float64) - float(cam.min())
    up = np.clip(cv2.resize(rel, (side, side), interpolation=cv2.INTER_CUBIC), 0, None)
    total = float(up.sum())
    return up / total if total > 0 else np.full((side, side), 1.0 / side**2)


def field_masks(view: Image) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(field of view, inner field) of a natural-colour view."""
    side = view.shape[0]
    field = (view.max(axis=2) > FOV_LEVEL).astype(np.uint8)
    margin = max(1, round(RIM_SHARE * side))
    inner = cv2.erode(field, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    return field > 0, inner > 0


def bright_lesions(view: Image) -> npt.NDArray[np.bool_]:
    """Yellow-white spots far brighter than their surround in red and green, away from the optic disc."""
    side = view.shape[0]
    field, inner = field_masks(view)
    rg = view[..., :2].astype(np.float32)
    background = cv2.medianBlur(view, 2 * (side // 24) + 1)[..., :2].astype(np.float32)
    excess = (rg - background).min(axis=2)
    spots = (excess > LESION_EXCESS) & inner
    brightness = cv2.GaussianBlur(view.max(axis=2).astype(np.float32) * inner, (0, 0), side / 25)
    y, x = np.unravel_index(int(np.argmax(brightness)), brightness.shape)
    yy, xx = np.mgrid[:side, :side]
    spots &= np.hypot(xx - x, yy - y) > DISC_SHARE * side
    return cv2.dilate(spots.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & field


def measure(model: HeatmapModel, image: Image) -> dict[str, Any]:
    """Rim share, area share and (where found) lesion enrichment of one photo."""
    view = natural_square(image, model.manifest.input)
    mass = heat_mass(model.activation_map(image), view.shape[0])
    field, inner = field_masks(view)
    rim = field & ~inner
    lesions = bright_lesions(view)
    out: dict[str, Any] = {"inner_mass": float(mass[inner].sum()), "inner_area": float(inner.mean()),
                           "rim_mass": float(mass[rim].sum()), "rim_area": float(rim.mean()),
                           "surround_mass": float(mass[~field].sum()), "surround_area": float((~field).mean())}
    peak = np.unravel_index(int(np.argmax(mass)), mass.shape)
    out["peak"] = "inner" if inner[peak] else "rim" if rim[peak] else "surround"
    if lesions.any():
        out["lesion_mass"] = float(mass[lesions].sum())
        out["lesion_area"] = float(lesions.mean())
        out["lesion_enrichment"] = out["lesion_mass"] / out["lesion_area"]
    return out


def _load(item: LabelledImage) -> Image:
    return decode_image(item.path.read_bytes(), LimitsConfig())


def run(manifest_path: Path, folders: list[Path], limit: int, lesion_photos: int, out: Path) -> dict[str, Any]:
    manifest = load_manifest(manifest_path)
    model = HeatmapModel(manifest, threads=2)
    rows = [r for f in folders for r in read_labels(f)
            if r.split == "test" and r.referable is not None and not r.source.startswith(ENHANCED_SOURCE)]
    by_source: dict[str, list[LabelledImage]] = {}
    for r in rows:
        by_source.setdefault(r.source.split(":")[0], []).append(r)
    per_source: dict[str, Any] = {}
    for source, items in sorted(by_source.items()):
        figures = [measure(model, _load(i)) for i in items[:limit]]
        entry: dict[str, Any] = {"photos": len(figures)}
        for region in ("inner", "rim", "surround"):
            m = float(np.mean([f[f"{region}_mass"] for f in figures]))
            a = float(np.mean([f[f"{region}_area"] for f in figures]))
            peaks = float(np.mean([f["peak"] == region for f in figures]))
            entry[region] = {"mass": m, "area": a, "ratio": m / a if a > 0 else None, "peak_share": peaks}
        per_source[source] = entry
    lesion_items = [r for r in by_source.get("idrid-grading", []) if (r.dr_grade or 0) >= 3][:lesion_photos]
    lesion_rows, tiles = [], []
    for item in lesion_items:
        image = _load(item)
        figures = measure(model, image)
        lesion_rows.append({"file": item.file, "grade": item.dr_grade, **figures})
        view = natural_square(image, manifest.input)
        tiles.append(np.hstack([view, overlay(view, model.activation_map(image))]))
    enrichment = [r["lesion_enrichment"] for r in lesion_rows if "lesion_enrichment" in r]
    summary = {
        "model": f"{manifest.name} {manifest.version}", "sha256": manifest.sha256,
        "method": {"rim_share": RIM_SHARE, "lesion_excess": LESION_EXCESS, "disc_share": DISC_SHARE},
        "rim": per_source,
        "lesions": {"photos": len(lesion_rows), "with_spots": len(enrichment),
                    "enrichment_median": float(np.median(enrichment)) if enrichment else None,
                    "enrichment_above_1": int(sum(e > 1 for e in enrichment)), "per_photo": lesion_rows},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    if tiles:
        rows_of_tiles = [np.hstack(tiles[k:k + 2]) if len(tiles[k:k + 2]) == 2 else
                         np.hstack([tiles[k], np.zeros_like(tiles[k])]) for k in range(0, len(tiles), 2)]
        cv2.imwrite(str(out.with_suffix(".png")), cv2.cvtColor(np.vstack(rows_of_tiles), cv2.COLOR_RGB2BGR))
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m training.heatmap_check", description=__doc__.split("\n")[0])
    p.add_argument("--manifest", type=Path, default=Path("models/dr-reference.toml"))
    p.add_argument("--data-dir", type=Path, action="append", default=None,
                   help="labelled folders (default: the dev set and the other cameras' folder)")
    p.add_argument("--limit", type=int, default=150, help="test photos per source for the rim share")
    p.add_argument("--lesion-photos", type=int, default=6, help="IDRiD grade 3-4 test photos for the lesion check")
    p.add_argument("--out", type=Path, default=Path("models/heatmap-check"))
    args = p.parse_args(argv)
    folders = args.data_dir or [d for d in (default_data_dir(), default_cameras_dir()) if (d / "labels.csv").exists()]
    summary = run(args.manifest, folders, args.limit, args.lesion_photos, args.out)
    print(json.dumps({k: v for k, v in summary.items() if k != "lesions"}, indent=2))
    print(json.dumps({k: v for k, v in summary["lesions"].items() if k != "per_photo"}, indent=2))
    return summary


if __name__ == "__main__":
    main()
