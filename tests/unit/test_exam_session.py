"""The exam as a session (ScreeningPipeline): open, a photo at a time judged by the real quality gate and
stored at once, retakes, left/right doubts, cancel, finish, and the one-shot `screen()`. A real ExamStore in
a temp folder, the shipped IDRiD samples (and copies of them spoiled on purpose), and a model whose runner
returns a fixed score."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from model_fakes import manifest_fields, tiny_onnx, to_toml

from appliance.config import Config, load_config
from appliance.domain import Capture, ExamState, Eye, Field, Outcome, Patient, Sex, utc_now
from appliance.errors import (
    ExamInputError,
    ExamNotFoundError,
    ExamStateError,
    EyeSideDoubtError,
    ImageError,
    ModelError,
    StorageError,
)
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.model import Model
from appliance.inference.runner import Batch, Runner
from appliance.pipeline import ScreeningPipeline, eye_warning
from appliance.quality import REASON_MESSAGES
from appliance.quality.field_of_view import FieldOfView, find_field
from appliance.store import ExamStore
from appliance.summary import exam_summary, session_summary

SAMPLES = Path(__file__).resolve().parents[2] / "appliance" / "devices" / "samples"
TECH = "tech-1"
#: The tiny model's manifest threshold (model_fakes.manifest_fields).
THRESHOLD = 0.42
LOW, HIGH = 0.1, 0.9


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _spoiled(data: bytes, how: str) -> bytes:
    """A copy of a sample the gate must fail: heavily blurred, or much too dark."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    bgr = cv2.GaussianBlur(bgr, (0, 0), 12) if how == "blurred" else (bgr * 0.2).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


# Gradable photos whose optic disc sits on the side of the eye they are named for.
RIGHT, RIGHT_2, RIGHT_3 = (_sample(f"healthy_0{i}_right.jpg") for i in (1, 2, 3))
LEFT, LEFT_2 = (_sample(f"healthy_0{i}_left.jpg") for i in (1, 2))
BLURRED_LEFT = _spoiled(LEFT, "blurred")
BLURRED_LEFT_2 = _spoiled(LEFT_2, "blurred")
BLURRED_LEFT_3 = _spoiled(_sample("healthy_03_left.jpg"), "blurred")
DARK_RIGHTS = [_spoiled(data, "dark") for data in (RIGHT, RIGHT_2, RIGHT_3)]
NOT_FUNDUS = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (400, 500, 3), dtype=np.uint8))[1].tobytes()


class FixedRunner(Runner):
    """Scores every photo `score`, and remembers the batch sizes it was given."""

    name = "fixed"

    def __init__(self, manifest: ModelManifest, score: float = LOW) -> None:
        super().__init__(manifest)
        self.score = score
        self.batches: list[int] = []
        self.fail = False

    def activate_impl(self) -> None:
        pass

    def infer_impl(self, batch: Batch) -> Any:
        if self.fail:
            raise ModelError("The model failed.")
        self.batches.append(batch.shape[0])
        return np.full((batch.shape[0], 1), self.score, np.float32)

    def deactivate_impl(self) -> None:
        pass


@pytest.fixture
def config() -> Config:
    return load_config(env={})


@pytest.fixture
def runner(tmp_path: Path) -> FixedRunner:
    model = tiny_onnx()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(model)
    (folder / "model.toml").write_text(to_toml(manifest_fields("model.onnx", hashlib.sha256(model).hexdigest())))
    fixed = FixedRunner(load_manifest(folder / "model.toml"))
    fixed.activate()
    return fixed


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def pipeline(config: Config, runner: FixedRunner, store: ExamStore) -> ScreeningPipeline:
    return ScreeningPipeline(config=config, model=Model(manifest=runner.manifest, runner=runner), store=store)


def shot(eye: Eye, data: bytes) -> Capture:
    return Capture(eye=eye, image=data, source="test-camera", device="cam-1")


def opened(pipeline: ScreeningPipeline, patient_id: str = "P-001") -> str:
    return pipeline.open_exam(Patient(patient_id), operator=TECH).exam_id


