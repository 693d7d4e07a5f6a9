"""Image ingest (decode_image) and the quality gate (assess) under hypothesis: every input ends in a typed
ImageError with a reason code and a sentence, or a QualityReport with finite metrics; never another
exception, a crash or a hang (each example runs under tests.fuzzing.hang_guard).

Inputs: random bytes, alone and behind each format's magic bytes; the shipped camera JPEGs and PNG, TIFF,
BMP and progressive-JPEG encodings of them, bit-flipped, cut, spliced and with their headers scrambled;
headers claiming any size (decompression bombs: 60000×60000 and beyond) with valid PNG checksums; 1, 2, 3
and 4 channels, palettes, 1-bit and 16-bit files of extreme shapes; real and malformed DICOM; and arrays of
extreme sizes and contents straight into the gate (a camera driver hands the gate what decode_image
makes). tests/unit/quality/test_fuzz.py holds the fixed-seed cases; this file searches. `FUZZ_SCALE`
multiplies the example counts (`make fuzz`).
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from appliance.config import LimitsConfig, QualityConfig
from appliance.devices.simulated import SAMPLES_DIR
from appliance.domain import QualityReport
from appliance.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from appliance.imaging import decode_image, image_format
from appliance.quality import assess
from tests.fuzzing import check_report, fuzz_settings, hang_guard

#: The box's limits, but small images reach the decoder and the gate too.
LIMITS = LimitsConfig(min_image_side=8)
GATE = QualityConfig()
MAGICS = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP",
          b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"%PDF-1.7", b"\x00" * 128 + b"DICM"]


def ingest(data: bytes) -> QualityReport | ImageError:
    """decode + gate as the pipeline runs them, under the hang guard; the only acceptable outcomes."""
    with hang_guard():
        try:
            image = decode_image(data, LIMITS)
        except ImageError as exc:
            assert exc.reason_code and exc.message.strip() and exc.http_status in (413, 422), exc
            return exc
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.flags.c_contiguous
        report = assess(image, GATE)
    check_report(report)
    return report


# --- seeds: real camera photos and their encodings -------------------------------------------------------------

def _encodings() -> list[bytes]:
    camera = [p.read_bytes() for p in sorted(SAMPLES_DIR.glob("*.jpg"))[:3]]
    small = cv2.resize(cv2.imdecode(np.frombuffer(camera[0], np.uint8), cv2.IMREAD_COLOR), (240, 180),
                       interpolation=cv2.INTER_AREA)
    made = [cv2.imencode(ext, small)[1].tobytes() for ext in (".png", ".tif", ".bmp", ".jpg")]
    progressive = io.BytesIO()
    Image.fromarray(small[:, :, ::-1]).save(progressive, "JPEG", progressive=True, quality=85)
    return [*camera, *made, progressive.getvalue()]


SEEDS = _encodings()
#: One damage to a file: (kind, where as a share of the file, how many bytes, a value).
DAMAGE = st.tuples(st.sampled_from(["flip", "cut", "splice", "repeat", "zero", "header"]),
                   st.floats(0, 1), st.integers(1, 512), st.integers(1, 255))


def damaged(data: bytes, damages: list[tuple[str, float, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, count, value in damages:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip":
            for i in range(at, min(at + count, len(out)), max(1, count // 8)):
                out[i] ^= value
        elif kind == "cut":
            del out[at:]
        elif kind == "splice":
            out[at:at] = bytes((value * (i + 7)) % 256 for i in range(count))
        elif kind == "repeat":
            out[at:at] = out[at : at + count]
        elif kind == "zero":
            out[at : at + count] = bytes(len(out[at : at + count]))
        else:  # scramble the first bytes after the magic, where the sizes and segment lengths are
            for i in range(2, min(2 + count % 64, len(out))):
                out[i] = (out[i] * value + i) % 256
    return bytes(out)


@fuzz_settings(150)
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    assert isinstance(ingest(data), ImageError)


@fuzz_settings(300)
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_random_bytes_behind_every_magic(magic: bytes, data: bytes) -> None:
    """Past the format sniffing into each header parser and decoder."""
    ingest(magic + data)


@fuzz_settings(300)
@given(st.sampled_from(range(len(SEEDS))), st.lists(DAMAGE, min_size=1, max_size=4))
def test_damaged_real_encodings(seed: int, damages: list[tuple[str, float, int, int]]) -> None:
    ingest(damaged(SEEDS[seed], damages))


def test_the_seeds_themselves_are_screened() -> None:
    for data in SEEDS:
        assert isinstance(ingest(data), QualityReport), image_format(data)


# --- decompression bombs: headers claiming any size ---------------------------------------------------------------

def png_claiming(width: int, height: int, bits: int = 8, colour_type: int = 2, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR (with a valid CRC) claims width×height; `idat` is deflated as its only image data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(idat, 9))
            + chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int, precision: int = 8, components: int = 3, scan: bytes = b"") -> bytes:
    """SOI, a quantisation table, a baseline frame header claiming width×height, a scan and EOI."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    spec = b"".join(bytes([i + 1, 0x11, 0]) for i in range(components))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 8 + 3 * components, precision, height, width, components) + spec
    sos = b"\xff\xda" + struct.pack(">HB", 6 + 2 * components, components)
    sos += b"".join(bytes([i + 1, 0]) for i in range(components)) + b"\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + sos + scan.replace(b"\xff", b"\xff\x00") + b"\xff\xd9"


