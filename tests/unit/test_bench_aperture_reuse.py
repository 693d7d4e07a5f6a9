"""Smoke run of bench/aperture_reuse.py on a few real photos at a camera's size: it runs, every photo has the
gate's circle, and the gate's circle and a second fit land within a few pixels of each other in the model's
square. No timing or score is asserted (figures, not checks: README "What made the difference")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.aperture_reuse import main


@pytest.mark.usefixtures("devset")
def test_the_gates_circle_and_a_second_fit_agree_on_camera_size_photos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--limit", "6", "--side", "1600", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["photos"] == 6 and result["without_gate_circle"] == 0
    assert result["centre_apart_model_px"]["max"] < 3.0 and result["radius_apart_model_px"]["max"] < 3.0
    assert 0.0 <= result["agreement"] <= 1.0
    assert set(result["preprocess_ms_per_photo"]) == {"gate_circle", "fitted_again"}
    assert {way["same_decision"] for way in result["from_original"].values()} <= set(range(7))


def test_it_names_a_split_without_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDUS_DATA_DIR", str(tmp_path))  # no labels.csv anywhere
    monkeypatch.setattr("bench.aperture_reuse.default_cameras_dir", lambda: tmp_path)
    with pytest.raises(SystemExit, match="no labelled natural-colour photos"):
        main(["--limit", "2"])
