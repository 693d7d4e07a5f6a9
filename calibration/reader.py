"""Photos -> the model's input tensors, the appliance's way, and onnxruntime's calibration reader over them.

Each photo goes through the appliance's own decoder (`appliance.imaging.decode_image`) and
preprocessing (`appliance.inference.preprocess`) with the FP32 manifest's InputSpec, so the
activation ranges are measured on exactly what the device will feed the model. Photos are kept as
uint8 squares (4x smaller than float tensors) and normalised batch by batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from onnxruntime.quantization import CalibrationDataReader
from tqdm import tqdm

from appliance.config import LimitsConfig
from appliance.errors import ImageError
from appliance.imaging import decode_image
from appliance.inference.preprocess import InputSpec, fundus_square, to_tensor
from calibration.errors import CalibrationError

log = logging.getLogger(__name__)

Squares = npt.NDArray[np.uint8]
Batch = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Loaded:
    """Decoded photos: `squares` uint8 [N, S, S, 3] RGB, `kept` the indices (into the input) they came from."""

    squares: Squares
    kept: list[int]
    skipped: list[str]


def load_squares(
    paths: Sequence[Path], spec: InputSpec, *, limits: LimitsConfig | None = None, desc: str = "decoding",
    strict: bool = True,
) -> Loaded:
    """Decode and crop every photo to the model's square (the appliance's path), with a progress bar.

    Args:
        strict: raise on the first photo that cannot be used (calibration: the recorded list must be
            exactly what was used); when False, skip it with a warning (parity on a test split).

    Raises:
        CalibrationError: no photo given, a photo is unusable under `strict`, or none is usable.
    """
    if not paths:
        raise CalibrationError("No photos were given to decode for calibration.")
    limits = limits or LimitsConfig()
    squares = np.empty((len(paths), spec.size, spec.size, 3), np.uint8)
    kept: list[int] = []
    skipped: list[str] = []
    for i, path in enumerate(tqdm(paths, desc=desc, unit="img", mininterval=1.0)):
        try:
            squares[len(kept)] = fundus_square(decode_image(path.read_bytes(), limits, reduced=True), spec)
        except (OSError, ImageError) as exc:
            reason = getattr(exc, "message", None) or str(exc)
            if strict:
                raise CalibrationError(f"The photo {path} cannot be used: {reason}", detail=repr(exc)) from exc
            log.warning("photo %s skipped: %s", path, reason)
            skipped.append(str(path))
            continue
        kept.append(i)
    if not kept:
        raise CalibrationError(f"None of the {len(paths)} photos could be decoded.")
    return Loaded(squares=squares[: len(kept)], kept=kept, skipped=skipped)


def batch_tensor(squares: Squares, spec: InputSpec) -> Batch:
    """uint8 squares [N, S, S, 3] -> normalised float32 [N, 3, S, S] (the appliance's `to_tensor`)."""
    return np.stack([to_tensor(square, spec) for square in squares]).astype(np.float32, copy=False)


class SquaresReader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
    """Feeds uint8 squares to onnxruntime's calibrator as `{input_name: float32 [B, 3, S, S]}`.

    One item is one batch of `batch_size` photos (the last may be smaller); `len()` counts items.
    `set_range` (used by quantize_static's `CalibStridedMinMax`, which calibrates chunk by chunk to
    bound memory) restricts the items; the progress bar counts photos across all chunks.

    Raises:
        ValueError: batch_size < 1 or no squares.
    """

    def __init__(self, input_name: str, squares: Squares, spec: InputSpec, *, batch_size: int = 4,
                 progress: bool = True, desc: str = "calibrating") -> None:
        if batch_size < 1 or len(squares) == 0:
            raise ValueError(f"need batch_size >= 1 and at least one square, got {batch_size}, {len(squares)}")
        self.input_name = input_name
        self.squares = squares
        self.spec = spec
        self.batch_size = batch_size
        self._items = -(-len(squares) // batch_size)
        self._next, self._end = 0, self._items
        self._desc, self._progress = desc, progress
        self._bar: tqdm[None] | None = None  # opened by the first batch of a pass: a cached pass shows none

    def __len__(self) -> int:
        return self._items

    def set_range(self, start_index: int, end_index: int) -> None:
        """Yield items start_index .. end_index - 1 next (clipped to the items there are)."""
        self._next, self._end = max(0, start_index), min(end_index, self._items)

    def rewind(self) -> None:
        """Start again from the first item (a fresh pass, e.g. for a second calibration method)."""
        self._next, self._end = 0, self._items
        self.close()

    def get_next(self) -> dict[str, Batch] | None:
        if self._next >= self._end:
            return None
        start = self._next * self.batch_size
        chunk = self.squares[start:start + self.batch_size]
        self._next += 1
        if self._bar is None:
            self._bar = tqdm(total=len(self.squares), desc=self._desc, unit="img", mininterval=1.0,
                             disable=not self._progress)
        self._bar.update(len(chunk))
        return {self.input_name: batch_tensor(chunk, self.spec)}

    def close(self) -> None:
        """Close the progress bar of the current pass, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def chunk_items(items: int, most: int = 8) -> int:
    """The largest divisor of `items` that is at most `most` (quantize_static needs stride | len)."""
    if items < 1 or most < 1:
        raise ValueError(f"need items >= 1 and most >= 1, got {items}, {most}")
    return max(d for d in range(1, min(items, most) + 1) if items % d == 0)
