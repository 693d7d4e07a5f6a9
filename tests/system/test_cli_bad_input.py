"""Bad input on the CLI: one clear line, a non-zero exit, nothing half-written in the store."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.tomlfile import tomllib
from tests.system.helpers import box_env, run_cli, store_rows

REPO = Path(__file__).resolve().parents[2]


def _png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def _bad_files(good: bytes) -> dict[str, tuple[bytes, str]]:
    gray = np.full((300, 300), 90, np.uint8)
    cv2.circle(gray, (150, 150), 120, 160, -1)
    deep = (np.random.default_rng(0).integers(0, 65535, (300, 300, 3))).astype(np.uint16)
    return {
        "zero bytes": (b"", "image_empty"),
        "truncated jpeg": (good[: len(good) // 3], "image_truncated"),
        "corrupt jpeg": (good[:200] + bytes(range(256)) * 20 + b"\xff\xd9", "image_corrupt"),
        "text file": (b"patient notes, not an image\n" * 10, "image_not_an_image"),
        "pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "image_not_an_image"),
        "grayscale": (_png(gray), "image_grayscale"),
        "16-bit": (_png(deep), "image_16bit"),
    }


@pytest.mark.parametrize("case", list(_bad_files(b"\xff\xd8" + b"x" * 999)))
def test_bad_image_exits_2_with_one_line_and_stores_nothing(tmp_path: Path, sample_pair: tuple[Path, Path],
                                                            case: str) -> None:
    right, left = sample_pair
    content, code = _bad_files(right.read_bytes())[case]
    bad = tmp_path / "bad.img"
    bad.write_bytes(content)
    data = tmp_path / "var"
    done = run_cli(["screen", "--right", str(bad), "--left", str(left)], box_env(data))
    assert done.returncode == 2, (case, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error [{code}]: "), (case, done.stderr)
    assert done.stdout == ""
    assert store_rows(data, "SELECT count(*) AS n FROM exams")[0]["n"] == 0
    assert not list((data / "images").rglob("*.*"))


def test_missing_eye_and_missing_file(tmp_path: Path, sample_pair: tuple[Path, Path]) -> None:
    right, _ = sample_pair
    done = run_cli(["screen", "--right", str(right)], box_env(tmp_path / "var"))
    assert done.returncode == 2 and done.stderr.startswith("error [left_eye_missing]: ")
    done = run_cli(["screen", "--right", str(right), "--left", str(tmp_path / "absent.jpg")],
                   box_env(tmp_path / "var"))
    assert done.returncode == 2 and done.stderr.startswith("error [image_file_unreadable]: ")


def test_huge_image_is_refused_before_decoding(tmp_path: Path, sample_pair: tuple[Path, Path]) -> None:
    right, left = sample_pair
    done = run_cli(["screen", "--right", str(right), "--left", str(left)],
                   box_env(tmp_path / "var", APPLIANCE_LIMITS_MAX_IMAGE_MEGAPIXELS="0.1"))
    assert done.returncode == 2 and done.stderr.startswith("error [image_too_many_pixels]: ")


def test_tampered_model_is_refused(tmp_path: Path, sample_pair: tuple[Path, Path]) -> None:
    models = tmp_path / "models"
    shutil.copytree(REPO / "models", models)
    onnx = models / tomllib.loads((models / "dr-reference.toml").read_text())["file"]
    blob = bytearray(onnx.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    onnx.write_bytes(bytes(blob))
    right, left = sample_pair
    done = run_cli(["screen", "--right", str(right), "--left", str(left)],
                   box_env(tmp_path / "var", APPLIANCE_MODEL_MANIFEST=str(models / "dr-reference.toml")))
    assert done.returncode == 3
    assert done.stderr.startswith("error [model_integrity]: ") and len(done.stderr.strip().splitlines()) == 1


def test_help_lists_the_commands() -> None:
    done = run_cli(["--help"], box_env(Path("/nonexistent")))
    assert done.returncode == 0
    assert "serve" in done.stdout and "screen" in done.stdout
