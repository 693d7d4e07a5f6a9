"""The printable one-page exam report: the content (`report_content`), the PDF (`exam_report_pdf`) and the
context of the print view template `report.html` (`report_context`)."""

from appliance.report.content import ReportContent, report_content, report_context
from appliance.report.pdf import exam_report_pdf

__all__ = ["ReportContent", "exam_report_pdf", "report_content", "report_context"]
