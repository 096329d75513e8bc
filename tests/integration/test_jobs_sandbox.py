"""Import, retry, verify and undo driven as jobs (in process, over HTTP to the sandbox):
the same protocol for each, typed snapshots, a JobResult with the command's summary."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from console.migration.jobs import JobSpec, make_job
from console.migration.journal import RunJournal
from console.migration.progress import Progress
from tests.integration.engine_support import assert_guarantees, settings_for, write_export

FAST = {"backoff_base_s": 0.05, "backoff_cap_s": 0.4, "lookup_wait_s": 0.05}


def test_import_verify_undo_as_jobs(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 40, bad={9})
    run = tmp_path / "run"
    settings = settings_for(sandbox.url, prod_key)
    seen: list[object] = []
    job = make_job(JobSpec("import", str(run), {"export": str(export), "confirmed_production": True, "rate": 400,
                                                "tuning": FAST}), settings, on_snapshot=seen.append)
    result = asyncio.run(job.run())
    assert result.exit_code == 0 and result.kind == "import" and result.stop_reason is None
    assert result.summary["created"] == 39 and result.summary["refused"] == 1
    assert isinstance(job.snapshot(), Progress) and job.snapshot().state == "done"
    assert any(isinstance(s, Progress) and s.state == "loading" for s in seen) or seen
    with RunJournal.open(run) as j:
        assert_guarantees(j, sandbox, prod_key)

    verify = make_job(JobSpec("verify", str(run), {"all": True}), settings)
    result = asyncio.run(verify.run())
    assert result.exit_code == 0 and result.summary["checked"] == 39 and result.summary["ok"] is True
    assert verify.snapshot().state == "done"

    undo = make_job(JobSpec("undo", str(run)), settings)
    result = asyncio.run(undo.run())
    assert result.exit_code == 0 and result.summary["deleted"] == 39
    assert sandbox.users(prod_key) == []


def test_an_import_job_paused_and_stopped_from_another_thread(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=20)
    export = write_export(tmp_path / "users.json", 200)
    run = tmp_path / "run"
    settings = settings_for(server.url, prod_key)
    paused = threading.Event()

    def on_snapshot(p: Progress) -> None:
        if p.state == "paused":
            paused.set()

    job = make_job(JobSpec("import", str(run), {"export": str(export), "confirmed_production": True, "rate": 50,
                                                "tuning": FAST}), settings, on_snapshot=on_snapshot)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(job.run())))
    thread.start()
    try:
        job.pause()  # before the importer exists: handed to it when it does
        deadline = time.monotonic() + 30
        while not paused.wait(0.05):
            assert thread.is_alive() and time.monotonic() < deadline, "never paused"
        job.resume()
        job.stop()
    finally:
        thread.join(60)
    result = outcome[0]
    assert result.exit_code == 130 and result.stop_reason == "stopped"
    with RunJournal.open(run, readonly=True) as j:
        assert j.counts()["creating"] == 0 and j.sessions()[-1]["outcome"] == "stopped"


def test_a_refused_job_is_a_result_with_the_reason(tmp_path: Path, sandbox, dev_key):
    export = write_export(tmp_path / "users.json", 5)
    settings = settings_for(sandbox.url, dev_key)  # IMPORT_TO_DEV_INSTANCE not given
    job = make_job(JobSpec("import", str(tmp_path / "run"), {"export": str(export)}), settings)
    result = asyncio.run(job.run())
    assert result.exit_code == 2 and result.stop_reason == "refused"
    assert result.summary["error"] == "dev_not_allowed" and "IMPORT_TO_DEV_INSTANCE" in result.message
    assert sandbox.create_requests(dev_key) == 0


def test_retry_job_resets_and_resends(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 10)
    run = tmp_path / "run"
    settings = settings_for(sandbox.url, prod_key)
    # another user already holds row 4's email: Clerk refuses that row
    sandbox.seed_user(prod_key, {"email_address": ["user4@example.test"], "external_id": "someone-else",
                                 "skip_password_requirement": True})
    spec = {"export": str(export), "confirmed_production": True, "tuning": FAST}
    result = asyncio.run(make_job(JobSpec("import", str(run), spec), settings).run())
    assert result.exit_code == 1 and result.summary["failed"] == 1
    result = asyncio.run(make_job(JobSpec("retry", str(run), {"codes": ["form_identifier_exists"],
                                                             "tuning": FAST}), settings).run())
    assert result.kind == "retry" and result.exit_code == 1 and result.summary["failed"] == 1
    with RunJournal.open(run, readonly=True) as j:
        assert [s["kind"] for s in j.sessions()] == ["import", "retry"]
        assert j.sessions()[-1]["outcome"] == "done"
