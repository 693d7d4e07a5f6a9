"""A fundus photo exported as DICOM (Ophthalmic Photography, Secondary Capture): its pixels as a JPEG or PNG the
pipeline decodes, its laterality and its patient id from the header.

JPEG Baseline frames are kept as the camera's own JPEG bitstream; uncompressed colour pixels (RGB or YBR_FULL)
are written as a lossless PNG. The size is checked from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from appliance.config import LimitsConfig
from appliance.domain import Eye
from appliance.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
_EXPORT_HINT = "export the photo again as JPEG, or as DICOM with uncompressed or JPEG Baseline pixels"
_LATERALITY = {"R": Eye.RIGHT, "L": Eye.LEFT}


@dataclass(frozen=True)
class DicomPhoto:
    image: bytes
    laterality: Eye | None
    patient_id: str | None


def read_dicom_photo(data: bytes, limits: LimitsConfig) -> DicomPhoto:
    """The photo in a DICOM Part 10 file.

    Raises:
        ImageDecodeError: not readable DICOM, or no pixel data.
        ImageTooLargeError: over the pixel limit (from the header, nothing decoded).
        UnsupportedImageError: black and white, more than 8 bits, several frames, or a compression not read here.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():  # pydicom warns about files it reads anyway; the checks below decide
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
        rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        samples, bits = int(ds.get("SamplesPerPixel", 1) or 1), int(ds.get("BitsAllocated", 8) or 8)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        has_pixels = "PixelData" in ds
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
        laterality = _LATERALITY.get(str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").upper())
        patient_id = str(ds.get("PatientID", "") or "").strip() or None
    except (InvalidDicomError, ValueError, TypeError, KeyError, AttributeError, EOFError, OSError,
            OverflowError) as exc:
        raise ImageDecodeError(f"This DICOM file cannot be read: {_EXPORT_HINT}.", reason_code="image_unreadable",
                               detail=f"{type(exc).__name__}: {exc}") from exc
    if not has_pixels or rows <= 0 or columns <= 0:
        raise ImageDecodeError("This DICOM file holds no photo (no pixel data).", reason_code="image_unreadable",
                               detail="no PixelData")
    if rows * columns / 1e6 > limits.max_image_megapixels:
        raise ImageTooLargeError(f"This DICOM photo has more than {limits.max_image_megapixels:g} megapixels.",
                                 detail=f"{columns}x{rows}")
    if samples != 3 or bits != 8:
        raise UnsupportedImageError(f"This DICOM photo is not 8-bit colour: {_EXPORT_HINT}.",
                                    detail=f"{samples} samples, {bits} bits")
    if frames != 1:
        raise UnsupportedImageError("This DICOM file holds several frames: export one photo per file.",
                                    detail=f"{frames} frames")
    image = _first_jpeg_frame(ds.PixelData) if syntax == JPEG_BASELINE else _uncompressed_png(ds, syntax)
    return DicomPhoto(image=image, laterality=laterality, patient_id=patient_id)


def _first_jpeg_frame(pixel_data: bytes) -> bytes:
    from pydicom.encaps import generate_frames

    try:
        frame = next(generate_frames(pixel_data, number_of_frames=1))
    except (StopIteration, ValueError, KeyError, EOFError, OSError) as exc:  # pydicom's errors on bad fragments
        raise ImageDecodeError(f"The JPEG inside this DICOM file is damaged: {_EXPORT_HINT}.",
                               reason_code="image_corrupt", detail=f"{type(exc).__name__}: {exc}") from exc
    frame = bytes(frame)
    # DICOM pads a fragment to an even length: the byte after the JPEG's end marker is no part of it.
    return frame[:-1] if frame.endswith(b"\xff\xd9\x00") else frame


def _uncompressed_png(ds: object, syntax: str) -> bytes:
    from pydicom.uid import UID

    if syntax and UID(syntax).is_compressed:
        raise UnsupportedImageError(f"This DICOM photo is compressed in a way the appliance does not read: "
                                    f"{_EXPORT_HINT}.", detail=f"transfer syntax {syntax}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = np.asarray(ds.pixel_array)  # type: ignore[attr-defined]  # YBR is converted to RGB by pydicom
    except Exception as exc:  # pydicom raises many kinds for damaged pixel data; each is the file's fault
        raise ImageDecodeError(f"The pixels of this DICOM file are damaged: {_EXPORT_HINT}.",
                               reason_code="image_corrupt", detail=f"{type(exc).__name__}: {exc}") from exc
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise UnsupportedImageError(f"This DICOM photo is not 8-bit colour: {_EXPORT_HINT}.",
                                    detail=f"pixels {pixels.shape} {pixels.dtype}")
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # never expected for an 8-bit colour array
        raise ImageDecodeError("This DICOM photo could not be converted.", reason_code="image_corrupt")
    return bytes(encoded.tobytes())
