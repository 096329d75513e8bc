"""Helpers shared by the engine's integration tests (imported, not collected)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from console.migration.importer import Importer, ImportResult
from console.migration.journal import RunJournal
from console.migration.run import prepare_run
from console.settings import SecretKey, Settings

BCRYPT_CHARS = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def bcrypt_digest(i: int) -> str:
    h = hashlib.sha256(str(i).encode()).digest() * 3
    return "$2b$10$" + "".join(BCRYPT_CHARS[b % 64] for b in h[:53])


def write_export(path: Path, n: int, *, bad: set[int] = frozenset(), prefix: str = "ck", passwords: bool = True) -> Path:
    """A Prisma-shaped JSON array of n users; rows in `bad` have an invalid email (refused)."""
    rows = []
    for i in range(1, n + 1):
        row: dict[str, Any] = {
            "id": f"{prefix}{i:06d}",
            "name": f"User Number{i}",
            "email": f"user{i}@example.test" if i not in bad else f"not-an-email-{i}",
            "emailVerified": "2023-01-02T03:04:05.000Z",
            "image": None,
            "createdAt": "2022-05-06T07:08:09.000Z",
            "providers": [],
        }
        if passwords and i % 2:
            row["password"] = bcrypt_digest(i)
        rows.append(row)
    path.write_text(json.dumps(rows, indent=0))
    return path


def settings_for(url: str, key: str, *, allow_dev: bool = False) -> Settings:
    return Settings(SecretKey(key), "env", url.rstrip("/"), allow_dev)


def import_run(
    run_dir: Path, export: Path, settings: Settings, *, confirmed: bool = True, **kw: Any
) -> tuple[RunJournal, ImportResult]:
    journal = prepare_run(run_dir, export, settings, confirmed_production=confirmed)
    kw.setdefault("rate", 400)
    kw.setdefault("timeout", 2.0)
    kw.setdefault("backoff_base_s", 0.05)
    kw.setdefault("backoff_cap_s", 0.4)
    kw.setdefault("lookup_wait_s", 0.05)
    importer = Importer(journal, settings, confirmed_production=confirmed, **kw)
    result = asyncio.run(importer.run())
    return journal, result


def assert_guarantees(journal: RunJournal, server: Any, key: str, *, fresh_instance: bool = True) -> dict[str, str]:
    """Every importable row created/existed with the id the sandbox holds for its external
    id; no external id twice in the sandbox; no refused row there; nothing left to do."""
    users = server.users(key)
    by_ext: dict[str, str] = {}
    for u in users:
        ext = u.get("external_id")
        assert ext not in by_ext, f"external id {ext} created twice"
        by_ext[ext] = u["id"]
    counts = journal.counts()
    assert counts["pending"] == 0 and counts["creating"] == 0, counts
    importable = 0
    for row in journal.iter_rows():
        if row.status == "refused":
            assert row.external_id not in by_ext, f"refused row {row.row_no} was sent"
            continue
        importable += 1
        assert row.status in ("created", "existed"), (row.row_no, row.status, row.error_code, row.error_message)
        assert row.clerk_user_id == by_ext.get(row.external_id), (row.row_no, row.clerk_user_id, by_ext.get(row.external_id))
    if fresh_instance:
        assert len(users) == importable
    return by_ext
