"""Decode an uploaded or captured photo into RGB uint8, refusing bad input with a typed error.

Order of checks (cheapest and safest first): byte size; format from the magic bytes; width,
height and bit depth from the header, read by the small pure parsers below *before* any pixel
is decoded, so a decompression bomb (a tiny file that claims 20000×20000 pixels) is refused
without allocating it; the file's structure (a JPEG must end with its EOI marker and carry no
stray marker in its image data, a PNG must end with IEND), because libjpeg decodes a cut or
scrambled file with only a printed warning and grey or smeared rows; then the decode itself;
then colour and depth checks on the pixels.

For the model, `reduced=True` decodes at the size it needs, not the camera's: a JPEG at 1/2, 1/4 or
1/8 of its sides (libjpeg's scaled IDCT, which averages each block as it decodes: a 12-megapixel photo
decodes about five times faster, into a sixteenth of the memory), any other format reduced by the same
whole factor after decoding, the shorter side kept at least MODEL_MIN_SIDE. The quality gate gets every
pixel: its pixel-noise cue (a sensor fault is `not_fundus`) subsamples the photo precisely because
averaging hides noise (a 12-megapixel noise frame decoded at 1/4 measures as a hazy retina). The limits
above apply to the photo as taken either way.

Every failure is an ImageError subclass from appliance.errors with a stable reason code and
one operator sentence.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import LimitsConfig
from appliance.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError

UInt8Image = npt.NDArray[np.uint8]

#: Formats decoded here: each has a header parser, so its size is known before decoding.
DECODED_FORMATS = frozenset({"jpeg", "png", "tiff", "bmp"})

#: A pixel counts as grey when its channels differ by at most this much (0..255): JPEG's
#: chroma rounding leaves a grey photo saved as RGB a level or two off exactly grey.
GREY_CHANNEL_TOLERANCE = 4
#: ...and the image is grey when at most this share of its pixels is coloured...
GREY_MAX_COLOURED_SHARE = 0.001
#: ...unless at least WASHED_OUT_SHARE of its pixels are washed out (every channel at or over
#: WASHED_OUT_LEVEL): an overexposed colour photo loses its colour where it saturates, and must
#: reach the quality gate to be judged overexposed, not be refused as a black-and-white file.
WASHED_OUT_LEVEL = 250
WASHED_OUT_SHARE = 0.2

#: The shorter side a photo decoded for the model keeps, at least (unless the photo itself is smaller):
#: the model sees the camera's aperture (at least half the shorter side, see [quality]
#: min_fov_diameter_fraction) resampled to its input size (256 px), and the aperture is found on a copy
#: at most 512 px across, as the gate finds it.
MODEL_MIN_SIDE = 512
#: libjpeg's scaled decodes, by the factor each divides the sides by.
_REDUCED_JPEG = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}

_MB = 1024 * 1024
_UNREADABLE = "The file is not a readable image"
_EXPORT_HINT = "export the photo again as a JPEG or PNG"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "bigtiff"),
    (b"MM\x00+", "bigtiff"),
    (b"BM", "bmp"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2"),
    (b"\xff\x4f\xff\x51", "j2k"),
    (b"%PDF", "pdf"),
    (b"DICM", "dicom"),
)


@dataclass(frozen=True)
class ImageHeader:
    """What a header says about the pixels, before decoding them.

    `bits` is the bits per channel sample; `channels` the samples per pixel (0 when unknown).
    """

    width: int
    height: int
    bits: int = 8
    channels: int = 0


def image_format(data: bytes) -> str:
    """Name the format from the magic bytes.

    Returns:
        "jpeg", "png", "tiff", "bmp", "webp", "gif", "jp2", "j2k", "bigtiff", "pdf", "dicom",
        "empty" for zero bytes, or "unknown".
    """
    if not data:
        return "empty"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    # DICOM Part 10: a 128-byte preamble, then "DICM".
    if data[128:132] == b"DICM":
        return "dicom"
    return "unknown"


def decode_image(data: bytes, limits: LimitsConfig, *, reduced: bool = False) -> UInt8Image:
    """Decode a JPEG, PNG, TIFF or BMP photo into an RGB uint8 array of shape (H, W, 3).

    With `reduced` (for the model, never for the quality gate) the sides are divided by the largest of
    1, 2, 4 or 8 that keeps the shorter side at least MODEL_MIN_SIDE (rounded up, as libjpeg does). An
    alpha channel is dropped. EXIF orientation of a JPEG is applied.

    Raises:
        ImageDecodeError: empty, truncated, corrupt, or not an image (a PDF, a text file).
        ImageTooLargeError: over `limits.max_image_bytes` bytes or `limits.max_image_megapixels`.
        UnsupportedImageError: smaller than `limits.min_image_side` on a side, grayscale
            (a single channel, or three equal channels; a frame washed out to white is not
            grayscale but overexposed, and is returned for the quality gate to judge), more than
            8 bits per channel, or an image format not decoded here.
    """
    _check_byte_size(data, limits)
    fmt = image_format(data)
    header = read_header(data, fmt)
    _check_header(header, limits)
    damage = _DAMAGE_CHECKS[fmt](data) if fmt in _DAMAGE_CHECKS else ""
    if damage:
        cut = damage.endswith("cut short")
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is {'cut short' if cut else 'damaged'}; {_EXPORT_HINT}.",
            reason_code="image_truncated" if cut else "image_corrupt",
            detail=damage,
        )
    factor = reduction(header) if reduced else 1
    pixels = _decode_pixels(data, fmt, factor)
    expected = (header.height, header.width) if fmt != "jpeg" else (_divided(header.height, factor),
                                                                    _divided(header.width, factor))
    if sorted(pixels.shape[:2]) != sorted(expected):
        # Never expected (EXIF orientation may swap the sides, nothing else): the header was
        # parsed wrong or the file is inconsistent.
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is damaged; {_EXPORT_HINT}.",
            reason_code="image_corrupt",
            detail=f"header says {header.width}x{header.height}, decoded {pixels.shape} at 1/{factor}",
        )
    rgb = _to_rgb8(pixels)
    if factor > 1 and fmt != "jpeg":
        h, w = rgb.shape[:2]
        rgb = np.asarray(cv2.resize(rgb, (_divided(w, factor), _divided(h, factor)), interpolation=cv2.INTER_AREA),
                         dtype=np.uint8)
    return rgb


def _divided(side: int, factor: int) -> int:
    """A side divided by the factor, rounded up (libjpeg's scaled output size)."""
    return -(-side // factor)


def reduction(header: ImageHeader) -> int:
    """The factor (1, 2, 4 or 8) `decode_image(..., reduced=True)` divides the sides of this photo by."""
    shorter = min(header.width, header.height)
    return max((f for f in _REDUCED_JPEG if _divided(shorter, f) >= MODEL_MIN_SIDE), default=1)


def read_header(data: bytes, fmt: str | None = None) -> ImageHeader:
    """Width, height and depth from the header of a JPEG, PNG, TIFF or BMP file. Pure.

    Raises:
        ImageDecodeError: empty, not an image, or a header too short or inconsistent.
        UnsupportedImageError: an image format not decoded here (WebP, GIF, JPEG 2000, DICOM...).
    """
    fmt = image_format(data) if fmt is None else fmt
    if fmt == "empty":
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is empty (0 bytes); retake the photo.", reason_code="image_empty"
        )
    if fmt == "unknown" or fmt == "pdf":
        kind = "a PDF document" if fmt == "pdf" else "not a known image format"
        raise ImageDecodeError(
            f"{_UNREADABLE}: it is {kind}; {_EXPORT_HINT}.",
            reason_code="image_not_an_image",
            detail=f"first bytes {data[:16]!r}",
        )
    if fmt not in DECODED_FORMATS:
        raise UnsupportedImageError(
            f"The image format ({fmt.upper()}) is not supported: {_EXPORT_HINT}.",
            reason_code="image_format_unsupported",
        )
    try:
        header = _PARSERS[fmt](data)
    except (struct.error, IndexError, ValueError) as exc:
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is damaged or cut short; {_EXPORT_HINT}.",
            reason_code="image_corrupt",
            detail=f"{fmt} header: {exc}",
        ) from exc
    if header.width <= 0 or header.height <= 0:
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is damaged; {_EXPORT_HINT}.",
            reason_code="image_corrupt",
            detail=f"{fmt} header says {header.width}x{header.height}",
        )
    return header


