"""blockers.py, the one preflight entry before any write: every blocker at once (the console's
plan lists them, the CLI says the first), none of them writing; local_blockers sends nothing.
Real run folders, a real lock held by another process, the sandbox over HTTP for the room."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from console.migration.blockers import local_blockers, resume_problem, run_blockers
from console.migration.journal import RunJournal
from console.migration.run import prepare_run
from console.migration.status import lock_holder
from console.sandbox import make_key
from console.settings import SecretKey, Settings

from tests.integration.engine_support import settings_for, write_export

HOLD = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); " \
       "os.write(fd, b'import worker, pid ' + str(os.getpid()).encode()); fcntl.flock(fd, fcntl.LOCK_EX); " \
       "print('held', flush=True); sys.stdin.read()"


def _hold_lock(run: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run / "run.lock")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    deadline = time.monotonic() + 5
    while lock_holder(run) != proc.pid and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def test_every_blocker_at_once_and_nothing_written(tmp_path: Path, sandbox, prod_key):
    settings = settings_for(sandbox.url, prod_key)
    export = write_export(tmp_path / "users.json", 5)
    run = tmp_path / "run"
    prepare_run(run, export, settings, confirmed_production=True).close()
    export.write_text(export.read_text().replace("User Number2", "Someone Else"))  # changed in place
    proc = _hold_lock(run)
    try:
        with RunJournal.open(run, readonly=True) as j:
            before = sandbox.stats(prod_key).get("requests", 0)
            pre = asyncio.run(run_blockers(j, settings, kind="import", confirmed_production=False))
            codes = [b.code for b in pre.blockers]
            assert codes == ["production_unconfirmed", "busy", "export_changed"], pre.as_json()
            assert f"pid {proc.pid}" in pre.blockers[1].message and pre.blockers[1].short == "run busy"
            assert pre.to_send == 5 and not pre.ok
            # no request: the guards, the lock and the files are local; no publishable key: no settings read
            assert sandbox.stats(prod_key).get("requests", 0) == before
            assert [b.code for b in local_blockers(j, settings, kind="retry")] == ["busy", "export_changed"]
            # the console's resume check: only the key and the instance
            assert resume_problem(j, settings) is None
            other = Settings(SecretKey(make_key("production", "other")), "env", sandbox.url, False)
            assert "another instance" in resume_problem(j, other)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    with RunJournal.open(run) as j:  # the journal as it was: nothing settled, nothing stored
        assert j.counts()["pending"] == 5 and [e["kind"] for e in j.events(limit=10)][0] in ("loaded", "created")


def test_a_development_instance_without_room_is_one_count_away(tmp_path: Path, sandbox, dev_key):
    settings = settings_for(sandbox.url, dev_key, allow_dev=True)
    export = write_export(tmp_path / "users.json", 5)
    run = tmp_path / "run"
    prepare_run(run, export, settings, confirmed_production=True).close()
    for i in range(97):
        sandbox.seed_user(dev_key, {"external_id": f"x{i}", "email_address": [f"x{i}@example.test"],
                                    "skip_password_requirement": True})
    with RunJournal.open(run, readonly=True) as j:
        before = sandbox.stats(dev_key).get("requests", 0)
        pre = asyncio.run(run_blockers(j, settings, kind="import"))
        assert [b.code for b in pre.blockers] == ["dev_instance_cap"] and "3 more fit" in pre.blockers[0].message
        assert pre.room.existing == 97 and pre.room.cap.limit == 100
        assert sandbox.stats(dev_key)["requests"] == before + 1  # one count of the users
        # the session counts them itself: check_room=False asks nothing
        pre = asyncio.run(run_blockers(j, settings, kind="import", check_room=False))
        assert pre.ok and sandbox.stats(dev_key)["requests"] == before + 1
    # without IMPORT_TO_DEV_INSTANCE: the guard, and no count
    no_dev = settings_for(sandbox.url, dev_key)
    with RunJournal.open(run, readonly=True) as j:
        pre = asyncio.run(run_blockers(j, no_dev, kind="retry"))
        assert [b.code for b in pre.blockers] == ["dev_not_allowed"]
    assert sandbox.create_requests(dev_key) == 0


def test_a_new_run_has_only_the_keys_guards(tmp_path: Path):
    none = Settings(None, "none", "http://127.0.0.1:9", False)
    assert [b.code for b in local_blockers(None, none, kind="import")] == ["no_key"]
    dev = Settings(SecretKey(make_key("development", "x")), "env", "http://127.0.0.1:9", False)
    assert [b.code for b in local_blockers(None, dev, kind="import")] == ["dev_not_allowed"]


def test_the_live_check_of_a_key(sandbox, prod_key):
    from console.migration.blockers import live_check

    sandbox.seed_user(prod_key, {"external_id": "a", "email_address": ["a@example.test"],
                                 "skip_password_requirement": True})
    found = asyncio.run(live_check(settings_for(sandbox.url, prod_key)))
    assert found.ok and found.users == 1 and found.latency_ms is not None
    sandbox.config.rejected_keys.add(prod_key)
    refused = asyncio.run(live_check(settings_for(sandbox.url, prod_key)))
    assert refused.status == "failed" and "refused this key" in refused.message and prod_key not in refused.message
    assert not asyncio.run(live_check(Settings(None, "none", sandbox.url, False))).ok
