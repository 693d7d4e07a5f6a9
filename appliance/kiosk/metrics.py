"""`GET /metrics`: the box's metrics in Prometheus' text format, for the fleet's Prometheus.

No sign-in (a scraper cannot sign in; the security layer lists /metrics among its public paths) and no
patient data: counts, shares, latencies, versions and times only. It answers only when `[metrics] enabled`
(404 otherwise). With `[metrics] token_file` set, a scraper must send `Authorization: Bearer <token>`
(Prometheus: `authorization: {credentials_file: ...}`); the file is read at each scrape, so a new token
takes effect without a restart. A kiosk served on a network address without a token file logs a warning
at start (kiosk/server.py): its metrics are then readable by whoever reaches it, as /healthz is.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from appliance.errors import ApplianceError
from appliance.kiosk.context import services
from appliance.observability.metrics import BoxMetrics

log = logging.getLogger(__name__)

metrics_pages = Blueprint("metrics_pages", __name__)


class MetricsOffError(ApplianceError):
    reason_code = "metrics_off"
    http_status = 404


class MetricsUnavailableError(ApplianceError):
    """/metrics cannot be answered: its token file is unreadable."""

    reason_code = "metrics_unavailable"
    http_status = 503


@dataclass(frozen=True)
class MetricsExport:
    """What /metrics serves, and the file of the token a scraper must send ("" for none)."""

    metrics: BoxMetrics
    token_file: str = ""


@metrics_pages.get("/metrics")
def metrics() -> ResponseReturnValue:
    export = services().metrics
    if export is None:
        raise MetricsOffError("Metrics are off on this appliance ([metrics] enabled = false).")
    if export.token_file and not _bearer_matches(read_token(export.token_file)):
        log.warning("refused a metrics scrape without the right bearer token")
        answer = jsonify({"error": "metrics_token_required",
                          "message": "Send the metrics token as 'Authorization: Bearer <token>'."})
        answer.status_code = 401
        answer.headers["WWW-Authenticate"] = 'Bearer realm="appliance metrics"'
        return answer
    body, content_type = export.metrics.exposition()
    return Response(body, content_type=content_type)


def read_token(path: str) -> str:
    """The token in `path` (one line). Raises MetricsUnavailableError naming the file, never its content."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise MetricsUnavailableError(f"The metrics token file {path} cannot be read ({type(err).__name__}): "
                                      "fix [metrics] token_file.") from err
    if not token or "\n" in token:
        raise MetricsUnavailableError(f"The metrics token file {path} must hold the token on one line.")
    return token


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