def actions(store: ExamStore, exam_id: str | None = None) -> list[str]:
    return [e.action for e in store.audit_entries(exam_id)]


def image_files(store: ExamStore) -> list[Path]:
    return sorted(p for p in (store.data_dir / "images").rglob("*") if p.is_file())


# --- opening -------------------------------------------------------------------------------------------------


def test_opening_an_exam_makes_it_durable_at_once(pipeline: ScreeningPipeline, store: ExamStore) -> None:
    patient = Patient("  P-001 ", birth_date=date(1961, 3, 4), sex=Sex.FEMALE)
    session = pipeline.open_exam(patient, operator=TECH)
    assert session.patient == Patient("P-001", birth_date=date(1961, 3, 4), sex=Sex.FEMALE)  # id trimmed
    assert session.state is ExamState.OPEN and session.photos == () and session.operator == TECH
    assert store.get_session(session.exam_id) == session
    assert [(e.exam_id, e.state) for e in store.worklist()] == [(session.exam_id, ExamState.OPEN)]
    assert actions(store, session.exam_id) == ["exam_opened"]
    assert pipeline.open_exam(Patient("P-001"), operator=TECH).exam_id != session.exam_id


@pytest.mark.parametrize(("patient", "code"), [
    (Patient(""), "patient_id_missing"),
    (Patient("   "), "patient_id_missing"),
    (Patient("P" * 65), "patient_id_invalid"),
    (Patient("P-1\nP-2"), "patient_id_invalid"),
    # two days ahead: the date is taken when the suite is collected, and a suite may run across midnight
    (Patient("P-1", birth_date=utc_now().date() + timedelta(days=2)), "birth_date_invalid"),
])
def test_a_bad_patient_id_or_a_birth_date_in_the_future_opens_nothing(
        pipeline: ScreeningPipeline, store: ExamStore, patient: Patient, code: str) -> None:
    with pytest.raises(ExamInputError) as caught:
        pipeline.open_exam(patient, operator=TECH)
    assert caught.value.reason_code == code
    assert store.worklist() == [] and store.audit_entries() == []


# --- one photo at a time -------------------------------------------------------------------------------------


def test_a_passing_photo_is_stored_with_its_verdict_and_no_advice(pipeline: ScreeningPipeline,
                                                                  store: ExamStore) -> None:
    exam_id = opened(pipeline)
    verdict = pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)

    photo = verdict.photo
    assert photo.quality.passed and photo.quality.reason_codes == () and photo.quality.operator_message == ""
    assert (photo.photo_id, photo.eye, photo.sha256) == (1, Eye.RIGHT, hashlib.sha256(RIGHT).hexdigest())
    assert photo.looks_like is Eye.RIGHT and photo.eye_confirmed and verdict.eye_warning == ""
    assert photo.detected_field is Field.MACULA and photo.source == "test-camera" and photo.device == "cam-1"
    assert (verdict.guidance.message, verdict.guidance.failed_attempts, verdict.guidance.escalate) == ("", 0, False)
    # Durable on return, bytes and all.
    assert verdict.session == store.get_session(exam_id) and verdict.session.photos == (photo,)
    assert store.image_bytes(photo.sha256) == RIGHT
    assert actions(store, exam_id) == ["exam_opened", "photo_taken"]
    assert store.audit_entries(exam_id)[-1].detail["passed"] is True


@pytest.mark.parametrize(("data", "reason"), [
    (BLURRED_LEFT, "blurred"),
    (_spoiled(LEFT, "dark"), "too_dark"),
    (NOT_FUNDUS, "not_fundus"),
])
def test_a_failing_photo_is_stored_with_the_retake_sentence(pipeline: ScreeningPipeline, store: ExamStore,
                                                            data: bytes, reason: str) -> None:
    exam_id = opened(pipeline)
    verdict = pipeline.add_capture(exam_id, shot(Eye.LEFT, data), actor=TECH)
    assert not verdict.photo.quality.passed
    assert verdict.photo.quality.reason_codes[0] == reason
    assert verdict.photo.quality.operator_message == REASON_MESSAGES[reason]
    assert verdict.guidance.message == REASON_MESSAGES[reason]
    assert verdict.guidance.failed_attempts == 1 and not verdict.guidance.escalate
    assert verdict.photo.looks_like is None and verdict.eye_warning == ""  # no left/right guess on a bad photo
    assert store.get_session(exam_id).photos == (verdict.photo,)
    assert store.audit_entries(exam_id)[-1].detail["reason_codes"][0] == reason


