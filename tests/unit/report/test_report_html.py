"""The print view report.html: the same lines as the PDF, photos from the API, no inline script or style."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask, render_template
from markupsafe import escape
from report_exams import MODEL, ExamBuilder, refer_two_photos, ungradable_with_failed_photos

from appliance.domain import NOT_VALIDATED_NOTICE, Patient
from appliance.report import report_context

KIOSK = Path(__file__).resolve().parents[3] / "appliance" / "kiosk"


@pytest.fixture(scope="module")
def app() -> Flask:
    return Flask(__name__, template_folder=str(KIOSK / "templates"), static_folder=str(KIOSK / "static"))


def render(app: Flask, builder: ExamBuilder) -> str:
    with app.test_request_context("/"):
        return render_template("report.html", **report_context(builder.summary()))


@pytest.mark.parametrize("builder", [refer_two_photos, ungradable_with_failed_photos])
def test_print_view_has_the_report_lines(app: Flask, builder: Callable[[], ExamBuilder]) -> None:
    exam = builder()
    summary = exam.summary()
    html = render(app, exam)
    assert "Diabetic retinopathy screening report" in html
    assert "P-0042" in html and "1961-05-02" in html
    assert "2025-03-14 09:26 UTC" in html and "nurse.amina" in html
    assert str(escape(summary["message"])) in html
    for eye in summary["eyes"].values():
        assert eye["words"] in html
    for image in summary["images"]:
        assert f'src="/api/images/{image["sha256"]}"' in html
        if not image["quality"]["passed"]:
            assert str(escape(image["quality"]["message"])) in html
    assert MODEL.sha256 in html and str(escape(summary["operating_point"]["description"])) in html
    assert NOT_VALIDATED_NOTICE in html


def test_print_view_has_no_inline_script_or_style(app: Flask) -> None:
    html = render(app, ungradable_with_failed_photos())
    assert "<script>" not in html and " on" + "click=" not in html and " style=" not in html
    assert 'src="/static/report.js"' in html and 'href="/static/report.css"' in html
    for name in ("report.js", "report.css"):
        assert (KIOSK / "static" / name).is_file()


def test_print_view_escapes_what_the_clinic_typed(app: Flask) -> None:
    exam = refer_two_photos()
    exam.patient = Patient("<b>Zoë-李</b>", None)
    html = render(app, exam)
    assert "&lt;b&gt;Zoë-李&lt;/b&gt;" in html and "<b>Zoë" not in html
    assert "Date of birth:</span> <span id=\"birth-date\">not recorded" in html


def test_print_stylesheet_is_a4_black_on_white() -> None:
    css = (KIOSK / "static" / "report.css").read_text()
    assert "@media print" in css and "size: A4" in css
