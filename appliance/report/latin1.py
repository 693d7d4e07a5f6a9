"""Text for fpdf2's core fonts, which can only draw latin-1: typographic characters become their ASCII
equivalents, accented letters outside latin-1 lose the accent, anything else becomes "?"."""

from __future__ import annotations

import unicodedata

_ASCII = str.maketrans({
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2026": "...", "\u2022": "-", "\u2192": "->", "\u2190": "<-",
    "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u2248": "~",
    "\u2009": " ", "\u202f": " ", "\u200b": "",
    # Letters that do not decompose into a latin-1 letter and an accent.
    "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0152": "OE", "\u0153": "oe", "\u0131": "i",
})


def latin1(text: str) -> str:
    """`text` with every character drawable by a core font (latin-1); control characters become spaces."""
    return "".join(_character(ch) for ch in text.translate(_ASCII))


def _character(ch: str) -> str:
    if unicodedata.category(ch) == "Cc":
        return " "
    if ord(ch) < 256:
        return ch
    plain = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return plain if plain and all(ord(c) < 256 for c in plain) else "?"
