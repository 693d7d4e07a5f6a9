"""Decoding photos the appliance's way, and the calibration reader's batches, ranges and progress."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from calibration_fakes import fundus_photo

from appliance.inference.preprocess import InputSpec, preprocess
from calibration.errors import CalibrationError
from calibration.reader import SquaresReader, batch_tensor, chunk_items, load_squares

SPEC = InputSpec(size=32)


def photos(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(n):
        path = folder / f"p{i}.jpg"
        cv2.imwrite(str(path), np.ascontiguousarray(fundus_photo(rng)[:, :, ::-1]))
        paths.append(path)
    return paths


def test_squares_are_what_the_appliance_feeds_the_model(tmp_path: Path) -> None:
    paths = photos(tmp_path, 3)
    loaded = load_squares(paths, SPEC)
    assert loaded.squares.shape == (3, 32, 32, 3) and loaded.squares.dtype == np.uint8
    assert loaded.kept == [0, 1, 2]
    batch = batch_tensor(loaded.squares, SPEC)
    rgb = cv2.cvtColor(cv2.imread(str(paths[1])), cv2.COLOR_BGR2RGB)
    np.testing.assert_allclose(batch[1], preprocess(np.asarray(rgb, np.uint8), SPEC), atol=1e-6)


def test_an_unusable_photo_stops_calibration_but_is_skipped_for_parity(tmp_path: Path) -> None:
    paths = photos(tmp_path, 2)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    with pytest.raises(CalibrationError, match=r"bad\.jpg"):
        load_squares([paths[0], bad, paths[1]], SPEC)
    loaded = load_squares([paths[0], bad, paths[1]], SPEC, strict=False)
    assert loaded.kept == [0, 2] and loaded.skipped == [str(bad)] and len(loaded.squares) == 2


def test_no_usable_photo_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    with pytest.raises(CalibrationError, match="None of the 1"):
        load_squares([bad], SPEC, strict=False)


def test_the_reader_yields_batches_of_the_input_shape_and_honours_ranges() -> None:
    squares = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    reader = SquaresReader("image", squares, SPEC, batch_size=4, progress=False)
    items = list(reader)
    assert len(reader) == 3 and [x["image"].shape for x in items] == [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    assert all(x["image"].dtype == np.float32 for x in items)
    np.testing.assert_array_equal(items[2]["image"], batch_tensor(squares[8:], SPEC))
    reader.set_range(1, 2)
    assert [x["image"].shape[0] for x in reader] == [4]
    reader.rewind()
    assert sum(x["image"].shape[0] for x in reader) == 10
    reader.close()


def test_chunk_items_divides_the_item_count() -> None:
    assert chunk_items(75, 8) == 5
    assert chunk_items(13, 8) == 1
    assert chunk_items(4, 8) == 4
    with pytest.raises(ValueError):
        chunk_items(0)