@pytest.mark.parametrize("make", [png_claiming, jpeg_claiming], ids=["png", "jpeg"])
def test_a_60000_square_bomb_is_refused_from_its_header(make: object) -> None:
    assert callable(make)
    # 3.6 gigapixels behind a few hundred bytes; the PNG's data inflates to 100 MB of zeros if decoded.
    data = make(60_000, 60_000, idat=bytes(100_000_000)) if make is png_claiming else make(60_000, 60_000)
    assert len(data) < 200_000
    started = time.perf_counter()
    outcome = ingest(data)
    assert isinstance(outcome, ImageTooLargeError) and outcome.reason_code == "image_too_many_pixels", outcome
    assert time.perf_counter() - started < 1.0


SIDES = st.one_of(st.integers(0, 300), st.integers(1, 2**16 - 1), st.integers(0, 2**31 - 1),
                  st.sampled_from([60_000, 65_535, 2**31 - 1, 7072, 7071]))


@fuzz_settings(300)
@given(SIDES, SIDES, st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 7), st.binary(max_size=600))
def test_png_headers_claiming_any_size_depth_and_colour(width: int, height: int, bits: int, colour_type: int,
                                                        idat: bytes) -> None:
    outcome = ingest(png_claiming(width, height, bits, colour_type, idat))
    if width and height and width * height / 1e6 > LIMITS.max_image_megapixels and colour_type in (0, 2, 3, 4, 6):
        assert isinstance(outcome, ImageTooLargeError) and outcome.reason_code == "image_too_many_pixels"


@fuzz_settings(300)
@given(SIDES.filter(lambda v: v < 2**16), SIDES.filter(lambda v: v < 2**16), st.sampled_from([8, 12, 16]),
       st.integers(1, 4), st.binary(max_size=600))
def test_jpeg_headers_claiming_any_size_depth_and_channels(width: int, height: int, precision: int,
                                                           components: int, scan: bytes) -> None:
    outcome = ingest(jpeg_claiming(width, height, precision, components, scan))
    if width and height and width * height / 1e6 > LIMITS.max_image_megapixels:
        assert isinstance(outcome, ImageTooLargeError) and outcome.reason_code == "image_too_many_pixels"


@fuzz_settings(150)
@given(SIDES, SIDES, st.sampled_from([1, 8, 16, 32]), st.integers(1, 5), st.binary(max_size=300))
def test_tiff_and_bmp_headers_claiming_any_size(width: int, height: int, bits: int, channels: int,
                                                tail: bytes) -> None:
    entries = [(256, 4, width), (257, 4, height), (258, 3, bits), (277, 3, channels), (273, 4, 8 + 2 + 12 * 6 + 4),
               (279, 4, len(tail))]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in entries)
    ingest(b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + tail)
    bmp = (b"BM" + struct.pack("<IHHI", 54 + len(tail), 0, 0, 54)
           + struct.pack("<IiiHHIIiiII", 40, width % 2**31, -(height % 2**31), 1, bits, 0, len(tail), 0, 0, 0, 0))
    ingest(bmp + tail)


# --- channel counts, palettes, depths and extreme shapes ----------------------------------------------------------

MODES = ["RGB", "RGBA", "P", "L", "LA", "1", "I;16", "CMYK", "YCbCr"]
#: Modes that can never be a colour photo: they must be refused, not screened.
NOT_COLOUR = {"L", "LA", "1", "I;16"}
SHAPES = st.one_of(st.tuples(st.integers(1, 320), st.integers(1, 320)),
                   st.sampled_from([(1, 4000), (4000, 1), (2, 3000), (3000, 9), (8, 8), (7, 7), (5000, 5000)]))


def pillow_file(mode: str, height: int, width: int, seed: int, fmt: str) -> bytes:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if seed % 2 else np.full(
        (height, width, 3), (200, 90, 40), np.uint8)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
    elif mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@fuzz_settings(120)
