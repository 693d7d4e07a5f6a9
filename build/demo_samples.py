"""Make the simulated camera's demo photos from IDRiD, keeping only those the appliance judges as meant.

    python -m build.demo_samples --data ../shared/data/fundus-cameras --out appliance/devices/samples

Each sample in PLAN is one photo of the IDRiD disease-grading set (CC BY 4.0; no other source may
ship), resized to at most MAX_WIDTH px wide, maybe made poor on purpose, and encoded as JPEG quality
90. The encoded bytes then go through the appliance's own path: `decode_image`, the quality gate
(`assess`, default profile), and for a photo that passes `preprocess` and the onnxruntime runner of
the shipped model. A sample is kept only when that verdict is its kind's (KINDS); when any sample
misses, nothing is written and the exit status is 1. The folder then holds the photos,
SAMPLES.toml (what was measured, which tests/integration/test_demo_samples.py checks again) and
ATTRIBUTION.md.

How PLAN was chosen: `healthy` are ICDR grade 0 photos scored at most half the locked threshold,
`referable` grade 2-4 photos scored at least halfway from the threshold to 1, both macula-centred
with the optic disc on the side of their eye, preferring photos of the shipped model's held-out
test split (patient_split), then validation, then training. The poor ones are made from other
grade 0 photos. `offcentre` moves the whole field off the frame's centre so that it is cut at the
frame's edge, a camera not aligned with the pupil; the default gate calls that `field_not_centred`
(the field's centre over `max_field_centre_offset` off the frame's; further off than
`max_fov_centre_offset` it would be `not_fundus`).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import Config, LimitsConfig, QualityConfig, quality_profile
from appliance.domain import Eye
from appliance.evaluation.dataset import default_cameras_dir
from appliance.evaluation.split import patient_split
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.preprocess import preprocess
from appliance.inference.runner import Runner
from appliance.quality import assess, eye_from_metrics
from appliance.quality.field_of_view import find_field

UInt8Image = npt.NDArray[np.uint8]

MAX_WIDTH = 1024
JPEG_QUALITY = 90
PROFILE = "default"
#: Only this source's photos may ship (IDRiD, CC BY 4.0); EyePACS, APTOS and ODIR may not.
SHIPPABLE_SOURCE = "idrid"
#: Kind -> (the gate passes it, the first reason code when it fails). Healthy and referable pass.
KINDS: dict[str, tuple[bool, str]] = {
    "healthy": (True, ""),
    "referable": (True, ""),
    "blurred": (False, "blurred"),
    "dark": (False, "too_dark"),
    "offcentre": (False, "field_not_centred"),
}
#: Poor photos: Gaussian blur sigma in field radii; darkening gain and gamma; field shift in radii.
BLUR_SIGMA = 0.04
DARK_GAIN, DARK_GAMMA = 0.35, 1.2
SAMPLE_NAME = re.compile(r"^(" + "|".join(KINDS) + r")_\d\d_(right|left)\.jpg$")


@dataclass(frozen=True)
class Planned:
    """One sample to make: its kind and eye, the IDRiD photo (labels.csv `file`), and for
    `offcentre` how far the field moves (field radii, x to the right, y down)."""

    kind: str
    eye: Eye
    source_file: str
    shift: tuple[float, float] = (0.0, 0.0)


def _plan() -> tuple[Planned, ...]:
    r, left = Eye.RIGHT, Eye.LEFT
    # "train"/"test" name IDRiD's own parts (a_Training_Set, b_Testing_Set), not the model's split.
    photo = "images/idrid_{}_IDRiD_{}.jpg".format
    return (
        Planned("healthy", r, photo("train", "315")), Planned("healthy", r, photo("train", "218")),
        Planned("healthy", r, photo("train", "316")),
        Planned("healthy", left, photo("train", "250")), Planned("healthy", left, photo("train", "181")),
        Planned("healthy", left, photo("train", "220")),
        Planned("referable", r, photo("test", "042")), Planned("referable", r, photo("test", "015")),
        Planned("referable", r, photo("test", "002")),
        Planned("referable", left, photo("test", "053")), Planned("referable", left, photo("test", "013")),
        Planned("referable", left, photo("test", "024")),
        Planned("blurred", r, photo("train", "161")), Planned("blurred", r, photo("train", "175")),
        Planned("blurred", left, photo("train", "222")), Planned("blurred", left, photo("train", "353")),
        Planned("dark", r, photo("train", "223")), Planned("dark", r, photo("train", "159")),
        Planned("dark", left, photo("train", "255")), Planned("dark", left, photo("train", "230")),
        Planned("offcentre", r, photo("train", "213"), (-0.55, 0.25)),
        Planned("offcentre", r, photo("train", "249"), (-0.6, -0.2)),
        Planned("offcentre", left, photo("train", "226"), (0.6, -0.25)),
        Planned("offcentre", left, photo("train", "331"), (0.65, 0.2)),
    )


PLAN = _plan()


@dataclass(frozen=True)
class Made:
    """A sample made and measured: its file name and JPEG bytes, where it came from, and the verdict."""

    planned: Planned
    name: str
    jpeg: bytes
    row: dict[str, str]
    made: str
    passed: bool
    reasons: tuple[str, ...]
    eye_seen: Eye | None
    score: float | None

    def problem(self, threshold: float) -> str:
        """Why this sample cannot ship as its kind ("" when it can)."""
        kind, eye = self.planned.kind, self.planned.eye
        should_pass, reason = KINDS[kind]
        if self.passed != should_pass or (reason and self.reasons[:1] != (reason,)):
            return f"gate says passed={self.passed} reasons={list(self.reasons)}"
        if self.eye_seen not in ((eye,) if should_pass else (eye, None)):
            return f"the gate takes it for a {getattr(self.eye_seen, 'value', 'unknown')} eye, not {eye.value}"
        if kind == "healthy" and not (self.score is not None and self.score <= threshold / 2):
            return f"score {self.score} is not at most half the threshold {threshold}"
        if kind == "referable" and not (self.score is not None and self.score >= (1 + threshold) / 2):
            return f"score {self.score} is not halfway from the threshold {threshold} to 1"
        return ""


def make_poor(image: UInt8Image, planned: Planned) -> tuple[UInt8Image, str]:
    """The photo made poor as its kind asks, and a sentence saying what was done."""
    radius = find_field(image).radius
    if planned.kind == "blurred":
        sigma = BLUR_SIGMA * radius
        return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8), (
            f"Gaussian blur, sigma {BLUR_SIGMA} field radii ({sigma:.1f} px)")
    if planned.kind == "dark":
        dark = 255.0 * DARK_GAIN * (image / 255.0) ** DARK_GAMMA
        return np.clip(dark + 0.5, 0, 255).astype(np.uint8), f"darkened: gain {DARK_GAIN}, gamma {DARK_GAMMA}"
    if planned.kind == "offcentre":
        dx, dy = planned.shift
        h, w = image.shape[:2]
        move = np.array([[1.0, 0.0, dx * radius], [0.0, 1.0, dy * radius]], np.float32)
        moved = cv2.warpAffine(image, move, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return np.asarray(moved, np.uint8), (
            f"whole frame shifted by ({dx:+.2f}, {dy:+.2f}) field radii: field off the frame's centre, "
            "cut at the frame's edge")
    return image, "none"


def make(planned: Planned, number: int, data: Path, rows: dict[str, dict[str, str]]) -> tuple[str, bytes, str]:
    """The sample's file name, its JPEG bytes and what was done to the photo.

    Raises:
        ValueError: the photo is not in labels.csv, is not IDRiD, or its grade does not fit the kind.
    """
    row = rows.get(planned.source_file)
    if row is None:
        raise ValueError(f"{planned.source_file} is not in {data / 'labels.csv'}")
    if not row["source"].startswith(SHIPPABLE_SOURCE):
        raise ValueError(f"{planned.source_file} is from {row['source']}: only IDRiD photos may ship")
    grade = int(row["dr_grade"])
    if (grade >= 2) != (planned.kind == "referable") or (planned.kind != "referable" and grade != 0):
        raise ValueError(f"{planned.source_file} has grade {grade}, which does not fit kind {planned.kind}")
    image = decode_image((data / planned.source_file).read_bytes(), LimitsConfig())
    steps = []
    if image.shape[1] > MAX_WIDTH:
        steps.append(f"resized from {image.shape[1]} to {MAX_WIDTH} px wide")
        size = (MAX_WIDTH, round(image.shape[0] * MAX_WIDTH / image.shape[1]))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    steps.append(f"{image.shape[1]}×{image.shape[0]} px")
    image, done = make_poor(image, planned)
    steps.append("not altered" if done == "none" else done)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"OpenCV could not encode {planned.source_file} as JPEG")
    name = f"{planned.kind}_{number:02d}_{planned.eye.value}.jpg"
    return name, encoded.tobytes(), "; ".join([*steps, f"JPEG quality {JPEG_QUALITY}"])


def measure(jpeg: bytes, quality: QualityConfig, manifest: ModelManifest,
            runner: Runner) -> tuple[bool, tuple[str, ...], Eye | None, float | None]:
    """The appliance's verdict on the encoded bytes: passed, reason codes, the eye the gate sees,
    and the model's score (None when the gate fails the photo)."""
    image = decode_image(jpeg, LimitsConfig())
    report = assess(image, quality)
    score = float(runner.infer(preprocess(image, manifest.input)[None])[0]) if report.passed else None
    return report.passed, report.reason_codes, eye_from_metrics(report.metrics), score


