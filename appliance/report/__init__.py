"""The printable one-page exam report: the content (`report_content`), the PDF (`exam_report_pdf`) and the
context of the print view template `report.html` (`report_context`)."""

from typing import Any

from appliance.report.content import ReportContent, report_content, report_context

__all__ = ["ReportContent", "exam_report_pdf", "report_content", "report_context"]


def __getattr__(name: str) -> Any:
    # fpdf takes a sixth of the kiosk's start-up: it is imported when the first PDF is made.
    if name == "exam_report_pdf":
        from appliance.report.pdf import exam_report_pdf

        return exam_report_pdf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
