"""The run marker: how Clerk itself says which users a run created.

Every create the engine sends carries one small key in the user's
`private_metadata` (readable only with the secret key, never by the app's
frontend), merged with the row's own private metadata:

    "private_metadata": {"clerk_migrate": {"run": "<run id>"}, ...the row's own keys}

The run id is 16 random hex characters, made when the run folder is created
and kept in its journal. A Clerk user counts as created by a run only when
Clerk's copy carries that run's marker: after a lost answer (the lookup by
external id), on `form_identifier_exists`, on resuming rows left `creating`,
in the reconcile of a damaged journal, and in `undo`, which deletes nothing
else. A user without it was there before the run (or was made by another run
folder), whatever its timestamps say.

The marker costs 43 bytes of Clerk's 8 KB metadata allowance; a row whose
metadata would pass 8 KB with it is refused at load (`metadata_too_large`), and
a row whose own private metadata already uses the key `clerk_migrate` is
refused (`metadata_invalid`). `clerk-migrate unmark --run DIR` removes the
markers after the migration (one PATCH /v1/users/{id}/metadata per user with
`{"private_metadata": {"clerk_migrate": null}}`, which Clerk deep-merges:
a key set to null is removed); after that, undo can no longer tell the run's
users and deletes none.
"""

from __future__ import annotations

import json
from typing import Any

MARKER_KEY = "clerk_migrate"
METADATA_FIELDS = ("public_metadata", "private_metadata", "unsafe_metadata")


def _max_bytes() -> int:
    from console.source.checks import METADATA_MAX_BYTES

    return METADATA_MAX_BYTES


class MarkerError(ValueError):
    """The row's metadata cannot take the run marker; `code` is the issue code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def marker(run_id: str) -> dict[str, Any]:
    """The value under MARKER_KEY."""
    return {"run": run_id}


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def marker_bytes(run_id: str) -> int:
    """What the marker adds to an object's compact JSON (key, value and a comma)."""
    return _json_size({MARKER_KEY: marker(run_id)}) - 2 + 1


def check_metadata(metadata: dict[str, dict[str, Any] | None], run_id: str) -> None:
    """Raise MarkerError when the row's metadata (public/private/unsafe) cannot carry the
    marker: the key is taken, or the three together would pass Clerk's 8 KB with it."""
    private = metadata.get("private_metadata") or {}
    if isinstance(private, dict) and MARKER_KEY in private:
        raise MarkerError(
            f"private_metadata holds the key {MARKER_KEY!r}, which the run marker uses: rename it in the export",
            "metadata_invalid",
        )
    total = sum(_json_size(v) for v in metadata.values() if v)
    extra = marker_bytes(run_id) if private else _json_size({MARKER_KEY: marker(run_id)})
    limit = _max_bytes()
    if total + extra > limit:
        raise MarkerError(
            f"metadata is {total} bytes as JSON, {total + extra} with the run marker ({extra} bytes); "
            f"Clerk allows {limit} in all",
            "metadata_too_large",
        )


def with_run_marker(body: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The create body with the run marker merged into its private_metadata (a new dict;
    the row's own keys kept). Raises MarkerError (see check_metadata)."""
    check_metadata({name: body.get(name) for name in METADATA_FIELDS}, run_id)
    out = dict(body)
    out["private_metadata"] = {**(body.get("private_metadata") or {}), MARKER_KEY: marker(run_id)}
    return out


def run_of(user: Any) -> str | None:
    """The run id a Clerk user's marker names (a `User` model or its JSON), None without one."""
    private = user.get("private_metadata") if isinstance(user, dict) else getattr(user, "private_metadata", None)
    if not isinstance(private, dict):
        return None
    value = private.get(MARKER_KEY)
    if not isinstance(value, dict):
        return None
    run = value.get("run")
    return run if isinstance(run, str) else None


def carries_marker(user: Any, run_id: str | None) -> bool:
    """Whether this Clerk user was created by the run `run_id` (Clerk's copy says so)."""
    return run_id is not None and run_of(user) == run_id


def strip_body() -> dict[str, Any]:
    """The PATCH /v1/users/{id}/metadata body that removes the marker (deep merge: null deletes)."""
    return {"private_metadata": {MARKER_KEY: None}}


__all__ = [
    "MARKER_KEY",
    "MarkerError",
    "carries_marker",
    "check_metadata",
    "marker",
    "marker_bytes",
    "run_of",
    "strip_body",
    "with_run_marker",
]
