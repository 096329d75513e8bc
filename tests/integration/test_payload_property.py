"""Property: any row the checks accept produces a payload the sandbox accepts.

Hypothesis generates Prisma-shaped export rows (valid, odd and broken values
mixed), writes them as a JSON array, reads them back through `open_export`
under random policies, and POSTs `to_payload(row.user)` of every importable row
to the sandbox (raw httpx, a fresh production instance per example). A 4xx for
an accepted row means the checks and Clerk's rules (as the sandbox has them,
per ../shared/clerk-api.md) disagree.
"""

from __future__ import annotations

import json
import string
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from console.clerk.models import PASSWORD_HASHERS
from console.sandbox.samples import write_sample_export
from console.sandbox.server import make_key
from console.source import Policies, open_export, to_payload

BCRYPT_ALPHABET = "./" + string.ascii_letters + string.digits
ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
DIGESTS = [
    "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
    "bcrypt_sha256$$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
    "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy$pepper",
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$QIoM2yV4wv2SLLqrrp0Vfw",
    "$argon2id$m=16,t=2,p=1$c2FsdA$aGFzaA",
    "pbkdf2_sha256$600000$c2FsdHNhbHQ=$Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
    "pbkdf2_sha256$870000$uA8Jx3S9q1ZpW2aVbN7cDe$k1Zb8fYHWzBoCv7Rx3p0gq3v5Jb1yE2pL9kT8mN6sQw=",
    "pbkdf2_sha1$10000$a5ZpQ7$0e8d1f47b2a1c3d4e5f60718293a4b5c6d7e8f90",
    "pbkdf2_sha512$210000$saltsalt$" + "ab" * 64,
    "scrypt:32768:8:1$Pq2k0xlZ3gVh$" + "cd" * 64,
    "$P$984478476IagS59wHZvyQMArzfx58u.",
    "$H$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0",
    "5f4dcc3b5aa765d61d8327deb882cf99",
    "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "s4lt$5f4dcc3b5aa765d61d8327deb882cf99",
    "sha512_symfony$5000$c2FsdA$aGFzaGhhc2g=",
    "awscognito#us-east-1_AbCdEf#4tgk1k3bu8t9qjsa6s55f6ni#user-123",
    "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
    "$6$rounds=5000$saltsalt$hash",
    "$2b$10$thisisnotavalidbcryptdigest",
]

label = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,12}[a-zA-Z0-9])?", fullmatch=True)
tld = st.from_regex(r"[a-zA-Z]{2,7}", fullmatch=True)
domain = st.builds(lambda labels, top: ".".join([*labels, top]), st.lists(label, min_size=1, max_size=3), tld)
local = st.text(ATEXT, min_size=1, max_size=40) | st.lists(
    st.text(ATEXT, min_size=1, max_size=10), min_size=1, max_size=4).map(".".join)
good_email = st.builds(lambda lp, d: f"{lp}@{d}", local, domain)
odd_domain = st.builds(lambda labels, top: ".".join([*labels, top]), st.lists(label, min_size=1, max_size=2),
                       st.sampled_from(["x", "xn--p1ai", "c0m", "COM"]))
emails = st.one_of(
    good_email.map(str.upper), good_email.map(lambda e: f"  {e} "),
    st.builds(lambda lp, d: f"{lp}@{d}", st.text(ATEXT, min_size=60, max_size=70), domain),
    st.builds(lambda lp, d: f"{lp}@{d}", local, odd_domain),
    st.emails(), st.text(max_size=30), st.none(), st.just(""), st.just("a@b..com"), st.just("a@localhost"),
)

zones = st.sampled_from([None, timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                         timezone(timedelta(hours=-8))])
moments = st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones)
dates = st.one_of(
    st.none(),
    moments.map(lambda d: d.isoformat()),
    moments.map(lambda d: d.isoformat(sep=" ")),
    moments.map(lambda d: d.strftime("%Y-%m-%d")),
    st.integers(-10**12, 5 * 10**12),
    st.floats(-1e12, 5e12, allow_nan=False, allow_infinity=False),
    st.text(max_size=25),
    st.sampled_from(["2022-01-02T03:04:05.678Z", "2022-13-01T00:00:00.000Z", "1641092645678", "yesterday"]),
)
names = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.builds(lambda a, b: f"{a} {b}", st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20)),
    st.text(min_size=250, max_size=300),
    good_email,
    st.sampled_from(["https://github.com/x", "Madonna", "[bold]Mallory[/bold] Admin", "  ", "José Álvarez"]),
)
passwords = st.one_of(
    st.none(),
    st.sampled_from(DIGESTS),
    st.builds(lambda cost, tail: f"$2b${cost:02d}${tail}", st.integers(0, 40),
              st.text(BCRYPT_ALPHABET, min_size=50, max_size=55)),
    st.text(max_size=80),
    st.text(string.ascii_letters + string.digits + "!?", min_size=6, max_size=74),
)
hashers = st.one_of(st.none(), st.none(), st.sampled_from(sorted(PASSWORD_HASHERS)), st.text(max_size=12),
                    st.just("plaintext"))
