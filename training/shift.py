"""Simulated camera shift: perturbed copies of a split, for `appliance evaluate` to judge.

    python -m training.shift --out /tmp/shift            # writes /tmp/shift/<perturbation>/
    for d in /tmp/shift/*/; do appliance evaluate "$d" --json > "$d/report.json"; done
    python -m training.shift --summarise /tmp/shift      # markdown table of the reports

The product is judged on photos from other cameras, which this repository does not have. This is a
first, synthetic view of that shift: each folder holds the test split's photos (patient-held-out)
after one change a different camera or setting could make (harder JPEG compression, softer focus,
under- or over-exposure, a colour cast, fewer pixels), with the dev set's labels.csv rows, so the
whole appliance path (quality gate included) scores them exactly as it would a new site's folder.
It says nothing about real other cameras; it shows which kind of change the locked threshold
tolerates and which it does not.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from appliance.evaluation.dataset import default_data_dir
from appliance.evaluation.split import file_split

Image = npt.NDArray[np.uint8]


def _gamma(image: Image, gamma: float) -> Image:
    table = (255.0 * (np.arange(256) / 255.0) ** gamma).round().astype(np.uint8)
    return np.asarray(cv2.LUT(image, table), np.uint8)


def _jpeg(image: Image, quality: int) -> Image:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)


def _blur(image: Image, sigma_at_512: float) -> Image:
    sigma = sigma_at_512 * max(image.shape[:2]) / 512.0  # the same optical softness at any resolution
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8)


def _cast(image: Image, gains_bgr: tuple[float, float, float]) -> Image:
    return np.asarray(np.clip(image.astype(np.float32) * np.array(gains_bgr, np.float32), 0, 255), np.uint8)


def _fewer_pixels(image: Image, share: float) -> Image:
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * share)), max(1, round(h * share))), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


#: name -> (what it stands for, the change on a BGR uint8 photo).
PERTURBATIONS: dict[str, tuple[str, Callable[[Image], Image]]] = {
    "jpeg30": ("JPEG re-encoded at quality 30", lambda im: _jpeg(im, 30)),
    "blur": ("Gaussian blur, sigma 1.5 px per 512 px", lambda im: _blur(im, 1.5)),
    "dark": ("under-exposed: gamma 1.6", lambda im: _gamma(im, 1.6)),
    "bright": ("over-exposed: gamma 0.6", lambda im: _gamma(im, 0.6)),
    "warm": ("colour cast: red x1.15, blue x0.8", lambda im: _cast(im, (0.8, 1.0, 1.15))),
    "half_res": ("half the pixels per side, scaled back up", lambda im: _fewer_pixels(im, 0.5)),
}


def split_rows(data_dir: Path, split: str) -> list[dict[str, str]]:
    """labels.csv rows with a known `referable` whose patient falls in `split` (the evaluation's split rule,
    the same as training's)."""
    with open(data_dir / "labels.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row["referable"] != "" and file_split(row["file"]) == split]


def write_shifted(data_dir: Path, out: Path, split: str = "test", names: list[str] | None = None,
                  limit: int | None = None) -> dict[str, int]:
    """One folder per perturbation under `out`, each with images/ and labels.csv. Returns photos written."""
    rows = split_rows(data_dir, split)[:limit]
    written = {}
    for name in names or list(PERTURBATIONS):
        change = PERTURBATIONS[name][1]
        folder = out / name
        (folder / "images").mkdir(parents=True, exist_ok=True)
        kept = []
        for row in rows:
            image = cv2.imread(str(data_dir / row["file"]), cv2.IMREAD_COLOR)
            if image is None:
                continue  # unreadable originals are the evaluation's business, not this copy's
            target = folder / row["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), change(image), [cv2.IMWRITE_JPEG_QUALITY, 95])
            kept.append(row)
        with open(folder / "labels.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["file"])
            writer.writeheader()
            writer.writerows(kept)
        written[name] = len(kept)
    return written


def _natural_colour(per_source: dict[str, Any]) -> dict[str, Any] | None:
    """The largest natural-colour EyePACS source's photos (source names `eyepacs:<repository>`)."""
    natural = [v["all_scored"] for k, v in per_source.items() if k.startswith("eyepacs:")]
    return max(natural, key=lambda m: m["n"]) if natural else None


def _cell(m: dict[str, Any], key: str) -> str:
    e = m[key]
    return "n/a" if e["value"] is None else f"{e['value']:.3f} ({e['low']:.3f}-{e['high']:.3f})"


def summarise(out: Path, reference: Path | None = None) -> str:
    """Markdown table from <out>/<name>/report.json (and an unperturbed reference report, if given)."""
    reports = [("none (reference)", reference)] if reference else []
    reports += [(name, out / name / "report.json") for name in PERTURBATIONS if (out / name / "report.json").exists()]
    lines = ["| change | photos | gate passed | AUC, all photos (95 % CI) | sensitivity | specificity "
             "| natural-colour sensitivity |", "|---|---|---|---|---|---|---|"]
    for name, path in reports:
        if path is None:
            continue
        r = json.loads(path.read_text())
        everything = r["all_scored"]
        natural = _natural_colour(r["per_source"])
        label = PERTURBATIONS[name][0] if name in PERTURBATIONS else name
        lines.append(
            f"| {label} | {everything['n']} | {r['imageability']['share']:.3f} | {_cell(everything, 'auc')} | "
            f"{_cell(everything, 'sensitivity')} | {_cell(everything, 'specificity')} | "
            f"{_cell(natural, 'sensitivity') if natural else 'n/a'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.shift", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, help="write the perturbed folders here")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--only", nargs="*", choices=list(PERTURBATIONS), help="these perturbations only")
    p.add_argument("--limit", type=int, default=None, help="at most this many photos (smoke runs)")
    p.add_argument("--summarise", type=Path, help="print the table of <folder>/<name>/report.json")
    p.add_argument("--reference", type=Path, help="report.json of the unperturbed split, for the first row")
    args = p.parse_args(argv)
    if args.summarise:
        print(summarise(args.summarise, args.reference), end="")
    elif args.out:
        print(json.dumps(write_shifted(args.data_dir, args.out, args.split, args.only, args.limit)))
    else:
        p.error("give --out or --summarise")


if __name__ == "__main__":
    main()
