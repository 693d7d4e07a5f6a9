"""The site operating point's history: append-only adopt / revert rows; the newest row is the state."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from appliance.domain import SiteOperatingPoint
from appliance.store.codec import detail_dict, dumps, from_iso, loads, to_iso

ADOPT = "adopt"
REVERT = "revert"


def insert_adoption(conn: sqlite3.Connection, point: SiteOperatingPoint, detail: Mapping[str, Any] | None) -> None:
    """One 'adopt' row inside the caller's transaction (actor and time from `point`)."""
    extra = {"site_data": point.site_data, **detail_dict(detail)}
    conn.execute(
        "INSERT INTO operating_points (at, actor, action, model_sha256, threshold, n_photos, n_referable,"
        " target_sensitivity, report_sha256, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (to_iso(point.adopted_at), point.adopted_by, ADOPT, point.model_sha256, point.threshold, point.n_photos,
         point.n_referable, point.target_sensitivity, point.report_sha256, dumps(extra)),
    )


def insert_revert(conn: sqlite3.Connection, *, at: datetime, actor: str, detail: Mapping[str, Any] | None) -> None:
    """One 'revert' row inside the caller's transaction."""
    conn.execute(
        "INSERT INTO operating_points (at, actor, action, detail_json) VALUES (?, ?, ?, ?)",
        (to_iso(at), actor, REVERT, dumps(detail_dict(detail))),
    )


def current(conn: sqlite3.Connection) -> SiteOperatingPoint | None:
    """The adopted site operating point, or None when none was adopted or the last one was reverted."""
    row = conn.execute("SELECT * FROM operating_points ORDER BY id DESC LIMIT 1").fetchone()
    if row is None or row["action"] != ADOPT:
        return None
    return SiteOperatingPoint(
        threshold=float(row["threshold"]), model_sha256=row["model_sha256"], adopted_at=from_iso(row["at"]),
        adopted_by=row["actor"], n_photos=int(row["n_photos"]), n_referable=int(row["n_referable"]),
        target_sensitivity=float(row["target_sensitivity"]), report_sha256=row["report_sha256"],
        site_data=str(loads(row["detail_json"]).get("site_data", "")),
    )
