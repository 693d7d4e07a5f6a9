"""The development set's patient-level split (train / val / test), as training assigns it.

A patient's images all land in one split: the patient number in an EyePACS file name
(`eyepacs_<nat|enh|orig>_<patient>_<left|right>.jpg`) is hashed with sha256 into 100 buckets,
train below 70, val below 85, test above. The subset (nat/enh/orig) is not part of the key, so a
patient present in two subsets would still fall into one split. training/data.py imports this rule
(training may import the appliance; the appliance never imports training).
"""

from __future__ import annotations

import hashlib
import re

SPLITS = ("train", "val", "test")
#: Share of patients (percent) in train, then val; the rest is test.
TRAIN_PCT, VAL_PCT = 70, 15
_PATIENT_IN_NAME = re.compile(r"eyepacs_(?:nat|enh|orig)_(\d+)_(?:left|right)\.jpg$")


def patient_of(file: str) -> str | None:
    """The patient id carried by a dev-set file name, or None for a name without one (e.g. IDRiD)."""
    match = _PATIENT_IN_NAME.search(file)
    return None if match is None else match.group(1)


def patient_split(patient: str) -> str:
    """"train", "val" or "test" for a patient id: sha256 -> first 8 bytes big-endian -> mod 100."""
    bucket = int.from_bytes(hashlib.sha256(patient.encode()).digest()[:8], "big") % 100
    return "train" if bucket < TRAIN_PCT else "val" if bucket < TRAIN_PCT + VAL_PCT else "test"


def file_split(file: str) -> str | None:
    """The split of a dev-set file, or None when its name carries no patient id (no safe split)."""
    patient = patient_of(file)
    return None if patient is None else patient_split(patient)
