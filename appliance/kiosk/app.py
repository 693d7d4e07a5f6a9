"""Flask app factory: the technician's page and the JSON API over one running Appliance."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.errors import ApplianceError
from appliance.kiosk.api import api
from appliance.runtime import Appliance

log = logging.getLogger(__name__)


def create_app(box: Appliance) -> Flask:
    """Build the kiosk for a running appliance (store open, model loaded)."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep right eye before left, as the clinic reads
    app.config["MAX_CONTENT_LENGTH"] = box.config.server.max_upload_bytes
    app.extensions["appliance"] = box
    app.register_blueprint(api, url_prefix="/api")

    @app.get("/")
    def index() -> ResponseReturnValue:
        return render_template("index.html", notice=NOT_VALIDATED_NOTICE, model=box.manifest.info(box.runner.name))

    @app.errorhandler(ApplianceError)
    def appliance_error(exc: ApplianceError) -> ResponseReturnValue:
        log.warning("%s: %s %s", exc.reason_code, exc.message, exc.detail)
        return jsonify(exc.to_dict()), exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        return jsonify({"error": (exc.name or "error").lower().replace(" ", "_"),
                        "message": exc.description or exc.name}), code

    return app
