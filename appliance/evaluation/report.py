"""Turn an evaluation run into its report: a JSON-ready dict, and the same as a readable table. Pure.

What is counted where:
- DR metrics use photos with a known `referable` label and a score. "all_scored" ignores the gate
  (the model alone); "gate_passed" keeps only photos the gate passed (what the appliance grades).
- "graders_gradable" ignores the gate but leaves out photos the graders labelled `reject` (as
  training's own test figures do), so the appliance path can be compared with training's report.
- imageability = photos the gate passed / photos the gate judged (decoded); photos with unknown
  labels count too. Photos that could not be read or decoded are reported apart, by reason code.
NaN (a metric undefined for want of a class) is written as JSON null.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.evaluation.dr import EvaluationRun, ImageResult
from appliance.evaluation.metrics import CONFIDENCE_LEVEL, BinaryMetrics, Estimate, binary_metrics
from appliance.inference.manifest import ModelManifest


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _estimate(e: Estimate) -> dict[str, float | None]:
    return {"value": _number(e.value), "low": _number(e.low), "high": _number(e.high)}


def metrics_dict(m: BinaryMetrics) -> dict[str, Any]:
    """One BinaryMetrics as JSON: counts, AUC / sensitivity / specificity with their intervals."""
    c = m.counts
    return {
        "n": m.n, "n_referable": m.n_referable, "n_not_referable": m.n_not_referable,
        "auc": _estimate(m.auc), "sensitivity": _estimate(m.sensitivity), "specificity": _estimate(m.specificity),
        "confusion": {"tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn},
    }


def _dr_metrics(results: Sequence[ImageResult], threshold: float, *, replicates: int, seed: int,
                gate_only: bool = False, graders_gradable_only: bool = False) -> dict[str, Any]:
    chosen = [r for r in results if r.score is not None and r.item.referable is not None
              and (r.gate_passed or not gate_only) and (r.item.quality != "reject" or not graders_gradable_only)]
    labels = np.array([bool(r.item.referable) for r in chosen], bool)
    scores = np.array([r.score for r in chosen], np.float64)
    out = metrics_dict(binary_metrics(labels, scores, threshold, replicates=replicates, seed=seed))
    out["scores"] = {"not_referable": _distribution(scores[~labels]), "referable": _distribution(scores[labels])}
    return out


def _distribution(scores: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float | None]:
    """Median and 90th percentile of some photos' scores: where one class sits on the score scale.

    The non-referable photos' median moving between cameras is what stops a locked threshold from
    transferring."""
    if scores.size == 0:
        return {"median": None, "p90": None}
    return {"median": _number(float(np.median(scores))), "p90": _number(float(np.quantile(scores, 0.9)))}


#: A source's specificity enters the spread only with at least this many non-referable photos.
SPREAD_MIN_NOT_REFERABLE = 30


def specificity_spread(per_source: Mapping[str, Mapping[str, Any]], key: str = "all_scored") -> dict[str, Any]:
    """Largest minus smallest specificity at the locked threshold between sources with at least
    SPREAD_MIN_NOT_REFERABLE non-referable photos (None with fewer than two such sources)."""
    values = {s: v[key]["specificity"]["value"] for s, v in per_source.items()
              if v[key]["n_not_referable"] >= SPREAD_MIN_NOT_REFERABLE and v[key]["specificity"]["value"] is not None}
    if len(values) < 2:
        return {"value": None, "sources": sorted(values)}
    return {"value": _number(max(values.values()) - min(values.values())), "sources": sorted(values),
            "lowest": min(values, key=lambda k: values[k]), "highest": max(values, key=lambda k: values[k])}


def _imageability(results: Sequence[ImageResult]) -> dict[str, Any]:
    judged = [r for r in results if r.gate_passed is not None]
    passed = sum(1 for r in judged if r.gate_passed)
    return {"n_judged": len(judged), "n_passed": passed,
            "share": _number(passed / len(judged)) if judged else None}


def _slice(results: Sequence[ImageResult], threshold: float, replicates: int, seed: int) -> dict[str, Any]:
    return {
        "n_images": len(results),
        "n_labelled": sum(1 for r in results if r.item.referable is not None),
        "n_failed": sum(1 for r in results if r.failure is not None),
        "imageability": _imageability(results),
        "all_scored": _dr_metrics(results, threshold, replicates=replicates, seed=seed),
        "gate_passed": _dr_metrics(results, threshold, gate_only=True, replicates=replicates, seed=seed),
    }


def summarise(run: EvaluationRun, manifest: ModelManifest, *, dataset: Mapping[str, Any], replicates: int,
              seed: int, precision: str) -> dict[str, Any]:
    """The evaluation report as a JSON-ready dict.

    Args:
        dataset: what was read (folder, split, counts); copied into the report as is.
        replicates, seed: of the stratified bootstrap (the same seed for every slice).
        precision: "fp32" or "int8", as the model was chosen.
    """
    results = run.results
    threshold = manifest.threshold
    failures = [r for r in results if r.failure is not None]
    gate_reasons = Counter(code for r in results if r.gate_passed is False for code in r.reason_codes)
    by_label: dict[str, dict[str, int]] = {}
    for r in results:
        if r.item.quality is not None and r.gate_passed is not None:
            entry = by_label.setdefault(r.item.quality, {"n": 0, "passed": 0})
            entry["n"] += 1
            entry["passed"] += int(r.gate_passed)
    sources = sorted({r.item.source for r in results})
    per_source = {s: _slice([r for r in results if r.item.source == s], threshold, replicates, seed) for s in sources}
    return {
        "notice": NOT_VALIDATED_NOTICE,
        "model": {
            **asdict(manifest.info(run.runner)), "precision": precision, "model_file": str(manifest.model_path),
            "threshold": threshold, "threshold_chosen_on": manifest.threshold_chosen_on,
        },
        "dataset": dict(dataset),
        "bootstrap": {"replicates": replicates, "seed": seed, "level": CONFIDENCE_LEVEL,
                      "method": "percentile, resampling referable and non-referable photos separately"},
        **_slice(results, threshold, replicates, seed),
        # Training's view of a test split: graders' `reject` photos left out, gate ignored.
        "graders_gradable": _dr_metrics(results, threshold, replicates=replicates, seed=seed,
                                        graders_gradable_only=True),
        "gate_failure_reasons": dict(sorted(gate_reasons.items())),
        "gate_by_quality_label": dict(sorted(by_label.items())),
        "decode_failures": {
            "count": len(failures),
            "by_reason": dict(sorted(Counter(str(r.failure) for r in failures).items())),
            "examples": [{"file": r.item.file, "reason": r.failure, "message": r.failure_message}
                         for r in failures[:10]],
        },
        "per_source": per_source,
        "specificity_spread": specificity_spread(per_source),
        "throughput": {"seconds": round(run.seconds, 3), "images_per_second": _number(run.images_per_second)},
    }


def _fmt(e: Mapping[str, float | None], percent: bool = False) -> str:
    if e["value"] is None:
        return "n/a"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    digits = 1 if percent else 3
    value = f"{e['value'] * scale:.{digits}f}"
    if e["low"] is None or e["high"] is None:
        return value + unit
    return f"{value}{unit} [{e['low'] * scale:.{digits}f}–{e['high'] * scale:.{digits}f}]"


def _metrics_line(name: str, m: Mapping[str, Any]) -> str:
    line = (f"  {name:<13} n={m['n']:<6} referable={m['n_referable']:<5} AUC {_fmt(m['auc']):<22} "
            f"sens {_fmt(m['sensitivity'], True):<22} spec {_fmt(m['specificity'], True)}")
    healthy = m.get("scores", {}).get("not_referable", {})
    if healthy.get("median") is not None:
        line += f"; not-referable scores median {healthy['median']:.3f}, p90 {healthy['p90']:.3f}"
    return line


def _share(i: Mapping[str, Any]) -> str:
    return "n/a" if i["share"] is None else f"{100 * i['share']:.1f} % ({i['n_passed']}/{i['n_judged']})"


def _profiles(report: Mapping[str, Any]) -> str:
    gate = report.get("quality_gate")
    if not gate:
        return ""
    extra = "".join(f", {source}: {profile}" for source, profile in gate["by_source"].items())
    return f"; gate profile {gate['profile']}{extra}"


def format_report(report: Mapping[str, Any]) -> str:
    """The report as an operator or engineer reads it on a terminal (intervals in brackets)."""
    model, data, failures = report["model"], report["dataset"], report["decode_failures"]
    lines = [
        f"Model: {model['name']} {model['version']} ({model['precision']}, {model['runner']}) "
        f"sha256 {model['sha256']}",
        f"Threshold: refer if score >= {model['threshold']:.4f} "
        f"({model['threshold_chosen_on'] or 'origin not stated'})",
        f"Data: {data.get('folder', '?')} split {data.get('split', 'all')}: {report['n_images']} images, "
        f"{report['n_labelled']} with a referable label",
        f"Imageability (gate passed): {_share(report['imageability'])}{_profiles(report)}",
        f"Referable DR, {100 * report['bootstrap']['level']:.0f} % bootstrap intervals "
        f"({report['bootstrap']['replicates']} replicates, seed {report['bootstrap']['seed']}):",
        _metrics_line("all scored", report["all_scored"]),
        _metrics_line("gate passed", report["gate_passed"]),
        _metrics_line("not reject", report["graders_gradable"]),
        "Per source:",
    ]
    for source, s in report["per_source"].items():
        lines.append(f" {source}: {s['n_images']} images, imageability {_share(s['imageability'])}")
        lines.append(_metrics_line("all scored", s["all_scored"]))
        lines.append(_metrics_line("gate passed", s["gate_passed"]))
    spread = report.get("specificity_spread", {})
    if spread.get("value") is not None:
        lines.append(f"Specificity spread between sources (>= {SPREAD_MIN_NOT_REFERABLE} non-referable photos): "
                     f"{100 * spread['value']:.1f} points ({spread['lowest']} lowest, {spread['highest']} highest)")
    reasons = ", ".join(f"{k} {v}" for k, v in report["gate_failure_reasons"].items()) or "none"
    lines.append(f"Gate failure reasons: {reasons}")
    by_reason = ", ".join(f"{k} {v}" for k, v in failures["by_reason"].items()) or "none"
    lines.append(f"Photos not read or decoded: {failures['count']} ({by_reason})")
    speed = report["throughput"]
    per_second = "n/a" if speed["images_per_second"] is None else f"{speed['images_per_second']:.2f}"
    lines.append(f"Throughput: {per_second} images/s over the whole path ({speed['seconds']:.1f} s)")
    lines.append(report["notice"])
    return "\n".join(lines)
