"""Strict checks of a create (and update) body, as Clerk's Backend API does them.

`validate_create(body, config)` returns a `CreateSpec` with normalised values
or raises `ApiError` (422) listing every problem of the first failing stage:
unknown fields, then wrong types, then formats and values. Uniqueness and the
Development user cap are the instance's business (state.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from console.clerk.models import PASSWORD_HASHERS
from console.sandbox.config import SandboxConfig
from console.sandbox.errors import ApiError, ErrorItem, form_error

# The body schema of POST /v1/users (additionalProperties: false), by JSON
# type. `None` allowed only where Clerk's spec says the field is nullable.
STR, BOOL, INT, STR_LIST, OBJ = "string", "boolean", "integer", "array of strings", "object"
CREATE_SCHEMA: dict[str, tuple[str, bool]] = {  # name -> (type, nullable)
    "external_id": (STR, True),
    "first_name": (STR, True),
    "last_name": (STR, True),
    "locale": (STR, True),
    "email_address": (STR_LIST, False),
    "email_address_identification_status": (STR_LIST, False),
    "phone_number": (STR_LIST, False),
    "phone_number_identification_status": (STR_LIST, False),
    "web3_wallet": (STR_LIST, False),
    "username": (STR, True),
    "password": (STR, True),
    "password_digest": (STR, True),
    "password_hasher": (STR, False),
    "skip_password_checks": (BOOL, True),
    "skip_password_requirement": (BOOL, True),
    "totp_secret": (STR, True),
    "backup_codes": (STR_LIST, False),
    "public_metadata": (OBJ, False),
    "private_metadata": (OBJ, False),
    "unsafe_metadata": (OBJ, False),
    "delete_self_enabled": (BOOL, True),
    "legal_accepted_at": (STR, True),
    "skip_legal_checks": (BOOL, True),
    "skip_user_requirement": (BOOL, True),
    "create_organization_enabled": (BOOL, True),
    "create_organizations_limit": (INT, True),
    "created_at": (STR, True),
    "bypass_client_trust": (BOOL, True),
    "banned": (BOOL, True),
    "locked": (BOOL, True),
}

# PATCH /v1/users/{id}: the part of Clerk's update body the sandbox supports.
UPDATE_SCHEMA: dict[str, tuple[str, bool]] = {
    name: CREATE_SCHEMA[name]
    for name in (
        "external_id",
        "first_name",
        "last_name",
        "locale",
        "username",
        "public_metadata",
        "private_metadata",
        "unsafe_metadata",
        "delete_self_enabled",
        "create_organization_enabled",
        "create_organizations_limit",
        "created_at",
        "legal_accepted_at",
        "bypass_client_trust",
    )
}

# ASCII addresses only: local part of RFC 5322 atoms (no leading, trailing or
# doubled dot), a domain of at least two DNS labels and an alphabetic TLD.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
EMAIL_MAX = 254
EMAIL_LOCAL_MAX = 64
PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
WEB3_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
USERNAME_MIN, USERNAME_MAX = 4, 64
PASSWORD_MIN, PASSWORD_MAX = 8, 72
# RFC 3339 as Go's time.RFC3339 parses it: upper-case T and Z, optional fraction.
RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)
# A stand-in for Clerk's breached-password check (skipped with skip_password_checks).
PWNED = frozenset(
    {
        "password", "password1", "password12", "password123", "passw0rd", "12345678",
        "123456789", "1234567890", "qwertyuiop", "iloveyou", "sunshine1", "letmein123",
        "football1", "welcome1", "admin123", "abc12345", "11111111", "00000000",
    }
)

_B64 = r"[A-Za-z0-9+/]+={0,2}"
_BCRYPT = r"\$2[abxy]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"
DIGEST_RES: dict[str, re.Pattern[str]] = {
    "bcrypt": re.compile(rf"^{_BCRYPT}$"),
    "bcrypt_sha256_django": re.compile(rf"^bcrypt_sha256\${_BCRYPT}$"),
    "argon2i": re.compile(rf"^\$argon2i\$v=\d+\$m=\d+,t=\d+,p=\d+\${_B64}\${_B64}$"),
    "argon2id": re.compile(rf"^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\${_B64}\${_B64}$"),
    "md5": re.compile(r"^[0-9a-fA-F]{32}$"),
    "sha256": re.compile(r"^[0-9a-fA-F]{64}$"),
    "pbkdf2_sha256": re.compile(r"^pbkdf2_sha256\$\d+\$[^$\s]+\$[^$\s]+$"),
    "pbkdf2_sha256_django": re.compile(r"^pbkdf2_sha256\$\d+\$[^$\s]+\$[^$\s]+$"),
    "pbkdf2_sha1": re.compile(r"^pbkdf2_sha1\$\d+\$[^$\s]+\$[0-9a-fA-F]+(?:\$\d+)?$"),
    "phpass": re.compile(r"^\$[PH]\$[./0-9A-Za-z]{31}$"),
    "md5_phpass": re.compile(r"^\$[PH]\$[./0-9A-Za-z]{31}$"),
}
_ANY_DIGEST = re.compile(r"^\S+$")  # hashers without a published layout


@dataclass
class CreateSpec:
    """A create body that passed every check, normalised."""

    emails: list[tuple[str, bool]] = field(default_factory=list)  # (lower-cased address, reserved)
    phones: list[tuple[str, bool]] = field(default_factory=list)
    web3_wallets: list[str] = field(default_factory=list)
    username: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    password_enabled: bool = False
    totp_enabled: bool = False
    backup_code_enabled: bool = False
    public_metadata: dict[str, Any] = field(default_factory=dict)
    private_metadata: dict[str, Any] = field(default_factory=dict)
    unsafe_metadata: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int | None = None
    legal_accepted_at_ms: int | None = None
    banned: bool = False
    locked: bool = False
    delete_self_enabled: bool = True
    create_organization_enabled: bool = True
    create_organizations_limit: int | None = None
    bypass_client_trust: bool = False


def _type_ok(value: Any, kind: str) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == OBJ:
        return isinstance(value, dict)
    raise AssertionError(kind)


def check_shape(body: dict[str, Any], schema: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    """Unknown fields, then types. Returns the body without null values."""
    unknown = [name for name in body if name not in schema]
    if unknown:
        raise ApiError(
            422,
            [
                form_error("form_param_unknown", name, "is unknown",
                           f"{name} is not a valid parameter for this request.")
                for name in unknown
            ],
        )
    problems: list[ErrorItem] = []
    clean: dict[str, Any] = {}
    for name, value in body.items():
        kind, nullable = schema[name]
        if value is None:
            if nullable:
                continue
            problems.append(form_error("form_param_type_invalid", name, "is invalid",
                                       f"{name} must be a {kind}, not null."))
        elif not _type_ok(value, kind):
            problems.append(form_error("form_param_type_invalid", name, "is invalid",
                                       f"{name} must be a {kind}."))
        else:
            clean[name] = value
    if problems:
        raise ApiError(422, problems)
    return clean


def parse_rfc3339_ms(value: str) -> int | None:
    """Milliseconds since the epoch, None when `value` is not RFC 3339."""
    match = RFC3339_RE.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second) if second != "60" else 59, tzinfo=timezone.utc)
    except ValueError:
        return None
    ms = int(moment.timestamp() * 1000) + (int((fraction or "0").ljust(3, "0")[:3]))
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            return None
        ms -= sign * (oh * 60 + om) * 60_000
    return ms


def email_ok(address: str) -> bool:
    return (len(address) <= EMAIL_MAX and 0 < address.find("@") <= EMAIL_LOCAL_MAX
            and bool(EMAIL_RE.match(address)))


def digest_ok(hasher: str, digest: str) -> bool:
    return bool(DIGEST_RES.get(hasher, _ANY_DIGEST).match(digest))


def _statuses(body: dict[str, Any], values_field: str, status_field: str,
              problems: list[ErrorItem]) -> list[bool]:
    """`reserved` flag per value of `values_field`."""
    values = body.get(values_field) or []
    statuses = body.get(status_field) or []
    if not statuses:
        return [False] * len(values)
    if len(statuses) != len(values):
        problems.append(form_error(
            "form_param_value_invalid", status_field, "is invalid",
            f"{status_field} must contain exactly one item per {values_field} ({len(values)}), "
            f"not {len(statuses)}."))
        return [False] * len(values)
    flags = []
    for status in statuses:
        if status not in ("verified", "reserved"):
            problems.append(form_error(
                "form_param_value_invalid", status_field, "is invalid",
                f"{status_field} items must be 'verified' or 'reserved'."))
        flags.append(status == "reserved")
    return flags


def _check_times(body: dict[str, Any], spec: Any, problems: list[ErrorItem]) -> None:
    for name in ("created_at", "legal_accepted_at"):
        if name in body:
            ms = parse_rfc3339_ms(body[name])
            if ms is None:
                problems.append(form_error(
                    "form_param_invalid_time", name, "is invalid",
                    f"{name} must be a valid RFC 3339 date-time, like 2012-10-20T07:15:20.902Z."))
            else:
                setattr(spec, f"{name}_ms", ms)


def _check_username(username: str, problems: list[ErrorItem]) -> None:
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        problems.append(form_error(
            "form_username_invalid_length", "username", "is invalid",
            f"Username must be between {USERNAME_MIN} and {USERNAME_MAX} characters long."))
    elif not USERNAME_RE.match(username):
        problems.append(form_error(
            "form_username_invalid_character", "username", "is invalid",
            "Username can only contain letters, numbers, underscores and dashes."))


def validate_create(body: dict[str, Any], config: SandboxConfig) -> CreateSpec:
    body = check_shape(body, CREATE_SCHEMA)
    problems: list[ErrorItem] = []
    spec = CreateSpec()

    # identifiers
    email_reserved = _statuses(body, "email_address", "email_address_identification_status", problems)
    seen: set[str] = set()
    for address, reserved in zip(body.get("email_address", []), email_reserved):
        if not email_ok(address):
            problems.append(form_error(
                "form_param_format_invalid", "email_address", "is invalid",
                "email_address must be a valid email address."))
            continue
        lowered = address.lower()
        if lowered in seen:
            problems.append(form_error(
                "form_param_value_invalid", "email_address", "is invalid",
                "email_address contains the same address twice."))
            continue
        seen.add(lowered)
        spec.emails.append((lowered, reserved))
    phone_reserved = _statuses(body, "phone_number", "phone_number_identification_status", problems)
    for number, reserved in zip(body.get("phone_number", []), phone_reserved):
        if not PHONE_RE.match(number):
            problems.append(form_error(
                "form_param_format_invalid", "phone_number", "is invalid",
                "phone_number must be a valid phone number in E.164 format, like +15555550100."))
        else:
            spec.phones.append((number, reserved))
    for wallet in body.get("web3_wallet", []):
        if not WEB3_RE.match(wallet):
            problems.append(form_error(
                "form_param_format_invalid", "web3_wallet", "is invalid",
                "web3_wallet must be a 0x-prefixed, 40 hex digit address."))
        else:
            spec.web3_wallets.append(wallet.lower())
    if "username" in body:
        _check_username(body["username"], problems)
        spec.username = body["username"]

    # password
    password, digest, hasher = body.get("password"), body.get("password_digest"), body.get("password_hasher")
    if password is not None and digest is not None:
        problems.append(form_error(
            "form_param_value_invalid", "password_digest", "is invalid",
            "password and password_digest cannot be used together."))
    if digest is not None and hasher is None:
        problems.append(form_error("form_param_missing", "password_hasher", "is missing",
                                   "password_hasher must be included when password_digest is given."))
    elif hasher is not None and digest is None:
        problems.append(form_error("form_param_missing", "password_digest", "is missing",
                                   "password_digest must be included when password_hasher is given."))
    elif hasher is not None and digest is not None:
        if hasher not in PASSWORD_HASHERS:
            problems.append(form_error(
                "form_param_value_invalid", "password_hasher", "is invalid",
                "password_hasher must be one of: " + ", ".join(sorted(PASSWORD_HASHERS)) + "."))
        elif not digest_ok(hasher, digest):
            problems.append(form_error(
                "form_password_digest_invalid_code", "password_digest", "is invalid",
                f"The password digest is not valid for the password hasher {hasher}."))
    if password is not None:
        if len(password) < PASSWORD_MIN:
            problems.append(form_error(
                "form_password_length_too_short", "password", "is too short",
                f"Passwords must be {PASSWORD_MIN} characters or more."))
        elif len(password) > PASSWORD_MAX:
            problems.append(form_error(
                "form_password_length_too_long", "password", "is too long",
                f"Passwords must be {PASSWORD_MAX} characters or less."))
        elif not body.get("skip_password_checks") and password.lower() in PWNED:
            problems.append(form_error(
                "form_password_pwned", "password", "has been found in a data breach",
                "Password has been found in an online data breach. For account safety, "
                "please use a different password."))
    spec.password_enabled = password is not None or digest is not None

    _check_times(body, spec, problems)

    if not problems:
        has_identifier = bool(spec.emails or spec.phones or spec.web3_wallets or spec.username)
        if config.identifier_required and not has_identifier and not body.get("skip_user_requirement"):
            problems.append(form_error(
                "form_data_missing", "email_address", "is missing",
                "The user needs at least one identifier: email_address, phone_number, "
                "username or web3_wallet (or skip_user_requirement)."))
        if (config.password_required and not spec.password_enabled
                and not body.get("skip_password_requirement")):
            problems.append(form_error(
                "form_data_missing", "password", "is missing",
                "A password is required (send password, password_digest with password_hasher, "
                "or skip_password_requirement)."))
    if problems:
        raise ApiError(422, problems)

    spec.external_id = body.get("external_id")
    spec.first_name = body.get("first_name")
    spec.last_name = body.get("last_name")
    spec.locale = body.get("locale")
    spec.totp_enabled = bool(body.get("totp_secret"))
    spec.backup_code_enabled = bool(body.get("backup_codes"))
    for name in ("public_metadata", "private_metadata", "unsafe_metadata"):
        setattr(spec, name, dict(body.get(name) or {}))
    for name in ("banned", "locked", "bypass_client_trust"):
        if name in body:
            setattr(spec, name, body[name])
    for name in ("delete_self_enabled", "create_organization_enabled"):
        if name in body:
            setattr(spec, name, body[name])
    spec.create_organizations_limit = body.get("create_organizations_limit")
    return spec


def validate_update(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """PATCH body: (clean values, fields explicitly set to null). Raises ApiError."""
    nulls = [name for name, value in body.items() if value is None and name in UPDATE_SCHEMA]
    clean = check_shape(body, UPDATE_SCHEMA)
    problems: list[ErrorItem] = []
    if "username" in clean:
        _check_username(clean["username"], problems)

    class _Times:
        created_at_ms: int | None = None
        legal_accepted_at_ms: int | None = None

    times = _Times()
    _check_times(clean, times, problems)
    if problems:
        raise ApiError(422, problems)
    if "created_at" in clean:
        clean["created_at"] = times.created_at_ms
    if "legal_accepted_at" in clean:
        clean["legal_accepted_at"] = times.legal_accepted_at_ms
    return clean, nulls