def test_a_retake_replaces_the_newest_failed_photo_of_that_eye(pipeline: ScreeningPipeline,
                                                               store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    failed = pipeline.add_capture(exam_id, shot(Eye.LEFT, BLURRED_LEFT), actor=TECH).photo
    verdict = pipeline.add_capture(exam_id, shot(Eye.LEFT, LEFT), actor=TECH)

    session = verdict.session
    assert [p.photo_id for p in session.current(Eye.LEFT)] == [verdict.photo.photo_id] == [3]
    assert [(p.photo_id, p.replaced) for p in session.attempts(Eye.LEFT)] == [(failed.photo_id, True), (3, False)]
    assert verdict.guidance.message == "" and verdict.guidance.failed_attempts == 0
    assert store.audit_entries(exam_id)[-1].detail["replaces"] == failed.photo_id
    assert store.image_bytes(failed.sha256) == BLURRED_LEFT  # the retaken photo stays on record


def test_a_chosen_photo_is_replaced_with_replaces(pipeline: ScreeningPipeline, store: ExamStore) -> None:
    exam_id = opened(pipeline)
    first = pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH).photo
    second = pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT_2), actor=TECH).photo
    verdict = pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT_3), actor=TECH, replaces=first.photo_id)
    assert [p.photo_id for p in verdict.session.current(Eye.RIGHT)] == [second.photo_id, verdict.photo.photo_id]
    assert [p.replaced for p in verdict.session.photos] == [True, False, False]
    assert store.audit_entries(exam_id)[-1].detail["replaces"] == first.photo_id


def test_replacing_a_photo_that_is_not_in_use_for_that_eye_is_refused(pipeline: ScreeningPipeline,
                                                                      store: ExamStore) -> None:
    exam_id = opened(pipeline)
    right = pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH).photo
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT_2), actor=TECH, replaces=right.photo_id)
    before = store.get_session(exam_id)
    for replaces, eye in [(99, Eye.RIGHT), (right.photo_id, Eye.RIGHT), (2, Eye.LEFT)]:  # unknown, retaken, other eye
        with pytest.raises(ExamInputError) as caught:
            pipeline.add_capture(exam_id, shot(eye, RIGHT_3 if eye is Eye.RIGHT else LEFT), actor=TECH,
                                 replaces=replaces)
        assert caught.value.reason_code == "photo_not_found"
    assert store.get_session(exam_id) == before
    rejected = [e for e in store.audit_entries(exam_id) if e.action == "photo_rejected"]
    assert [e.detail["reason_code"] for e in rejected] == ["photo_not_found"] * 3


def test_a_third_good_photo_of_an_eye_is_refused(pipeline: ScreeningPipeline, store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT_2), actor=TECH)
    with pytest.raises(ExamInputError, match="choose one to retake") as caught:
        pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT_3), actor=TECH)
    assert caught.value.reason_code == "too_many_images"
    assert len(store.get_session(exam_id).photos) == 2
    assert store.audit_entries(exam_id)[-1].action == "photo_rejected"


