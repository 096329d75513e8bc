"""The sandbox behaves as ../shared/clerk-api.md says: real HTTP, no mocks."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import httpx
import pytest

from console.clerk.models import PASSWORD_HASHERS
from console.sandbox import SandboxConfig, SandboxServer, make_key
from console.sandbox.instance_settings import open_user_settings
from console.sandbox.validation import CREATE_SCHEMA

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"[:53]
ARGON2ID = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"


def body(n: int = 1, **extra) -> dict:
    payload = {
        "external_id": f"ext_{n}",
        "email_address": [f"user{n}@example.com"],
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password_digest": BCRYPT,
        "password_hasher": "bcrypt",
    }
    payload.update(extra)
    return {k: v for k, v in payload.items() if v is not ...}


@pytest.fixture
def sandbox(sandbox_factory) -> SandboxServer:
    """These tests send usernames, phone numbers and web3 wallets: an instance
    that accepts every identifier (the demo's settings turn them off; their own
    tests are in test_sandbox_settings.py)."""
    return sandbox_factory(user_settings=open_user_settings())


@pytest.fixture
def api(sandbox: SandboxServer, prod_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {prod_key}"},
                      timeout=5) as client:
        yield client


def error_of(response: httpx.Response) -> dict:
    data = response.json()
    assert set(data) == {"errors", "clerk_trace_id"}
    assert isinstance(data["clerk_trace_id"], str) and data["clerk_trace_id"]
    for item in data["errors"]:
        assert set(item) == {"message", "long_message", "code", "meta"}
        assert isinstance(item["meta"], dict)
    return data["errors"][0]


# --- server life cycle ---------------------------------------------------------------


def test_start_returns_a_url_that_answers_and_stop_frees_the_port():
    server = SandboxServer()
    url = server.start()
    assert url.startswith("http://127.0.0.1:") and server.port > 0
    assert url == server.url
    assert httpx.get(f"{url}/v1/users/count", headers={"Authorization": f"Bearer {make_key('production')}"}).status_code == 200
    server.stop()
    assert server.url == ""
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/users/count", timeout=1)


def test_context_manager_and_restart():
    with SandboxServer(SandboxConfig(dev_user_cap=3)) as server:
        assert server.config.dev_user_cap == 3
        first = server.url
    assert not server.running
    with server:
        assert server.running and server.url  # a new free port, the same state
    assert first


def test_a_taken_port_is_a_clear_error(sandbox):
    other = SandboxServer(port=sandbox.port)
    with pytest.raises(RuntimeError, match="could not listen"):
        other.start()


# --- create --------------------------------------------------------------------------


def test_create_returns_a_clerk_user(api, sandbox, prod_key):
    r = api.post("/v1/users", json=body(1, created_at="2023-04-05T06:07:08.123Z"))
    assert r.status_code == 200, r.text
    user = r.json()
    assert user["object"] == "user"
    assert user["id"].startswith("user_") and len(user["id"]) == 5 + 27
    assert user["external_id"] == "ext_1"
    assert (user["first_name"], user["last_name"]) == ("Ada", "Lovelace")
    assert user["password_enabled"] is True
    assert user["created_at"] == 1680674828123
    assert user["updated_at"] >= user["created_at"]
    assert user["last_sign_in_at"] is None
    [email] = user["email_addresses"]
    assert email["id"].startswith("idn_") and email["object"] == "email_address"
    assert email["email_address"] == "user1@example.com"
    assert email["reserved"] is False
    assert email["verification"]["status"] == "verified"
    assert email["verification"]["strategy"] == "admin"
    assert user["primary_email_address_id"] == email["id"]
    for name in ("phone_numbers", "web3_wallets", "passkeys", "external_accounts",
                 "saml_accounts", "enterprise_accounts"):
        assert user[name] == []
    assert sandbox.users(prod_key) == [user]
    assert sandbox.create_requests(prod_key) == 1


def test_created_at_defaults_to_now_in_milliseconds(api):
    before = int(time.time() * 1000)
    user = api.post("/v1/users", json=body(1)).json()
    assert before <= user["created_at"] <= int(time.time() * 1000)


def test_reserved_address_is_reserved_and_unverified(api):
    r = api.post("/v1/users", json=body(1, email_address=["a@example.com", "b@example.com"],
                                        email_address_identification_status=["reserved", "verified"]))
    assert r.status_code == 200, r.text
    first, second = r.json()["email_addresses"]
    assert first["reserved"] is True and first["verification"]["status"] == "unverified"
    assert second["reserved"] is False and second["verification"]["status"] == "verified"


def test_identification_status_must_match_the_addresses(api):
    r = api.post("/v1/users", json=body(1, email_address_identification_status=["reserved", "verified"]))
    assert r.status_code == 422
    assert error_of(r)["code"] == "form_param_value_invalid"


def test_user_without_password_needs_skip_password_requirement(api):
    plain = body(1, password_digest=..., password_hasher=...)
    r = api.post("/v1/users", json=plain)
    assert r.status_code == 422
    assert error_of(r)["code"] == "form_data_missing"
    assert error_of(r)["meta"]["param_name"] == "password"
    r = api.post("/v1/users", json={**plain, "skip_password_requirement": True})
    assert r.status_code == 200
    assert r.json()["password_enabled"] is False


def test_user_needs_an_identifier(api):
    r = api.post("/v1/users", json={"external_id": "x", "skip_password_requirement": True})
    assert r.status_code == 422 and error_of(r)["code"] == "form_data_missing"


def test_argon2_and_plain_passwords_are_accepted(api):
    assert api.post("/v1/users", json=body(1, password_digest=ARGON2ID, password_hasher="argon2id")).status_code == 200
    r = api.post("/v1/users", json=body(2, password_digest=..., password_hasher=..., password="correct horse battery"))
    assert r.status_code == 200 and r.json()["password_enabled"] is True


# --- validation errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "status", "code", "param"),
    [
        ({"avatar_url": "https://x"}, 422, "form_param_unknown", "avatar_url"),
        ({"email_address": ["not-an-email"]}, 422, "form_param_format_invalid", "email_address"),
        ({"email_address": ["a b@example.com"]}, 422, "form_param_format_invalid", "email_address"),
        ({"email_address": ["josé@example.com"]}, 422, "form_param_format_invalid", "email_address"),
        ({"email_address": ["x" * 65 + "@example.com"]}, 422, "form_param_format_invalid", "email_address"),
        ({"email_address": ["a@" + "b" * 250 + ".com"]}, 422, "form_param_format_invalid", "email_address"),
        ({"phone_number": ["555-1234"]}, 422, "form_param_format_invalid", "phone_number"),
        ({"password_hasher": ...}, 422, "form_param_missing", "password_hasher"),
        ({"password_digest": ...}, 422, "form_param_missing", "password_digest"),
        ({"password_hasher": "rot13"}, 422, "form_param_value_invalid", "password_hasher"),
        ({"password_digest": "$2b$10$tooshort"}, 422, "form_password_digest_invalid_code", "password_digest"),
        ({"password_digest": BCRYPT, "password_hasher": "argon2id"}, 422, "form_password_digest_invalid_code", "password_digest"),
        ({"password_digest": ARGON2ID, "password_hasher": "argon2i"}, 422, "form_password_digest_invalid_code", "password_digest"),
        ({"password_digest": "$argon2id$m=1$bad", "password_hasher": "argon2id"}, 422, "form_password_digest_invalid_code", "password_digest"),
        ({"password_digest": "abc", "password_hasher": "md5"}, 422, "form_password_digest_invalid_code", "password_digest"),
        ({"password_digest": ..., "password_hasher": ..., "password": "short"}, 422, "form_password_length_too_short", "password"),
        ({"password_digest": ..., "password_hasher": ..., "password": "short", "skip_password_checks": True}, 422, "form_password_length_too_short", "password"),
        ({"password_digest": ..., "password_hasher": ..., "password": "password123"}, 422, "form_password_pwned", "password"),
        ({"password": "a long enough one"}, 422, "form_param_value_invalid", "password_digest"),
        ({"created_at": "2023-04-05 06:07:08"}, 422, "form_param_invalid_time", "created_at"),
        ({"created_at": "2023-13-05T06:07:08Z"}, 422, "form_param_invalid_time", "created_at"),
        ({"created_at": "1680674828"}, 422, "form_param_invalid_time", "created_at"),
        ({"legal_accepted_at": "yesterday"}, 422, "form_param_invalid_time", "legal_accepted_at"),
        ({"username": "ab"}, 422, "form_username_invalid_length", "username"),
        ({"username": "no spaces!"}, 422, "form_username_invalid_character", "username"),
        ({"email_address": "user@example.com"}, 422, "form_param_type_invalid", "email_address"),
        ({"email_address": [1]}, 422, "form_param_type_invalid", "email_address"),
        ({"first_name": 7}, 422, "form_param_type_invalid", "first_name"),
        ({"skip_password_checks": "yes"}, 422, "form_param_type_invalid", "skip_password_checks"),
        ({"create_organizations_limit": True}, 422, "form_param_type_invalid", "create_organizations_limit"),
        ({"public_metadata": []}, 422, "form_param_type_invalid", "public_metadata"),
        ({"email_address": None}, 422, "form_param_type_invalid", "email_address"),
    ],
)
def test_create_validation_errors(api, sandbox, prod_key, extra, status, code, param):
    r = api.post("/v1/users", json=body(1, **extra))
    assert r.status_code == status, r.text
    error = error_of(r)
    assert error["code"] == code
    assert error["meta"]["param_name"] == param
    assert sandbox.users(prod_key) == []


def test_every_unknown_field_is_named(api):
    r = api.post("/v1/users", json=body(1, image="x", providers=["github"]))
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {(e["code"], e["meta"]["param_name"]) for e in errors} == {
        ("form_param_unknown", "image"), ("form_param_unknown", "providers")}


def test_nullable_fields_accept_null(api):
    r = api.post("/v1/users", json=body(1, first_name=None, username=None, created_at=None))
    assert r.status_code == 200, r.text
    assert r.json()["first_name"] is None


def test_rfc3339_offsets_and_fractions(api):
    user = api.post("/v1/users", json=body(1, created_at="2012-10-20T09:15:20.9+02:00")).json()
    assert user["created_at"] == 1350717320900


def test_every_known_hasher_is_accepted_with_a_fitting_digest(api):
    digests = {
        "bcrypt": BCRYPT, "bcrypt_sha256_django": "bcrypt_sha256$" + BCRYPT,
        "argon2id": ARGON2ID, "argon2i": ARGON2ID.replace("argon2id", "argon2i"),
        "md5": "5f4dcc3b5aa765d61d8327deb882cf99",
        "sha256": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "pbkdf2_sha256": "pbkdf2_sha256$260000$c2FsdA$aGFzaA==",
        "pbkdf2_sha256_django": "pbkdf2_sha256$260000$salt$aGFzaA==",
        "pbkdf2_sha1": "pbkdf2_sha1$10000$salt$0a1b2c",
        "phpass": "$P$B" + "a" * 30, "md5_phpass": "$H$9" + "b" * 30,
    }
    for i, hasher in enumerate(sorted(PASSWORD_HASHERS)):
        digest = digests.get(hasher, "opaque$digest$value")
        r = api.post("/v1/users", json=body(i, password_digest=digest, password_hasher=hasher))
        assert r.status_code == 200, (hasher, r.text)


def test_create_schema_is_clerks():
    from console.clerk.models import CREATE_FIELDS

    assert set(CREATE_SCHEMA) == set(CREATE_FIELDS)


# --- duplicates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "param"),
    [
        ({"email_address": ["USER1@Example.COM"], "external_id": "other"}, "email_address"),
        ({"email_address": ["x@example.com"], "external_id": "ext_1"}, "external_id"),
        ({"email_address": ["x@example.com"], "external_id": "other", "username": "ADA_L"}, "username"),
    ],
)
def test_duplicate_identifiers(api, sandbox, prod_key, second, param):
    assert api.post("/v1/users", json=body(1, username="ada_l")).status_code == 200
    r = api.post("/v1/users", json=body(2, **second))
    assert r.status_code == 422
    error = error_of(r)
    assert error["code"] == "form_identifier_exists"
    assert error["meta"]["param_name"] == param
    assert len(sandbox.users(prod_key)) == 1


def test_a_resent_create_names_every_taken_identifier(api):
    assert api.post("/v1/users", json=body(1)).status_code == 200
    r = api.post("/v1/users", json=body(1))
    assert [e["meta"]["param_name"] for e in r.json()["errors"]] == ["email_address", "external_id"]


def test_emails_are_stored_lower_case(api):
    user = api.post("/v1/users", json=body(1, email_address=["Ada.Lovelace@Example.com"])).json()
    assert user["email_addresses"][0]["email_address"] == "ada.lovelace@example.com"


def test_instances_are_separate(sandbox, prod_key):
    other = make_key("production", "another app")
    for key in (prod_key, other):
        r = httpx.post(f"{sandbox.url}/v1/users", json=body(1), headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
    assert len(sandbox.users(prod_key)) == 1 and len(sandbox.users(other)) == 1


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "authorization_header_format_invalid"),
        ({"Authorization": ""}, "authorization_header_format_invalid"),
        ({"Authorization": "sk_live_abcdef"}, "authorization_header_format_invalid"),
        ({"Authorization": "Basic c2tfbGl2ZV94eXo="}, "authorization_header_format_invalid"),
        ({"Authorization": "Bearer"}, "authorization_header_format_invalid"),
        ({"Authorization": "Bearer a b"}, "authorization_header_format_invalid"),
        ({"Authorization": "Bearer pk_live_abcdef"}, "clerk_key_invalid"),
        ({"Authorization": "Bearer sk_prod_abcdef"}, "clerk_key_invalid"),
        ({"Authorization": "Bearer sk_live_has-dash"}, "clerk_key_invalid"),
        ({"Authorization": "Bearer sk_live_"}, "clerk_key_invalid"),
    ],
)
def test_401s(sandbox, headers, code):
    with httpx.Client(base_url=sandbox.url) as client:
        for method, path in (("GET", "/v1/users"), ("POST", "/v1/users"), ("GET", "/v1/users/count"),
                             ("GET", "/v1/users/user_x"), ("DELETE", "/v1/users/user_x")):
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401
            assert error_of(r)["code"] == code
    assert sandbox._core.store.instances == {}


def test_rejected_key_and_no_key_in_messages(sandbox):
    key = make_key("production", "revoked")
    sandbox.config.rejected_keys.add(key)
    r = httpx.get(f"{sandbox.url}/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and error_of(r)["code"] == "clerk_key_invalid"
    assert key not in r.text and key[8:] not in r.text


def test_kind_comes_from_the_prefix(sandbox_factory):
    server = sandbox_factory(dev_user_cap=1)
    for key, second in ((make_key("development"), 403), (make_key("production"), 200)):
        h = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{server.url}/v1/users", json=body(1), headers=h).status_code == 200
        assert httpx.post(f"{server.url}/v1/users", json=body(2), headers=h).status_code == second


# --- rate limit -------------------------------------------------------------------------


def test_429_with_retry_after_then_the_window_slides(sandbox_factory):
    server = sandbox_factory(production_limit=5, window_s=0.5)
    key = make_key("production")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
        t0 = time.monotonic()
        codes = [c.get("/v1/users/count").status_code for _ in range(5)]
        assert codes == [200] * 5
        r = c.post("/v1/users", json=body(1))
        assert r.status_code == 429
        assert error_of(r)["code"] == "too_many_requests"
        assert r.headers["Retry-After"] == "1"  # ceil of < 0.5 s
        assert server.users(key) == [] and server.create_requests(key) == 0
        # another key has its own window
        other = make_key("production", "other")
        assert c.get("/v1/users", headers={"Authorization": f"Bearer {other}"}).status_code == 200
        # when the oldest request leaves the window, one slot frees
        deadline = t0 + 5
        while c.get("/v1/users/count").status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.05)  # polling the server itself, with a deadline
        assert time.monotonic() - t0 >= 0.5
    stats = server.stats(key)
    assert stats["rate_limited"] >= 1 and stats["requests"] == 6


def test_retry_after_is_whole_seconds_rounded_up(sandbox_factory):
    server = sandbox_factory(development_limit=2, window_s=2.5)
    h = {"Authorization": f"Bearer {make_key('development')}"}
    for _ in range(2):
        assert httpx.get(f"{server.url}/v1/users", headers=h).status_code == 200
    r = httpx.get(f"{server.url}/v1/users", headers=h)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) == 3


def test_limit_follows_the_instance_kind_and_live_config(sandbox_factory):
    server = sandbox_factory(production_limit=3, development_limit=1, window_s=30)
    dev = {"Authorization": f"Bearer {make_key('development')}"}
    prod = {"Authorization": f"Bearer {make_key('production')}"}
    assert [httpx.get(f"{server.url}/v1/users", headers=dev).status_code for _ in range(2)] == [200, 429]
    assert [httpx.get(f"{server.url}/v1/users", headers=prod).status_code for _ in range(4)] == [200, 200, 200, 429]
    server.config.production_limit = 10
    assert httpx.get(f"{server.url}/v1/users", headers=prod).status_code == 200


# --- development cap ---------------------------------------------------------------------


def test_development_user_cap(sandbox_factory):
    server = sandbox_factory(dev_user_cap=3)
    key = make_key("development")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
        for i in range(3):
            assert c.post("/v1/users", json=body(i)).status_code == 200
        r = c.post("/v1/users", json=body(99))
        assert r.status_code == 403
        error = error_of(r)
        assert error["code"] == "user_quota_exceeded"
        assert error["message"] == "You have reached your limit of 3 users."
        # a duplicate is still reported as a duplicate
        assert error_of(c.post("/v1/users", json=body(0)))["code"] == "form_identifier_exists"
        # deleting one frees a place
        uid = server.users(key)[0]["id"]
        assert c.delete(f"/v1/users/{uid}").status_code == 200
        assert c.post("/v1/users", json=body(99)).status_code == 200


def test_default_cap_is_100(sandbox):
    assert sandbox.config.dev_user_cap == 100
    key = make_key("development")
    for i in range(100):
        sandbox.seed_user(key, body(i))
    r = httpx.post(f"{sandbox.url}/v1/users", json=body(100), headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and "limit of 100 users" in r.json()["errors"][0]["message"]


# --- reading users -----------------------------------------------------------------------


@pytest.fixture
def populated(sandbox, prod_key) -> list[dict]:
    users = []
    for i in range(150):
        users.append(sandbox.seed_user(prod_key, body(
            i, created_at=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
            first_name=f"F-{i:03d}", username=f"user_{i:03d}",
            phone_number=[f"+1555000{i:04d}"])))
    return users


def test_lookup_by_100_external_ids_in_one_request(api, populated):
    wanted = [f"ext_{i}" for i in range(100)]
    r = api.get("/v1/users", params={"external_id": wanted, "limit": 500})
    assert r.status_code == 200
    assert sorted(u["external_id"] for u in r.json()) == sorted(wanted)


def test_101_values_is_a_clerk_error(api, populated):
    for name in ("external_id", "user_id", "email_address", "phone_number", "username"):
        r = api.get("/v1/users", params={name: [f"v{i}" for i in range(101)]})
        assert r.status_code == 422, name
        error = error_of(r)
        assert error["code"] == "form_param_value_invalid" and error["meta"]["param_name"] == name
        assert api.get("/v1/users/count", params={name: [f"v{i}" for i in range(101)]}).status_code == 422


def test_filters_by_each_identifier(api, populated):
    u = populated[7]
    cases = {
        "user_id": [u["id"], "user_unknown"],
        "email_address": ["USER7@example.com", "nobody@example.com"],
        "phone_number": ["+15550000007"],
        "username": ["USER_007"],
        "external_id": ["ext_7", "ext_nope"],
    }
    for name, values in cases.items():
        r = api.get("/v1/users", params={name: values})
        assert [x["id"] for x in r.json()] == [u["id"]], name
    # several kinds: all must match
    assert api.get("/v1/users", params={"external_id": "ext_7", "username": "user_008"}).json() == []
    assert api.get("/v1/users/count", params={"external_id": ["ext_7", "ext_8"]}).json() == {
        "object": "total_count", "total_count": 2}


def test_query_is_a_partial_case_insensitive_match(api, populated):
    r = api.get("/v1/users", params={"query": "USER14", "limit": 100})
    assert sorted(u["external_id"] for u in r.json()) == ["ext_14"] + [f"ext_{i}" for i in range(140, 150)]
    assert api.get("/v1/users/count", params={"query": "f-00"}).json()["total_count"] == 10


def test_order_limit_offset(api, populated):
    default = api.get("/v1/users").json()
    assert len(default) == 10
    assert [u["external_id"] for u in default] == [f"ext_{i}" for i in range(149, 139, -1)]  # -created_at
    asc = api.get("/v1/users", params={"order_by": "+created_at", "limit": 3, "offset": 2}).json()
    assert [u["external_id"] for u in asc] == ["ext_2", "ext_3", "ext_4"]
    by_name = api.get("/v1/users", params={"order_by": "-first_name", "limit": 2}).json()
    assert [u["first_name"] for u in by_name] == ["F-149", "F-148"]
    by_email = api.get("/v1/users", params={"order_by": "email_address", "limit": 500}).json()
    assert [u["email_addresses"][0]["email_address"] for u in by_email] == sorted(
        f"user{i}@example.com" for i in range(150))
    assert len(api.get("/v1/users", params={"limit": 500}).json()) == 150
    assert api.get("/v1/users", params={"offset": 150}).json() == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"offset": -1},
                                    {"order_by": "password"}, {"order_by": "--created_at"}])
def test_bad_list_params(api, params):
    r = api.get("/v1/users", params=params)
    assert r.status_code == 422
    assert error_of(r)["meta"]["param_name"] == next(iter(params))


def test_count(api, populated):
    assert api.get("/v1/users/count").json() == {"object": "total_count", "total_count": 150}


def test_get_and_delete(api, sandbox, prod_key):
    user = api.post("/v1/users", json=body(1)).json()
    assert api.get(f"/v1/users/{user['id']}").json() == user
    r = api.delete(f"/v1/users/{user['id']}")
    assert r.status_code == 200
    assert r.json() == {"object": "user", "id": user["id"], "deleted": True, "external_id": "ext_1"}
    for method in ("GET", "DELETE"):
        r = api.request(method, f"/v1/users/{user['id']}")
        assert r.status_code == 404 and error_of(r)["code"] == "resource_not_found"
    # the identifiers are free again
    assert api.post("/v1/users", json=body(1)).status_code == 200
    assert len(sandbox.users(prod_key)) == 1


def test_patch_changes_a_user_behind_the_tools_back(api, sandbox, prod_key):
    user = api.post("/v1/users", json=body(1)).json()
    other = api.post("/v1/users", json=body(2)).json()
    r = api.patch(f"/v1/users/{user['id']}", json={"first_name": "Grace", "external_id": "changed"})
    assert r.status_code == 200
    assert r.json()["first_name"] == "Grace" and r.json()["external_id"] == "changed"
    assert api.get("/v1/users", params={"external_id": "ext_1"}).json() == []
    assert api.get("/v1/users", params={"external_id": "changed"}).json()[0]["id"] == user["id"]
    r = api.patch(f"/v1/users/{other['id']}", json={"external_id": "changed"})
    assert error_of(r)["code"] == "form_identifier_exists"
    assert error_of(api.patch(f"/v1/users/{user['id']}", json={"password": "x"}))["code"] == "form_password_length_too_short"
    assert error_of(api.patch(f"/v1/users/{user['id']}", json={"avatar": "x"}))["code"] == "form_param_unknown"
    assert api.patch(f"/v1/users/{user['id']}", json={"external_id": None}).json()["external_id"] is None
    assert api.patch("/v1/users/user_nope", json={}).status_code == 404


def test_unknown_paths_and_methods_are_clerk_errors(api):
    r = api.get("/v1/organizations")
    assert r.status_code == 404 and error_of(r)["code"] == "resource_not_found"
    r = api.put("/v1/users")
    assert r.status_code == 405 and error_of(r)


# --- bad bodies: Clerk-style 4xx, never a 500 -------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "request_body_invalid"),
        (b"not json", "request_body_invalid"),
        (b'{"email_address": ["a@b.co"]', "request_body_invalid"),
        (b"[1, 2, 3]", "request_body_invalid"),
        (b'"a string"', "request_body_invalid"),
        (b"null", "request_body_invalid"),
        (b'{"first_name": NaN}', "request_body_invalid"),
        (b"\xff\xfe\x00garbage", "request_body_invalid"),
        (b"[" * 100_000 + b"]" * 100_000, "request_body_invalid"),
    ],
)
def test_bad_bodies(api, sandbox, prod_key, content, code):
    r = api.post("/v1/users", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert error_of(r)["code"] == code
    assert sandbox.users(prod_key) == []


def test_ten_megabyte_body_is_413(api, sandbox, prod_key):
    big = json.dumps({"first_name": "x" * (10 * 1024 * 1024)}).encode()
    r = api.post("/v1/users", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert error_of(r)["code"] == "request_body_too_large"
    # the connection (or a new one) still works
    assert api.get("/v1/users/count").status_code == 200


def test_bad_patch_bodies(api):
    user = api.post("/v1/users", json=body(1)).json()
    for content in (b"[]", b"{", b'{"first_name": 1}'):
        r = api.patch(f"/v1/users/{user['id']}", content=content)
        assert 400 <= r.status_code < 500, r.text
        assert error_of(r)


def test_api_version_header(api, sandbox, prod_key):
    assert api.get("/v1/users", headers={"Clerk-API-Version": "2025-11-10"}).status_code == 200
    r = api.get("/v1/users", headers={"Clerk-API-Version": "2099-01-01"})
    assert r.status_code == 400 and error_of(r)["code"] == "api_version_invalid"
    assert sandbox.api_versions(prod_key) == {"2025-11-10": 1, "2099-01-01": 1}


# --- test helpers --------------------------------------------------------------------------


def test_seed_user_and_reset(sandbox, prod_key):
    user = sandbox.seed_user(prod_key, body(1))
    assert sandbox.users(prod_key) == [user]
    assert sandbox.create_requests(prod_key) == 0
    from console.sandbox.errors import ApiError

    with pytest.raises(ApiError) as exc:
        sandbox.seed_user(prod_key, body(1))
    assert exc.value.code == "form_identifier_exists"
    sandbox.reset()
    assert sandbox.users(prod_key) == [] and sandbox.stats(prod_key) == {}


def test_users_returns_copies(sandbox, prod_key):
    sandbox.seed_user(prod_key, body(1))
    sandbox.users(prod_key)[0]["first_name"] = "changed"
    assert sandbox.users(prod_key)[0]["first_name"] == "Ada"


def test_make_key():
    assert make_key("production").startswith("sk_live_")
    assert make_key("development").startswith("sk_test_")
    assert make_key("production", "a") != make_key("production", "b")
    assert make_key("production", "a") == make_key("production", "a")
    with pytest.raises(ValueError):
        make_key("staging")  # type: ignore[arg-type]


def test_ceil_helper_matches_retry_after_semantics():
    from console.sandbox.state import SlidingWindow

    w = SlidingWindow()
    assert w.admit(100.0, 2, 10.0) is None
    assert w.admit(101.0, 2, 10.0) is None
    assert w.admit(101.5, 2, 10.0) == math.ceil(110.0 - 101.5)
    assert w.admit(110.0, 2, 10.0) is None  # the first left the window
    assert w.admit(110.0, 0, 10.0) == 10
