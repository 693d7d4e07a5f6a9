"""Turn a decoded fundus photo into the model's input tensor. Pure; shared with training.

Steps: crop to the field-of-view (the bright fundus disc on a dark surround), pad to a square
centred on the disc, resize, optionally apply local contrast normalisation (subtract a
large-scale blur, as in Graham's Kaggle-2015 method, so that cameras and colour renderings look
alike), scale to [0, 1], normalise by mean/std, and lay out as CHW float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

UInt8Image = npt.NDArray[np.uint8]
Tensor = npt.NDArray[np.float32]

#: A pixel belongs to the field when its brightest channel exceeds this (0..255).
FOV_LEVEL = 12
#: A row or column belongs to the field's box when this share of it is inside the field.
FOV_LINE_SHARE = 0.02


@dataclass(frozen=True)
class InputSpec:
    """The model's input contract, read from its manifest."""

    size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    local_contrast: bool = False
    #: Camera-independent view: the square is cut around the fitted field circle (any framing), the
    #: local-contrast blur does not see the dark surround, and the rim is masked to mid-grey.
    camera_normalise: bool = False


def field_of_view_box(image: UInt8Image) -> tuple[int, int, int, int]:
    """Bounding box (top, bottom, left, right; end-exclusive) of the fundus disc.

    Falls back to the whole image when no field is found, so a dark or odd image still yields a
    tensor (the quality gate, not preprocessing, decides whether it is gradable).
    """
    mask = image.max(axis=2) > FOV_LEVEL
    rows = np.flatnonzero(mask.mean(axis=1) > FOV_LINE_SHARE)
    cols = np.flatnonzero(mask.mean(axis=0) > FOV_LINE_SHARE)
    if rows.size < 8 or cols.size < 8:
        return 0, image.shape[0], 0, image.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_to_square_field(image: UInt8Image) -> UInt8Image:
    """Crop to the field's box and pad with black to a square centred on it."""
    top, bottom, left, right = field_of_view_box(image)
    crop = image[top:bottom, left:right]
    h, w = crop.shape[:2]
    side = max(h, w)
    pad_y, pad_x = side - h, side - w
    padded = cv2.copyMakeBorder(
        crop, pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2,
        cv2.BORDER_CONSTANT, value=(0, 0, 0),
    )
    return np.asarray(padded, dtype=np.uint8)


def local_contrast(image: UInt8Image) -> UInt8Image:
    """Graham's normalisation: 4·(image − blur(image)) + 128, then re-black the surround."""
    size = image.shape[0]
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=size / 30)
    out = np.asarray(cv2.addWeighted(image, 4.0, blurred, -4.0, 128.0), dtype=np.uint8)
    # Keep only the field, shrunk a little: its rim is where the blur mixed in the black surround.
    field = (image.max(axis=2) > FOV_LEVEL).astype(np.uint8)
    margin = max(3, size // 40)
    field = cv2.erode(field, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    out[field == 0] = 0
    return out


def fundus_square(image: UInt8Image, spec: InputSpec) -> UInt8Image:
    """The cropped, resized (and optionally contrast-normalised) RGB uint8 square the model sees."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {image.shape} {image.dtype}")
    square = crop_to_square_field(image)
    interp = cv2.INTER_AREA if square.shape[0] > spec.size else cv2.INTER_LINEAR
    square = np.asarray(cv2.resize(square, (spec.size, spec.size), interpolation=interp), dtype=np.uint8)
    return local_contrast(square) if spec.local_contrast else square


def to_tensor(square: UInt8Image, spec: InputSpec) -> Tensor:
    """Scale to [0,1], normalise by mean/std and return CHW float32."""
    mean = np.asarray(spec.mean, np.float32) * 255.0
    scale = 1.0 / (np.asarray(spec.std, np.float32) * 255.0)
    x: Tensor = (square.astype(np.float32) - mean) * scale
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(image: UInt8Image, spec: InputSpec) -> Tensor:
    """RGB uint8 HxWx3 photo -> float32 tensor [3, size, size] for the model.

    Raises:
        ValueError: the array is not RGB uint8 (decoding should have rejected it earlier).
    """
    return to_tensor(fundus_square(image, spec), spec)
