"""Clerk's error shape, and the errors the sandbox answers with.

Every error body is exactly
`{"errors": [{"message", "long_message", "code", "meta": {…}}], "clerk_trace_id": "…"}`.
No message ever contains the secret key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any


def trace_id() -> str:
    return secrets.token_hex(16)


@dataclass
class ErrorItem:
    code: str
    message: str
    long_message: str
    meta: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "long_message": self.long_message,
            "code": self.code,
            "meta": dict(self.meta),
        }


class ApiError(Exception):
    """Raised inside a handler; becomes a Clerk-shaped error response."""

    def __init__(
        self,
        status: int,
        items: list[ErrorItem] | ErrorItem,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.items = items if isinstance(items, list) else [items]
        self.headers = headers or {}
        super().__init__(f"HTTP {status} {self.items[0].code}")

    @property
    def code(self) -> str:
        return self.items[0].code

    def body(self) -> dict[str, Any]:
        return {"errors": [item.as_json() for item in self.items], "clerk_trace_id": trace_id()}

    def body_bytes(self) -> bytes:
        return json.dumps(self.body()).encode()


def error(
    status: int,
    code: str,
    message: str,
    long_message: str | None = None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **meta: Any,
) -> ApiError:
    if param is not None:
        meta = {"param_name": param, **meta}
    return ApiError(status, ErrorItem(code, message, long_message or message, meta), headers)


def form_error(code: str, param: str, message: str, long_message: str | None = None) -> ErrorItem:
    return ErrorItem(code, message, long_message or message, {"param_name": param})


# --- the errors the sandbox uses, in one place ---------------------------------


def header_format_invalid() -> ApiError:
    return error(
        401,
        "authorization_header_format_invalid",
        "Invalid Authorization header format",
        'Invalid Authorization header format. Must be "Bearer <YOUR_API_KEY>"',
    )


def key_invalid() -> ApiError:
    return error(
        401,
        "clerk_key_invalid",
        "Secret key invalid",
        "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
    )


def too_many_requests(retry_after: int) -> ApiError:
    return error(
        429,
        "too_many_requests",
        "Too Many Requests",
        "Too many requests, retry later",
        headers={"Retry-After": str(retry_after)},
    )


def not_found(what: str = "resource") -> ApiError:
    return error(404, "resource_not_found", "not found", f"{what} not found")


def user_not_found(user_id: str) -> ApiError:
    return error(404, "resource_not_found", "not found", f"No user was found with id {user_id}")


def method_not_allowed() -> ApiError:
    return error(405, "method_not_allowed", "Method not allowed", "This method is not allowed on this endpoint.")


def body_invalid(detail: str) -> ApiError:
    return error(400, "request_body_invalid", "Request body invalid", f"The request body is invalid: {detail}")


def body_too_large(limit: int) -> ApiError:
    return error(
        413,
        "request_body_too_large",
        "Request body too large",
        f"The request body is larger than the limit of {limit} bytes.",
    )


def api_version_invalid(value: str) -> ApiError:
    shown = value if len(value) <= 40 else value[:40] + "…"
    return error(
        400,
        "api_version_invalid",
        "Invalid API version",
        f"The Clerk-API-Version header value {shown!r} is not a supported API version.",
    )


def quota_exceeded(cap: int) -> ApiError:
    text = f"You have reached your limit of {cap} users."
    return error(403, "user_quota_exceeded", text, text)


def server_error(status: int) -> ApiError:
    if status == 500:
        return error(500, "internal_clerk_error", "Oops, an unexpected error occurred",
                     "There was an internal error on our servers. We've been notified and are working on fixing it.")
    if status == 503:
        return error(503, "service_unavailable", "Service unavailable",
                     "The service is temporarily unavailable. Please retry later.")
    return error(status, "bad_gateway", "Bad gateway", "The upstream server did not answer in time.")
