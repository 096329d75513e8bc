"""The sandbox's knobs, and the keys it accepts.

`SandboxConfig` is read on every request, so a test may change a field of a
running server's `config` (for instance `server.config.fail_rate = 1.0`) and
the next request sees it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from console.sandbox.instance_settings import default_user_settings

InstanceKind = Literal["production", "development"]

# What a secret key looks like to the sandbox: the Clerk prefix and base62.
KEY_RE = re.compile(r"^sk_(test|live)_[A-Za-z0-9]{1,200}$")

AMBIGUOUS_MODES = ("502", "hang", "drop")
ECHO_KEY_MODES = ("full", "secret")
MAX_ROTATION = 9  # make_key(..., rotation=1..9) are recognised as keys of the same instance

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass
class SandboxConfig:
    production_limit: int = 1000  # requests per window, per instance (per key)
    development_limit: int = 100
    window_s: float = 10.0
    dev_user_cap: int = 100
    latency_ms: float = 0.0  # mean added latency per request
    jitter_ms: float = 0.0  # latency is uniform in [mean - jitter, mean + jitter], never < 0
    fail_rate: float = 0.0  # share of requests answered 5xx before anything is written
    ambiguous_rate: float = 0.0  # share of creates that ARE written but answer 502 / hang
    drop_rate: float = 0.0  # share of requests whose connection is dropped without an answer
    seed: int = 0
    # --- beyond docs/interfaces.md ---------------------------------------
    # How an ambiguous create fails, picked per request (seeded) among these:
    # "502" (written, then a 502), "hang" (written, then the answer is held
    # ambiguous_hang_s before the 200 goes out, so a client with a shorter
    # timeout gives up), "drop" (written, then the connection is closed).
    ambiguous_modes: tuple[str, ...] = ("502", "hang")
    ambiguous_hang_s: float = 30.0
    fail_statuses: tuple[int, ...] = (500, 502, 503)  # picked per failed request
    max_body_bytes: int = 1024 * 1024  # larger bodies: 413 request_body_too_large
    # The instance's settings, as Clerk's dashboard would have them: a password
    # is required (send skip_password_requirement to create a user without one)
    # and a user needs at least one identifier (email, phone, username, web3).
    password_required: bool = True
    identifier_required: bool = True
    # Keys of the right shape that the sandbox nevertheless refuses (401
    # clerk_key_invalid), e.g. to test a revoked key.
    rejected_keys: set[str] = field(default_factory=set)
    # --- round 2 ----------------------------------------------------------
    # The instance's settings as the Frontend API serves them under
    # `user_settings` (GET /v1/environment); creates and updates are checked
    # against them. Default: the demo's (email + password, Google and GitHub,
    # no username, no legal consent). See instance_settings.py.
    user_settings: dict[str, Any] = field(default_factory=default_user_settings)
    # Updates of one user (PATCH, ban/unban, email address writes) allowed per
    # update_window_s, like Clerk's "about 10 requests per 10 s per user".
    user_update_limit: int = 10
    user_update_window_s: float = 10.0
    # A misbehaving server for the secret-scrubbing tests: every error answer
    # echoes the request's key in its message, long_message and meta:
    # "full" (sk_live_…) or "secret" (the key without its sk_live_/sk_test_ prefix).
    echo_key: str | None = None
    # The ambiguous fault (ambiguous_rate, ambiguous_modes) also hits the writes of an
    # existing user: PATCH /v1/users/{id} and POST/PATCH/DELETE /v1/email_addresses are
    # carried out, then answered 502 / held / dropped (sync's lost-answer tests).
    ambiguous_writes: bool = False

    def limit_for(self, kind: InstanceKind) -> int:
        return self.production_limit if kind == "production" else self.development_limit


def kind_of_key(key: str) -> InstanceKind | None:
    """The instance kind a well-formed key names, None if the shape is wrong."""
    match = KEY_RE.match(key)
    if not match:
        return None
    return "production" if match.group(1) == "live" else "development"


def _base62(seed: str, n: int = 40) -> str:
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(n):
        digest, rem = divmod(digest, 62)
        chars.append(BASE62[rem])
    return "".join(chars)


def make_key(kind: Literal["production", "development"], name: str = "demo", rotation: int = 0) -> str:
    """A key the sandbox accepts: `sk_live_…` / `sk_test_…`, 40 base62 chars
    derived from `name` (the same name gives the same key, so the same instance
    on a given server). Any other well-formed key is its own instance too.

    `rotation=N` (1…9) gives the N-th rotated secret key of that same instance:
    another key (another fingerprint), the same users, the same `GET /v1/instance`
    id and the same rate-limit window, as when a key is rolled in Clerk's dashboard."""
    if kind not in ("production", "development"):
        raise ValueError(f"kind must be 'production' or 'development', not {kind!r}")
    prefix = "sk_live_" if kind == "production" else "sk_test_"
    key = prefix + _base62(f"{kind}:{name}")
    return rotated_key(key, rotation) if rotation else key


def rotated_key(key: str, rotation: int) -> str:
    """The `rotation`-th rotated key (1…9) of the instance `key` belongs to when
    `key` is its original key: same prefix, 40 other base62 chars."""
    if not 1 <= int(rotation) <= MAX_ROTATION:
        raise ValueError(f"rotation must be between 1 and {MAX_ROTATION}, not {rotation!r}")
    prefix = key[:8]
    return prefix + _base62(f"rotation:{int(rotation)}:{key}")


def make_publishable_key(kind: Literal["production", "development"], frontend_api_host: str) -> str:
    """`pk_live_…` / `pk_test_…` + base64 of `<frontend-api-host>$`, as Clerk
    builds them (the sandbox's host is `127.0.0.1:<port>`)."""
    import base64

    if kind not in ("production", "development"):
        raise ValueError(f"kind must be 'production' or 'development', not {kind!r}")
    prefix = "pk_live_" if kind == "production" else "pk_test_"
    return prefix + base64.b64encode(f"{frontend_api_host}$".encode()).decode().rstrip("=")


def instance_id_for(key: str) -> str:
    """`ins_…`: the id `GET /v1/instance` answers for the instance whose
    original key is `key` (stable across restarts of the sandbox)."""
    return "ins_" + _base62(f"instance:{key}", 27)
