"""The site operating point: adopting a threshold from a site-validation report, and which threshold applies.

A model ships with a locked threshold (its manifest's). A site whose camera or population moves the
scores may adopt its own threshold, chosen by `appliance validate-site` on the site's labelled photos
to reach the model's target sensitivity, but only through `appliance operating-point adopt REPORT`:
the report must come from the installed model (same sha256), hold enough referable photos, and be
unedited. Adoption and revert are stored and audited together (appliance/store). A site operating
point applies only to the model it was adopted for: after a model update the locked threshold
applies again and `note` / `status()` say why, so the change is never silent.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.domain import OperatingPoint, OperatingPointSource, SiteOperatingPoint
from appliance.errors import ApplianceError
from appliance.inference.manifest import ModelManifest

#: The `kind` of a site-validation report (appliance/evaluation/site.py writes it).
REPORT_KIND = "dr_site_validation"
#: The key holding the report's own digest, left out when the digest is computed.
DIGEST_KEY = "report_sha256"


class OperatingPointError(ApplianceError):
    """A site operating point cannot be adopted from this report (bad input: exit status 2)."""

    reason_code = "operating_point_refused"
    http_status = 400


def report_digest(report: Mapping[str, Any]) -> str:
    """sha256 of the report's canonical JSON without its own digest: detects a report edited by hand
    or damaged in transit (not a signature: whoever edits it can recompute it)."""
    body = {k: v for k, v in report.items() if k != DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def seal(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its digest added under DIGEST_KEY."""
    report[DIGEST_KEY] = report_digest(report)
    return report


@dataclass(frozen=True)
class SiteReportSummary:
    """What adoption needs from a site-validation report."""

    model_name: str
    model_version: str
    model_sha256: str
    threshold: float
    n_photos: int
    n_referable: int
    target_sensitivity: float
    report_sha256: str
    site_data: str
    created_at: str


def read_site_report(path: Path) -> SiteReportSummary:
    """Read and check a site-validation report written by `appliance validate-site --json`.

    Raises:
        OperatingPointError: the file is missing or unreadable, not such a report, edited since it was
            written, or lacks the site threshold.
    """
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise OperatingPointError(f"The report {path} does not exist.", reason_code="report_missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise OperatingPointError(f"The report {path} cannot be read: {exc}.", reason_code="report_unreadable") from exc
    except json.JSONDecodeError as exc:
        raise OperatingPointError(f"The report {path} is not JSON: write it with `appliance validate-site DATA_DIR "
                                  "--json > REPORT.json`.", reason_code="report_invalid") from exc
    if not isinstance(report, dict) or report.get("kind") != REPORT_KIND:
        raise OperatingPointError(f"{path} is not a site-validation report (from `appliance validate-site --json`).",
                                  reason_code="report_invalid")
    if report.get(DIGEST_KEY) != report_digest(report):
        raise OperatingPointError(f"The report {path} was changed after `appliance validate-site` wrote it; "
                                  "run the site validation again.", reason_code="report_altered")
    try:
        model, site = report["model"], report["site_operating_point"]
        summary = SiteReportSummary(
            model_name=str(model["name"]), model_version=str(model["version"]), model_sha256=str(model["sha256"]),
            threshold=float(site["threshold"]), n_photos=int(site["n_photos"]),
            n_referable=int(site["n_referable"]), target_sensitivity=float(site["target_sensitivity"]),
            report_sha256=str(report[DIGEST_KEY]), site_data=str(report["dataset"]["folder"]),
            created_at=str(report["created_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OperatingPointError(f"The report {path} has no site threshold ({exc}).",
                                  reason_code="report_invalid") from exc
    if not (math.isfinite(summary.threshold) and 0.0 <= summary.threshold <= 1.0) or summary.n_photos < 1:
        raise OperatingPointError(f"The report {path} has no usable site threshold.", reason_code="report_invalid")
    return summary


def check_adoptable(report: SiteReportSummary, manifest: ModelManifest, min_referable_photos: int) -> None:
    """Refuse a report made with another model, or on too few referable photos.

    Raises:
        OperatingPointError: with the reason in the operator's words.
    """
    if report.model_sha256 != manifest.sha256:
        raise OperatingPointError(
            f"The report was made with model {report.model_name} {report.model_version} (sha256 "
            f"{report.model_sha256[:12]}…), but the installed model is {manifest.name} {manifest.version} (sha256 "
            f"{manifest.sha256[:12]}…): validate the site again with the installed model.",
            reason_code="operating_point_model_mismatch",
        )
    if report.n_referable < min_referable_photos:
        raise OperatingPointError(
            f"The report holds {report.n_referable} referable photos; adopting a site operating point needs at "
            f"least {min_referable_photos} ([site] min_referable_photos): with fewer, the threshold is too "
            "uncertain. Add labelled referable photos and validate again.",
            reason_code="operating_point_too_few_referable",
        )


def site_operating_point(report: SiteReportSummary, *, actor: str, at: datetime) -> SiteOperatingPoint:
    """The site operating point an adoption stores."""
    return SiteOperatingPoint(
        threshold=report.threshold, model_sha256=report.model_sha256, adopted_at=at, adopted_by=actor,
        n_photos=report.n_photos, n_referable=report.n_referable, target_sensitivity=report.target_sensitivity,
        report_sha256=report.report_sha256, site_data=report.site_data,
    )


def effective_operating_point(site: SiteOperatingPoint | None, manifest: ModelManifest) -> OperatingPoint:
    """The operating point results are decided at now: the site's when it was adopted for this model,
    else the model's locked threshold, with a note when a site's is set aside."""
    if site is None:
        return OperatingPoint.locked(manifest.threshold)
    if site.model_sha256 != manifest.sha256:
        return OperatingPoint.locked(manifest.threshold, note=(
            f"the site operating point adopted on {site.adopted_at.date().isoformat()} is not applied: it was "
            f"adopted for model sha256 {site.model_sha256[:12]}…, the installed model is {manifest.sha256[:12]}…; "
            "validate the site again and adopt anew"))
    return OperatingPoint.from_site(site, manifest.threshold)


def status(site: SiteOperatingPoint | None, manifest: ModelManifest) -> dict[str, Any]:
    """The operating point for health checks and `appliance operating-point show`: what applies and why."""
    point = effective_operating_point(site, manifest)
    stored = None if site is None else {
        "threshold": site.threshold, "model_sha256": site.model_sha256, "adopted_at": site.adopted_at.isoformat(),
        "adopted_by": site.adopted_by, "n_photos": site.n_photos, "n_referable": site.n_referable,
        "target_sensitivity": site.target_sensitivity, "report_sha256": site.report_sha256,
        "site_data": site.site_data,
    }
    return {
        "source": point.source.value,
        "threshold": point.threshold,
        "locked_threshold": manifest.threshold,
        "applies": point.source is OperatingPointSource.SITE,
        "description": point.description,
        "note": point.note,
        "adopted": stored,
    }
