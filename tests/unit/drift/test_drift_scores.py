"""The score shift: the KS distance from a site's scores to the closest mix of the validation scores."""

from __future__ import annotations

import numpy as np
import pytest
from drift_samples import draw, shifted, validation

from appliance.drift.scores import class_cdf, score_shift


@pytest.mark.parametrize("share", [0.0, 0.05, 0.15, 0.3, 0.53])
def test_a_population_scored_like_validation_is_close_whatever_its_referable_share(share: float) -> None:
    shift = score_shift(draw(300, share, seed=int(share * 100)), validation())
    assert shift.distance < 0.09  # 300 such scores stay under ~0.085 (1 600 draws)
    assert shift.referable_share == pytest.approx(share, abs=0.12)


@pytest.mark.parametrize(("logit_shift", "logit_scale"), [(-1.0, 1.0), (0.0, 0.5), (0.0, 2.0), (-2.0, 1.0)])
def test_a_camera_the_model_reads_otherwise_is_far(logit_shift: float, logit_scale: float) -> None:
    scores = shifted(draw(300, 0.1), logit_shift, logit_scale)
    assert score_shift(scores, validation()).distance > 0.2


def test_scores_shifted_up_look_like_a_sicker_population() -> None:
    shift = score_shift(shifted(draw(300, 0.1), logit_shift=2.0), validation())
    assert shift.referable_share > 0.6


def test_one_score_for_every_photo_is_far() -> None:
    assert score_shift([0.3] * 200, validation()).distance > 0.45


def test_the_class_cdf_interpolates_the_quantiles() -> None:
    v = validation()
    x = np.array([-1.0, v.referable_quantiles[10], 2.0])
    assert list(class_cdf(v.quantile_levels, v.referable_quantiles, x)) == pytest.approx([0.0, 0.5, 1.0])


def test_no_score_is_refused() -> None:
    with pytest.raises(ValueError, match="no scores"):
        score_shift([], validation())
