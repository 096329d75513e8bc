"""Issue 18 §1: "created by this run" is a fact Clerk holds (the run marker in
private_metadata), never a guess from timestamps. Over HTTP against the sandbox;
the kill -9 case with real processes. Each of the three reproductions of the issue
fails on the code before the marker (undo deleted users that were there before)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.run import prepare_run

from tests.integration.engine_support import settings_for, write_export
from tests.integration.test_verify_helpers import cli, cli_env

REPO = Path(__file__).resolve().parents[2]
MARKER_KEY = "clerk_migrate"  # the documented run marker: private_metadata.clerk_migrate.run


def run_of(user: dict) -> str | None:
    value = (user.get("private_metadata") or {}).get(MARKER_KEY)
    return value.get("run") if isinstance(value, dict) else None
FAST = dict(rate=400, timeout=2.0, backoff_base_s=0.02, backoff_cap_s=0.2, lookup_wait_s=0.02, max_attempts=30)


def _seed_before(server: Any, key: str, n: int, rows: range) -> dict[str, str]:
    """Users that are in Clerk before the run, holding the export's external ids (and emails),
    created just now (so a guess from updated_at would call them the run's)."""
    out = {}
    for i in rows:
        user = server.seed_user(key, {"external_id": f"ck{i:06d}", "email_address": [f"user{i}@example.test"],
                                      "skip_password_requirement": True, "private_metadata": {"app": "kept"}})
        out[f"ck{i:06d}"] = user["id"]
    return out


def _import(run_dir: Path, export: Path, settings: Any, **kw: Any):
    journal = prepare_run(run_dir, export, settings, confirmed_production=True)
    result = asyncio.run(Importer(journal, settings, confirmed_production=True, **{**FAST, **kw}).run())
    return journal, result


def _check_marks(journal: RunJournal, server: Any, key: str, before: dict[str, str]) -> None:
    """Every row settled; the users that were there before are `existed` (and carry no marker),
    every `created` row's user carries this run's marker."""
    run_id = journal.info.run_id
    users = {u["id"]: u for u in server.users(key)}
    counts = journal.counts()
    assert counts["pending"] == counts["creating"] == 0, counts
    for row in journal.iter_rows(status=("created", "existed")):
        user = users[row.clerk_user_id]
        if row.external_id in before:
            assert row.status == "existed", (row.row_no, row.status)
            assert row.clerk_user_id == before[row.external_id]
            assert run_of(user) is None and user["private_metadata"] == {"app": "kept"}
        else:
            assert row.status == "created", (row.row_no, row.status)
            assert run_of(user) == run_id


def test_lost_answers_never_adopt_users_that_were_there_before(tmp_path: Path, sandbox_factory, prod_key,
                                                              monkeypatch, capsys):
    """Clerk users already holding the rows' external ids, created moments ago, and half the
    requests answered 5xx (the create's outcome unknown, looked up): they stay `existed`, and
    undo deletes only the users this run created."""
    server = sandbox_factory(fail_rate=0.4, seed=21)
    export = write_export(tmp_path / "users.json", 40)
    before = _seed_before(server, prod_key, 40, range(1, 21))
    settings = settings_for(server.url, prod_key)
    journal, result = _import(tmp_path / "run", export, settings)
    assert result.exit_code == 0, result.summary
    assert (result.summary["created"], result.summary["existed"]) == (20, 20)
    _check_marks(journal, server, prod_key, before)
    journal.close()
    server.config.fail_rate = 0.0
    cli_env(monkeypatch, tmp_path, server, prod_key)
    code, out, err = cli(capsys, "undo", "--run", str(tmp_path / "run"), "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["deleted"], report["kept"], report["existed_kept"]) == (20, 0, 20)
    left = {u["id"] for u in server.users(prod_key)}
    assert left == set(before.values())  # every user that was there before is still there


def test_two_run_folders_on_one_instance_undo_only_their_own(tmp_path: Path, sandbox_factory, prod_key,
                                                            monkeypatch, capsys):
    """The same export imported twice into one instance with faults (two run folders): the
    second finds every user `existed` (they carry the first run's marker, not its own), so
    its undo deletes nothing and the first run's undo deletes them all."""
    server = sandbox_factory(fail_rate=0.2, ambiguous_rate=0.2, ambiguous_hang_s=0.5, seed=8)
    export = write_export(tmp_path / "users.json", 50, bad={9})
    settings = settings_for(server.url, prod_key)
    a, ra = _import(tmp_path / "a", export, settings, timeout=0.3)
    assert ra.exit_code == 0 and ra.summary["created"] == 49
    b, rb = _import(tmp_path / "b", export, settings, timeout=0.3)
    assert rb.exit_code == 0 and (rb.summary["created"], rb.summary["existed"]) == (0, 49), rb.summary
    a_ids = {r.clerk_user_id for r in a.iter_rows(status="created")}
    assert {r.clerk_user_id for r in b.iter_rows(status="existed")} == a_ids
    assert a.info.run_id != b.info.run_id
    a.close()
    b.close()
    server.config.fail_rate = server.config.ambiguous_rate = 0.0
    cli_env(monkeypatch, tmp_path, server, prod_key)
    code, out, err = cli(capsys, "undo", "--run", str(tmp_path / "b"), "--yes", "--json")
    assert code == 0 and "nothing to undo" in json.loads(out)["message"], (out, err)
    assert len(server.users(prod_key)) == 49
    code, out, err = cli(capsys, "undo", "--run", str(tmp_path / "a"), "--yes", "--json")
    assert code == 0 and json.loads(out)["deleted"] == 49, err
    assert server.users(prod_key) == []


def test_undo_keeps_a_user_whose_clerk_copy_lacks_the_marker(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    """The journal is not the judge: a `created` row whose user in Clerk does not carry this
    run's marker (here: a journal edited behind the tool's back) is kept and said."""
    export = write_export(tmp_path / "users.json", 6)
    outsider = sandbox.seed_user(prod_key, {"external_id": "someone-else", "email_address": ["o@example.test"],
                                            "skip_password_requirement": True})
    journal, result = _import(tmp_path / "run", export, settings_for(sandbox.url, prod_key))
    assert result.exit_code == 0
    with journal.transaction() as c:
        c.execute("UPDATE rows SET clerk_user_id = ? WHERE row_no = 3", (outsider["id"],))
    journal.close()
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "undo", "--run", str(tmp_path / "run"), "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["deleted"], report["kept"]) == (5, 1)
    assert report["kept_rows"][0]["row"] == 3 and report["kept_rows"][0]["marker_run"] is None
    assert "1 user(s) kept: their copy in Clerk does not carry this run's marker" in err
    # the outsider stays; so does row 3's own user, which the edited journal no longer names
    assert sorted(u["external_id"] for u in sandbox.users(prod_key)) == ["ck000003", "someone-else"]


# ----------------------------------------------------------------- kill -9 with real processes
def _env(server: Any, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO))
    env.pop("IMPORT_TO_DEV_INSTANCE", None)
    return env


def _start(export: Path, run: Path, env: dict[str, str], cwd: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "console", "import", str(export), "--run", str(run), "--yes", "--json", *extra]
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _settled(run: Path) -> tuple[int, int]:
    """(created + existed, creating) as the journal shows them now; (-1, 0) while it is being made."""
    try:
        with RunJournal.open(run, readonly=True) as j:
            if not j.info.rows_loaded:
                return -1, 0
            c = j.counts()
            return c["created"] + c["existed"], c["creating"]
    except Exception:
        return -1, 0


def _kill_when(proc: subprocess.Popen, run: Path, settled: int, timeout: float = 60.0) -> int:
    """Poll the journal until `settled` rows are done and some are in flight, then kill -9."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, creating = _settled(run)
        if done >= settled and creating > 0:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return creating
        if proc.poll() is not None:
            pytest.fail(f"import ended (rc {proc.returncode}) before the kill: {proc.communicate()[1][-2000:]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("the import did not get far enough in time")


@pytest.mark.slow
def test_kill_9_with_users_already_there_then_resume_and_undo(tmp_path: Path, sandbox_factory, prod_key,
                                                             monkeypatch, capsys):
    """Most of the export's users are already in Clerk; the import is killed (kill -9) several
    times while creates are in flight, then resumed: the journal says `existed` for exactly
    the users that were there before, and undo deletes exactly the others."""
    server = sandbox_factory(latency_ms=120, jitter_ms=60, seed=4)
    n = 200
    export = write_export(tmp_path / "users.json", n)
    before = _seed_before(server, prod_key, n, [i for i in range(1, n + 1) if i % 5 != 0])  # 160 there before
    run = tmp_path / "run"
    env = _env(server, prod_key)
    args = ("--rate", "300", "--concurrency", "64")
    in_flight = 0
    for target in (20, 70, 130):
        proc = _start(export, run, env, tmp_path, *args)
        in_flight += _kill_when(proc, run, target)
    assert in_flight > 0
    proc = _start(export, run, env, tmp_path, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out)
    assert (summary["created"], summary["existed"]) == (40, 160), summary
    with RunJournal.open(run) as journal:
        _check_marks(journal, server, prod_key, before)
    server.config.latency_ms = server.config.jitter_ms = 0.0
    cli_env(monkeypatch, tmp_path, server, prod_key)
    code, out, err = cli(capsys, "undo", "--run", str(run), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["deleted"] == 40
    assert {u["id"] for u in server.users(prod_key)} == set(before.values())


# ----------------------------------------------------------------- the marker in the create and at load
def test_the_marker_is_merged_with_the_rows_own_private_metadata(tmp_path: Path, sandbox, prod_key):
    rows = [
        {"id": "a1", "email": "a1@example.test", "privateMetadata": {"plan": "pro"}},
        {"id": "a2", "email": "a2@example.test", "privateMetadata": {MARKER_KEY: "the app's own"}},
        {"id": "a3", "email": "a3@example.test", "privateMetadata": {"blob": "x" * 8140}},
        {"id": "a4", "email": "a4@example.test", "privateMetadata": {"blob": "x" * 8000}},
    ]
    export = tmp_path / "users.json"
    export.write_text(json.dumps(rows))
    journal, result = _import(tmp_path / "run", export, settings_for(sandbox.url, prod_key))
    by_row = {r.row_no: r for r in journal.iter_rows()}
    assert by_row[2].status == "refused" and by_row[2].error_code == "metadata_invalid"
    assert "the run marker uses" in by_row[2].error_message
    # 8,151 bytes of JSON fit Clerk's 8 KB alone, not with the marker's 43
    assert by_row[3].status == "refused" and by_row[3].error_code == "metadata_too_large"
    assert "with the run marker" in by_row[3].error_message
    assert by_row[1].status == by_row[4].status == "created"
    users = {u["external_id"]: u for u in sandbox.users(prod_key)}
    assert users["a1"]["private_metadata"] == {"plan": "pro", MARKER_KEY: {"run": journal.info.run_id}}
    assert set(users) == {"a1", "a4"}
    journal.close()


def test_unmark_removes_the_marker_paced_and_resumable(tmp_path: Path, sandbox_factory, prod_key,
                                                      monkeypatch, capsys):
    server = sandbox_factory()
    rows = [{"id": f"u{i}", "email": f"u{i}@example.test", "privateMetadata": {"plan": f"p{i}"}} for i in range(1, 31)]
    export = tmp_path / "users.json"
    export.write_text(json.dumps(rows))
    journal, result = _import(tmp_path / "run", export, settings_for(server.url, prod_key))
    assert result.summary["created"] == 30
    journal.close()
    cli_env(monkeypatch, tmp_path, server, prod_key)
    # no terminal and no --yes: refused before any request
    before = server.stats(prod_key)["requests"]
    code, out, err = cli(capsys, "unmark", "--run", str(tmp_path / "run"))
    assert code == 2 and "pass --yes" in err and server.stats(prod_key)["requests"] == before
    code, out, err = cli(capsys, "unmark", "--run", str(tmp_path / "run"), "--yes", "--json", "--rate", "60")
    assert code == 0, err
    report = json.loads(out)
    assert (report["done"], report["failed"], report["remaining"], report["requests"]) == (30, 0, 0, 30)
    assert report["plan"]["to_unmark"] == 30 and report["plan"]["pace"] == 60.0 and report["plan"]["eta_s"] == 0.5
    assert "30 request(s) (one PATCH per user)" in err and "deletes none" in err
    users = server.users(prod_key)
    assert all(u["private_metadata"] == {"plan": f"p{u['external_id'][1:]}"} for u in users)
    # again: nothing left, no request
    before = server.stats(prod_key)["requests"]
    code, out, err = cli(capsys, "unmark", "--run", str(tmp_path / "run"), "--yes", "--json")
    assert code == 0 and json.loads(out)["to_unmark"] == 0 and server.stats(prod_key)["requests"] == before
    # after unmark, undo cannot tell the run's users: it keeps them all
    code, out, err = cli(capsys, "undo", "--run", str(tmp_path / "run"), "--yes", "--json")
    assert code == 0 and json.loads(out)["kept"] == 30, (out, err)
    assert len(server.users(prod_key)) == 30


def test_unmark_interrupted_then_resumed(tmp_path: Path, sandbox_factory, prod_key):
    from console.migration.unmark import Unmarker

    server = sandbox_factory(latency_ms=20)
    export = write_export(tmp_path / "users.json", 60)
    settings = settings_for(server.url, prod_key)
    journal, _ = _import(tmp_path / "run", export, settings)
    seen: list[int] = []
    unmarker: Unmarker

    def on_progress(p):
        seen.append(p.done)
        if p.done >= 15:
            unmarker.stop()

    unmarker = Unmarker(journal, settings, rate=300, concurrency=4, on_progress=on_progress, progress_interval_s=0)
    first = asyncio.run(unmarker.run())
    assert first.exit_code == 130 and 15 <= first.done < 60
    assert sum(1 for u in server.users(prod_key) if run_of(u) is None) == first.done
    second = asyncio.run(Unmarker(journal, settings, rate=300).run())
    assert second.exit_code == 0 and second.already_done == first.done and second.done == 60 - first.done
    assert all(run_of(u) is None for u in server.users(prod_key))
    assert server.stats(prod_key)["requests"] - 60 - 1 <= 60 + 2  # one PATCH per user, the resume did not redo
    journal.close()


# ----------------------------------------------------------------- issue 18 §3: an export changed in place
def test_an_export_changed_in_place_during_the_run_stops_before_the_row_is_sent(tmp_path: Path, sandbox_factory,
                                                                               prod_key):
    """A row's email overwritten in the export (same size, same inode) while the import runs:
    the row's fingerprint no longer matches the one stored at load, so the run stops with
    export_changed naming it, and nothing is created from bytes that were not checked."""
    from console.clerk.limiter import RequestBudget

    server = sandbox_factory(production_limit=100_000)
    n = 1200  # ~270 bytes a row: row 1100 is far past what the reader holds when the file changes
    export = write_export(tmp_path / "users.json", n)
    inode = export.stat().st_ino
    settings = settings_for(server.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    done = []

    def on_progress(p) -> None:
        if p.created >= 100 and not done:  # the reader is far from row 1100 still
            with open(export, "r+b") as fh:
                data = fh.read()
                at = data.index(b'"user1100@example.test"')
                fh.seek(at)
                fh.write(b'"uxer1100@example.test"')
            done.append(True)

    importer = Importer(journal, settings, confirmed_production=True, on_progress=on_progress,
                        progress_interval_s=0.01, budget=RequestBudget(1500.0), **FAST)
    result = asyncio.run(importer.run())
    assert done and export.stat().st_ino == inode
    assert result.exit_code == 2 and result.stop_reason == "export_changed", result.summary
    assert "row(s) 1100 (ck001100)" in result.message and result.summary["changed_rows"] == [1100]
    users = server.users(prod_key)
    emails = {u["email_addresses"][0]["email_address"] for u in users}
    assert "uxer1100@example.test" not in emails and "user1100@example.test" not in emails
    row = journal.get_row(1100)
    assert row.status == "pending" and row.email == "user1100@example.test"
    # every user that was created came from checked bytes: the journal's email is Clerk's
    by_id = {u["id"]: u for u in users}
    for rec in journal.iter_rows(status="created"):
        assert by_id[rec.clerk_user_id]["email_addresses"][0]["email_address"] == rec.email
    journal.close()
    # a resume refuses the changed file (its sha256), as before
    with pytest.raises(Exception, match="the export changed since this run started"):
        prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
