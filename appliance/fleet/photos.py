"""The health photos: shipped sample photos (appliance/devices/samples) whose outcome with a given model is
known, screened through the appliance's own steps (decode, quality gate, preprocess, model) to show that
the installed firmware and model still give that outcome.

What a photo should screen to comes from SAMPLES.toml when the model is the one the samples were measured
with, else from the bundle's signed manifest, which `appliance bundle build` measured with the bundled model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance.config import LimitsConfig, quality_profile
from appliance.devices.simulated import SAMPLES_DIR
from appliance.fleet.errors import UpdateError
from appliance.fleet.manifest import ExpectedPhoto
from appliance.imaging import decode_image
from appliance.inference.model import Model
from appliance.tomlfile import read_toml

#: One photo the model must call referable and one it must not, both gradable.
HEALTH_PHOTOS = ("referable_01_right.jpg", "healthy_01_right.jpg")
#: Largest accepted difference from the recorded score (TensorRT FP16/INT8 engines differ slightly).
SCORE_TOLERANCE = 0.05
SAMPLES_TOML = "SAMPLES.toml"


@dataclass(frozen=True)
class Samples:
    """SAMPLES.toml: the model the samples were measured with and what each photo screened to."""

    model_sha256: str
    quality_profile: str
    photos: dict[str, ExpectedPhoto]

    @classmethod
    def load(cls, folder: Path = SAMPLES_DIR) -> Samples:
        data = read_toml(folder / SAMPLES_TOML, UpdateError, f"No {SAMPLES_TOML} in {folder}: the health photos are "
                         "missing from this firmware.", f"{SAMPLES_TOML} in {folder} cannot be read")
        photos = {s["file"]: ExpectedPhoto(s["file"], bool(s["passed"]), s.get("over_threshold"), s.get("score"))
                  for s in data.get("sample", [])}
        return cls(str(data.get("model_sha256", "")), str(data.get("quality_profile", "default")), photos)


def measure(model: Model, names: Sequence[str] = HEALTH_PHOTOS, folder: Path = SAMPLES_DIR,
            profile: str = "default") -> list[ExpectedPhoto]:
    """Screen each sample photo through decode, the gate (`profile`) and the model.

    Raises:
        OSError (a photo missing), ImageError, ModelError.
    """
    thresholds = quality_profile(profile)
    from appliance.quality import assess

    found = []
    for name in names:
        image = decode_image((folder / name).read_bytes(), LimitsConfig())
        report = assess(image, thresholds)
        score = model.score([image])[0] if report.passed else None
        found.append(ExpectedPhoto(name, report.passed, None if score is None else score >= model.threshold,
                                   None if score is None else round(score, 4)))
    return found


def differences(expected: ExpectedPhoto, found: ExpectedPhoto) -> list[str]:
    """Sentences saying how `found` differs from `expected` ([] when it screens as expected)."""
    problems = []
    if found.passed != expected.passed:
        problems.append(f"{found.file}: the quality gate {'passed' if found.passed else 'failed'} it, expected "
                        f"{'pass' if expected.passed else 'fail'}")
    elif expected.over_threshold is not None and found.over_threshold != expected.over_threshold:
        problems.append(f"{found.file}: {'referable' if found.over_threshold else 'not referable'} (score "
                        f"{found.score}), expected {'referable' if expected.over_threshold else 'not referable'}")
    elif (expected.score is not None and found.score is not None
          and abs(found.score - expected.score) > SCORE_TOLERANCE):
        problems.append(f"{found.file}: score {found.score}, expected {expected.score} ± {SCORE_TOLERANCE}")
    return problems
