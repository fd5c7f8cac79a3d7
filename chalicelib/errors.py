"""Domain exceptions. `app.py` maps each to one HTTP status in one place.

Nothing here imports chalice, so the domain code stays usable outside a request.
"""

from __future__ import annotations


class GalleryError(Exception):
    """Base of every error the API reports to its caller as a 4xx or 503."""

    status = 400
    code = "BadRequestError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GalleryError):
    """The request is malformed or a value is out of range."""


class Unauthorized(GalleryError):
    """No valid credentials: a missing, expired or forged token, or a failed login."""

    status = 401
    code = "UnauthorizedError"


class Forbidden(GalleryError):
    """The caller is known but may not do this (e.g. an unconfirmed account)."""

    status = 403
    code = "ForbiddenError"


class NotFound(GalleryError):
    """Unknown, or not the caller's: both answer the same so ids cannot be probed."""

    status = 404
    code = "NotFoundError"


class Conflict(GalleryError):
    """The resource already exists (a taken username) or changed under us."""

    status = 409
    code = "ConflictError"


class PayloadTooLarge(GalleryError):
    """The body is larger than the route accepts."""

    status = 413
    code = "RequestEntityTooLargeError"


class UnsupportedMediaType(GalleryError):
    """The body's type is not one the route accepts."""

    status = 415
    code = "UnsupportedMediaType"


class TooManyRequests(GalleryError):
    """Slow down (e.g. guessing a share password)."""

    status = 429
    code = "TooManyRequestsError"


class ServiceUnavailable(GalleryError):
    """A dependency failed or throttled: the client should retry after `retry_after` seconds."""

    status = 503
    code = "ServiceUnavailable"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
