"""Turn a decoded fundus photo into the model's input tensor. Pure; shared with training.

Steps: crop to the field-of-view (the bright fundus disc on a dark surround), pad to a square
centred on the disc, resize, optionally apply local contrast normalisation (subtract a
large-scale blur, as in Graham's Kaggle-2015 method, so that cameras and colour renderings look
alike), scale to [0, 1], normalise by mean/std, and lay out as CHW float32.

With `camera_normalise` (models from 0.3.0) the square is cut around the aperture circle that the
quality gate fits (`appliance.quality.field_of_view.find_field`; the gate's own fit when the caller
passes it as `circle`, from `circle_from_metrics`, else fitted here), so a full circle, a circle clipped
at top and bottom or on all four sides all land at the same scale; the local average is taken over
field pixels only (no bright halo where the blur would mix in the black surround), and everything
outside 90 % of the radius, or outside the camera's frame, is set to mid-grey: the model sees no
rim, no corner and no stamp, which differ from camera to camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.field_of_view import find_field

UInt8Image = npt.NDArray[np.uint8]
Tensor = npt.NDArray[np.float32]
#: An aperture circle in the image's pixels: centre x, centre y, radius.
Circle = tuple[float, float, float]

#: A pixel belongs to the field when its brightest channel exceeds this (0..255).
FOV_LEVEL = 12
#: A row or column belongs to the field's box when this share of it is inside the field.
FOV_LINE_SHARE = 0.02
#: camera_normalise: share of the aperture radius the model sees (the rim outside it is masked).
VISIBLE_RADIUS = 0.9
#: camera_normalise: local-contrast gain of a flat field (no detail to measure), and the blur's
#: sigma as a share of the square's side.
CONTRAST_GAIN = 4.0
BLUR_SIGMA_SHARE = 1 / 30
#: Mid-grey: the value of everything the model must not look at, after camera normalisation.
MID_GREY = 128
#: camera_normalise: the detail (image minus local average) is scaled to this standard deviation
#: inside the visible field. Natural-colour photos of four cameras have a median of 21-24 at gain 4;
#: the enhanced EyePACS renderings 61: without this they would look like another kind of eye.
DETAIL_STD = 22.0


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


def aperture_circle(image: UInt8Image, fitted: Circle | None = None) -> Circle:
    """Centre x, centre y and radius (px) of the camera's circular aperture in the image.

    The quality gate's fitted circle (`fitted`, or fitted now when None) when it is of a plausible
    size, else the circle around the bright box (a photo the gate will refuse anyway still yields a
    tensor).
    """
    h, w = image.shape[:2]
    if fitted is None:
        fov = find_field(image)
        fitted = (fov.centre_x, fov.centre_y, fov.radius) if fov.found else None
    if fitted is not None and 0.15 * min(h, w) < fitted[2] < 1.5 * max(h, w):
        return fitted
    top, bottom, left, right = field_of_view_box(image)
    return (left + right - 1) / 2, (top + bottom - 1) / 2, max(bottom - top, right - left) / 2


def _cut_square(image: UInt8Image, cx: float, cy: float, r: float) -> UInt8Image:
    """The square of side 2r centred on (cx, cy), black where it leaves the image."""
    h, w = image.shape[:2]
    side = max(2, round(2 * r))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    crop = image[max(0, y0):max(0, min(h, y0 + side)), max(0, x0):max(0, min(w, x0 + side))]
    top, left = max(0, -y0), max(0, -x0)
    out = np.zeros((side, side, *image.shape[2:]), np.uint8)
    out[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    return out


def aperture_square(image: UInt8Image, size: int,
                    circle: Circle | None = None) -> tuple[UInt8Image, npt.NDArray[np.bool_]]:
    """The natural-colour square [size, size, 3] cut around the aperture circle (the gate's `circle`
    when given), and the mask of its pixels inside the camera's frame (False where the circle left
    the picture)."""
    cx, cy, r = aperture_circle(image, circle)
    square = _cut_square(image, cx, cy, r)
    frame = _cut_square(np.full(image.shape[:2], 255, np.uint8), cx, cy, r)
    interp = cv2.INTER_AREA if square.shape[0] > size else cv2.INTER_LINEAR
    square = np.asarray(cv2.resize(square, (size, size), interpolation=interp), np.uint8)
    in_frame = np.asarray(cv2.resize(frame, (size, size), interpolation=cv2.INTER_NEAREST), np.uint8) > 0
    return square, in_frame


def natural_square(image: UInt8Image, spec: InputSpec, circle: Circle | None = None) -> UInt8Image:
    """The natural-colour square that the model's input is aligned with (for showing a heatmap)."""
    if spec.camera_normalise:
        return aperture_square(image, spec.size, circle)[0]
    return fundus_square(image, InputSpec(spec.size, spec.mean, spec.std, local_contrast=False))


def camera_normal_square(image: UInt8Image, size: int, circle: Circle | None = None) -> UInt8Image:
    """The camera-independent view (see the module's docstring): RGB uint8 [size, size, 3]."""
    square, frame = aperture_square(image, size, circle)
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    inside = (xx - centre) ** 2 + (yy - centre) ** 2 <= (size / 2) ** 2
    field = inside & frame & (square.max(axis=2) > FOV_LEVEL)
    # Local average over field pixels only (normalised convolution): no halo at the rim.
    sigma = size * BLUR_SIGMA_SHARE
    weight = cv2.GaussianBlur(field.astype(np.float32), (0, 0), sigma)
    local = cv2.GaussianBlur(square.astype(np.float32) * field[..., None], (0, 0), sigma)
    local /= np.maximum(weight, 1e-3)[..., None]
    detail = square.astype(np.float32) - local
    margin = max(2, size // 64)
    eroded = cv2.erode(field.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    visible = (eroded > 0) & ((xx - centre) ** 2 + (yy - centre) ** 2 <= (VISIBLE_RADIUS * size / 2) ** 2)
    spread = float(detail[visible].std()) if visible.any() else 0.0
    gain = DETAIL_STD / spread if spread > 0.5 else CONTRAST_GAIN
    out: UInt8Image = np.clip(gain * detail + MID_GREY, 0, 255).astype(np.uint8)
    out[~visible] = MID_GREY
    return out


def fundus_square(image: UInt8Image, spec: InputSpec, circle: Circle | None = None) -> UInt8Image:
    """The cropped, resized (and optionally contrast-normalised) RGB uint8 square the model sees
    (`circle`: the gate's fit of the aperture, used by the camera-normalised view)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {image.shape} {image.dtype}")
    if spec.camera_normalise:
        return camera_normal_square(image, spec.size, circle)
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


def preprocess(image: UInt8Image, spec: InputSpec, circle: Circle | None = None) -> Tensor:
    """RGB uint8 HxWx3 photo -> float32 tensor [3, size, size] for the model. `circle`: the quality
    gate's fit of the aperture in this image's pixels (`circle_from_metrics`); fitted here when None.

    Raises:
        ValueError: the array is not RGB uint8 (decoding should have rejected it earlier).
    """
    return to_tensor(fundus_square(image, spec, circle), spec)
