"""The gate's rules: which metric, against which threshold of QualityConfig, gives which reason. Pure.

One table serves the gate (judging a photo) and the calibration (fitting each threshold), so the
two cannot disagree. A "min" rule fails when the metric is under its threshold, a "max" rule when
it is over. Rules marked `fitted` are the ones `appliance quality-calibrate` fits to graders'
labels; the others (what is a fundus photo at all) come from the profile, because graders' labels
say nothing about faces and documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from appliance.config import QualityConfig

#: The reason of a rule whose reason depends on the photo: the combined score's, named by
#: appliance.quality.score.main_reason.
ATTRIBUTED = "*"


@dataclass(frozen=True)
class Rule:
    reason: str
    metric: str
    #: The QualityConfig attribute holding the threshold.
    key: str
    bound: Literal["min", "max"]
    fitted: bool = True

    def threshold(self, thresholds: QualityConfig) -> float:
        return float(getattr(thresholds, self.key))

    def fails(self, value: float, threshold: float) -> bool:
        """True when `value` is on the wrong side of `threshold` (a NaN value fails)."""
        if value != value:  # NaN: the metric could not be measured
            return True
        return value < threshold if self.bound == "min" else value > threshold


#: Not a fundus photo: the aperture's geometry, then what it frames.
NOT_FUNDUS_RULES: tuple[Rule, ...] = (
    Rule("not_fundus", "fov_diameter_fraction", "min_fov_diameter_fraction", "min", fitted=False),
    Rule("not_fundus", "fov_diameter_fraction", "max_fov_diameter_fraction", "max", fitted=False),
    Rule("not_fundus", "fov_area_fraction", "min_fov_area_fraction", "min", fitted=False),
    Rule("not_fundus", "fov_centre_offset", "max_fov_centre_offset", "max", fitted=False),
    Rule("not_fundus", "fov_fill", "min_fov_fill", "min", fitted=False),
    Rule("not_fundus", "fov_spill", "max_fov_spill", "max", fitted=False),
    Rule("not_fundus", "fov_arc_coverage", "min_fov_arc_coverage", "min", fitted=False),
    Rule("not_fundus", "fov_rim_on_circle", "min_fov_rim_on_circle", "min", fitted=False),
    Rule("not_fundus", "fov_rim_error", "max_fov_rim_error", "max", fitted=False),
    Rule("not_fundus", "fov_surround_level", "max_fov_surround_level", "max", fitted=False),
    Rule("not_fundus", "pixel_noise", "max_pixel_noise", "max", fitted=False),
    Rule("not_fundus", "cool_fraction", "max_cool_fraction", "max", fitted=False),
    Rule("not_fundus", "anterior_eye", "max_anterior_eye", "max", fitted=False),
)

#: How good the photo of the retina is; fitted per camera profile.
QUALITY_RULES: tuple[Rule, ...] = (
    Rule("field_not_centred", "fov_centre_offset", "max_field_centre_offset", "max", fitted=False),
    Rule("field_not_centred", "field_offset", "max_field_offset", "max"),
    Rule("eyelid_artefact", "illum_rim_min", "min_illum_rim", "min"),
    Rule("uneven_illumination", "illum_dark_fraction", "max_illum_dark_fraction", "max"),
    Rule("uneven_illumination", "illum_bright_fraction", "max_illum_bright_fraction", "max"),
    Rule("uneven_illumination", "illum_quadrant_ratio", "min_illum_quadrant_ratio", "min"),
    Rule("uneven_illumination", "illum_centre_ratio", "min_illum_centre_ratio", "min"),
    Rule("uneven_illumination", "illum_rim_max", "max_illum_rim", "max"),
    Rule("hazy", "cool_fraction", "max_haze_cool_fraction", "max"),
    Rule("hazy", "neutral_fraction", "max_haze_neutral_fraction", "max"),
    Rule("too_dark", "mean_green", "too_dark_mean", "min"),
    Rule("too_dark", "black_fraction", "max_black_fraction", "max"),
    Rule("overexposed", "mean_green", "overexposed_mean", "max"),
    Rule("overexposed", "saturated_fraction", "max_saturated_fraction", "max"),
    Rule("blurred", "focus", "min_focus", "min"),
    Rule("blurred", "vessel_visibility", "min_vessel_visibility", "min"),
    Rule("blurred", "vessel_visibility_centre", "min_vessel_visibility_centre", "min"),
    Rule(ATTRIBUTED, "reject_probability", "max_reject_probability", "max"),
)

RULES: tuple[Rule, ...] = NOT_FUNDUS_RULES + QUALITY_RULES


def failed_rules(metrics: Mapping[str, float], thresholds: QualityConfig,
                 rules: tuple[Rule, ...] = RULES) -> list[Rule]:
    """The rules whose metric is present in `metrics` and fails its threshold, in table order."""
    return [rule for rule in rules
            if rule.metric in metrics and rule.fails(metrics[rule.metric], rule.threshold(thresholds))]
