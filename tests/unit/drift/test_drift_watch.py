"""The drift watch's two checks and its report, on windows made here (pure)."""

from __future__ import annotations

import json

import pytest
from drift_samples import draw, shifted, validation

from appliance.config import DriftConfig
from appliance.drift import DriftState, GateVerdict, assess_drift

CONFIG = DriftConfig()  # reference 9 % rejected, watch above 19 %; scores: distance 0.15, 40 % referable-like


def verdicts(photos: int, rejected: dict[str, int]) -> list[GateVerdict]:
    failed = [GateVerdict(False, reason) for reason, count in rejected.items() for _ in range(count)]
    return failed + [GateVerdict(True)] * (photos - len(failed))


def test_a_site_like_the_validation_data_is_ok() -> None:
    report = assess_drift(verdicts(300, {"too_dark": 15, "blurred": 12}), draw(300, 0.1), validation(), CONFIG)
    assert report.state is DriftState.OK
    assert report.rejects.share == pytest.approx(0.09)
    assert report.rejects.by_reason == {"too_dark": 0.05, "blurred": 0.04}
    assert report.scores.state is DriftState.OK and report.scores.referable_share == pytest.approx(0.1, abs=0.1)
    assert "like those the model was validated on" in report.message


def test_a_gate_rejecting_far_more_than_expected_is_watched_and_says_what_for() -> None:
    report = assess_drift(verdicts(300, {"too_dark": 60, "blurred": 15}), draw(300, 0.1), validation(), CONFIG)
    assert report.rejects.state is DriftState.WATCH and report.state is DriftState.WATCH
    assert report.rejects.share == pytest.approx(0.25)
    assert "rejected 25 % of the last 300 photos, more than the 19 % allowed" in report.message
    assert "'too dark' (20 % of photos)" in report.message
    assert report.scores.state is DriftState.OK  # the other check stays ok


def test_scores_far_from_every_mix_of_the_validation_scores_are_watched() -> None:
    report = assess_drift(verdicts(300, {}), shifted(draw(300, 0.1), logit_shift=-1.5), validation(), CONFIG)
    assert report.scores.state is DriftState.WATCH and report.state is DriftState.WATCH
    assert report.scores.distance is not None and report.scores.distance > CONFIG.max_score_distance
    assert "differ from its validation data" in report.message and "validate-site" in report.message


def test_scores_shifted_up_are_watched_as_too_many_referable_like_photos() -> None:
    report = assess_drift(verdicts(300, {}), shifted(draw(300, 0.1), logit_shift=2.0), validation(), CONFIG)
    assert report.scores.state is DriftState.WATCH
    assert "were referable, more than the 40 %" in report.scores.message


def test_too_few_photos_or_scores_give_no_verdict_yet() -> None:
    report = assess_drift(verdicts(20, {"blurred": 20}), [0.5] * 10, validation(), CONFIG)
    assert (report.rejects.state, report.scores.state, report.state) == (DriftState.TOO_FEW,) * 3
    assert "20 of the 100 needed" in report.rejects.message and "10 of the 200 needed" in report.scores.message
    empty = assess_drift([], [], validation(), CONFIG)
    assert empty.rejects.share is None and empty.state is DriftState.TOO_FEW


def test_a_model_without_validation_scores_checks_the_gate_only() -> None:
    report = assess_drift(verdicts(300, {}), draw(300, 0.1), None, CONFIG)
    assert report.scores.state is DriftState.NO_REFERENCE and report.state is DriftState.OK


def test_a_watch_on_one_check_wins_over_too_few_on_the_other() -> None:
    report = assess_drift(verdicts(300, {"hazy": 100}), [], validation(), CONFIG)
    assert report.state is DriftState.WATCH


def test_the_report_as_json_holds_counts_and_shares_only() -> None:
    data = assess_drift(verdicts(300, {"hazy": 9}), draw(300, 0.1), validation(), CONFIG).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["state"] == "ok" and data["rejects"]["state"] == "ok" and data["scores"]["state"] == "ok"
    assert set(data) == {"state", "message", "rejects", "scores", "window_days"}
    assert set(data["rejects"]) == {"state", "photos", "rejected", "share", "reference", "bound", "by_reason",
                                    "message"}
