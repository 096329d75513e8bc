"""Preflight: the export against the instance's own settings, before any write.

A real Clerk instance is configured in its dashboard: it may require a
username or a phone number, turn usernames off, require legal consent, make
the password the only way to sign in, or have GitHub sign-in off. Clerk then
refuses the creates that do not fit (422), or creates users who cannot sign
in. This module reads the instance's public settings from the Frontend API
(`GET /v1/environment`, host from the publishable key, no secret key) and:

- derives the `BodyRules`: what a create body of this instance must hold and
  may not hold (required identifiers, attributes turned off, the password
  rule, the legal-consent policy). One object, applied where the create body
  is built (`rules.apply(body)` after `to_payload`), stored in the run's
  settings so a resume uses the same rules and refuses when the instance's
  settings changed in a way that matters;
- checks the export row by row in one streaming pass (`Tally`, bounded
  memory: counts and a few example rows per finding) into a `Readiness`
  (`as_json()`), which the `preflight` command prints and the import's load
  keeps in the journal (meta "preflight");
- checks the instance behind the secret key (`GET /v1/instance`: its kind
  against the key's prefix), the Development guard and the user cap;
- names the likely field of a 422 `form_param_unknown` whose `meta` names none
  (`UnknownFieldExplainer`), by comparing the body with the settings.

    rules = BodyRules.from_settings(instance_settings, legal="skip")
    readiness = check_export("users.json", rules)                  # blocking: run it in a thread
    readiness = await preflight("users.json", app_settings, legal=None)  # settings + export + instance

Nothing here imports textual.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError

RULES_VERSION = 1
EXAMPLES = 5  # example rows kept per finding
META_KEY = "preflight"  # the journal meta holding the load's Readiness
SETTINGS_KEY = "body_rules"  # RunInfo.settings key holding the run's BodyRules

# attribute -> the create-body fields it governs (dropped together when it is off)
ATTRIBUTE_FIELDS: dict[str, tuple[str, ...]] = {
    "email_address": ("email_address", "email_address_identification_status"),
    "phone_number": ("phone_number", "phone_number_identification_status"),
    "username": ("username",),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "password": ("password", "password_digest", "password_hasher", "skip_password_checks"),
}
IDENTIFIERS = ("email_address", "phone_number", "username")
REQUIRABLE = ("email_address", "phone_number", "username", "first_name", "last_name")
WORDS = {"email_address": "an email address", "phone_number": "a phone number", "username": "a username",
         "first_name": "a first name", "last_name": "a last name", "password": "a password"}
PLURAL = {"email_address": "email addresses", "phone_number": "phone numbers", "username": "usernames",
          "first_name": "first names", "last_name": "last names", "password": "passwords"}

# codes of the rows refused because of the instance's settings (journal refusal codes too)
REQUIRED_CODES = {"email_address": "email_required", "phone_number": "phone_required",
                  "username": "username_required", "first_name": "first_name_required",
                  "last_name": "last_name_required"}
REFUSAL_CODES: tuple[str, ...] = (*REQUIRED_CODES.values(), "identifier_turned_off", "password_required",
                                  "legal_consent_missing", "legal_policy_missing")
CODE_WORDS = {
    "email_required": "email required", "phone_required": "phone number required",
    "username_required": "username required", "first_name_required": "first name required",
    "last_name_required": "last name required", "identifier_turned_off": "only identifier turned off",
    "password_required": "password required", "legal_consent_missing": "no legal consent date",
    "legal_policy_missing": "legal consent policy missing",
}

# Auth.js provider ids -> Clerk's `oauth_<name>` strategies that stand for them (first: the current one)
PROVIDER_STRATEGIES: dict[str, tuple[str, ...]] = {
    "azure-ad": ("microsoft",), "azure-ad-b2c": ("microsoft",), "microsoft-entra-id": ("microsoft",),
    "entra-id": ("microsoft",), "microsoft": ("microsoft",),
    "linkedin": ("linkedin_oidc", "linkedin"), "twitter": ("x", "twitter"), "x": ("x", "twitter"),
}


class PreflightError(MigrationError):
    """The settings or the instance could not be read (exit 2), or a bad option."""


# ----------------------------------------------------------------------------- the legal policy
def parse_legal(text: str | None) -> str | None:
    """`--legal skip|column:NAME` -> "skip" | "column:NAME" | None. PreflightError (one line)."""
    if text is None:
        return None
    value = text.strip()
    if value == "skip":
        return "skip"
    head, sep, column = value.partition(":")
    if head == "column" and sep and column.strip():
        return f"column:{column.strip()}"
    raise PreflightError(f"--legal {text!r}: expected skip (send skip_legal_checks) or column:NAME "
                         "(legal_accepted_at from the export's column NAME)", code="bad_legal")


def legal_column(legal: str | None) -> str | None:
    return legal.partition(":")[2] if legal and legal.startswith("column:") else None


def mapping_with_legal(mapping: dict[str, str] | None, legal: str | None) -> dict[str, str] | None:
    """The export mapping with `legal_accepted_at` read from the --legal column."""
    column = legal_column(legal)
    if column is None:
        return mapping
    out = dict(mapping or {})
    if out.get("legal_accepted_at", column) != column:
        raise PreflightError(f"--legal column:{column} and --map legal_accepted_at={out['legal_accepted_at']} "
                             "name two columns: give one", code="bad_legal")
    out["legal_accepted_at"] = column
    return out


LEGAL_CHOICE = ("the instance requires legal consent: choose --legal skip (create the users with "
                "skip_legal_checks: they accepted your terms under Auth.js) or --legal column:NAME "
                "(legal_accepted_at from the export's column NAME)")


# ----------------------------------------------------------------------------- settings -> rules
def settings_digest(instance_settings: Any) -> str:
    """sha256 of the settings a migration reads (attributes, social, sign_up, environment type)."""
    data = instance_settings.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def clerk_strategies(provider: str) -> tuple[str, ...]:
    """An Auth.js provider id -> the Clerk strategy names (without `oauth_`) that stand for it."""
    name = provider.strip().lower()
    found = PROVIDER_STRATEGIES.get(name)
    if found:
        return found
    plain = name.replace("-", "_").replace(" ", "_")
    return (plain, f"custom_{plain}")


@dataclass(frozen=True)
class BodyRules:
    """What the instance's settings ask of a create body.

    - `turned_off`: attributes the instance has off; their fields are not sent
      (dropped from the body), said once;
    - `required`: identifiers and names the instance requires; a row without
      one is refused before sending (`username_required`, …);
    - `password`: "off" (digests not sent), "optional", "required" (another
      first factor exists: skip_password_requirement works), "only" (the only
      first factor: a row without a password is refused, `password_required`);
    - `legal_consent` (the instance requires it) and `legal`, the operator's
      policy: "skip" (skip_legal_checks) or "column:NAME" (legal_accepted_at
      from the export; a row without it is refused, `legal_consent_missing`);
    - `checked`: False when the settings could not be read (no publishable
      key): no rule but the legal policy's.
    `digest` identifies the settings read; `effect()` is what a resume compares.
    """

    checked: bool = False
    turned_off: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    password: str = "optional"
    legal_consent: bool = False
    legal: str | None = None
    providers: tuple[str, ...] = ()  # enabled social providers (for the OAuth warning)
    other_factors: tuple[str, ...] = ()  # first factors besides the password
    provider_names: tuple[str, ...] = ()  # "github=GitHub": every social provider's display name
    environment_type: str | None = None
    digest: str | None = None
    read_at: float | None = None
    version: int = RULES_VERSION

    # -- making
    @classmethod
    def from_settings(cls, instance_settings: Any, *, legal: str | None = None,
                      read_at: float | None = None) -> "BodyRules":
        s = instance_settings
        turned_off = tuple(name for name in ATTRIBUTE_FIELDS if not s.enabled(name))
        required = tuple(name for name in REQUIRABLE if s.required(name))
        if not s.password.enabled:
            password = "off"
        elif s.password_only_first_factor:
            password = "only"
        elif s.password.required:
            password = "required"
        else:
            password = "optional"
        factors: list[str] = []
        for name, attr in s.attributes.items():
            if name != "password" and attr.enabled and attr.used_for_first_factor:
                factors += [f for f in attr.first_factors if f not in factors]
            if name == "passkey" and attr.enabled and "passkey" not in factors:
                factors.append("passkey")
        factors += [f"oauth_{p}" for p in s.enabled_providers]
        return cls(
            checked=True,
            turned_off=turned_off,
            required=required,
            password=password,
            legal_consent=bool(s.legal_consent_enabled),
            legal=legal,
            providers=tuple(s.enabled_providers),
            other_factors=tuple(factors),
            provider_names=tuple(f"{k.removeprefix('oauth_')}={p.name}" for k, p in s.social.items() if p.name),
            environment_type=s.environment_type,
            digest=settings_digest(s),
            read_at=read_at if read_at is not None else time.time(),
        )

    @classmethod
    def unchecked(cls, legal: str | None = None) -> "BodyRules":
        return cls(checked=False, legal=legal)

    def with_legal(self, legal: str | None) -> "BodyRules":
        return dataclasses.replace(self, legal=legal)

    # -- stored form
    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "BodyRules | None":
        if not isinstance(data, dict):
            return None
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for k, v in data.items():
            if k in known:
                values[k] = tuple(v) if isinstance(v, list) else v
        return cls(**values)

    @classmethod
    def of_run(cls, info: Any) -> "BodyRules | None":
        """The rules a run was checked against (RunInfo.settings["body_rules"]), or None."""
        settings = info.settings or {}
        return cls.from_dict(settings.get(SETTINGS_KEY))

    def effect(self) -> dict[str, Any]:
        """What changes bodies and refusals (a resume compares this, not the digest)."""
        return {"checked": self.checked, "turned_off": sorted(self.turned_off), "required": sorted(self.required),
                "password": self.password, "legal_consent": self.legal_consent, "legal": self.legal}

    def differences(self, other: "BodyRules") -> list[str]:
        """Sentences saying how `other` (the instance now) differs from these rules (the run's)."""
        out: list[str] = []
        for name in sorted(set(other.required) - set(self.required)):
            out.append(f"{PLURAL[name]} are now required")
        for name in sorted(set(self.required) - set(other.required)):
            out.append(f"{PLURAL[name]} are no longer required")
        for name in sorted(set(other.turned_off) - set(self.turned_off)):
            out.append(f"{PLURAL[name]} are now turned off")
        for name in sorted(set(self.turned_off) - set(other.turned_off)):
            out.append(f"{PLURAL[name]} are now turned on")
        if self.password != other.password:
            out.append(f"the password rule is now {other.password!r} (was {self.password!r})")
        if self.legal_consent != other.legal_consent:
            out.append("legal consent is now " + ("required" if other.legal_consent else "not required"))
        if self.legal != other.legal:
            out.append(f"the legal policy is {other.legal or 'none'} (the run has {self.legal or 'none'})")
        return out

    # -- per row (hot: the load and the preflight call these once per row)
    @functools.cached_property
    def _off_keys(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((name, frozenset(("password", "password_digest") if name == "password" else (name,)))
                     for name in self.turned_off)

    @functools.cached_property
    def _off_identifiers(self) -> frozenset[str]:
        return frozenset(IDENTIFIERS) & frozenset(self.turned_off)

    def refusal(self, present: frozenset[str] | set[str]) -> tuple[str, str] | None:
        """(code, message) when a body holding the fields `present` would be refused, else None."""
        for name in self.required:
            if name not in present:
                return REQUIRED_CODES[name], (f"the instance requires {WORDS[name]} and this row has none: "
                                              "not sent")
        if self.checked:
            off = self._off_identifiers
            had = [n for n in IDENTIFIERS if n in present] if off else None
            if had and all(n in off for n in had):
                shown = ", ".join(had)
                return "identifier_turned_off", (f"the row's only identifier ({shown}) is turned off on the "
                                                 "instance: not sent")
            if self.password == "only" and "password" not in present and "password_digest" not in present:
                return "password_required", ("the password is the instance's only way to sign in and this row "
                                             "has none (Clerk refuses skip_password_requirement there): not sent")
        if self.legal_consent:
            if self.legal is None:
                return "legal_policy_missing", LEGAL_CHOICE
            if self.legal.startswith("column:") and "legal_accepted_at" not in present:
                return "legal_consent_missing", (f"the instance requires legal consent and the row has no date in "
                                                 f"column {legal_column(self.legal)}: not sent")
        return None

    def dropped(self, present: Iterable[str]) -> list[str]:
        """The turned-off attributes a body holding the fields `present` has a value for (not sent)."""
        return [name for name, keys in self._off_keys if not keys.isdisjoint(present)]

    def apply(self, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """The body as this instance takes it: (body, None), or (body, (code, message)) when the
        row is refused before sending. Fields of turned-off attributes are dropped;
        skip_legal_checks is added under the `skip` policy."""
        present = frozenset(k for k, v in body.items() if v is not None and v != [] and v != "")
        refusal = self.refusal(present)
        if refusal is not None:
            return body, refusal
        out = body
        if self.checked and self.turned_off:
            drop = {f for name in self.turned_off for f in ATTRIBUTE_FIELDS[name]}
            if drop & present:
                out = {k: v for k, v in body.items() if k not in drop}
        if self.legal == "skip" and (self.legal_consent or not self.checked):
            out = dict(out) if out is body else out
            out["skip_legal_checks"] = True
        return out, None


def present_of_user(user: Any, plaintext_policy: str) -> frozenset[str]:
    """The create-body fields `to_payload` would fill for this SourceUser (cheap: no body built)."""
    present = []
    if user.email:
        present.append("email_address")
    if user.phone_number:
        present.append("phone_number")
    if user.username:
        present.append("username")
    if user.first_name:
        present.append("first_name")
    if user.last_name:
        present.append("last_name")
    if user.password_digest and user.password_hasher:
        present.append("password_digest")
    elif user.password and plaintext_policy == "send":
        present.append("password")
    if getattr(user, "legal_accepted_at", None):
        present.append("legal_accepted_at")
    return frozenset(present)


# ----------------------------------------------------------------------------- findings
@dataclass
class Finding:
    code: str
    severity: str  # "error" (rows refused), "warning" (imported, with a consequence said), "note" (said once)
    field: str
    message: str
    source: str  # "settings" | "export" | "instance"
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    by: dict[str, int] | None = None

    def add(self, user: Any, message: str | None = None) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            example = {"row": user.row, "external_id": user.external_id, "email": user.email}
            if message is not None and message != self.message:
                example["message"] = message
            self.examples.append(example)

    def as_json(self, row_text: bool = True) -> dict[str, Any]:
        """row_text=False: without the export's own messages (they may quote a row's values),
        as the journal keeps it (external id and email only)."""
        keep = row_text or self.source != "export"
        examples = self.examples if keep else [{k: v for k, v in e.items() if k != "message"} for e in self.examples]
        out = {"code": self.code, "severity": self.severity, "field": self.field, "source": self.source,
               "count": self.count, "message": self.message if keep else None, "examples": list(examples)}
        if self.by is not None:
            out["by"] = dict(sorted(self.by.items(), key=lambda kv: (-kv[1], kv[0])))
        return out


@dataclass
class Readiness:
    """The preflight's answer: counts and example rows per finding. `exit_code`: 0 ready,
    1 some rows would be refused (or a blocker stops the import)."""

    export: str | None = None
    rows: int = 0
    importable_by_export: int = 0  # rows the export's own checks accept
    refused_by_export: int = 0
    refused_by_settings: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)
    rules: BodyRules | None = None
    findings: list[Finding] = field(default_factory=list)
    blockers: list[dict[str, str]] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    file_notes: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def importable(self) -> int:
        return self.importable_by_export - self.refused_by_settings

    @property
    def refused(self) -> int:
        return self.refused_by_export + self.refused_by_settings

    @property
    def ready(self) -> bool:
        return self.refused == 0 and not self.blockers

    @property
    def exit_code(self) -> int:
        return 0 if self.ready else 1

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def settings_refusals(self) -> dict[str, int]:
        return {f.code: f.count for f in self.findings if f.source == "settings" and f.severity == "error"}

    def as_json(self, row_text: bool = True) -> dict[str, Any]:
        """The preflight --json object; row_text=False leaves out the export checks' messages
        (which may quote a row's values): the journal's copy."""
        return {
            "export": self.export,
            "ready": self.ready,
            "rows": self.rows,
            "importable": self.importable,
            "refused": self.refused,
            "refused_by_export": self.refused_by_export,
            "refused_by_settings": self.refused_by_settings,
            "settings": dict(self.settings),
            "instance": dict(self.instance),
            "legal": self.rules.legal if self.rules is not None else None,
            "rules": self.rules.as_dict() if self.rules is not None else None,
            "findings": [f.as_json(row_text) for f in self.findings],
            "blockers": list(self.blockers),
            "not_checked": list(self.not_checked),
            "file_notes": list(self.file_notes) if row_text else [],
            "duration_s": round(self.duration_s, 2),
        }


class Tally:
    """One streaming pass: feed every CheckedRow to `add`, in file order. Bounded memory:
    a Finding (count + EXAMPLES rows) per code. `add` returns the settings' refusal of the
    row ((code, message)) or None; the import's load marks such rows refused."""

    def __init__(self, rules: BodyRules | None, plaintext_policy: str = "refuse") -> None:
        self.rules = rules or BodyRules.unchecked()
        # no legal policy yet: a blocker (readiness()), and the rows are checked for everything else
        self._row_rules = (dataclasses.replace(self.rules, legal="skip")
                           if self.rules.legal_consent and self.rules.legal is None else self.rules)
        self.plaintext_policy = plaintext_policy
        self.rows = 0
        self.importable = 0
        self.refused_export = 0
        self.refused_settings = 0
        self._export: dict[tuple[str, str], Finding] = {}
        self._settings: dict[str, Finding] = {}
        self._provider_names: dict[str, str] = {}
        self._provider_on: dict[str, bool] = {}
        self._names = dict(item.partition("=")[::2] for item in self.rules.provider_names)

    # -- the row
    def add(self, checked: Any) -> tuple[str, str] | None:
        self.rows += 1
        user = checked.user
        if checked.issues:
            for issue in checked.issues:
                if issue.row:
                    self._export_issue(user, issue)
        if not checked.importable:
            self.refused_export += 1
            return None
        self.importable += 1
        rules = self._row_rules
        present = present_of_user(user, self.plaintext_policy)
        refusal = rules.refusal(present)
        if refusal is not None:
            self.refused_settings += 1
            code, message = refusal
            self._hit(user, code, "error", _code_field(code), lambda: message)
            return refusal
        if not rules.checked:
            return None
        if rules.turned_off:
            for name in rules.dropped(present):
                self._hit(user, f"{name}_turned_off", "warning" if name == "password" else "note", name,
                          lambda: _turned_off_message(name))
        has_password = "password" in present or "password_digest" in present
        if rules.password == "required" and not has_password:
            self._hit(user, "password_missing", "warning", "password", lambda: _password_missing_message(rules))
        if user.providers and not has_password:
            off = [p for p in dict.fromkeys(user.providers) if not self._provider_enabled(p)]
            if off and len(off) == len(set(user.providers)):
                f = self._settings_finding("oauth_provider_off", "warning", "providers", "")
                f.add(user)
                f.by = f.by or {}
                for p in off:
                    name = self._provider_name(p)
                    f.by[name] = f.by.get(name, 0) + 1
        return None

    def _provider_enabled(self, provider: str) -> bool:
        found = self._provider_on.get(provider)
        if found is None:
            found = any(s in self.rules.providers for s in clerk_strategies(provider))
            self._provider_on[provider] = found
        return found

    def _provider_name(self, provider: str) -> str:
        name = self._provider_names.get(provider)
        if name is None:
            name = self._names.get(clerk_strategies(provider)[0]) or provider
            self._provider_names[provider] = name
        return name

    def _export_issue(self, user: Any, issue: Any) -> None:
        key = (issue.code, issue.severity)
        f = self._export.get(key)
        if f is None:
            f = self._export[key] = Finding(issue.code, issue.severity, issue.field, issue.message, "export")
        f.add(user, issue.message)

    def _hit(self, user: Any, code: str, severity: str, field_name: str, message: Callable[[], str]) -> None:
        f = self._settings.get(code)
        if f is None:
            f = self._settings[code] = Finding(code, severity, field_name, message(), "settings")
        f.add(user)

    def _settings_finding(self, code: str, severity: str, field_name: str, message: str) -> Finding:
        f = self._settings.get(code)
        if f is None:
            f = self._settings[code] = Finding(code, severity, field_name, message, "settings")
        return f

    # -- the end
    def findings(self) -> list[Finding]:
        order = {"error": 0, "warning": 1, "note": 2}
        out = list(self._settings.values())
        oauth = self._settings.get("oauth_provider_off")
        if oauth is not None and oauth.by:
            listed = ", ".join(f"{name} {n:,}" for name, n in sorted(oauth.by.items(), key=lambda kv: (-kv[1], kv[0])))
            oauth.message = (f"users whose only Auth.js sign-in is an OAuth provider the instance has turned off "
                             f"({listed}): they will exist but cannot sign in that way (turn the provider on in "
                             "Clerk's dashboard, or they use another way the instance offers)")
        out.sort(key=lambda f: (order.get(f.severity, 3), -f.count, f.code))
        export = sorted(self._export.values(), key=lambda f: (order.get(f.severity, 3), -f.count, f.code))
        return out + export

    def readiness(self, *, export: str | None = None, file_issues: Iterable[Any] = ()) -> Readiness:
        r = Readiness(export=export, rows=self.rows, importable_by_export=self.importable,
                      refused_by_export=self.refused_export, refused_by_settings=self.refused_settings,
                      rules=self.rules, findings=self.findings())
        r.file_notes = [i.as_dict() if hasattr(i, "as_dict") else dict(i) for i in file_issues]
        rules = self.rules
        if rules.checked:
            r.settings = settings_summary(rules)
        else:
            r.settings = {"checked": False}
        if rules.legal_consent and rules.legal is None:
            r.blockers.append({"code": "legal_policy_missing", "message": LEGAL_CHOICE})
        return r


def _code_field(code: str) -> str:
    for name, c in REQUIRED_CODES.items():
        if c == code:
            return name
    return {"identifier_turned_off": "identifier", "password_required": "password",
            "legal_consent_missing": "legal_accepted_at", "legal_policy_missing": "legal_accepted_at"}.get(code, "")


def _turned_off_message(name: str) -> str:
    if name == "password":
        return ("passwords are turned off on the instance: the password digests are not sent (these users sign "
                "in another way the instance offers)")
    return f"{PLURAL[name]} are turned off on the instance: not sent (the rest of the row is)"


def _password_missing_message(rules: BodyRules) -> str:
    ways = ", ".join(rules.other_factors) or "another first factor"
    return ("the instance requires a password and these users have none: created with "
            f"skip_password_requirement; they sign in with {ways}")


def settings_summary(rules: BodyRules) -> dict[str, Any]:
    return {
        "checked": True,
        "digest": rules.digest,
        "environment_type": rules.environment_type,
        "required": list(rules.required),
        "turned_off": list(rules.turned_off),
        "password": rules.password,
        "legal_consent": rules.legal_consent,
        "providers": list(rules.providers),
        "first_factors": list(rules.other_factors),
    }


# ----------------------------------------------------------------------------- reading the settings
@dataclass
class SettingsRead:
    """What `read_instance_settings` found: the settings (or None when there is no publishable key)."""

    settings: Any = None  # InstanceSettings
    url: str | None = None
    note: str | None = None  # said once when nothing could be read (not an error)
    publishable_kind: str | None = None


NO_PUBLISHABLE_KEY = ("no publishable key (CLERK_PUBLISHABLE_KEY or NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY, env or .env): "
                      "the instance's settings were not checked (required identifiers, attributes turned off, "
                      "the password rule, legal consent, social connections)")


async def read_instance_settings(app_settings: Any, *, transport: Any = None, timeout: float = 10.0) -> SettingsRead:
    """GET <Frontend API>/v1/environment. No key and no CLERK_FRONTEND_API_URL: settings None
    and a note. A bad publishable key, an unreachable host or a refusal: PreflightError (exit 2)."""
    from console.clerk.errors import ClerkError
    from console.clerk.frontend import fetch_environment, frontend_api_url_for, publishable_key_kind

    pk = app_settings.publishable_key
    fapi = app_settings.frontend_api_url
    if not pk and not fapi:
        return SettingsRead(note=NO_PUBLISHABLE_KEY)
    try:
        url = frontend_api_url_for(pk, fapi)
    except ClerkError as exc:
        raise PreflightError(exc.message, code="publishable_key_invalid") from None
    try:
        found = await fetch_environment(pk, frontend_api_url=fapi, transport=transport, timeout=timeout)
    except ClerkError as exc:
        what = getattr(exc, "message", None) or str(exc)
        raise PreflightError(f"cannot read the instance's settings from the Frontend API ({url}/v1/environment): "
                             f"{what}", code="settings_unreachable") from None
    return SettingsRead(settings=found, url=url, publishable_kind=publishable_key_kind(pk) if pk else None)


def rules_from(read: SettingsRead, legal: str | None) -> BodyRules:
    if read.settings is None:
        return BodyRules.unchecked(legal)
    return BodyRules.from_settings(read.settings, legal=legal)


# ----------------------------------------------------------------------------- the export pass
def check_export(
    export: str | Path,
    rules: BodyRules | None,
    *,
    accounts: Any = None,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    policies: Any = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Readiness:
    """One streaming pass over the export (and its accounts join) with the rules: blocking,
    run it in a thread from a UI. Raises console.source.ExportError for unreadable input,
    ValueError for a bad mapping."""
    from console.source import open_export
    from console.source.model import Policies

    started = time.perf_counter()
    policies = policies or Policies()
    mapping = mapping_with_legal(mapping, rules.legal if rules else None)
    reader = open_export(export, fmt=fmt, mapping=mapping, accounts=accounts)
    tally = Tally(rules, policies.plaintext_password)
    size = int(reader.size_bytes or 0)
    last = 0.0
    for checked in reader.rows(policies):
        tally.add(checked)
        if on_progress is not None:
            now = time.monotonic()
            if now - last >= 0.1:
                last = now
                on_progress(tally.rows, reader.bytes_read, size)
    if on_progress is not None:
        on_progress(tally.rows, size, size)
    readiness = tally.readiness(export=str(export), file_issues=reader.file_issues)
    readiness.duration_s = time.perf_counter() - started
    return readiness


def check_export_emitting(emit: Callable[[Any], None], export: str, rules: BodyRules | None,
                          mapping: dict[str, str] | None, policies: Any, accounts: str | None) -> None:
    """check_export for a process of its own (feed.ExportProcess): emits ("progress", rows,
    bytes_read, size_bytes) about ten times a second, then ("readiness", readiness)."""
    import gc

    gc.disable()  # the process ends after it
    readiness = check_export(export, rules, mapping=mapping, policies=policies, accounts=accounts,
                             on_progress=lambda rows, read, size: emit(("progress", rows, read, size)))
    emit(("readiness", readiness))


# ----------------------------------------------------------------------------- the instance
async def check_instance(app_settings: Any, readiness: Readiness, *, client: Any = None,
                         dev_user_cap: int | None = None) -> None:
    """With a secret key: GET /v1/instance (its kind against the key's prefix), the
    Development guard (IMPORT_TO_DEV_INSTANCE) and cap (users there + importable rows), as
    the import would; blockers go into `readiness`. Without one: said in not_checked.
    An unreachable Backend API or a refused key: PreflightError (exit 2)."""
    from console.clerk.client import ClerkClient
    from console.clerk.errors import AuthenticationError, ClerkError
    from console.clerk.limiter import RequestBudget
    from console.migration.devcap import DevCap, DevRoom
    from console.settings import DEV_USER_CAP

    key = app_settings.secret_key
    if key is None:
        readiness.instance = {"checked": False}
        readiness.not_checked.append("no secret key (CLERK_SECRET_KEY): the instance behind it, the Development "
                                     "guard and the user cap were not checked")
        return
    kind = key.instance_kind
    readiness.instance = {"checked": True, "key": key.masked, "key_kind": kind}
    if kind is None:
        readiness.blockers.append({"code": "bad_key",
                                   "message": f"the secret key {key.masked} starts with neither sk_live_ nor sk_test_"})
        return
    own = client is None
    if own:
        client = ClerkClient(key, app_settings.base_url, RequestBudget.for_instance(kind), timeout=15.0)
    try:
        try:
            instance = await client.get_instance()
            readiness.instance.update(id=instance.id, environment_type=instance.environment_type)
            if instance.environment_type != kind:
                readiness.blockers.append({
                    "code": "instance_kind_mismatch",
                    "message": f"the key {key.masked} looks {kind}, but Clerk says its instance {instance.id} is "
                               f"{instance.environment_type}"})
            pk_kind = readiness.settings.get("publishable_key_kind")  # pk_live_ / pk_test_
            if pk_kind and pk_kind != instance.environment_type:
                readiness.blockers.append({
                    "code": "two_instances",
                    "message": f"the publishable key is a {pk_kind} key and the secret key's instance is "
                               f"{instance.environment_type}: the settings read are not those of the instance "
                               "written to (use the two keys of one instance)"})
            if kind == "development":
                if not app_settings.allow_dev_import:
                    readiness.blockers.append({
                        "code": "dev_not_allowed",
                        "message": f"{key.masked} is a Development instance key: the import needs "
                                   "IMPORT_TO_DEV_INSTANCE=true (it holds few users, and users cannot be moved to "
                                   "Production later)"})
                cap = DevCap(dev_user_cap, "dev-cap") if dev_user_cap else DevCap(DEV_USER_CAP, "default")
                room = DevRoom(await client.count_users(), cap, readiness.importable)  # devcap.py's rule
                readiness.instance.update(users=room.existing, cap=cap.limit)
                if not room.fits:
                    readiness.blockers.append({
                        "code": "dev_instance_cap",
                        "message": room.message(f"the export has {readiness.importable} importable rows")})
        except AuthenticationError as exc:
            raise PreflightError(f"Clerk refused the key {key.masked}: {exc}", code="unauthorized") from None
        except ClerkError as exc:
            what = getattr(exc, "message", None) or str(exc)
            raise PreflightError(f"cannot reach Clerk's Backend API at {app_settings.base_url}: {what}",
                                 code="instance_unreachable") from None
    finally:
        if own:
            await client.aclose()


async def preflight(
    export: str | Path,
    app_settings: Any,
    *,
    legal: str | None = None,
    accounts: Any = None,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    policies: Any = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    check_identity: bool = True,
    transport: Any = None,
    checker: Callable[..., Readiness] = None,  # type: ignore[assignment]
) -> Readiness:
    """The whole preflight: the settings (Frontend API), the export (a thread), the
    instance (Backend API). Raises PreflightError (exit 2), ExportError, ValueError.
    `checker`: what makes the export's pass (check_export's arguments; default check_export
    itself; the console passes one that runs it in a process of its own)."""
    read = await read_instance_settings(app_settings, transport=transport)
    rules = rules_from(read, legal)
    readiness = await asyncio.to_thread(checker or check_export, export, rules, accounts=accounts, fmt=fmt,
                                        mapping=mapping, policies=policies, on_progress=on_progress)
    if read.note:
        readiness.not_checked.append(read.note)
    else:
        readiness.settings["url"] = read.url
        if read.publishable_kind:
            readiness.settings["publishable_key_kind"] = read.publishable_kind
    if check_identity:
        await check_instance(app_settings, readiness)
    return readiness


# ----------------------------------------------------------------------------- a run's rules
def plan_rules(read: SettingsRead, legal: str | None) -> BodyRules:
    """The rules a new run is made with; refuses (exit 2, one line) an instance that
    requires legal consent when no policy is given: never thousands of 422s."""
    rules = rules_from(read, legal)
    if rules.legal_consent and rules.legal is None:
        raise PreflightError(LEGAL_CHOICE, code="legal_policy_missing")
    return rules


def settle_run_rules(journal: Any, read: SettingsRead, legal: str | None, *,
                     store: bool = True) -> tuple[BodyRules, list[str]]:
    """Before a session of an existing run sends: the run's stored rules against the
    instance now. Returns (the rules to use, lines to say once).

    Refuses (PreflightError, exit 2) when the settings changed in a way that matters (another
    effect on the bodies or the refusals: code `instance_settings_changed`), when `legal` is
    another policy than the run's (`settings_changed`), or when the instance requires legal
    consent and no policy is known (`legal_policy_missing`). A new digest with the same effect
    is recorded with an event. A run made without the settings adopts them (the feed then
    refuses what they refuse, before sending). Without a publishable key now, the run's
    stored rules apply. store=False: the same verdict and lines, nothing written (the
    blockers before any write, blockers.py)."""
    stored = BodyRules.of_run(journal.info)
    if stored is not None and legal is not None and legal != stored.legal:
        raise PreflightError(f"{journal.run_dir}: the legal policy is {legal}, the run was made with "
                             f"{stored.legal or 'none'}: start a new run folder", code="settings_changed")
    if legal is None and stored is not None:
        legal = stored.legal
    lines: list[str] = []
    if read.settings is None:
        current = stored if stored is not None else BodyRules.unchecked(legal)
        if current.checked:
            lines.append(f"the instance's settings were not read again ({read.note or 'no publishable key'}); "
                         f"the run's rules of {_when(current.read_at)} apply: {describe(current)}")
        event = "the run's rules: " + describe(current)
    else:
        current = BodyRules.from_settings(read.settings, legal=legal)
        if stored is not None and stored.checked:
            if stored.effect() != current.effect():
                raise PreflightError(
                    f"{journal.run_dir}: the instance's settings changed since this run was checked "
                    f"({_when(stored.read_at)}): {'; '.join(stored.differences(current))}: rows loaded under the "
                    "old rules would be sent or refused wrongly; start a new run folder (run `clerk-migrate "
                    "preflight` first)", code="instance_settings_changed")
            event = ("the instance's settings changed in ways this run does not depend on (digest "
                     f"{(stored.digest or '')[:12]} -> {(current.digest or '')[:12]})")
            if stored.digest == current.digest:
                current = stored  # nothing to record
        else:
            event = (f"the instance's settings were read for this run (digest {(current.digest or '')[:12]}): "
                     f"{describe(current)}; the rows they refuse are not sent")
            lines.append("the run was started without the instance's settings; from now on: " + describe(current))
    if current.legal_consent and current.legal is None:
        raise PreflightError(LEGAL_CHOICE, code="legal_policy_missing")
    if current != stored and store:
        _store_rules(journal, current, event)
    return current, lines


def _store_rules(journal: Any, rules: BodyRules, event: str) -> None:
    settings = dict(journal.info.settings or {})
    settings[SETTINGS_KEY] = rules.as_dict()
    journal.update_run(settings=settings)
    journal.add_event("settings", event)


def describe(rules: BodyRules) -> str:
    """One line: what the rules do to the bodies."""
    if not rules.checked:
        return "not checked" + (f", legal consent: {rules.legal}" if rules.legal else "")
    parts = []
    if rules.required:
        parts.append("required: " + ", ".join(rules.required))
    if rules.turned_off:
        parts.append("not sent (turned off): " + ", ".join(rules.turned_off))
    parts.append(f"password {rules.password}")
    if rules.legal_consent:
        parts.append(f"legal consent: {rules.legal or 'no policy'}")
    return "; ".join(parts)


def _when(ts: float | None) -> str:
    if not ts:
        return "an earlier session"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def refusal_line(refusals: dict[str, int]) -> str | None:
    """`refused by the instance's settings: 30 (username required 25, phone number required 5)`."""
    mine = {c: n for c, n in refusals.items() if c in REFUSAL_CODES and n}
    if not mine:
        return None
    total = sum(mine.values())
    parts = ", ".join(f"{CODE_WORDS.get(c, c)} {n:,}" for c, n in sorted(mine.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"refused by the instance's settings: {total:,} ({parts})"


def run_lines(journal: Any) -> list[str]:
    """What the import's plan says about the instance's settings (from the load's Readiness)."""
    lines = []
    line = refusal_line(journal.refusals_by_code())
    if line:
        lines.append(line)
    stored = journal.get_meta(META_KEY) or {}
    for f in stored.get("findings", []):
        if f.get("source") == "settings" and f.get("severity") in ("warning", "note"):
            lines.append(f["message"])
    return lines


# ----------------------------------------------------------------------------- a 422 without a param
class UnknownFieldExplainer:
    """Clerk answers 422 form_param_unknown with an empty meta for a field the instance
    does not accept. `explain(body, message)` -> (param, message): reads the instance's
    settings once (when a publishable key is set) and names the fields of the body they
    turn off; else names the fields an instance's settings can turn off."""

    def __init__(self, app_settings: Any, rules: BodyRules | None = None, *, transport: Any = None) -> None:
        self.app_settings = app_settings
        self.rules = rules
        self.transport = transport
        self._read: asyncio.Task | None = None

    async def _settings(self) -> Any:
        if self._read is None:
            self._read = asyncio.ensure_future(read_instance_settings(self.app_settings, transport=self.transport))
        try:
            return (await asyncio.shield(self._read)).settings
        except Exception:  # noqa: BLE001 - unreadable now: fall back to the body alone
            return None

    async def explain(self, body: dict[str, Any], message: str) -> tuple[str | None, str]:
        governed = [name for name, fields in ATTRIBUTE_FIELDS.items()
                    if any(body.get(f) not in (None, [], "") for f in fields[:1])
                    or (name == "password" and body.get("password_digest"))]
        settings = await self._settings()
        if settings is not None:
            off = [name for name in governed if not settings.enabled(name)]
            if off:
                names = ", ".join(off)
                checked = (f"; the run was checked against settings {self.rules.digest[:12]}, which allowed it: "
                           "they changed since (run `clerk-migrate preflight`)") if self.rules and self.rules.checked else ""
                return off[0], (f"{message} — likely {names}: turned off in the instance's settings{checked}")
        if not governed:
            return None, message
        return (governed[0] if len(governed) == 1 else None,
                f"{message} — Clerk names no field; the body's fields an instance's settings can turn off: "
                f"{', '.join(governed)} (set CLERK_PUBLISHABLE_KEY and run `clerk-migrate preflight` to check)")


__all__ = [
    "BodyRules",
    "Finding",
    "LEGAL_CHOICE",
    "PreflightError",
    "REFUSAL_CODES",
    "Readiness",
    "SettingsRead",
    "Tally",
    "UnknownFieldExplainer",
    "check_export",
    "check_instance",
    "mapping_with_legal",
    "parse_legal",
    "plan_rules",
    "preflight",
    "read_instance_settings",
    "refusal_line",
    "rules_from",
    "run_lines",
    "settle_run_rules",
]
