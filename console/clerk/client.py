"""Async client for Clerk's Backend API (INTERFACE SKETCH — being implemented).

One `httpx.AsyncClient` (pooling, timeouts), `Clerk-API-Version` pinned, every
call paced by the shared `RequestBudget`. A 429 is known not to have been
carried out: the client reports it to the budget (which pauses every caller
for Retry-After) and sends the same call again itself, without counting an
attempt. Other errors become the typed exceptions of `console.clerk.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from console.clerk.limiter import RequestBudget
from console.clerk.models import DeletedObject, User
from console.settings import SecretKey

API_VERSION = "2025-11-10"
LOOKUP_BATCH = 100


class ClerkClient:
    def __init__(
        self,
        secret_key: SecretKey,
        base_url: str = "https://api.clerk.com",
        budget: RequestBudget | None = None,
        *,
        timeout: float = 30.0,
        max_connections: int = 100,
        transport: Any = None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> "ClerkClient": ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def aclose(self) -> None: ...

    async def create_user(self, body: dict[str, Any]) -> User:
        """POST /v1/users. Raises IdentifierExists, ClerkAPIError (422 etc.),
        QuotaExceeded, AuthenticationError, or UnknownOutcome (5xx/timeout/drop)."""
        raise NotImplementedError

    async def list_users(self, **params: Any) -> list[User]:
        """GET /v1/users with Clerk's params; list values become repeated keys."""
        raise NotImplementedError

    async def users_by_external_ids(self, external_ids: Sequence[str]) -> dict[str, User]:
        """external_id -> User, batched 100 per request."""
        raise NotImplementedError

    async def users_by_ids(self, user_ids: Sequence[str]) -> dict[str, User]:
        raise NotImplementedError

    async def users_by_emails(self, emails: Sequence[str]) -> dict[str, User]:
        """lower-cased email -> User (any of the user's addresses)."""
        raise NotImplementedError

    async def count_users(self, **params: Any) -> int:
        raise NotImplementedError

    async def get_user(self, user_id: str) -> User:
        raise NotImplementedError

    async def delete_user(self, user_id: str) -> DeletedObject:
        raise NotImplementedError
