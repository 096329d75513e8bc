"""Where the secret key, the base URL and the dev-instance switch come from.

Precedence, as the CLI contract says: environment > `.env` in the working
directory > the OS keyring (service ``clerk-migrate``) > asked by the TUI.
The key is never a command-line argument and is held in a `SecretKey`, whose
repr and str are masked, so it cannot leak into a log line or a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DEFAULT_API_URL = "https://api.clerk.com"
KEYRING_SERVICE = "clerk-migrate"
KEYRING_USERNAME = "CLERK_SECRET_KEY"

InstanceKind = Literal["development", "production"]
KeySource = Literal["env", "dotenv", "keyring", "prompt"]

TRUE_WORDS = {"1", "true", "yes", "on"}

# The users a Development instance holds (Clerk's documented cap; it was briefly 500 in early
# 2026). The one number every part reads: the engine overrides it with `import --dev-cap N`
# and corrects it from Clerk's own user_quota_exceeded message (console/migration/devcap.py).
DEV_USER_CAP = 100


def mask_key(value: str) -> str:
    """`sk_live_…abcd`: the prefix and the last four characters, nothing else."""
    if not value:
        return ""
    for prefix in ("sk_live_", "sk_test_"):
        if value.startswith(prefix):
            tail = value[len(prefix):]
            return f"{prefix}…{tail[-4:]}" if len(tail) > 4 else f"{prefix}…"
    return f"…{value[-4:]}" if len(value) > 8 else "…"


class SecretKey:
    """A Clerk secret key that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.strip()

    def reveal(self) -> str:
        """The real key: for the Authorization header and the keyring only."""
        return self._value

    @property
    def masked(self) -> str:
        return mask_key(self._value)

    @property
    def instance_kind(self) -> InstanceKind | None:
        return instance_kind_of(self._value)

    def __repr__(self) -> str:
        return f"SecretKey({self.masked!r})"

    __str__ = lambda self: self.masked  # noqa: E731

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # never pickled into anything by accident
        raise TypeError("SecretKey cannot be pickled")


def instance_kind_of(key: str) -> InstanceKind | None:
    if key.startswith("sk_live_"):
        return "production"
    if key.startswith("sk_test_"):
        return "development"
    return None


def fingerprint(key: SecretKey) -> str:
    """A stable, non-reversible id of the key, stored in the journal to tell
    instances apart on resume (sha256 of the key, first 16 hex chars)."""
    import hashlib

    return hashlib.sha256(key.reveal().encode()).hexdigest()[:16]


class KeyringUnavailable(RuntimeError):
    """No usable keyring backend (common on headless bastion hosts)."""


@dataclass(frozen=True)
class Settings:
    secret_key: SecretKey | None
    key_source: KeySource | None
    base_url: str = DEFAULT_API_URL
    allow_dev_import: bool = False
    notes: tuple[str, ...] = field(default=())
    # public, not secrets: where the instance's settings are read (console/clerk/frontend.py)
    publishable_key: str | None = None  # CLERK_PUBLISHABLE_KEY or NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY
    frontend_api_url: str | None = None  # CLERK_FRONTEND_API_URL (overrides the key's host)

    @property
    def instance_kind(self) -> InstanceKind | None:
        return self.secret_key.instance_kind if self.secret_key else None

    def with_key(self, key: SecretKey, source: KeySource) -> "Settings":
        return Settings(key, source, self.base_url, self.allow_dev_import, self.notes,
                        self.publishable_key, self.frontend_api_url)


def read_dotenv(path: Path) -> dict[str, str]:
    """The `.env` file's values, read by python-dotenv: quotes, escapes, `export `
    prefixes, comments, multi-line values and `${VAR}` expansion as Next.js apps write
    them. Names without a value are left out; an unreadable file is an empty one."""
    from dotenv import dotenv_values

    try:
        if not path.is_file():
            return {}
        with open(path, encoding="utf-8-sig") as stream:
            values = dotenv_values(stream=stream, interpolate=True)
    except (OSError, UnicodeDecodeError):
        return {}
    return {name: value for name, value in values.items() if value is not None}


def _keyring_backend():
    try:
        import keyring
        from keyring.backends import fail
    except Exception as exc:  # pragma: no cover - keyring is a dependency
        raise KeyringUnavailable(f"keyring cannot be imported: {type(exc).__name__}") from None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or type(backend).__name__ in {"Keyring"} and "fail" in type(backend).__module__:
        raise KeyringUnavailable(
            "no OS keyring backend is available on this host (install and unlock one, "
            "e.g. gnome-keyring or keyrings.alt, or use CLERK_SECRET_KEY / .env)"
        )
    return keyring


def read_keyring() -> str | None:
    keyring = _keyring_backend()
    try:
        return keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    except Exception as exc:
        raise KeyringUnavailable(f"the OS keyring could not be read: {type(exc).__name__}") from None


def save_to_keyring(key: SecretKey) -> None:
    keyring = _keyring_backend()
    try:
        keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, key.reveal())
    except Exception as exc:
        raise KeyringUnavailable(f"the OS keyring refused the key: {type(exc).__name__}") from None


def load_settings(
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    use_keyring: bool = True,
) -> Settings:
    """Resolve settings: env > .env > keyring. Never raises for a missing key."""
    env = dict(os.environ if environ is None else environ)
    dotenv = read_dotenv((cwd or Path.cwd()) / ".env")
    notes: list[str] = []

    def pick(name: str) -> tuple[str | None, KeySource | None]:
        if env.get(name):
            return env[name], "env"
        if dotenv.get(name):
            return dotenv[name], "dotenv"
        return None, None

    raw_key, source = pick("CLERK_SECRET_KEY")
    if raw_key is None and use_keyring:
        try:
            raw_key = read_keyring()
            source = "keyring" if raw_key else None
        except KeyringUnavailable as exc:
            notes.append(str(exc))
    base_url = (pick("CLERK_API_URL")[0] or DEFAULT_API_URL).rstrip("/")
    allow = (pick("IMPORT_TO_DEV_INSTANCE")[0] or "").strip().lower() in TRUE_WORDS
    key = SecretKey(raw_key) if raw_key else None
    if key is not None and key.instance_kind is None:
        notes.append(f"the secret key {key.masked} starts with neither sk_live_ nor sk_test_")
    publishable = pick("CLERK_PUBLISHABLE_KEY")[0] or pick("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY")[0]
    frontend = pick("CLERK_FRONTEND_API_URL")[0]
    return Settings(key, source, base_url, allow, tuple(notes), publishable or None, frontend or None)
