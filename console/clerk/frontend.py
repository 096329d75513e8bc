"""Clerk's Frontend API, read without the secret key: the instance's settings.

A publishable key is `pk_live_` / `pk_test_` + base64 of `<frontend-api-host>$`
(Clerk drops the base64 padding). `GET https://<host>/v1/environment` answers
the instance's public settings; `InstanceSettings` keeps what a migration
checks an export against. `CLERK_FRONTEND_API_URL` (the sandbox's URL, or a
proxy) overrides the host taken from the key.

    settings = await fetch_environment(publishable_key="pk_live_…")
    settings = await fetch_environment(frontend_api_url="http://127.0.0.1:8787")
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from typing import Any

import httpx
from pydantic import ValidationError

from console.clerk.errors import ClerkError, InvalidPublishableKey, ServerError, TransportError, error_class_for
from console.clerk.limiter import RequestBudget
from console.clerk.models import ErrorBody, InstanceSettings

PUBLISHABLE_PREFIXES = ("pk_live_", "pk_test_")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")
DEFAULT_TIMEOUT_S = 10.0


def publishable_key_kind(key: str) -> str | None:
    """`production` for pk_live_, `development` for pk_test_, else None."""
    if key.startswith("pk_live_"):
        return "production"
    if key.startswith("pk_test_"):
        return "development"
    return None


def frontend_api_host(publishable_key: str) -> str:
    """The Frontend API host a publishable key names (`clerk.example.com`,
    `grown-humpback-96.clerk.accounts.dev`, `127.0.0.1:8787`). Raises
    InvalidPublishableKey with one line (the key is public: it may be shown)."""
    key = (publishable_key or "").strip()
    prefix = next((p for p in PUBLISHABLE_PREFIXES if key.startswith(p)), None)
    if prefix is None:
        shown = key[:12] + "…" if len(key) > 12 else key
        raise InvalidPublishableKey(f"the publishable key {shown!r} starts with neither pk_live_ nor pk_test_",
                                    code="publishable_key_invalid")
    encoded = key[len(prefix):]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidPublishableKey(f"the publishable key {key!r} does not hold a base64 host",
                                    code="publishable_key_invalid") from None
    if not decoded.endswith("$") or not _HOST_RE.match(decoded[:-1]):
        raise InvalidPublishableKey(f"the publishable key {key!r} does not name a Frontend API host (<host>$)",
                                    code="publishable_key_invalid")
    return decoded[:-1]


def frontend_api_url_for(publishable_key: str | None = None, frontend_api_url: str | None = None) -> str:
    """The Frontend API's base URL: `frontend_api_url` (CLERK_FRONTEND_API_URL)
    when given, else `https://<host from the key>` (plain http only for a
    loopback host, i.e. the sandbox). No trailing `/`, no `/v1`."""
    if frontend_api_url:
        url = frontend_api_url.strip().rstrip("/")
        url = url[: -len("/v1")] if url.endswith("/v1") else url
        if "://" not in url:
            url = ("http://" if _is_loopback(url) else "https://") + url
        return url
    if not publishable_key:
        raise InvalidPublishableKey("no publishable key (CLERK_PUBLISHABLE_KEY or NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY) "
                                    "and no CLERK_FRONTEND_API_URL", code="publishable_key_missing")
    host = frontend_api_host(publishable_key)
    return ("http://" if _is_loopback(host) else "https://") + host


async def fetch_environment(
    publishable_key: str | None = None,
    *,
    frontend_api_url: str | None = None,
    budget: RequestBudget | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    transport: Any = None,
) -> InstanceSettings:
    """GET <Frontend API>/v1/environment -> InstanceSettings. No secret key is
    sent (no Authorization header at all). One attempt: an unreachable host or
    a timeout is a TransportError, a 5xx a ServerError, a 4xx a ClerkAPIError,
    an answer that is not Clerk's environment a ClerkAPIError code
    `malformed_response`. `budget`, when given, paces this request with the others."""
    base = frontend_api_url_for(publishable_key, frontend_api_url)
    where = "GET /v1/environment"
    if budget is not None:
        await budget.acquire()
    error: ClerkError | None = None
    status = None
    body = b""
    retry_after = None
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        transport=transport,
        follow_redirects=False,
        headers={"Accept": "application/json"},
    ) as http:
        try:
            response = await http.get(base + "/v1/environment")
            status, body = response.status_code, response.content
            retry_after = response.headers.get("retry-after")
        except httpx.TimeoutException as exc:
            error = TransportError(f"{where} at {base}: {type(exc).__name__}", code="timeout")
        except httpx.HTTPError as exc:
            error = TransportError(f"{where} at {base}: {type(exc).__name__}: {str(exc)[:200]}", code="connect_error")
    if error is not None:
        raise error
    if status is None or not 200 <= status < 300:
        raise _http_error(where, base, status or 0, body, retry_after)
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("user_settings", data), dict):
            raise ValueError("not an object")
        settings = InstanceSettings.from_environment(data)
    except (ValueError, ValidationError):
        settings = None
    if settings is None:
        raise error_class_for(400, "malformed_response")(
            f"{where} at {base}: the answer is not Clerk's environment", status=status, code="malformed_response")
    return settings


def _http_error(where: str, base: str, status: int, body: bytes, retry_after: str | None) -> ClerkError:
    from console.clerk.limiter import parse_retry_after

    code = "server_error" if status >= 500 else f"http_{status}"
    message = f"{where} at {base}: HTTP {status}"
    long_message = None
    try:
        parsed = ErrorBody.model_validate(json.loads(body)) if body else None
    except (ValueError, ValidationError):
        parsed = None
    if parsed is not None and parsed.errors:
        code = parsed.errors[0].code or code
        long_message = parsed.errors[0].long_message or parsed.errors[0].message or None
    cls = error_class_for(status, code)
    if status >= 500:
        cls = ServerError
    return cls(message, status=status, code=code, long_message=long_message,
               retry_after=parse_retry_after(retry_after))


def _is_loopback(host_or_url: str) -> bool:
    host = host_or_url.split("://", 1)[-1].split("/", 1)[0]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
