"""The whole command on a tiny synthetic dev set and the tiny model: files, manifest, list, report, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import pytest
from calibration_fakes import fp32_manifest

from appliance.cli import main
from appliance.inference.manifest import load_manifest
from calibration.errors import CalibrationError
from calibration.images import read_list
from calibration.quantize import check_qdq
from calibration.run import Request, calibrate, parity_only, standard_variants
from training.data import read_examples


def test_calibrate_compares_variants_and_ships_a_checked_int8_model(
    tiny_manifest: Path, synthetic_devset: Path,
) -> None:
    models = tiny_manifest.parent
    lines: list[str] = []
    variants = standard_variants(("minmax", "percentile"))
    outcome = calibrate(Request(
        fp32_manifest=tiny_manifest, out=models / "dr-tiny-int8", data_dir=synthetic_devset,
        variants=variants, count=16, command="appliance calibrate test",
    ), progress=lines.append)
    assert [c.options for c in outcome.candidates] == list(variants) and len(variants) == 8
    assert all(c.parity is not None and c.selection is not None for c in outcome.candidates)
    # The tiny model has two convs, the second depthwise: fully int8, depthwise float, all float (stem).
    assert [c.float_convs for c in outcome.candidates] == [0, 1, 2, 0, 1, 2, 0, 0]
    assert [c.float_macs for c in outcome.candidates][:3] == [0.0, pytest.approx(8 / 32), 1.0]
    int8 = load_manifest(models / "dr-tiny-int8.toml")  # hashes the model against the manifest
    assert int8.model_path == models / "dr-tiny-int8.onnx" and int8 == outcome.manifest
    check_qdq(onnx.load(str(int8.model_path)))
    fp32 = load_manifest(tiny_manifest)
    assert int8.threshold == fp32.threshold and int8.training["fp32_sha256"] == fp32.sha256

    listed = read_list(models / "calibration-images.txt")
    assert len(listed) == 16 == int8.training["calibration_images"]
    examples = {e.file: e for e in read_examples(synthetic_devset)}
    assert all(examples[f].split == "train" and not examples[f].reject for f in listed)
    digest = hashlib.sha256((models / "calibration-images.txt").read_bytes()).hexdigest()
    assert int8.training["calibration_list_sha256"] == digest
    assert int8.training["calibration_list"] == "calibration-images.txt"

    shipped = outcome.candidates[outcome.shipped]
    assert int8.training["calibration_method"] == shipped.options.method
    assert int8.training["float_nodes"] == shipped.excluded
    assert int8.training["bias_correction"] is shipped.options.bias_correction
    report = (models / "INT8_PARITY.md").read_text()
    for c in outcome.candidates:  # each variant in both tables, by name (" (shipped)" may follow)
        assert report.count(f"| {c.name}") == 2, c.name
    names = {c.name for c in outcome.candidates}
    assert {"minmax, head int8, bias corrected", "minmax, head float, no bias correction",
            "percentile, head float, depthwise float, bias corrected"} <= names
    assert report.count(f"{shipped.name} (shipped)") == 2 and int8.sha256 in report  # validation and test tables
    assert any("shipped" in line for line in lines)

    again = parity_only(tiny_manifest, models / "dr-tiny-int8.toml", synthetic_devset, models / "INT8_PARITY.md",
                        progress=lines.append)
    assert again == shipped.parity


def test_parity_only_refuses_an_int8_model_made_from_another_fp32(tiny_manifest: Path, synthetic_devset: Path,
                                                                  tmp_path: Path) -> None:
    models = tiny_manifest.parent
    calibrate(Request(fp32_manifest=tiny_manifest, out=models / "q", data_dir=synthetic_devset, count=8,
                      parity=False), progress=lambda _: None)
    other = tmp_path / "other"
    other.mkdir()
    other_manifest = fp32_manifest(other, seed=5)  # same names, other weights
    with pytest.raises(CalibrationError, match="another FP32 model"):
        parity_only(other_manifest, models / "q.toml", synthetic_devset, tmp_path / "r.md")


def test_the_cli_runs_one_variant_and_prints_the_report(
    tiny_manifest: Path, synthetic_devset: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tiny_manifest.parent / "cli-int8"
    status = main(["calibrate", "--manifest", str(tiny_manifest), "--out", str(out), "--data-dir",
                   str(synthetic_devset), "--count", "12", "--method", "entropy", "--head", "float",
                   "--bias-correction", "off"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "# INT8 parity: cli-int8 vs dr-tiny (FP32)" in printed
    assert "| entropy, head float, no bias correction (shipped) [0 % float] |" in printed
    manifest = load_manifest(out.with_name("cli-int8.toml"))
    assert manifest.training["command"].startswith(
        "appliance calibrate --method entropy --count 12 --seed 0 --head float --bias-correction off --manifest ")


def test_the_cli_refuses_a_zero_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--count", "0"]) == 2
    assert "--count" in capsys.readouterr().err


def test_too_few_train_photos_is_an_operator_error(tiny_manifest: Path, synthetic_devset: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["calibrate", "--manifest", str(tiny_manifest), "--out", str(tiny_manifest.parent / "x"),
                   "--data-dir", str(synthetic_devset), "--count", "5000"])
    assert status == 3
    assert "error [calibration_failed]: Cannot choose 5000 calibration photos" in capsys.readouterr().err


def test_a_failing_variant_is_dropped_and_the_others_still_ship(
    tiny_manifest: Path, synthetic_devset: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import calibration.run as run_module
    from calibration.quantize import QuantizeOptions

    real = run_module.quantize

    def flaky(prepared: Path, out: Path, reader: object, options: QuantizeOptions, cache: Path) -> list[str]:
        if options.method == "entropy":
            raise CalibrationError("Quantization (entropy) failed.")
        return real(prepared, out, reader, options, cache)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module, "quantize", flaky)
    lines: list[str] = []
    outcome = calibrate(Request(
        fp32_manifest=tiny_manifest, out=tiny_manifest.parent / "q", data_dir=synthetic_devset, count=8,
        variants=(QuantizeOptions(method="entropy"), QuantizeOptions(method="minmax")),
    ), progress=lines.append)
    assert [c.options.method for c in outcome.candidates] == ["minmax"]
    assert any("dropped: Quantization (entropy) failed." in line for line in lines)
    monkeypatch.setattr(run_module, "quantize", lambda *a: (_ for _ in ()).throw(CalibrationError("no")))
    with pytest.raises(CalibrationError, match="No quantized variant"):
        calibrate(Request(fp32_manifest=tiny_manifest, out=tiny_manifest.parent / "q", data_dir=synthetic_devset,
                          count=8), progress=lines.append)
