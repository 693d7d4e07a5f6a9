"""JSON API of the admin screen (admin role only): users, the camera kind and quality profile (applied at the
next start), the model's thresholds, read-only, and the results the clinic refused (parked), to send again."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from appliance.auth.accounts import Accounts
from appliance.auth.roles import Role
from appliance.config import SyncConfig
from appliance.domain import NOT_VALIDATED_NOTICE, utc_now
from appliance.errors import SyncStateError
from appliance.kiosk.context import actor, json_body, services, text
from appliance.kiosk.security import require_role
from appliance.services.status import sync_status
from appliance.site_settings import SiteSettings
from appliance.store.users import UserAccount

admin_api = Blueprint("admin_api", __name__)
admin_pages = Blueprint("admin_pages", __name__)
#: Parked items listed on the admin screen, oldest first.
PARKED_LIMIT = 200
#: Item ids beyond this are no item (SQLite's integers end at 2**63 - 1).
MAX_ITEM_ID = 2**62


@admin_pages.get("/admin")
@require_role(Role.ADMIN)
def admin_page() -> ResponseReturnValue:
    return render_template("admin.html", notice=NOT_VALIDATED_NOTICE)


def _accounts() -> Accounts:
    return services().accounts


def user_dict(user: UserAccount) -> dict[str, object]:
    return {"user_id": user.user_id, "display_name": user.display_name, "role": user.role.value,
            "disabled": user.disabled, "locked_until": None if user.locked_until is None else
            user.locked_until.isoformat(), "created_at": user.created_at.isoformat()}


@admin_api.get("/admin/users")
@require_role(Role.ADMIN)
def list_users() -> ResponseReturnValue:
    return jsonify({"users": [user_dict(u) for u in _accounts().list_users()]})


@admin_api.post("/admin/users")
@require_role(Role.ADMIN)
def add_user() -> ResponseReturnValue:
    """JSON {user_id, display_name, role: technician|admin, pin}."""
    body = json_body()
    user = _accounts().add_user(text(body, "user_id", required=True, max_length=64),
                                text(body, "display_name", max_length=100), text(body, "role", required=True),
                                text(body, "pin", required=True, max_length=64), actor=actor())
    return jsonify(user_dict(user)), 201


@admin_api.post("/admin/users/<user_id>/<change>")
@require_role(Role.ADMIN)
def change_user(user_id: str, change: str) -> ResponseReturnValue:
    """`change`: disable, enable, unlock, or pin (JSON {pin})."""
    accounts, who = _accounts(), actor()
    if change == "disable":
        accounts.disable(user_id, actor=who)
    elif change == "enable":
        accounts.enable(user_id, actor=who)
    elif change == "unlock":
        accounts.unlock(user_id, actor=who)
    elif change == "pin":
        accounts.set_pin(user_id, text(json_body(), "pin", required=True, max_length=64), actor=who)
    else:
        return jsonify({"error": "not_found", "message": "No such change: disable, enable, unlock or pin."}), 404
    return jsonify(user_dict(accounts.get(user_id)))


@admin_api.get("/admin/settings")
@require_role(Role.ADMIN)
def settings() -> ResponseReturnValue:
    return jsonify(services().admin.settings())


@admin_api.post("/admin/settings")
@require_role(Role.ADMIN)
def save_settings() -> ResponseReturnValue:
    """JSON {camera_kind?, quality_profile?}: saved now, applied at the next start."""
    body = json_body()
    chosen = SiteSettings(camera_kind=text(body, "camera_kind", max_length=40).strip() or None,
                          quality_profile=text(body, "quality_profile", max_length=40).strip() or None)
    return jsonify(services().admin.save_settings(chosen, actor=actor()))


@admin_api.get("/admin/sync")
@require_role(Role.ADMIN)
def sync_backlog() -> ResponseReturnValue:
    """Per destination the backlog and last success, and the parked items with the server's message (no
    credential: see services.status.sync_status), oldest first."""
    status = services().status
    return jsonify(sync_status(services().exams.store, status.sync_config or SyncConfig(), with_reasons=True,
                               parked_limit=PARKED_LIMIT))


@admin_api.post("/admin/sync/<int:item_id>/requeue")
@require_role(Role.ADMIN)
def requeue(item_id: int) -> ResponseReturnValue:
    """Send a parked item again now (fresh backoff), audited `sync_requeued` with the administrator's id.
    409 `sync_item_invalid` when there is no such unsent item."""
    if item_id > MAX_ITEM_ID:  # beyond SQLite's integers: no such item (not an overflow, a 500)
        raise SyncStateError(f"There is no unsent sync item {item_id}: nothing to re-queue.")
    item = services().exams.store.outbox.requeue(item_id, actor=actor(), now=utc_now())
    return jsonify({"item": item.id, "kind": item.kind, "exam_id": item.exam_id, "state": item.state,
                    "attempts": item.attempts})
