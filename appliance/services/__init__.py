"""Narrow services the kiosk (and later the sync worker and the fleet's health check) are given instead of
the whole box: screening (the exam session and the camera), exams (records, worklist, reports), status and
administration."""

from appliance.services.admin import Administration
from appliance.services.exams import ExamRecords
from appliance.services.screening import Screening
from appliance.services.status import BoxStatus

__all__ = ["Administration", "BoxStatus", "ExamRecords", "Screening"]
