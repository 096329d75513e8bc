"""Conformance: the official SDK (`clerk-backend-api`) is the oracle.

Two ways: the sandbox's JSON is validated with the SDK's pydantic models, and
the SDK's own client is pointed at the sandbox and must parse every answer
(User, list, count, deleted object, Clerk errors), so the sandbox cannot drift
from Clerk's published schema.
"""

from __future__ import annotations

import httpx
import pytest

clerk_backend_api = pytest.importorskip("clerk_backend_api")
from clerk_backend_api import Clerk, models  # noqa: E402
from clerk_backend_api.utils import unmarshal_json  # noqa: E402

from console.clerk import models as our_models  # noqa: E402
from console.sandbox import make_key  # noqa: E402
from console.sandbox.instance_settings import open_user_settings  # noqa: E402

KEY = make_key("production", "conformance")
BCRYPT = "$2b$10$" + "a" * 53

RICH_BODY = {
    "external_id": "ck_1",
    "email_address": ["Ada@Example.com", "second@example.com"],
    "email_address_identification_status": ["verified", "reserved"],
    "phone_number": ["+15555550100"],
    "web3_wallet": ["0x" + "ab" * 20],
    "username": "ada_l",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "locale": "en-GB",
    "password_digest": BCRYPT,
    "password_hasher": "bcrypt",
    "totp_secret": "JBSWY3DPEHPK3PXP",
    "backup_codes": ["123456"],
    "public_metadata": {"plan": "pro"},
    "private_metadata": {"legacy_id": 1},
    "unsafe_metadata": {"theme": "dark"},
    "created_at": "2021-06-01T10:00:00.000Z",
    "legal_accepted_at": "2021-06-01T10:00:00Z",
    "create_organizations_limit": 3,
    "banned": False,
    "locked": False,
}
PLAIN_BODY = {"external_id": "ck_2", "email_address": ["plain@example.com"], "skip_password_requirement": True}


@pytest.fixture
def sandbox(sandbox_factory):
    """RICH_BODY has a username, a phone number and a web3 wallet: every identifier on."""
    return sandbox_factory(user_settings=open_user_settings())


@pytest.fixture
def http(sandbox):
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def test_user_list_count_deleted_and_error_json_fit_the_sdk_models(http):
    for payload in (RICH_BODY, PLAIN_BODY):
        r = http.post("/v1/users", json=payload)
        assert r.status_code == 200, r.text
        user = unmarshal_json(r.text, models.User)
        assert user.id == r.json()["id"]
        assert user.external_id == payload["external_id"]
        # every required field of the SDK's User is present in the JSON itself
        required = {f.alias or n for n, f in models.User.model_fields.items() if f.is_required()}
        assert required <= set(r.json())
        our_models.User.model_validate(r.json())

    rich = unmarshal_json(http.get("/v1/users", params={"external_id": "ck_1"}).text, list[models.User])[0]
    assert rich.two_factor_enabled and rich.totp_enabled and rich.backup_code_enabled
    assert rich.primary_phone_number_id == rich.phone_numbers[0].id
    assert rich.primary_web3_wallet_id == rich.web3_wallets[0].id
    assert [e.reserved for e in rich.email_addresses] == [False, True]
    assert rich.legal_accepted_at == 1622541600000

    listed = unmarshal_json(http.get("/v1/users", params={"limit": 500}).text, list[models.User])
    assert len(listed) == 2

    count = unmarshal_json(http.get("/v1/users/count").text, models.TotalCount)
    assert count.total_count == 2
    our_models.TotalCount.model_validate_json(http.get("/v1/users/count").text)

    deleted_json = http.delete(f"/v1/users/{rich.id}").text
    deleted = unmarshal_json(deleted_json, models.DeletedObject)
    assert (deleted.object, deleted.id, deleted.deleted, deleted.external_id) == ("user", rich.id, True, "ck_1")
    our_models.DeletedObject.model_validate_json(deleted_json)

    for response in (
        http.post("/v1/users", json={**PLAIN_BODY, "bogus": 1}),  # 422
        http.get("/v1/users/user_missing"),  # 404
        http.get("/v1/users", headers={"Authorization": "Bearer nope"}),  # 401
        http.post("/v1/users", content=b"[]"),  # 400
    ):
        assert response.status_code >= 400
        errors = unmarshal_json(response.text, models.ClerkErrorsData)
        assert errors.errors[0].code
        body = our_models.ErrorBody.model_validate_json(response.text)
        assert body.clerk_trace_id


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK reads its own deprecated fields
def test_the_sdk_client_talks_to_the_sandbox(sandbox):
    with Clerk(bearer_auth=KEY, server_url=f"{sandbox.url}/v1") as clerk:
        user = clerk.users.create(**RICH_BODY)
        assert isinstance(user, models.User) and user.external_id == "ck_1"
        assert user.email_addresses[0].email_address == "ada@example.com"
        assert user.created_at == 1622541600000

        plain = clerk.users.create(**PLAIN_BODY)
        assert plain.password_enabled is False

        found = clerk.users.list(request={"external_id": ["ck_1", "ck_2", "nope"], "order_by": "+created_at"})
        assert [u.external_id for u in found] == ["ck_1", "ck_2"]
        by_email = clerk.users.list(request={"email_address": ["PLAIN@example.com"]})
        assert [u.id for u in by_email] == [plain.id]

        assert clerk.users.count(request={"query": "lovelace"}).total_count == 1
        assert clerk.users.get(user_id=user.id).id == user.id

        with pytest.raises(models.ClerkErrors) as exc:
            clerk.users.create(**PLAIN_BODY)
        assert exc.value.data.errors[0].code == "form_identifier_exists"
        assert exc.value.data.errors[0].meta["param_name"] == "email_address"

        with pytest.raises(models.ClerkErrors) as exc:
            clerk.users.create(external_id="x", email_address=["bad"], skip_password_requirement=True)
        assert exc.value.data.errors[0].code == "form_param_format_invalid"

        gone = clerk.users.delete(user_id=user.id)
        assert gone.deleted and gone.id == user.id
        assert clerk.users.count().total_count == 1

        with pytest.raises(Exception) as exc:  # 404: the SDK raises; the body is Clerk's shape
            clerk.users.get(user_id=user.id)
        assert "resource_not_found" in str(exc.value) or getattr(exc.value, "status_code", None) == 404


