"""A journal made by the code before schema 2 (engine_fixtures/journal_v1.sql, a real run of
clerk-migrate at d290724): read as it is, upgraded on a writable open in one transaction,
then resumed, verified and undone against the sandbox holding that run's users."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from console.migration.journal import SCHEMA_VERSION, STATE_NAME, RunJournal, read_state
from console.sandbox import make_key

from tests.integration.test_verify_helpers import cli, cli_env

FIXTURES = Path(__file__).parent / "engine_fixtures"
KEY = make_key("production", "v1-fixture")  # the key that run was made with


def _v1_run(tmp_path: Path, base_url: str | None = None) -> tuple[Path, Path]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    conn = sqlite3.connect(run / "journal.sqlite")
    conn.executescript((FIXTURES / "journal_v1.sql").read_text())
    if base_url:  # that run's sandbox listened on a port of its own; this one is the same "Clerk"
        conn.execute("UPDATE run SET base_url = ?", (base_url,))
        conn.commit()
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    export = tmp_path / "users.json"
    shutil.copyfile(FIXTURES / "users_v1.json", export)
    return run, export


def _seed_v1_users(server: Any) -> dict[str, str]:
    """The sandbox as that run left it: its users at their ids, none with a run marker."""
    users = json.loads((FIXTURES / "sandbox_users_v1.json").read_text())
    store = server.app.store
    for u in users:
        i = u["external_id"]
        email = "user7@example.test" if i == "other-7" else f"user{int(i[2:])}@example.test"
        made = server.seed_user(KEY, {"external_id": i, "email_address": [email], "skip_password_requirement": True})
        with store.lock:
            inst = store.peek(KEY)
            user = inst.users.pop(made["id"])
            inst._unindex(user)
            user["id"] = u["id"]
            inst.users[u["id"]] = user
            inst._index(user)
    return {u["external_id"]: u["id"] for u in users}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_as_it_is_then_upgraded_in_one_transaction(tmp_path: Path):
    run, _ = _v1_run(tmp_path)
    before = _digest(run / "journal.sqlite")
    with RunJournal.open(run, readonly=True) as j:  # a reader never writes
        assert j.info.schema_version == 1 and j.info.run_id is None
        assert j.counts() == {"pending": 1, "creating": 1, "created": 7, "existed": 1, "failed": 1, "refused": 1}
        assert [r.row_no for r in j.iter_rows(status="created")] == [1, 2, 4, 6, 8, 9, 10]
        assert not any(r.unmarked or r.fingerprint for r in j.iter_rows())
    assert _digest(run / "journal.sqlite") == before and not (run / STATE_NAME).exists()
    with RunJournal.open(run) as j:
        assert j.upgraded_from == 1 and j.info.schema_version == SCHEMA_VERSION
        assert len(j.info.run_id) == 16 and j.info.rows_total == 12
        assert [r.row_no for r in j.iter_rows() if r.unmarked] == [1, 2, 4, 6, 8, 9, 10]
        assert j.counts()["created"] == 7 and j.get_meta("verify_last")["checked"] == 10  # kept as it was
        assert any(e["kind"] == "upgraded" for e in j.events(50))
        run_id = j.info.run_id
    conn = sqlite3.connect(run / "journal.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT COUNT(*) FROM verify_results").fetchone()[0] == 3  # the verify tables stay
    conn.close()
    assert read_state(run)["run_id"] == run_id
    with RunJournal.open(run) as j:  # a second open upgrades nothing
        assert j.upgraded_from is None and j.info.run_id == run_id


def test_resumed_verified_and_undone_after_the_upgrade(tmp_path: Path, sandbox, monkeypatch, capsys):
    run, export = _v1_run(tmp_path, sandbox.url)
    ids = _seed_v1_users(sandbox)
    cli_env(monkeypatch, tmp_path, sandbox, KEY)
    code, out, err = cli(capsys, "status", "--run", str(run), "--json")
    assert code == 0 and json.loads(out)["created"] == 7, err
    # the export moved to tmp_path: the same bytes, given again
    code, out, err = cli(capsys, "import", str(export), "--run", str(run), "--yes", "--json")
    summary = json.loads(out)
    assert code == 1 and (summary["created"], summary["existed"], summary["failed"]) == (7, 3, 1), err
    with RunJournal.open(run) as j:
        # rows 11 (in flight when killed) and 12 (never answered): their users carry no marker of
        # this run, so they are `existed` (kept by undo), never taken for this run's
        assert {r.row_no: r.status for r in j.iter_rows()}[11] == "existed"
        assert {r.row_no: r.clerk_user_id for r in j.iter_rows()}[12] == ids["ck000012"]
        assert j.rows_without_fingerprint() == 0  # computed from the unchanged export
        assert j.info.instance_id == sandbox.instance_id(KEY)  # recorded at this first session
    code, out, err = cli(capsys, "verify", "--run", str(run), "--all", "--json")
    assert code in (0, 1) and json.loads(out)["checked"] == 10, err
    # undo: the 7 users the old version created carry no marker: kept unless --unmarked
    code, out, err = cli(capsys, "undo", "--run", str(run), "--yes", "--json")
    report = json.loads(out)
    assert code == 0 and report["deleted"] == 0 and report["kept"] == 7, err
    assert "--unmarked deletes those" in err
    assert len(sandbox.users(KEY)) == 11
    code, out, err = cli(capsys, "undo", "--run", str(run), "--yes", "--unmarked", "--json")
    assert code == 0 and json.loads(out)["deleted"] == 7, err
    left = {u["external_id"] for u in sandbox.users(KEY)}
    assert left == {"ck000003", "other-7", "ck000011", "ck000012"}


def test_a_failed_upgrade_leaves_the_journal_as_it_was(tmp_path: Path):
    """The upgrade is one transaction: a journal it cannot write (here: a run table already
    holding a column the upgrade adds, with another type) stays schema 1, untouched."""
    run, _ = _v1_run(tmp_path)
    conn = sqlite3.connect(run / "journal.sqlite")
    conn.execute("CREATE TRIGGER no_upgrade BEFORE UPDATE OF schema_version ON run BEGIN "
                 "SELECT RAISE(ABORT, 'simulated failure'); END")
    conn.commit()
    conn.close()
    before = _digest(run / "journal.sqlite")
    with pytest.raises(Exception, match="simulated failure"):
        RunJournal.open(run)
    conn = sqlite3.connect(run / "journal.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "run_id" not in {r[1] for r in conn.execute("PRAGMA table_info(run)")}
    conn.close()
    assert _digest(run / "journal.sqlite") == before
