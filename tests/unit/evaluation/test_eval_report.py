"""The evaluation report: which photos each figure counts, NaN as null, and the readable table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.evaluation.dataset import LabelledImage
from appliance.evaluation.dr import EvaluationRun, ImageResult
from appliance.evaluation.metrics import binary_metrics
from appliance.evaluation.report import format_report, summarise
from appliance.inference.manifest import ModelManifest


def _item(name: str, referable: bool | None, source: str, quality: str | None = None) -> LabelledImage:
    return LabelledImage(path=Path("/d") / name, file=name, dr_grade=None, referable=referable, quality=quality,
                         source=source)


def _run() -> EvaluationRun:
    r = ImageResult
    results = [
        r(_item("a1", True, "A", "good"), 0.9, True),
        r(_item("a2", True, "A", "reject"), 0.3, False, ("blurred",)),
        r(_item("a3", False, "A", "good"), 0.6, True),
        r(_item("a4", False, "A"), 0.1, True),
        r(_item("a5", None, "A"), 0.8, False, ("too_dark", "blurred")),
        r(_item("b1", True, "B"), 0.7, True),
        r(_item("b2", False, "B", "reject"), 0.2, False, ("not_fundus",)),
        r(_item("b3", False, "B"), None, None, failure="image_file_missing", failure_message="gone"),
        r(_item("b4", True, "B"), None, None, failure="image_truncated", failure_message="cut"),
    ]
    return EvaluationRun(results=results, seconds=2.0, runner="onnxruntime")


def _report(tiny_manifest: ModelManifest) -> dict[str, object]:
    return summarise(_run(), tiny_manifest, dataset={"folder": "/d", "split": "all"}, replicates=200, seed=1,
                     precision="fp32")


def test_counts_and_imageability(tiny_manifest: ModelManifest) -> None:
    report = _report(tiny_manifest)
    assert tiny_manifest.threshold == 0.5
    assert (report["n_images"], report["n_labelled"], report["n_failed"]) == (9, 8, 2)
    # The gate judged 7 decoded photos (the unlabelled one too) and passed 4.
    assert report["imageability"] == {"n_judged": 7, "n_passed": 4, "share": pytest.approx(4 / 7, abs=1e-6)}
    assert report["gate_failure_reasons"] == {"blurred": 2, "not_fundus": 1, "too_dark": 1}
    assert report["gate_by_quality_label"] == {"good": {"n": 2, "passed": 2}, "reject": {"n": 2, "passed": 0}}
    assert report["decode_failures"]["count"] == 2
    assert report["decode_failures"]["by_reason"] == {"image_file_missing": 1, "image_truncated": 1}
    assert report["throughput"] == {"seconds": 2.0, "images_per_second": 4.5}
    assert report["notice"] == NOT_VALIDATED_NOTICE
    assert report["model"]["sha256"] == tiny_manifest.sha256 and report["model"]["runner"] == "onnxruntime"


def test_dr_metrics_with_and_without_the_gate(tiny_manifest: ModelManifest) -> None:
    report = _report(tiny_manifest)
    everything = report["all_scored"]
    # Scored and labelled: a1 .9+, a2 .3+, a3 .6-, a4 .1-, b1 .7+, b2 .2-; at 0.5: tp 2, fn 1, fp 1, tn 2.
    assert (everything["n"], everything["n_referable"]) == (6, 3)
    assert everything["confusion"] == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert everything["sensitivity"]["value"] == pytest.approx(2 / 3, abs=1e-6)
    # Positives .9 .3 .7 vs negatives .6 .1 .2: 3 + 2 + 3 = 8 of 9 pairs.
    assert everything["auc"]["value"] == pytest.approx(8 / 9, abs=1e-6)
    expected = binary_metrics(np.array([1, 1, 0, 0, 1, 0]), np.array([0.9, 0.3, 0.6, 0.1, 0.7, 0.2]), 0.5,
                              replicates=200, seed=1)
    assert everything["auc"]["low"] == pytest.approx(expected.auc.low, abs=1e-6)
    gated = report["gate_passed"]
    # Gate passed and labelled: a1 .9+, a3 .6-, a4 .1-, b1 .7+: both positives referred, one false referral.
    assert (gated["n"], gated["n_referable"]) == (4, 2)
    assert gated["confusion"] == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    assert gated["auc"]["value"] == pytest.approx(1.0)
    # Graders' rejects (a2 .3+, b2 .2-) left out, gate ignored: a1 .9+, a3 .6-, a4 .1-, b1 .7+.
    gradable = report["graders_gradable"]
    assert (gradable["n"], gradable["n_referable"]) == (4, 2)
    assert gradable["confusion"] == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}


def test_per_source_and_undefined_metrics_as_null(tiny_manifest: ModelManifest) -> None:
    report = _report(tiny_manifest)
    a, b = report["per_source"]["A"], report["per_source"]["B"]
    assert (a["n_images"], a["n_labelled"], b["n_images"], b["n_failed"]) == (5, 4, 4, 2)
    assert a["imageability"]["n_passed"] == 3 and b["imageability"] == {"n_judged": 2, "n_passed": 1, "share": 0.5}
    # Source B behind the gate has only one labelled photo, a referable one: no AUC, no specificity.
    assert b["gate_passed"]["n"] == 1
    assert b["gate_passed"]["auc"] == {"value": None, "low": None, "high": None}
    assert b["gate_passed"]["specificity"]["value"] is None
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN anywhere


def test_table_shows_the_figures(tiny_manifest: ModelManifest) -> None:
    text = format_report(_report(tiny_manifest))
    assert "9 images, 8 with a referable label" in text
    assert "Imageability (gate passed): 57.1 % (4/7)" in text
    assert "AUC 0.889 [" in text and "sens 66.7 % [" in text
    assert "image_file_missing 1, image_truncated 1" in text
    assert "4.50 images/s" in text
    assert text.splitlines()[-1] == NOT_VALIDATED_NOTICE


def test_where_each_class_sits_on_the_score_scale(tiny_manifest: ModelManifest) -> None:
    report = _report(tiny_manifest)
    # Scored and labelled non-referable photos: a3 .6, a4 .1, b2 .2 -> median .2; referable .9 .3 .7 -> .7.
    scores = report["all_scored"]["scores"]
    assert scores["not_referable"]["median"] == pytest.approx(0.2)
    assert scores["not_referable"]["p90"] == pytest.approx(float(np.quantile([0.6, 0.1, 0.2], 0.9)))
    assert scores["referable"]["median"] == pytest.approx(0.7)
    # A slice without a class has no distribution for it (null, not a crash).
    assert report["per_source"]["B"]["gate_passed"]["scores"]["not_referable"] == {"median": None, "p90": None}
    assert "not-referable scores median 0.200, p90" in format_report(report)


def _block(n_not: int, specificity: float | None) -> dict[str, object]:
    return {"all_scored": {"n_not_referable": n_not, "specificity": {"value": specificity}}}


def test_specificity_spread_counts_sources_with_enough_healthy_photos() -> None:
    from appliance.evaluation.report import SPREAD_MIN_NOT_REFERABLE, specificity_spread

    enough = SPREAD_MIN_NOT_REFERABLE
    spread = specificity_spread({"cam-a": _block(enough, 0.9), "cam-b": _block(enough + 5, 0.55),
                                 "tiny": _block(enough - 1, 0.1), "none": _block(enough, None)})
    assert spread["value"] == pytest.approx(0.35)
    assert (spread["lowest"], spread["highest"], spread["sources"]) == ("cam-b", "cam-a", ["cam-a", "cam-b"])
    assert specificity_spread({"cam-a": _block(enough, 0.9)})["value"] is None