def test_round_two_answers_fit_the_sdk_models(http):
    """GET /v1/instance, PATCH users, ban/unban, email addresses, verify_password."""
    import bcrypt

    instance_json = http.get("/v1/instance").text
    instance = unmarshal_json(instance_json, models.Instance)
    assert instance.id.startswith("ins_") and instance.environment_type == "production"
    our_models.Instance.model_validate_json(instance_json)

    digest = bcrypt.hashpw(b"a fine password", bcrypt.gensalt(4)).decode()
    user = http.post("/v1/users", json={**PLAIN_BODY, "skip_password_requirement": None,
                                        "password_digest": digest, "password_hasher": "bcrypt"}).json()
    patched = http.patch(f"/v1/users/{user['id']}", json={"first_name": "Grace", "username": "grace_h",
                                                           "public_metadata": {"a": 1}})
    assert patched.status_code == 200, patched.text
    assert unmarshal_json(patched.text, models.User).first_name == "Grace"
    for path in (f"/v1/users/{user['id']}/ban", f"/v1/users/{user['id']}/unban"):
        banned = unmarshal_json(http.post(path).text, models.User)
        assert banned.banned is path.endswith("/ban")
    meta = http.patch(f"/v1/users/{user['id']}/metadata", json={"private_metadata": {"x": 1}}).text
    assert unmarshal_json(meta, models.User).private_metadata == {"x": 1}

    added = http.post("/v1/email_addresses", json={"user_id": user["id"], "email_address": "two@example.com"})
    email = unmarshal_json(added.text, models.EmailAddress)
    assert email.email_address == "two@example.com" and email.verification is None
    verified = unmarshal_json(http.patch(f"/v1/email_addresses/{email.id}", json={"verified": True, "primary": True}).text,
                              models.EmailAddress)
    assert verified.verification.status == "verified"
    assert unmarshal_json(http.get(f"/v1/email_addresses/{email.id}").text, models.EmailAddress).id == email.id
    old = user["primary_email_address_id"]
    gone = unmarshal_json(http.delete(f"/v1/email_addresses/{old}").text, models.DeletedObject)
    assert (gone.object, gone.id, gone.deleted) == ("email_address", old, True)
    our_models.DeletedObject.model_validate(gone.model_dump())

    from clerk_backend_api.models import verifypasswordop

    ok = http.post(f"/v1/users/{user['id']}/verify_password", json={"password": "a fine password"})
    assert unmarshal_json(ok.text, verifypasswordop.VerifyPasswordResponseBody).verified is True
    wrong = http.post(f"/v1/users/{user['id']}/verify_password", json={"password": "not it"})
    assert wrong.status_code == 422
    assert unmarshal_json(wrong.text, models.ClerkErrorsData).errors[0].code == "form_password_incorrect"
    assert http.post("/v1/email_addresses", json={"user_id": user["id"], "email_address": "three@example.com"}).status_code == 200
    for response in (
        http.post("/v1/email_addresses", json={"user_id": user["id"], "email_address": "two@example.com", "x": 1}),
        http.delete(f"/v1/email_addresses/{email.id}"),  # 400: the primary address is kept
        http.patch(f"/v1/users/{user['id']}", json={"external_id": None, "nope": 1}),
    ):
        assert response.status_code in (400, 422), response.text
        unmarshal_json(response.text, models.ClerkErrorsData)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_sdk_client_uses_the_round_two_endpoints(sandbox):
    import bcrypt

    digest = bcrypt.hashpw(b"another password", bcrypt.gensalt(4)).decode()
    with Clerk(bearer_auth=KEY, server_url=f"{sandbox.url}/v1") as clerk:
        assert clerk.instance_settings.get().id.startswith("ins_")
        user = clerk.users.create(external_id="sdk_1", email_address=["sdk@example.com"],
                                  password_digest=digest, password_hasher="bcrypt")
        updated = clerk.users.update(user_id=user.id, external_id="-sdk-1", last_name="Hopper")
        assert (updated.external_id, updated.last_name) == ("-sdk-1", "Hopper")
        assert clerk.users.ban(user_id=user.id).banned is True
        assert clerk.users.unban(user_id=user.id).banned is False
        assert clerk.users.verify_password(user_id=user.id, password="another password").verified is True
        email = clerk.email_addresses.create(request={"user_id": user.id, "email_address": "sdk2@example.com",
                                                      "verified": True, "primary": True})
        assert clerk.users.get(user_id=user.id).primary_email_address_id == email.id
        assert clerk.email_addresses.delete(email_address_id=user.email_addresses[0].id).deleted is True
        found = clerk.users.list(request={"external_id": ["+-sdk-1"]})
        assert [u.id for u in found] == [user.id]
