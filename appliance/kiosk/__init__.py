"""The kiosk: a Flask app factory, the JSON API and the technician's page. Calls pipeline and store."""

from appliance.kiosk.app import create_app

__all__ = ["create_app"]
