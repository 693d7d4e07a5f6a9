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
