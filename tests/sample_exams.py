"""What the exam builders of the report and sync tests share: the model, gate settings, time and patient of a
finished exam, and the shipped sample photos (appliance/devices/samples) by kind and eye."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from pathlib import Path

from appliance.domain import Eye, GateSettings, ModelInfo, Patient, Sex

SAMPLES = Path(__file__).resolve().parents[1] / "appliance" / "devices" / "samples"
MODEL = ModelInfo(name="dr-reference", version="0.3.0", sha256=hashlib.sha256(b"model").hexdigest(),
                  runner="onnxruntime-cpu")
GATE = GateSettings(profile="default", max_attempts=2, thresholds={"blur_min": 0.1})
CREATED = datetime(2025, 3, 14, 9, 26, 53, 123456, tzinfo=timezone.utc)
PATIENT = Patient("P-0042", date(1961, 5, 2), Sex.FEMALE)


def sample(kind: str, eye: Eye, index: int = 1) -> bytes:
    """A shipped sample photo (healthy, referable, blurred, dark, offcentre) of one eye, JPEG bytes."""
    matches = sorted(SAMPLES.glob(f"{kind}_*_{eye.value}.jpg"))
    return matches[(index - 1) % len(matches)].read_bytes()
