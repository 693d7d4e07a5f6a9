"""Typed errors. Each carries a reason code (stable, for logs and the API) and an operator sentence.

The kiosk and the CLI print `message`; logs keep `detail`.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base of every error the appliance reports to an operator."""

    reason_code: str = "appliance_error"
    http_status: int = 500

    def __init__(self, message: str, *, reason_code: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        if reason_code is not None:
            self.reason_code = reason_code
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        return {"error": self.reason_code, "message": self.message}


class ConfigError(ApplianceError):
    """The configuration file or an APPLIANCE_* variable is invalid."""

    reason_code = "config_invalid"


class ImageError(ApplianceError):
    """An image cannot be screened at all (before any quality judgement)."""

    reason_code = "image_invalid"
    http_status = 422


class ImageDecodeError(ImageError):
    """Empty, truncated, corrupt, or not an image (a PDF, a text file)."""

    reason_code = "image_unreadable"


class ImageTooLargeError(ImageError):
    """Over the configured byte or pixel limit."""

    reason_code = "image_too_large"
    http_status = 413


class UnsupportedImageError(ImageError):
    """A readable image of a kind the appliance does not screen (grayscale, 16-bit)."""

    reason_code = "image_unsupported"


class ExamInputError(ApplianceError):
    """The exam is incomplete or malformed (a missing eye, an unknown eye label, no patient id)."""

    reason_code = "exam_invalid"
    http_status = 400


class ModelError(ApplianceError):
    """The model cannot be loaded or run."""

    reason_code = "model_error"
    http_status = 503


class ManifestError(ModelError):
    """A model manifest is missing, unreadable or incomplete."""

    reason_code = "model_manifest_invalid"


class ModelIntegrityError(ModelError):
    """The model file's sha256 does not match its manifest: it may have been tampered with."""

    reason_code = "model_integrity"


class RunnerUnavailableError(ModelError):
    """The requested inference backend cannot run on this box."""

    reason_code = "runner_unavailable"


class StorageError(ApplianceError):
    """The store could not durably write (disk full, permissions, corruption)."""

    reason_code = "storage_failed"
    http_status = 507


class ExamNotFoundError(ApplianceError):
    """No exam with that id."""

    reason_code = "exam_not_found"
    http_status = 404


class CameraError(ApplianceError):
    """The camera gave no image."""

    reason_code = "camera_failed"
    http_status = 503


class ExamStateError(ApplianceError):
    """The exam is not in a state that allows this (a photo added to a finished exam, a second finish)."""

    reason_code = "exam_not_open"
    http_status = 409


class EyeSideDoubtError(ExamInputError):
    """A photo looks like the other eye, or the same photo was given for both eyes: confirm or retake."""

    reason_code = "eye_side_doubt"
    http_status = 409


class UserInputError(ApplianceError):
    """A user id, display name, role or PIN that the appliance does not accept."""

    reason_code = "user_invalid"
    http_status = 400


class UserNotFoundError(ApplianceError):
    """No user with that id (for administrators; sign-in never says so)."""

    reason_code = "user_not_found"
    http_status = 404


class SignInError(ApplianceError):
    """Sign-in refused, or the request needs a sign-in (none, ended or timed out)."""

    reason_code = "sign_in_failed"
    http_status = 401


class AccountLockedError(SignInError):
    """Too many wrong PINs in a row: sign-in is refused until `retry_after_s` has passed."""

    reason_code = "account_locked"
    http_status = 423

    def __init__(self, message: str, *, retry_after_s: int, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.retry_after_s = retry_after_s


class AccessDeniedError(ApplianceError):
    """Signed in, but this needs another role, or the request failed a cross-site check."""

    reason_code = "access_denied"
    http_status = 403


class CsrfError(AccessDeniedError):
    """A state-changing request without the page's CSRF token (or with a wrong one)."""

    reason_code = "csrf_failed"


class HostNotAllowedError(ApplianceError):
    """The request's Host header names no address the kiosk serves (DNS rebinding)."""

    reason_code = "host_not_allowed"
    http_status = 400


class SyncStateError(ApplianceError):
    """A sync item that does not exist, or cannot be changed as asked (re-queue an item already sent)."""

    reason_code = "sync_item_invalid"
    http_status = 409


class WorklistUnavailableError(ApplianceError):
    """The clinic's worklist cannot be asked (not configured, offline, refused): the technician types the id."""

    reason_code = "worklist_unavailable"
    http_status = 503


class BusyError(ApplianceError):
    """The appliance has as much work in flight as it takes at once: the client tries again after
    `retry_after_s` seconds (HTTP 503 with a Retry-After header)."""

    reason_code = "appliance_busy"
    http_status = 503
    retry_after_s = 2
