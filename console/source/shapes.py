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
- `mongodb`: the MongoDB adapter's `users` documents as `mongoexport` writes
  them (`_id` an ObjectId, read as its hex string; Extended JSON is read by
  `jsonrows`);
- `mapped`: any of the above with `--map` overrides, or anything else.

A mapping is `{target: column}`: a field of FIELDS, or a key inside one of
Clerk's metadata objects, `public_metadata.KEY[.SUBKEY…]` (likewise
`private_metadata.` and `unsafe_metadata.`). It is the one representation: the
CLI's `--map TARGET=COLUMN` flags, the console's mapping form and the run
journal all carry this dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

ShapeName = Literal["prisma", "pg", "clerk_script", "mongodb", "mapped"]

# field -> keys that hold it, most likely first. `username` and `phone_number`
# are only read through --map (an instance without them refuses the field).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "userId", "user_id", "_id"),
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
        "encrypted_password",  # Devise, Supabase's auth.users
        "encryptedPassword",
    ),
    "password_hasher": ("passwordHasher", "password_hasher"),
    "created_at": ("createdAt", "created_at"),
    "image": ("image",),
    "providers": ("providers", "accounts"),
    "public_metadata": ("publicMetadata", "public_metadata"),
    "private_metadata": ("privateMetadata", "private_metadata"),
    "unsafe_metadata": ("unsafeMetadata", "unsafe_metadata"),
    "phone_number": (),
    "legal_accepted_at": (),  # only through --map or `--legal column:NAME` (issue 13: legal consent)
}
FIELDS: tuple[str, ...] = tuple(ALIASES)
META_FIELDS: tuple[str, ...] = ("public_metadata", "private_metadata", "unsafe_metadata")
# Every --map target: a field, or KEY (nested: KEY.SUBKEY) in a metadata object.
MAP_TARGETS: tuple[str, ...] = FIELDS + tuple(f"{m}.KEY" for m in META_FIELDS)
MetaPath = tuple[str, tuple[str, ...], str]  # (metadata field, key path, column)