# --- checks ------------------------------------------------------------------------------------


def _check_byte_size(data: bytes, limits: LimitsConfig) -> None:
    if len(data) > limits.max_image_bytes:
        raise ImageTooLargeError(
            f"The image file is too large ({len(data) / _MB:.1f} MB, limit "
            f"{limits.max_image_bytes / _MB:.1f} MB): export it at a lower resolution or as a JPEG.",
            reason_code="image_too_large",
        )


def _check_header(header: ImageHeader, limits: LimitsConfig) -> None:
    megapixels = header.width * header.height / 1e6
    if megapixels > limits.max_image_megapixels:
        raise ImageTooLargeError(
            f"The image is too large ({header.width}×{header.height} pixels, limit "
            f"{limits.max_image_megapixels:g} megapixels): export it at a lower resolution.",
            reason_code="image_too_many_pixels",
        )
    if min(header.width, header.height) < limits.min_image_side:
        raise UnsupportedImageError(
            f"The image is too small ({header.width}×{header.height} pixels, at least "
            f"{limits.min_image_side} per side needed): use the camera's full-size photo.",
            reason_code="image_too_small",
        )
    if header.bits > 8:
        raise _high_depth(header.bits)
    if header.channels == 1:
        raise _grayscale()


def _high_depth(bits: int) -> UnsupportedImageError:
    return UnsupportedImageError(
        f"The image has {bits} bits per channel: export the photo as an 8-bit JPEG or PNG.",
        reason_code="image_16bit",
    )


