"""Password columns: which Clerk hasher a digest belongs to, whether a digest
fits its hasher, and whether a value is a plaintext password.

The shapes follow the hasher table of `../shared/clerk-api.md`. Detection is
by shape only (no hashing). Dispatch is on the first characters so that the
common case (bcrypt) costs one prefix test and one regex match per row.
"""

from __future__ import annotations

import re

from console.clerk.models import PASSWORD_HASHERS

_B64 = r"[A-Za-z0-9+/]+={0,2}"
_B64ISH = r"[A-Za-z0-9+/_\-]+={0,2}"  # base64 or its URL-safe variant
_HEX = r"[0-9a-fA-F]+"
_SEG = r"[^$\s]+"  # one non-empty `$`-free segment
_BCRYPT = r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"  # cost 04..31

# hasher -> the digest it accepts (full match)
DIGEST_SHAPES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "bcrypt": _BCRYPT,
        "bcrypt_sha256_django": r"bcrypt_sha256\$" + _BCRYPT,
        "bcrypt_peppered": _BCRYPT + r"\$" + _SEG,
        "argon2i": r"\$argon2i\$v=\d+\$m=\d+,t=\d+,p=\d+\$" + _B64 + r"\$" + _B64,
        "argon2id": r"\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$" + _B64 + r"\$" + _B64,
        "pbkdf2_sha256": r"pbkdf2_sha256\$\d+\$" + _B64 + r"\$" + _B64,
        "pbkdf2_sha256_django": r"pbkdf2_sha256\$\d+\$" + _SEG + r"\$" + _B64,
        "pbkdf2_sha1": r"pbkdf2_sha1\$\d+\$" + _SEG + r"\$" + _HEX + r"(?:\$\d+)?",
        "pbkdf2_sha512": r"(?:pbkdf2_sha512\$)?\d+\$" + _SEG + r"\$" + _HEX,
        # Clerk's create-user reference: `pbkdf2_sha512_hex$<iterations>$<hex salt>$<hex hash>`
        "pbkdf2_sha512_hex": r"pbkdf2_sha512_hex\$\d+\$" + _HEX + r"\$" + _HEX,
        "scrypt_firebase": (_B64ISH + r"\$") * 4 + r"\d+\$\d+",
        "scrypt_werkzeug": r"\$?scrypt:\d+:\d+:\d+\$" + _SEG + r"\$" + _HEX,
        "phpass": r"\$[PH]\$[./0-9A-Za-z]{31}",
        "md5_phpass": r"\$[PH]\$[./0-9A-Za-z]{31}",
        "md5": r"[0-9a-fA-F]{32}",
        "sha256": r"[0-9a-fA-F]{64}",
        "md5_salted": _SEG + r"\$[0-9a-fA-F]{32}",
        "sha256_salted": _SEG + r"\$[0-9a-fA-F]{64}",
        "sha512_symfony": r"sha512_symfony\$\d+\$" + _SEG + r"\$" + _SEG,
        "awscognito": r"awscognito#[^#\s]+#[^#\s]+#[^#\s]+",
        # no published format: anything without whitespace
        "ldap_ssha": r"\S+",
        "hmac_sha256_utf16_b64": r"\S+",
    }.items()
}
assert set(DIGEST_SHAPES) == PASSWORD_HASHERS, "every Clerk hasher has a shape"

# hasher -> the layout clerk-api.md gives, for the digest_invalid message
DIGEST_LAYOUTS: dict[str, str] = {
    "bcrypt": "$2b$<cost>$<53 characters of salt and hash>",
    "bcrypt_sha256_django": "bcrypt_sha256$$2b$<cost>$<salt and hash>",
    "bcrypt_peppered": "$2b$<cost>$<salt and hash>$<pepper>",
    "argon2i": "$argon2i$v=19$m=…,t=…,p=…$<salt>$<hash>",
    "argon2id": "$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>",
    "pbkdf2_sha256": "pbkdf2_sha256$<iterations>$<base64 salt>$<base64 hash>",
    "pbkdf2_sha256_django": "pbkdf2_sha256$<iterations>$<salt>$<base64 hash>",
    "pbkdf2_sha1": "pbkdf2_sha1$<iterations>$<salt>$<hex hash>[$<key length>]",
    "pbkdf2_sha512": "[pbkdf2_sha512$]<iterations>$<salt>$<hex hash>",
    "pbkdf2_sha512_hex": "pbkdf2_sha512_hex$<iterations>$<hex salt>$<hex hash>",
    "scrypt_firebase": "<hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost>",
    "scrypt_werkzeug": "scrypt:<N>:<r>:<p>$<salt>$<hex hash>",
    "phpass": "$P$<31 characters>",
    "md5_phpass": "$H$<31 characters>",
    "md5": "32 hex characters",
    "sha256": "64 hex characters",
    "md5_salted": "<salt>$<32 hex characters>",
    "sha256_salted": "<salt>$<64 hex characters>",
    "sha512_symfony": "sha512_symfony$<iterations>$<salt>$<hash>",
    "awscognito": "awscognito#<pool>#<client>#<identifier>",
    "ldap_ssha": "no spaces",
    "hmac_sha256_utf16_b64": "no spaces",
}
assert set(DIGEST_LAYOUTS) == PASSWORD_HASHERS

# Words a hasher column may use to say "this is not a digest".
PLAINTEXT_HASHER_WORDS = frozenset({"plaintext", "plain", "cleartext", "none", "text"})

