"""The durable store: exams in SQLite, images as content-addressed files, audit log, outbox.

Usage:
    with ExamStore.open(data_dir) as store:
        store.open_session(session, actor="tech-1")            # an exam is durable from when it opens
        store.add_photo(exam_id, photo, jpeg, replaces=None, actor="tech-1")
        store.finish_exam(exam, actor="tech-1")                 # the result, durable on return
        exam = store.get_exam(exam_id)                          # the domain Exam
"""

from appliance.store.records import AuditEntry, OutboxEntry
from appliance.store.store import ExamStore

__all__ = ["AuditEntry", "ExamStore", "OutboxEntry"]
