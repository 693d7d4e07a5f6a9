"""The parity report (models/INT8_PARITY.md) and the records it is made from. Pure text rendering."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from appliance.inference.manifest import ModelManifest
from calibration.parity import AGREEMENT_TARGET, AUC_TARGET, Parity, table
from calibration.quantize import QdqSummary, QuantizeOptions, describe


@dataclass(frozen=True)
class TestSet:
    """The decoded TEST split: uint8 squares [N, S, S, 3], labels (1 referable), natural-colour flags."""

    squares: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.float32]
    natural: npt.NDArray[np.bool_]
    skipped: list[str] = field(default_factory=list)
    limited: bool = False
    split: str = "test"


@dataclass
class Candidate:
    """One quantized variant: how it was made, where it is, what check_qdq found, and its parity."""

    options: QuantizeOptions
    path: Path
    excluded: list[str]
    summary: QdqSummary
    seconds: float
    float_convs: int = 0
    #: Share (0..1) of the convolutions' multiply-accumulates left in float.
    float_macs: float = 0.0
    #: Parity on the validation split (where the variant to ship is chosen) and on the test split.
    selection: Parity | None = None
    parity: Parity | None = None
    by_source: dict[str, Parity] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.options.label


def _sens_spec(p: Parity) -> list[str]:
    def pct(x: float) -> str:
        return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"

    return [
        "| model | sensitivity | specificity |",
        "|---|---|---|",
        f"| FP32 | {pct(p.fp32_sensitivity)} | {pct(p.fp32_specificity)} |",
        f"| INT8 | {pct(p.int8_sensitivity)} | {pct(p.int8_specificity)} |",
    ]


def render_report(*, fp32: ModelManifest, int8: ModelManifest, candidates: Sequence[Candidate], shipped: int,
                  test: TestSet | None, strata: dict[str, int] | None, list_file: Path | None,
                  list_sha256: str, command: str, seed: int) -> str:
    """Markdown: what was compared, the variant table, the shipped variant's detail, targets met or missed."""
    chosen = candidates[shipped]
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"# INT8 parity: {int8.name} vs {fp32.name} (FP32)",
        "",
        f"Generated {today} by `{command}` (onnxruntime {ort.__version__}, CPU).",
        "",
        f"- FP32 model: {fp32.name} {fp32.version}, `{fp32.model_path.name}`, sha256 `{fp32.sha256}`.",
        f"- INT8 model: `{int8.model_path.name}`, sha256 `{int8.sha256}`; shipped variant: "
        f"**{chosen.name}** ({describe(chosen.summary, chosen.excluded)}).",
        "- Quantization: onnxruntime `quantize_static`, QDQ format, int8 activations and weights, symmetric "
        "(every zero point 0), per-channel weight scales, float biases, weights in float behind their own "
        "Q/DQ pair (TensorRT 8.6 and 10 both build from this), one Q/DQ pair per consumer.",
    ]
    if strata is not None and list_file is not None:
        out.append(f"- Calibration: {sum(strata.values())} photos from the TRAIN split (EyeQ `reject` excluded), "
                   f"equal quotas per stratum ({', '.join(f'{k} {v}' for k, v in strata.items())}), seed {seed}; "
                   f"list `{list_file.name}`, sha256 `{list_sha256}`.")
    elif list_file is not None:
        out.append(f"- Calibration list: `{list_file.name}`, sha256 `{list_sha256}` (parity-only run: the "
                   "method comparison was not repeated).")
    out.append(f"- Threshold: {fp32.threshold} (the FP32 model's locked threshold, unchanged); refer = score >= it.")
    if test is None or chosen.parity is None:
        out += ["", "Parity was not computed (--no-parity)."]
        return "\n".join(out) + "\n"
    p = chosen.parity
    n_nat = int(test.natural.sum())
    out.append(f"- Test split: {len(test.labels)} photos ({int(test.labels.sum())} referable; {n_nat} natural colour, "
               f"{len(test.labels) - n_nat} enhanced), patient-level, EyeQ `reject` excluded"
               + (f"; {len(test.skipped)} unreadable photos skipped" if test.skipped else "")
               + ("; SUBSAMPLED (--eval-limit): not the full split" if test.limited else "") + ".")

    def rows(which: str) -> list[tuple[str, Parity]]:
        return [(f"{c.name}{' (shipped)' if i == shipped else ''} [{100 * c.float_macs:.0f} % float]", q)
                for i, c in enumerate(candidates) if (q := c.selection if which == "val" else c.parity) is not None]

    if any(c.selection is not None for c in candidates):
        out += ["", "## Variants on the validation split (where the shipped one is chosen)", "", *table(rows("val")),
                "", "Chosen on validation, never on test: a variant meeting both targets first and, among those, "
                "the one with the smallest share of convolution multiply-accumulates left in float ([N % float] "
                "after each name; faster on the device); otherwise the "
                "highest decision agreement, then the smallest |ΔAUC|, then the smallest largest score "
                "difference. Calibration ranges are computed once per method and shared by its variants; "
                "time per variant (quantization and bias correction): "
                + ", ".join(f"{c.name} {c.seconds:.0f} s" for c in candidates if not math.isnan(c.seconds)) + "."]
    out += ["", "## Variants on the test split (reported)", "", *table(rows("test")), ""]
    verdict = [
        f"- |ΔAUC| <= {AUC_TARGET}: **{'met' if p.auc_ok else 'MISSED'}** (ΔAUC {p.auc_diff:+.4f}).",
        f"- Refer-decision agreement >= {100 * AGREEMENT_TARGET:.0f} %: **{'met' if p.agreement_ok else 'MISSED'}** "
        f"({100 * p.agreement:.2f} %, {p.flips} of {p.images} photos change decision).",
        f"- Largest absolute score difference {p.max_abs_diff:.4f}; mean difference (INT8 - FP32) {p.mean_diff:+.5f}, "
        f"mean absolute {p.mean_abs_diff:.5f}.",
    ]
    out += ["## Shipped variant", "", *verdict, "", "At the locked threshold:", "", *_sens_spec(p), ""]
    if chosen.by_source:
        out += ["Per source:", "", *table(list(chosen.by_source.items()), first_column="source"), ""]
    out += [
        "Notes: these INT8 scores are onnxruntime's CPU execution of the Q/DQ graph (int8 arithmetic simulated "
        "or run by its kernels); a TensorRT engine built from the same graph fuses layers differently, so "
        "`appliance build-engine` checks the engine's own scores against onnxruntime before accepting it. "
        "Layers left in float (the head; the depthwise and the first convolutions in the variants named so) "
        "have no Q/DQ: a strongly typed TensorRT engine runs them in FP32, a weakly typed one with the FP16 "
        "flag in FP16; [N % float] is their share of the convolutions' multiply-accumulates.",
    ]
    return "\n".join(out) + "\n"
