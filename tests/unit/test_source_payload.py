"""to_payload: a checked SourceUser -> Clerk's create body, nothing else."""

from __future__ import annotations

import json

import pytest

from console.clerk.models import CREATE_FIELDS
from console.source import Policies, SourceUser, open_export, to_payload
from console.sandbox.samples import write_sample_export

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


def test_minimal_user():
    body = to_payload(SourceUser(1, "c1", email="a@example.com", email_verified=True), Policies())
    assert body == {"external_id": "c1", "email_address": ["a@example.com"], "skip_password_requirement": True}
    # nothing proves the address: reserved by default
    body = to_payload(SourceUser(1, "c1", email="a@example.com"), Policies())
    assert body["email_address_identification_status"] == ["reserved"]


def test_full_user():
    user = SourceUser(
        3, "c3", email="a@example.com", email_verified=True, first_name="Ada", last_name="Lovelace",
        password_digest=BCRYPT, password_hasher="bcrypt", created_at="2022-01-02T03:04:05.678Z",
        image="https://x/y.png", providers=("github",), public_metadata={"plan": "pro"},
    )
    body = to_payload(user, Policies())
    assert body == {
        "external_id": "c3",
        "email_address": ["a@example.com"],
        "first_name": "Ada",
        "last_name": "Lovelace",
        "created_at": "2022-01-02T03:04:05.678Z",
        "password_digest": BCRYPT,
        "password_hasher": "bcrypt",
        "public_metadata": {"plan": "pro"},
    }


@pytest.mark.parametrize("verified, policy, reserved", [
    (None, "verified", False), (False, "verified", False), (True, "reserved", False),
    (None, "reserved", True), (False, "reserved", True),
])
def test_reserved_only_for_unverified_under_the_reserved_policy(verified, policy, reserved):
    body = to_payload(SourceUser(1, "c1", email="a@example.com", email_verified=verified),
                      Policies(unverified_email=policy))
    assert ("email_address_identification_status" in body) is reserved
    if reserved:
        assert body["email_address_identification_status"] == ["reserved"]


def test_plaintext_only_with_policy_send():
    user = SourceUser(1, "c1", email="a@example.com", password="Summer2023!")
    body = to_payload(user, Policies(plaintext_password="send"))
    assert body["password"] == "Summer2023!" and body["skip_password_checks"] is True
    assert "skip_password_requirement" not in body
    body = to_payload(user, Policies())
    assert "password" not in body and body["skip_password_requirement"] is True


def test_digest_wins_over_plaintext():
    user = SourceUser(1, "c1", password="x" * 10, password_digest=BCRYPT, password_hasher="bcrypt")
    body = to_payload(user, Policies(plaintext_password="send"))
    assert "password" not in body and body["password_hasher"] == "bcrypt"


def test_nothing_outside_clerks_schema_and_no_nulls(tmp_path):
    path = write_sample_export(tmp_path / "s.json", n=600)
    for policies in (Policies(), Policies("reserved", "send")):
        for checked in open_export(path).rows(policies):
            if not checked.importable:
                continue
            body = to_payload(checked.user, policies)
            assert set(body) <= CREATE_FIELDS
            assert None not in body.values()
            assert isinstance(body["external_id"], str)
            json.dumps(body)


@pytest.mark.parametrize("policy, verified, oauth, reserved", [
    ("oauth", None, False, True), ("oauth", None, True, False), ("oauth", True, False, False),
    ("reserved", None, True, True), ("verified", None, False, False), ("verified", False, True, False),
])
def test_the_verification_rule(policy, verified, oauth, reserved):
    user = SourceUser(1, "c1", email="a@example.com", email_verified=verified,
                      providers=("github",) if oauth else ())
    body = to_payload(user, Policies(unverified_email=policy))
    assert ("email_address_identification_status" in body) is reserved


def test_an_old_runs_policies_keep_their_meaning():
    """A run journaled before the `oauth` default kept `verified`: read back, it
    still imports every address verified (what that run already did)."""
    old = Policies(**{"unverified_email": "verified", "plaintext_password": "refuse"})
    body = to_payload(SourceUser(1, "c1", email="a@example.com"), old)
    assert "email_address_identification_status" not in body
    assert Policies().unverified_email == "oauth"


def test_phone_numbers_go_out_as_a_list():
    body = to_payload(SourceUser(1, "c1", phone_number="+15555550100"))
    assert body["phone_number"] == ["+15555550100"] and "email_address" not in body
