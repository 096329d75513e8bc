"""sync as a Job (console/migration/jobs.py): driven like import (snapshots, stop, a
result), stopped mid-way and run again to the end, and detached in a worker process
(`sync --detach`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.migration.jobs import JobSpec, make_job, snapshot_from_json, snapshot_to_json
from console.migration.journal import RunJournal
from console.migration.status import read_status
from console.migration.sync import SyncProgress, last_sync

from tests.integration.sync_support import (
    assert_holds,
    fast_client,
    first_rows,
    second_export,
    seed_import,
    settings_for,
    write,
)

REPO = Path(__file__).resolve().parents[2]
TUNING = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "lookup_wait_s": 0.02}


def _run_job(run: Path, export: Path, server, key: str, on_snapshot=None):
    client = fast_client(server.url, key)
    spec = JobSpec("sync", str(run), {"export": str(export), "confirmed": True, "tuning": TUNING})
    job = make_job(spec, settings_for(server.url, key), on_snapshot=on_snapshot, engine={"client": client})

    async def go():
        try:
            return await job.run()
        finally:
            await client.aclose()

    return job, asyncio.run(go())


def test_sync_job_stopped_then_run_again_to_the_end(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(production_limit=1_000_000, latency_ms=20)
    rows = first_rows(400)
    run = tmp_path / "run"
    seed_import(run, write(tmp_path / "t0.json", rows), server, prod_key).close()
    second = second_export(rows, seed=21, changed=0.2)
    t1 = write(tmp_path / "t1.json", second.rows)
    seen: list[SyncProgress] = []
    holder: list = []

    def on_snapshot(p: SyncProgress) -> None:
        seen.append(p)
        if p.updated >= 10 and holder:
            holder[0].stop()

    client = fast_client(server.url, prod_key)
    # 4 rows in flight, 20 ms a request: the stop lands while most rows are still to do
    spec = JobSpec("sync", str(run), {"export": str(t1), "confirmed": True, "tuning": TUNING, "concurrency": 4})
    job = make_job(spec, settings_for(server.url, prod_key), on_snapshot=on_snapshot, engine={"client": client})
    holder.append(job)

    async def go():
        try:
            return await job.run()
        finally:
            await client.aclose()

    result = asyncio.run(go())
    assert (result.exit_code, result.stop_reason, result.kind) == (130, "stopped", "sync"), result
    assert 10 <= result.summary["updated"] < len(second.changed)
    assert any(p.phase == "updating" for p in seen) and isinstance(job.snapshot(), SyncProgress)
    back = snapshot_from_json(json.loads(json.dumps(snapshot_to_json(job.snapshot()))))
    assert back == job.snapshot()
    with RunJournal.open(run) as j:
        assert last_sync(j).state == "applying"

    job, result = _run_job(run, t1, server, prod_key)
    s = result.summary
    assert result.exit_code == 0, s
    assert (s["created"], s["updated"], s["removed"], s["left"]) == (len(second.new), len(second.changed),
                                                                     len(second.removed), 0)
    assert_holds(server.users(prod_key), second.rows, also=set(second.removed), second=second)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def workers():
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_sync_detached_in_a_worker(tmp_path: Path, sandbox_factory, prod_key, workers):
    server = sandbox_factory(production_limit=1_000_000)
    rows = first_rows(200)
    run = tmp_path / "run"
    seed_import(run, write(tmp_path / "t0.json", rows), server, prod_key).close()
    second = second_export(rows, seed=22)
    t1 = write(tmp_path / "t1.json", second.rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_SECRET_KEY=prod_key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-m", "console", "sync", "--run", str(run), str(t1), "--yes", "--json",
                        "--detach", "--rate", "200"], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    pid = json.loads(p.stdout)["pid"]
    workers.append(pid)
    deadline = time.monotonic() + 60
    while _alive(pid):
        assert time.monotonic() < deadline, "the sync worker did not end"
        time.sleep(0.05)
    st = read_status(run).as_json()
    assert (st["state"], st["kind"], st["exit_code"]) == ("finished", "sync", 0), st
    assert_holds(server.users(prod_key), second.rows, also=set(second.removed), second=second)
    with RunJournal.open(run) as j:
        assert last_sync(j).state == "done"
