"""Exams for the kiosk: results, open exams, the worklist, photos and heatmaps; every read of patient data
is audited with who read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.config import LimitsConfig
from appliance.domain import Exam, ExamSession, ExamState, WorklistEntry, utc_now
from appliance.imaging import decode_image
from appliance.inference.model import Model
from appliance.store import ExamStore
from appliance.summary import exam_summary

#: The worklist's "today": exams opened in the last this many hours (the box keeps UTC; a clinic's day
#: never spans more).
TODAY_HOURS = 24


@dataclass
class ExamRecords:
    store: ExamStore
    model: Model
    limits: LimitsConfig

    def result_shown(self, exam: Exam, *, reader: str, via: str) -> None:
        """Record that a new result was shown (audited 'result_shown', with its outcome and where: kiosk, api, cli)."""
        self.store.record_audit("result_shown", actor=reader, exam_id=exam.exam_id,
                                detail={"outcome": exam.result.outcome.value, "via": via})

    def result(self, exam_id: str, *, reader: str) -> Exam:
        """A finished exam (audited 'exam_viewed'). Raises ExamNotFoundError, StorageError."""
        exam = self.store.get_exam(exam_id)
        self.store.record_audit("exam_viewed", actor=reader, exam_id=exam_id, detail={"what": "result"})
        return exam

    def session(self, exam_id: str, *, reader: str) -> ExamSession:
        """An exam as a session, open or closed (audited 'exam_viewed'). Raises ExamNotFoundError, StorageError."""
        session = self.store.get_session(exam_id)
        self.store.record_audit("exam_viewed", actor=reader, exam_id=exam_id, detail={"what": "session"})
        return session

    def worklist(self, *, reader: str, patient_id: str | None = None, today_only: bool = True,
                 states: tuple[ExamState, ...] = (), limit: int = 100,
                 now: datetime | None = None) -> list[WorklistEntry]:
        """Today's exams (or one patient's, all days), newest first (audited 'worklist_viewed')."""
        since = None if not today_only else (now or utc_now()) - timedelta(hours=TODAY_HOURS)
        entries = self.store.worklist(since=since, patient_id=patient_id, states=states, limit=limit)
        self.store.record_audit("worklist_viewed", actor=reader, detail={
            "search": patient_id is not None, "today_only": today_only, "rows": len(entries)})
        return entries

    def exams_today(self, patient_id: str, *, now: datetime | None = None) -> list[WorklistEntry]:
        """The patient's exams opened today (not audited: used to warn of a second exam the same day)."""
        since = (now or utc_now()) - timedelta(hours=TODAY_HOURS)
        return self.store.worklist(since=since, patient_id=patient_id)

    def report(self, exam_id: str, *, reader: str) -> bytes:
        """The exam's one-page PDF report: the stored copy, or made now from the stored exam and photos and
        stored with it (audited 'report_created'; reading it is audited 'exam_viewed').
        Raises ExamNotFoundError, StorageError."""
        exam = self.store.get_exam(exam_id)
        self.store.record_audit("exam_viewed", actor=reader, exam_id=exam_id, detail={"what": "report"})
        pdf = self.store.report_pdf(exam_id)
        if pdf is None:
            from appliance.report.pdf import exam_report_pdf  # fpdf: imported when the first PDF is made

            photos = {image.sha256: self.store.image_bytes(image.sha256) for image in exam.images}
            pdf = exam_report_pdf(exam_summary(exam), photos)
            self.store.save_report(exam_id, pdf, actor=reader)
        return pdf

    def photo(self, sha256: str) -> bytes:
        """A stored photo's bytes, checked against its hash. Raises KeyError, StorageError."""
        return self.store.image_bytes(sha256)

    def heatmap(self, sha256: str) -> bytes:
        """PNG of where the model looked on a stored photo. Raises KeyError, HeatmapUnavailableError."""
        return self.model.explain(decode_image(self.store.image_bytes(sha256), self.limits, reduced=True))
