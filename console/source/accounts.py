"""An Auth.js accounts export beside a users export: who signed in with which
OAuth provider, joined to the users by `userId`.

Read once, streamed, in any format a users export may have (JSON array, NDJSON,
CSV, `mongoexport` output), into one map: user id (as text: a cuid, a
MongoDB ObjectId's hex string, the pg adapter's integer) -> a tuple of provider
names. Only `userId`, `provider` and `type` are looked at; tokens and every
other column are read past and never kept. Rows of a type that proves no email
address (`email`, `credentials`, `webauthn`) are counted, not joined.

Memory: one dict entry per user with an OAuth account. The provider names and
the tuples of them are shared (a handful of distinct tuples in a whole file),
so an entry costs its key string and a dict slot: ~130 bytes for a cuid or an
ObjectId key, i.e. ~130 MB for 1,000,000 users (measured in docs/source.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.source.readers import (
    ExportError,
    _records,
    _Tap,
    _where,
    check_path,
    open_regular,
    sniff_format,
)
from console.source.shapes import NON_OAUTH_ACCOUNT_TYPES, plain_id

USER_ID_KEYS = ("userId", "user_id")  # what open_accounts reads (kept in step with its loop)
PROVIDER_KEYS = ("provider",)


@dataclass
class AccountsIndex:
    """The join: `providers[user_id]` -> OAuth provider names (sorted)."""

    path: Path
    format: str
    sha256: str
    size_bytes: int
    rows: int = 0  # account rows read
    joined: int = 0  # rows that name an OAuth provider of a user id
    not_oauth: int = 0  # rows of type email / credentials / webauthn
    incomplete: int = 0  # rows without a user id or a provider
    providers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def users(self) -> int:
        """Distinct user ids with an OAuth account."""
        return len(self.providers)

    def get(self, user_id: str) -> tuple[str, ...] | None:
        return self.providers.get(user_id)

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "rows": self.rows,
            "users": self.users,
            "not_oauth": self.not_oauth,
            "incomplete": self.incomplete,
        }


def open_accounts(path: str | Path, *, fmt: str | None = None) -> AccountsIndex:
    """Read an accounts export into an AccountsIndex. Raises ExportError (one
    line: file, row / line / byte offset, what was expected)."""
    path = Path(path)
    size = check_path(path)
    format_ = sniff_format(path, fmt)
    index_providers: dict[str, tuple[str, ...]] = {}
    names: dict[str, str] = {}  # one string per provider name
    tuples: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per set of names
    rows = joined = not_oauth = incomplete = 0
    with open_regular(path) as f:
        tap = _Tap(f, path)
        header, records = _records(format_, tap, path)
        for row, obj in records:
            rows = row
            if row == 1:
                _check_first(path, format_, header, obj)
            kind = obj.get("type")
            if type(kind) is str and kind.strip().lower() in NON_OAUTH_ACCOUNT_TYPES:
                not_oauth += 1
                continue
            uid = obj.get("userId")
            uid = plain_id(uid if uid is not None else obj.get("user_id"))
            provider = obj.get("provider")
            if uid is None or type(provider) is not str or not provider.strip():
                incomplete += 1
                continue
            provider = provider.strip()
            provider = names.setdefault(provider, provider)
            joined += 1
            current = index_providers.get(uid)
            if current is None:
                key: tuple[str, ...] = (provider,)
            elif provider in current:
                continue
            else:
                key = tuple(sorted((*current, provider)))
            index_providers[uid] = tuples.setdefault(key, key)
        if rows == 0 and header is not None:
            _check_first(path, format_, header, None)
        tap.drain()
    return AccountsIndex(path, format_, tap.hexdigest(), size, rows, joined, not_oauth, incomplete,
                         index_providers)


def _check_first(path: Path, fmt: str, header: list[str] | None, first: dict[Any, Any] | None) -> None:
    keys = list(header) if header is not None else [k for k in (first or {}) if type(k) is str]
    has_user = any(k in keys for k in USER_ID_KEYS)
    has_provider = any(k in keys for k in PROVIDER_KEYS)
    if has_user and has_provider:
        return
    where = _where(path, line=1) if fmt == "csv" else _where(path, row=1)
    missing = " and no ".join(w for w, ok in (("userId", has_user), ("provider", has_provider)) if not ok)
    looks_like_users = "email" in keys and not has_provider
    hint = (" (this looks like a users export: --accounts takes the Auth.js accounts table, "
            "userId, type, provider, providerAccountId, …)") if looks_like_users else (
            ": expected an Auth.js accounts export (userId, type, provider, providerAccountId, …)")
    raise ExportError(f"{where}no {missing} field (found: {', '.join(map(str, keys)) or 'none'}){hint}")


__all__ = ["AccountsIndex", "ExportError", "open_accounts"]
