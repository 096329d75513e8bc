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
from console.sandbox import instance_settings as S
from console.sandbox import passwords
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

# PATCH /v1/users/{id} (UpdateUser in the 2025-11-10 spec). The metadata
# fields replace the stored object whole (top-level fields left out are kept);
# API version 2026-05-12 removed them from this endpoint (dedicated metadata
# endpoints instead), so under that version they are unknown fields.
UPDATE_SCHEMA: dict[str, tuple[str, bool]] = {
    **{
        name: CREATE_SCHEMA[name]
        for name in (
            "external_id",
            "first_name",
            "last_name",
            "locale",
            "username",
            "password",
            "skip_password_checks",
            "totp_secret",
            "backup_codes",
            "public_metadata",
            "private_metadata",
            "unsafe_metadata",
            "delete_self_enabled",
            "create_organization_enabled",
            "create_organizations_limit",
            "created_at",
            "legal_accepted_at",
            "skip_legal_checks",
            "bypass_client_trust",
        )
    },
    "password_digest": (STR, False),
    "password_hasher": (STR, False),
    "primary_email_address_id": (STR, True),
    "notify_primary_email_address_changed": (BOOL, True),
    "primary_phone_number_id": (STR, True),
    "primary_web3_wallet_id": (STR, True),
    "profile_image_id": (STR, True),
    "sign_out_of_other_sessions": (BOOL, True),
}
METADATA_FIELDS = ("public_metadata", "private_metadata", "unsafe_metadata")
VERSIONS_WITHOUT_PATCH_METADATA = frozenset({"2026-05-12"})
# Fields a PATCH sets on the User JSON as they are (after the checks).
UPDATE_DIRECT = ("external_id", "first_name", "last_name", "locale", "username", "public_metadata",
                 "private_metadata", "unsafe_metadata", "delete_self_enabled", "create_organization_enabled",
                 "create_organizations_limit", "created_at", "legal_accepted_at", "bypass_client_trust")
UPDATE_NULLABLE = ("external_id", "first_name", "last_name", "locale", "username",
                   "create_organizations_limit", "legal_accepted_at")

# Bodies of the other write endpoints (additionalProperties: false).
EMAIL_CREATE_SCHEMA: dict[str, tuple[str, bool]] = {
    "user_id": (STR, False),
    "email_address": (STR, False),
    "verified": (BOOL, True),
    "primary": (BOOL, True),
    "notify_primary_email_address_changed": (BOOL, True),
}
EMAIL_UPDATE_SCHEMA: dict[str, tuple[str, bool]] = {
    "verified": (BOOL, True),
    "primary": (BOOL, True),
    "notify_primary_email_address_changed": (BOOL, True),
}
VERIFY_PASSWORD_SCHEMA: dict[str, tuple[str, bool]] = {"password": (STR, False)}
METADATA_SCHEMA: dict[str, tuple[str, bool]] = {name: (OBJ, True) for name in METADATA_FIELDS}

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
    # how the password was given, kept outside the User JSON for verify_password:
    # (passwords.PLAIN, salted sha256) or (hasher, digest); None without a password
    password_stored: tuple[str, str] | None = None


@dataclass
class UpdateSpec:
    """A PATCH /v1/users/{id} body that passed every check."""

    values: dict[str, Any] = field(default_factory=dict)  # User JSON fields set as they are
    nulls: list[str] = field(default_factory=list)  # User JSON fields set to null
    password_stored: tuple[str, str] | None = None
    primary_ids: dict[str, str] = field(default_factory=dict)  # "email_address" -> idn_…
    totp_enabled: bool | None = None
    backup_code_enabled: bool | None = None


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


def settings_refusal(fields: list[str]) -> ApiError:
    """What Clerk answers for a field the instance's settings do not accept
    (e.g. a username while usernames are off): 422 form_param_unknown with an
    EMPTY meta, and a message that does not name the field."""
    return ApiError(422, [ErrorItem("form_param_unknown", "is unknown",
                                    "A parameter is not valid for this instance's settings.", {})
                          for _ in fields])


