"""The quality gate measured against graders' labels on a labelled folder: the I/O side of
`appliance quality-eval` and `appliance quality-calibrate`.

Images are read and decoded here, the pure gate (appliance.quality) judges them, and the results
are summed up: the confusion of gradable (good + usable) against reject, the share of reject
photos caught, of good photos rejected, the reason codes, per source; optionally the DR model's
AUC on the photos the gate passed and on those it rejected.

Splits are by patient, so both eyes of a person fall on the same side: the patient id comes from
EyePACS file names (`eyepacs_<nat|enh|orig>_<patient>_<eye>.jpg`), else from a `patient` column
(fundus-cameras), else any other image is its own patient. A stable hash of the id puts
TUNE_SHARE of the patients in `tune`, the rest in `heldout`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from appliance.config import LimitsConfig, QualityConfig
from appliance.errors import ImageError
from appliance.evaluation.dataset import DatasetError, LabelledImage
from appliance.evaluation.metrics import roc_auc
from appliance.imaging import decode_image
from appliance.quality import assess, measure
from appliance.quality.field_of_view import find_field
from appliance.quality.framings import FRAMINGS, aim_off
from appliance.quality.non_fundus import NON_FUNDUS

UInt8Image = npt.NDArray[np.uint8]
Scorer = Callable[[UInt8Image], float]

TUNE_SHARE = 0.6
SPLITS = ("tune", "heldout", "all")
#: Named source selections; anything else selects sources containing the text.
SOURCE_SELECTIONS: dict[str, Callable[[str], bool]] = {
    "all": lambda source: True,
    "natural": lambda source: "enhanced" not in source,
    "enhanced": lambda source: "enhanced" in source,
}
#: Sizes (height, width) and seeds at which the negative controls are drawn.
NON_FUNDUS_SIZES = ((600, 800), (342, 512), (256, 256), (1000, 1500))
NON_FUNDUS_SEEDS = (0, 1)

_EYEPACS = re.compile(r"eyepacs_(?:nat|enh|orig)_(\d+)_(?:left|right)\.")


def patient_key(file: str) -> str:
    """The patient an image belongs to: `eyepacs:<id>` for EyePACS file names, else the file's stem."""
    match = _EYEPACS.search(Path(file).name)
    return f"eyepacs:{match.group(1)}" if match else Path(file).stem


def split_of(file: str, tune_share: float = TUNE_SHARE, patient: str | None = None) -> str:
    """`tune` or `heldout`, from a stable hash of the image's patient (same on every machine).

    The patient is read from an EyePACS file name; otherwise `patient` (a labels.csv `patient`
    column, as in fundus-cameras, where both eyes of an ODIR patient share it) when given, else
    the file's stem.
    """
    key = patient_key(file)
    if patient and not _EYEPACS.search(Path(file).name):
        key = patient
    digest = hashlib.sha256(key.encode()).digest()
    return "tune" if int.from_bytes(digest[:8], "big") / 2**64 < tune_share else "heldout"


