"""Small DICOM photo files for the tests: Ophthalmic Photography with laterality and patient id, uncompressed
RGB or the camera's JPEG encapsulated (JPEG Baseline)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

OP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.5.1"


def dicom_photo(jpeg: bytes, *, laterality: str = "", patient_id: str = "", encapsulated: bool = False) -> bytes:
    """A DICOM Part 10 file holding the photo `jpeg` (decoded to RGB unless `encapsulated`)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = OP_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if encapsulated else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = OP_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OP"
    if patient_id:
        ds.PatientID = patient_id
    if laterality:
        ds.ImageLaterality = laterality
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    ds.Rows, ds.Columns = bgr.shape[:2]
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 3, 8, 8, 7
    ds.PixelRepresentation, ds.PlanarConfiguration = 0, 0
    if encapsulated:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate([jpeg])
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
