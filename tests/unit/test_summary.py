"""The exam summary shown by the CLI and the kiosk: retake advice per ungradable eye, detected fields."""

from appliance.config import QualityConfig
from appliance.decision import decide
from appliance.domain import (
    Capture,
    Exam,
    Eye,
    Field,
    ImageFinding,
    ModelInfo,
    Prediction,
    QualityReport,
    ScreenedImage,
)
from appliance.summary import exam_summary

MODEL = ModelInfo(name="m", version="1", sha256="0" * 64, runner="onnxruntime")
MACULA_RIGHT = {"disc_prominence": 0.9, "disc_x": 0.5, "disc_y": 0.0}


def image(eye: Eye, passed: bool, score: float | None, reasons: tuple[str, ...] = (), message: str = "",
          metrics: dict[str, float] | None = None) -> ScreenedImage:
    report = QualityReport(passed=passed, reason_codes=reasons, operator_message=message, metrics=metrics or {})
    prediction = None if score is None else Prediction(score=score, model=MODEL)
    return ScreenedImage(capture=Capture(eye=eye, image=b"x", source="test"), quality=report, prediction=prediction)


def exam(*images: ScreenedImage) -> Exam:
    findings = [ImageFinding(i.capture.eye, i.quality.passed, i.prediction and i.prediction.score) for i in images]
    return Exam(exam_id="e", patient_id="p", images=images, result=decide(findings, 0.5), model=MODEL)


def test_ungradable_eye_gets_the_retake_sentence_and_gradable_eye_none() -> None:
    blurred = "Image is blurred: ask the patient to keep still and refocus."
    summary = exam_summary(exam(image(Eye.RIGHT, True, 0.1, metrics=MACULA_RIGHT),
                                image(Eye.LEFT, False, None, ("blurred",), blurred)), QualityConfig())
    assert summary["outcome"] == "UNGRADABLE"
    assert summary["retake"] == {"left": {"message": blurred, "failed_attempts": 1, "escalate": False}}
    assert summary["images"][0]["detected_field"] == "macula"
    assert summary["images"][0]["looks_like_eye"] == "right"
    assert summary["fields_by_eye"] == {"right": ["macula"], "left": []}


def test_repeated_failures_escalate_after_max_attempts() -> None:
    dark = "Too dark: the pupil may be small — consider dilation or dim the room."
    config = QualityConfig(max_attempts=2)
    summary = exam_summary(exam(image(Eye.RIGHT, False, None, ("too_dark",), dark),
                                image(Eye.RIGHT, False, None, ("too_dark",), dark),
                                image(Eye.LEFT, True, 0.2)), config)
    advice = summary["retake"]["right"]
    assert advice["escalate"] is True and advice["failed_attempts"] == 2
    assert "dilat" in advice["message"].lower()


def test_capture_field_given_by_the_camera_wins_over_detection() -> None:
    shot = image(Eye.RIGHT, True, 0.1, metrics=MACULA_RIGHT)
    disc_shot = ScreenedImage(capture=Capture(eye=Eye.RIGHT, image=b"x", source="t", field=Field.DISC),
                              quality=shot.quality, prediction=shot.prediction)
    summary = exam_summary(exam(disc_shot, image(Eye.LEFT, True, 0.2)), QualityConfig())
    assert summary["fields_by_eye"]["right"] == ["disc"]