def select(images: Iterable[LabelledImage], *, sources: str = "all", split: str = "all") -> list[LabelledImage]:
    """The images of the named sources (comma-separated; see SOURCE_SELECTIONS) and split.

    Raises:
        ValueError: an unknown split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    wanted = [w.strip() for w in sources.split(",") if w.strip()] or ["all"]

    def chosen(source: str) -> bool:
        return any(SOURCE_SELECTIONS.get(w, lambda s, w=w: w in s)(source) for w in wanted)

    return [i for i in images
            if chosen(i.source) and (split == "all" or split_of(i.file, patient=i.patient) == split)]


def source_group(source: str) -> str:
    """The data set part of a source (`eyepacs-enhanced256:navjotk/...` -> `eyepacs-enhanced256`)."""
    return source.split(":", 1)[0]


@dataclass(frozen=True)
class ImageVerdict:
    """The gate's verdict on one labelled image (and the model's score when one was asked for)."""

    file: str
    source: str
    quality: str | None
    passed: bool
    reason_codes: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    referable: bool | None = None
    score: float | None = None

    def to_dict(self, *, with_metrics: bool = False) -> dict[str, Any]:
        """The verdict as JSON; `with_metrics` adds every gate metric measured on the photo (a photo
        the gate found not to be a fundus photo has only its field-of-view and content metrics)."""
        out: dict[str, Any] = {"file": self.file, "source": self.source, "quality": self.quality,
                               "passed": self.passed, "reason_codes": list(self.reason_codes),
                               "referable": self.referable, "score": self.score}
        if with_metrics:
            out["metrics"] = dict(self.metrics)
        return out


def read_image(image: LabelledImage, limits: LimitsConfig) -> UInt8Image:
    """Decode one labelled image. Raises DatasetError when the file is missing, ImageError when bad."""
    try:
        data = image.path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"Cannot read {image.path}: {exc.strerror or exc}.") from exc
    return decode_image(data, limits)


def run_gate(images: Sequence[LabelledImage], thresholds: QualityConfig, limits: LimitsConfig, *,
             scorer: Scorer | None = None, framing: str | None = None, aim_off_to: float | None = None,
             progress: bool = True) -> list[ImageVerdict]:
    """The gate's verdict on every image, in order; an image that cannot be decoded is rejected
    with its decoder's reason code. With `scorer`, every decoded image is also scored. With
    `framing` (a name in appliance.quality.framings.FRAMINGS), every decoded photo is first
    reframed that way, as another camera would have framed it. With `aim_off_to` (radii), every
    photo is first made into one aimed further from its optic disc, so the disc sits that far from
    the centre (appliance.quality.framings.aim_off); photos in which the gate finds no disc (or
    no field) are left out.

    Raises:
        DatasetError: an image file is missing or unreadable.
    """
    verdicts = []
    for image in tqdm(images, desc="quality gate", unit="img", disable=not progress):
        try:
            pixels = read_image(image, limits)
        except ImageError as exc:
            verdicts.append(ImageVerdict(image.file, image.source, image.quality, False, (exc.reason_code,),
                                         referable=image.referable))
            continue
        if framing is not None:
            pixels = FRAMINGS[framing](pixels, find_field(pixels))
        if aim_off_to is not None:
            moved = aimed_off(pixels, thresholds, aim_off_to)
            if moved is None:
                continue
            pixels = moved
        report = assess(pixels, thresholds)
        verdicts.append(ImageVerdict(image.file, image.source, image.quality, report.passed, report.reason_codes,
                                     report.metrics, image.referable, scorer(pixels) if scorer else None))
    return verdicts


def aimed_off(photo: UInt8Image, thresholds: QualityConfig, rho: float) -> UInt8Image | None:
    """`photo` aimed further from its optic disc so the disc sits `rho` radii from the centre, on
    its own side; None when the gate finds no field or no disc in it."""
    field = find_field(photo)
    metrics = measure(photo, thresholds)
    if not field.found or metrics.get("disc_prominence", 0.0) < thresholds.min_disc_prominence:
        return None
    disc = (metrics["disc_x"], metrics["disc_y"])
    return aim_off(photo, field, disc, rho, disc)


def measure_images(images: Sequence[LabelledImage], thresholds: QualityConfig, limits: LimitsConfig, *,
                   progress: bool = True) -> tuple[list[tuple[LabelledImage, dict[str, float]]], int]:
    """Every gate metric of each decodable image, and the number of images that could not be decoded.

    Raises:
        DatasetError: an image file is missing or unreadable.
    """
    measured, undecodable = [], 0
    for image in tqdm(images, desc="measuring", unit="img", disable=not progress):
        try:
            pixels = read_image(image, limits)
        except ImageError:
            undecodable += 1
            continue
        measured.append((image, measure(pixels, thresholds)))
    return measured, undecodable


def summarise(verdicts: Sequence[ImageVerdict]) -> dict[str, Any]:
    """The figures over all verdicts and per source group (see `_block`)."""
    groups: dict[str, list[ImageVerdict]] = {}
    for v in verdicts:
        groups.setdefault(source_group(v.source), []).append(v)
    return {"all": _block(verdicts), "by_source": {name: _block(vs) for name, vs in sorted(groups.items())}}


def _block(verdicts: Sequence[ImageVerdict]) -> dict[str, Any]:
    """Confusion of graders' labels against the gate, rates with Wilson 95 % intervals, reasons."""
    def count(quality: str, passed: bool) -> int:
        return sum(1 for v in verdicts if v.quality == quality and v.passed == passed)

    good_rejected, good_passed = count("good", False), count("good", True)
    usable_rejected, usable_passed = count("usable", False), count("usable", True)
    reject_caught, reject_passed = count("reject", False), count("reject", True)
    unlabelled = [v for v in verdicts if v.quality not in ("good", "usable", "reject")]
    by_label: dict[str, Counter[str]] = {}
    for v in verdicts:
        by_label.setdefault(v.quality or "unlabelled", Counter()).update(v.reason_codes)
    return {
        "images": len(verdicts),
        "passed": sum(v.passed for v in verdicts),
        "passed_rate": _rate(sum(v.passed for v in verdicts), len(verdicts)),
        "confusion": {
            "gradable_passed": good_passed + usable_passed,
            "gradable_rejected": good_rejected + usable_rejected,
            "reject_passed": reject_passed,
            "reject_caught": reject_caught,
        },
        "labels": {"good": good_passed + good_rejected, "usable": usable_passed + usable_rejected,
                   "reject": reject_passed + reject_caught, "unlabelled": len(unlabelled)},
        "reject_sensitivity": _rate(reject_caught, reject_caught + reject_passed),
        "good_false_reject_rate": _rate(good_rejected, good_rejected + good_passed),
        "usable_false_reject_rate": _rate(usable_rejected, usable_rejected + usable_passed),
        "gradable_false_reject_rate": _rate(good_rejected + usable_rejected,
                                            good_rejected + usable_rejected + good_passed + usable_passed),
        "unlabelled_rejected_rate": _rate(sum(not v.passed for v in unlabelled), len(unlabelled)),
        "reasons": dict(Counter(code for v in verdicts for code in v.reason_codes).most_common()),
        "first_reasons": dict(Counter(v.reason_codes[0] for v in verdicts if v.reason_codes).most_common()),
        "reasons_by_label": {label: dict(c.most_common()) for label, c in sorted(by_label.items())},
    }


