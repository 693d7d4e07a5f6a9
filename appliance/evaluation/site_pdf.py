"""The site-validation report as a PDF (fpdf2): one readable document for the clinic's file.

Same figures as the JSON report (appliance/evaluation/site.py), laid out for print: the
not-clinically-validated notice first, then the locked threshold's figures, the per-grade table, the
score quantiles against the model's validation photos with the shift sentence, and the site threshold.
Core PDF fonts cover Latin-1 only, so a few typographic characters are spelled out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF

_ASCII = {"–": "-", "—": "-", "…": "...", "≥": ">=", "≤": "<=", "·": "-", "²": "2", "\u2009": " "}
_WIDTH = 180.0  # mm of text per line on A4 with the default margins

#: Percentiles of the score distributions printed in the PDF.
PRINTED_PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


def _text(value: str) -> str:
    for char, plain in _ASCII.items():
        value = value.replace(char, plain)
    return value.encode("latin-1", "replace").decode("latin-1")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _ci(e: Mapping[str, Any]) -> str:
    if e.get("value") is None:
        return "n/a"
    if e.get("low") is None or e.get("high") is None:
        return _pct(e["value"])
    return f"{_pct(e['value'])} ({_pct(e['low'])} - {_pct(e['high'])})"


class _Report(FPDF):
    def __init__(self, notice: str) -> None:
        super().__init__(format="A4")
        self._notice = notice
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "I", 7)
        self.cell(0, 5, _text(f"{self._notice}   Page {self.page_no()}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 11)
        self.multi_cell(_WIDTH, 6, _text(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)

    def para(self, text: str, style: str = "") -> None:
        self.set_font("Helvetica", style, 9)
        self.multi_cell(_WIDTH, 5, _text(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)

    def grid(self, rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        for number, row in enumerate(rows):
            self.set_font("Helvetica", "B" if number == 0 else "", 8)
            for width, cell in zip(widths, row, strict=True):
                self.cell(width, 5, _text(cell), border=1)
            self.ln(5)
        self.set_font("Helvetica", "", 9)


def write_pdf(report: Mapping[str, Any], path: Path) -> None:
    """Write `report` (from `site_report`) as a PDF at `path`.

    Raises:
        OSError: the file cannot be written.
    """
    pdf = _Report(str(report["notice"]))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "Site validation report: referable diabetic retinopathy", new_x="LMARGIN", new_y="NEXT")
    pdf.para(str(report["notice"]), "B")
    model, data = report["model"], report["dataset"]
    pdf.para(f"Model {model['name']} {model['version']}, sha256 {model['sha256']}. Report made {report['created_at']}"
             f" on {data['folder']} ({report['n_images']} photos listed; {report['n_graded']} graded: labelled and "
             f"passed by the quality gate, profile {data['quality_profile']}; {data['unreadable_skipped']} unreadable "
             "skipped). Report sha256 " + str(report.get("report_sha256", "")) + ".")
    img, locked = report["imageability"], report["locked_threshold"]
    pdf.heading(f"At the model's locked threshold {model['threshold']:.4f}")
    pdf.grid([["measure", "value (95 % interval)"],
              ["imageability (gate passed)", f"{_pct(img['share'])} of {img['n_judged']} photos ("
               f"{_pct(img['low'])} - {_pct(img['high'])})" if img["share"] is not None else "n/a"],
              ["sensitivity", f"{_ci(locked['sensitivity'])}, {locked['n_referable']} referable"],
              ["specificity", f"{_ci(locked['specificity'])}, {locked['n_not_referable']} non-referable"],
              ["AUC", "n/a" if locked["auc"]["value"] is None else f"{locked['auc']['value']:.3f}"]], [60, 120])
    pdf.heading("Per ICDR grade (graded photos)")
    rows = [["grade", "referable", "photos", "referred (locked)", "referred (site threshold)"]]
    rows += [[str(r["grade"]), "yes" if r["referable"] else "no", str(r["n"]), _pct(r["share_referred"]),
              _pct(r["share_referred_at_site_threshold"])] for r in report["per_grade"]]
    pdf.grid(rows, [20, 25, 25, 50, 60])
    dist, shift = report["distribution"], report["shift"]
    pdf.heading("Score distribution against the model's validation photos")
    # A page is too narrow for every quantile: the ones a reader compares (the JSON keeps them all).
    shown = [i for i, v in enumerate(dist["levels"]) if round(100 * v) in PRINTED_PERCENTILES] or list(
        range(len(dist["levels"])))
    levels = [f"p{100 * dist['levels'][i]:g}" for i in shown]
    width = min(16.0, 130.0 / max(1, len(levels)))
    rows = [["scores of", *levels]]
    series = (("site, non-referable", "site_not_referable"), ("validation, non-ref.", "validation_not_referable"),
              ("site, referable", "site_referable"), ("validation, referable", "validation_referable"))
    for name, key in series:
        values = dist[key]
        rows.append([name, *(["-"] * len(levels) if values is None else
                             ["n/a" if values[i] is None else f"{values[i]:.3f}" for i in shown])])
    pdf.grid(rows, [40, *([width] * len(levels))])
    pdf.para(str(shift["message"]), "B" if shift.get("differs") else "")
    site = report["site_operating_point"]
    pdf.heading(f"Threshold for sensitivity {site['target_sensitivity']:.2f} on this site")
    interval = ("" if site["threshold_low"] is None
                else f" (95 % interval {site['threshold_low']:.4f} - {site['threshold_high']:.4f})")
    pdf.para(f"Threshold {site['threshold']:.4f}{interval}, chosen on {site['n_photos']} graded photos "
             f"({site['n_referable']} referable). There it gives sensitivity {_pct(site['sensitivity'])} and "
             f"specificity {_ci(site['specificity'])}. {site['caveat']}")
    pdf.para("Nothing is adopted by this report. An administrator may adopt this threshold as the site operating "
             "point only with `appliance operating-point adopt REPORT.json`; every later result then records and "
             "shows it.")
    pdf.output(str(path))
