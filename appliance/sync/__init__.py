"""Sync with the clinic (the only package that talks to the network): finished exams to the PACS as DICOM
(OP photos, a Comprehensive SR of the result, the report as Encapsulated PDF) and to the EHR as a FHIR R4
DiagnosticReport, from the store's outbox, exactly once from the receiver's point of view."""
