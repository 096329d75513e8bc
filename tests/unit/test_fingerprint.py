"""The row fingerprint (console/migration/fingerprint.py): keyed, covers every field that
goes to Clerk, stable across processes, and the key stays out of the journal."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from console.migration.fingerprint import (
    FIELDS,
    FingerprintKeyError,
    canonical,
    key_path,
    row_fingerprint,
    run_key,
)
from console.source.model import SourceUser

USER = SourceUser(
    row=7, external_id="ck7", email="a@example.test", email_verified=True, first_name="Ada", last_name="Lovelace",
    username="ada", password=None, password_digest="$2b$10$" + "a" * 53, password_hasher="bcrypt",
    created_at="2022-05-06T07:08:09.000Z", image="https://img", providers=("github", "google"),
    public_metadata={"b": 1, "a": {"y": 2, "x": 1}}, private_metadata={"plan": "pro"}, unsafe_metadata=None,
)


def test_key_file_is_private_and_reused(tmp_path: Path):
    with pytest.raises(FingerprintKeyError, match="missing"):
        run_key(tmp_path)
    key = run_key(tmp_path, create=True)
    assert len(key) == 32 and stat.S_IMODE(key_path(tmp_path).stat().st_mode) == 0o600
    assert run_key(tmp_path, create=True) == key == run_key(tmp_path)
    key_path(tmp_path).write_bytes(b"short")
    with pytest.raises(FingerprintKeyError, match="damaged"):
        run_key(tmp_path)


def test_every_field_sent_to_clerk_changes_it():
    key = b"k" * 32
    base = row_fingerprint(key, USER)
    assert len(base) == 16
    changes = {
        "external_id": "ck8", "email": "A@example.test", "email_verified": False, "first_name": "Ad",
        "last_name": None, "username": "ada2", "password": "a plaintext one", "password_digest": "$2b$10$" + "b" * 53,
        "password_hasher": "bcrypt_sha256_django", "created_at": "2022-05-06T07:08:10.000Z", "providers": ("github",),
        "public_metadata": {"b": 2}, "private_metadata": None, "unsafe_metadata": {"u": 1},
    }
    assert set(changes) | {"phone_number"} == set(FIELDS)
    for name, value in changes.items():
        assert row_fingerprint(key, dataclasses.replace(USER, **{name: value})) != base, name
    # not sent to Clerk: the row number, the image
    assert row_fingerprint(key, dataclasses.replace(USER, row=99, image=None)) == base
    # the same content in another key order or provider order is the same row
    same = dataclasses.replace(USER, public_metadata={"a": {"x": 1, "y": 2}, "b": 1}, providers=("google", "github"))
    assert row_fingerprint(key, same) == base
    assert row_fingerprint(b"j" * 32, USER) != base  # keyed


def test_stable_across_processes():
    """The sync of a later session recomputes it: no hash randomisation, no dict order."""
    code = ("import sys; from console.migration.fingerprint import row_fingerprint; "
            "from tests.unit.test_fingerprint import USER; sys.stdout.write(row_fingerprint(b'k' * 32, USER).hex())")
    root = Path(__file__).resolve().parents[2]
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                           env={"PYTHONHASHSEED": str(seed), "PYTHONPATH": str(root)}).stdout for seed in (1, 2)}
    assert outs == {row_fingerprint(b"k" * 32, USER).hex()}


def test_canonical_holds_no_secret_key_material():
    text = canonical(USER).decode()
    assert text.startswith("[1,") and "https://img" not in text  # the image is not sent, not covered
