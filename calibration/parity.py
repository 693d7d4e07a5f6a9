"""INT8 vs FP32 on the same photos: AUC difference, refer-decision agreement, score differences. Pure.

Targets (issue: INT8 calibration): |AUC(INT8) - AUC(FP32)| <= 0.005 and the refer decision at the
FP32 model's locked threshold the same on >= 99 % of the test photos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from appliance.evaluation.metrics import roc_auc

AUC_TARGET = 0.005
AGREEMENT_TARGET = 0.99

Scores = npt.NDArray[np.floating]
Labels = npt.NDArray[np.floating] | npt.NDArray[np.integer] | npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Parity:
    """INT8 vs FP32 on one set of photos. Differences are INT8 minus FP32; scores are probabilities 0..1."""

    images: int
    positives: int
    threshold: float
    fp32_auc: float
    int8_auc: float
    agreement: float
    flips: int
    max_abs_diff: float
    mean_diff: float
    mean_abs_diff: float
    fp32_sensitivity: float
    fp32_specificity: float
    int8_sensitivity: float
    int8_specificity: float

    @property
    def auc_diff(self) -> float:
        return self.int8_auc - self.fp32_auc

    @property
    def auc_ok(self) -> bool:
        """|ΔAUC| within the target (False when the AUC is undefined: one class only)."""
        return not math.isnan(self.auc_diff) and abs(self.auc_diff) <= AUC_TARGET

    @property
    def agreement_ok(self) -> bool:
        return self.agreement >= AGREEMENT_TARGET

    @property
    def meets_targets(self) -> bool:
        return self.auc_ok and self.agreement_ok


def _rates(labels: npt.NDArray[np.bool_], refer: npt.NDArray[np.bool_]) -> tuple[float, float]:
    pos, neg = labels.sum(), (~labels).sum()
    sens = float((refer & labels).sum() / pos) if pos else float("nan")
    spec = float((~refer & ~labels).sum() / neg) if neg else float("nan")
    return sens, spec


def compare(labels: Labels, fp32: Scores, int8: Scores, threshold: float) -> Parity:
    """Compare two score vectors of the same photos; refer means score >= `threshold`.

    Raises:
        ValueError: the three vectors differ in length or are empty.
    """
    y = np.asarray(labels).astype(bool).ravel()
    a = np.asarray(fp32, np.float64).ravel()
    b = np.asarray(int8, np.float64).ravel()
    if not (y.size == a.size == b.size) or y.size == 0:
        raise ValueError(f"need three equal, non-empty vectors, got {y.size}, {a.size}, {b.size}")
    refer_a, refer_b = a >= threshold, b >= threshold
    diff = b - a
    sens_a, spec_a = _rates(y, refer_a)
    sens_b, spec_b = _rates(y, refer_b)
    return Parity(
        images=int(y.size), positives=int(y.sum()), threshold=float(threshold),
        fp32_auc=roc_auc(y, a), int8_auc=roc_auc(y, b),
        agreement=float(np.mean(refer_a == refer_b)), flips=int(np.count_nonzero(refer_a != refer_b)),
        max_abs_diff=float(np.abs(diff).max()), mean_diff=float(diff.mean()),
        mean_abs_diff=float(np.abs(diff).mean()),
        fp32_sensitivity=sens_a, fp32_specificity=spec_a, int8_sensitivity=sens_b, int8_specificity=spec_b,
    )


def best(results: Sequence[Parity], costs: Sequence[int] | None = None) -> int:
    """Index of the variant to ship.

    Variants that meet both targets come first and, among them, the lowest `cost` (e.g. the number of
    layers left in float: slower on the device); then the highest decision agreement, the smallest
    |ΔAUC| and the smallest largest score difference.

    Raises:
        ValueError: `results` is empty or `costs` is not one per result.
    """
    if not results:
        raise ValueError("no parity results to choose from")
    costs = list(costs) if costs is not None else [0] * len(results)
    if len(costs) != len(results):
        raise ValueError(f"need one cost per result, got {len(costs)} for {len(results)}")

    def key(i: int) -> tuple[bool, int, float, float, float]:
        p = results[i]
        auc = abs(p.auc_diff) if not math.isnan(p.auc_diff) else math.inf
        return (not p.meets_targets, costs[i] if p.meets_targets else 0, -p.agreement, auc, p.max_abs_diff)

    return min(range(len(results)), key=key)


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"


def _num(x: float, digits: int = 4, signed: bool = False) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def table(rows: Sequence[tuple[str, Parity]], first_column: str = "variant") -> list[str]:
    """Markdown table lines: AUCs, ΔAUC, agreement, flips, score differences, targets met."""
    lines = [
        f"| {first_column} | photos | AUC FP32 | AUC INT8 | ΔAUC | decision agreement | flips "
        "| max abs Δscore | mean Δscore | targets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in rows:
        met = "both met" if p.meets_targets else ", ".join(
            [*([] if p.auc_ok else ["ΔAUC missed"]), *([] if p.agreement_ok else ["agreement missed"])])
        lines.append(
            f"| {name} | {p.images} | {_num(p.fp32_auc)} | {_num(p.int8_auc)} | {_num(p.auc_diff, signed=True)} "
            f"| {_pct(p.agreement)} | {p.flips} | {_num(p.max_abs_diff)} | {_num(p.mean_diff, 5, signed=True)} "
            f"| {met} |"
        )
    return lines


def summary_line(p: Parity) -> str:
    """One line for the terminal."""
    return (f"ΔAUC {_num(p.auc_diff, signed=True)} (target |ΔAUC| <= {AUC_TARGET}: "
            f"{'met' if p.auc_ok else 'MISSED'}), decision agreement {_pct(p.agreement)} ({p.flips} of "
            f"{p.images} differ; target >= {100 * AGREEMENT_TARGET:.0f} %: {'met' if p.agreement_ok else 'MISSED'}), "
            f"largest score difference {p.max_abs_diff:.4f}, mean {p.mean_diff:+.5f}")
