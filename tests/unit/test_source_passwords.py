"""Hasher detection, digest shapes and plaintext detection."""

from __future__ import annotations

import pytest

from console.clerk.models import PASSWORD_HASHERS
from console.source.passwords import (
    DIGEST_SHAPES,
    detect_hasher,
    digest_fits,
    digest_label,
    looks_like_digest,
)

BCRYPT_TAIL = "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"  # 53 chars

# one digest per hasher, in the layout of clerk-api.md's table
SAMPLES = {
    "bcrypt": "$2b$10$" + BCRYPT_TAIL,
    "bcrypt_sha256_django": "bcrypt_sha256$$2b$12$" + BCRYPT_TAIL,
    "bcrypt_peppered": "$2a$10$" + BCRYPT_TAIL + "$pepper-v1",
    "argon2i": "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$QIoM2yV4wv2SLLqrrp0Vfw",
    "argon2id": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    "pbkdf2_sha256": "pbkdf2_sha256$600000$c2FsdHNhbHQ=$Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
    "pbkdf2_sha256_django": "pbkdf2_sha256$870000$uA8Jx3S9q1ZpW2aVbN7cDe$k1Zb8fYHWzBoCv7Rx3p0gq3v5Jb1yE2pL9kT8mN6sQw=",
    "pbkdf2_sha1": "pbkdf2_sha1$10000$a5ZpQ7$0e8d1f47b2a1c3d4e5f60718293a4b5c6d7e8f90",
    "pbkdf2_sha512": "pbkdf2_sha512$210000$saltsalt$" + "ab" * 64,
    "pbkdf2_sha512_hex": "pbkdf2_sha512_hex$210000$" + "5a" * 16 + "$" + "ab" * 64,
    "scrypt_firebase": "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$"
                       "42xEC+ixf3L2lw==$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$8$14",
    "scrypt_werkzeug": "scrypt:32768:8:1$Pq2k0xlZ3gVh$" + "cd" * 64,
    "phpass": "$P$984478476IagS59wHZvyQMArzfx58u.",
    "md5_phpass": "$H$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0",
    "md5": "5f4dcc3b5aa765d61d8327deb882cf99",
    "sha256": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "md5_salted": "s4lt$5f4dcc3b5aa765d61d8327deb882cf99",
    "sha256_salted": "s4lt$5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "sha512_symfony": "sha512_symfony$5000$c2FsdA$aGFzaGhhc2g=",
    "awscognito": "awscognito#us-east-1_AbCdEf#4tgk1k3bu8t9qjsa6s55f6ni#user-123",
    "ldap_ssha": "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
}
# hashers whose shape is shared with another one: detection picks the usual one
DETECTED_AS = {"hmac_sha256_utf16_b64": None}


def test_every_clerk_hasher_has_a_shape():
    assert set(DIGEST_SHAPES) == PASSWORD_HASHERS


@pytest.mark.parametrize("hasher", sorted(SAMPLES))
def test_detect_hasher_from_digest_shape(hasher):
    assert detect_hasher(SAMPLES[hasher]) == hasher
    assert digest_fits(hasher, SAMPLES[hasher])


@pytest.mark.parametrize("hasher", sorted(PASSWORD_HASHERS))
def test_every_hasher_accepts_some_digest_and_refuses_whitespace(hasher):
    sample = SAMPLES.get(hasher) or {"hmac_sha256_utf16_b64": "aGFzaA=="}[hasher]
    assert digest_fits(hasher, sample)
    assert not digest_fits(hasher, "has space " + sample)
    assert not digest_fits(hasher, "")


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_versions(prefix):
    assert detect_hasher(prefix + "12$" + BCRYPT_TAIL) == "bcrypt"


@pytest.mark.parametrize(
    "digest",
    [
        "$2b$10$thisisnotavalidbcryptdigest",  # too short
        "$2b$1$" + BCRYPT_TAIL,  # one-digit cost
        "$2b$99$" + BCRYPT_TAIL,  # cost out of range
        "$2c$10$" + BCRYPT_TAIL,  # unknown version
        "$2b$10$" + BCRYPT_TAIL[:-1] + "!",
    ],
)
def test_bad_bcrypt_digests_are_not_bcrypt(digest):
    assert detect_hasher(digest) is None
    assert not digest_fits("bcrypt", digest)
    assert looks_like_digest(digest)


def test_django_vs_generic_pbkdf2():
    # Django: raw alphanumeric salt; the generic hasher: base64 salt with symbols / padding
    assert detect_hasher("pbkdf2_sha256$260000$abcDEF123ghi$bG9uZ2hhc2g=") == "pbkdf2_sha256_django"
    assert detect_hasher("pbkdf2_sha256$10000$c2FsdA==$bG9uZ2hhc2g=") == "pbkdf2_sha256"
    assert detect_hasher("pbkdf2_sha256$10000$a+b/c$bG9uZ2hhc2g=") == "pbkdf2_sha256"
    # both layouts fit both hashers when the operator names one explicitly
    assert digest_fits("pbkdf2_sha256_django", "pbkdf2_sha256$10000$a+b/c$bG9uZ2hhc2g=")


@pytest.mark.parametrize(
    "digest",
    [
        "$6$rounds=5000$salt$hash",  # sha512-crypt
        "$1$salt$hash",  # md5-crypt
        "$argon2d$v=19$m=16,t=2,p=1$c2FsdA$aGFzaA",  # argon2d: not a Clerk hasher
        "$argon2id$m=16,t=2,p=1$c2FsdA$aGFzaA",  # no version: not Clerk's layout
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",  # 40 hex: sha1
        "x" * 80,
        "sha1$salt$a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    ],
)
def test_unknown_digests_look_like_digests(digest):
    assert detect_hasher(digest) is None
    assert looks_like_digest(digest)


@pytest.mark.parametrize(
    "value", ["hunter2", "Summer2023!", "password123", "letmein", "correct horse battery staple", "pa$$word"]
)
def test_plaintext_passwords(value):
    assert detect_hasher(value) is None
    assert not looks_like_digest(value)


def test_digest_label_never_shows_the_secret_part():
    assert digest_label("$6$rounds=5000$salt$hash") == "'$6$…'"
    assert digest_label("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=") == "'{SHA}…'"
    assert digest_label("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3") == "40 hex characters"
    assert digest_label("sha1$salt$abc") == "'sha1$…'"
    assert digest_label("SaltyMcSalt$abcdef") == "18 characters"