@given(st.sampled_from(MODES), SHAPES, st.integers(0, 2**16), st.sampled_from(["PNG", "TIFF", "BMP", "JPEG"]))
def test_every_channel_layout_and_depth_in_every_container(mode: str, shape: tuple[int, int], seed: int,
                                                           fmt: str) -> None:
    try:
        data = pillow_file(mode, *shape, seed, fmt)
    except (OSError, ValueError, KeyError):
        assume(False)  # Pillow cannot write this mode in this container
        return
    outcome = ingest(data)
    if mode in NOT_COLOUR:
        assert isinstance(outcome, ImageError), (mode, fmt, shape)


@fuzz_settings(40)
# Two channels: Pillow's LA above (OpenCV does not write them).
@given(st.sampled_from([1, 3, 4]), st.sampled_from([np.uint8, np.uint16]),
       SHAPES.filter(lambda s: s[0] * s[1] <= 1_000_000), st.integers(0, 2**16),
       st.sampled_from([".png", ".tif"]))
def test_opencv_encodings_of_any_channel_count_and_depth(channels: int, dtype: type, shape: tuple[int, int],
                                                         seed: int, ext: str) -> None:
    rng = np.random.default_rng(seed)
    top = 256 if dtype is np.uint8 else 65536
    pixels = rng.integers(0, top, (*shape, channels), dtype=dtype)
    ok, buffer = cv2.imencode(ext, pixels)
    assume(ok)
    outcome = ingest(buffer.tobytes())
    if dtype is np.uint16 or channels < 3:
        assert isinstance(outcome, UnsupportedImageError | ImageTooLargeError) or (
            isinstance(outcome, ImageError) and outcome.reason_code == "image_too_small"), (channels, dtype, shape)


# --- DICOM: a real file and malformed ones ------------------------------------------------------------------------

def dicom_file(rows: int, columns: int) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # Ophthalmic Photography 8 Bit
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("photo.dcm", {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 3, "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.PlanarConfiguration = 8, 8, 7, 0, 0
    ds.PixelData = bytes(rows * columns * 3)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_a_real_dicom_file_is_refused_as_a_format_not_screened() -> None:
    outcome = ingest(dicom_file(64, 64))
    assert isinstance(outcome, UnsupportedImageError) and outcome.reason_code == "image_format_unsupported"


@fuzz_settings(100)
@given(st.lists(DAMAGE, min_size=1, max_size=4))
def test_damaged_dicom(damages: list[tuple[str, float, int, int]]) -> None:
    ingest(damaged(dicom_file(32, 48), damages))


# --- the gate alone: arrays of extreme shapes and contents ----------------------------------------------------------

def pattern(kind: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == 0:
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == 1:
        return np.full((height, width, 3), seed % 256, np.uint8)
    if kind == 2:  # one bright pixel on black
        image = np.zeros((height, width, 3), np.uint8)
        image[seed % height, (seed // 7) % width] = 255
        return image
    if kind == 3:  # a camera photo squeezed to any shape
        photo = cv2.imdecode(np.frombuffer(SEEDS[0], np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    # stripes of saturated colour
    image = np.zeros((height, width, 3), np.uint8)
    image[::2, :, seed % 3] = 255
    return image


@fuzz_settings(120)
@given(SHAPES.filter(lambda s: s[0] * s[1] <= 4_000_000), st.integers(0, 4), st.integers(0, 2**16))
def test_the_gate_on_any_shape_and_content(shape: tuple[int, int], kind: int, seed: int) -> None:
    with hang_guard():
        report = assess(pattern(kind, *shape, seed), GATE)
    check_report(report)


@fuzz_settings(80)
@given(arrays(np.uint8, st.tuples(st.integers(1, 48), st.integers(1, 48), st.just(3))))
def test_the_gate_on_arrays_hypothesis_fills(image: np.ndarray) -> None:
    with hang_guard():
        report = assess(image, GATE)
    check_report(report)


def test_the_gate_refuses_an_array_that_is_not_rgb8_with_a_value_error() -> None:
    """Its documented contract: decode_image is the only way in, and it always hands over RGB uint8."""
    for bad in (np.zeros((32, 32), np.uint8), np.zeros((32, 32, 4), np.uint8), np.zeros((32, 32, 3), np.uint16)):
        with pytest.raises(ValueError, match="RGB uint8"):
            assess(bad, GATE)


@pytest.mark.parametrize("shape", [(130, 65_535), (65_535, 130), (128, 40_000)])
def test_a_sliver_within_the_boxs_limits_reaches_a_verdict(shape: tuple[int, int]) -> None:
    """Found by this file: a 130×65535 PNG (8.5 MP, within every limit) made the gate's shrink ask OpenCV for a
    zero-row image (cv2.error, a 500 at the kiosk)."""
    data = cv2.imencode(".png", np.full((*shape, 3), (40, 90, 200), np.uint8))[1].tobytes()
    report = assess(decode_image(data, LimitsConfig()), GATE)
    check_report(report)
    assert not report.passed
