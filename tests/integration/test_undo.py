"""undo over real HTTP against the sandbox, on runs made by the real importer."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

from console.migration.journal import RunJournal
from console.migration.undo import Undoer, undo_preview, undo_run
from console.sandbox import make_key

from tests.integration.test_verify_helpers import (
    api,
    cli,
    cli_env,
    ext_id,
    make_newer,
    make_run,
    settings_for,
)


def _seed_existing(server, key: str, i: int) -> dict:
    return server.seed_user(key, {"external_id": ext_id(i), "email_address": [f"user{i}@example.test"],
                                  "skip_password_requirement": True})


def _sign_in(server, key: str, user_id: str) -> None:
    with server.app.store.lock:
        server.app.store.peek(key).users[user_id]["last_sign_in_at"] = int(time.time() * 1000)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_undo_deletes_only_what_the_run_created(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    existed = _seed_existing(sandbox, prod_key, 4)  # row 4's user was there before: existed
    outsider = sandbox.seed_user(prod_key, {"external_id": "not-from-this-run", "email_address": ["o@example.test"],
                                            "skip_password_requirement": True})
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=25, bad={7})
    journal = RunJournal.open(run_dir)
    assert journal.counts()["created"] == 23 and journal.counts()["existed"] == 1
    journal.close()
    users = {u["external_id"]: u for u in sandbox.users(prod_key)}
    _sign_in(sandbox, prod_key, users[ext_id(2)]["id"])
    _sign_in(sandbox, prod_key, users[ext_id(3)]["id"])
    _sign_in(sandbox, prod_key, existed["id"])  # not counted: undo never touches it
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "undo", "--run", str(run_dir), "--yes", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["deleted"], result["gone"], result["failed"], result["remaining"]) == (23, 0, 0, 0)
    assert result["existed_kept"] == 1 and result["signed_in_before"] == 2 and result["signed_in"] == 2
    assert "2 of them have signed in since the import" in err
    assert "1 user(s) that were already there are kept" in err
    left = sorted(u["id"] for u in sandbox.users(prod_key))
    assert left == sorted([existed["id"], outsider["id"]])
    assert sandbox.stats(prod_key)["deleted"] == 23  # one delete per created user, nothing else
    # again: nothing left to do, no request
    before = sandbox.stats(prod_key)["requests"]
    code, out, err = cli(capsys, "undo", "--run", str(run_dir), "--yes")
    assert code == 0 and "nothing to undo" in out
    assert sandbox.stats(prod_key)["requests"] == before
    # verify and export-ids leave the undone rows out afterwards
    code, out, _ = cli(capsys, "verify", "--run", str(run_dir), "--all", "--json")
    report = json.loads(out)
    assert report["checked"] == 1 and report["expected_total"] == 1 and report["undone"] == 23
    assert report["missing"] == [] and report["clerk_total"] == 2
    # the pre-existing user was seeded without the export's names and creation time: verify says so
    assert code == 1 and {(m["row"], m["field"]) for m in report["mismatched"]} == {
        (4, "first_name"), (4, "last_name"), (4, "created_at")}
    code, out, _ = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "map.csv"))
    assert code == 0
    lines = (tmp_path / "map.csv").read_text().splitlines()
    assert lines == ["external_id,clerk_user_id,email", f"{ext_id(4)},{existed['id']},user4@example.test"]


def test_undo_interrupted_then_resumed(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=5)
    run_dir, _ = make_run(tmp_path, server, prod_key, n=120)
    settings = settings_for(server.url, prod_key)
    journal = RunJournal.open(run_dir)
    holder: list[Undoer] = []

    def on_progress(p):
        if p.deleted >= 30:
            holder[0].stop()

    undoer = Undoer(journal, settings, rate=400, concurrency=4, on_progress=on_progress, progress_interval_s=0.0)
    holder.append(undoer)
    first = asyncio.run(undoer.run())
    journal.close()
    assert first.exit_code == 130 and first.stop_reason == "stopped"
    assert 30 <= first.deleted < 40 and first.remaining == 120 - first.deleted
    assert len(server.users(prod_key)) == 120 - first.deleted
    # one more user vanishes behind the tool's back before the resume: counted as gone
    victim = server.users(prod_key)[0]
    api(server, prod_key, "DELETE", f"/users/{victim['id']}")
    journal = RunJournal.open(run_dir)
    try:
        preview = asyncio.run(undo_preview(journal, settings, rate=400))
        assert preview.to_delete == 120 - first.deleted and preview.gone == 1 and preview.already_undone == first.deleted
        second = asyncio.run(undo_run(journal, settings, rate=400))
    finally:
        journal.close()
    assert second.exit_code == 0 and second.already_undone == first.deleted
    assert second.deleted + second.gone == 120 - first.deleted and second.gone == 1
    assert server.users(prod_key) == []
    # each user was deleted once: no delete was sent for a user already deleted
    assert server.stats(prod_key)["deleted"] == 120 - 1 + 1  # 119 by undo, 1 behind its back
    journal = RunJournal.open(run_dir)
    try:
        rows = journal.connection.execute("SELECT outcome, COUNT(*) FROM undo_rows GROUP BY outcome").fetchall()
        assert dict(rows) == {"deleted": 119, "gone": 1}
        assert journal.get_meta("undo_last")["exit_code"] == 0
    finally:
        journal.close()


def test_a_404_on_delete_counts_as_gone(tmp_path: Path, sandbox, prod_key):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=6)
    settings = settings_for(sandbox.url, prod_key)
    users = sandbox.users(prod_key)
    journal = RunJournal.open(run_dir)
    try:
        undoer = Undoer(journal, settings, rate=400)
        original = undoer._make_client

        def make_client():
            client, own = original()
            real_lookup = client.users_by_ids

            async def lookup(ids, **kw):  # the read sees every user; then one vanishes before its delete
                found = await real_lookup(ids, **kw)
                api(sandbox, prod_key, "DELETE", f"/users/{users[2]['id']}")
                return found

            client.users_by_ids = lookup
            return client, own

        undoer._make_client = make_client
        result = asyncio.run(undoer.run())
    finally:
        journal.close()
    assert result.exit_code == 0 and result.deleted == 5 and result.gone == 1
    assert sandbox.users(prod_key) == []


def test_confirmation_and_refusals(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=8)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    # no terminal and no --yes: refused before any request
    before = sandbox.stats(prod_key)["requests"]
    code, out, err = cli(capsys, "undo", "--run", str(run_dir))
    assert code == 2 and "--yes" in err and sandbox.stats(prod_key)["requests"] == before
    # a terminal: anything but "yes" deletes nothing
    monkeypatch.setattr("sys.stdin", _Tty("no\n"))
    code, out, err = cli(capsys, "undo", "--run", str(run_dir))
    assert code == 2 and "Type yes" in err and "not confirmed" in err
    assert len(sandbox.users(prod_key)) == 8
    monkeypatch.setattr("sys.stdin", _Tty("yes\n"))
    code, out, err = cli(capsys, "undo", "--run", str(run_dir))
    assert code == 0 and "8 deleted" in out and sandbox.users(prod_key) == []
    # another instance's key: refused once Clerk says which instance it is (GET /v1/instance), nothing else
    other = make_key("production", "elsewhere")
    monkeypatch.setenv("CLERK_SECRET_KEY", other)
    code, _, err = cli(capsys, "undo", "--run", str(run_dir), "--yes")
    assert code == 2 and "another instance" in err and other not in err
    assert sandbox.stats(other)["requests"] == 1 and sandbox.stats(other).get("deleted", 0) == 0
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    # not a run folder; a newer journal
    code, out, err = cli(capsys, "undo", "--run", str(tmp_path / "nowhere"), "--yes")
    assert code == 2 and "no such run folder" in err and len(err.strip().splitlines()) == 1
    newer = make_newer(run_dir, tmp_path / "newer")
    code, out, err = cli(capsys, "undo", "--run", str(newer), "--yes")
    assert code == 2 and "newer" in err and "Traceback" not in err
