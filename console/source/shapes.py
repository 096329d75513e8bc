"""Which export shape a file has, which key holds which field, and the value
conversions every shape shares (dates, booleans, provider lists).

Fields are the migration's own names (`id`, `email`, `email_verified`, `name`,
…); `--map field=column` points a field at another key. Shapes:

- `prisma`: Auth.js Prisma adapter rows (`id` a cuid string, `emailVerified`,
  optional password / createdAt / providers / accounts);
- `pg`: Auth.js pg adapter rows (`id` an integer, `emailVerified` or the older
  `email_verified`);
- `clerk_script`: Clerk's older migration-script format (`userId, email,
  firstName, lastName, password, passwordHasher`);
- `mapped`: any of the above with `--map` overrides, or anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

ShapeName = Literal["prisma", "pg", "clerk_script", "mapped"]

# field -> keys that hold it, most likely first. `username` is only read
# through --map (an instance without usernames refuses the field).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "userId", "user_id"),
    "email": ("email", "emailAddress", "email_address"),
    "email_verified": ("emailVerified", "email_verified"),
    "name": ("name",),
    "first_name": ("firstName", "first_name"),
    "last_name": ("lastName", "last_name"),
    "username": (),
    "password": (
        "password",
        "passwordHash",
        "hashedPassword",
        "password_hash",
        "hashed_password",
        "passwordDigest",
        "password_digest",
    ),
    "password_hasher": ("passwordHasher", "password_hasher"),
    "created_at": ("createdAt", "created_at"),
    "image": ("image",),
    "providers": ("providers", "accounts"),
    "public_metadata": ("publicMetadata", "public_metadata"),
    "private_metadata": ("privateMetadata", "private_metadata"),
    "unsafe_metadata": ("unsafeMetadata", "unsafe_metadata"),
}
FIELDS: tuple[str, ...] = tuple(ALIASES)


@dataclass(slots=True)
class Shape:
    name: ShapeName
    keys: dict[str, tuple[str, ...]]  # field -> keys to try, in order
    known: frozenset[str]  # every key some field reads
    columns: list[str] = field(default_factory=list)  # keys of the first row


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """`["email=user_email", …]` (the --map flags) -> {"email": "user_email"}."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. --map email=user_email")
        mapping[name] = column
    return mapping


def check_mapping(mapping: dict[str, str]) -> None:
    for name in mapping:
        if name not in ALIASES:
            raise ValueError(f"--map {name}=…: unknown field {name!r} (fields: {', '.join(FIELDS)})")


def detect_shape(
    first: dict[str, Any] | None,
    *,
    mapping: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> Shape:
    """The shape of an export from its first row (or a CSV header). Raises
    ValueError with an operator sentence when no id or identifier is found."""
    mapping = dict(mapping or {})
    check_mapping(mapping)
    cols = list(columns if columns is not None else (first or {}).keys())
    present = set(cols)
    keys: dict[str, tuple[str, ...]] = {}
    for name, aliases in ALIASES.items():
        if name in mapping:
            keys[name] = (mapping[name],)
        else:
            # the alias the first row uses goes first; the others still count,
            # because JSON rows may omit a key the first row lacked
            ordered = [a for a in aliases if a in present] + [a for a in aliases if a not in present]
            keys[name] = tuple(ordered)
    known = frozenset(k for ks in keys.values() for k in ks)

    if mapping:
        shape: ShapeName = "mapped"
    elif "userId" in present and present & {"firstName", "lastName", "passwordHasher"}:
        shape = "clerk_script"
    elif "id" in present and (
        "email_verified" in present
        or (first is not None and _is_int_id(first.get("id"), columns is not None))
    ):
        shape = "pg"
    else:
        shape = "prisma"
    return Shape(shape, keys, known, cols)


def _is_int_id(value: Any, from_csv: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return from_csv and isinstance(value, str) and value.isdigit()


def has_any(shape: Shape, name: str) -> bool:
    """Whether the first row / header holds a key for `name`."""
    present = set(shape.columns)
    return any(k in present for k in shape.keys[name])


# ---- values ---------------------------------------------------------------

_FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "null", "none", "unverified"})


def to_verified(value: Any) -> bool | None:
    """emailVerified: a date / true -> True; false-ish words -> False; null or
    nothing -> None (Auth.js writes null for OAuth users)."""
    if value is None or value == "":
        return None
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    if isinstance(value, (int, float)):
        return value != 0
    return True


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIN_ISO = "1970-01-01T00:00:00.000Z"


def _iso(dt: datetime) -> str:
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


class DateNormaliser:
    """created_at -> RFC 3339 UTC with milliseconds (`2012-10-20T07:15:20.902Z`).

    Accepts ISO 8601 strings with or without a zone (no zone = UTC), epoch
    seconds or milliseconds (a number >= 1e11 is milliseconds: 1e11 seconds
    is the year 5138), as numbers or digit strings. Dates before 1970 or more
    than a day in the future are refused (returned as INVALID)."""

    INVALID = object()

    def __init__(self, now: datetime | None = None) -> None:
        now = now or datetime.now(timezone.utc)
        self.max_dt = now + timedelta(days=1)
        self.max_iso = _iso(self.max_dt)

    def __call__(self, value: Any) -> Any:
        """str (normalised) | None (nothing there) | INVALID."""
        if value is None:
            return None
        if type(value) is str:
            if (
                len(value) == 24
                and value[23] == "Z"
                and value[10] == "T"
                and value[19] == "."
                and _MIN_ISO <= value <= self.max_iso
            ):
                # already canonical (what JSON.stringify(Date) writes): check the digits
                try:
                    datetime.fromisoformat(value)
                except ValueError:
                    return self.INVALID
                return value
            text = value.strip()
            if not text:
                return None
            if text.isdigit() or (text[0] == "-" and text[1:].isdigit()):
                return self._epoch(int(text))
            try:
                dt = datetime.fromisoformat(text)
            except ValueError:
                try:
                    dt = datetime.fromisoformat(text.replace("z", "Z").replace(" ", "T", 1))
                except ValueError:
                    return self.INVALID
            return self._bounded(dt)
        if isinstance(value, bool):
            return self.INVALID
        if isinstance(value, (int, float)):
            if value != value or value in (float("inf"), float("-inf")):
                return self.INVALID
            return self._epoch(value)
        return self.INVALID

    def _epoch(self, number: float) -> Any:
        seconds = number / 1000 if abs(number) >= 1e11 else number
        try:
            dt = _EPOCH + timedelta(seconds=seconds)
        except OverflowError:
            return self.INVALID
        return self._bounded(dt)

    def _bounded(self, dt: datetime) -> Any:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        try:
            dt = dt.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            return self.INVALID
        if dt < _EPOCH or dt > self.max_dt:
            return self.INVALID
        return _iso(dt)


def to_providers(value: Any) -> tuple[str, ...]:
    """providers / accounts -> provider names. Accepts a list of names, a list
    of Account rows (`{"provider": "github", …}`), or in CSV a JSON list or a
    `github,google` / `github;google` / `github|google` string."""
    if not value:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text[0] == "[":
            try:
                value = json.loads(text)
            except ValueError:
                return ()
        else:
            for sep in (";", "|", " "):
                text = text.replace(sep, ",")
            return tuple(p for p in (s.strip() for s in text.split(",")) if p)
    if isinstance(value, list):
        names = []
        for item in value:
            if isinstance(item, str):
                if item:
                    names.append(item)
            elif isinstance(item, dict):
                provider = item.get("provider")
                if isinstance(provider, str) and provider:
                    names.append(provider)
        return tuple(names)
    return ()
