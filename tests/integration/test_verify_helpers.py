"""Helpers for the after-import tests (verify, export-ids, undo): a small export,
a real import into the sandbox, the CLI in-process. No tests in here."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from console.cli import main
from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.run import prepare_run
from console.settings import SecretKey, Settings
from console.source.model import Policies

BCRYPT_CHARS = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def bcrypt_digest(i: int) -> str:
    h = hashlib.sha256(str(i).encode()).digest() * 3
    return "$2b$10$" + "".join(BCRYPT_CHARS[b % 64] for b in h[:53])


def ext_id(i: int, prefix: str = "ck") -> str:
    return f"{prefix}{i:06d}"


def write_export(path: Path, n: int, *, bad: set[int] = frozenset(), unverified: set[int] = frozenset(),
                 prefix: str = "ck") -> Path:
    """Prisma-shaped JSON: n users; odd rows have a bcrypt digest; rows in `bad` have an
    invalid email (refused); rows in `unverified` have emailVerified null; each row has
    its own createdAt."""
    rows = []
    for i in range(1, n + 1):
        row: dict[str, Any] = {
            "id": ext_id(i, prefix),
            "name": f"First{i} Last{i}",
            "email": f"user{i}@example.test" if i not in bad else f"not-an-email-{i}",
            "emailVerified": None if i in unverified else "2023-01-02T03:04:05.000Z",
            "image": None,
            "createdAt": f"2022-05-{1 + i % 28:02d}T07:08:{i % 60:02d}.{i % 1000:03d}Z",
            "providers": [],
        }
        if i % 2:
            row["password"] = bcrypt_digest(i)
        rows.append(row)
    path.write_text(json.dumps(rows, indent=0))
    return path


def settings_for(url: str, key: str) -> Settings:
    return Settings(SecretKey(key), "env", url.rstrip("/"), True)


def make_run(tmp_path: Path, server: Any, key: str, n: int = 30, *, bad: set[int] = frozenset(),
             unverified: set[int] = frozenset(), policies: Policies | None = None,
             fixes: dict[int, dict[str, Any]] | None = None, name: str = "run") -> tuple[Path, Path]:
    """Import a generated export into the sandbox with the real importer; returns (run_dir, export)."""
    export = write_export(tmp_path / f"{name}-users.json", n, bad=bad, unverified=unverified)
    settings = settings_for(server.url, key)
    run_dir = tmp_path / name
    journal = prepare_run(run_dir, export, settings, policies=policies, confirmed_production=True)
    try:
        for row_no, fix in (fixes or {}).items():
            journal.set_fix(row_no, fix)
        importer = Importer(journal, settings, confirmed_production=True, rate=400, timeout=5.0,
                            backoff_base_s=0.05, backoff_cap_s=0.4, lookup_wait_s=0.05)
        result = asyncio.run(importer.run())
        assert result.exit_code == 0, result.summary
    finally:
        journal.close()
    return run_dir, export


def open_journal(run_dir: Path) -> RunJournal:
    return RunJournal.open(run_dir)


def api(server: Any, key: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """A request straight to the sandbox (behind the tool's back)."""
    return httpx.request(method, f"{server.url}/v1{path}", headers={"Authorization": f"Bearer {key}"},
                         timeout=10.0, **kw)


def cli_env(monkeypatch: Any, tmp_path: Path, server: Any, key: str) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from elsewhere
    monkeypatch.setenv("CLERK_SECRET_KEY", key)
    monkeypatch.setenv("CLERK_API_URL", server.url)
    monkeypatch.setenv("IMPORT_TO_DEV_INSTANCE", "true")


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def make_newer(run_dir: Path, dest: Path) -> Path:
    """A copy of a run folder whose journal says it was written by a newer version."""
    import shutil
    import sqlite3

    shutil.copytree(run_dir, dest)
    conn = sqlite3.connect(dest / "journal.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    return dest
