"""The one-page A4 exam report as a PDF (fpdf2, core fonts): patient, result, per-eye findings with their
photos, quality notes, the model and settings behind the result, and the not-validated notice.

The page never overflows: thumbnails shrink with the number of photos, quality notes that do not fit are
counted in one last line, and the provenance block is drawn from the bottom of the page up."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, cast

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos
from PIL import Image

from appliance import __version__
from appliance.report.content import TITLE, EyeSection, PhotoTile, ReportContent, report_content
from appliance.report.latin1 import latin1

MARGIN = 12.0
GUTTER = 6.0
TILE_GAP = 3.0
#: Height (mm) the photos of one eye may take, all rows and their captions together.
PHOTOS_HEIGHT = 78.0
#: Photos drawn for one eye at most (an exam has one or two; more are only counted).
MAX_TILES = 4
CAPTION_SIZE = 7.5
#: Longest side (px) of an embedded thumbnail: sharp in print at this size, and keeps the file small.
THUMBNAIL_PX = 800
FONT = "Helvetica"
MONO = "Courier"


def exam_report_pdf(summary: Mapping[str, Any], photos: Mapping[str, bytes], *, box_name: str = "") -> bytes:
    """The exam report: exactly one A4 page, whatever the number of photos.

    Args:
        summary: a finished exam's summary (`appliance.summary.exam_summary`).
        photos: JPEG or PNG bytes by sha256; a photo missing here (or undecodable) is drawn as an empty frame.
        box_name: the appliance's name, printed in the footer ("" to leave it out).
    Returns:
        The PDF bytes; the same for the same input (its dates are the exam's `created_at`).
    Raises:
        KeyError, ValueError: `summary` is not a finished exam's summary.
    """
    content = report_content(summary)
    pdf = _document(content, box_name)
    _header(pdf, content)
    _outcome(pdf, content)
    _eyes(pdf, content.eyes, photos)
    bottom = pdf.h - MARGIN - _provenance_height(pdf, content, box_name)
    _notes(pdf, content.notes, bottom - 3)
    _provenance(pdf, content, box_name, bottom)
    return bytes(pdf.output())


def _document(content: ReportContent, box_name: str) -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_creation_date(content.created_at)
    pdf.set_title(latin1(f"{TITLE}: {content.patient_id}"))
    pdf.set_subject(latin1(f"Exam {content.exam_id}"))
    pdf.set_creator(latin1(f"dr-screening-appliance {__version__} {box_name}".strip()))
    pdf.set_lang("en")
    pdf.add_page()
    return pdf


def _line(pdf: FPDF, text: str, size: float, style: str = "", height: float = 0, family: str = FONT) -> None:
    """A paragraph across the page (or from the current x to the right margin), wrapped."""
    pdf.set_font(family, style, size)
    pdf.multi_cell(0, height or size * 0.45, latin1(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _height(pdf: FPDF, width: float, text: str, size: float, style: str = "", family: str = FONT) -> float:
    """The height `_line`-style wrapped text takes in `width` mm, without drawing it."""
    pdf.set_font(family, style, size)
    height = pdf.multi_cell(width, size * 0.45, latin1(text), align="L", dry_run=True, output=MethodReturnValue.HEIGHT)
    return cast(float, height)


def _header(pdf: FPDF, content: ReportContent) -> None:
    _line(pdf, TITLE, 16, "B", 8)
    pdf.ln(2)
    _line(pdf, f"Patient ID: {content.patient_id}", 14, "B", 7)
    _line(pdf, f"Date of birth: {content.birth_date}", 14, "B", 7)
    _line(pdf, f"Sex: {content.sex}     Exam date: {content.exam_time}     Operator: {content.operator}", 10)
    if content.exam_id:
        _line(pdf, f"Exam: {content.exam_id}", 8)
    pdf.ln(3)


def _outcome(pdf: FPDF, content: ReportContent) -> None:
    _line(pdf, "Result", 10, "B")
    top = pdf.get_y()
    pdf.set_xy(MARGIN + 3, top + 3)
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(pdf.epw - 6, 7, latin1(content.message), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    bottom = pdf.get_y() + 3
    pdf.set_line_width(0.6)
    pdf.rect(MARGIN, top, pdf.epw, bottom - top)
    pdf.set_line_width(0.2)
    pdf.set_y(bottom + 4)


def _eyes(pdf: FPDF, eyes: Sequence[EyeSection], photos: Mapping[str, bytes]) -> None:
    width = (pdf.epw - GUTTER) / 2
    top = pdf.get_y()
    bottoms = [_eye(pdf, eye, photos, MARGIN + i * (width + GUTTER), top, width) for i, eye in enumerate(eyes)]
    pdf.set_xy(MARGIN, max(bottoms, default=top) + 3)


def _eye(pdf: FPDF, eye: EyeSection, photos: Mapping[str, bytes], x: float, y: float, width: float) -> float:
    """One eye's column; returns where it ends."""
    pdf.set_xy(x, y)
    pdf.set_font(FONT, "B", 12)
    pdf.cell(width, 6, latin1(eye.title), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(width, 4.5, latin1(eye.finding), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
    if not eye.photos:
        pdf.set_font(FONT, "I", 9)
        pdf.cell(width, 5, "No photo of this eye.", new_x=XPos.LEFT, new_y=YPos.NEXT)
        return pdf.get_y()
    return _tiles(pdf, eye.photos, photos, x, pdf.get_y() + 2, width)


def _tiles(pdf: FPDF, tiles: Sequence[PhotoTile], photos: Mapping[str, bytes], x: float, y: float,
           width: float) -> float:
    """The photos in a grid of at most two columns, shrunk so that all rows and their captions fit in
    PHOTOS_HEIGHT; beyond MAX_TILES (an exam has at most two photos an eye) the rest are only counted."""
    shown = tiles[:MAX_TILES]
    columns = 1 if len(shown) == 1 else 2
    rows = [shown[i:i + columns] for i in range(0, len(shown), columns)]
    tile_w = (width - (columns - 1) * TILE_GAP) / columns
    captions = sum(max(_height(pdf, tile_w, t.caption, CAPTION_SIZE, "B") for t in row) + 1 for row in rows)
    tile_h = min(tile_w * 2 / 3, (PHOTOS_HEIGHT - captions - (len(rows) - 1) * TILE_GAP) / len(rows))
    for row in rows:
        ends = [_tile(pdf, tile, photos.get(tile.sha256), x + i * (tile_w + TILE_GAP), y, tile_w, tile_h)
                for i, tile in enumerate(row)]
        y = max(ends) + TILE_GAP
    if len(tiles) > MAX_TILES:
        pdf.set_xy(x, y - TILE_GAP + 1)
        pdf.set_font(FONT, "I", 8)
        pdf.cell(width, 4, f"and {len(tiles) - MAX_TILES} more photo(s): see the quality notes.",
                 new_x=XPos.LEFT, new_y=YPos.NEXT)
        y = pdf.get_y() + TILE_GAP
    return y


def _tile(pdf: FPDF, tile: PhotoTile, data: bytes | None, x: float, y: float, w: float, h: float) -> float:
    """One thumbnail in a w x h frame with its caption under it; returns where the caption ends."""
    thumbnail = None if data is None else _thumbnail(data)
    if thumbnail is None:
        pdf.rect(x, y, w, h)
        pdf.set_xy(x, y + h / 2 - 2)
        pdf.set_font(FONT, "I", 8)
        pdf.cell(w, 4, "photo not available", align="C")
    else:
        pdf.image(thumbnail, x=x, y=y, w=w, h=h, keep_aspect_ratio=True,
                  alt_text=latin1(f"Photo {tile.photo_id}"))
    if not tile.passed:
        pdf.set_line_width(0.6)
        pdf.rect(x, y, w, h)
        pdf.set_line_width(0.2)
    pdf.set_xy(x, y + h + 1)
    pdf.set_font(FONT, "" if tile.passed else "B", CAPTION_SIZE)
    pdf.multi_cell(w, CAPTION_SIZE * 0.45, latin1(tile.caption), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
    return pdf.get_y()


def _thumbnail(data: bytes) -> io.BytesIO | None:
    """The photo re-encoded as a JPEG of at most THUMBNAIL_PX a side; None when it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            small.save(out, format="JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    out.seek(0)
    return out


def _notes(pdf: FPDF, notes: Sequence[str], bottom: float) -> None:
    """The quality notes down to `bottom`; those that do not fit are counted in a last line."""
    _line(pdf, "Quality notes", 11, "B", 6)
    lines = list(notes) or ["Every photo in use passed the quality check."]
    reserve = _height(pdf, pdf.epw, "x", 9)
    for i, note in enumerate(lines):
        last = i == len(lines) - 1
        if pdf.get_y() + _height(pdf, pdf.epw, f"- {note}", 9) > bottom - (0 if last else reserve):
            _line(pdf, f"- ... and {len(lines) - i} more note(s) in the exam record.", 9, "I")
            return
        _line(pdf, f"- {note}", 9)


def _provenance_lines(content: ReportContent, box_name: str) -> list[tuple[str, float, str, str]]:
    """(text, size, style, family) of each line of the bottom block, the notice excepted."""
    footer = f"Exam {content.exam_id}" + (f" - printed by {box_name}" if box_name else "") + " - page 1 of 1"
    return [
        ("Model and settings behind this result", 11, "B", FONT),
        (f"Model: {content.model}", 9, "", FONT),
        (f"Model sha256: {content.model_sha256}", 8, "", MONO),
        (f"Operating point: {content.operating_point}", 9, "", FONT),
        (f"Quality gate: {content.gate}", 9, "", FONT),
        (footer, 7, "", FONT),
    ]


def _provenance_height(pdf: FPDF, content: ReportContent, box_name: str) -> float:
    lines = _provenance_lines(content, box_name)
    return sum(_height(pdf, pdf.epw, *line) for line in lines) + _notice_height(pdf, content) + 4


def _notice_height(pdf: FPDF, content: ReportContent) -> float:
    return _height(pdf, pdf.epw - 6, content.notice, 10, "B") + 6


def _provenance(pdf: FPDF, content: ReportContent, box_name: str, top: float) -> None:
    """Model, operating point and gate, then the notice in a box, then the footer; from `top` down."""
    *body, footer = _provenance_lines(content, box_name)
    pdf.set_line_width(0.2)
    pdf.line(MARGIN, top - 1.5, pdf.w - MARGIN, top - 1.5)
    pdf.set_xy(MARGIN, top)
    for text, size, style, family in body:
        _line(pdf, text, size, style, family=family)
    pdf.ln(2)
    box_top = pdf.get_y()
    pdf.set_line_width(0.6)
    pdf.rect(MARGIN, box_top, pdf.epw, _notice_height(pdf, content))
    pdf.set_line_width(0.2)
    pdf.set_xy(MARGIN + 3, box_top + 3)
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(pdf.epw - 6, 4.5, latin1(content.notice), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(box_top + _notice_height(pdf, content) + 2)
    _line(pdf, footer[0], footer[1], footer[2], family=footer[3])