verified = st.one_of(st.none(), st.booleans(), moments.map(lambda d: d.isoformat()),
                     st.sampled_from(["false", "0", "true", "yes", ""]))
providers = st.lists(st.sampled_from(["github", "google", "discord"]), max_size=3) | st.lists(
    st.builds(lambda p: {"provider": p, "type": "oauth"}, st.sampled_from(["github", "google"])), max_size=2)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=20))
metadata = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=10), json_scalars, max_size=4),
    st.dictionaries(st.text(max_size=10), json_scalars, max_size=4).map(json.dumps),
    st.just({"blob": "x" * 9000}),
    st.just([1, 2]),
)
ids = st.one_of(
    st.from_regex(r"c[a-z0-9]{24}", fullmatch=True),
    st.integers(0, 10**12),
    st.text(min_size=1, max_size=30),
    st.none(),
    st.just(""),
)


def mostly(draw, good, odd):
    """A good value four times out of five: rows the checks accept must be common."""
    return draw(odd if draw(st.integers(0, 4)) == 0 else good)


GOOD_PASSWORDS = st.one_of(st.none(), st.sampled_from(DIGESTS[:19]),
                           st.text(string.ascii_letters + string.digits + "!?", min_size=8, max_size=72))


@st.composite
def export_rows(draw):
    row = {
        "id": mostly(draw, st.from_regex(r"c[a-z0-9]{24}", fullmatch=True) | st.integers(0, 10**12), ids),
        "name": draw(names),
        "email": mostly(draw, good_email, emails),
        "emailVerified": draw(verified),
        "image": draw(st.none() | st.just("https://avatars.githubusercontent.com/u/1?v=4")),
        "createdAt": draw(dates),
        "providers": draw(providers),
    }
    password = mostly(draw, GOOD_PASSWORDS, passwords)
    if password is not None:
        row["password"] = password
        hasher = mostly(draw, st.none(), hashers)
        if hasher is not None:
            row["passwordHasher"] = hasher
    meta = mostly(draw, st.none() | st.dictionaries(st.text(max_size=10), json_scalars, max_size=4), metadata)
    if meta is not None:
        row["publicMetadata"] = meta
    return row


policies = st.builds(Policies, st.sampled_from(["verified", "reserved", "refuse"]), st.sampled_from(["send", "refuse"]))


def _client(sandbox) -> tuple[httpx.Client, str]:
    key = make_key("production", uuid.uuid4().hex)  # a fresh, empty instance
    client = httpx.Client(
        base_url=sandbox.url,
        headers={"Authorization": f"Bearer {key}", "Clerk-API-Version": "2025-11-10"},
        timeout=10.0,
    )
    return client, key


def _post_importable(sandbox, path: Path, policy: Policies) -> tuple[int, int]:
    checked = list(open_export(path).rows(policy))
    client, _key = _client(sandbox)
    sent = 0
    with client:
        for row in checked:
            if not row.importable:
                continue
            body = to_payload(row.user, policy)
            response = client.post("/v1/users", json=body)
            assert response.status_code == 200, (
                f"row {row.user.row} passed the checks but the sandbox answered "
                f"{response.status_code}: {response.text}\nbody: {body}\nissues: {row.issues}"
            )
            sent += 1
    return sent, len(checked)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=st.lists(export_rows(), min_size=1, max_size=4), policy=policies)
def test_rows_the_checks_accept_are_accepted_by_the_sandbox(sandbox, rows, policy):
    note(f"policies: {policy}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "users.json"
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        sent, total = _post_importable(sandbox, path, policy)
        event(f"{'some' if sent else 'no'} row accepted by the checks")


@pytest.mark.parametrize("policy", [Policies(), Policies("reserved", "send"), Policies("refuse", "refuse")])
def test_the_sample_export_imports_cleanly(sandbox, tmp_path, policy):
    """The realistic sample: every importable row is created, nothing more."""
    path = write_sample_export(tmp_path / "sample.json", n=400)
    sent, total = _post_importable(sandbox, path, policy)
    assert total == 400 and 200 < sent < 400
