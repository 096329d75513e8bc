"""The instance's settings, as Clerk's Frontend API serves them.

`GET https://<frontend-api-host>/v1/environment` answers (among much else)
`user_settings`: per attribute `{enabled, required, used_for_first_factor,
first_factors, …}`, the social providers `oauth_<provider>.enabled`, and
`sign_up.legal_consent_enabled`. The sandbox serves the same shape and checks
every create and update against it, the way Clerk refuses what an instance's
dashboard settings forbid.

Shapes taken from:
- clerk/javascript `packages/shared/src/types/userSettings.ts` (commit
  2a57e3d21c761e376b78b07398cdc81a509c77dd): `UserSettingsJSON`,
  `AttributeDataJSON`, `OAuthProviderSettings`, `SignUpData`;
- clerk/javascript's FAPI test fixture `fapiEnvironment()` (the attribute
  defaults, `sign_up`, `password_settings`, `username_settings`);
- clerk/clerk-sdk-flutter `packages/clerk_auth/test/…` recorded
  `GET /v1/environment` answers of a real development instance (the
  `social.oauth_<provider>` objects, `auth_config`, `display_config`).

`clerk-migrate sandbox --settings FILE.json` reads a file of the same shape as
`user_settings` (or a whole `/v1/environment` answer, whose `user_settings` is
taken); any part may be left out and keeps the demo's default.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# The attributes the migration cares about, in Clerk's order.
IDENTIFIER_ATTRIBUTES = ("email_address", "phone_number", "username", "web3_wallet")
NAME_ATTRIBUTES = ("first_name", "last_name")
ATTRIBUTES = (*IDENTIFIER_ATTRIBUTES, *NAME_ATTRIBUTES, "password", "authenticator_app", "backup_code", "passkey")
_ATTRIBUTE_BOOLS = ("enabled", "required", "used_for_first_factor", "used_for_second_factor", "verify_at_sign_up")
_ATTRIBUTE_LISTS = ("first_factors", "second_factors", "verifications")
_PROVIDER_BOOLS = ("enabled", "required", "authenticatable")
PROVIDER_NAMES = {"oauth_google": "Google", "oauth_github": "GitHub", "oauth_apple": "Apple",
                  "oauth_microsoft": "Microsoft", "oauth_discord": "Discord", "oauth_facebook": "Facebook"}


class SettingsFileError(ValueError):
    """A settings file that cannot be used; the message is one line naming the file and the field."""


def attribute(enabled: bool = True, *, required: bool = False, first_factors: tuple[str, ...] = (),
              used_for_first_factor: bool | None = None, verifications: tuple[str, ...] = (),
              second_factors: tuple[str, ...] = (), verify_at_sign_up: bool = False) -> dict[str, Any]:
    """One `AttributeDataJSON`."""
    return {
        "enabled": enabled,
        "required": required,
        "used_for_first_factor": bool(first_factors) if used_for_first_factor is None else used_for_first_factor,
        "first_factors": list(first_factors),
        "used_for_second_factor": bool(second_factors),
        "second_factors": list(second_factors),
        "verifications": list(verifications),
        "verify_at_sign_up": verify_at_sign_up,
    }


def provider(strategy: str, enabled: bool = True) -> dict[str, Any]:
    """One `OAuthProviderSettings`."""
    return {
        "enabled": enabled,
        "required": False,
        "authenticatable": True,
        "block_email_subaddresses": False,
        "strategy": strategy,
        "not_selectable": False,
        "deprecated": False,
        "name": PROVIDER_NAMES.get(strategy, strategy.removeprefix("oauth_").replace("_", " ").title()),
        "logo_url": f"https://img.clerk.com/static/{strategy.removeprefix('oauth_')}.png",
    }


def default_user_settings() -> dict[str, Any]:
    """The demo's instance: sign-in with email (code) or password, email and a
    password required, first and last name accepted, no phone, no username, no
    web3; Google and GitHub sign-in on; no legal consent."""
    return {
        "attributes": {
            "email_address": attribute(required=True, first_factors=("email_code",), verifications=("email_code",),
                                       verify_at_sign_up=True),
            "phone_number": attribute(False, verifications=("phone_code",)),
            "username": attribute(False),
            "web3_wallet": attribute(False),
            "first_name": attribute(),
            "last_name": attribute(),
            "password": attribute(required=True),
            "authenticator_app": attribute(False),
            "backup_code": attribute(False),
            "passkey": attribute(False),
        },
        "social": {
            "oauth_google": provider("oauth_google"),
            "oauth_github": provider("oauth_github"),
        },
        "sign_in": {"second_factor": {"required": False, "enabled": False}},
        "sign_up": {
            "allowlist_only": False,
            "progressive": True,
            "captcha_enabled": False,
            "mode": "public",
            "legal_consent_enabled": False,
        },
        "actions": {"delete_self": True, "create_organization": True},
        "enterprise_sso": {"enabled": False},
        "password_settings": {
            "allowed_special_characters": "",
            "disable_hibp": False,
            "min_length": 8,
            "max_length": 72,
            "require_special_char": False,
            "require_numbers": False,
            "require_uppercase": False,
            "require_lowercase": False,
            "show_zxcvbn": False,
            "min_zxcvbn_strength": 0,
        },
        "passkey_settings": {"allow_autofill": False, "show_sign_in_button": False},
        "username_settings": {"min_length": 4, "max_length": 64},
    }


def open_user_settings() -> dict[str, Any]:
    """Every identifier and name accepted, none required, a password required
    unless skipped: the sandbox's rules before it had settings (tests that send
    usernames, phone numbers or web3 wallets use this)."""
    settings = default_user_settings()
    attrs = settings["attributes"]
    attrs["email_address"]["required"] = False
    attrs["phone_number"] = attribute(first_factors=("phone_code",), verifications=("phone_code",))
    attrs["username"] = attribute(used_for_first_factor=True)
    attrs["web3_wallet"] = attribute(first_factors=("web3_metamask_signature",))
    return settings


# ------------------------------------------------------------------ reading
def merge_user_settings(partial: Any, base: dict[str, Any] | None = None, *, where: str = "settings") -> dict[str, Any]:
    """`base` (default: the demo's) with `partial` laid over it, checked.
    Raises SettingsFileError naming the field."""
    if isinstance(partial, dict) and isinstance(partial.get("user_settings"), dict):
        partial = partial["user_settings"]  # a whole /v1/environment answer
    if not isinstance(partial, dict):
        raise SettingsFileError(f"{where}: expected a JSON object shaped like user_settings")
    merged = copy.deepcopy(base if base is not None else default_user_settings())
    for name, value in partial.items():
        path = f"{where}: user_settings.{name}"
        if name == "attributes":
            _need_object(value, path)
            for attr_name, attr_value in value.items():
                _need_object(attr_value, f"{path}.{attr_name}")
                target = merged["attributes"].setdefault(attr_name, attribute(False))
                _merge_checked(target, attr_value, f"{path}.{attr_name}", _ATTRIBUTE_BOOLS, _ATTRIBUTE_LISTS)
        elif name == "social":
            _need_object(value, path)
            for strategy, prov in value.items():
                if not strategy.startswith("oauth_"):
                    raise SettingsFileError(f"{path}.{strategy}: a social provider is named oauth_<provider>")
                _need_object(prov, f"{path}.{strategy}")
                target = merged["social"].setdefault(strategy, provider(strategy, False))
                _merge_checked(target, prov, f"{path}.{strategy}", _PROVIDER_BOOLS, ())
        elif name == "sign_up":
            _need_object(value, path)
            if "legal_consent_enabled" in value and not isinstance(value["legal_consent_enabled"], bool):
                raise SettingsFileError(f"{path}.legal_consent_enabled must be true or false")
            merged["sign_up"].update(copy.deepcopy(value))
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name].update(copy.deepcopy(value))
        else:
            merged[name] = copy.deepcopy(value)
    for attr_name, data in merged["attributes"].items():
        if data.get("required") and not data.get("enabled"):
            raise SettingsFileError(f"{where}: user_settings.attributes.{attr_name} is required but not enabled")
    return merged


def load_user_settings(path: str | Path) -> dict[str, Any]:
    """Read `--settings FILE.json`. Raises SettingsFileError (one line)."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsFileError(f"{shown}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"{shown}: cannot be read ({type(exc).__name__})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsFileError(f"{shown}: not valid JSON ({exc})") from None
    return merge_user_settings(data, where=shown)


def _need_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise SettingsFileError(f"{path} must be a JSON object")


def _merge_checked(target: dict[str, Any], value: dict[str, Any], path: str,
                   bools: tuple[str, ...], lists: tuple[str, ...]) -> None:
    for key, item in value.items():
        if key in bools and not isinstance(item, bool):
            raise SettingsFileError(f"{path}.{key} must be true or false")
        if key in lists and not (isinstance(item, list) and all(isinstance(v, str) for v in item)):
            raise SettingsFileError(f"{path}.{key} must be a list of strings")
        target[key] = copy.deepcopy(item)


# ------------------------------------------------------------------ reading the rules
def attr(settings: dict[str, Any], name: str) -> dict[str, Any]:
    """One attribute's settings (a missing attribute is disabled)."""
    return settings.get("attributes", {}).get(name) or {}


def enabled(settings: dict[str, Any], name: str) -> bool:
    return bool(attr(settings, name).get("enabled"))


def required(settings: dict[str, Any], name: str) -> bool:
    data = attr(settings, name)
    return bool(data.get("enabled") and data.get("required"))


def other_first_factors(settings: dict[str, Any]) -> bool:
    """Whether a user without a password can still sign in: another attribute
    offers a first factor (email code or link, phone code, web3, passkey) or a
    social provider is on."""
    for name, data in settings.get("attributes", {}).items():
        if name == "password" or not isinstance(data, dict):
            continue
        if data.get("enabled") and data.get("used_for_first_factor") and data.get("first_factors"):
            return True
        if name == "passkey" and data.get("enabled"):
            return True
    return any(isinstance(p, dict) and p.get("enabled") for p in settings.get("social", {}).values())


def legal_consent(settings: dict[str, Any]) -> bool:
    return bool(settings.get("sign_up", {}).get("legal_consent_enabled"))


# ------------------------------------------------------------------ the answer
def environment_json(settings: dict[str, Any], environment_type: str = "production") -> dict[str, Any]:
    """The body of `GET /v1/environment` (the parts a migration reads, in
    Clerk's shape; the rest of Clerk's answer is left out)."""
    attrs = settings.get("attributes", {})
    first_factors = sorted({f for a in attrs.values() if isinstance(a, dict) and a.get("enabled")
                            for f in a.get("first_factors", [])}
                           | ({"password"} if enabled(settings, "password") else set())
                           | {s for s, p in settings.get("social", {}).items() if isinstance(p, dict) and p.get("enabled")})
    return {
        "object": "environment",
        "id": "env_sandbox",
        "auth_config": {
            "object": "auth_config",
            "id": "aac_sandbox",
            "single_session_mode": False,
            "first_factors": first_factors,
            "claimed_at": None,
            "reverification": False,
        },
        "display_config": {
            "object": "display_config",
            "id": "display_config_sandbox",
            "instance_environment_type": environment_type,
            "application_name": "Clerk sandbox",
            "preferred_sign_in_strategy": "password" if enabled(settings, "password") else "otp",
            "terms_url": None,
            "privacy_policy_url": None,
        },
        "user_settings": copy.deepcopy(settings),
        "organization_settings": {
            "enabled": False,
            "max_allowed_memberships": 5,
            "actions": {"admin_delete": True},
            "domains": {"enabled": False, "enrollment_modes": [], "default_role": None},
        },
        "maintenance_mode": False,
    }