def forbidden_by_settings(body: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Fields of `body` (non-null, non-empty) whose attribute is turned off."""
    fields: list[str] = []
    for name in ("email_address", "phone_number", "web3_wallet", "username", "first_name", "last_name"):
        value = body.get(name)
        if value is None or value == []:
            continue
        if not S.enabled(settings, name):
            fields.append(name)
    if not S.enabled(settings, "password"):
        fields += [name for name in ("password", "password_digest") if body.get(name) is not None]
    return fields


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


def _check_password(body: dict[str, Any], problems: list[ErrorItem]) -> tuple[str, str] | None:
    """The password fields of a create or update body: problems appended;
    returns what to keep for verify_password (None: no password given)."""
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
    if problems:
        return None
    if password is not None:
        return passwords.keep_plain(password)
    if digest is not None and hasher is not None:
        return (hasher, digest)
    return None


def _settings_requirements(body: dict[str, Any], spec: CreateSpec, config: SandboxConfig,
                           problems: list[ErrorItem]) -> None:
    """What the instance requires of a new user: identifiers and names marked
    required (skip_user_requirement waives them), a password (waived by
    skip_password_requirement unless the password is the only way to sign in),
    legal consent (legal_accepted_at or skip_legal_checks)."""
    settings = config.user_settings
    present = {
        "email_address": bool(spec.emails), "phone_number": bool(spec.phones),
        "web3_wallet": bool(spec.web3_wallets), "username": bool(spec.username),
        "first_name": body.get("first_name") is not None, "last_name": body.get("last_name") is not None,
    }
    if not body.get("skip_user_requirement"):
        for name, there in present.items():
            if not there and S.required(settings, name):
                problems.append(form_error("form_data_missing", name, "is missing",
                                           f"{name} is required by this instance's settings."))
        has_identifier = any(present[name] for name in S.IDENTIFIER_ATTRIBUTES)
        if config.identifier_required and not has_identifier and not any(p.code == "form_data_missing" for p in problems):
            problems.append(form_error(
                "form_data_missing", "email_address", "is missing",
                "The user needs at least one identifier: email_address, phone_number, "
                "username or web3_wallet (or skip_user_requirement)."))
    if config.password_required and S.required(settings, "password") and not spec.password_enabled:
        if not body.get("skip_password_requirement"):
            problems.append(form_error(
                "form_data_missing", "password", "is missing",
                "A password is required (send password, password_digest with password_hasher, "
                "or skip_password_requirement)."))
        elif not S.other_first_factors(settings):
            problems.append(form_error(
                "form_data_missing", "password", "is missing",
                "A password is required: it is this instance's only way to sign in, so "
                "skip_password_requirement cannot be used."))
    if S.legal_consent(settings) and spec.legal_accepted_at_ms is None and not body.get("skip_legal_checks"):
        problems.append(form_error(
            "form_data_missing", "legal_accepted_at", "is missing",
            "This instance requires legal consent: send legal_accepted_at (or skip_legal_checks)."))


def validate_create(body: dict[str, Any], config: SandboxConfig) -> CreateSpec:
    body = check_shape(body, CREATE_SCHEMA)
    forbidden = forbidden_by_settings(body, config.user_settings)
    if forbidden:
        raise settings_refusal(forbidden)
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
    spec.password_stored = _check_password(body, problems)
    spec.password_enabled = spec.password_stored is not None

    _check_times(body, spec, problems)

    if not problems:
        _settings_requirements(body, spec, config, problems)
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


def validate_update(body: dict[str, Any], config: SandboxConfig | None = None,
                    api_version: str | None = None) -> UpdateSpec:
    """PATCH /v1/users/{id} body -> UpdateSpec. Raises ApiError (422)."""
    schema = UPDATE_SCHEMA
    if api_version in VERSIONS_WITHOUT_PATCH_METADATA:
        schema = {k: v for k, v in UPDATE_SCHEMA.items() if k not in METADATA_FIELDS}
    nulls = [name for name, value in body.items() if value is None and name in UPDATE_NULLABLE and name in schema]
    clean = check_shape(body, schema)
    if config is not None:
        forbidden = forbidden_by_settings(clean, config.user_settings)
        if forbidden:
            raise settings_refusal(forbidden)
    problems: list[ErrorItem] = []
    if "username" in clean:
        _check_username(clean["username"], problems)

    class _Times:
        created_at_ms: int | None = None
        legal_accepted_at_ms: int | None = None

    times = _Times()
    _check_times(clean, times, problems)
    spec = UpdateSpec(nulls=nulls)
    spec.password_stored = _check_password(clean, problems)
    if problems:
        raise ApiError(422, problems)
    for name in UPDATE_DIRECT:
        if name in clean:
            spec.values[name] = clean[name]
    if "created_at" in clean:
        spec.values["created_at"] = times.created_at_ms
    if "legal_accepted_at" in clean:
        spec.values["legal_accepted_at"] = times.legal_accepted_at_ms
    for kind in ("email_address", "phone_number", "web3_wallet"):
        value = clean.get(f"primary_{kind}_id")
        if value is not None:
            spec.primary_ids[kind] = value
    if "totp_secret" in clean:
        spec.totp_enabled = bool(clean["totp_secret"])
    if "backup_codes" in clean:
        spec.backup_code_enabled = bool(clean["backup_codes"])
    return spec


def validate_email_create(body: dict[str, Any]) -> tuple[str, str, bool, bool | None]:
    """POST /v1/email_addresses -> (user_id, lower-cased address, verified, primary or None)."""
    clean = check_shape(body, EMAIL_CREATE_SCHEMA)
    problems: list[ErrorItem] = []
    for name in ("user_id", "email_address"):
        if not clean.get(name):
            problems.append(form_error("form_param_missing", name, "is missing", f"{name} must be included."))
    if problems:
        raise ApiError(422, problems)
    address = clean["email_address"]
    if not email_ok(address):
        raise ApiError(422, [form_error("form_param_format_invalid", "email_address", "is invalid",
                                        "email_address must be a valid email address.")])
    return clean["user_id"], address.lower(), bool(clean.get("verified")), clean.get("primary")


def validate_email_update(body: dict[str, Any]) -> tuple[bool | None, bool | None]:
    """PATCH /v1/email_addresses/{id} -> (verified or None, primary or None)."""
    clean = check_shape(body, EMAIL_UPDATE_SCHEMA)
    return clean.get("verified"), clean.get("primary")


def validate_metadata(body: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """PATCH/PUT /v1/users/{id}/metadata body: the metadata fields given (null kept as None)."""
    given = {name: body[name] for name in METADATA_FIELDS if name in body}
    check_shape(body, METADATA_SCHEMA)
    return given


def validate_verify_password(body: dict[str, Any]) -> str:
    clean = check_shape(body, VERIFY_PASSWORD_SCHEMA)
    if "password" not in clean:
        raise ApiError(422, [form_error("form_param_missing", "password", "is missing", "password must be included.")])
    return clean["password"]
