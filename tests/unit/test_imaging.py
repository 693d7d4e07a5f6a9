"""decode_image: good photos decode to RGB uint8; every kind of bad input gets its typed error."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from appliance.config import LimitsConfig
from appliance.errors import ImageDecodeError, ImageError, ImageTooLargeError, UnsupportedImageError
from appliance.imaging import decode_image, image_format, read_header

LIMITS = LimitsConfig()


def colour_photo(height: int = 240, width: int = 320) -> npt.NDArray[np.uint8]:
    """An RGB test card: colour gradients plus a red disc, so every channel differs."""
    y, x = np.mgrid[:height, :width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], axis=2)
    rgb = rgb.astype(np.uint8)
    cv2.circle(rgb, (width // 2, height // 2), height // 4, (200, 40, 20), -1)
    return rgb


def encode(rgb_or_grey: npt.NDArray[np.generic], ext: str = ".png", params: list[int] | None = None) -> bytes:
    """Encode with OpenCV, which expects BGR(A) channel order."""
    array = rgb_or_grey
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(ext, array, params or [])
    assert ok
    return buffer.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header claims width×height RGB pixels (none allocated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def assert_rejected(data: bytes, error: type[ImageError], reason: str, limits: LimitsConfig = LIMITS) -> ImageError:
    with pytest.raises(error) as caught:
        decode_image(data, limits)
    assert caught.value.reason_code == reason
    assert caught.value.message  # an operator sentence, not an empty string
    return caught.value


# --- accepted ------------------------------------------------------------------------------------


def test_jpeg_decodes_to_rgb_uint8() -> None:
    rgb = colour_photo()
    decoded = decode_image(encode(rgb, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]), LIMITS)
    assert decoded.shape == (240, 320, 3) and decoded.dtype == np.uint8
    # RGB order, not OpenCV's BGR: the red disc reads red.
    r, g, b = decoded[120, 160]
    assert r > 150 and g < 90 and b < 70
    assert np.abs(decoded.astype(int) - rgb.astype(int)).mean() < 3


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_lossless_formats_decode_exactly(ext: str) -> None:
    rgb = colour_photo()
    decoded = decode_image(encode(rgb, ext), LIMITS)
    assert np.array_equal(decoded, rgb)


def test_progressive_and_restart_marker_jpegs_are_accepted() -> None:
    rgb = colour_photo()
    for params in ([cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 2]):
        assert decode_image(encode(rgb, ".jpg", params), LIMITS).shape == (240, 320, 3)


def test_rgba_png_is_accepted_and_alpha_dropped() -> None:
    rgb = colour_photo()
    alpha = np.full((*rgb.shape[:2], 1), 7, dtype=np.uint8)  # nearly transparent: must not matter
    decoded = decode_image(encode(np.concatenate([rgb, alpha], axis=2)), LIMITS)
    assert decoded.shape == (240, 320, 3)
    assert np.array_equal(decoded, rgb)


def test_trailing_padding_after_jpeg_end_is_accepted() -> None:
    data = encode(colour_photo(), ".jpg") + b"\x00" * 64
    assert decode_image(data, LIMITS).shape == (240, 320, 3)


# --- unreadable ----------------------------------------------------------------------------------


def test_zero_bytes() -> None:
    error = assert_rejected(b"", ImageDecodeError, "image_empty")
    assert error.message.startswith("The file is not a readable image")


def test_random_bytes() -> None:
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert_rejected(data, ImageDecodeError, "image_not_an_image")


def test_pdf() -> None:
    error = assert_rejected(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", ImageDecodeError,
                            "image_not_an_image")
    assert "PDF" in error.message


def test_text_file() -> None:
    assert_rejected(b"patient 1234, right eye, see attached photo\n", ImageDecodeError, "image_not_an_image")


def test_jpeg_cut_in_half() -> None:
    data = encode(colour_photo(), ".jpg")
    assert_rejected(data[: len(data) // 2], ImageDecodeError, "image_truncated")


def test_jpeg_cut_inside_its_header() -> None:
    assert_rejected(encode(colour_photo(), ".jpg")[:40], ImageDecodeError, "image_corrupt")


def test_png_cut_in_half() -> None:
    data = encode(colour_photo())
    assert_rejected(data[: len(data) // 2], ImageDecodeError, "image_truncated")


def test_jpeg_with_a_stray_marker_in_its_image_data() -> None:
    data = bytearray(encode(colour_photo(), ".jpg"))
    middle = len(data) // 2
    data[middle : middle + 2] = b"\xff\x40"  # not a valid marker inside entropy-coded data
    assert_rejected(bytes(data), ImageDecodeError, "image_corrupt")


def test_png_with_an_inconsistent_header() -> None:
    data = bytearray(encode(colour_photo()))
    data[12:16] = b"IHDX"  # the first chunk must be IHDR
    assert_rejected(bytes(data), ImageDecodeError, "image_corrupt")


# --- too large -----------------------------------------------------------------------------------


def test_decompression_bomb_is_refused_from_its_header() -> None:
    data = png_claiming(20000, 20000)
    assert len(data) < 2000  # tiny file, 400 megapixels claimed
    assert read_header(data).width == 20000
    error = assert_rejected(data, ImageTooLargeError, "image_too_many_pixels")
    assert "20000×20000" in error.message


def test_jpeg_header_dimensions_are_read_without_decoding() -> None:
    header = read_header(encode(colour_photo(300, 500), ".jpg"))
    assert (header.width, header.height, header.bits, header.channels) == (500, 300, 8, 3)


def test_byte_size_over_the_limit_is_refused_before_decoding() -> None:
    limits = LimitsConfig(max_image_bytes=1000)
    # Not even a valid image: the size check must come first.
    assert_rejected(b"\x00" * 1001, ImageTooLargeError, "image_too_large", limits)


def test_pixel_limit_is_configurable() -> None:
    limits = LimitsConfig(max_image_megapixels=0.05)
    assert_rejected(encode(colour_photo()), ImageTooLargeError, "image_too_many_pixels", limits)


# --- unsupported ---------------------------------------------------------------------------------


def test_too_small() -> None:
    assert_rejected(encode(colour_photo(100, 300)), UnsupportedImageError, "image_too_small")


def test_grayscale_png() -> None:
    grey = cv2.cvtColor(colour_photo(), cv2.COLOR_RGB2GRAY)
    error = assert_rejected(encode(grey), UnsupportedImageError, "image_grayscale")
    assert "colour fundus photo" in error.message


def test_grayscale_saved_as_three_identical_channels() -> None:
    grey = cv2.cvtColor(colour_photo(), cv2.COLOR_RGB2GRAY)
    three = np.repeat(grey[:, :, None], 3, axis=2)
    assert_rejected(encode(three, ".jpg"), UnsupportedImageError, "image_grayscale")
    assert_rejected(encode(three, ".png"), UnsupportedImageError, "image_grayscale")


def washed_out_frame(height: int = 300, width: int = 400) -> npt.NDArray[np.uint8]:
    """An overexposed fundus frame: the lit field saturated to white, with no colour left in it,
    on the camera's black surround (an equal-channel file, like the six the issue reports)."""
    frame = np.zeros((height, width, 3), np.uint8)
    cv2.circle(frame, (width // 2, height // 2), int(0.46 * height), (254, 254, 254), -1, cv2.LINE_AA)
    return frame


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_frame_washed_out_to_white_is_decoded_for_the_gate_to_judge(ext: str) -> None:
    rgb = decode_image(encode(washed_out_frame(), ext), LIMITS)
    assert rgb.shape == (300, 400, 3)
    assert rgb[150, 200].min() >= 245  # still white: the gate judges it (overexposed)


def test_a_white_frame_edge_to_edge_is_decoded_too() -> None:
    assert decode_image(encode(np.full((200, 300, 3), 254, np.uint8), ".jpg"), LIMITS).shape == (200, 300, 3)


def test_a_grey_photo_with_a_few_white_highlights_is_still_grayscale() -> None:
    grey = cv2.cvtColor(colour_photo(), cv2.COLOR_RGB2GRAY)
    three = np.repeat(grey[:, :, None], 3, axis=2)
    three[:20, :40] = 255  # under WASHED_OUT_SHARE of the frame
    assert_rejected(encode(three, ".png"), UnsupportedImageError, "image_grayscale")


def test_a_single_channel_white_frame_is_still_grayscale() -> None:
    white = np.full((200, 300), 252, np.uint8)
    assert_rejected(encode(white, ".png"), UnsupportedImageError, "image_grayscale")
    assert_rejected(encode(white, ".jpg"), UnsupportedImageError, "image_grayscale")


def test_16_bit_png() -> None:
    deep = colour_photo().astype(np.uint16) * 257
    error = assert_rejected(encode(deep), UnsupportedImageError, "image_16bit")
    assert "8-bit JPEG or PNG" in error.message


def test_16_bit_tiff() -> None:
    assert_rejected(encode(colour_photo().astype(np.uint16) * 257, ".tif"), UnsupportedImageError, "image_16bit")


def test_known_but_unsupported_format() -> None:
    data = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64
    assert_rejected(data, UnsupportedImageError, "image_format_unsupported")


# --- image_format --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\xff\xd8\xff\xe0rest", "jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "png"),
        (b"II*\x00rest", "tiff"),
        (b"MM\x00*rest", "tiff"),
        (b"BMrest", "bmp"),
        (b"GIF89arest", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPrest", "webp"),
        (b"%PDF-1.7", "pdf"),
        (b"\x00" * 128 + b"DICM", "dicom"),
        (b"hello", "unknown"),
        (b"", "empty"),
    ],
)
def test_image_format_from_magic_bytes(data: bytes, name: str) -> None:
    assert image_format(data) == name


def test_image_format_of_real_encodings() -> None:
    rgb = colour_photo()
    assert [image_format(encode(rgb, ext)) for ext in (".jpg", ".png", ".tif", ".bmp")] == [
        "jpeg", "png", "tiff", "bmp"]
