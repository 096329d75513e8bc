"""Custom columns (--map to metadata keys, phone_number, username), Clerk's
metadata limit per row, the password columns apps use, and every digest format
of ../shared/clerk-api.md with a real digest, each checked by the sandbox."""

from __future__ import annotations

import csv
import json
import uuid

import httpx
import pytest

from console.cli import main
from console.clerk.models import PASSWORD_HASHERS
from console.sandbox.instance_settings import open_user_settings
from console.sandbox.server import make_key
from console.source import (
    MAP_TARGETS,
    ExportError,
    Policies,
    check_mapping,
    open_export,
    parse_mapping,
    to_payload,
    validate_export,
)
from console.source.passwords import detect_hasher

OK = {"id": "c1", "name": "Ada Lovelace", "email": "ada@example.com", "emailVerified": "2024-01-01T00:00:00.000Z"}

# Real digests of "correct horse battery staple", made with bcrypt, argon2-cffi
# and hashlib in each scheme's published layout (salts fixed; Django's salt raw,
# the generic pbkdf2_sha256's base64; Werkzeug's scrypt:N:r:p; portable phpass).
DIGESTS = {
    "bcrypt": "$2b$10$EwzN59kAfU9HWQNIiUHKdOE0HZbHCYzYuP23yud/nELDeVsuW8mA2",
    "bcrypt_sha256_django": "bcrypt_sha256$$2b$12$HRuudiyNUCBfKt75hznzA.sSNg2low0RSQphZSfOFVMKKV7QK/I32",
    "bcrypt_peppered": "$2b$10$uIDoVR7tX6.o/6JhgIiaIuCS6ZQQPMeP/RwEsyfpOYlHImNBjLHdS$pepper-2024",
    "argon2id": "$argon2id$v=19$m=65536,t=3,p=4$wAWOjGzu+x1QgD0S9sbS/A$OJG4AVRlHwh+Use8b8JlR2d9cs2nmKSEktTpXq9WCHY",
    "argon2i": "$argon2i$v=19$m=65536,t=3,p=4$dVsI5Vc4fcF2sH5rT/TM8Q$spcnFmDhfLMb+Be/isdLOph29J4A57M3AIDFQIZ/mcM",
    "pbkdf2_sha256": "pbkdf2_sha256$310000$ihGT/gJ8VRCqAUKZw34RCA==$midkY6jRFW9SJkRqY7ERR6JphdYZQxhfUbPodNj3gkc=",
    "pbkdf2_sha256_django": "pbkdf2_sha256$870000$Xy7Qp2LmN9aBcD4eFgH1iJ$dI3p2RWzCykQ+uZ7wRrvu68Y0mCaEf40goBBMNgyxlY=",
    "pbkdf2_sha1": "pbkdf2_sha1$10000$s4LtV4lu3$6a0d1df78393bbe0929beafe50082390752b2f1a",
    "pbkdf2_sha512": "pbkdf2_sha512$210000$NaCl-2024$af9b4f9f137671d24dcf4f5edfdc127347bdac3d46d6378630bdb974a347e4e228296bf7f1f9f4e263550a23d57e9f87c2911493b77b247a25051593f9a53697",
    "pbkdf2_sha512_hex": "pbkdf2_sha512_hex$210000$8a1193fe027c5510aa014299c37e1108$8d6187566efadca5d8b010c2c034602b3133833b798e852abac4e8cb5d6615da3811b8768c81f1e439f3e46088554eddca3a4baeb963d085b0f3821e00c75037",
    "scrypt_werkzeug": "scrypt:32768:8:1$oV3dHq9JtX2rLmPa$e2542c9a6c3a7489f0a4af023146af1515507dc30c464785e98aa1b7b77d42b9346a4f113118cc388d1309c727b2b3b4a32426bdc975f1f488064e80d152f362",
    "scrypt_firebase": "Wf+dihr33Dv5MHjgNZy109hxY6UqJ+1KZc3dAJHp6rLQ9f+KbniKpyhBc9sxc9ACYYvM3ZC+vD+0Myw1YT4YwA==$QhM3mQECAwQFBg==$/9zEuhugKdkftkXqsVYwEO57z6xvMhMm9OqymGAbW87/3MS6G6Ap2R+2ReqxVjAQ7nvPrG8yEyb06rKYYBtbzg==$Bw==$8$14",
    "phpass": "$P$BKq9mZ2xWAsBkUFuh3W27Cot7Cut4c0",
    "md5_phpass": "$H$9aB3dE5gHMXr7XgZYR8c670S5KRcnA1",
    "md5": "9cc2ae8a1ba7a93da39b46fc1019c481",
    "sha256": "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a",
    "md5_salted": "Qx9z$43bb6e10fefe879d1882143d00208b9d",
    "sha256_salted": "Qx9z$67049a3406bbaf8f6f9d2cfc8716c1000ba685bc1992a7c16231fcdeb9e95ba9",
    "sha512_symfony": "sha512_symfony$5000$7f3a9c1e5b$jh2xO7YV/jQSxCT7OI3UnmzSt+oBaPkZjDLE6G1pwnOtQE4is5JHOjh1d87UmwM2mnkm3I7x05hlxr9ZAY5vDQ==",
    "awscognito": "awscognito#us-east-1_AbCdEf123#4tgk1k3bu8t9qjsa6s55f6nidk#9b2e8c4a-3f1d-4e5a-8b7c-6d5e4f3a2b1c",
    "ldap_ssha": "{SSHA}7FQs9JzPJeF/a77LDzK8dY+yM54BAgME",
    "hmac_sha256_utf16_b64": "tXgLCb+5vK2g8FmA9Q08bW5CDCY7//NSk/b3OFurBrw=",
}


