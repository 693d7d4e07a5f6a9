"""JSON API of the admin screen (admin role only): users, the camera kind and quality profile (applied at the
next start), and the model's thresholds, read-only."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from appliance.auth.accounts import Accounts
from appliance.auth.roles import Role
from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.kiosk.context import actor, json_body, services, text
from appliance.kiosk.security import require_role
from appliance.site_settings import SiteSettings
from appliance.store.users import UserAccount

admin_api = Blueprint("admin_api", __name__)
admin_pages = Blueprint("admin_pages", __name__)


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
