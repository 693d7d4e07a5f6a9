"""The durable store: exams in SQLite, images as content-addressed files, audit log, outbox.

Usage:
    with ExamStore.open(data_dir) as store:
        store.save_exam(exam, actor="technician-1")   # durable on return
        record = store.get_exam(exam.exam_id)
"""

from appliance.store.records import AuditEntry, ExamRecord, ImageRecord, OutboxEntry
from appliance.store.store import ExamStore

__all__ = ["AuditEntry", "ExamRecord", "ExamStore", "ImageRecord", "OutboxEntry"]