def _grayscale() -> UnsupportedImageError:
    return UnsupportedImageError(
        "The image is black and white: a colour fundus photo is needed.",
        reason_code="image_grayscale",
    )


#: Marker segments that may sit between the scans of a (progressive) JPEG.
_BETWEEN_SCANS = frozenset({0xC4, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)})


def _jpeg_damage(data: bytes) -> str:
    """Why a JPEG with a readable header is damaged, or "" when its structure is sound.

    libjpeg decodes a cut or scrambled file with only a printed warning and grey or smeared
    rows, which would reach the model silently. A sound file ends with EOI (FF D9), maybe
    followed by padding; in its image data every FF byte is stuffed (FF 00), a restart marker
    (FF D0..D7), fill, or the start of a segment allowed between scans.
    """
    if not data.rstrip(b"\x00\xff").endswith(b"\xff\xd9"):
        return "no EOI marker at the end: the file is cut short"
    try:
        scan = next(pos for marker, pos in _jpeg_segments(data) if marker == 0xDA)
    except (struct.error, IndexError, ValueError) as exc:
        return f"damaged header: {exc}"
    a = np.frombuffer(data, dtype=np.uint8)[scan:]
    after = a[1:]
    restart = (after >= 0xD0) & (after <= 0xD7)
    markers = np.flatnonzero((a[:-1] == 0xFF) & (after != 0x00) & (after != 0xFF) & ~restart)
    cursor = 0  # candidates before it lie inside a segment already skipped
    for p in markers.tolist():
        if p < cursor:
            continue
        marker = int(a[p + 1])
        if marker == 0xD9:
            return ""
        if marker not in _BETWEEN_SCANS or p + 3 >= a.size:
            return f"unexpected marker FF{marker:02X} at byte {scan + p}"
        cursor = p + 2 + (int(a[p + 2]) << 8 | int(a[p + 3]))
    return "no EOI marker after the image data"


def _png_damage(data: bytes) -> str:
    """Why a PNG is damaged, or "": libpng only says "buffer incomplete" for a cut file."""
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        return "no IEND chunk at the end: the file is cut short"
    return ""


_DAMAGE_CHECKS = {"jpeg": _jpeg_damage, "png": _png_damage}


def _decode_pixels(data: bytes, fmt: str, factor: int) -> npt.NDArray[np.generic]:
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR (and its reduced forms) applies EXIF orientation; JPEG holds only 8-bit samples
    # here (checked from the header), so nothing else is lost. Other formats keep their depth and
    # alpha for the checks, at full size (only JPEG can be decoded smaller).
    flags = _REDUCED_JPEG[factor] if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    try:
        pixels = cv2.imdecode(buffer, flags)
    except cv2.error as exc:
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is damaged; {_EXPORT_HINT}.",
            reason_code="image_corrupt",
            detail=str(exc),
        ) from exc
    if pixels is None or pixels.size == 0:
        raise ImageDecodeError(
            f"{_UNREADABLE}: the file is damaged or cut short; {_EXPORT_HINT}.",
            reason_code="image_corrupt",
            detail=f"OpenCV could not decode the {fmt} data",
        )
    return np.asarray(pixels)


def _to_rgb8(pixels: npt.NDArray[np.generic]) -> UInt8Image:
    if pixels.dtype != np.uint8:
        raise _high_depth(8 * pixels.dtype.itemsize)
    if pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (1, 2)):
        raise _grayscale()
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise UnsupportedImageError(
            f"The image has an unusual colour layout: {_EXPORT_HINT}.",
            reason_code="image_format_unsupported",
            detail=f"decoded shape {pixels.shape}",
        )
    # OpenCV's channel order is B, G, R(, A): reverse the first three, which also drops alpha. Three
    # channels are swapped in place: a camera's full-size photo is not held twice.
    bgr: UInt8Image = np.asarray(pixels, dtype=np.uint8)
    if bgr.shape[2] == 3 and bgr.flags.c_contiguous and bgr.flags.writeable:
        rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr), dtype=np.uint8)
    else:
        rgb = np.ascontiguousarray(bgr[:, :, 2::-1])
    if _is_grey(rgb):
        raise _grayscale()
    return rgb


