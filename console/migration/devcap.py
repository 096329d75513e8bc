"""The Development instance's user cap: one number, three sources.

Clerk documents that a Development instance holds at most 100 users
(`console.settings.DEV_USER_CAP`, the number every part reads); it was briefly
500 in early 2026, and an instance may differ. So the engine takes, in order:

1. what Clerk itself said last: a 403 `user_quota_exceeded` whose message names
   the limit ("You have reached your limit of N users.") is kept in the journal
   (meta `dev_cap`) and wins from then on;
2. the operator's `import --dev-cap N` (kept in the run's settings);
3. DEV_USER_CAP.
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


def learn_from_quota(journal: Any, exc: Any) -> int | None:
    """Keep the limit a user_quota_exceeded answer names (meta `dev_cap`); returns it."""
    limit = limit_from_message(getattr(exc, "long_message", None), getattr(exc, "message", None))
    if limit is not None:
        journal.set_meta("dev_cap", {"limit": limit, "at": time.time()})
    return limit


__all__ = ["DEV_USER_CAP", "DevCap", "effective_cap", "learn_from_quota", "limit_from_message"]
