"""Flask app factory: the technician's pages and the JSON API, over narrow services (screening, exams,
status) and the sign-in layer; no model or camera code here."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from appliance.config import AuthConfig
from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.errors import ApplianceError
from appliance.kiosk.admin import admin_api, admin_pages
from appliance.kiosk.auth_routes import auth
from appliance.kiosk.context import KioskServices
from appliance.kiosk.exams import exams_api
from appliance.kiosk.metrics import metrics_pages
from appliance.kiosk.reports import report_pages
from appliance.kiosk.scanner import scanner_api
from appliance.kiosk.security import install_security
from appliance.kiosk.status import status_pages
from appliance.kiosk.worklist import worklist_api

log = logging.getLogger(__name__)


class _JSONProvider(DefaultJSONProvider):
    sort_keys = False  # keep right eye before left, as the clinic reads

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """A body nested too deeply for the parser is malformed JSON (a 400), not an unexpected error."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(kiosk: KioskServices, auth_config: AuthConfig, *, allowed_hosts: list[str],
               max_upload_bytes: int) -> Flask:
    """Build the kiosk over a running box's services."""
    app = Flask(__name__)
    app.json = _JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    app.extensions["kiosk"] = kiosk
    install_security(app, kiosk.accounts, auth_config, allowed_hosts)
    app.register_blueprint(auth)
    app.register_blueprint(status_pages)
    app.register_blueprint(metrics_pages)
    app.register_blueprint(report_pages)
    app.register_blueprint(exams_api, url_prefix="/api")
    app.register_blueprint(worklist_api, url_prefix="/api")
    app.register_blueprint(scanner_api, url_prefix="/api")
    app.register_blueprint(admin_api, url_prefix="/api")
    app.register_blueprint(admin_pages)

    @app.get("/")
    def index() -> ResponseReturnValue:
        model = kiosk.status.model.info
        return render_template("index.html", notice=NOT_VALIDATED_NOTICE, model=model)

    @app.errorhandler(ApplianceError)
    def appliance_error(exc: ApplianceError) -> ResponseReturnValue:
        # The detail may hold what a client sent: logged escaped, never raw (log forging).
        log.warning("%s: %s %r", exc.reason_code, exc.message, exc.detail)
        return jsonify(exc.to_dict()), exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        return jsonify({"error": (exc.name or "error").lower().replace(" ", "_"),
                        "message": exc.description or exc.name}), code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unexpected error")
        return jsonify({"error": "internal_error",
                        "message": "Something went wrong on the appliance. Nothing was lost; try again or call "
                                   "support."}), 500

    return app
