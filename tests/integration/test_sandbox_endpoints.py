"""The sandbox's second-round endpoints over real HTTP: GET /v1/instance and key
rotation, PATCH users (and the per-user update limit), email addresses, ban,
verify_password (bcrypt and argon2 for real), metadata, the +/- list filters,
the echo_key fault and the 401 counter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import bcrypt
import httpx
import pytest
from argon2 import PasswordHasher

from console.sandbox import SandboxServer, make_key
from console.sandbox.config import instance_id_for, rotated_key
from console.sandbox.instance_settings import open_user_settings

FAST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def bcrypt_of(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def sandbox(sandbox_factory) -> SandboxServer:
    return sandbox_factory(user_settings=open_user_settings())


def client(server: SandboxServer, key: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}", **headers}, timeout=10)


@pytest.fixture
def api(sandbox: SandboxServer, prod_key: str) -> Iterator[httpx.Client]:
    with client(sandbox, prod_key) as http:
        yield http


def make_user(api: httpx.Client, n: int = 1, **extra) -> dict:
    body = {"external_id": f"ext_{n}", "email_address": [f"user{n}@example.com"], "first_name": "Ada",
            "skip_password_requirement": True, **extra}
    r = api.post("/v1/users", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def code_of(r: httpx.Response) -> str:
    return r.json()["errors"][0]["code"]


# ------------------------------------------------------------------ instance and rotation
def test_instance_is_stable_and_shared_by_a_rotated_key(sandbox, prod_key, dev_key):
    with client(sandbox, prod_key) as a:
        one = a.get("/v1/instance").json()
        assert one == {"object": "instance", "id": instance_id_for(prod_key), "environment_type": "production",
                       "allowed_origins": None}
        assert one["id"].startswith("ins_") and a.get("/v1/instance").json() == one
        make_user(a, 1)
    rotated = make_key("production", "tests", rotation=1)
    assert rotated != prod_key and rotated.startswith("sk_live_") and rotated == rotated_key(prod_key, 1)
    with client(sandbox, rotated) as b:
        assert b.get("/v1/instance").json()["id"] == one["id"]
        assert [u["external_id"] for u in b.get("/v1/users").json()] == ["ext_1"]  # the same users
    with client(sandbox, dev_key) as c:
        other = c.get("/v1/instance").json()
        assert other["id"] != one["id"] and other["environment_type"] == "development"
    assert sandbox.stats(rotated)["requests"] == sandbox.stats(prod_key)["requests"] == 5  # one window, one counter
    with client(sandbox, make_key("production", "someone-else")) as d:
        assert d.get("/v1/instance").json()["id"] != one["id"]


def test_rotate_key_registers_a_new_key_of_the_same_instance(sandbox, prod_key):
    with client(sandbox, prod_key) as a:
        make_user(a, 1)
    first = sandbox.rotate_key(prod_key)
    second = sandbox.rotate_key(prod_key)
    assert first == make_key("production", "tests", rotation=1)
    assert second == make_key("production", "tests", rotation=2)
    assert sandbox.instance_id(second) == sandbox.instance_id(prod_key)
    assert [u["external_id"] for u in sandbox.users(first)] == ["ext_1"]
    # a rotation used before the original key still joins it later
    fresh = make_key("development", "late", rotation=3)
    with client(sandbox, fresh) as b:
        make_user(b, 9)
    assert [u["external_id"] for u in sandbox.users(make_key("development", "late"))] == ["ext_9"]


# ------------------------------------------------------------------ PATCH users
def test_patch_user_fields_password_and_external_id(api, sandbox, prod_key):
    user = make_user(api, 1)
    other = make_user(api, 2)
    r = api.patch(f"/v1/users/{user['id']}", json={
        "external_id": "-dash", "first_name": "Grace", "last_name": None, "username": "grace_h",
        "password": "correct horse battery", "legal_accepted_at": "2024-01-02T03:04:05Z",
        "public_metadata": {"plan": "pro"}, "private_metadata": {"a": {"b": 1}},
        "skip_password_checks": True, "sign_out_of_other_sessions": True,
    })
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["external_id"], got["first_name"], got["last_name"], got["username"]) == ("-dash", "Grace", None, "grace_h")
    assert got["password_enabled"] is True and got["legal_accepted_at"] == 1704164645000
    assert got["public_metadata"] == {"plan": "pro"} and got["updated_at"] >= user["updated_at"]
    # replace semantics: the metadata object given replaces the stored one whole; others are kept
    got = api.patch(f"/v1/users/{user['id']}", json={"private_metadata": {"c": 2}}).json()
    assert got["private_metadata"] == {"c": 2} and got["public_metadata"] == {"plan": "pro"}
    # external_id another user holds: refused, nothing changed
    r = api.patch(f"/v1/users/{other['id']}", json={"external_id": "-dash", "first_name": "X"})
    assert r.status_code == 422 and code_of(r) == "form_identifier_exists"
    assert r.json()["errors"][0]["meta"] == {"param_name": "external_id"}
    assert api.get(f"/v1/users/{other['id']}").json()["first_name"] == "Ada"
    # password digest + hasher, and its checks
    digest = bcrypt_of("s3cret-pass")
    assert api.patch(f"/v1/users/{other['id']}", json={"password_digest": digest, "password_hasher": "bcrypt"}).status_code == 200
    assert api.post(f"/v1/users/{other['id']}/verify_password", json={"password": "s3cret-pass"}).json() == {"verified": True}
    r = api.patch(f"/v1/users/{other['id']}", json={"password_digest": "nope", "password_hasher": "bcrypt"})
    assert code_of(r) == "form_password_digest_invalid_code"
    assert code_of(api.patch(f"/v1/users/{other['id']}", json={"password_digest": digest})) == "form_param_missing"
    r = api.patch(f"/v1/users/{other['id']}", json={"avatar_url": "x"})
    assert r.status_code == 422 and code_of(r) == "form_param_unknown"
    assert r.json()["errors"][0]["meta"] == {"param_name": "avatar_url"}
    assert api.patch("/v1/users/user_nope", json={"first_name": "x"}).status_code == 404


def test_patch_primary_email_must_be_a_verified_address_of_the_user(api):
    user = make_user(api, 1)
    added = api.post("/v1/email_addresses", json={"user_id": user["id"], "email_address": "new@example.com"}).json()
    r = api.patch(f"/v1/users/{user['id']}", json={"primary_email_address_id": added["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["meta"]["param_name"] == "primary_email_address_id"
    api.patch(f"/v1/email_addresses/{added['id']}", json={"verified": True})
    got = api.patch(f"/v1/users/{user['id']}", json={"primary_email_address_id": added["id"]}).json()
    assert got["primary_email_address_id"] == added["id"]
    assert code_of(api.patch(f"/v1/users/{user['id']}", json={"primary_email_address_id": "idn_nope"})) == "form_param_value_invalid"


def test_api_version_2026_05_12_has_no_metadata_in_patch(sandbox, prod_key):
    with client(sandbox, prod_key) as api:
        user = make_user(api, 1)
    with client(sandbox, prod_key, **{"Clerk-API-Version": "2026-05-12"}) as newer:
        r = newer.patch(f"/v1/users/{user['id']}", json={"public_metadata": {"a": 1}})
        assert r.status_code == 422 and code_of(r) == "form_param_unknown"
        assert newer.patch(f"/v1/users/{user['id']}", json={"first_name": "B"}).status_code == 200


def test_metadata_endpoints_merge_and_replace(api):
    user = make_user(api, 1, public_metadata={"a": {"x": 1, "y": 2}, "keep": True})
    got = api.patch(f"/v1/users/{user['id']}/metadata", json={"public_metadata": {"a": {"y": None, "z": 3}},
                                                                "private_metadata": {"run": "r1"}}).json()
    assert got["public_metadata"] == {"a": {"x": 1, "z": 3}, "keep": True}
    assert got["private_metadata"] == {"run": "r1"}
    got = api.put(f"/v1/users/{user['id']}/metadata", json={"public_metadata": {"only": 1}}).json()
    assert got["public_metadata"] == {"only": 1} and got["private_metadata"] == {"run": "r1"}
    assert code_of(api.patch(f"/v1/users/{user['id']}/metadata", json={"public_metadata": []})) == "form_param_type_invalid"


def test_user_updates_are_limited_per_user(sandbox_factory, prod_key):
    server = sandbox_factory(user_update_limit=3, user_update_window_s=30)
    with client(server, prod_key) as api:
        one, two = make_user(api, 1), make_user(api, 2)
        for i in range(3):
            assert api.patch(f"/v1/users/{one['id']}", json={"first_name": f"n{i}"}).status_code == 200
        r = api.post(f"/v1/users/{one['id']}/ban")
        assert r.status_code == 429 and code_of(r) == "too_many_requests"
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert api.patch(f"/v1/users/{two['id']}", json={"first_name": "other"}).status_code == 200  # another user
        assert api.get(f"/v1/users/{one['id']}").json()["first_name"] == "n2"  # reads are not limited
    assert server.stats(prod_key)["user_rate_limited"] == 1


# ------------------------------------------------------------------ email addresses
def test_email_addresses_add_verify_primary_delete(api, sandbox, prod_key):
    user = make_user(api, 1)
    old_id = user["primary_email_address_id"]
    r = api.post("/v1/email_addresses", json={"user_id": user["id"], "email_address": "New@Example.com",
                                              "verified": True, "primary": True})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["object"] == "email_address" and new["email_address"] == "new@example.com"
    assert new["verification"]["status"] == "verified" and new["reserved"] is False
    assert api.get(f"/v1/users/{user['id']}").json()["primary_email_address_id"] == new["id"]
    assert api.get(f"/v1/email_addresses/{new['id']}").json()["id"] == new["id"]
    # the old address goes; the user keeps the new one, found by it
    gone = api.delete(f"/v1/email_addresses/{old_id}")
    assert gone.json() == {"object": "email_address", "id": old_id, "deleted": True}
    assert [e["email_address"] for e in api.get(f"/v1/users/{user['id']}").json()["email_addresses"]] == ["new@example.com"]
    assert api.get("/v1/users", params={"email_address": "user1@example.com"}).json() == []
    assert api.get("/v1/users", params={"email_address": "new@example.com"}).json()[0]["id"] == user["id"]
    # the freed address can be taken by another user; a taken one cannot
    other = make_user(api, 2)
    assert api.post("/v1/email_addresses", json={"user_id": other["id"], "email_address": "user1@example.com"}).status_code == 200
    r = api.post("/v1/email_addresses", json={"user_id": other["id"], "email_address": "NEW@example.com"})
    assert r.status_code == 422 and code_of(r) == "form_identifier_exists"
    # unverified by default, verified later
    plain = api.post("/v1/email_addresses", json={"user_id": other["id"], "email_address": "late@example.com"}).json()
    assert plain["verification"] is None and plain["reserved"] is False
    assert api.patch(f"/v1/email_addresses/{plain['id']}", json={"verified": True}).json()["verification"]["status"] == "verified"
    assert api.patch(f"/v1/email_addresses/{plain['id']}", json={"primary": True}).status_code == 200
    assert api.get(f"/v1/users/{other['id']}").json()["primary_email_address_id"] == plain["id"]


def test_email_address_errors(api):
    user = make_user(api, 1)
    only = user["primary_email_address_id"]
    for body, code in (({"user_id": user["id"]}, "form_param_missing"),
                       ({"user_id": user["id"], "email_address": "bad"}, "form_param_format_invalid"),
                       ({"user_id": user["id"], "email_address": "x@example.com", "bogus": 1}, "form_param_unknown")):
        r = api.post("/v1/email_addresses", json=body)
        assert r.status_code == 422 and code_of(r) == code
    assert api.post("/v1/email_addresses", json={"user_id": "user_nope", "email_address": "x@example.com"}).status_code == 404
    assert api.delete("/v1/email_addresses/idn_nope").status_code == 404
    r = api.delete(f"/v1/email_addresses/{only}")  # the user's last identification
    assert r.status_code == 400 and code_of(r) == "identification_deletion_failed"
    second = api.post("/v1/email_addresses", json={"user_id": user["id"], "email_address": "b@example.com"}).json()
    r = api.delete(f"/v1/email_addresses/{only}")  # still the primary one
    assert r.status_code == 400 and code_of(r) == "primary_identification_deletion_failed"
    assert api.delete(f"/v1/email_addresses/{second['id']}").status_code == 200


def test_last_email_is_kept_when_the_instance_requires_one(sandbox_factory, prod_key):
    server = sandbox_factory()  # the demo's settings: email required
    with client(server, prod_key) as api:
        user = make_user(api, 1, username=None)
        r = api.delete(f"/v1/email_addresses/{user['primary_email_address_id']}")
        assert r.status_code == 400 and code_of(r) in ("identification_deletion_failed",
                                                        "last_required_identification_deletion_failed")


# ------------------------------------------------------------------ ban
def test_ban_and_unban(api):
    user = make_user(api, 1)
    assert api.post(f"/v1/users/{user['id']}/ban").json()["banned"] is True
    assert api.get(f"/v1/users/{user['id']}").json()["banned"] is True
    assert api.post(f"/v1/users/{user['id']}/unban").json()["banned"] is False
    assert api.post("/v1/users/user_nope/ban").status_code == 404


# ------------------------------------------------------------------ verify_password
@pytest.mark.parametrize("scheme", ["bcrypt_2b", "bcrypt_2a", "bcrypt_2y", "argon2id", "argon2i", "plain",
                                    "bcrypt_sha256_django", "md5", "sha256"])
def test_verify_password_checks_digests_for_real(api, scheme):
    password = "Tr0ub4dor&3-horse"
    if scheme.startswith("bcrypt_2"):
        digest = bcrypt_of(password)
        body = {"password_digest": "$" + scheme[-2:] + digest[3:], "password_hasher": "bcrypt"}
    elif scheme.startswith("argon2"):
        from argon2 import Type
        hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1,
                                type=Type.ID if scheme == "argon2id" else Type.I)
        body = {"password_digest": hasher.hash(password), "password_hasher": scheme}
    elif scheme == "bcrypt_sha256_django":
        inner = bcrypt.hashpw(hashlib.sha256(password.encode()).hexdigest().encode(), bcrypt.gensalt(4)).decode()
        body = {"password_digest": "bcrypt_sha256$" + inner, "password_hasher": scheme}
    elif scheme in ("md5", "sha256"):
        body = {"password_digest": hashlib.new(scheme, password.encode()).hexdigest(), "password_hasher": scheme}
    else:
        body = {"password": password}
    user = make_user(api, 1, skip_password_requirement=None, **body)
    right = api.post(f"/v1/users/{user['id']}/verify_password", json={"password": password})
    assert right.status_code == 200 and right.json() == {"verified": True}
    wrong = api.post(f"/v1/users/{user['id']}/verify_password", json={"password": password + "x"})
    assert wrong.status_code == 422 and code_of(wrong) == "form_password_incorrect"
    assert password not in wrong.text
    assert "password" not in user and all(password not in str(v) for v in user.values())


def test_verify_password_other_answers(api):
    nopass = make_user(api, 1)
    r = api.post(f"/v1/users/{nopass['id']}/verify_password", json={"password": "whatever1"})
    assert r.status_code == 400
    assert api.post("/v1/users/user_nope/verify_password", json={"password": "whatever1"}).status_code == 404
    assert code_of(api.post(f"/v1/users/{nopass['id']}/verify_password", json={})) == "form_param_missing"
    assert code_of(api.post(f"/v1/users/{nopass['id']}/verify_password", json={"password": "x", "y": 1})) == "form_param_unknown"
    pbkdf2 = make_user(api, 2, skip_password_requirement=None, password_hasher="pbkdf2_sha256",
                       password_digest="pbkdf2_sha256$1000$c2FsdA==$aGFzaA==")
    r = api.post(f"/v1/users/{pbkdf2['id']}/verify_password", json={"password": "whatever1"})
    assert r.status_code == 400 and code_of(r) == "sandbox_hasher_unsupported"
    # a password set later by PATCH is the one checked
    api.patch(f"/v1/users/{nopass['id']}", json={"password": "brand-new-pass"})
    assert api.post(f"/v1/users/{nopass['id']}/verify_password", json={"password": "brand-new-pass"}).status_code == 200


def test_a_bcrypt_digest_that_bcrypt_cannot_read_is_not_verified(api):
    user = make_user(api, 1, skip_password_requirement=None, password_hasher="bcrypt",
                     password_digest="$2b$10$" + "a" * 53)
    assert api.post(f"/v1/users/{user['id']}/verify_password", json={"password": "a-password"}).status_code == 422


# ------------------------------------------------------------------ +/- filters
def test_plus_includes_and_minus_excludes_external_and_user_ids(api):
    users = [make_user(api, 1, external_id="-starts-with-dash"), make_user(api, 2, external_id="plain"),
             make_user(api, 3, external_id="+plus")]
    ids = [u["id"] for u in users]

    def ext(*values):
        return sorted(u["external_id"] for u in api.get("/v1/users", params=[("external_id", v) for v in values]).json())

    # sent as it is, the id reads as "exclude starts-with-dash": every user comes back, not that one alone
    assert ext("-starts-with-dash") == ["+plus", "-starts-with-dash", "plain"]
    assert ext("--starts-with-dash") == ["+plus", "plain"]
    assert ext("+-starts-with-dash") == ["-starts-with-dash"]
    assert ext("+plain", "++plus") == ["+plus", "plain"]
    assert ext("plain") == ["plain"]  # no prefix: included
    assert ext("+plain", "-plain") == []
    count = api.get("/v1/users/count", params=[("external_id", "+-starts-with-dash")]).json()
    assert count == {"object": "total_count", "total_count": 1}
    by_id = api.get("/v1/users", params=[("user_id", f"-{ids[0]}")]).json()
    assert sorted(u["id"] for u in by_id) == sorted(ids[1:])
    assert [u["id"] for u in api.get("/v1/users", params=[("user_id", f"+{ids[2]}")]).json()] == [ids[2]]
    assert api.get("/v1/users/count", params=[("user_id", f"+{ids[1]}"), ("external_id", "+plain")]).json()["total_count"] == 1


# ------------------------------------------------------------------ echo_key and 401s
@pytest.mark.parametrize("mode", ["full", "secret"])
def test_echo_key_puts_the_key_in_every_error_message(sandbox_factory, prod_key, mode):
    server = sandbox_factory(echo_key=mode)
    with client(server, prod_key) as api:
        r = api.get("/v1/users/user_nope")
    shown = prod_key if mode == "full" else prod_key[len("sk_live_"):]
    item = r.json()["errors"][0]
    assert r.status_code == 404 and shown in item["message"] and shown in item["long_message"]
    assert item["meta"]["key"] == shown
    if mode == "secret":
        assert prod_key not in r.text


def test_401s_are_counted_without_an_instance(sandbox_factory):
    revoked = make_key("production", "revoked")
    server = sandbox_factory(rejected_keys={revoked})
    with client(server, revoked) as api:
        for _ in range(3):
            assert api.get("/v1/users/count").status_code == 401
    assert httpx.get(f"{server.url}/v1/users/count").status_code == 401
    assert server.auth_failures(revoked) == 3 and server.auth_failures() == 4
    assert server.stats(revoked) == {}