@pytest.mark.parametrize("max_attempts", [2, 3])
def test_repeated_dark_photos_escalate_to_dilation(config: Config, runner: FixedRunner, store: ExamStore,
                                                   max_attempts: int) -> None:
    config = dataclasses.replace(config, quality=dataclasses.replace(config.quality, max_attempts=max_attempts))
    pipeline = ScreeningPipeline(config=config, model=Model(manifest=runner.manifest, runner=runner), store=store)
    exam_id = opened(pipeline)
    for attempt, data in enumerate(DARK_RIGHTS[:max_attempts], start=1):
        guidance = pipeline.add_capture(exam_id, shot(Eye.RIGHT, data), actor=TECH).guidance
        assert guidance.failed_attempts == attempt
        assert guidance.escalate is (attempt == max_attempts)
        if attempt < max_attempts:
            assert guidance.message == REASON_MESSAGES["too_dark"]
    assert guidance.message.startswith(f"No gradable photo after {max_attempts} attempts: dilate the pupil")
    session = store.get_session(exam_id)
    assert len(session.current(Eye.RIGHT)) == 1 and len(session.attempts(Eye.RIGHT)) == max_attempts
    summary = session_summary(session, max_attempts)["eyes"]["right"]
    assert summary["escalate"] and summary["advice"] == guidance.message and not summary["gradable"]


