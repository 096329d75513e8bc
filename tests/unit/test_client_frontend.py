"""Reading the instance's settings from Clerk's Frontend API: publishable keys,
the URL rules, InstanceSettings over a real recorded answer, and the errors
(httpx.MockTransport, no network)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from console.clerk.errors import ClerkAPIError, InvalidPublishableKey, ServerError, TransportError
from console.clerk.frontend import (
    fetch_environment,
    frontend_api_host,
    frontend_api_url_for,
    publishable_key_kind,
)
from console.clerk.models import InstanceSettings

# A public example key from a project's notes (a development instance's key is public by design).
REAL_PK = "pk_test_Z3Jvd24taHVtcGJhY2stOTYuY2xlcmsuYWNjb3VudHMuZGV2JA"

# Trimmed from a GET /v1/environment answer of a real development instance, recorded in
# clerk/clerk-sdk-flutter's packages/clerk_auth tests (the SignUp integration test's fixture);
# only user_settings.attributes/social/sign_up and display_config.instance_environment_type kept.
RECORDED = {
    "display_config": {"object": "display_config", "instance_environment_type": "development"},
    "user_settings": {
        "attributes": {
            "email_address": {"enabled": True, "required": False, "used_for_first_factor": True,
                              "first_factors": ["email_code", "email_link"], "used_for_second_factor": False,
                              "second_factors": [], "verifications": ["email_code"], "verify_at_sign_up": True},
            "phone_number": {"enabled": True, "required": False, "used_for_first_factor": True,
                             "first_factors": ["phone_code"], "used_for_second_factor": True,
                             "second_factors": ["phone_code"], "verifications": ["phone_code"], "verify_at_sign_up": True},
            "username": {"enabled": True, "required": False, "used_for_first_factor": True, "first_factors": [],
                         "used_for_second_factor": False, "second_factors": [], "verifications": [],
                         "verify_at_sign_up": False},
            "first_name": {"enabled": True, "required": False, "used_for_first_factor": False, "first_factors": [],
                           "used_for_second_factor": False, "second_factors": [], "verifications": [],
                           "verify_at_sign_up": False},
            "password": {"enabled": True, "required": True, "used_for_first_factor": False, "first_factors": [],
                         "used_for_second_factor": False, "second_factors": [], "verifications": [],
                         "verify_at_sign_up": False},
        },
        "sign_up": {"captcha_enabled": False, "captcha_widget_type": "smart", "custom_action_required": False,
                    "progressive": True, "mode": "public", "legal_consent_enabled": False},
        "social": {
            "oauth_apple": {"enabled": True, "required": False, "authenticatable": True, "strategy": "oauth_apple",
                            "name": "Apple"},
            "oauth_custom_spung": {"enabled": False, "required": False, "authenticatable": True,
                                   "strategy": "oauth_custom_spung", "name": "spung"},
            "oauth_github": {"enabled": True, "required": False, "authenticatable": True, "strategy": "oauth_github",
                             "name": "GitHub"},
            "oauth_google": {"enabled": True, "required": False, "authenticatable": True, "strategy": "oauth_google",
                             "name": "Google"},
        },
    },
}


def pk(host: str, live: bool = True) -> str:
    return ("pk_live_" if live else "pk_test_") + base64.b64encode(f"{host}$".encode()).decode().rstrip("=")


def test_publishable_key_to_host_and_url():
    assert frontend_api_host(REAL_PK) == "grown-humpback-96.clerk.accounts.dev"
    assert publishable_key_kind(REAL_PK) == "development" and publishable_key_kind(pk("clerk.x.com")) == "production"
    assert publishable_key_kind("sk_live_x") is None
    assert frontend_api_url_for(pk("clerk.example.com")) == "https://clerk.example.com"
    assert frontend_api_url_for(pk("127.0.0.1:8787", live=False)) == "http://127.0.0.1:8787"  # the sandbox
    assert frontend_api_url_for(pk("[::1]:8787")) == "http://[::1]:8787"
    # CLERK_FRONTEND_API_URL wins over the key; /v1 and a trailing / are dropped
    assert frontend_api_url_for(pk("clerk.example.com"), "http://127.0.0.1:9000/v1/") == "http://127.0.0.1:9000"
    assert frontend_api_url_for(None, "localhost:9000") == "http://localhost:9000"
    assert frontend_api_url_for(None, "clerk.proxy.example") == "https://clerk.proxy.example"


@pytest.mark.parametrize("bad", ["", "pk_live_", "sk_live_abc", "pk_live_!!!", pk("no dollar").replace("JA", ""),
                                 "pk_live_" + base64.b64encode(b"has space$").decode()])
def test_bad_publishable_keys_are_one_clear_error(bad):
    with pytest.raises(InvalidPublishableKey) as info:
        frontend_api_host(bad)
    assert info.value.code == "publishable_key_invalid" and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_no_key_and_no_url():
    with pytest.raises(InvalidPublishableKey) as info:
        frontend_api_url_for(None, None)
    assert info.value.code == "publishable_key_missing" and "CLERK_FRONTEND_API_URL" in str(info.value)


def test_instance_settings_from_a_recorded_answer():
    settings = InstanceSettings.from_environment(RECORDED)
    assert settings.environment_type == "development"
    assert settings.email_address.enabled and not settings.email_address.required
    assert settings.password.required and settings.required("password") and not settings.required("username")
    assert settings.enabled("phone_number") and not settings.enabled("web3_wallet")  # absent: disabled
    assert settings.last_name.enabled is False  # not in the trimmed answer
    assert settings.enabled_providers == ["apple", "github", "google"]
    assert settings.provider_enabled("github") and settings.provider_enabled("oauth_google")
    assert not settings.provider_enabled("custom_spung") and not settings.provider_enabled("discord")
    assert settings.required_identifiers == [] and settings.legal_consent_enabled is False
    assert settings.password_only_first_factor is False
    only_user_settings = InstanceSettings.from_environment(RECORDED["user_settings"])
    assert only_user_settings.enabled_providers == settings.enabled_providers


def answering(*responses):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), seen


async def test_fetch_environment_over_a_mock():
    transport, seen = answering(httpx.Response(200, json=RECORDED))
    settings = await fetch_environment(REAL_PK, transport=transport)
    assert settings.enabled_providers == ["apple", "github", "google"]
    assert str(seen[0].url) == "https://grown-humpback-96.clerk.accounts.dev/v1/environment"
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize("response, cls, code", [
    (httpx.Response(404, json={"errors": [{"message": "not found", "long_message": "x", "code": "resource_not_found"}]}),
     ClerkAPIError, "resource_not_found"),
    (httpx.Response(503, text="down"), ServerError, "server_error"),
    (httpx.Response(200, text="<html>"), ClerkAPIError, "malformed_response"),
    (httpx.Response(200, json=[1, 2]), ClerkAPIError, "malformed_response"),
    (httpx.Response(200, json={"user_settings": {"attributes": {"email_address": {"enabled": "maybe"}}}}),
     ClerkAPIError, "malformed_response"),
    (httpx.ConnectError("refused"), TransportError, "connect_error"),
    (httpx.ReadTimeout("slow"), TransportError, "timeout"),
])
async def test_fetch_environment_errors(response, cls, code):
    transport, seen = answering(response)
    with pytest.raises(cls) as info:
        await fetch_environment(frontend_api_url="https://clerk.example.com", transport=transport)
    assert info.value.code == code and len(seen) == 1
    assert info.value.__cause__ is None
    assert "clerk.example.com" in str(info.value.message)


def test_the_recorded_answer_is_json():
    json.dumps(RECORDED)