@dataclass(slots=True)
class Shape:
    name: ShapeName
    keys: dict[str, tuple[str, ...]]  # field -> keys to try, in order
    known: frozenset[str]  # every key some field reads
    columns: list[str] = field(default_factory=list)  # keys of the first row
    meta_paths: tuple[MetaPath, ...] = ()  # --map public_metadata.KEY=COLUMN, …


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """`["email=user_email", …]` (the --map flags) -> {"email": "user_email"}.
    Raises ValueError (one sentence) for a malformed pair or an unknown target."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"--map {pair!r}: expected TARGET=COLUMN, e.g. --map email=user_email or "
                             "--map public_metadata.role=role")
        mapping[name] = column
    check_mapping(mapping)
    return mapping


def parse_target(name: str) -> tuple[str, tuple[str, ...]]:
    """A --map target -> (field, key path): `email` -> ("email", ()),
    `public_metadata.billing.plan` -> ("public_metadata", ("billing", "plan")).
    Raises ValueError naming the targets accepted."""
    if name in ALIASES:
        return name, ()
    head, dot, rest = name.partition(".")
    if dot and head in META_FIELDS:
        path = tuple(part.strip() for part in rest.split("."))
        if all(path):
            return head, path
        raise ValueError(f"--map {name}=…: an empty key in {name!r}: expected {head}.KEY or {head}.KEY.SUBKEY")
    raise ValueError(
        f"--map {name}=…: unknown field {name!r} (fields: {', '.join(FIELDS)}; or public_metadata.KEY, "
        "private_metadata.KEY, unsafe_metadata.KEY for a custom column)"
    )


def check_mapping(mapping: dict[str, str]) -> list[MetaPath]:
    """Every target known, no metadata key mapped both as a value and as an
    object of mapped keys. Returns the metadata paths, in mapping order."""
    paths: list[MetaPath] = []
    for name, column in mapping.items():
        target, path = parse_target(name)
        if path:
            paths.append((target, path, column))
    seen = {(target, path) for target, path, _ in paths}
    for target, path, column in paths:
        for cut in range(1, len(path)):
            if (target, path[:cut]) in seen:
                outer = ".".join((target, *path[:cut]))
                raise ValueError(f"--map {target}.{'.'.join(path)}={column}: {outer} is mapped to a column "
                                 "too: a key cannot hold both a value and other keys")
    return paths


def detect_shape(
    first: dict[str, Any] | None,
    *,
    mapping: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> Shape:
    """The shape of an export from its first row (or a CSV header). Raises
    ValueError with an operator sentence for a bad mapping."""
    mapping = dict(mapping or {})
    meta_paths = check_mapping(mapping)
    cols = list(columns if columns is not None else [k for k in (first or {}) if type(k) is str])
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
    known = frozenset(k for ks in keys.values() for k in ks) | {column for _, _, column in meta_paths}

    if mapping:
        shape: ShapeName = "mapped"
    elif "userId" in present and present & {"firstName", "lastName", "passwordHasher"}:
        shape = "clerk_script"
    elif "_id" in present and "id" not in present:
        shape = "mongodb"
    elif "id" in present and (
        "email_verified" in present
        or (first is not None and _is_int_id(first.get("id"), columns is not None))
    ):
        shape = "pg"
    else:
        shape = "prisma"
    return Shape(shape, keys, known, cols, tuple(meta_paths))


def _is_int_id(value: Any, from_csv: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return from_csv and isinstance(value, str) and value.isdigit()


ID_MAX = 2**64  # an integer id past this is no database's: the row is refused
_FLOAT_ID_MAX = 2**53  # past this a float no longer holds an integer exactly


def plain_id(value: Any) -> str | None:
    """An id as text, or None when it is none: a string (mongoexport's CSV
    `ObjectId(…)` unwrapped), an integer below 2^64, an integral float. The
    users' ids and the accounts' userIds meet through this one function."""
    kind = type(value)
    if kind is str:
        text = value.strip()
        if text[:9] == "ObjectId(" and text[-1:] == ")":
            text = text[9:-1].strip().strip("'\"")
        return text or None
    if kind is int:
        return str(value) if -ID_MAX < value < ID_MAX else None
    if kind is float:
        if value == value and abs(value) < _FLOAT_ID_MAX and value.is_integer():
            return str(int(value))
    return None


def has_any(shape: Shape, name: str) -> bool:
    """Whether the first row / header holds a key for `name`."""
    present = set(shape.columns)
    return any(k in present for k in shape.keys[name])


# ---- values ---------------------------------------------------------------

_FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "null", "none", "unverified"})


def to_verified(value: Any) -> bool | None:
    """emailVerified: a date / true -> True; false-ish words -> False; null or
    nothing -> None (Auth.js writes null for OAuth users). NaN, infinities,
    objects and lists prove nothing: None."""
    if value is None or value == "":
        return None
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        if value != value or value in (_INF, -_INF):
            return None
        return value != 0
    return None


_INF = float("inf")


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


# Auth.js account types that prove no email address (a magic link sets
# emailVerified itself; credentials and passkeys prove nothing about the address)
NON_OAUTH_ACCOUNT_TYPES = frozenset({"email", "credentials", "webauthn"})


def to_providers(value: Any) -> tuple[str, ...]:
    """providers / accounts -> OAuth provider names. Accepts a list of names, a
    list of Account rows (`{"provider": "github", "type": "oauth", …}`; rows of
    a non-OAuth type are left out), or in CSV a JSON list or a
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
                kind = item.get("type")
                if isinstance(kind, str) and kind.strip().lower() in NON_OAUTH_ACCOUNT_TYPES:
                    continue
                if isinstance(provider, str) and provider:
                    names.append(provider)
        return tuple(names)
    return ()
