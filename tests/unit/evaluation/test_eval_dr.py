"""The whole-path runner: every decodable photo scored in order, gate verdicts kept, failures recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_fakes import expected_scores

from appliance.config import LimitsConfig, QualityConfig
from appliance.evaluation.dataset import read_labels
from appliance.evaluation.dr import FILE_MISSING, ImageResult, PreparedImage, evaluate_images, prepare
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.preprocess import preprocess
from appliance.quality import assess


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_scores_every_decoded_photo_in_order(
    synthetic_folder: Path, tiny_manifest: ModelManifest, batch_size: int
) -> None:
    items = read_labels(synthetic_folder)
    limits, quality = LimitsConfig(), QualityConfig()
    with OnnxRunner(tiny_manifest) as runner:
        run = evaluate_images(items, limits=limits, quality=quality, manifest=tiny_manifest, runner=runner,
                              batch_size=batch_size, progress=False)
    assert [r.item for r in run.results] == items
    assert run.runner == "onnxruntime" and run.seconds > 0
    for result in run.results:
        if result.item.file in ("img/missing.jpg", "img/bad.jpg", "img/doc.png"):
            assert result.score is None and result.gate_passed is None and result.failure is not None
            continue
        image = decode_image(result.item.path.read_bytes(), limits)
        report = assess(image, quality)
        expected = expected_scores(preprocess(image, tiny_manifest.input)[None])[0]
        assert result.failure is None
        assert result.score == pytest.approx(float(expected), abs=1e-6)
        assert (result.gate_passed, result.reason_codes) == (report.passed, report.reason_codes)


def test_gate_failures_are_still_scored(synthetic_folder: Path, tiny_manifest: ModelManifest) -> None:
    items = read_labels(synthetic_folder)
    with OnnxRunner(tiny_manifest) as runner:
        run = evaluate_images(items, limits=LimitsConfig(), quality=QualityConfig(), manifest=tiny_manifest,
                              runner=runner, progress=False)
    by_file = {r.item.file: r for r in run.results}
    sky = by_file["img/sky.png"]
    assert sky.gate_passed is False and "not_fundus" in sky.reason_codes
    assert sky.score is not None and 0.0 <= sky.score <= 1.0
    assert by_file["img/doc.png"].failure == "image_grayscale"
    assert by_file["img/f0.png"].gate_passed is True


def test_missing_and_corrupt_files_carry_reason_codes(synthetic_folder: Path, tiny_manifest: ModelManifest) -> None:
    items = {i.file: i for i in read_labels(synthetic_folder)}
    missing = prepare(items["img/missing.jpg"], LimitsConfig(), QualityConfig(), tiny_manifest)
    assert isinstance(missing, ImageResult)
    assert missing.failure == FILE_MISSING and "does not exist" in missing.failure_message
    corrupt = prepare(items["img/bad.jpg"], LimitsConfig(), QualityConfig(), tiny_manifest)
    assert isinstance(corrupt, ImageResult)
    assert corrupt.failure in {"image_truncated", "image_corrupt", "image_unreadable"}
    assert corrupt.failure_message
    fine = prepare(items["img/f0.png"], LimitsConfig(), QualityConfig(), tiny_manifest)
    assert isinstance(fine, PreparedImage)
    assert fine.tensor.shape == (3, 8, 8) and fine.tensor.dtype == np.float32


def test_batch_size_must_be_positive(tiny_manifest: ModelManifest) -> None:
    with OnnxRunner(tiny_manifest) as runner, pytest.raises(ValueError, match="batch_size"):
        evaluate_images([], limits=LimitsConfig(), quality=QualityConfig(), manifest=tiny_manifest,
                        runner=runner, batch_size=0)