def rows_file(tmp_path, rows, name="u.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return path


def one(tmp_path, row, mapping=None, policies=Policies()):
    (checked,) = list(open_export(rows_file(tmp_path, [row]), mapping=mapping).rows(policies))
    return checked


def codes(checked):
    return [(i.code, i.severity) for i in checked.issues]


# ---- the targets -------------------------------------------------------------------

def test_the_targets_accepted():
    assert "phone_number" in MAP_TARGETS and "username" in MAP_TARGETS
    assert {"public_metadata.KEY", "private_metadata.KEY", "unsafe_metadata.KEY"} <= set(MAP_TARGETS)
    assert parse_mapping(["public_metadata.billing.plan=plan", "email=mail"]) == {
        "public_metadata.billing.plan": "plan", "email": "mail"}


@pytest.mark.parametrize("pairs, words", [
    (["role=role"], "unknown field 'role'"),
    (["public_metadata.=x"], "an empty key"),
    (["public_metadata..a=x"], "an empty key"),
    (["metadata.role=role"], "unknown field"),
    (["public_metadata.billing=b", "public_metadata.billing.plan=p"], "public_metadata.billing is mapped to a column too"),
])
def test_bad_targets_are_one_sentence(pairs, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")) as info:
        parse_mapping(pairs)
    assert "\n" not in str(info.value) and str(info.value).startswith("--map ")


def test_custom_columns_go_into_the_metadata_objects(tmp_path):
    row = dict(OK, role="admin", stripeCustomerId="cus_NffrFeUfNV2Hib", theme="dark", plan="pro",
               publicMetadata={"beta": True})
    mapping = {"public_metadata.role": "role", "private_metadata.stripe_customer_id": "stripeCustomerId",
               "unsafe_metadata.theme": "theme", "public_metadata.billing.plan": "plan"}
    c = one(tmp_path, row, mapping)
    assert c.importable and c.issues == []
    u = c.user
    assert u.public_metadata == {"beta": True, "role": "admin", "billing": {"plan": "pro"}}
    assert u.private_metadata == {"stripe_customer_id": "cus_NffrFeUfNV2Hib"}
    assert u.unsafe_metadata == {"theme": "dark"}
    body = to_payload(u)
    assert body["public_metadata"]["billing"] == {"plan": "pro"} and body["private_metadata"]["stripe_customer_id"]


def test_custom_columns_from_a_csv(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("id,email,emailVerified,role,plan,phone,handle\n"
                    "1,a@example.com,2024-01-01,admin,pro,+1 (555) 555-0100,ada_l\n"
                    "2,b@example.com,2024-01-01,,,,\n")
    mapping = parse_mapping(["public_metadata.role=role", "public_metadata.billing.plan=plan",
                             "phone_number=phone", "username=handle"])
    first, second = list(open_export(path, mapping=mapping).rows())
    assert first.importable and second.importable
    assert first.user.public_metadata == {"role": "admin", "billing": {"plan": "pro"}}
    assert (first.user.phone_number, first.user.username) == ("+15555550100", "ada_l")
    assert second.user.public_metadata is None and second.user.phone_number is None  # empty cells: nothing
    body = to_payload(first.user)
    assert body["phone_number"] == ["+15555550100"] and body["username"] == "ada_l"


def test_a_mapped_key_under_a_value_that_is_not_an_object(tmp_path):
    c = one(tmp_path, dict(OK, publicMetadata={"billing": "legacy"}, plan="pro"),
            {"public_metadata.billing.plan": "plan"})
    assert codes(c) == [("metadata_invalid", "error")] and "already has 'billing'" in c.issues[0].message


def test_a_csv_header_without_the_mapped_column(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("id,email\n1,a@example.com\n")
    with pytest.raises(ExportError, match="--map public_metadata.role=role: no column 'role'"):
        open_export(path, mapping={"public_metadata.role": "role"})


# ---- phone numbers and usernames -----------------------------------------------------

@pytest.mark.parametrize("phone, stored", [
    ("+15555550100", "+15555550100"), ("+1 555-555-0100", "+15555550100"), ("+44 (20) 7946.0958", "+442079460958"),
])
def test_e164_phone_numbers(tmp_path, phone, stored):
    c = one(tmp_path, dict(OK, phone=phone), {"phone_number": "phone"})
    assert c.importable and c.user.phone_number == stored


@pytest.mark.parametrize("phone, why", [
    ("5555550100", "needs '+' and the country code"), ("+0123456789", "the first not 0"),
    ("+1555", "7 to 15 digits"), ("+1234567890123456", "7 to 15 digits"), ("+1 555 CALL NOW", "7 to 15 digits"),
    (15555550100, "needs '+'"),
])
def test_phone_numbers_that_are_not_e164_are_refused_with_the_reason(tmp_path, phone, why):
    c = one(tmp_path, dict(OK, phone=phone), {"phone_number": "phone"})
    assert codes(c) == [("phone_invalid", "error")]
    assert why in c.issues[0].message and "E.164" in c.issues[0].message


def test_a_phone_or_a_username_is_an_identifier_and_unique(tmp_path):
    rows = [{"id": "1", "phone": "+15555550100"}, {"id": "2", "phone": "+1 555 555 0100"},
            {"id": "3", "handle": "Ada_L"}, {"id": "4", "handle": "ada_l"}]
    path = rows_file(tmp_path, rows)
    checked = list(open_export(path, mapping={"phone_number": "phone", "username": "handle"}).rows())
    assert [codes(c) for c in checked] == [[], [("duplicate_phone", "error")], [], [("duplicate_username", "error")]]
    assert "row 1" in checked[1].issues[0].message and "row 3" in checked[3].issues[0].message


# ---- the 8 KB metadata limit -----------------------------------------------------------

def test_the_metadata_limit_names_each_part_and_its_size(tmp_path):
    c = one(tmp_path, dict(OK, notes="x" * 5000, publicMetadata={"a": "y" * 4000}),
            {"private_metadata.notes": "notes"})
    assert codes(c) == [("metadata_too_large", "error")]
    message = c.issues[0].message
    assert "public_metadata 4,008" in message and "private_metadata 5,012" in message
    assert message.startswith("metadata is 9,020 bytes as JSON") and "8,192" in message


def test_metadata_just_under_the_limit_imports(tmp_path):
    value = "z" * (8192 - len('{"k":""}'))
    c = one(tmp_path, dict(OK, k=value), {"public_metadata.k": "k"})
    assert c.importable


# ---- unknown columns name the flag -------------------------------------------------------

def test_unknown_columns_name_the_flag_that_keeps_them(tmp_path, capsys):
    path = rows_file(tmp_path, [dict(OK, role="admin", stripeCustomerId="cus_1", phone="+15555550100",
                                     handle="ada_l")])
    report = validate_export(path)
    notes = {i.field: i.message for i in report.issues if i.code == "unknown_column"}
    assert notes == {
        "role": "column role is not imported: --map public_metadata.role=role keeps it",
        "stripeCustomerId": "column stripeCustomerId is not imported: "
                            "--map private_metadata.stripeCustomerId=stripeCustomerId keeps it",
        "phone": "column phone is not imported: --map phone_number=phone keeps it",
        "handle": "column handle is not imported: --map username=handle keeps it",
    }
    # and the flags named do keep them
    code = main(["validate", str(path), "--json", "--map", "public_metadata.role=role", "--map",
                 "private_metadata.stripeCustomerId=stripeCustomerId", "--map", "phone_number=phone",
                 "--map", "username=handle"])
    obj = json.loads(capsys.readouterr()[0])
    assert code == 0 and "unknown_column" not in obj["by_code"]


# ---- password columns ------------------------------------------------------------------

@pytest.mark.parametrize("column", ["password", "passwordHash", "password_hash", "hashedPassword", "hashed_password",
                                    "passwordDigest", "password_digest", "encrypted_password", "encryptedPassword"])
def test_password_columns_under_the_names_apps_use(tmp_path, column):
    c = one(tmp_path, dict(OK, **{column: DIGESTS["bcrypt"]}))
    assert c.importable and (c.user.password_hasher, c.user.password_digest) == ("bcrypt", DIGESTS["bcrypt"])
    path = tmp_path / "u.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["id", "email", column], ["1", "a@example.com", DIGESTS["argon2id"]]])
    (row,) = list(open_export(path).rows())
    assert row.user.password_hasher == "argon2id"


def test_every_clerk_hasher_has_a_real_digest_here():
    assert set(DIGESTS) == PASSWORD_HASHERS


@pytest.mark.parametrize("hasher", sorted(DIGESTS))
def test_each_digest_format_detected_and_named(tmp_path, hasher):
    digest = DIGESTS[hasher]
    if hasher != "hmac_sha256_utf16_b64":  # no published layout: only by name
        assert detect_hasher(digest) == hasher
        c = one(tmp_path, dict(OK, password=digest))
        assert c.importable and c.user.password_hasher == hasher
    c = one(tmp_path, dict(OK, password=digest, passwordHasher=hasher))
    assert c.importable and (c.user.password_digest, c.user.password_hasher) == (digest, hasher)


def test_pbkdf2_sha512_hex_is_accepted_in_clerks_layout(tmp_path):
    digest = DIGESTS["pbkdf2_sha512_hex"]
    assert one(tmp_path, dict(OK, password=digest)).user.password_hasher == "pbkdf2_sha512_hex"
    c = one(tmp_path, dict(OK, password=digest.replace("$8a11", "$zz11"), passwordHasher="pbkdf2_sha512_hex"))
    assert codes(c) == [("digest_invalid", "error")]
    assert "pbkdf2_sha512_hex$<iterations>$<hex salt>$<hex hash>" in c.issues[0].message


def test_every_digest_is_accepted_by_the_sandbox(sandbox_factory, tmp_path):
    # an instance with phone numbers and usernames turned on (the demo's has neither)
    sandbox = sandbox_factory(user_settings=open_user_settings())
    rows = [dict(OK, id=f"c{i}", email=f"u{i}@example.com", password=digest, passwordHasher=hasher)
            for i, (hasher, digest) in enumerate(sorted(DIGESTS.items()))]
    rows.append(dict(OK, id="m1", email="m1@example.com", role="admin", plan="pro", phone="+1 555 555 0100",
                     handle="ada_l", stripeCustomerId="cus_NffrFeUfNV2Hib"))
    mapping = {"public_metadata.role": "role", "public_metadata.billing.plan": "plan", "phone_number": "phone",
               "username": "handle", "private_metadata.stripe_customer_id": "stripeCustomerId"}
    reader = open_export(rows_file(tmp_path, rows), mapping=mapping)
    key = make_key("production", uuid.uuid4().hex)
    headers = {"Authorization": f"Bearer {key}", "Clerk-API-Version": "2025-11-10"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10.0) as client:
        for checked in reader.rows():
            assert checked.importable, checked.issues
            response = client.post("/v1/users", json=to_payload(checked.user))
            assert response.status_code == 200, (checked.user.password_hasher, response.text)
        created = client.get("/v1/users", params={"external_id": "m1"}).json()[0]
    assert created["public_metadata"] == {"role": "admin", "billing": {"plan": "pro"}}
    assert created["private_metadata"] == {"stripe_customer_id": "cus_NffrFeUfNV2Hib"}
    assert created["phone_numbers"][0]["phone_number"] == "+15555550100" and created["username"] == "ada_l"


def test_check_mapping_returns_the_metadata_paths():
    assert check_mapping({"email": "e", "unsafe_metadata.a.b": "x"}) == [("unsafe_metadata", ("a", "b"), "x")]
