"""One photo as a DICOM Ophthalmic Photography 8 Bit Image (PS3.3 A.39.1), modality OP.

A camera's JPEG stays the same JPEG bitstream, encapsulated under JPEG Baseline (PS3.5 A.4.1) with
Lossy Image Compression "01" and its ratio, when DICOM can describe it as it is (appliance.sync.dicom_jpeg);
otherwise, and for PNG and other lossless files, the pixels go uncompressed as RGB (Explicit VR Little
Endian), "01" if they ever were JPEG, "00" if not.

What the box does not know is sent empty where the IOD allows it (type 2): illumination, filters, lenses,
detector, field of view, refraction, pressure, dilation, eye movement. Nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from appliance.domain import Exam, Eye, ScreenedImage
from appliance.imaging import image_format
from appliance.sync.codes import FIELD_POSITION, FUNDUS_CAMERA, RETINA
from appliance.sync.dicom_common import (
    add_equipment,
    add_patient_and_study,
    add_series,
    code_sequence,
    da,
    dt,
    new_dataset,
    tm,
)
from appliance.sync.dicom_jpeg import read_frame
from appliance.sync.identity import DeviceIdentity, StudyUids
from appliance.sync.payload import PayloadError, photo_field

OP_8BIT_IMAGE = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
#: The well-known UID of the UTC Synchronization Frame of Reference (PS3.6 Annex A): the box's clock.
UTC_SYNCHRONIZATION = "1.2.840.10008.15.1.1"
OP_SERIES_NUMBER = 1
#: Whether the camera stamps text into the photo: the sources the box supports do not (a camera that
#: stamps patient data must be set not to).
BURNED_IN_ANNOTATION = "NO"
_LATERALITY = {Eye.RIGHT: "R", Eye.LEFT: "L"}


@dataclass(frozen=True)
class _Pixels:
    """How the photo's pixels travel: `lossy_ratio` is None when they were never lossy-compressed."""

    transfer_syntax: str
    photometric: str
    rows: int
    columns: int
    samples: int
    pixel_data: bytes
    lossy_ratio: float | None


def op_image(exam: Exam, image: ScreenedImage, data: bytes, uids: StudyUids, device: DeviceIdentity, *,
             accession_number: str = "", patient_name: str = "") -> Dataset:
    """The photo as an OP 8-bit image in the exam's study and OP series.

    Args:
        exam: the finished exam `image` belongs to.
        data: the photo's bytes as the camera gave them (JPEG, PNG, TIFF or BMP).
        uids: the exam's UIDs; the SOP Instance UID is `uids.photos[image.photo.photo_id]`.
        accession_number, patient_name: from the worklist order ("" when the id was typed).
    Raises:
        PayloadError: no UID for the photo, or bytes that are not a readable image.
    """
    photo = image.photo
    sop_uid = uids.photos.get(photo.photo_id)
    if not sop_uid:
        raise PayloadError(f"Photo {photo.photo_id} of exam {exam.exam_id} has no DICOM UID.",
                           detail=f"known photo ids {sorted(uids.photos)}")
    pixels = _pixels(data, photo.photo_id)
    ds = new_dataset(OP_8BIT_IMAGE, sop_uid, pixels.transfer_syntax)
    add_patient_and_study(ds, exam, uids.study, accession_number=accession_number, patient_name=patient_name)
    add_series(ds, "OP", uids.op_series, OP_SERIES_NUMBER, "Fundus photographs")
    add_equipment(ds, device)
    # Synchronization module: one photo per instance, stamped by the box's own clock, no trigger.
    ds.SynchronizationFrameOfReferenceUID = UTC_SYNCHRONIZATION
    ds.SynchronizationTrigger = "NO TRIGGER"
    ds.AcquisitionTimeSynchronized = "N"
    _add_image(ds, exam, image, pixels)
    _add_ophthalmic(ds, image)
    return ds


