"""The job engine's pieces without a network: snapshots across a process boundary,
specs and options, the error base, and RunStatus from real journal, heartbeat and
lock files."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from console.migration.errors import MigrationError, as_migration_error
from console.migration.jobs import (
    JOBS,
    SNAPSHOT_TYPES,
    BaseJob,
    JobResult,
    JobSpec,
    make_job,
    register_job,
    snapshot_from_json,
    snapshot_to_json,
)
from console.migration.progress import Progress
from console.migration.status import lock_holder, read_status, write_heartbeat
from console.sandbox import make_key
from console.settings import SecretKey, Settings


# ----------------------------------------------------------------------------- snapshots
def _example(cls: type) -> object:
    """An instance with a non-default value in every field it can take one."""
    values = {}
    for i, f in enumerate(dataclasses.fields(cls), start=1):
        t = str(f.type)
        if "tuple" in t:
            values[f.name] = ("one", "two")
        elif t.startswith("int"):
            values[f.name] = i
        elif t.startswith("float"):
            values[f.name] = i + 0.5
        elif "str" in t:
            values[f.name] = f"v{i}"
    return cls(**values)


@pytest.mark.parametrize("tag", sorted(SNAPSHOT_TYPES))
def test_every_snapshot_type_crosses_json_and_back(tag: str):
    snap = _example(SNAPSHOT_TYPES[tag])
    data = json.loads(json.dumps(snapshot_to_json(snap)))
    assert data["kind"] == tag
    assert snapshot_from_json(data) == snap


def test_snapshots_of_every_job_kind_are_registered():
    assert {"import", "retry", "verify", "undo"} <= set(JOBS)
    for cls in JOBS.values():
        assert cls.snapshot_type in SNAPSHOT_TYPES.values()


def test_a_newer_workers_extra_fields_are_ignored_and_missing_ones_defaulted():
    data = snapshot_to_json(Progress(total=5, created=2, last_errors=("x",)))
    data["from_the_future"] = 1
    del data["pace"]
    back = snapshot_from_json(data)
    assert back.created == 2 and back.pace == 0.0 and back.last_errors == ("x",)
    with pytest.raises(ValueError):
        snapshot_from_json({"kind": "nope"})


# ----------------------------------------------------------------------------- specs, options, results
def test_specs_and_options_are_checked():
    with pytest.raises(MigrationError) as info:
        JobSpec.from_json({"kind": "import"})
    assert info.value.code == "bad_spec" and info.value.exit_code == 2
    spec = JobSpec.from_json(json.loads(json.dumps(JobSpec("retry", "/r", {"codes": ["x"], "rate": 5}).to_json())))
    job = make_job(spec, None)
    assert job.kind == "retry" and job.options.codes == ["x"] and job.options.rate == 5
    with pytest.raises(MigrationError, match="unknown option"):
        make_job(JobSpec("import", "/r", {"rows": 3}), None)
    with pytest.raises(MigrationError, match="no such job"):
        make_job(JobSpec("sync-everything", "/r"), None)
    result = JobResult(1, "m", None, {"created": 3}, "import")
    assert JobResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_a_new_job_is_one_class_and_one_registration(tmp_path: Path):
    @dataclasses.dataclass
    class CountOptions:
        upto: int = 3

    @dataclasses.dataclass(frozen=True)
    class CountProgress:
        done: int = 0
        state: str = "running"

    @register_job
    class CountJob(BaseJob):
        kind = "test-count"
        can_pause = True
        Options = CountOptions
        snapshot_type = CountProgress
        snapshot_tag = "test_count_progress"

        async def _run(self) -> JobResult:
            for i in range(1, self.options.upto + 1):
                self._publish(CountProgress(done=i))
                if self.stop_requested:
                    return JobResult(130, "stopped", "stopped", {"done": i}, self.kind)
            return JobResult(0, None, None, {"done": self.options.upto}, self.kind)

    try:
        seen: list[object] = []
        job = make_job(JobSpec("test-count", str(tmp_path), {"upto": 4}), None, on_snapshot=seen.append)
        result = asyncio.run(job.run())
        assert result == JobResult(0, None, None, {"done": 4}, "test-count")
        assert job.snapshot() == CountProgress(done=4) and len(seen) == 4
        assert snapshot_from_json(snapshot_to_json(job.snapshot())) == job.snapshot()
        job = make_job(JobSpec("test-count", str(tmp_path), {"upto": 4}), None)
        job.stop()
        assert asyncio.run(job.run()).exit_code == 130
    finally:
        JOBS.pop("test-count", None)
        SNAPSHOT_TYPES.pop("test_count_progress", None)


def test_a_refusal_is_a_result_and_a_bug_is_raised(tmp_path: Path):
    from console.migration.run import RunRefused

    @dataclasses.dataclass
    class NoOptions:
        pass

    class Refusing(BaseJob):
        kind = "test-refusing"
        Options = NoOptions

        async def _run(self) -> JobResult:
            raise RunRefused("no key", code="no_key")

    class Buggy(Refusing):
        async def _run(self) -> JobResult:
            raise ZeroDivisionError("bug")

    result = asyncio.run(Refusing(tmp_path, None, {}).run())
    assert (result.exit_code, result.message, result.stop_reason) == (2, "no key", "refused")
    assert result.summary["error"] == "no_key"
    with pytest.raises(ZeroDivisionError):
        asyncio.run(Buggy(tmp_path, None, {}).run())


def test_verify_and_undo_cannot_pause(tmp_path: Path):
    for kind in ("verify", "undo"):
        job = make_job(JobSpec(kind, str(tmp_path)), None)
        with pytest.raises(MigrationError) as info:
            job.pause()
        assert info.value.code == "cannot_pause"


# ----------------------------------------------------------------------------- the error base
def test_the_engine_errors_share_one_base():
    from console.clerk.errors import AuthenticationError, ServerError
    from console.migration.journal import JournalError, NotARunFolder
    from console.migration.run import RunRefused
    from console.source import ExportError

    refused = RunRefused("busy here", code="busy")
    assert isinstance(refused, MigrationError) and (refused.exit_code, refused.code) == (2, "busy")
    missing = NotARunFolder("/x: no such run folder")
    assert isinstance(missing, JournalError) and isinstance(missing, MigrationError)
    assert missing.code and missing.exit_code == 2 and str(missing) == "/x: no such run folder"
    assert as_migration_error(ExportError("users.json: row 3: not JSON")).code == "export_unreadable"
    auth = as_migration_error(AuthenticationError("bad key", status=401, code="authentication_invalid"))
    assert auth.code == "unauthorized" and auth.exit_code == 2 and "refused the key" in auth.message
    assert as_migration_error(ServerError("down", status=503)).code == "clerk_error"
    assert as_migration_error(ValueError("a bug")) is None


def test_every_operator_facing_engine_error_is_a_migration_error():
    import sqlite3

    from console.commands.common import CommandError
    from console.migration.errors import explain
    from console.migration.fingerprint import FingerprintKeyError
    from console.migration.outputs import FkError, OutputError
    from console.migration.preflight import PreflightError
    from console.migration.signin import NoSuchUser
    from console.migration.sync_journal import SyncRefused
    from console.migration.sync_plan import SyncPlanError

    for exc, code in ((SyncPlanError("no fingerprints", "no_fingerprints"), "no_fingerprints"),
                      (FingerprintKeyError("/r/fingerprint.key: missing"), "fingerprint_key"),
                      (OutputError("/out.csv: cannot write"), "output_error"),
                      (FkError("bad --fk"), "fk_error"),
                      (PreflightError("x", code="bad_legal"), "bad_legal"),
                      (SyncRefused("x", "sync_unfinished"), "sync_unfinished"),
                      (NoSuchUser("no such user in this run"), "no_such_user"),
                      (CommandError("pass --yes"), "command")):
        assert isinstance(exc, MigrationError), exc
        assert as_migration_error(exc) is exc and exc.exit_code == 2 and exc.code == code, (exc, exc.code)
    assert isinstance(FkError("x"), ValueError)  # callers that caught the ValueError still do
    # what SQLite says about the run folder is the operator's; what it says about our SQL is a bug
    full = as_migration_error(sqlite3.OperationalError("database or disk is full"))
    assert full is not None and full.code == "journal_full" and full.exit_code == 2
    assert as_migration_error(sqlite3.OperationalError("attempt to write a readonly database")).code == "journal_read_only"
    assert as_migration_error(sqlite3.OperationalError("no such table: rows")) is None
    bug = explain(KeyError("x"))
    assert bug.exit_code == 70 and bug.code == "internal_error" and "KeyError" in bug.message
    assert explain(full) is full


# ----------------------------------------------------------------------------- RunStatus from the files
def _run_folder(tmp_path: Path) -> Path:
    from console.migration.run import prepare_run
    from tests.integration.engine_support import write_export

    export = write_export(tmp_path / "users.json", 6)
    settings = Settings(SecretKey(make_key("production", "unit")), "env", "http://127.0.0.1:9", False)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    journal.close()
    return tmp_path / "run"


def _beat(run: Path, **fields) -> None:
    now = time.time()
    beat = {"protocol": 1, "pid": os.getpid(), "kind": "import", "state": "running", "started_at": now - 5,
            "updated_at": now, "controller": None, "snapshot": None, "ended_at": None, "sessions_before": 0,
            "own_session": False}
    beat.update(fields)
    write_heartbeat(run, beat)


def test_status_new_running_paused_dead_stopped_finished(tmp_path: Path):
    from console.migration.journal import RunJournal
    from console.migration.run import run_lock

    run = _run_folder(tmp_path)
    assert read_status(run).state == "new"
    assert lock_holder(run) is None
    with run_lock(run, "import"):  # a foreground session holds the run
        assert lock_holder(run) == os.getpid()
        st = read_status(run)
        assert (st.state, st.pid, st.worker, st.kind) == ("running", os.getpid(), False, "import")
        snap = snapshot_to_json(Progress(total=6, created=2, rate_now=4.0, eta_s=1.0, state="paused"))
        _beat(run, state="paused", snapshot=snap, controller={"client": 1, "pid": 7, "label": "console", "since": 1.0})
        st = read_status(run)
        assert (st.state, st.worker, st.rate, st.eta_s, st.phase) == ("paused", True, 4.0, 1.0, "paused")
        assert st.controller["label"] == "console"
        assert st.as_json()["state"] == "paused" and st.as_json()["created"] == 0  # the counts stay the journal's
    assert lock_holder(run) is None
    # the holder died: the lock is free, the heartbeat never wrote its end
    _beat(run, pid=2**22 + 12345, updated_at=time.time() - 60)
    st = read_status(run)
    assert st.state == "dead" and st.pid == 2**22 + 12345 and "resume" in st.message
    # a foreground session started after the dead worker and ended: its outcome counts
    with RunJournal.open(run) as j:
        sid = j.start_session("import")
    st = read_status(run)
    assert st.state == "dead" and st.pid is None  # that session is open too (killed)
    with RunJournal.open(run) as j:
        j.update_session(sid, end=True, outcome="done")
    assert read_status(run).state == "finished"
    # a worker that ended: its own end counts
    _beat(run, ended_at=time.time() + 1, state="stopped", stop_reason="stopped", exit_code=130,
          sessions_before=1, message="stopped by the operator")
    st = read_status(run)
    assert (st.state, st.exit_code, st.pid) == ("stopped", 130, None)


def test_lock_holder_never_takes_the_lock(tmp_path: Path):
    """Probing the lock must not make a starting session fail as busy."""
    from console.migration import status

    run = _run_folder(tmp_path)
    (run / "run.lock").touch()
    calls = []
    real = status._probe_flock
    status._probe_flock = lambda path: calls.append(path) or real(path)  # type: ignore[assignment]
    try:
        assert lock_holder(run) is None
    finally:
        status._probe_flock = real  # type: ignore[assignment]
    if Path("/proc/locks").exists():
        assert calls == []  # /proc/locks answered: no flock was tried at all


def test_settings_cross_to_the_worker_without_the_key():
    from console.migration.control import settings_to_json
    from console.migration.worker import settings_from_json

    key = SecretKey(make_key("production", "unit"))
    settings = Settings(key, "dotenv", "http://127.0.0.1:9", True, ("a note",))
    data = json.loads(json.dumps(settings_to_json(settings)))
    assert "secret_key" not in data and key.reveal() not in json.dumps(data)
    assert settings_from_json(data, key) == settings
