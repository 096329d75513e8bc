"""The sandbox's knobs, and the keys it accepts.

`SandboxConfig` is read on every request, so a test may change a field of a
running server's `config` (for instance `server.config.fail_rate = 1.0`) and
the next request sees it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

InstanceKind = Literal["production", "development"]

# What a secret key looks like to the sandbox: the Clerk prefix and base62.
KEY_RE = re.compile(r"^sk_(test|live)_[A-Za-z0-9]{1,200}$")

AMBIGUOUS_MODES = ("502", "hang", "drop")

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

    def limit_for(self, kind: InstanceKind) -> int:
        return self.production_limit if kind == "production" else self.development_limit


def kind_of_key(key: str) -> InstanceKind | None:
    """The instance kind a well-formed key names, None if the shape is wrong."""
    match = KEY_RE.match(key)
    if not match:
        return None
    return "production" if match.group(1) == "live" else "development"


def make_key(kind: Literal["production", "development"], name: str = "demo") -> str:
    """A key the sandbox accepts: `sk_live_…` / `sk_test_…`, 40 base62 chars
    derived from `name` (the same name gives the same key, so the same instance
    on a given server). Any other well-formed key is its own instance too."""
    if kind not in ("production", "development"):
        raise ValueError(f"kind must be 'production' or 'development', not {kind!r}")
    prefix = "sk_live_" if kind == "production" else "sk_test_"
    digest = int.from_bytes(hashlib.sha256(f"{kind}:{name}".encode()).digest(), "big")
    chars = []
    for _ in range(40):
        digest, rem = divmod(digest, 62)
        chars.append(BASE62[rem])
    return prefix + "".join(chars)
