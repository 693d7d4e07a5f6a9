"""One screening exam, start to finish: the only place that knows the order of the steps.

validate the exam → decode every image → quality gate → preprocess + model on gradable images
→ exam decision at the operating point in force (the model's locked threshold, or the site's adopted
one, read from the store for every exam) → durable store. Nothing is stored unless every image could be decoded, and the
exam is durable before the caller can show its result.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from appliance.config import Config
from appliance.decision import decide
from appliance.domain import Capture, Exam, Eye, ImageFinding, Prediction, QualityReport, ScreenedImage
from appliance.errors import ExamInputError, ImageError
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest
from appliance.inference.preprocess import preprocess
from appliance.inference.runner import Runner
from appliance.operating_point import effective_operating_point
from appliance.quality import assess
from appliance.store import ExamStore

MAX_IMAGES_PER_EYE = 2
MAX_PATIENT_ID_LENGTH = 64


@dataclass
class ScreeningPipeline:
    config: Config
    manifest: ModelManifest
    runner: Runner
    store: ExamStore
    _infer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def screen(self, patient_id: str, captures: Sequence[Capture], *, operator: str) -> Exam:
        """Screen one exam and store it durably.

        Raises:
            ExamInputError: no patient id, a missing eye, or too many images for an eye.
            ImageError: an image cannot be decoded or is of an unsupported kind (nothing stored).
            ModelError: the model failed; StorageError: the exam could not be saved.
        """
        try:
            patient_id = validate_exam(patient_id, captures)
            images = [decode_image(c.image, self.config.limits) for c in captures]
        except (ExamInputError, ImageError) as exc:
            self.store.record_audit("exam_rejected", actor=operator, detail={
                "reason_code": exc.reason_code, "message": exc.message})
            raise
        reports = [assess(image, self.config.quality) for image in images]
        scores = self._scores(images, reports)
        model = self.manifest.info(self.runner.name)
        screened = tuple(
            ScreenedImage(
                capture=capture,
                quality=report,
                prediction=None if score is None else Prediction(score=score, model=model),
                sha256=hashlib.sha256(capture.image).hexdigest(),
            )
            for capture, report, score in zip(captures, reports, scores, strict=True)
        )
        findings = [
            ImageFinding(eye=s.capture.eye, gradable=s.quality.passed,
                         score=None if s.prediction is None else s.prediction.score)
            for s in screened
        ]
        exam = Exam(
            exam_id=new_exam_id(),
            patient_id=patient_id,
            images=screened,
            # Read per exam: an operating point adopted or reverted while the box runs applies at once.
            result=decide(findings, effective_operating_point(self.store.site_operating_point(), self.manifest)),
            model=model,
            operator=operator,
        )
        self.store.save_exam(exam, actor=operator)
        return exam

    def _scores(self, images: Sequence[np.ndarray], reports: Sequence[QualityReport]) -> list[float | None]:
        """The model's probability for each gradable image, None for the others."""
        gradable = [i for i, report in enumerate(reports) if report.passed]
        scores: list[float | None] = [None] * len(images)
        if not gradable:
            return scores
        batch = np.stack([preprocess(images[i], self.manifest.input) for i in gradable])
        with self._infer_lock:
            probabilities = self.runner.infer(batch)
        for i, p in zip(gradable, probabilities, strict=True):
            scores[i] = float(p)
        return scores


def validate_exam(patient_id: str, captures: Sequence[Capture]) -> str:
    """Check the exam's shape before any work; returns the cleaned patient id.

    Raises:
        ExamInputError: with an operator sentence saying what is missing.
    """
    cleaned = patient_id.strip()
    if not cleaned:
        raise ExamInputError("Enter the patient's id before screening.", reason_code="patient_id_missing")
    if len(cleaned) > MAX_PATIENT_ID_LENGTH or not cleaned.isprintable():
        raise ExamInputError(
            f"The patient id must be at most {MAX_PATIENT_ID_LENGTH} printable characters.",
            reason_code="patient_id_invalid",
        )
    for eye in Eye:
        count = sum(1 for c in captures if c.eye is eye)
        if count == 0:
            raise ExamInputError(
                f"No {eye.value}-eye image: photograph both eyes before screening.",
                reason_code=f"{eye.value}_eye_missing",
            )
        if count > MAX_IMAGES_PER_EYE:
            raise ExamInputError(
                f"Too many {eye.value}-eye images ({count}): at most {MAX_IMAGES_PER_EYE} per eye.",
                reason_code="too_many_images",
            )
    return cleaned


def new_exam_id() -> str:
    return uuid.uuid4().hex
