"""The exam summary shown by the CLI and the kiosk: retake advice per ungradable eye, detected fields."""

from itertools import count

from appliance.decision import decide
from appliance.domain import (
    Exam,
    Eye,
    Field,
    GateSettings,
    ImageFinding,
    ModelInfo,
    Patient,
    Prediction,
    QualityReport,
    ScreenedImage,
    SessionPhoto,
)
from appliance.summary import exam_summary

MODEL = ModelInfo(name="m", version="1", sha256="0" * 64, runner="onnxruntime")
MACULA_RIGHT = {"disc_prominence": 0.9, "disc_x": 0.5, "disc_y": 0.0}
_photo_ids = count(1)


def image(eye: Eye, passed: bool, score: float | None, reasons: tuple[str, ...] = (), message: str = "",
          metrics: dict[str, float] | None = None, field: Field = Field.UNKNOWN) -> ScreenedImage:
    report = QualityReport(passed=passed, reason_codes=reasons, operator_message=message, metrics=metrics or {})
    prediction = None if score is None else Prediction(score=score, model=MODEL)
    photo = SessionPhoto(photo_id=next(_photo_ids), eye=eye, sha256="0" * 64, quality=report, source="test",
                         field=field)
    return ScreenedImage(photo=photo, prediction=prediction)


def exam(*images: ScreenedImage, max_attempts: int = 3) -> Exam:
    findings = [ImageFinding(i.eye, i.quality.passed, i.prediction and i.prediction.score) for i in images]
    return Exam(exam_id="e", patient=Patient("p"), images=images, result=decide(findings, 0.5), model=MODEL,
                gate=GateSettings(profile="default", max_attempts=max_attempts, thresholds={"too_dark_mean": 35.0}))


def test_ungradable_eye_gets_the_retake_sentence_and_gradable_eye_none() -> None:
    blurred = "Image is blurred: ask the patient to keep still and refocus."
    right = image(Eye.RIGHT, True, 0.1)
    summary = exam_summary(exam(right, image(Eye.LEFT, False, None, ("blurred",), blurred)))
    assert summary["outcome"] == "UNGRADABLE"
    assert summary["retake"] == {"left": {"message": blurred, "failed_attempts": 1, "escalate": False}}
    assert summary["images"][0]["score"] == 0.1 and summary["images"][1]["score"] is None
    assert summary["eyes"]["right"]["finding"] == "not_referable"
    assert summary["eyes"]["right"]["photos_used"] == [right.photo.photo_id]
    assert summary["eyes"]["left"] == {"finding": "ungradable", "words": "Ungradable: no photo good enough to grade",
                                       "photos_used": []}
    assert summary["gate"] == {"profile": "default", "max_attempts": 3}
    assert summary["thresholds"] == {"referable": 0.5, "quality": {"too_dark_mean": 35.0}}
    assert summary["operating_point"]["source"] == "locked" and summary["operating_point"]["threshold"] == 0.5


def test_detected_field_and_eye_come_from_the_gate() -> None:
    shot = image(Eye.RIGHT, True, 0.1, metrics=MACULA_RIGHT)
    detected = ScreenedImage(photo=SessionPhoto(
        photo_id=1, eye=Eye.RIGHT, sha256="0" * 64, quality=shot.quality, detected_field=Field.MACULA,
        looks_like=Eye.RIGHT), prediction=shot.prediction)
    summary = exam_summary(exam(detected, image(Eye.LEFT, True, 0.2)))
    assert summary["images"][0]["detected_field"] == "macula"
    assert summary["images"][0]["looks_like_eye"] == "right" and summary["images"][0]["eye_warning"] == ""
    assert summary["fields_by_eye"] == {"right": ["macula"], "left": []}
    assert summary["outcome"] == "NO_REFER" and summary["retake"] == {}


def test_repeated_failures_escalate_after_max_attempts() -> None:
    dark = "Too dark: the pupil may be small — consider dilation or dim the room."
    summary = exam_summary(exam(image(Eye.RIGHT, False, None, ("too_dark",), dark),
                                image(Eye.RIGHT, False, None, ("too_dark",), dark),
                                image(Eye.LEFT, True, 0.2), max_attempts=2))
    advice = summary["retake"]["right"]
    assert advice["escalate"] is True and advice["failed_attempts"] == 2
    assert "dilat" in advice["message"].lower()


def test_an_exam_without_gate_settings_escalates_after_three_failures() -> None:
    dark = "Too dark: the pupil may be small — consider dilation or dim the room."
    failures = [image(Eye.RIGHT, False, None, ("too_dark",), dark) for _ in range(2)]
    old = exam(*failures, image(Eye.LEFT, True, 0.2))
    old = Exam(exam_id=old.exam_id, patient=old.patient, images=old.images, result=old.result, model=MODEL)
    assert exam_summary(old)["retake"]["right"]["escalate"] is False  # the default max_attempts is 3
    assert exam_summary(old)["gate"] is None and exam_summary(old)["thresholds"]["quality"] == {}


def test_capture_field_given_by_the_camera_wins_over_detection() -> None:
    shot = image(Eye.RIGHT, True, 0.1, metrics=MACULA_RIGHT)
    disc_shot = ScreenedImage(photo=SessionPhoto(photo_id=1, eye=Eye.RIGHT, sha256="0" * 64, quality=shot.quality,
                                                 source="t", field=Field.DISC, detected_field=Field.MACULA),
                              prediction=shot.prediction)
    summary = exam_summary(exam(disc_shot, image(Eye.LEFT, True, 0.2)))
    assert summary["fields_by_eye"]["right"] == ["disc"]
