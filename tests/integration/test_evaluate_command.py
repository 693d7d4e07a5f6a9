"""`python -m appliance evaluate` as a subprocess on small folders of real dev-set photos.

The JSON is checked against a direct computation: the same photos through decode -> gate ->
preprocess -> onnxruntime in this process, then the same metrics. Runs with the tiny test model
always, and with the shipped model when models/dr-reference.toml exists.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.config import load_config
from appliance.evaluation.metrics import binary_metrics
from appliance.imaging import decode_image
from appliance.inference.manifest import load_manifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.preprocess import preprocess
from appliance.quality import assess
from tests.unit.evaluation.eval_fakes import write_tiny_manifest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "dr-reference.toml"
COLUMNS = ["file", "dr_grade", "referable", "quality", "source", "original_name"]
REPLICATES, SEED = 200, 3


def _pick(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Referable and not, natural and enhanced (three of each pair), and two ungraded IDRiD photos: 14 + 2."""
    chosen: list[dict[str, str]] = []
    for subset in ("eyepacs_nat_", "eyepacs_enh_"):
        for referable in ("1", "0"):
            matches = [r for r in rows if subset in r["file"] and r["referable"] == referable]
            chosen += matches[: 4 if referable == "1" else 3]
    chosen += [r for r in rows if r["referable"] == ""][:2]
    return chosen


def _write_folder(folder: Path, devset: Path, rows: list[dict[str, str]]) -> Path:
    (folder / "images").mkdir(parents=True)
    for row in rows:
        source = devset / row["file"]
        if source.is_file():
            shutil.copyfile(source, folder / row["file"])
    with (folder / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in COLUMNS} for row in rows)
    return folder


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(APPLIANCE_DATA_DIR=str(tmp_path / "var"), APPLIANCE_MODEL_RUNNER="onnxruntime",
               APPLIANCE_LOG_LEVEL="WARNING")
    return env


def _evaluate(folder: Path, manifest: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "evaluate", str(folder), "--json", "--manifest", str(manifest),
         "--bootstrap", str(REPLICATES), "--seed", str(SEED), *extra],
        env=_env(tmp_path), capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "evaluating" in done.stderr  # the progress bar
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(params=["tiny", "shipped"])
def manifest(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "tiny":
        return write_tiny_manifest(tmp_path / "model")
    if not SHIPPED.is_file():
        pytest.skip(f"no shipped model yet at {SHIPPED}")
    return SHIPPED


@pytest.fixture
def devset_rows(devset: Path) -> list[dict[str, str]]:
    with (devset / "labels.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _direct(folder: Path, manifest_path: Path) -> list[tuple[dict[str, str], float, bool]]:
    """Each labelled photo's row, score and gate verdict, computed here in one batch."""
    config = load_config(None, env={})
    manifest = load_manifest(manifest_path)
    with (folder / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    images = [decode_image((folder / r["file"]).read_bytes(), config.limits) for r in rows]
    passed = [assess(image, config.quality).passed for image in images]
    with OnnxRunner(manifest) as runner:
        scores = runner.infer(np.stack([preprocess(image, manifest.input) for image in images]))
    return [(r, float(s), p) for r, s, p in zip(rows, scores, passed, strict=True)]


def _same(reported: dict[str, Any], labels: list[bool], scores: list[float], threshold: float) -> None:
    expected = binary_metrics(np.array(labels, bool), np.array(scores), threshold, replicates=REPLICATES, seed=SEED)
    assert (reported["n"], reported["n_referable"]) == (expected.n, expected.n_referable)
    assert reported["confusion"] == {"tp": expected.counts.tp, "fp": expected.counts.fp,
                                     "tn": expected.counts.tn, "fn": expected.counts.fn}
    for name in ("auc", "sensitivity", "specificity"):
        estimate = getattr(expected, name)
        for part in ("value", "low", "high"):
            want = getattr(estimate, part)
            got = reported[name][part]
            assert (got is None) if np.isnan(want) else got == pytest.approx(want, abs=2e-6), (name, part)


def test_json_matches_a_direct_computation(
    devset: Path, devset_rows: list[dict[str, str]], manifest: Path, tmp_path: Path
) -> None:
    folder = _write_folder(tmp_path / "sample", devset, _pick(devset_rows))
    report = _evaluate(folder, manifest, tmp_path)
    direct = _direct(folder, manifest)
    threshold = load_manifest(manifest).threshold
    assert (report["n_images"], report["n_labelled"], report["n_failed"]) == (16, 14, 0)
    assert report["decode_failures"] == {"count": 0, "by_reason": {}, "examples": []}
    n_passed = sum(p for _, _, p in direct)
    assert report["imageability"]["n_judged"] == 16 and report["imageability"]["n_passed"] == n_passed
    labelled = [(r["referable"] == "1", s, p) for r, s, p in direct if r["referable"] != ""]
    _same(report["all_scored"], [y for y, _, _ in labelled], [s for _, s, _ in labelled], threshold)
    _same(report["gate_passed"], [y for y, _, p in labelled if p], [s for _, s, p in labelled if p], threshold)
    for source, entry in report["per_source"].items():
        mine = [(r["referable"] == "1", s, p) for r, s, p in direct if r["source"] == source and r["referable"] != ""]
        _same(entry["all_scored"], [y for y, _, _ in mine], [s for _, s, _ in mine], threshold)
    assert sum(e["n_images"] for e in report["per_source"].values()) == 16
    model = load_manifest(manifest)
    assert report["model"]["sha256"] == model.sha256 and report["model"]["runner"] == "onnxruntime"
    assert report["model"]["threshold"] == threshold
    assert report["throughput"]["images_per_second"] > 0
    assert "not clinically validated" in report["notice"]


def test_missing_and_corrupt_photos_are_counted_not_fatal(
    devset: Path, devset_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    rows = _pick(devset_rows)[:6]
    folder = _write_folder(tmp_path / "broken", devset, rows)
    (folder / rows[0]["file"]).unlink()
    corrupt = folder / rows[1]["file"]
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])
    report = _evaluate(folder, write_tiny_manifest(tmp_path / "model"), tmp_path, "--split", "all")
    assert (report["n_images"], report["n_failed"]) == (6, 2)
    assert report["decode_failures"]["by_reason"] == {"image_file_missing": 1, "image_truncated": 1}
    assert {e["file"] for e in report["decode_failures"]["examples"]} == {rows[0]["file"], rows[1]["file"]}
    assert report["imageability"]["n_judged"] == 4
    assert report["all_scored"]["n"] == 4