def _is_grey(rgb: UInt8Image) -> bool:
    """True when (nearly) every pixel has equal channels: a black-and-white photo saved as RGB,
    not an overexposed colour photo washed out to white (see WASHED_OUT_SHARE)."""
    sample = rgb[::4, ::4].astype(np.int16)
    lowest = sample.min(axis=2)
    spread = sample.max(axis=2) - lowest
    if float(np.mean(spread > GREY_CHANNEL_TOLERANCE)) > GREY_MAX_COLOURED_SHARE:
        return False
    return float(np.mean(lowest >= WASHED_OUT_LEVEL)) < WASHED_OUT_SHARE


# --- header parsers (pure; raise struct.error / IndexError / ValueError on bad bytes) -----------


def _png_header(data: bytes) -> ImageHeader:
    length, chunk = struct.unpack(">I4s", data[8:16])
    if chunk != b"IHDR" or length != 13:
        raise ValueError("first chunk is not IHDR")
    width, height, bits, colour_type = struct.unpack(">IIBB", data[16:26])
    # Colour types: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA.
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour_type)
    if channels is None:
        raise ValueError(f"PNG colour type {colour_type}")
    # Palette indices may be 1..8 bits, but the palette entries are 8-bit.
    return ImageHeader(width, height, 8 if colour_type == 3 else bits, 1 if channels == 2 else channels)


#: JPEG start-of-frame markers (baseline, extended, progressive, lossless, arithmetic...).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset of its length field) of each header segment, up to and including SOS."""
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        while data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        marker = data[pos]
        pos += 1
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers carry no length
            continue
        if marker == 0xD9:
            raise ValueError("end of image before any image data")
        yield marker, pos
        if marker == 0xDA:
            return
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise ValueError(f"JPEG segment length {length}")
        pos += length


def _jpeg_header(data: bytes) -> ImageHeader:
    for marker, pos in _jpeg_segments(data):
        if marker in _SOF_MARKERS:
            bits, height, width, channels = struct.unpack(">BHHB", data[pos + 2 : pos + 8])
            if height == 0:
                raise ValueError("JPEG height set by a later DNL marker is not supported")
            return ImageHeader(width, height, bits, channels)
    raise ValueError("image data before any frame header")


def _tiff_header(data: bytes) -> ImageHeader:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    tags: dict[int, int] = {}
    bits_values: list[int] = []
    for i in range(count):
        entry = data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        tag, kind, n = struct.unpack(order + "HHI", entry[:8])
        if kind == 3 and n > 2:  # over 4 bytes of SHORTs: the entry holds their offset
            (offset,) = struct.unpack(order + "I", entry[8:12])
            values = struct.unpack(order + "H" * n, data[offset : offset + 2 * n])
        elif kind == 3:  # SHORT(s) held in the entry itself
            values = struct.unpack(order + "H" * n, entry[8 : 8 + 2 * n])
        elif kind == 4:  # LONG
            values = struct.unpack(order + "I", entry[8:12])
        else:
            continue
        if not values:
            raise ValueError(f"TIFF tag {tag} has no value")
        if tag == 258:  # BitsPerSample: one per channel
            bits_values = list(values)
        tags[tag] = values[0]
    if 256 not in tags or 257 not in tags:
        raise ValueError("TIFF without ImageWidth/ImageLength")
    bits = max(bits_values, default=1)
    # Photometric 3 = palette: one index per pixel, but colour entries.
    channels = 3 if tags.get(262) == 3 else tags.get(277, 1)
    return ImageHeader(tags[256], tags[257], 8 if tags.get(262) == 3 else bits, channels)


def _bmp_header(data: bytes) -> ImageHeader:
    (info_size,) = struct.unpack("<I", data[14:18])
    if info_size == 12:  # the old OS/2 core header: 16-bit sides
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    # A negative height means rows stored top-down. Channels stay unknown (palettes may be grey
    # or colour): the decoded pixels are checked instead.
    return ImageHeader(width, abs(height))


_PARSERS = {"png": _png_header, "jpeg": _jpeg_header, "tiff": _tiff_header, "bmp": _bmp_header}
