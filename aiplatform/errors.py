"""Domain errors raised by services. They are mapped to HTTP status codes in
one place (aiplatform.api.errors) so views never build error responses."""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.extra = extra or {}


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class UpstreamError(DomainError):
    """The upstream answered, but with an error."""

    status_code = 502
    code = "upstream_error"


class UpstreamUnavailable(DomainError):
    """The upstream (or a needed dependency) cannot be reached or is not set up."""

    status_code = 503
    code = "unavailable"


class UpstreamTimeout(DomainError):
    status_code = 504
    code = "upstream_timeout"
