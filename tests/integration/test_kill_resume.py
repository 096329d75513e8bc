"""`clerk-migrate import` as a subprocess, killed (SIGKILL) or interrupted (SIGINT)
mid-run, then resumed: every row still ends exactly once, with the right Clerk id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.migration.journal import NewRow, RunJournal, is_run_folder
from console.migration.run import prepare_run

from tests.integration.engine_support import assert_guarantees, settings_for, write_export

REPO = Path(__file__).resolve().parents[2]


def _env(server, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO))
    env.pop("IMPORT_TO_DEV_INSTANCE", None)
    return env


def _start(export: Path, run: Path, env: dict[str, str], cwd: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "console", "import", str(export), "--run", str(run), "--yes", "--json", *extra]
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _created(run: Path) -> int:
    if not is_run_folder(run):
        return -1
    try:
        with RunJournal.open(run, readonly=True) as j:
            if not j.info.rows_loaded:
                return -1
            return j.counts()["created"]
    except Exception:  # being created right now
        return -1


def _wait_created(proc: subprocess.Popen, run: Path, n: int, timeout: float = 30.0) -> int:
    """Poll the journal (not the clock) until it shows n created rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        created = _created(run)
        if created >= n:
            return created
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"import ended (rc {proc.returncode}) before {n} created: {err[-2000:]}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"{n} rows not created within {timeout}s")


def _finish(proc: subprocess.Popen, timeout: float = 60.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(
        latency_ms=25, jitter_ms=15, fail_rate=0.05, ambiguous_rate=0.06, drop_rate=0.02,
        ambiguous_modes=("502", "hang", "drop"), ambiguous_hang_s=0.6, seed=11,
    )
    export = write_export(tmp_path / "users.json", 260, bad={7, 150, 201})
    run = tmp_path / "run"
    env = _env(server, prod_key)
    args = ("--rate", "150", "--timeout", "0.4", "--max-attempts", "20")
    in_flight_at_kill = 0
    for target in (15, 80, 170):
        proc = _start(export, run, env, tmp_path, *args)
        _wait_created(proc, run, target)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        with RunJournal.open(run, readonly=True) as j:
            counts = j.counts()
            assert sum(counts.values()) == 260  # journal rows == export rows, whatever the kill
            in_flight_at_kill += counts["creating"]
            # nothing the sandbox holds is unknown to the journal as created, except rows in flight
            held = {u["external_id"] for u in server.users(prod_key)}
            journal_done = {r.external_id for r in j.iter_rows(status=("created", "existed"))}
            in_flight = {r.external_id for r in j.iter_rows(status="creating")}
            assert held - journal_done <= in_flight | {r.external_id for r in j.iter_rows(status="pending") if r.uncertain}
    assert in_flight_at_kill > 0, "no kill landed while a create was in flight"
    proc = _start(export, run, env, tmp_path, *args)
    rc, out, err = _finish(proc)
    assert rc == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["created"] == 257 and summary["pending"] == 0 and summary["refused"] == 3
    assert summary["sessions"] == 4
    with RunJournal.open(run) as j:
        assert_guarantees(j, server, prod_key)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_exit_130_then_resume(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=30, jitter_ms=10, ambiguous_rate=0.05, ambiguous_hang_s=0.5, seed=5)
    export = write_export(tmp_path / "users.json", 150)
    run = tmp_path / "run"
    env = _env(server, prod_key)
    args = ("--rate", "100", "--timeout", "0.3")
    proc = _start(export, run, env, tmp_path, *args)
    _wait_created(proc, run, 30)
    proc.send_signal(signal.SIGINT)
    rc, out, err = _finish(proc, timeout=30)
    assert rc == 130, err[-2000:]
    assert "Traceback" not in err
    summary = json.loads(out)  # still one JSON object on stdout
    assert summary["pending"] > 0
    with RunJournal.open(run, readonly=True) as j:
        counts = j.counts()
        assert counts["creating"] == 0  # in-flight requests were waited for and settled
        assert counts["created"] == len(server.users(prod_key))
    proc = _start(export, run, env, tmp_path, *args)
    rc, out, err = _finish(proc)
    assert rc == 0, err[-2000:]
    with RunJournal.open(run) as j:
        assert_guarantees(j, server, prod_key)


def test_an_interrupted_load_is_loaded_again(tmp_path: Path, sandbox, prod_key):
    """A kill while the export was being read leaves rows_loaded false: the next run
    reloads the rows (nothing was sent before the load finished)."""
    export = write_export(tmp_path / "users.json", 40)
    settings = settings_for(sandbox.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    info = journal.info
    journal.close()
    # simulate the half-done load of a killed first run
    (tmp_path / "run2").mkdir()
    import dataclasses

    half = RunJournal.create(tmp_path / "run2", dataclasses.replace(info, rows_loaded=False))
    half.add_rows([NewRow(i, f"ck{i:06d}", f"user{i}@example.test", "pending") for i in range(1, 11)])
    assert half.info.rows_loaded is False
    half.close()
    again = prepare_run(tmp_path / "run2", export, settings, confirmed_production=True)
    assert again.info.rows_loaded and again.total_rows() == 40
    assert again.info.export_sha256 == info.export_sha256
    again.close()
