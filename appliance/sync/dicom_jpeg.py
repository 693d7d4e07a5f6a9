"""What a JPEG's header says about how its pixels are coded, read before deciding how DICOM carries it.

A camera's JPEG is sent unchanged (JPEG Baseline transfer syntax) only when DICOM can describe it
truthfully: an 8-bit baseline (SOF0) frame, grey (MONOCHROME2) or YCbCr with subsampled chroma
(YBR_FULL_422, which PS3.5 8.2.1 uses for 4:2:2 and 4:2:0 JPEG alike), and no EXIF rotation (DICOM viewers
do not apply EXIF). Anything else (progressive or extended JPEG, 4:4:4 or RGB-coded components, which
the OP IOD cannot label for a lossy JPEG, a rotated photo) is decoded and sent as uncompressed RGB,
still marked lossy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: Start-of-frame markers: C0 baseline, C1 extended, C2 progressive, C3 lossless, C5-C7, C9-CB, CD-CF.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_BASELINE = 0xC0
_APP0, _APP1, _APP14 = 0xE0, 0xE1, 0xEE
_ORIENTATION_TAG = 0x0112
#: (marker, precision, rows, columns, sampling factors, component ids)
_Frame = tuple[int, int, int, int, tuple[tuple[int, int], ...], tuple[int, ...]]


@dataclass(frozen=True)
class JpegFrame:
    """The frame header and the colour hints of a JPEG file.

    `sampling` holds (horizontal, vertical) sampling factors per component, in frame order; `adobe_transform`
    is the APP14 "Adobe" colour transform (0: RGB components, 1: YCbCr, 2: YCCK) or None without the marker.
    """

    sof_marker: int
    precision: int
    rows: int
    columns: int
    sampling: tuple[tuple[int, int], ...]
    component_ids: tuple[int, ...] = ()
    jfif: bool = False
    adobe_transform: int | None = None
    exif_orientation: int = 1

    @property
    def photometric(self) -> str | None:
        """The Photometric Interpretation to send the bitstream unchanged under JPEG Baseline, or None when
        DICOM's OP 8-bit image cannot carry this JPEG as it is."""
        if self.sof_marker != _BASELINE or self.precision != 8 or self.exif_orientation != 1:
            return None
        if len(self.sampling) == 1:
            return "MONOCHROME2"
        if len(self.sampling) != 3 or self._rgb_components:
            return None
        (y_h, y_v), cb, cr = self.sampling
        if cb != (1, 1) or cr != (1, 1) or (y_h, y_v) not in ((2, 1), (2, 2)):
            return None  # 4:4:4, or a subsampling no YBR_FULL_422 reader expects
        return "YBR_FULL_422"

    @property
    def _rgb_components(self) -> bool:
        """True when the three components are R, G, B rather than YCbCr (libjpeg's rule: JFIF means YCbCr,
        else the Adobe transform decides, else component ids 'R', 'G', 'B')."""
        if self.jfif:
            return False
        if self.adobe_transform is not None:
            return self.adobe_transform == 0
        return self.component_ids == (0x52, 0x47, 0x42)


def read_frame(data: bytes) -> JpegFrame:
    """Read the header segments up to the first scan.

    Raises:
        ValueError: not a JPEG, or a header cut short or malformed.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    pos, jfif, adobe, orientation = 2, False, None, 1
    frame: _Frame | None = None
    try:
        while True:
            if data[pos] != 0xFF:
                raise ValueError(f"no JPEG marker at byte {pos}")
            while data[pos] == 0xFF:
                pos += 1
            marker = data[pos]
            pos += 1
            if marker in (0x01, *range(0xD0, 0xD8)):
                continue
            if marker in (0xD9, 0xDA):
                break
            (length,) = struct.unpack(">H", data[pos:pos + 2])
            body = data[pos + 2:pos + length]
            if length < 2 or len(body) != length - 2:
                raise ValueError(f"JPEG segment {marker:#x} cut short")
            if marker in _SOF and frame is None:
                frame = _frame(marker, body)
            elif marker == _APP0 and body.startswith(b"JFIF\x00"):
                jfif = True
            elif marker == _APP14 and body.startswith(b"Adobe") and len(body) >= 12:
                adobe = body[11]
            elif marker == _APP1 and body.startswith(b"Exif\x00\x00"):
                orientation = _exif_orientation(body[6:])
            pos += length
    except (IndexError, struct.error) as exc:
        raise ValueError("JPEG header cut short") from exc
    if frame is None:
        raise ValueError("JPEG without a frame header")
    marker, precision, rows, columns, sampling, ids = frame
    return JpegFrame(marker, precision, rows, columns, sampling, ids, jfif, adobe, orientation)


def _frame(marker: int, body: bytes) -> _Frame:
    precision, rows, columns, count = struct.unpack(">BHHB", body[:6])
    if rows == 0 or columns == 0 or count not in (1, 3, 4) or len(body) < 6 + 3 * count:
        raise ValueError(f"JPEG frame header: {columns}x{rows}, {count} components")
    ids = tuple(body[6 + 3 * i] for i in range(count))
    factors = tuple((body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F) for i in range(count))
    return marker, precision, rows, columns, factors, ids


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag of IFD0 (1 = as stored), 1 when absent or unreadable."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    try:
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
        for i in range(count):
            tag, _kind, _n, value = struct.unpack(order + "HHIH", tiff[ifd + 2 + 12 * i:ifd + 12 + 12 * i])
            if tag == _ORIENTATION_TAG:
                return int(value)
    except struct.error:
        return 1
    return 1
