"""Screening for the kiosk: the exam session of appliance.pipeline, and photos taken with the camera."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.devices import Camera, report_refusal
from appliance.domain import Capture, Exam, ExamSession, Eye, Field, Patient, ScheduledOrder
from appliance.errors import ApplianceError
from appliance.pipeline import CaptureVerdict, ScreeningPipeline


@dataclass
class Screening:
    pipeline: ScreeningPipeline
    camera: Camera

    @property
    def camera_name(self) -> str:
        return self.camera.name

    def open_exam(self, patient: Patient, *, operator: str, order: ScheduledOrder | None = None) -> ExamSession:
        return self.pipeline.open_exam(patient, operator=operator, order=order)

    def take_photo(self, exam_id: str, eye: Eye, *, actor: str, field: Field = Field.UNKNOWN,
                   replaces: int | None = None, kind: str | None = None) -> CaptureVerdict:
        """Photograph one eye with the box's camera and gate it at once (see ScreeningPipeline.add_capture).

        `kind` picks a demo photo on the simulated camera (healthy, blurred…) and is refused by real cameras.
        Raises CameraError besides what add_capture raises.
        """
        capture = self.camera.capture(eye, field) if kind is None else self.camera.capture(eye, field, kind=kind)
        try:
            return self.pipeline.add_capture(exam_id, capture, actor=actor, replaces=replaces)
        except ApplianceError as exc:  # a camera that files its photos (the watch folder) sets the file aside
            report_refusal(self.camera, capture, exc.message)
            raise

    def add_photo(self, exam_id: str, capture: Capture, *, actor: str, replaces: int | None = None) -> CaptureVerdict:
        """A photo that came from elsewhere (an upload, a watch folder)."""
        return self.pipeline.add_capture(exam_id, capture, actor=actor, replaces=replaces)

    def confirm_eye(self, exam_id: str, photo_id: int, *, actor: str) -> ExamSession:
        return self.pipeline.confirm_eye(exam_id, photo_id, actor=actor)

    def cancel(self, exam_id: str, *, actor: str, reason: str) -> ExamSession:
        return self.pipeline.cancel(exam_id, actor=actor, reason=reason)

    def finish(self, exam_id: str, *, actor: str) -> Exam:
        return self.pipeline.finish(exam_id, actor=actor)

    def screen(self, patient: Patient, captures: list[Capture], *, operator: str, confirm_eyes: bool = False) -> Exam:
        return self.pipeline.screen(patient, captures, operator=operator, confirm_eyes=confirm_eyes)