def test_a_finished_exam_keeps_the_escalation_of_its_retaken_photos(pipeline: ScreeningPipeline,
                                                                    store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    for data in (BLURRED_LEFT, BLURRED_LEFT_2, BLURRED_LEFT):
        pipeline.add_capture(exam_id, shot(Eye.LEFT, data), actor=TECH)
    pipeline.finish(exam_id, actor=TECH)
    advice = exam_summary(store.get_exam(exam_id))["retake"]["left"]
    assert advice["escalate"] and advice["failed_attempts"] == 3 and "refer" in advice["message"]


def test_repeated_blurred_photos_escalate_to_referral(pipeline: ScreeningPipeline) -> None:
    exam_id = opened(pipeline)
    for data in (BLURRED_LEFT, BLURRED_LEFT_2, BLURRED_LEFT_3):
        guidance = pipeline.add_capture(exam_id, shot(Eye.LEFT, data), actor=TECH).guidance
    assert guidance.escalate and guidance.failed_attempts == 3
    assert "refer the patient to an eye care professional" in guidance.message and "dilate" not in guidance.message
    # A good photo at last: the advice for the eye is over.
    guidance = pipeline.add_capture(exam_id, shot(Eye.LEFT, LEFT), actor=TECH).guidance
    assert (guidance.message, guidance.failed_attempts, guidance.escalate) == ("", 0, False)


def test_the_same_photo_for_both_eyes_is_refused_and_not_stored(pipeline: ScreeningPipeline,
                                                                store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    with pytest.raises(EyeSideDoubtError, match="same photo was given for both eyes") as caught:
        pipeline.add_capture(exam_id, shot(Eye.LEFT, RIGHT), actor=TECH)
    assert caught.value.reason_code == "eye_side_doubt"
    assert [p.eye for p in store.get_session(exam_id).photos] == [Eye.RIGHT]
    assert store.audit_entries(exam_id)[-1].action == "photo_rejected"
    assert store.audit_entries(exam_id)[-1].detail == {"eye": "left", "reason_code": "eye_side_doubt"}


def test_a_photo_that_looks_like_the_other_eye_must_be_confirmed_before_finishing(
        pipeline: ScreeningPipeline, store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    verdict = pipeline.add_capture(exam_id, shot(Eye.LEFT, RIGHT_2), actor=TECH)  # a right eye taken as the left
    photo = verdict.photo
    assert photo.quality.passed and photo.looks_like is Eye.RIGHT and not photo.eye_confirmed and photo.eye_doubt
    assert "looks like a right eye" in verdict.eye_warning and "taken as the left eye" in verdict.eye_warning
    assert store.audit_entries(exam_id)[-1].detail["looks_like"] == "right"

    summary = session_summary(store.get_session(exam_id), 3)
    assert summary["can_finish"] is False and f"Photo {photo.photo_id} may show the other eye" in \
        summary["finish_blocker"]
    assert summary["photos"][1]["eye_warning"] == verdict.eye_warning
    with pytest.raises(EyeSideDoubtError):
        pipeline.finish(exam_id, actor=TECH)
    assert store.get_session(exam_id).state is ExamState.OPEN

    with pytest.raises(ExamInputError, match="no such photo"):
        pipeline.confirm_eye(exam_id, 99, actor=TECH)
    session = pipeline.confirm_eye(exam_id, photo.photo_id, actor="tech-2")
    confirmed = session.photos[-1]
    assert confirmed.eye_confirmed and confirmed.looks_like is Eye.RIGHT and eye_warning(confirmed) == ""
    entry = store.audit_entries(exam_id)[-1]
    assert (entry.action, entry.actor, entry.detail) == ("eye_confirmed", "tech-2", {"photo_id": photo.photo_id})
    assert session_summary(session, 3)["can_finish"] is True
    assert pipeline.finish(exam_id, actor=TECH).result.outcome is Outcome.NO_REFER


def test_an_undecodable_photo_is_refused_and_nothing_is_stored(pipeline: ScreeningPipeline,
                                                               store: ExamStore) -> None:
    exam_id = opened(pipeline)
    codes = []
    for data in (b"not an image at all", RIGHT[: len(RIGHT) // 2], b""):
        with pytest.raises(ImageError) as caught:
            pipeline.add_capture(exam_id, shot(Eye.RIGHT, data), actor=TECH)
        codes.append(caught.value.reason_code)
    assert codes[1] == "image_truncated"
    assert store.get_session(exam_id).photos == ()
    assert image_files(store) == []
    rejected = [e for e in store.audit_entries(exam_id) if e.action == "photo_rejected"]
    assert [e.detail for e in rejected] == [{"eye": "right", "reason_code": code} for code in codes]


# --- finishing and cancelling ----------------------------------------------------------------------------------


def _one_eye_ungradable(pipeline: ScreeningPipeline) -> tuple[str, int, list[int]]:
    """An exam whose right eye has one good photo and whose left eye only failed ones (the first retaken)."""
    exam_id = opened(pipeline)
    good = pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH).photo.photo_id
    failed = [pipeline.add_capture(exam_id, shot(Eye.LEFT, data), actor=TECH).photo.photo_id
              for data in (BLURRED_LEFT, BLURRED_LEFT_2)]
    return exam_id, good, failed


@pytest.mark.parametrize(("score", "outcome"), [(LOW, Outcome.UNGRADABLE), (HIGH, Outcome.REFER)])
def test_finishing_with_one_eye_ungradable_follows_the_decision_rules(
        pipeline: ScreeningPipeline, runner: FixedRunner, store: ExamStore, score: float, outcome: Outcome) -> None:
    runner.score = score
    exam_id, good, failed = _one_eye_ungradable(pipeline)
    exam = pipeline.finish(exam_id, actor="tech-2")

    assert exam.result.outcome is outcome  # REFER even with an ungradable eye: the person goes anyway
    assert exam.result.eye_scores == {Eye.RIGHT: pytest.approx(score), Eye.LEFT: None}
    assert exam.result.threshold == THRESHOLD and exam.result.operating_point is not None
    assert runner.batches == [1]  # only the gradable photo was scored
    # The photos in use are the result's images: the good right one and the newest failed left one.
    assert [(i.photo.photo_id, i.prediction is not None) for i in exam.images] == [(good, True), (failed[-1], False)]
    assert exam.model == pipeline.model.info and exam.operator == TECH
    assert exam.gate is not None and exam.gate.max_attempts == 3 and exam.gate.profile == "default"
    assert exam.gate.thresholds["too_dark_mean"] == pipeline.config.quality.too_dark_mean
    summary = exam_summary(exam)
    assert summary["eyes"]["right"]["photos_used"] == [good] and summary["eyes"]["left"]["photos_used"] == []
    assert summary["eyes"]["left"]["finding"] == "ungradable" and "left" in summary["retake"]
    # The advice counts every photo taken of the eye, the retaken one included, as it did live.
    assert summary["retake"]["left"]["failed_attempts"] == 2 and not summary["retake"]["left"]["escalate"]
    assert [p.photo_id for p in exam.attempts] == [good, *failed]

    # Stored: the session is finished and the exam reads back the same.
    session = store.get_session(exam_id)
    assert session.state is ExamState.FINISHED and session.closed_by == "tech-2" and session.closed_at is not None
    assert store.get_exam(exam_id) == exam
    assert exam_summary(store.get_exam(exam_id)) == summary
    assert [(e.exam_id, e.outcome) for e in store.worklist()] == [(exam_id, outcome)]
    assert actions(store, exam_id)[-1] == "exam_created"
    assert [(m.exam_id, m.kind) for m in store.pending_outbox()] == [(exam_id, "dicom"), (exam_id, "fhir")]


def test_the_result_is_stored_before_it_is_returned(pipeline: ScreeningPipeline, store: ExamStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    exam_id, _, _ = _one_eye_ungradable(pipeline)

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise StorageError("The appliance could not save the exam: storage is full or failing.")

    monkeypatch.setattr(store, "finish_exam", full_disk)
    with pytest.raises(StorageError):  # no result reaches anyone unless it was stored
        pipeline.finish(exam_id, actor=TECH)
    monkeypatch.undo()
    assert store.get_session(exam_id).state is ExamState.OPEN
    with pytest.raises(ExamNotFoundError):
        store.get_exam(exam_id)

    stored_first: list[Any] = []
    real_finish = store.finish_exam

    def finish_and_look(exam: Any, *, actor: str) -> None:
        real_finish(exam, actor=actor)
        with ExamStore.open(store.data_dir) as other:  # another process sees it before finish() returns
            stored_first.append(other.get_exam(exam.exam_id))

    monkeypatch.setattr(store, "finish_exam", finish_and_look)
    exam = pipeline.finish(exam_id, actor=TECH)
    assert stored_first == [exam]


def test_a_model_failure_leaves_the_exam_open(pipeline: ScreeningPipeline, runner: FixedRunner,
                                              store: ExamStore) -> None:
    exam_id, _, _ = _one_eye_ungradable(pipeline)
    runner.fail = True
    with pytest.raises(ModelError):
        pipeline.finish(exam_id, actor=TECH)
    assert store.get_session(exam_id).state is ExamState.OPEN
    runner.fail = False
    assert pipeline.finish(exam_id, actor=TECH).result.outcome is Outcome.UNGRADABLE


def test_an_exam_is_finished_once_and_then_takes_no_photo(pipeline: ScreeningPipeline, store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    pipeline.add_capture(exam_id, shot(Eye.LEFT, LEFT), actor=TECH)
    first = pipeline.finish(exam_id, actor=TECH)
    assert first.result.outcome is Outcome.NO_REFER
    with pytest.raises(ExamStateError) as caught:
        pipeline.finish(exam_id, actor=TECH)
    assert caught.value.reason_code == "exam_not_open"
    with pytest.raises(ExamStateError):
        pipeline.add_capture(exam_id, shot(Eye.LEFT, LEFT_2), actor=TECH)
    with pytest.raises(ExamStateError):
        pipeline.cancel(exam_id, actor=TECH, reason="too late")
    assert store.get_exam(exam_id) == first and len(store.pending_outbox()) == 2  # the PACS and the EHR
    assert session_summary(store.get_session(exam_id), 3)["can_finish"] is False


@pytest.mark.parametrize("missing", [Eye.RIGHT, Eye.LEFT])
def test_finishing_without_a_photo_of_an_eye_is_refused(pipeline: ScreeningPipeline, store: ExamStore,
                                                        missing: Eye) -> None:
    exam_id = opened(pipeline)
    other = Eye.LEFT if missing is Eye.RIGHT else Eye.RIGHT
    pipeline.add_capture(exam_id, shot(other, RIGHT if other is Eye.RIGHT else LEFT), actor=TECH)
    with pytest.raises(ExamInputError) as caught:
        pipeline.finish(exam_id, actor=TECH)
    assert caught.value.reason_code == f"{missing.value}_eye_missing"
    summary = session_summary(store.get_session(exam_id), 3)
    assert summary["can_finish"] is False and summary["finish_blocker"] == caught.value.message
    assert store.get_session(exam_id).state is ExamState.OPEN


def test_cancelling_closes_the_exam_without_a_result(pipeline: ScreeningPipeline, store: ExamStore) -> None:
    exam_id = opened(pipeline)
    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    session = pipeline.cancel(exam_id, actor="tech-2", reason="  patient left  ")
    assert session.state is ExamState.CANCELLED and session.close_reason == "patient left"
    assert session.closed_by == "tech-2" and session.closed_at is not None
    entry = store.audit_entries(exam_id)[-1]
    assert (entry.action, entry.actor, entry.detail) == ("exam_cancelled", "tech-2", {"reason": "patient left"})
    assert store.image_bytes(session.photos[0].sha256) == RIGHT  # its photos stay on record

    with pytest.raises(ExamStateError):
        pipeline.add_capture(exam_id, shot(Eye.LEFT, LEFT), actor=TECH)
    with pytest.raises(ExamStateError):
        pipeline.finish(exam_id, actor=TECH)
    with pytest.raises(ExamStateError):
        pipeline.cancel(exam_id, actor=TECH, reason="again")
    with pytest.raises(ExamNotFoundError):
        store.get_exam(exam_id)
    assert [(e.state, e.outcome) for e in store.worklist()] == [(ExamState.CANCELLED, None)]
    assert session_summary(store.get_session(exam_id), 3)["can_finish"] is False
    assert pipeline.cancel(opened(pipeline), actor=TECH, reason="   ").close_reason == "cancelled"


def test_an_unknown_exam_is_not_found(pipeline: ScreeningPipeline) -> None:
    with pytest.raises(ExamNotFoundError):
        pipeline.add_capture("no-such-exam", shot(Eye.RIGHT, RIGHT), actor=TECH)
    with pytest.raises(ExamNotFoundError):
        pipeline.finish("no-such-exam", actor=TECH)


def test_an_exam_survives_a_crash_between_captures(config: Config, runner: FixedRunner, tmp_path: Path) -> None:
    data_dir = tmp_path / "box"
    store = ExamStore.open(data_dir)
    before = ScreeningPipeline(config=config, model=Model(manifest=runner.manifest, runner=runner), store=store)
    exam_id = opened(before)
    photo = before.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH).photo
    store.close()  # the box goes down between the right and the left photo

    with ExamStore.open(data_dir) as reopened:
        after = ScreeningPipeline(config=config, model=Model(manifest=runner.manifest, runner=runner),
                                  store=reopened)
        session = reopened.get_session(exam_id)
        assert session.state is ExamState.OPEN and session.photos == (photo,)
        assert reopened.image_bytes(photo.sha256) == RIGHT
        assert [e.exam_id for e in reopened.worklist(states=(ExamState.OPEN,))] == [exam_id]
        assert after.add_capture(exam_id, shot(Eye.LEFT, LEFT), actor=TECH).photo.photo_id == 2
        exam = after.finish(exam_id, actor=TECH)
        assert exam.result.outcome is Outcome.NO_REFER and [i.photo.photo_id for i in exam.images] == [1, 2]
        assert reopened.get_exam(exam_id) == exam


# --- session_summary -------------------------------------------------------------------------------------------


def test_session_summary_says_whether_the_exam_can_be_finished(pipeline: ScreeningPipeline,
                                                               store: ExamStore) -> None:
    exam_id = opened(pipeline)
    empty = session_summary(store.get_session(exam_id), 3)
    assert empty["can_finish"] is False and empty["finish_blocker"].startswith("No right-eye image")
    assert empty["state"] == "open" and empty["photos"] == []

    pipeline.add_capture(exam_id, shot(Eye.RIGHT, RIGHT), actor=TECH)
    failed = pipeline.add_capture(exam_id, shot(Eye.LEFT, BLURRED_LEFT), actor=TECH).photo
    summary = session_summary(store.get_session(exam_id), 3)
    # An ungradable eye does not block finishing: the result says UNGRADABLE (or REFER).
    assert summary["can_finish"] is True and summary["finish_blocker"] == ""
    assert summary["eyes"]["left"] == {"photos_in_use": [failed.photo_id], "gradable": False,
                                       "advice": REASON_MESSAGES["blurred"], "failed_attempts": 1,
                                       "escalate": False}
    assert summary["eyes"]["right"]["gradable"] is True and summary["eyes"]["right"]["advice"] == ""
    assert [p["quality"]["passed"] for p in summary["photos"]] == [True, False]


# --- the one-shot exam -----------------------------------------------------------------------------------------


def test_screen_opens_fills_and_finishes_an_exam(pipeline: ScreeningPipeline, store: ExamStore) -> None:
    exam = pipeline.screen(" P-9 ", [shot(Eye.RIGHT, RIGHT), shot(Eye.LEFT, LEFT)], operator=TECH)
    assert exam.patient_id == "P-9" and exam.result.outcome is Outcome.NO_REFER
    assert exam.opened_at is not None and exam.opened_at <= exam.created_at
    assert store.get_exam(exam.exam_id) == exam
    assert store.get_session(exam.exam_id).state is ExamState.FINISHED
    assert actions(store, exam.exam_id) == ["exam_opened", "photo_taken", "photo_taken", "exam_created"]


def test_finishing_cuts_each_square_around_the_circle_the_gate_fitted_at_capture(
        config: Config, runner: FixedRunner, store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(runner.manifest.input, camera_normalise=True)
    model = Model(manifest=dataclasses.replace(runner.manifest, input=spec), runner=runner)
    pipeline = ScreeningPipeline(config=config, model=model, store=store)
    refits: list[tuple[int, ...]] = []

    def counted_fit(image: npt.NDArray[np.uint8]) -> FieldOfView:
        refits.append(image.shape)
        return find_field(image)

    monkeypatch.setattr("appliance.inference.preprocess.find_field", counted_fit)

    exam = pipeline.screen("P-9", [shot(Eye.RIGHT, RIGHT), shot(Eye.LEFT, LEFT)], operator=TECH)

    assert exam.result.outcome is Outcome.NO_REFER and runner.batches == [2]
    assert refits == []  # the model's squares were cut around the stored circles, not fitted again
    model.score([decode_image(LEFT, config.limits)])  # a photo without the gate's circle is fitted
    assert len(refits) == 1


@pytest.mark.parametrize("captures", [
    [shot(Eye.RIGHT, RIGHT), shot(Eye.LEFT, b"not an image")],
    [shot(Eye.RIGHT, RIGHT)],
    [shot(Eye.RIGHT, RIGHT), shot(Eye.LEFT, RIGHT)],
], ids=["undecodable", "one eye", "same photo"])
def test_screen_stores_nothing_for_a_bad_exam(pipeline: ScreeningPipeline, store: ExamStore,
                                              captures: list[Capture]) -> None:
    with pytest.raises((ImageError, ExamInputError)):
        pipeline.screen("P-9", captures, operator=TECH)
    assert store.worklist() == [] and image_files(store) == []
    assert actions(store) == ["exam_rejected"]


def test_screen_cancels_on_a_left_right_doubt_unless_the_eyes_are_vouched_for(pipeline: ScreeningPipeline,
                                                                              store: ExamStore) -> None:
    swapped = [shot(Eye.RIGHT, LEFT), shot(Eye.LEFT, RIGHT)]
    with pytest.raises(EyeSideDoubtError, match="Nothing was screened"):
        pipeline.screen("P-9", swapped, operator=TECH)
    [cancelled] = store.worklist()
    assert cancelled.state is ExamState.CANCELLED and cancelled.outcome is None
    assert actions(store, cancelled.exam_id)[-1] == "exam_cancelled"
    assert store.list_exams() == []

    exam = pipeline.screen("P-9", swapped, operator=TECH, confirm_eyes=True)
    assert exam.result.outcome is Outcome.NO_REFER
    assert all(i.photo.eye_confirmed and i.photo.looks_like is not i.eye for i in exam.images)
    assert actions(store, exam.exam_id).count("eye_confirmed") == 2
    assert store.get_exam(exam.exam_id) == exam
