"""`appliance build-engine`: arguments, output, exit codes, and importing build/ by its location."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from build_models import InstallFakes

from appliance.cli import main
from appliance.commands import build_engine as command
from appliance.errors import ModelError
from appliance.inference.manifest import ModelManifest

REPO = Path(__file__).resolve().parents[3]


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(f'data_dir = "{tmp_path / "var"}"\nlog_level = "WARNING"\n')
    return path


def argv(tmp_path: Path, manifest: ModelManifest, photos: Path, *extra: str) -> list[str]:
    return ["build-engine", "--config", str(config_file(tmp_path)), "--manifest",
            str(manifest.model_path.with_suffix(".toml")), "--images", str(photos), *extra]


def test_builds_into_the_configured_engine_dir_then_reuses(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install_fakes("10")
    assert main(argv(tmp_path, int8_model, photos)) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"Built and verified engine {tmp_path / 'var' / 'engines'}")
    assert "int8" in out and "Parity with onnxruntime on 6 photos" in out
    assert "probing TensorRT" in err and "TensorRT: Building engine" in err and "installing" in err
    assert main(argv(tmp_path, int8_model, photos)) == 0
    assert capsys.readouterr().out.startswith("Reused the current engine")


def test_json_output_is_the_engine_record(
    install_fakes: InstallFakes, fp32_model: ModelManifest, photos: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install_fakes("8.6")
    listing = tmp_path / "models" / "calibration-images.txt"
    listing.write_text("# recorded list\nphoto_1.jpg\nphoto_3.jpg\n")
    code = main(argv(tmp_path, fp32_model, listing, "--json", "--precision", "fp32", "--engine-dir",
                     str(tmp_path / "cache"), "--opt-batch", "2", "--max-batch", "4", "--images-root", str(photos)))
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["parity"]["images"] == 2
    assert record["built"] is True and Path(record["engine"]).parent == tmp_path / "cache"
    assert record["key"]["precision"] == "fp32" and record["key"]["batch_profile"] == [1, 2, 4]
    assert record["builder_flags"] == []


def test_a_disagreeing_engine_exits_3_with_the_reason(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install_fakes("10", engine_offset=1.0)
    assert main(argv(tmp_path, int8_model, photos, "--tolerance", "0.05")) == 3
    err = capsys.readouterr().err
    assert "error [engine_disagrees]" in err and "tolerance 0.05" in err


def test_a_bad_batch_profile_is_a_usage_error(
    int8_model: ModelManifest, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv(tmp_path, int8_model, photos, "--opt-batch", "8", "--max-batch", "4")) == 2
    assert "--opt-batch" in capsys.readouterr().err


def test_the_builder_package_is_ours_even_behind_another_build_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alien = tmp_path / "site" / "build"
    alien.mkdir(parents=True)
    (alien / "__init__.py").write_text("ALIEN = True\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [n for n in sys.modules if n == "build" or n.startswith("build.")]:
        monkeypatch.delitem(sys.modules, name)
    module = command.import_build_package("build.engine")
    assert Path(module.__file__).resolve() == REPO / "build" / "engine.py"  # type: ignore[arg-type]
    assert not hasattr(sys.modules["build"], "ALIEN")


def test_another_build_package_already_imported_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    alien = types.ModuleType("build")
    alien.__file__ = str(tmp_path / "site-packages" / "build" / "__init__.py")
    monkeypatch.setitem(sys.modules, "build", alien)
    with pytest.raises(ModelError, match="Another package named 'build'") as info:
        command.import_build_package("build.engine")
    assert info.value.reason_code == "engine_builder_missing"


def test_without_the_builder_folder_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As from a wheel installed into site-packages, where build/ (if any) is pypa's package.
    site = tmp_path / "site-packages"
    (site / "build").mkdir(parents=True)
    (site / "build" / "__init__.py").write_text("")
    monkeypatch.setattr(command, "REPO_ROOT", site)
    monkeypatch.setattr(command, "BUILD_DIR", site / "build")
    for name in [n for n in sys.modules if n == "build" or n.startswith("build.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ModelError, match="engine builder is missing") as info:
        command.import_build_package("build.engine")
    assert info.value.reason_code == "engine_builder_missing"
    assert "build" not in sys.modules


def test_the_installed_command_finds_the_builder_from_any_folder(tmp_path: Path) -> None:
    # Another `build` package first on sys.path and a foreign working directory: the command must
    # still reach our builder, which then reports the missing TensorRT (no GPU libraries here).
    alien = tmp_path / "site" / "build"
    alien.mkdir(parents=True)
    (alien / "__init__.py").write_text("raise ImportError('the wrong build package was imported')\n")
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "APPLIANCE_DATA_DIR": str(tmp_path)}
    manifest = REPO / "tests" / "unit" / "build" / "missing.toml"
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "build-engine", "--manifest", str(manifest)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "wrong build package" not in done.stderr
    assert "error [model_manifest_invalid]" in done.stderr
