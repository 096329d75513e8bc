"""The row fingerprint: a keyed hash of what one export row sends to Clerk.

The journal keeps no row data beyond the external id and email (no names, no
digest, no metadata), yet the engine must know whether a row's fields are still
the ones it checked:

- the import (issue 18 §3): the bytes a row is created from must be the bytes
  that were checked. Every row's fingerprint is stored at load; when the row is
  read again to build its create body, its fingerprint is computed again and a
  difference stops the run (`export_changed`, the rows named) before that row
  is sent. verify does the same before comparing.
- the sync (issue 14): a later export's row is "changed" exactly when its
  fingerprint differs from the journal's.

    key = run_key(run_dir, create=True)          # DIR/fingerprint.key: 32 random bytes, mode 0600
    fp = row_fingerprint(key, user)              # 16 bytes (HMAC-SHA256, truncated)

What it covers (FIELDS, in this order, one canonical JSON array): external id,
email, email verification, first and last name, username, phone number, the
plaintext password (sent only under the `send` policy), password digest and
hasher, created_at, the OAuth providers (the email verification default reads
them), and the public / private / unsafe metadata (objects with sorted keys).
A row's fix (the operator's overrides) is not part of it: the fingerprint is of
the export's row. Not covered: the image URL and the row number (never sent).

Why keyed: a plain hash of a password digest, a plaintext password or an email
could be tested against guesses by anyone holding the journal; the HMAC key is
a random per-run secret kept beside the journal in `DIR/fingerprint.key`
(0600), never in the journal itself. Whoever can read the run folder can read
the key too: the folder is the operator's (0700), like the export it came from.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError

KEY_NAME = "fingerprint.key"
KEY_BYTES = 32
SIZE = 16  # bytes kept of the HMAC-SHA256
VERSION = 1  # the first item of the canonical array: a new field list is a new version

FIELDS: tuple[str, ...] = (
    "external_id",
    "email",
    "email_verified",
    "first_name",
    "last_name",
    "username",
    "phone_number",
    "password",
    "password_digest",
    "password_hasher",
    "created_at",
    "providers",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
)


class FingerprintKeyError(MigrationError):
    """The run's fingerprint key is missing or unreadable; str() is one line (exit 2)."""

    code = "fingerprint_key"


def key_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / KEY_NAME


def run_key(run_dir: str | os.PathLike[str], *, create: bool = False) -> bytes:
    """The run's HMAC key (DIR/fingerprint.key). create=True makes one (0600) when there is
    none. Raises FingerprintKeyError when it is missing (and not to be created) or damaged."""
    path = key_path(run_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise FingerprintKeyError(
                f"{path}: the run's fingerprint key is missing: the rows' fingerprints cannot be checked"
            ) from None
        data = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # made meanwhile by another process: use that one
            return run_key(run_dir)
        except OSError as exc:
            raise FingerprintKeyError(f"{path}: cannot create the run's fingerprint key ({exc.strerror or exc})") from None
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return data
    except OSError as exc:
        raise FingerprintKeyError(f"{path}: cannot read the run's fingerprint key ({exc.strerror or exc})") from None
    if len(data) != KEY_BYTES:
        raise FingerprintKeyError(f"{path}: the run's fingerprint key is damaged ({len(data)} bytes, not {KEY_BYTES})")
    return data


def _value(user: Any, name: str) -> Any:
    value = getattr(user, name, None)
    if name == "providers":
        return sorted(str(p) for p in (value or ()))
    return value


def _canonical_json(user: Any) -> bytes:
    """The canonical form by its definition (json.dumps of the whole array): what `canonical`
    gives for any row, and what it falls back to for a value of an unusual type."""
    values = [VERSION, *(_value(user, name) for name in FIELDS)]
    legal = getattr(user, "legal_accepted_at", None)
    if legal is not None:  # only mapped (--legal column:NAME); absent, older runs keep their fingerprints
        values.append(["legal_accepted_at", legal])
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


# The same bytes as _canonical_json, built item by item (issue 17: ~3x faster; a million rows
# are fingerprinted by every load, sync plan and verify): text through the encoder's own
# string function, metadata objects through one encoder made with the same options.
_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode
_string = json.encoder.encode_basestring  # what that encoder uses for text (ensure_ascii=False)
_PROVIDERS = FIELDS.index("providers")
assert FIELDS[_PROVIDERS + 1:] == ("public_metadata", "private_metadata", "unsafe_metadata")
_plain = attrgetter(*FIELDS[:_PROVIDERS])  # text, booleans, None
_providers = attrgetter("providers")
_metadata = attrgetter(*FIELDS[_PROVIDERS + 1:])  # objects


def canonical(user: Any) -> bytes:
    """The fields FIELDS of a SourceUser as one canonical JSON array (UTF-8)."""
    try:
        plain, providers, metadata = _plain(user), _providers(user), _metadata(user)
    except AttributeError:  # not a SourceUser: the fields it lacks are None
        return _canonical_json(user)
    parts = [f"[{VERSION}"]
    append = parts.append
    for value in plain:
        kind = type(value)
        if kind is str:
            append(_string(value))
        elif value is None:
            append("null")
        elif kind is bool:
            append("true" if value else "false")
        else:  # a value of another type: the definition itself
            return _canonical_json(user)
    append("[" + ",".join([_string(p) for p in sorted([str(p) for p in providers])]) + "]" if providers else "[]")
    for value in metadata:
        if value is None:
            append("null")
        elif type(value) is dict:
            append(_encode(value))
        else:
            return _canonical_json(user)
    legal = getattr(user, "legal_accepted_at", None)
    if legal is not None:
        if type(legal) is not str:
            return _canonical_json(user)
        append('["legal_accepted_at",' + _string(legal) + "]")
    return (",".join(parts) + "]").encode("utf-8")


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=16)
def keyed_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 with `key` as a function of the message: the same digest as
    hmac.digest(key, message, "sha256") (RFC 2104), with the key's pads hashed once instead
    of for every message (a row's HMAC in half the time)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    inner, outer = hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))

    def digest(message: bytes) -> bytes:
        h = inner.copy()
        h.update(message)
        o = outer.copy()
        o.update(h.digest())
        return o.digest()

    return digest


def row_fingerprint(key: bytes, user: Any) -> bytes:
    """HMAC-SHA256(key, canonical(user)), its first SIZE bytes."""
    return keyed_sha256(key if type(key) is bytes else bytes(key))(canonical(user))[:SIZE]


__all__ = ["FIELDS", "KEY_NAME", "FingerprintKeyError", "canonical", "key_path", "keyed_sha256", "row_fingerprint",
           "run_key"]