def _add_image(ds: Dataset, exam: Exam, image: ScreenedImage, pixels: _Pixels) -> None:
    """General Image, Image Pixel, Multi-frame and Ophthalmic Photography Image modules."""
    photo = image.photo
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceNumber = photo.photo_id
    ds.PatientOrientation = ""
    ds.ContentDate = da(photo.captured_at)
    ds.ContentTime = tm(photo.captured_at)
    ds.AcquisitionDateTime = dt(photo.captured_at)
    field = photo_field(photo)
    ds.ImageComments = (f"Photo {photo.photo_id} of exam {exam.exam_id}: {photo.eye.value} eye, {field.value} field"
                        + (f", camera {photo.device}" if photo.device else ""))
    ds.BurnedInAnnotation = BURNED_IN_ANNOTATION
    if pixels.lossy_ratio is None:
        ds.LossyImageCompression = "00"
    else:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = f"{pixels.lossy_ratio:.2f}"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.SamplesPerPixel = pixels.samples
    ds.PhotometricInterpretation = pixels.photometric
    if pixels.samples > 1:
        ds.PlanarConfiguration = 0
    else:
        ds.PresentationLUTShape = "IDENTITY"
    ds.Rows = pixels.rows
    ds.Columns = pixels.columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = 1
    # One frame: the Frame Time Vector's first (and only) increment is 0 ms by definition (PS3.3 C.7.6.5.1.2).
    ds.FrameIncrementPointer = Tag("FrameTimeVector")
    ds.FrameTimeVector = [0]
    ds.PixelData = pixels.pixel_data
    if pixels.transfer_syntax == JPEG_BASELINE:
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True


def _add_ophthalmic(ds: Dataset, image: ScreenedImage) -> None:
    """Ocular Region Imaged, Ophthalmic Photography Acquisition Parameters, Ophthalmic Photographic
    Parameters and Acquisition Context modules."""
    ds.ImageLaterality = _LATERALITY[image.eye]
    ds.AnatomicRegionSequence = code_sequence(RETINA)
    position = FIELD_POSITION.get(photo_field(image.photo))
    if position is not None:
        ds.RelativeImagePositionCodeSequence = code_sequence(position)
    ds.PatientEyeMovementCommanded = ""
    ds.HorizontalFieldOfView = None
    ds.RefractiveStateSequence = Sequence()
    ds.EmmetropicMagnification = None
    ds.IntraOcularPressure = None
    ds.PupilDilated = ""
    ds.AcquisitionDeviceTypeCodeSequence = code_sequence(FUNDUS_CAMERA)
    ds.IlluminationTypeCodeSequence = Sequence()
    ds.LightPathFilterTypeStackCodeSequence = Sequence()
    ds.ImagePathFilterTypeStackCodeSequence = Sequence()
    ds.LensesCodeSequence = Sequence()
    ds.DetectorType = ""
    ds.AcquisitionContextSequence = Sequence()


def _pixels(data: bytes, photo_id: int) -> _Pixels:
    if image_format(data) == "jpeg":
        try:
            frame = read_frame(data)
        except ValueError as exc:
            raise PayloadError(f"Photo {photo_id} is not a readable JPEG.", detail=str(exc)) from exc
        ratio = frame.rows * frame.columns * len(frame.sampling) / len(data)
        photometric = frame.photometric
        if photometric is not None:
            return _Pixels(JPEG_BASELINE, photometric, frame.rows, frame.columns, len(frame.sampling),
                           encapsulate([data]), ratio)
        return _uncompressed(data, photo_id, ratio)
    return _uncompressed(data, photo_id, None)


def _uncompressed(data: bytes, photo_id: int, lossy_ratio: float | None) -> _Pixels:
    """Decode to RGB (EXIF orientation applied, alpha dropped), rows as stored."""
    try:
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise PayloadError(f"Photo {photo_id} cannot be decoded.", detail=str(exc)) from exc
    if bgr is None or bgr.ndim != 3 or bgr.dtype != np.uint8:
        raise PayloadError(f"Photo {photo_id} cannot be decoded.", detail=f"{len(data)} bytes, not an image")
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    return _Pixels(EXPLICIT_VR_LITTLE_ENDIAN, "RGB", rgb.shape[0], rgb.shape[1], 3, rgb.tobytes(), lossy_ratio)
