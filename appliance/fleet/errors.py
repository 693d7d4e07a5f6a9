"""Errors of the update path. Each says to the operator what was refused and what to do."""

from __future__ import annotations

from appliance.errors import ApplianceError


class BundleRefusedError(ApplianceError):
    """A bundle that must not be installed: bad signature, untrusted or revoked key, a member that does
    not match its hash, truncated, for other hardware, or older than what runs. Nothing was changed."""

    reason_code = "bundle_refused"
    http_status = 422


class UpdateError(ApplianceError):
    """An update could not be carried out (disk full, no slot root, the service would not restart);
    the box still runs the version it ran before."""

    reason_code = "update_failed"
    http_status = 500


class UpdateBusyError(UpdateError):
    """Another update holds the slot lock, or an exam stayed open longer than the update may wait."""

    reason_code = "update_busy"
    http_status = 409


class SigningKeyError(ApplianceError):
    """A signing key or keyring file that cannot be read."""

    reason_code = "signing_key_invalid"
