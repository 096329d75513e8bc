"""The instance's settings: GET /v1/environment (Clerk's Frontend API shape, read
back through the client's InstanceSettings) and creates refused the way Clerk
refuses what an instance's settings forbid."""

from __future__ import annotations

import copy

import httpx
import pytest

from console.clerk.frontend import fetch_environment
from console.clerk.models import InstanceSettings
from console.sandbox import make_key
from console.sandbox.instance_settings import (
    SettingsFileError,
    default_user_settings,
    environment_json,
    merge_user_settings,
    open_user_settings,
)

KEY = make_key("production", "settings")
BASE = {"external_id": "e1", "email_address": ["a@example.com"], "password": "a long password"}


def settings_with(**changes) -> dict:
    """The demo's settings with attributes changed: name={"enabled": …, "required": …}."""
    partial: dict = {"attributes": {}}
    for name, value in changes.items():
        if name == "legal":
            partial["sign_up"] = {"legal_consent_enabled": value}
        elif name == "social":
            partial["social"] = value
        else:
            partial["attributes"][name] = value
    return merge_user_settings(partial)


def post(server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/users", json=body, headers={"Authorization": f"Bearer {KEY}"})


def errors(r: httpx.Response) -> list[dict]:
    assert r.status_code == 422, r.text
    return r.json()["errors"]


def test_the_environment_is_clerks_shape_and_the_demo_defaults(sandbox):
    r = httpx.get(f"{sandbox.url}/v1/environment")  # no Authorization at all
    assert r.status_code == 200
    env = r.json()
    assert env["object"] == "environment" and set(env) >= {"auth_config", "display_config", "user_settings"}
    attrs = env["user_settings"]["attributes"]
    for name in ("email_address", "phone_number", "username", "password", "first_name", "last_name"):
        assert set(attrs[name]) >= {"enabled", "required", "used_for_first_factor", "first_factors",
                                    "used_for_second_factor", "second_factors", "verifications", "verify_at_sign_up"}
    settings = InstanceSettings.from_environment(env)
    assert settings.email_address.enabled and settings.email_address.required
    assert settings.password.required and not settings.username.enabled and not settings.phone_number.enabled
    assert settings.first_name.enabled and not settings.first_name.required
    assert settings.enabled_providers == ["google", "github"] and not settings.provider_enabled("apple")
    assert settings.legal_consent_enabled is False and settings.password_only_first_factor is False
    assert env["user_settings"]["social"]["oauth_google"]["strategy"] == "oauth_google"


async def test_fetch_environment_reads_the_live_settings_by_key_or_url(sandbox):
    sandbox.config.user_settings = settings_with(username={"enabled": True, "required": True}, legal=True,
                                                 social={"oauth_github": {"enabled": False}})
    by_key = await fetch_environment(sandbox.publishable_key("production"))
    by_url = await fetch_environment(frontend_api_url=sandbox.url + "/v1/")
    for settings in (by_key, by_url):
        assert settings.required_identifiers == ["email_address", "username"]
        assert settings.legal_consent_enabled and settings.enabled_providers == ["google"]
        assert settings.environment_type == "production"


@pytest.mark.parametrize("changes, body, code, param", [
    # a required identifier missing
    ({"username": {"enabled": True, "required": True}}, {}, "form_data_missing", "username"),
    ({"phone_number": {"enabled": True, "required": True}}, {}, "form_data_missing", "phone_number"),
    ({"first_name": {"enabled": True, "required": True}}, {}, "form_data_missing", "first_name"),
    ({}, {"email_address": [], "username": None}, "form_data_missing", "email_address"),
    # a password required, not given, not skipped
    ({}, {"password": None}, "form_data_missing", "password"),
    # legal consent on: legal_accepted_at or skip_legal_checks
    ({"legal": True}, {}, "form_data_missing", "legal_accepted_at"),
])
def test_what_the_settings_require(sandbox_factory, changes, body, code, param):
    server = sandbox_factory(user_settings=settings_with(**changes))
    items = errors(post(server, {**BASE, **body}))
    assert [(e["code"], e["meta"].get("param_name")) for e in items] == [(code, param)]
    assert server.users(KEY) == []


def test_waivers_and_accepted_bodies(sandbox_factory):
    server = sandbox_factory(user_settings=settings_with(username={"enabled": True, "required": True}, legal=True))
    assert post(server, {**BASE, "username": "ada_l", "legal_accepted_at": "2024-01-01T00:00:00Z"}).status_code == 200
    ok = post(server, {**BASE, "external_id": "e2", "email_address": ["b@example.com"], "skip_user_requirement": True,
                       "skip_legal_checks": True, "password": None, "skip_password_requirement": True})
    assert ok.status_code == 200, ok.text
    assert ok.json()["legal_accepted_at"] is None and ok.json()["username"] is None


@pytest.mark.parametrize("changes, field, value", [
    ({}, "username", "ada_l"),  # usernames off in the demo
    ({}, "phone_number", ["+15555550100"]),
    ({}, "web3_wallet", ["0x" + "ab" * 20]),
    ({"first_name": {"enabled": False}}, "first_name", "Ada"),
    ({"last_name": {"enabled": False}}, "last_name", "L"),
    ({"password": {"enabled": False, "required": False}}, "password", "a long password"),
])
def test_a_field_the_instance_does_not_accept_is_unknown_with_an_empty_meta(sandbox_factory, changes, field, value):
    server = sandbox_factory(user_settings=settings_with(**changes))
    body = {**BASE, field: value}
    items = errors(post(server, body))
    assert [(e["code"], e["meta"]) for e in items] == [("form_param_unknown", {})]
    assert field not in items[0]["message"] + items[0]["long_message"]  # the field is not named anywhere
    # the same field in a PATCH: refused the same way
    user = post(server, {**BASE, "external_id": "ok", "email_address": ["ok@example.com"]}) if field != "password" else None
    if user is not None:
        assert user.status_code == 200, user.text
        r = httpx.patch(f"{server.url}/v1/users/{user.json()['id']}", json={field: value if field != "phone_number" else None},
                        headers={"Authorization": f"Bearer {KEY}"})
        if field not in ("phone_number", "web3_wallet"):  # not PATCH fields
            assert r.status_code == 422 and r.json()["errors"][0]["meta"] == {}


def test_skip_password_requirement_is_refused_when_the_password_is_the_only_way_in(sandbox_factory):
    only_password = settings_with(email_address={"used_for_first_factor": False, "first_factors": []},
                                  social={"oauth_google": {"enabled": False}, "oauth_github": {"enabled": False}})
    assert InstanceSettings.from_environment(environment_json(only_password)).password_only_first_factor
    server = sandbox_factory(user_settings=only_password)
    items = errors(post(server, {**BASE, "password": None, "skip_password_requirement": True}))
    assert [(e["code"], e["meta"]["param_name"]) for e in items] == [("form_data_missing", "password")]
    with_google = copy.deepcopy(only_password)
    with_google["social"]["oauth_google"]["enabled"] = True
    server.config.user_settings = with_google  # live: the next request sees it
    assert post(server, {**BASE, "password": None, "skip_password_requirement": True}).status_code == 200


def test_development_cap_message_names_its_limit(sandbox_factory):
    server = sandbox_factory(dev_user_cap=2)
    key = make_key("development", "cap")
    for i in range(3):
        r = httpx.post(f"{server.url}/v1/users", headers={"Authorization": f"Bearer {key}"},
                       json={"email_address": [f"u{i}@example.com"], "skip_password_requirement": True})
    assert r.status_code == 403
    item = r.json()["errors"][0]
    assert item["code"] == "user_quota_exceeded" and item["long_message"] == "You have reached your limit of 2 users."


def test_merge_and_checks_of_a_partial_settings_file():
    merged = merge_user_settings({"user_settings": {"attributes": {"username": {"enabled": True}},
                                                    "social": {"oauth_apple": {"enabled": True}}}})
    assert merged["attributes"]["username"]["enabled"] and merged["attributes"]["email_address"]["required"]
    assert merged["social"]["oauth_apple"]["strategy"] == "oauth_apple" and merged["social"]["oauth_google"]["enabled"]
    assert default_user_settings()["attributes"]["username"]["enabled"] is False  # defaults are fresh copies
    assert open_user_settings()["attributes"]["username"]["enabled"] is True
    with pytest.raises(SettingsFileError, match="sign_up.legal_consent_enabled must be true or false"):
        merge_user_settings({"sign_up": {"legal_consent_enabled": "yes"}})
    with pytest.raises(SettingsFileError, match="first_factors must be a list of strings"):
        merge_user_settings({"attributes": {"email_address": {"first_factors": "email_code"}}})