def _rate(k: int, n: int) -> dict[str, Any]:
    """k of n as a share with its Wilson 95 % interval (None when n is 0)."""
    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "ci95": None}
    p, z = k / n, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"k": k, "n": n, "rate": p, "ci95": [max(0.0, centre - half), min(1.0, centre + half)]}


def model_by_gate(verdicts: Sequence[ImageVerdict]) -> dict[str, Any]:
    """Referable-DR AUC of the model's scores on gate-passed and on gate-rejected images (those
    with both a score and a referable label), per all images and per source group."""
    def block(vs: Sequence[ImageVerdict]) -> dict[str, Any]:
        out = {}
        for name, passed in (("passed", True), ("rejected", False)):
            scored = [v for v in vs if v.passed == passed and v.score is not None and v.referable is not None]
            labels = np.array([bool(v.referable) for v in scored])
            scores = np.array([float(v.score) for v in scored if v.score is not None])
            out[name] = {"images": len(scored), "referable": int(labels.sum()),
                         "auc": rank_auc(labels, scores) if len(scored) else None}
        return out

    groups: dict[str, list[ImageVerdict]] = {}
    for v in verdicts:
        groups.setdefault(source_group(v.source), []).append(v)
    return {"all": block(verdicts), "by_source": {name: block(vs) for name, vs in sorted(groups.items())}}


def rank_auc(labels: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> float | None:
    """ROC AUC (ties count 1/2); None when either class is absent (JSON-friendly)."""
    auc = roc_auc(labels, scores)
    return None if math.isnan(auc) else auc


def non_fundus_check(thresholds: QualityConfig) -> list[dict[str, Any]]:
    """The gate's verdict on every negative control at every size and seed."""
    rows = []
    for name, make in NON_FUNDUS.items():
        for height, width in NON_FUNDUS_SIZES:
            for seed in NON_FUNDUS_SEEDS:
                report = assess(make(height, width, seed), thresholds)
                rows.append({"name": name, "size": f"{width}x{height}", "seed": seed,
                             "passed": report.passed, "reason_codes": list(report.reason_codes),
                             "not_fundus": report.reason_codes == ("not_fundus",)})
    return rows


@contextmanager
def model_scorer(manifest_path: Path) -> Iterator[Scorer]:
    """A function scoring one RGB image with the model of `manifest_path` on onnxruntime.

    Raises:
        ModelError: the manifest or the model cannot be loaded.
    """
    from appliance.inference.manifest import load_manifest
    from appliance.inference.preprocess import preprocess
    from appliance.inference.registry import select_runner

    manifest = load_manifest(manifest_path)
    # bandit B108: onnxruntime neither reads nor writes the engine folder (TensorRT engines only)
    runner = select_runner(manifest, preference="onnxruntime", engine_dir=Path("/tmp"))  # nosec B108

    def score(image: UInt8Image) -> float:
        return float(runner.infer(preprocess(image, manifest.input)[None])[0])

    with runner:
        yield score
