"""Clerk API errors as typed exceptions.

Every error keeps the HTTP status, Clerk's code, `meta.param_name`, the
message, the trace id and Retry-After, and says whether the outcome of the
call is known. A 4xx is a definite answer (nothing was written); a 5xx, a
timeout or a dropped connection on a create is not: the user may exist.
No exception text ever contains the secret key.
"""

from __future__ import annotations


class ClerkError(Exception):
    """Base class: anything the Clerk client raises."""

    status: int | None = None
    code: str = "unknown"
    param_name: str | None = None
    message: str = ""
    long_message: str | None = None
    trace_id: str | None = None
    retry_after: float | None = None
    outcome_known: bool = True
    errors: tuple[dict, ...] = ()  # every item of Clerk's `errors` array (the first is the one above)

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "unknown",
        param_name: str | None = None,
        long_message: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        outcome_known: bool | None = None,
        meta: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param_name = param_name
        self.long_message = long_message
        self.trace_id = trace_id
        self.retry_after = retry_after
        self.meta = meta or {}
        if outcome_known is not None:
            self.outcome_known = outcome_known

    def __str__(self) -> str:
        where = f" ({self.param_name})" if self.param_name else ""
        status = f"HTTP {self.status} " if self.status else ""
        return f"{status}{self.code}{where}: {self.long_message or self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, param_name={self.param_name!r})"


class ClerkAPIError(ClerkError):
    """A 4xx answer with Clerk's error shape: the outcome is known."""


class AuthenticationError(ClerkAPIError):
    """401: bad, revoked or malformed key."""


class QuotaExceeded(ClerkAPIError):
    """403 user_quota_exceeded: the Development instance's user cap."""


class NotFound(ClerkAPIError):
    """404 resource_not_found."""


class IdentifierExists(ClerkAPIError):
    """422 form_identifier_exists: email, phone, username or external_id taken."""


class RateLimited(ClerkAPIError):
    """429 too_many_requests, with Retry-After in seconds (None when absent)."""


class PasswordNotSet(ClerkAPIError):
    """400 from verify_password: the user has no password to check."""


class InvalidPublishableKey(ClerkError, ValueError):
    """A publishable key that is not `pk_live_`/`pk_test_` + base64 of `<host>$`."""


class UnknownOutcome(ClerkError):
    """5xx, timeout or connection error: the request may or may not have been
    carried out. A create that ends here must be looked up before a resend."""

    outcome_known = False


class ServerError(UnknownOutcome):
    """A 5xx answer."""


class TransportError(UnknownOutcome):
    """Timeout, refused or dropped connection, malformed response."""


def error_class_for(status: int, code: str) -> type[ClerkError]:
    if status == 401:
        return AuthenticationError
    if status == 403 and code == "user_quota_exceeded":
        return QuotaExceeded
    if status == 404:
        return NotFound
    if status == 429:
        return RateLimited
    if status == 422 and code == "form_identifier_exists":
        return IdentifierExists
    if status >= 500:
        return ServerError
    return ClerkAPIError
