"""The printable one-page report of a finished exam: an HTML print view and a PDF, stored with the exam the
first time it is made (the sync worker sends that copy on)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask.typing import ResponseReturnValue

from appliance.kiosk.context import actor, services
from appliance.kiosk.exams import exam_id_or_404
from appliance.report import report_context
from appliance.summary import exam_summary

report_pages = Blueprint("report_pages", __name__)


@report_pages.get("/exams/<exam_id>/report")
def report_html(exam_id: str) -> ResponseReturnValue:
    exam = services().exams.result(exam_id_or_404(exam_id), reader=actor())
    return render_template("report.html", **report_context(exam_summary(exam)))


@report_pages.get("/api/exams/<exam_id>/report.pdf")
def report_pdf(exam_id: str) -> ResponseReturnValue:
    pdf = services().exams.report(exam_id_or_404(exam_id), reader=actor())
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": "attachment; filename=screening-report.pdf"})
