"""One file from the watch folder as a photo: a JPEG or PNG as it is (the pipeline decodes and gates it), a
DICOM file through appliance.devices.watch_folder.dicom_photo. Sizes are checked before a byte is read, the kind
from the first bytes, not the name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.config import LimitsConfig
from appliance.devices.watch_folder.dicom_photo import read_dicom_photo
from appliance.domain import Eye
from appliance.errors import ImageDecodeError, ImageTooLargeError
from appliance.imaging import image_format

#: Names a camera gives its photos (a DICOM file often has no suffix); other files are not photos.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".dcm", ".dicom", ""})
#: A DICOM file carries the header besides its pixels: up to three bytes a pixel, plus this much.
DICOM_HEADER_ALLOWANCE = 4 * 1024 * 1024


@dataclass(frozen=True)
class FolderPhoto:
    """The photo's bytes (JPEG or PNG) and what its file says (DICOM only): eye and patient id."""

    image: bytes
    file_sha256: str
    labelled_eye: Eye | None = None
    labelled_patient_id: str | None = None


def looks_like_photo_name(path: Path) -> bool:
    """A photo's suffix, none, or a number (a DICOM file named by its UID, 1.2.840...)."""
    suffix = path.suffix.lower()
    return suffix in PHOTO_SUFFIXES or suffix[1:].isdigit()


def max_file_bytes(limits: LimitsConfig) -> int:
    """The largest file read: the byte limit of a photo, or an uncompressed DICOM at the pixel limit."""
    return max(limits.max_image_bytes, int(limits.max_image_megapixels * 1e6 * 3) + DICOM_HEADER_ALLOWANCE)


def check_size(size: int, limits: LimitsConfig) -> None:
    """Raises ImageTooLargeError before a huge file is read."""
    if size > max_file_bytes(limits):
        raise ImageTooLargeError(f"This file is too large to be a photo ({size / 1e6:.0f} MB).",
                                 detail=f"{size} bytes")


def photo_from_bytes(data: bytes, sha256: str, limits: LimitsConfig) -> FolderPhoto:
    """Raises ImageError: not a JPEG, PNG or DICOM photo, too large, or a DICOM file the appliance cannot use."""
    check_size(len(data), limits)
    kind = image_format(data)
    if kind == "dicom":
        dicom = read_dicom_photo(data, limits)
        return FolderPhoto(image=dicom.image, file_sha256=sha256, labelled_eye=dicom.laterality,
                           labelled_patient_id=dicom.patient_id)
    if kind in {"jpeg", "png"}:
        if len(data) > limits.max_image_bytes:
            raise ImageTooLargeError(f"This photo is larger than {limits.max_image_bytes / 1e6:.0f} MB.",
                                     detail=f"{len(data)} bytes")
        return FolderPhoto(image=data, file_sha256=sha256)
    raise ImageDecodeError("This file is not a photo the appliance reads (JPEG, PNG or DICOM).",
                           reason_code="image_unreadable", detail=f"format {kind}")
