"""`appliance evaluate` in-process: choosing photos and manifests, the exit codes and both outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from appliance.cli import EXIT_BAD_INPUT, EXIT_FAILURE, main
from appliance.commands.evaluate import choose_images, manifest_path, quality_profiles
from appliance.config import Config
from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.errors import ConfigError, ManifestError
from appliance.evaluation.dataset import LabelledImage
from appliance.evaluation.split import file_split, patient_of, patient_split
from tests.unit.evaluation.eval_fakes import HEADER, write_tiny_manifest


def _items(names: list[str]) -> list[LabelledImage]:
    return [LabelledImage(Path(n), n, 0, False, None, "s", patient_of(n)) for n in names]


def test_a_patient_column_keys_the_split_and_wins_over_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        HEADER.rstrip("\n") + ",patient\n"
        + "".join(f"images/odir_{k}.jpg,0,0,,odir,x,{k // 2}\n" for k in range(200))
        + "images/eyepacs_nat_7_left.jpg,0,0,,e,x,\n")
    from appliance.evaluation.dataset import read_labels
    rows = read_labels(tmp_path)
    assert [r.patient for r in rows[:3]] == ["0", "0", "1"] and rows[-1].patient == "7"
    assert all(r.split == patient_split(r.patient or "") for r in rows)
    chosen, no_patient = choose_images(rows, "test", None)
    assert no_patient == 0 and 0 < len(chosen) < 200
    # both eyes of a patient land together
    assert {r.file for r in chosen} == {r.file for r in rows if patient_split(r.patient or "") == "test"}


def test_split_test_keeps_test_patients_and_counts_names_without_one() -> None:
    names = [f"images/eyepacs_enh_{p}_left.jpg" for p in range(200)] + ["images/idrid_1.jpg"]
    chosen, no_patient = choose_images(_items(names), "test", None)
    assert no_patient == 1
    assert chosen and all(file_split(i.file) == "test" for i in chosen)
    assert len(chosen) == sum(1 for n in names if file_split(n) == "test")
    everything, none = choose_images(_items(names), "all", None)
    assert len(everything) == 201 and none == 0


def test_limit_is_a_fixed_choice_in_file_order_that_does_not_follow_row_order() -> None:
    names = [f"f{k:03d}.jpg" for k in range(100)]
    first, _ = choose_images(_items(names), "all", 10)
    again, _ = choose_images(_items(list(reversed(names))), "all", 10)
    assert len(first) == 10
    assert [i.file for i in first] == sorted(i.file for i in first)
    assert {i.file for i in first} == {i.file for i in again}
    assert [i.file for i in first] != names[:10]


def test_int8_uses_the_twin_and_says_so_when_it_is_missing(tmp_path: Path) -> None:
    config = Config()
    config.model.manifest = str(tmp_path / "dr.toml")
    with pytest.raises(ManifestError, match="no INT8 model") as raised:
        manifest_path(config, "int8", None)
    assert raised.value.reason_code == "int8_model_missing"
    (tmp_path / "dr-int8.toml").write_text("")
    assert manifest_path(config, "int8", None) == tmp_path / "dr-int8.toml"
    assert manifest_path(config, "fp32", None) == tmp_path / "dr.toml"
    assert manifest_path(config, "int8", tmp_path / "x.toml") == tmp_path / "x.toml"


def test_quality_profiles_per_source_and_for_all(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[quality]\nmin_focus = 1e9\n")
    config = Config()
    default, by_source = quality_profiles(config, [])
    assert default is config.quality and by_source == {}
    default, by_source = quality_profiles(config, [f"camera=b={strict}", str(strict)])
    assert default.min_focus == 1e9 and default.profile == str(strict)
    assert set(by_source) == {"camera=b"} and by_source["camera=b"].min_focus == 1e9
    with pytest.raises(ConfigError, match="Unknown quality profile"):
        quality_profiles(config, ["a=no-such-profile"])


def test_a_source_profile_changes_only_that_source(
    synthetic_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[quality]\nmin_focus = 1e9\n")  # nothing is that sharp: every photo fails as blurred
    manifest = write_tiny_manifest(tmp_path / "model")
    base = ["evaluate", str(synthetic_folder), "--config", str(_config(tmp_path, manifest)), "--json"]
    assert main(base) == 0
    loose = json.loads(capsys.readouterr().out)
    assert main([*base, "--quality-profile", f"camera-a={strict}"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quality_gate"] == {"profile": "default", "by_source": {"camera-a": str(strict)}}
    assert loose["per_source"]["camera-a"]["imageability"]["n_passed"] == 5
    assert report["per_source"]["camera-a"]["imageability"]["n_passed"] == 0
    assert report["per_source"]["camera-b"]["imageability"] == loose["per_source"]["camera-b"]["imageability"]
    assert report["gate_failure_reasons"]["blurred"] >= 5


def _config(tmp_path: Path, manifest: Path) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(f'data_dir = "{tmp_path / "var"}"\nlog_level = "WARNING"\n'
                    f'[model]\nmanifest = "{manifest}"\nrunner = "onnxruntime"\n')
    return path


def test_json_and_table_outputs(synthetic_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_tiny_manifest(tmp_path / "model")
    base = ["evaluate", str(synthetic_folder), "--config", str(_config(tmp_path, manifest)), "--bootstrap", "50"]
    assert main([*base, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["n_images"], report["n_labelled"]) == (9, 8)
    assert report["decode_failures"]["by_reason"]["image_file_missing"] == 1
    assert report["decode_failures"]["count"] == 3  # missing, corrupt, grey
    assert report["model"]["manifest"] == str(manifest) and report["model"]["precision"] == "fp32"
    assert report["dataset"]["split"] == "all" and report["bootstrap"]["replicates"] == 50
    assert set(report["per_source"]) == {"camera-a", "camera-b"}
    assert main(base) == 0
    text = capsys.readouterr().out
    assert "9 images, 8 with a referable label" in text and NOT_VALIDATED_NOTICE in text
    assert "; gate profile default" in text


def test_folders_are_pooled_and_a_source_can_be_left_out(
    synthetic_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    other = tmp_path / "other-site"
    shutil.copytree(synthetic_folder, other)
    labels = (other / "labels.csv").read_text().replace("camera-a", "camera-c").replace("camera-b", "camera-d")
    (other / "labels.csv").write_text(labels)
    manifest = write_tiny_manifest(tmp_path / "model")
    config = str(_config(tmp_path, manifest))
    assert main(["evaluate", str(synthetic_folder), str(other), "--config", config, "--json"]) == 0
    pooled = json.loads(capsys.readouterr().out)
    assert pooled["n_images"] == 18 and set(pooled["per_source"]) == {"camera-a", "camera-b", "camera-c", "camera-d"}
    assert " + " in pooled["dataset"]["folder"]
    assert main(["evaluate", str(synthetic_folder), str(other), "--config", config, "--json",
                 "--exclude-source", "camera-b", "--exclude-source", "camera-d"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert set(kept["per_source"]) == {"camera-a", "camera-c"} and kept["n_images"] == 10
    assert kept["dataset"]["excluded_sources"] == ["camera-b", "camera-d"]


def test_tensorrt_that_cannot_run_exits_3(
    synthetic_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("tensorrt", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(sys.modules, name, None)
    manifest = write_tiny_manifest(tmp_path / "model")
    code = main(["evaluate", str(synthetic_folder), "--config", str(_config(tmp_path, manifest)),
                 "--runner", "tensorrt"])
    assert code == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "error [runner_unavailable]" in err and "TensorRT" in err


def test_missing_int8_model_exits_3(synthetic_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_tiny_manifest(tmp_path / "model")
    code = main(["evaluate", str(synthetic_folder), "--config", str(_config(tmp_path, manifest)),
                 "--precision", "int8"])
    assert code == EXIT_FAILURE
    assert "error [int8_model_missing]" in capsys.readouterr().err


@pytest.mark.parametrize("labels", [None, "file,referable\nx.jpg,1\n", HEADER])
def test_unusable_folders_exit_2(labels: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    if labels is not None:
        (folder / "labels.csv").write_text(labels)
    manifest = write_tiny_manifest(tmp_path / "model")
    assert main(["evaluate", str(folder), "--config", str(_config(tmp_path, manifest))]) == EXIT_BAD_INPUT
    assert "error [dataset_" in capsys.readouterr().err


def test_split_test_on_a_foreign_folder_says_why_it_is_empty(
    synthetic_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_tiny_manifest(tmp_path / "model")
    code = main(["evaluate", str(synthetic_folder), "--config", str(_config(tmp_path, manifest)), "--split", "test"])
    assert code == EXIT_BAD_INPUT
    assert "9 of 9 rows have no patient id" in capsys.readouterr().err


def test_bad_numbers_exit_2(synthetic_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(synthetic_folder), "--limit", "0"]) == EXIT_BAD_INPUT
    assert "--limit" in capsys.readouterr().err
