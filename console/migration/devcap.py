"""The Development instance's user cap: one number, three sources.

Clerk documents that a Development instance holds at most 100 users
(`console.settings.DEV_USER_CAP`, the number every part reads); it was briefly
500 in early 2026, and an instance may differ. So the engine takes, in order:

1. what Clerk itself said last: a 403 `user_quota_exceeded` whose message names
   the limit ("You have reached your limit of N users.") is kept in the journal
   (meta `dev_cap`) and wins from then on;
2. the operator's `import --dev-cap N` (kept in the run's settings);
3. DEV_USER_CAP.

`dev_room(client, to_send, cap)` is the one rule every face asks (the importer before its
first create, `--detach` before a worker starts, the preflight of an export, the
console's plan): users there + rows to send <= cap, else `dev_instance_cap` saying how
many fit and where the cap comes from.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from console.settings import DEV_USER_CAP

_LIMIT = re.compile(r"limit of\s+([0-9][0-9,]*)\s+users?", re.IGNORECASE)


@dataclass(frozen=True)
class DevCap:
    limit: int
    source: str  # "clerk" | "dev-cap" | "default"

    @property
    def said(self) -> str:
        return {
            "clerk": "as Clerk said in its quota answer",
            "dev-cap": "as --dev-cap says",
            "default": "Clerk's documented cap; --dev-cap N if this instance holds another number",
        }[self.source]


def limit_from_message(*texts: str | None) -> int | None:
    """N from Clerk's "You have reached your limit of N users." (None when no text names one)."""
    for text in texts:
        m = _LIMIT.search(text or "")
        if m:
            value = int(m.group(1).replace(",", ""))
            if value > 0:
                return value
    return None


def effective_cap(journal: Any, override: int | None = None) -> DevCap:
    """The cap for this run: Clerk's last word > --dev-cap (this session's, else the run's) > default."""
    learned = journal.get_meta("dev_cap")
    if isinstance(learned, dict) and isinstance(learned.get("limit"), int) and learned["limit"] > 0:
        return DevCap(learned["limit"], "clerk")
    if override is None:
        stored = (journal.info.settings or {}).get("dev_cap")
        override = stored if isinstance(stored, int) and stored > 0 else None
    if override is not None:
        return DevCap(int(override), "dev-cap")
    return DevCap(DEV_USER_CAP, "default")


@dataclass(frozen=True)
class DevRoom:
    """What a Development instance can still take: `existing` users there now, `cap`, and the
    rows `to_send`."""

    existing: int
    cap: DevCap
    to_send: int

    @property
    def fit(self) -> int:
        return max(0, self.cap.limit - self.existing)

    @property
    def fits(self) -> bool:
        return self.existing + self.to_send <= self.cap.limit

    def message(self, rows: str | None = None) -> str:
        """The one sentence: `rows` says what is to send ("this run has N to import" by default)."""
        rows = rows or f"this run has {self.to_send} to import"
        return (f"the Development instance holds {self.existing} user(s) and at most {self.cap.limit} "
                f"({self.cap.said}): {self.fit} more fit, {rows}; import a subset of at most {self.fit} rows "
                "or use a Production instance")

    def refusal(self, rows: str | None = None) -> Any:
        """RunRefused (code dev_instance_cap) with the sentence, or None when the rows fit."""
        if self.fits:
            return None
        from console.migration.run import RunRefused

        return RunRefused(self.message(rows), code="dev_instance_cap")


async def dev_room(client: Any, to_send: int, cap: DevCap) -> DevRoom:
    """Count the instance's users (one request, paced by the client's budget). RunRefused
    "unauthorized" (Clerk refused the key) or "count_failed" (no answer)."""
    from console.clerk.errors import AuthenticationError, ClerkError
    from console.migration.run import RunRefused

    try:
        existing = await client.count_users()
    except AuthenticationError as exc:
        raise RunRefused(f"Clerk refused the key: {exc}", code="unauthorized") from None
    except ClerkError as exc:
        raise RunRefused(f"cannot count the Development instance's users: {exc}", code="count_failed") from None
    return DevRoom(existing, cap, to_send)


async def count_room(settings: Any, to_send: int, cap: DevCap, *, client: Any = None) -> DevRoom:
    """dev_room with a client of its own when none is given (`--detach`, the console's plan)."""
    from console.clerk.client import ClerkClient
    from console.clerk.limiter import RequestBudget

    own = client is None
    if own:
        key = settings.secret_key
        client = ClerkClient(key, settings.base_url, RequestBudget.for_instance(key.instance_kind), timeout=15.0)
    try:
        return await dev_room(client, to_send, cap)
    finally:
        if own:
            await client.aclose()


async def check_dev_room(settings: Any, to_send: int, cap: DevCap, *, client: Any = None) -> DevRoom:
    """count_room, refused (RunRefused dev_instance_cap) when the rows do not fit."""
    room = await count_room(settings, to_send, cap, client=client)
    refusal = room.refusal()
    if refusal is not None:
        raise refusal
    return room


def learn_from_quota(journal: Any, exc: Any) -> int | None:
    """Keep the limit a user_quota_exceeded answer names (meta `dev_cap`); returns it."""
    limit = limit_from_message(getattr(exc, "long_message", None), getattr(exc, "message", None))
    if limit is not None:
        journal.set_meta("dev_cap", {"limit": limit, "at": time.time()})
    return limit


__all__ = ["DEV_USER_CAP", "DevCap", "DevRoom", "check_dev_room", "count_room", "dev_room", "effective_cap", "learn_from_quota",
           "limit_from_message"]
