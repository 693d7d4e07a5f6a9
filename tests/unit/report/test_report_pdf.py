"""The one-page PDF report: one A4 page whatever the photos, the lines the clinic needs, core-font safe."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader
from report_exams import (
    MODEL,
    ExamBuilder,
    no_refer_four_photos,
    refer_two_photos,
    ungradable_with_failed_photos,
)

from appliance.domain import NOT_VALIDATED_NOTICE, Eye, Patient
from appliance.report import exam_report_pdf
from appliance.report.latin1 import latin1

A4_POINTS = (595.28, 841.89)


def render(builder: ExamBuilder, photos: dict[str, bytes] | None = None, **summary_args: Any) -> PdfReader:
    pdf = exam_report_pdf(builder.summary(**summary_args), builder.photos if photos is None else photos,
                          box_name="clinic-box-01")
    return PdfReader(io.BytesIO(pdf))


def one_page_text(reader: PdfReader) -> str:
    """The page's text with runs of whitespace (line wraps) made single spaces."""
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(A4_POINTS, abs=0.1)
    return " ".join(reader.pages[0].extract_text().split())


@pytest.mark.parametrize("builder", [refer_two_photos, no_refer_four_photos, ungradable_with_failed_photos])
def test_one_a4_page_with_the_clinic_lines(builder: Callable[[], ExamBuilder]) -> None:
    exam = builder()
    summary = exam.summary()
    text = one_page_text(render(exam))
    assert "Diabetic retinopathy screening report" in text
    assert "P-0042" in text and "1961-05-02" in text
    assert "2025-03-14 09:26 UTC" in text and "nurse.amina" in text
    assert summary["message"] in text
    for eye in summary["eyes"].values():
        assert eye["words"] in text
    assert MODEL.sha256 in text and "dr-reference 0.3.0" in text and "onnxruntime-cpu" in text
    assert summary["operating_point"]["description"] in text
    assert "camera profile default" in text
    assert NOT_VALIDATED_NOTICE in text and "not clinically validated" in text


def test_every_photo_is_embedded_once() -> None:
    exam = no_refer_four_photos()
    reader = render(exam)
    assert len(reader.pages[0].images) == len(exam.photos) == 4


def test_ungradable_exam_shows_each_failed_photo_and_the_retake_advice() -> None:
    exam = ungradable_with_failed_photos()
    summary = exam.summary()
    text = one_page_text(render(exam))
    assert summary["outcome"] == "UNGRADABLE"
    assert "Image is blurred: ask the patient to keep still and refocus." in text
    # The em dash of the too-dark sentence is drawn as a hyphen by the core fonts.
    assert "the pupil may be small - consider dilation or dim the room." in text
    assert "Field not centred" in text and "Also: uneven illumination." in text
    assert summary["retake"]["right"]["message"] in text


def test_many_photos_and_notes_still_fit_on_one_page() -> None:
    exam = ExamBuilder()
    for eye in Eye:
        for index in range(1, 4):
            exam.add(eye, "blurred", reasons=("blurred", "too_dark", "eyelid_artefact"), index=index)
    text = one_page_text(render(exam))
    assert NOT_VALIDATED_NOTICE in text and "Photo 6" in text


def test_notes_that_do_not_fit_are_counted_in_a_last_line() -> None:
    exam = ExamBuilder()
    for eye in Eye:
        for index in range(1, 16):
            exam.add(eye, "dark", reasons=("too_dark",), index=index)
    text = one_page_text(render(exam))
    assert "more note(s) in the exam record." in text
    assert NOT_VALIDATED_NOTICE in text and MODEL.sha256 in text


def test_text_outside_latin1_is_replaced_not_fatal() -> None:
    exam = refer_two_photos()
    exam.patient = Patient("Zoë-李 — 7", exam.patient.birth_date)
    text = one_page_text(render(exam, operator="Dr. O’Brien ≥ 2"))
    assert "Zoë-? - 7" in text
    assert "Dr. O'Brien >= 2" in text


def test_missing_or_undecodable_photos_are_drawn_as_empty_frames() -> None:
    exam = refer_two_photos()
    broken = {sha: b"not an image" for sha in list(exam.photos)[:1]}
    text = one_page_text(render(exam, photos=broken))
    assert text.count("photo not available") == 2


def test_same_exam_same_bytes() -> None:
    exam = ungradable_with_failed_photos()
    summary = exam.summary()
    assert exam_report_pdf(summary, exam.photos) == exam_report_pdf(summary, exam.photos)


@pytest.mark.parametrize(("text", "drawn"), [
    ("a — b – c", "a - b - c"), ("≥ 2 ≤ 3", ">= 2 <= 3"), ("’‘“”…", "''\"\"..."), ("Zoë", "Zoë"),
    ("Łódź ő œ", "Lódz o oe"), ("李", "?"), ("tab\there\nline", "tab here line"),
])
def test_latin1_keeps_what_core_fonts_draw(text: str, drawn: str) -> None:
    assert latin1(text) == drawn
    drawn.encode("latin-1")
