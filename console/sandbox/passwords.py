"""What `POST /v1/users/{id}/verify_password` checks, per hasher.

The sandbox keeps, per user and outside the User JSON, how its password was
given: a plaintext password (kept as a salted SHA-256, compared in constant
time) or a digest with its hasher. Checked for real:

- `bcrypt` ($2a$/$2b$/$2y$; the password cut at 72 bytes, as bcryptjs and
  most bcrypt implementations that made the digests do), with the `bcrypt` library;
- `bcrypt_sha256_django` (bcrypt over the hex SHA-256 of the password, Django's layout);
- `argon2i` / `argon2id`, with `argon2-cffi`;
- `md5`, `sha256` (hex digests of the password).

Any other hasher: the sandbox cannot check it and says so (400
`sandbox_hasher_unsupported`), rather than answer "verified" or "wrong".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PLAIN = "plain"
CHECKED_HASHERS = frozenset({"bcrypt", "bcrypt_sha256_django", "argon2i", "argon2id", "md5", "sha256"})


def keep_plain(password: str) -> tuple[str, str]:
    """What the sandbox stores for a plaintext password: (PLAIN, salt$sha256)."""
    salt = secrets.token_hex(8)
    return PLAIN, salt + "$" + hashlib.sha256((salt + password).encode("utf-8")).hexdigest()


def check(password: str, stored: tuple[str, str]) -> bool | None:
    """True / False, or None when the sandbox cannot check this hasher."""
    hasher, digest = stored
    if hasher == PLAIN:
        salt, _, want = digest.partition("$")
        got = hashlib.sha256((salt + password).encode("utf-8")).hexdigest()
        return hmac.compare_digest(got, want)
    if hasher == "bcrypt":
        return _bcrypt(password.encode("utf-8"), digest)
    if hasher == "bcrypt_sha256_django":
        inner = digest.removeprefix("bcrypt_sha256$")
        return _bcrypt(hashlib.sha256(password.encode("utf-8")).hexdigest().encode(), inner)
    if hasher in ("argon2i", "argon2id"):
        return _argon2(password, digest)
    if hasher in ("md5", "sha256"):
        got = hashlib.new(hasher, password.encode("utf-8")).hexdigest()
        return hmac.compare_digest(got, digest.lower())
    return None


def _bcrypt(password: bytes, digest: str) -> bool:
    import bcrypt

    try:
        return bcrypt.checkpw(password[:72], digest.encode("ascii"))
    except (ValueError, TypeError):  # a digest of the right shape that bcrypt cannot read
        return False


def _argon2(password: str, digest: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return PasswordHasher().verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
        return False
