"""The text of a camera-profile file (appliance/quality/profiles/*.toml). Pure.

A profile file has a free-form [profile] table (name, what it was fitted on, the command that
wrote it, what it did on the photos it was fitted to) and a [quality] table holding every
threshold of QualityConfig except `profile` and `max_attempts`, which are site settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from appliance.config import QualityConfig

#: QualityConfig fields that a profile does not set.
SITE_SETTINGS = frozenset({"profile", "max_attempts"})


def profile_toml(thresholds: QualityConfig, about: Mapping[str, str | int | float]) -> str:
    """A profile file's text: `about` as the [profile] table, the thresholds as [quality].

    Floats are written with 6 significant digits, so a profile read back gives the same verdicts
    except for a metric within a millionth of a threshold.

    Raises:
        ValueError: a threshold that is not finite (TOML could hold it, JSON exports could not).
    """
    lines = ["[profile]"]
    lines += [f"{key} = {_value(value)}" for key, value in about.items()]
    lines += ["", "[quality]"]
    for field in dataclasses.fields(thresholds):
        value = getattr(thresholds, field.name)
        if field.name in SITE_SETTINGS or isinstance(value, dict):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"threshold {field.name} is not finite: {value}")
        lines.append(f"{field.name} = {_value(value)}")
    if thresholds.score_model:
        lines += ["", "[quality.score_model]",
                  "# metric = [centre, scale, weight] of the logistic model; intercept = [bias]"]
        for name, values in thresholds.score_model.items():
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"score_model {name} is not finite: {values}")
            lines.append(f"{name} = [{', '.join(f'{v:.9g}' for v in values)}]")
    return "\n".join(lines) + "\n"


def _value(value: str | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.6g}"
        return text if any(c in text for c in ".en") else text + ".0"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