def make_all(data: Path, manifest: ModelManifest, quality: QualityConfig) -> list[Made]:
    """Every sample of PLAN, made and measured (nothing written)."""
    with (data / "labels.csv").open(newline="") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    numbers: dict[tuple[str, Eye], int] = {}
    made: list[Made] = []
    with OnnxRunner(manifest, intra_op_threads=1) as runner:
        for i, planned in enumerate(PLAN, 1):
            number = numbers[planned.kind, planned.eye] = numbers.get((planned.kind, planned.eye), 0) + 1
            name, jpeg, done = make(planned, number, data, rows)
            passed, reasons, eye_seen, score = measure(jpeg, quality, manifest, runner)
            made.append(Made(planned, name, jpeg, rows[planned.source_file], done, passed, reasons, eye_seen, score))
            print(f"[{i}/{len(PLAN)}] {name}: passed={passed} reasons={list(reasons)} score={score}", file=sys.stderr)
    return made


def _toml(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def samples_toml(made: Sequence[Made], manifest: ModelManifest) -> str:
    """SAMPLES.toml: the header, then one [[sample]] table per file."""
    lines = [
        "# The simulated camera's demo photos, written by `python -m build.demo_samples`. The verdicts are",
        "# measured through the appliance's own path; tests/integration/test_demo_samples.py checks them again.",
        "# IDRiD photos (CC BY 4.0, see ATTRIBUTION.md), for the demo only, never for evaluation claims.",
        f"model = {_toml(f'{manifest.name} {manifest.version}')}",
        f"model_sha256 = {_toml(manifest.sha256)}",
        f"threshold = {manifest.threshold!r}",
        f"quality_profile = {_toml(PROFILE)}",
    ]
    for m in made:
        fields: dict[str, str | int | float | bool] = {
            "file": m.name, "kind": m.planned.kind, "eye": m.planned.eye.value,
            "idrid_file": Path(m.row["original_name"]).name, "idrid_original": m.row["original_name"],
            "dr_grade": int(m.row["dr_grade"]), "model_split": patient_split(m.row["patient"]),
            "made": m.made, "passed": m.passed, "first_reason": m.reasons[0] if m.reasons else "",
        }
        if m.score is not None:
            fields["score"] = round(m.score, 4)
            fields["over_threshold"] = m.score >= manifest.threshold
        lines += ["", "[[sample]]", *(f"{key} = {_toml(value)}" for key, value in fields.items())]
    return "\n".join(lines) + "\n"


ATTRIBUTION = """# Sample fundus photographs (simulated camera)

These photographs come from the **Indian Diabetic Retinopathy Image Dataset (IDRiD)**, disease-grading
set, licensed under **Creative Commons Attribution 4.0 International (CC BY 4.0)**,
https://creativecommons.org/licenses/by/4.0/.

> Prasanna Porwal, Samiksha Pachade, Ravi Kamble, Manesh Kokare, Girish Deshmukh,
> Vivek Sahasrabuddhe, Fabrice Meriaudeau. "Indian Diabetic Retinopathy Image Dataset (IDRiD):
> A Database for Diabetic Retinopathy Screening Research." *Data* 2018, 3(3), 25.
> https://doi.org/10.3390/data3030025

They are here only so that the demo can show every path of the appliance (REFER, NO_REFER, a retake,
and dilation or referral after repeated failed photos). They are **never used for evaluation claims**:
a few were among the shipped model's training photos (`model_split` in SAMPLES.toml).

Changes made (by `python -m build.demo_samples`, which records each file in SAMPLES.toml): the photos
were resized to 512 px wide (the IDRiD originals are 4288×2848) and re-encoded as JPEG quality 90.
The `blurred` ones were blurred (Gaussian), the `dark` ones darkened (gain and gamma), and the
`offcentre` ones shifted so that the round field is off the frame's centre and cut at its edge; the
`healthy` and `referable` ones were not altered otherwise. The grade is IDRiD's ICDR grade of the original.
The eye (`right`/`left`) is not published with these photos: it is the side of the optic disc
(disc on the image's right → right eye) and is nominal, for the demo only.

| file | IDRiD original | ICDR grade | changes |
|---|---|---|---|
"""


def attribution(made: Sequence[Made]) -> str:
    rows = [f"| {m.name} | {m.row['original_name']} | {m.row['dr_grade']} | {m.made} |" for m in made]
    return ATTRIBUTION + "\n".join(rows) + "\n"


def write(out: Path, made: Sequence[Made], manifest: ModelManifest) -> None:
    """Replace the folder's samples (files named like SAMPLE_NAME) by `made`, with SAMPLES.toml and ATTRIBUTION.md."""
    out.mkdir(parents=True, exist_ok=True)
    keep = {m.name for m in made}
    for old in out.iterdir():
        if SAMPLE_NAME.match(old.name) and old.name not in keep:
            old.unlink()
    for m in made:
        (out / m.name).write_bytes(m.jpeg)
    (out / "SAMPLES.toml").write_text(samples_toml(made, manifest), encoding="utf-8")
    (out / "ATTRIBUTION.md").write_text(attribution(made), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m build.demo_samples",
                                     description="Make the simulated camera's demo photos from IDRiD.")
    parser.add_argument("--data", type=Path, default=default_cameras_dir(),
                        help="the fundus-cameras folder (labels.csv, images/)")
    parser.add_argument("--out", type=Path, default=Path("appliance/devices/samples"), help="the samples folder")
    parser.add_argument("--manifest", type=Path, default=Config().manifest_path, help="the model's manifest")
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest)
    try:
        made = make_all(args.data, manifest, quality_profile(PROFILE))
    except ValueError as exc:  # a photo of the plan that may not ship, or that is not in the folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = [(m.name, m.problem(manifest.threshold)) for m in made]
    problems = [(name, why) for name, why in problems if why]
    for name, why in problems:
        print(f"refused {name}: {why}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} of {len(made)} samples are not what their kind needs: nothing written.",
              file=sys.stderr)
        return 1
    write(args.out, made, manifest)
    kb = sum(len(m.jpeg) for m in made) / 1024
    print(f"wrote {len(made)} samples ({kb:.0f} KiB), SAMPLES.toml and ATTRIBUTION.md to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
