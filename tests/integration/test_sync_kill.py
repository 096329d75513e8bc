"""`clerk-migrate sync` as a real process, killed (SIGKILL) while it updates and again while
it creates, then the same command again: exact (every change there once, no address
twice, no user twice), and a sync of another export is refused meanwhile."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from console.migration.journal import RunJournal
from console.migration.sync import last_sync

from tests.integration.sync_support import (
    assert_holds,
    first_rows,
    second_export,
    seed_import,
    verify_passwords,
    write,
)

REPO = Path(__file__).resolve().parents[2]


def _env(server, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO))
    env.pop("IMPORT_TO_DEV_INSTANCE", None)
    return env


def _start(run: Path, export: Path, env: dict[str, str], cwd: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "console", "sync", "--run", str(run), str(export), "--yes", "--json", *extra]
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _count(run: Path, sql: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{quote(str(run / 'journal.sqlite'))}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not there yet
        return -1


def _kill_when(proc: subprocess.Popen, run: Path, sql: str, n: int, timeout: float = 60.0) -> int:
    """Poll the journal (not the clock) until `sql` counts n, then SIGKILL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _count(run, sql)
        if got >= n:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert proc.returncode == -signal.SIGKILL
            return got
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"sync ended (rc {proc.returncode}) before the kill point: {err[-2000:]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"the kill point ({sql} >= {n}) was not reached within {timeout}s")


def _no_twice(users: list[dict]) -> None:
    ext = [u["external_id"] for u in users]
    assert len(ext) == len(set(ext)), "a user twice"
    addresses = [e["email_address"].lower() for u in users for e in u["email_addresses"]]
    assert len(addresses) == len(set(addresses)), "an address twice"


UPDATED = "SELECT COUNT(*) FROM sync_items WHERE kind = 'changed' AND state = 'done'"
CREATED = ("SELECT COUNT(*) FROM sync_items i JOIN rows r ON r.row_no = i.row_no WHERE i.kind = 'new'"
           " AND r.status = 'created'")


@pytest.mark.slow
def test_sigkill_while_updating_and_while_creating_then_the_same_command(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(production_limit=1_000_000, latency_ms=12, jitter_ms=8, seed=3)
    rows = first_rows(2000)
    run = tmp_path / "run"
    seed_import(run, write(tmp_path / "t0.json", rows), server, prod_key).close()
    second = second_export(rows, seed=11)
    t1 = write(tmp_path / "t1.json", second.rows)
    env = _env(server, prod_key)
    args = ("--rate", "100", "--timeout", "2")

    proc = _start(run, t1, env, tmp_path, *args)
    _kill_when(proc, run, UPDATED, 30)
    with RunJournal.open(run, check="full") as j:  # a consistent journal, whatever the kill
        assert j.info.export_path == str(t1.resolve()) and j.total_rows() == len(second.rows)
        assert last_sync(j).state == "applying"
        in_flight = j.connection.execute("SELECT COUNT(*) FROM sync_items WHERE state = 'sending'").fetchone()[0]
    _no_twice(server.users(prod_key))

    # another export while this sync is unfinished: refused, nothing sent
    other = write(tmp_path / "t2.json", second_export(second.rows, seed=12, tag="v3").rows)
    before = server.stats(prod_key).get("requests", 0)
    refused = subprocess.run([sys.executable, "-m", "console", "sync", "--run", str(run), str(other), "--yes"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "not finished" in refused.stderr, refused.stderr
    assert server.stats(prod_key).get("requests", 0) == before

    proc = _start(run, t1, env, tmp_path, *args)
    _kill_when(proc, run, CREATED, 20)
    _no_twice(server.users(prod_key))
    with RunJournal.open(run, check="full") as j:
        creating = j.counts()["creating"]

    proc = _start(run, t1, env, tmp_path, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert (summary["created"], summary["updated"], summary["removed"], summary["failed"], summary["left"]) == (
        60, 100, 40, 0, 0), summary
    users = server.users(prod_key)
    assert_holds(users, second.rows, also=set(second.removed), second=second)
    verify_passwords(server, prod_key, users, second.password)
    with RunJournal.open(run, check="full") as j:
        assert last_sync(j).state == "done"
        assert j.counts()["pending"] == j.counts()["creating"] == 0
        sessions = [s["kind"] for s in j.sessions()]
    assert sessions.count("sync") == 3, sessions
    print(f"rows in flight at the kills: {in_flight} updates, {creating} creates")