# Clerk refuses plaintext passwords shorter than this (defensive: even with
# skip_password_checks).
PASSWORD_MIN_LENGTH = 8
# ... and longer than this (bcrypt's limit; counted in UTF-8 bytes, the stricter reading)
PASSWORD_MAX_BYTES = 72

_bcrypt = DIGEST_SHAPES["bcrypt"].fullmatch
_bcrypt_peppered = DIGEST_SHAPES["bcrypt_peppered"].fullmatch
_argon2 = re.compile(r"\$argon2(id|i)\$").match
_django_salt = re.compile(r"pbkdf2_sha256\$\d+\$([A-Za-z0-9]+)\$").match
_hex = re.compile(r"[0-9a-fA-F]+").fullmatch
_salted_hex = re.compile(_SEG + r"\$([0-9a-fA-F]+)").fullmatch
_scheme_word = re.compile(r"[a-z][a-z0-9_\-]{1,23}").fullmatch
_hashlike_chars = re.compile(r"[A-Za-z0-9+/=._:$#\-]+").fullmatch


def detect_hasher(value: str) -> str | None:
    """The Clerk hasher whose digest shape `value` has, or None."""
    if not value:
        return None
    first = value[0]
    if first == "$":
        if value.startswith("$2"):
            if _bcrypt(value):
                return "bcrypt"
            if _bcrypt_peppered(value):
                return "bcrypt_peppered"
            return None
        match = _argon2(value)
        if match:
            name = "argon2" + match.group(1)
            return name if DIGEST_SHAPES[name].fullmatch(value) else None
        if value.startswith("$P$"):
            return "phpass" if DIGEST_SHAPES["phpass"].fullmatch(value) else None
        if value.startswith("$H$"):
            return "md5_phpass" if DIGEST_SHAPES["md5_phpass"].fullmatch(value) else None
        if value.startswith("$scrypt:"):
            return "scrypt_werkzeug" if DIGEST_SHAPES["scrypt_werkzeug"].fullmatch(value) else None
        return None
    if first == "b" and value.startswith("bcrypt_sha256$"):
        return _if_fits("bcrypt_sha256_django", value)
    if first == "p" and value.startswith("pbkdf2_"):
        if value.startswith("pbkdf2_sha256$"):
            # Django writes this layout with a raw alphanumeric salt; the generic
            # hasher expects a base64 salt. A salt without base64 padding or
            # symbols is taken as Django's (Django is where this layout comes from).
            match = _django_salt(value)
            if match and DIGEST_SHAPES["pbkdf2_sha256_django"].fullmatch(value):
                return "pbkdf2_sha256_django"
            return _if_fits("pbkdf2_sha256", value)
        if value.startswith("pbkdf2_sha1$"):
            return _if_fits("pbkdf2_sha1", value)
        if value.startswith("pbkdf2_sha512$"):
            return _if_fits("pbkdf2_sha512", value)
        if value.startswith("pbkdf2_sha512_hex$"):
            return _if_fits("pbkdf2_sha512_hex", value)
        return None
    if first == "s":
        if value.startswith("sha512_symfony$"):
            return _if_fits("sha512_symfony", value)
        if value.startswith("scrypt:"):
            return _if_fits("scrypt_werkzeug", value)
    if first == "a" and value.startswith("awscognito#"):
        return _if_fits("awscognito", value)
    if first == "{" and value[:6].upper() == "{SSHA}":
        return "ldap_ssha" if len(value) > 6 else None
    length = len(value)
    if "$" not in value:
        if length == 32 and _hex(value):
            return "md5"
        if length == 64 and _hex(value):
            return "sha256"
        return None
    parts = value.count("$")
    if parts == 5 and DIGEST_SHAPES["scrypt_firebase"].fullmatch(value):
        return "scrypt_firebase"
    if parts == 1:
        match = _salted_hex(value)
        if match:
            size = len(match.group(1))
            if size == 32:
                return "md5_salted"
            if size == 64:
                return "sha256_salted"
    return None


def _if_fits(hasher: str, value: str) -> str | None:
    return hasher if DIGEST_SHAPES[hasher].fullmatch(value) else None


def digest_fits(hasher: str, value: str) -> bool:
    """Whether `value` has the digest shape Clerk expects for `hasher`."""
    shape = DIGEST_SHAPES.get(hasher)
    return bool(shape and shape.fullmatch(value))


def looks_like_digest(value: str) -> bool:
    """A value that matches no Clerk hasher but is clearly a hash, not a
    password someone typed: `$…$` structure, `{SCHEME}` prefix, long hex, or a
    long run of digest characters. Anything else is treated as plaintext."""
    if not value:
        return False
    if value[0] in "${":
        return True
    length = len(value)
    if length >= 32 and _hex(value):
        return True
    if length > 72:  # bcrypt and Clerk stop at 72 bytes: not a typed password
        return True
    if length >= 40 and " " not in value and _hashlike_chars(value):
        return True
    return value.count("$") >= 2 and length >= 24 and " " not in value


def digest_label(value: str) -> str:
    """A safe hint of what a digest starts with, for messages (never the
    secret part): `$6$`, `{SHA}`, `40 hex characters`…"""
    if value.startswith("$"):
        second = value.find("$", 1)
        if 0 < second <= 12:
            return f"'{value[: second + 1]}…'"
        return "'$…'"
    if value.startswith("{"):
        close = value.find("}")
        if 0 < close <= 12:
            return f"'{value[: close + 1]}…'"
    if _hex(value):
        return f"{len(value)} hex characters"
    prefix = value.split("$", 1)[0]
    if "$" in value and _scheme_word(prefix):
        return f"'{prefix}$…'"
    return f"{len(value)} characters"
