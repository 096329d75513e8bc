"""The fingerprint's fast paths (issue 17) give the bytes of its definition: `canonical` built
item by item is json.dumps of the whole array (`_canonical_json`) for every kind of row, and
`keyed_sha256` is HMAC-SHA256 (hmac.digest) for any key and message."""

from __future__ import annotations

import dataclasses
import hmac
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.migration.fingerprint import _canonical_json, canonical, keyed_sha256, row_fingerprint
from console.source.model import SourceUser

text = st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["", " ", "é", "\"quoted\"", "a\\b", "\x00\x1f\u2028",
                                                                   "日本語", "😀", "ck_1"]))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                          max_leaves=8)
metadata = st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_value, max_size=4))
providers = st.one_of(st.just(()), st.lists(st.sampled_from(["github", "google", "Apple", "é"]), max_size=3).map(tuple))


@st.composite
def users(draw) -> SourceUser:
    return SourceUser(
        row=draw(st.integers(1, 10**6)), external_id=draw(text), email=draw(text),
        email_verified=draw(st.sampled_from([None, True, False])), first_name=draw(text), last_name=draw(text),
        username=draw(text), password=draw(text), password_digest=draw(text), password_hasher=draw(text),
        created_at=draw(text), image=draw(text), providers=draw(providers), public_metadata=draw(metadata),
        private_metadata=draw(metadata), unsafe_metadata=draw(metadata), phone_number=draw(text),
        legal_accepted_at=draw(text), email_status=draw(text))


def _same(user: object) -> None:
    try:
        want = _canonical_json(user)
    except Exception as exc:  # noqa: BLE001 - the fast path fails the same way (a lone surrogate, ...)
        with pytest.raises(type(exc)):
            canonical(user)
        return
    assert canonical(user) == want


@settings(max_examples=400, deadline=None)
@given(users())
def test_canonical_is_the_definition(user: SourceUser):
    _same(user)


def test_unusual_values_fall_back_to_the_definition():
    base = SourceUser(row=1, external_id="ck1", email="a@example.test")
    for change in ({"external_id": 12}, {"first_name": 1.5}, {"providers": ["b", "a"]}, {"providers": None},
                   {"providers": "github"}, {"public_metadata": {"k": (1, 2)}}, {"public_metadata": [1]},
                   {"legal_accepted_at": 5}, {"email": "\ud800"}, {"public_metadata": {"b": 1, "a": {"z": [], "y": None}}}):
        _same(dataclasses.replace(base, **change))

    class Partial:  # not a SourceUser: the fields it lacks count as None
        external_id = "ck2"
        email = "b@example.test"

    _same(Partial())


def test_keyed_sha256_is_hmac_sha256():
    rng = random.Random(17)
    for size in (0, 1, 16, 32, 63, 64, 65, 200):
        key = bytes(rng.randrange(256) for _ in range(size))
        for length in (0, 1, 55, 64, 1000):
            message = bytes(rng.randrange(256) for _ in range(length))
            assert keyed_sha256(key)(message) == hmac.digest(key, message, "sha256")
    user = SourceUser(row=3, external_id="ck3", email="c@example.test", providers=("google",))
    key = b"k" * 32
    assert row_fingerprint(key, user) == hmac.digest(key, _canonical_json(user), "sha256")[:16]
    assert row_fingerprint(bytearray(key), user) == row_fingerprint(key, user)
