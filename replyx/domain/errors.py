"""Errors of the domain layer, each mapped to one HTTP status and one `error` event code."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the client can understand: a status, a machine code and a sentence."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    """The request is malformed."""

    status_code = 422
    code = "bad_request"


class TooLong(DomainError):
    """The message text is longer than allowed."""

    status_code = 422
    code = "too_long"


class Unauthorized(DomainError):
    """A credential is missing, invalid or expired."""

    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """The credential is valid but does not grant this resource."""

    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    """The resource does not exist."""

    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    """The resource's state does not allow this action."""

    status_code = 409
    code = "conflict"


class DialogClosed(Conflict):
    """Nobody writes into a closed dialog."""

    code = "dialog_closed"


class RateLimited(DomainError):
    """Too many requests in the current window; ``retry_after`` seconds when known."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Storage is unreachable; nothing was written, the client may retry."""

    status_code = 503
    code = "unavailable"
