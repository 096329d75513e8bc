"""The issue catalogue: every check a row goes through before a request is sent.

Codes are stable (the CLI's --json, the report CSV and the journal use them):

| code | severity | what |
| --- | --- | --- |
| missing_id | error | no id in the row |
| id_invalid | error | an id no database writes: NaN, infinite, a fraction, an integer past 2^64, an object |
| duplicate_id | error | the id of an earlier row (the first row wins) |
| duplicate_key | error | a key twice in one JSON row (two `email`s): ambiguous |
| missing_identifier | error | no email and no other identifier (username, phone number) |
| email_invalid | error | the email is not an address Clerk accepts |
| duplicate_email | error | the email of an earlier row, case-insensitively (the first row wins) |
| hasher_unknown | error | a password digest of no hasher Clerk supports |
| digest_invalid | error | a digest that does not fit its hasher |
| plaintext_password | error / warning | a plaintext password: refused, or sent (policy `send`) |
| email_unverified | warning / error | no emailVerified date and, under the default policy, no OAuth account: imported reserved; or verified / refused by policy |
| phone_invalid | error | a (--map'ped) phone number that is not E.164 |
| duplicate_phone | error | the phone number of an earlier row (the first row wins) |
| duplicate_username | error | the username of an earlier row, case-insensitively (the first row wins) |
| name_too_long | warning | a name part over Clerk's length: cut |
| name_dropped | warning | a name that is an email address or URL: not imported |
| name_one_word | warning | a one-word name: kept as the first name |
| metadata_invalid | error | a metadata column that is not a JSON object |
| metadata_too_large | error | metadata over Clerk's size limit |
| date_invalid | warning | an unparseable / impossible created_at: dropped (Clerk sets now) |
| username_invalid | error | a (--map'ped) username Clerk refuses: 4-64 letters, digits, _ or - |
| row_malformed | error | a CSV row with more fields than the header |
| unknown_column | warning, row 0 | a column no Clerk field takes, once per column, with the --map flag that keeps it |
| accounts_unmatched | warning, row 0 | accounts-file rows whose userId no user of the export has |
| image_not_imported | warning, row 0 | image URLs (Clerk's create call has no avatar field) |
| oauth_not_imported | warning, row 0 | OAuth accounts (linked again on first sign-in) |
| dev_instance_cap | error, row 0 | a Development instance holds at most 100 users (run-level blocker) |

The first row that carries an id or email claims it, whether or not that row
imports; later rows with the same value are errors naming that row.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.clerk.models import PASSWORD_HASHERS
from console.settings import DEV_USER_CAP  # the one number (the engine corrects it: migration/devcap.py)
from console.source.jsonrows import DUPLICATE_KEYS, MAX_DEPTH, TooDeep, loads_value
from console.source.model import CheckedRow, Issue, Policies, SourceUser
from console.source.passwords import (
    DIGEST_LAYOUTS,
    PASSWORD_MAX_BYTES,
    PASSWORD_MIN_LENGTH,
    PLAINTEXT_HASHER_WORDS,
    detect_hasher,
    digest_fits,
    digest_label,
    looks_like_digest,
)
from console.source.shapes import DateNormaliser, Shape, plain_id, to_providers, to_verified

if TYPE_CHECKING:
    from console.source.accounts import AccountsIndex

# Clerk's limits (defensive where Clerk does not publish one)
NAME_MAX_LENGTH = 256
METADATA_MAX_BYTES = 8192  # public + private + unsafe, as compact JSON
EMAIL_MAX_LENGTH = 254
EMAIL_LOCAL_MAX_LENGTH = 64
USERNAME_MIN_LENGTH, USERNAME_MAX_LENGTH = 4, 64

ERROR_CODES = (
    "missing_id",
    "id_invalid",
    "duplicate_id",
    "duplicate_key",
    "missing_identifier",
    "email_invalid",
    "duplicate_email",
    "hasher_unknown",
    "digest_invalid",
    "plaintext_password",
    "email_unverified",
    "phone_invalid",
    "duplicate_phone",
    "duplicate_username",
    "metadata_invalid",
    "metadata_too_large",
    "row_malformed",
    "username_invalid",
    "dev_instance_cap",
)
WARNING_CODES = (
    "plaintext_password",
    "email_unverified",
    "name_too_long",
    "name_dropped",
    "name_one_word",
    "date_invalid",
    "unknown_column",
    "accounts_unmatched",
    "image_not_imported",
    "oauth_not_imported",
)

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_email_ok = re.compile(
    _ATEXT + r"(?:\." + _ATEXT + r")*@(?:" + _LABEL + r"\.)+[A-Za-z]{2,63}"
).fullmatch
_URL_PREFIXES = ("http://", "https://", "www.")
_username_ok = re.compile(r"[A-Za-z0-9_-]+").fullmatch
# E.164: '+', a country code that does not start with 0, 7 to 15 digits in all
# (the sandbox's rule). Spaces, dots, dashes and parentheses are formatting.
_e164 = re.compile(r"\+[1-9][0-9]{6,14}").fullmatch
_phone_formatting = re.compile(r"[\s.()\-]").sub


def email_is_valid(email: str) -> bool:
    """Syntax Clerk accepts: ASCII `local@domain.tld`, dot-atom local part,
    DNS labels, an alphabetic top-level domain, RFC lengths."""
    if len(email) > EMAIL_MAX_LENGTH or not email.isascii():
        return False
    at = email.find("@")
    if at < 1 or at > EMAIL_LOCAL_MAX_LENGTH:
        return False
    return _email_ok(email) is not None


def phone_e164(value: str) -> str | None:
    """A phone number as E.164 (`+15555550100`; formatting characters dropped),
    or None when it is not one."""
    number = _phone_formatting("", value)
    return number if _e164(number) else None


def _text(value: Any) -> str | None:
    """A cell as stripped text; None for null / empty."""
    if value is None:
        return None
    if type(value) is str:
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return None


def keep_flag(column: str) -> str:
    """The --map flag that would carry a column no field reads into Clerk."""
    squashed = column.lower().replace("_", "").replace("-", "").replace(" ", "")
    if squashed in _PHONE_NAMES:
        return f"--map phone_number={column}"
    if squashed in _USERNAME_NAMES:
        return f"--map username={column}"
    if any(word in squashed for word in _PRIVATE_WORDS):
        return f"--map private_metadata.{column}={column}"
    return f"--map public_metadata.{column}={column}"


_PHONE_NAMES = frozenset({"phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "tel",
                          "telephone", "cell", "cellphone"})
_USERNAME_NAMES = frozenset({"username", "handle", "login", "screenname", "nickname", "nick"})
# values an app keeps from its users' eyes: private_metadata is server-side only
_PRIVATE_WORDS = ("stripe", "customer", "secret", "token", "apikey", "billing", "subscription",
                  "iban", "ssn", "tax", "internal")

_ABSENT = "\x00absent"  # a key no row has: get() answers None
_MAX_PLANS = 256
_MAX_UNKNOWN_LISTED = 30
_META_FIELDS = ("public_metadata", "private_metadata", "unsafe_metadata")
_INVALID = DateNormaliser.INVALID
_MIN_ISO = "1970-01-01T00:00:00.000Z"
_fromiso = datetime.fromisoformat
_set = object.__setattr__  # fills an Issue's email / name (frozen, built before they are known)
_ROW_OK, _ROW_MALFORMED, _ROW_DUPLICATE_KEYS = 0, 1, 2


class Stats:
    """Counts the file-level notes are built from."""

    __slots__ = (
        "images",
        "with_providers",
        "providers",
        "unverified",
        "unverified_with_oauth",
        "unknown_columns",
        "accounts_matched",
    )

    def __init__(self) -> None:
        self.images = 0
        self.with_providers = 0
        self.providers: dict[str, int] = {}
        self.unverified = 0  # rows with an email and no emailVerified date
        self.unverified_with_oauth = 0  # ... of which have OAuth accounts
        self.unknown_columns: dict[str, None] = {}  # insertion-ordered set
        self.accounts_matched = 0  # distinct user ids of the accounts file found in the export


class _Forgetful(dict):
    """A map that remembers nothing: setdefault gives back the row it is given."""

    def setdefault(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        return default


class RowChecker:
    """Maps export rows to SourceUsers and runs the catalogue on them, in file
    order. Holds the cross-row state (ids and emails seen) for one pass.
    `accounts` (an accounts export's join) adds OAuth providers by user id."""

    def __init__(self, shape: Shape, policies: Policies = Policies(),
                 accounts: AccountsIndex | None = None) -> None:
        self.shape = shape
        self.policies = policies
        self.accounts = accounts
        self._accounts_get = accounts.providers.get if accounts is not None else None
        self.stats = Stats()
        self._ids: dict[str, int] = {}
        self._emails: dict[str, int] = {}
        self._phones: dict[str, int] = {}
        self._usernames: dict[str, int] = {}
        self._dates = DateNormaliser()
        self._max_iso = self._dates.max_iso
        self._plans: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._unverified = _unverified_outcomes(policies.unverified_email)
        self._meta_paths = shape.meta_paths
        self._k_legal = (shape.keys.get("legal_accepted_at") or (None,))[0]  # --legal column:NAME

    def _plan(self, obj: dict[Any, Any]) -> tuple[Any, ...]:
        """Which key of this row holds which field (the first alias present),
        for every row with the same keys; notes the keys no field reads."""
        present = set(obj)
        keys = self.shape.keys

        def key(name: str) -> str:
            for candidate in keys[name]:
                if candidate in present:
                    return candidate
            return _ABSENT

        meta = tuple((n, key(n)) for n in _META_FIELDS if key(n) is not _ABSENT)
        unknown = self.stats.unknown_columns
        known = self.shape.known
        for name in obj:
            if type(name) is str and name not in known and name not in unknown:
                if len(unknown) > 10_000:  # a file whose keys are data: enough to say so
                    break
                unknown[name] = None
        if None in present:
            state = _ROW_MALFORMED
        elif DUPLICATE_KEYS in present:
            state = _ROW_DUPLICATE_KEYS
        else:
            state = _ROW_OK
        plan = (
            key("id"), key("email"), key("email_verified"), key("name"), key("first_name"),
            key("last_name"), key("username"), key("password"), key("password_hasher"),
            key("created_at"), key("image"), key("providers"), meta or None,
            meta or self._meta_paths, key("phone_number"), state,
        )
        if len(self._plans) < _MAX_PLANS:  # rows whose keys all differ: no cache, no growth
            self._plans[tuple(obj)] = plan
        return plan

    # -- one row ------------------------------------------------------------
    def check(self, row: int, obj: dict[Any, Any]) -> CheckedRow:
        plan = self._plans.get(tuple(obj))
        if plan is None:
            plan = self._plan(obj)
        (k_id, k_email, k_verified, k_name, k_first, k_last, k_username, k_password,
         k_hasher, k_created, k_image, k_providers, k_meta, any_meta, k_phone, state) = plan
        if state:
            return self._unreadable(row, obj, state, k_id, k_email)
        issues: list[Issue] = []
        get = obj.get
        stats = self.stats

        # id
        raw = get(k_id)
        if type(raw) is str:
            ext = raw.strip() or None
            if ext is not None and ext[0] == "O" and ext.startswith("ObjectId("):  # mongoexport's CSV
                ext = plain_id(ext)
            first_claim = ext is not None
        else:
            ext = plain_id(raw)
            first_claim = ext is not None
            if ext is None and (type(raw) is int or type(raw) is float):
                issues.append(Issue(row, None, "id", "id_invalid", "error", _id_invalid(raw)))
        if ext is None:
            if not issues:
                issues.append(Issue(row, None, "id", "missing_id", "error", _MSG_MISSING_ID))
        elif first_claim:
            first = self._ids.setdefault(ext, row)
            if first != row:
                first_claim = False
                issues.append(
                    Issue(row, ext, "id", "duplicate_id", "error",
                          f"id {ext} is already used by row {first}; the first row wins")
                )
        user = SourceUser(row, ext)

        # email
        raw = get(k_email)
        email = None
        email_error = False
        if type(raw) is str:
            email = raw.strip() or None
            if email is None:
                pass
            elif (
                len(email) <= EMAIL_MAX_LENGTH
                and email.isascii()
                and 0 < email.find("@") <= EMAIL_LOCAL_MAX_LENGTH
                and _email_ok(email) is not None
            ):
                first = self._emails.setdefault(email.lower(), row)
                if first != row:
                    issues.append(
                        Issue(row, ext, "email", "duplicate_email", "error",
                              f"{email} is already used by row {first} (emails compare "
                              "case-insensitively); the first row wins")
                    )
            else:
                email_error = True
                issues.append(
                    Issue(row, ext, "email", "email_invalid", "error",
                          f"{_quote(email)} is not an email address Clerk accepts")
                )
        elif raw is not None:
            email_error = True
            issues.append(
                Issue(row, ext, "email", "email_invalid", "error",
                      f"the email is a {type(raw).__name__}, not text")
            )
        user.email = email
        identified = email_error  # an identifier was there (even a bad one): not also missing_identifier
        if k_username is not _ABSENT:
            identified = self._username(get(k_username), user, issues) or identified
        if k_phone is not _ABSENT:
            identified = self._phone(get(k_phone), user, issues) or identified
        if email is None and not identified:
            issues.append(
                Issue(row, ext, "email", "missing_identifier", "error", _MSG_MISSING_IDENTIFIER)
            )

        # OAuth providers (the row's own, and the accounts file's) and image
        raw = get(k_providers)
        providers: tuple[str, ...] = to_providers(raw) if raw else ()
        accounts_get = self._accounts_get
        if accounts_get is not None and ext is not None:
            joined = accounts_get(ext)
            if joined is not None:
                if first_claim:
                    stats.accounts_matched += 1
                providers = joined if not providers else tuple(dict.fromkeys(providers + joined))
        if providers:
            user.providers = providers
            stats.with_providers += 1
            counts = stats.providers
            for name in (providers if len(providers) == 1 else set(providers)):
                counts[name] = counts.get(name, 0) + 1
        raw = get(k_image)
        if raw:
            user.image = raw if type(raw) is str else str(raw)
            stats.images += 1

        # email verification
        raw = get(k_verified)
        if raw is None:
            verified = None
        elif type(raw) is str and len(raw) > 10:  # a date: what Auth.js writes
            verified = True
        else:
            verified = to_verified(raw)
        user.email_verified = verified
        if email is not None and not email_error:
            if verified is True:
                user.email_status = "verified_by_date"
            else:
                stats.unverified += 1
                if providers:
                    stats.unverified_with_oauth += 1
                status, outcome = self._unverified[bool(providers)]
                user.email_status = status
                if outcome is not None:
                    issues.append(Issue(row, ext, "email_verified", "email_unverified", *outcome))

        # names
        if k_first is not _ABSENT or k_last is not _ABSENT:
            first_text, last_text = _text(get(k_first)), _text(get(k_last))
            if first_text is not None or last_text is not None:
                user.first_name = self._name_part(first_text, row, ext, "first_name", issues)
                user.last_name = self._name_part(last_text, row, ext, "last_name", issues)
            else:  # empty first/last columns: the name column, if any
                self._split_name(get(k_name), user, issues)
        else:
            raw = get(k_name)
            if type(raw) is str:
                text = raw.strip()
                if (
                    len(text) <= NAME_MAX_LENGTH
                    and " " in text
                    and "@" not in text
                    and "://" not in text
                    and text[:4].lower() != "www."
                ):
                    parts = text.split(None, 1)
                    user.first_name = parts[0]
                    user.last_name = parts[1]
                elif text:
                    self._split_name(text, user, issues)
            elif raw is not None:
                self._split_name(raw, user, issues)

        # created_at
        raw = get(k_created)
        if raw is not None:
            if (
                type(raw) is str
                and len(raw) == 24
                and raw[23] == "Z"
                and raw[10] == "T"
                and _MIN_ISO <= raw <= self._max_iso
            ):  # already RFC 3339 UTC with milliseconds (JSON.stringify(Date))
                try:
                    _fromiso(raw)
                    value = raw
                except ValueError:
                    value = _INVALID
            else:
                value = self._dates(raw)
            if value is _INVALID:
                issues.append(
                    Issue(row, ext, "created_at", "date_invalid", "warning",
                          f"created_at {_quote(str(raw))} is not a date in 1970..now: "
                          "not imported (Clerk uses the import time)")
                )
            else:
                user.created_at = value

        # legal_accepted_at (only mapped: the instance's legal consent, see migration/preflight.py)
        if self._k_legal is not None:
            raw = get(self._k_legal)
            if raw is not None and raw != "":
                value = self._dates(raw)
                if value is _INVALID:
                    issues.append(Issue(row, ext, "legal_accepted_at", "date_invalid", "warning",
                                        f"legal_accepted_at {_quote(str(raw))} is not a date in 1970..now: "
                                        "not imported"))
                elif value is not None:
                    user.legal_accepted_at = value

        # password
        raw = get(k_password)
        if raw is not None and raw != "":
            self._password(raw, get(k_hasher), user, issues)

        if any_meta:
            self._metadata(get, k_meta or (), user, issues)

        if issues:
            shown = email if email is not None else None
            name = _display_name(user, get(k_name))
            for issue in issues:
                _set(issue, "email", shown)
                _set(issue, "name", name)
        return CheckedRow(user, issues)

    def _unreadable(self, row: int, obj: dict[Any, Any], state: int, k_id: str, k_email: str) -> CheckedRow:
        """A CSV row with more fields than the header (its values are shifted)
        or a JSON row with a key twice (which value is meant?): nothing else is
        read from it, and it claims no id or email."""
        ext = plain_id(obj.get(k_id))
        if state == _ROW_MALFORMED:
            width = len(obj) - 1
            issue = Issue(row, ext, "", "row_malformed", "error",
                          f"{width + len(obj[None])} fields where the header has {width}: "
                          "a separator inside an unquoted value? Quote it and re-export")
        else:
            names = obj[DUPLICATE_KEYS]
            listed = ", ".join(_quote(str(n)) for n in names[:5])
            issue = Issue(row, ext, str(names[0]), "duplicate_key", "error",
                          f"the key {listed} appears twice in this row: ambiguous (which value is meant?), "
                          "not imported")
        email = obj.get(k_email)
        if type(email) is str and email.strip():
            _set(issue, "email", email.strip())
        return CheckedRow(SourceUser(row, ext), [issue])

    # -- pieces -------------------------------------------------------------
    def _username(self, raw: Any, user: SourceUser, issues: list[Issue]) -> bool:
        """Reads a mapped username; True when the row had one (valid or not)."""
        username = _text(raw)
        if username is None:
            return False
        row, ext = user.row, user.external_id
        if not (USERNAME_MIN_LENGTH <= len(username) <= USERNAME_MAX_LENGTH and _username_ok(username)):
            issues.append(
                Issue(row, ext, "username", "username_invalid", "error",
                      f"username {_quote(username)} is not one Clerk accepts ({USERNAME_MIN_LENGTH}-"
                      f"{USERNAME_MAX_LENGTH} letters, digits, '_' or '-')")
            )
            return True
        first = self._usernames.setdefault(username.lower(), row)
        if first != row:
            issues.append(
                Issue(row, ext, "username", "duplicate_username", "error",
                      f"username {_quote(username)} is already used by row {first} (usernames compare "
                      "case-insensitively); the first row wins")
            )
        user.username = username
        return True

    def _phone(self, raw: Any, user: SourceUser, issues: list[Issue]) -> bool:
        """Reads a mapped phone number; True when the row had one (valid or not)."""
        text = _text(raw)
        if text is None:
            return False
        row, ext = user.row, user.external_id
        number = phone_e164(text)
        if number is None:
            why = ("it needs '+' and the country code" if not text.lstrip().startswith("+")
                   else "7 to 15 digits after '+', the first not 0")
            issues.append(
                Issue(row, ext, "phone_number", "phone_invalid", "error",
                      f"phone number {_quote(text)} is not E.164 ({why}, e.g. +15555550100): "
                      "not imported; fix it in the export or leave the column unmapped")
            )
            return True
        first = self._phones.setdefault(number, row)
        if first != row:
            issues.append(
                Issue(row, ext, "phone_number", "duplicate_phone", "error",
                      f"phone number {number} is already used by row {first}; the first row wins")
            )
        user.phone_number = number
        return True

    def _split_name(self, name: Any, user: SourceUser, issues: list[Issue]) -> None:
        row, ext = user.row, user.external_id
        text = _text(name)
        if text is None:
            return
        if (" " not in text and "@" in text and "." in text) or text.lower().startswith(_URL_PREFIXES):
            issues.append(
                Issue(row, ext, "name", "name_dropped", "warning",
                      "the name is an email address or URL, not a person's name: not imported")
            )
            return
        parts = text.split(None, 1)
        if len(parts) == 1:
            user.first_name = self._name_part(text, row, ext, "first_name", issues)
            issues.append(
                Issue(row, ext, "name", "name_one_word", "warning",
                      "a one-word name: imported as the first name, no last name")
            )
            return
        user.first_name = self._name_part(parts[0], row, ext, "first_name", issues)
        user.last_name = self._name_part(parts[1], row, ext, "last_name", issues)

    def _name_part(self, value: str | None, row: int, ext: str | None, field: str,
                   issues: list[Issue]) -> str | None:
        if value is not None and len(value) > NAME_MAX_LENGTH:
            issues.append(
                Issue(row, ext, field, "name_too_long", "warning",
                      f"{field} has {len(value)} characters, Clerk keeps at most "
                      f"{NAME_MAX_LENGTH}: cut to {NAME_MAX_LENGTH}")
            )
            return value[:NAME_MAX_LENGTH].rstrip() or None
        return value

    def _password(self, password: Any, hasher_raw: Any, user: SourceUser,
                  issues: list[Issue]) -> None:
        row, ext = user.row, user.external_id
        if type(password) is not str:
            issues.append(
                Issue(row, ext, "password", "digest_invalid", "error",
                      f"the password column holds a {_json_kind(password)}, not a digest")
            )
            return
        value = password.strip()
        if not value:
            return
        hasher = _text(hasher_raw)
        if hasher is not None:
            hasher = hasher.lower()
            if hasher in PLAINTEXT_HASHER_WORDS:
                self._plaintext(value, user, issues)
                return
            if hasher not in PASSWORD_HASHERS:
                issues.append(
                    Issue(row, ext, "password_hasher", "hasher_unknown", "error",
                          f"password hasher {_quote(hasher)} is not one Clerk supports "
                          f"({', '.join(sorted(PASSWORD_HASHERS))})")
                )
                return
            if not digest_fits(hasher, value):
                issues.append(
                    Issue(row, ext, "password", "digest_invalid", "error",
                          f"the password digest ({digest_label(value)}) does not have the "
                          f"{hasher} format ({DIGEST_LAYOUTS[hasher]})")
                )
                return
            user.password_digest = value
            user.password_hasher = hasher
            return
        detected = detect_hasher(value)
        if detected is not None:
            user.password_digest = value
            user.password_hasher = detected
            return
        if looks_like_digest(value):
            issues.append(
                Issue(row, ext, "password", "hasher_unknown", "error",
                      f"the password digest ({digest_label(value)}) matches no hasher Clerk "
                      "supports; add a passwordHasher column if it is one of Clerk's")
            )
            return
        self._plaintext(value, user, issues)

    def _plaintext(self, value: str, user: SourceUser, issues: list[Issue]) -> None:
        row, ext = user.row, user.external_id
        if self.policies.plaintext_password != "send":
            issues.append(Issue(row, ext, "password", "plaintext_password", "error", _MSG_PLAINTEXT_REFUSED))
        elif len(value) < PASSWORD_MIN_LENGTH:
            issues.append(
                Issue(row, ext, "password", "plaintext_password", "error",
                      f"a plaintext password shorter than {PASSWORD_MIN_LENGTH} characters: "
                      "Clerk refuses it")
            )
        elif len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
            issues.append(
                Issue(row, ext, "password", "plaintext_password", "error",
                      f"a plaintext password longer than {PASSWORD_MAX_BYTES} bytes: Clerk refuses it")
            )
        else:
            user.password = value
            issues.append(Issue(row, ext, "password", "plaintext_password", "warning", _MSG_PLAINTEXT_SENT))

    def _metadata(self, get, keys: tuple[tuple[str, str], ...], user: SourceUser,
                  issues: list[Issue]) -> None:
        """Metadata objects (whole columns), then the --map'ped keys set into
        them; Clerk's size limit checked on the result, naming each part."""
        row, ext = user.row, user.external_id
        values: dict[str, dict[str, Any]] = {}
        bad: set[str] = set()
        for name, key in keys:
            value = get(key)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                try:
                    value = loads_value(value)
                except TooDeep:
                    issues.append(Issue(row, ext, name, "metadata_invalid", "error",
                                        f"{name} is nested deeper than {MAX_DEPTH} levels"))
                    bad.add(name)
                    continue
                except ValueError:
                    value = ...
            if not isinstance(value, dict):
                issues.append(
                    Issue(row, ext, name, "metadata_invalid", "error", f"{name} is not a JSON object")
                )
                bad.add(name)
                continue
            if value:
                values[name] = value
        for name, path, column in self._meta_paths:
            value = get(column)
            if value is None or value == "" or name in bad:
                continue
            target = values.setdefault(name, {})
            for part in path[:-1]:
                inner = target.get(part)
                if inner is None:
                    inner = target[part] = {}
                elif not isinstance(inner, dict):
                    issues.append(
                        Issue(row, ext, name, "metadata_invalid", "error",
                              f"{name}.{'.'.join(path)} (--map from {column}) cannot be set: "
                              f"{name} already has {part!r} as a {_json_kind(inner)}")
                    )
                    target = None
                    break
                target = inner
            if target is not None:
                target[path[-1]] = value
        sizes: list[tuple[str, int]] = []
        for name, value in values.items():
            try:
                size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            except (RecursionError, ValueError):  # nested beyond reason
                issues.append(
                    Issue(row, ext, name, "metadata_invalid", "error", f"{name} is nested too deeply")
                )
                continue
            sizes.append((name, size))
            setattr(user, name, value)
        total = sum(size for _, size in sizes)
        if total > METADATA_MAX_BYTES:
            parts = ", ".join(f"{name} {size:,}" for name, size in sizes)
            issues.append(
                Issue(row, ext, "metadata", "metadata_too_large", "error",
                      f"metadata is {total:,} bytes as JSON ({parts}); Clerk allows "
                      f"{METADATA_MAX_BYTES:,} bytes in all")
            )

    # -- the whole file -----------------------------------------------------
    def forget_duplicates(self) -> None:
        """No cross-row duplicate checks from here on (nothing remembered): for an export a
        run already checked at load (ExportReader.rows(duplicates=False))."""
        self._ids = self._emails = self._phones = self._usernames = _Forgetful()

    def file_issues(self) -> list[Issue]:
        """Row-0 notes, complete once every row went through `check`."""
        stats = self.stats
        out: list[Issue] = []
        if stats.unknown_columns:
            listed = list(stats.unknown_columns)[:_MAX_UNKNOWN_LISTED]
            for name in listed:
                out.append(
                    Issue(0, None, str(name), "unknown_column", "warning",
                          f"column {name} is not imported: {keep_flag(str(name))} keeps it")
                )
            more = len(stats.unknown_columns) - len(listed)
            if more:
                out.append(
                    Issue(0, None, "", "unknown_column", "warning",
                          f"{more:,} more columns are not imported (--map public_metadata.COLUMN=COLUMN "
                          "keeps one)")
                )
        accounts = self.accounts
        if accounts is not None:
            unmatched = accounts.users - stats.accounts_matched
            if unmatched > 0:
                words = ("user id of the accounts file ({}) is not in the export: its OAuth accounts are"
                         if unmatched == 1 else
                         "user ids of the accounts file ({}) are not in the export: their OAuth accounts are")
                out.append(
                    Issue(0, None, "providers", "accounts_unmatched", "warning",
                          f"{unmatched:,} {words.format(accounts.path.name)} ignored")
                )
        if stats.images:
            out.append(
                Issue(0, None, "image", "image_not_imported", "warning",
                      f"{stats.images:,} rows have an image URL: Clerk's create call has no avatar "
                      "field, so images are not imported (an OAuth sign-in brings the provider's)")
            )
        if stats.with_providers:
            by_name = ", ".join(
                f"{name} {count:,}"
                for name, count in sorted(stats.providers.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            text = (
                f"{stats.with_providers:,} rows have OAuth accounts ({by_name}): OAuth connections "
                "cannot be imported; Clerk links them on the user's first OAuth sign-in when the "
                "email is verified"
            )
            if stats.unverified_with_oauth:
                text += (
                    f" ({stats.unverified_with_oauth:,} of them have no emailVerified date: "
                    f"{_OAUTH_UNDATED[self.policies.unverified_email]})"
                )
            out.append(Issue(0, None, "providers", "oauth_not_imported", "warning", text))
        return out


def dev_cap_blocker(importable: int) -> Issue:
    return Issue(
        0, None, "", "dev_instance_cap", "error",
        f"{importable:,} importable rows but a Development instance holds at most "
        f"{DEV_USER_CAP} users: import into Production, or a subset of at most "
        f"{DEV_USER_CAP} rows",
    )


def _quote(value: str, limit: int = 60) -> str:
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return json.dumps(value, ensure_ascii=False)


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "JSON object"
    if isinstance(value, list):
        return "JSON array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _id_invalid(raw: Any) -> str:
    if isinstance(raw, float):
        if raw != raw:
            what = "NaN"
        elif raw in (float("inf"), float("-inf")):
            what = "an infinite number (or an integer of thousands of digits)"
        elif not raw.is_integer():
            what = f"the fraction {raw!r}"
        else:
            what = "a number too large to be exact as a float"
    elif isinstance(raw, int):
        what = f"an integer beyond 2^64 ({str(raw)[:24]}{'…' if len(str(raw)) > 24 else ''})"
    else:  # pragma: no cover - only numbers get here
        what = f"a {_json_kind(raw)}"
    return (f"the id is {what}: expected the Auth.js user id as text or an integer below 2^64 "
            "(this row is not imported; the others are)")


def _display_name(user: SourceUser, raw_name: Any) -> str | None:
    if user.first_name or user.last_name:
        return " ".join(p for p in (user.first_name, user.last_name) if p)
    text = _text(raw_name)
    return text[:NAME_MAX_LENGTH] if text else None


_OAUTH_UNDATED = {
    "oauth": "imported verified, as their OAuth sign-in proved the address",
    "verified": "imported verified, as their OAuth sign-in proved the address",
    "reserved": "imported reserved under policy reserved",
    "refuse": "refused under policy refuse",
}


def _unverified_outcomes(policy: str) -> dict[bool, tuple[str, tuple[str, str] | None]]:
    """By whether the row has OAuth accounts: (email_status, (severity, message)
    of its email_unverified issue, or None when it needs none)."""
    from console.source.model import email_status

    out: dict[bool, tuple[str, tuple[str, str] | None]] = {}
    for oauth in (False, True):
        status = email_status(None, oauth, policy)
        lead = ("no emailVerified date (an OAuth user: the provider verified the address, Auth.js "
                "leaves the date empty)" if oauth else "no emailVerified date and no OAuth account")
        if status == "reserved":
            why = "" if policy == "oauth" else " (policy reserved)"
            outcome: tuple[str, str] | None = (
                "warning", f"{lead}: imported reserved{why}: unverified, locked to this user, verified "
                "on the user's first sign-in")
        elif status == "verified_by_policy":
            outcome = ("warning", f"{lead}: imported verified anyway (policy verified); nothing proved "
                       "the address, so a later OAuth sign-in with it would take over this user")
        elif status == "refused":
            outcome = ("error", f"{lead}: not imported (policy refuse)")
        else:
            outcome = None  # verified by its OAuth account: nothing to say
        out[oauth] = (status, outcome)
    return out


_MSG_MISSING_ID = "no id: every row needs the Auth.js user id (it becomes Clerk's external_id)"
_MSG_MISSING_IDENTIFIER = (
    "no email and no other identifier (username, phone number): Clerk cannot create this user"
)
_MSG_PLAINTEXT_REFUSED = (
    "the password looks like plaintext, not a digest: not imported (policy refuse; "
    "--plaintext send sends it as a password without Clerk's strength checks)"
)
_MSG_PLAINTEXT_SENT = (
    "the password looks like plaintext: sent as the password, without Clerk's strength "
    "checks (policy send)"
)
