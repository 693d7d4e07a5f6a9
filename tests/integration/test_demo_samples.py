"""The simulated camera's demo photos still do what SAMPLES.toml says, through the real appliance path.

Every file listed in appliance/devices/samples/SAMPLES.toml goes through decode_image, the quality gate
(default profile) and, when it passes, preprocess and the shipped model on onnxruntime. A model or
gate change that turns a healthy demo photo referable, or lets a blurred one pass, fails here: rerun
`python -m build.demo_samples` (which refuses photos that no longer fit their kind) or pick others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from appliance.config import Config, LimitsConfig, quality_profile
from appliance.decision import decide
from appliance.devices.simulated import SAMPLES_DIR
from appliance.domain import Eye, ImageFinding, Outcome, QualityReport
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.preprocess import preprocess
from appliance.quality import assess, eye_from_metrics, retake_guidance
from appliance.tomlfile import tomllib

LISTED: list[dict[str, Any]] = tomllib.loads((SAMPLES_DIR / "SAMPLES.toml").read_text(encoding="utf-8"))["sample"]


@dataclass(frozen=True)
class Verdict:
    report: QualityReport
    eye: Eye | None
    score: float | None

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.report.reason_codes


@pytest.fixture(scope="module")
def manifest() -> ModelManifest:
    return load_manifest(Config().manifest_path)


@pytest.fixture(scope="module")
def verdicts(manifest: ModelManifest) -> Iterator[dict[str, Verdict]]:
    quality = quality_profile("default")
    found = {}
    with OnnxRunner(manifest, intra_op_threads=1) as runner:
        for sample in LISTED:
            image = decode_image((SAMPLES_DIR / sample["file"]).read_bytes(), LimitsConfig())
            report = assess(image, quality)
            score = float(runner.infer(preprocess(image, manifest.input)[None])[0]) if report.passed else None
            found[sample["file"]] = Verdict(report, eye_from_metrics(report.metrics), score)
    yield found


def test_every_shipped_photo_is_listed_once() -> None:
    files = [s["file"] for s in LISTED]
    assert len(files) == len(set(files))
    shipped = {p.name for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}}
    assert shipped == set(files)


@pytest.mark.parametrize("sample", LISTED, ids=[s["file"] for s in LISTED])
def test_sample_gets_its_recorded_verdict(sample: dict[str, Any], verdicts: dict[str, Verdict],
                                          manifest: ModelManifest) -> None:
    got = verdicts[sample["file"]]
    assert got.passed is sample["passed"], got.reasons
    assert (got.reasons[0] if got.reasons else "") == sample["first_reason"]
    # A demo photo never makes the kiosk warn that it looks like the other eye.
    assert got.eye in (Eye(sample["eye"]), None)
    if sample["passed"]:
        assert got.score is not None
        assert (got.score >= manifest.threshold) is sample["over_threshold"], got.score


def test_the_samples_reach_every_outcome(verdicts: dict[str, Verdict], manifest: ModelManifest) -> None:
    def first(kind: str, eye: Eye) -> ImageFinding:
        sample = next(s for s in LISTED if s["kind"] == kind and s["eye"] == eye.value)
        got = verdicts[sample["file"]]
        return ImageFinding(eye=eye, gradable=got.passed, score=got.score)

    def outcome(right: str, left: str) -> Outcome:
        return decide([first(right, Eye.RIGHT), first(left, Eye.LEFT)], manifest.threshold).outcome

    assert outcome("healthy", "healthy") is Outcome.NO_REFER
    assert outcome("referable", "healthy") is Outcome.REFER
    assert outcome("healthy", "referable") is Outcome.REFER
    for poor in ("blurred", "dark", "offcentre"):
        assert outcome(poor, "healthy") is Outcome.UNGRADABLE
        assert outcome("healthy", poor) is Outcome.UNGRADABLE


@pytest.mark.parametrize(("kind", "advice"), [("dark", "dilate the pupil"), ("blurred", "refer the patient"),
                                              ("offcentre", "refer the patient")])
def test_three_failed_photos_of_one_eye_escalate(kind: str, advice: str, verdicts: dict[str, Verdict]) -> None:
    photos = [s["file"] for s in LISTED if s["kind"] == kind and s["eye"] == "right"]
    reports = [verdicts[photos[i % len(photos)]].report for i in range(3)]
    assert not retake_guidance(reports[:2], max_attempts=3).escalate
    guidance = retake_guidance(reports, max_attempts=3)
    assert guidance.escalate and advice in guidance.message
