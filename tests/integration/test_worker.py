"""Runs that outlive the terminal (issue 19), with real processes: `import --detach`
starts a worker that keeps sending after the starter exits; `status` and attached
clients see it; `stop` stops it safely; kill -9 is seen as dead and resumes exactly;
SIGHUP / SIGTERM to a foreground import is a stop recorded in the journal. Every
wait polls a condition with a deadline."""

from __future__ import annotations

import asyncio
import fcntl
import json
import re
import os
import select
import signal
import stat
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.migration.control import NotController, NotRunning, attach, ended_result
from console.migration.journal import RunJournal, is_run_folder
from console.migration.status import read_status
from tests.integration.engine_support import assert_guarantees, write_export

REPO = Path(__file__).resolve().parents[2]


def _env(server, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.pop("IMPORT_TO_DEV_INSTANCE", None)
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO), **extra)
    return env


def _cli(env: dict[str, str], cwd: Path, *args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _poll(cond: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _counts(run: Path) -> dict[str, int]:
    if not is_run_folder(run):
        return {}
    try:
        with RunJournal.open(run, readonly=True) as j:
            return j.counts()
    except Exception:  # being written right now
        return {}


@pytest.fixture
def workers() -> Iterator[list[int]]:
    """Worker pids a test started: killed at the end if the test left one running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _detach(env: dict[str, str], cwd: Path, export: Path, run: Path, workers: list[int], *extra: str) -> int:
    p = _cli(env, cwd, "import", export, "--run", run, "--yes", "--json", "--detach", *extra, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert set(out) == {"run", "pid"} and out["run"] == str(run.resolve())
    workers.append(out["pid"])
    return out["pid"]


def _status(env: dict[str, str], cwd: Path, run: Path) -> dict:
    p = _cli(env, cwd, "status", "--run", run, "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def _assert_no_key_anywhere(pid: int, run: Path, key: str) -> None:
    secret = key.split("_", 2)[2]
    for what in ("cmdline", "environ"):
        data = Path(f"/proc/{pid}/{what}").read_bytes().decode("utf-8", "replace")
        assert key not in data and secret not in data, f"the key is in the worker's {what}"
    for name in ("worker.log", "worker.json"):
        data = (run / name).read_text()
        assert secret not in data, f"the key is in {name}"
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((run / "worker.sock").stat().st_mode) == 0o600
    assert stat.S_ISSOCK((run / "worker.sock").stat().st_mode)


# ----------------------------------------------------------------------------- detach, status, attach, stop, resume
@pytest.mark.slow
def test_detached_import_outlives_its_starter_then_stops_safely_and_resumes(tmp_path: Path, sandbox_factory,
                                                                           prod_key, workers):
    server = sandbox_factory(latency_ms=20, jitter_ms=10)
    export = write_export(tmp_path / "users.json", 400, bad={5})  # 10 s at 40/s: stopped long before
    run = tmp_path / "run"
    env = _env(server, prod_key)
    pid = _detach(env, tmp_path, export, run, workers, "--rate", "40")
    # the starter has exited; the worker keeps sending
    after_start = server.create_requests(prod_key)
    _poll(lambda: server.create_requests(prod_key) >= after_start + 10, "creates after the starter exited")
    st = _status(env, tmp_path, run)
    assert st["state"] == "running" and st["pid"] == pid and st["kind"] == "import" and st["worker"] is True
    assert st["rows"] == 400 and st["refused"] == 1  # today's status fields are kept
    human = _cli(env, tmp_path, "status", "--run", run).stdout  # the words say a worker is sending, not "resume"
    assert re.search(r"state running \(import, pid \d+\)(, \d+\.\d/s)?", human), human
    assert not re.search(r"\d\.\d\d+/s", human), human  # a rate is said to one decimal
    assert "the import is sending them" in human and "run the same import command" not in human, human
    _assert_no_key_anywhere(pid, run, prod_key)

    async def watch() -> list[int]:
        link = await attach(run, label="test watcher")
        assert link.kind == "import" and link.pid == pid and link.can_pause
        seen: list[int] = []
        async for snap in link:
            seen.append(snap.created)
            if len(seen) >= 4 and seen[-1] > seen[0]:
                break
        await link.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(watch(), 30))
    assert seen == sorted(seen) and seen[-1] > seen[0]

    p = _cli(env, tmp_path, "stop", "--run", run, "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    stopped = json.loads(p.stdout)
    assert stopped["pid"] == pid and stopped["worker"] is True
    assert stopped["exit_code"] == 130 and stopped["stop_reason"] == "stopped"
    _poll(lambda: not _alive(pid), "the worker to end")
    assert not (run / "worker.sock").exists()
    with RunJournal.open(run, readonly=True) as j:
        counts = j.counts()
        assert counts["creating"] == 0  # nothing left in flight
        assert 0 < counts["created"] < 399 and counts["created"] == len(server.users(prod_key))
        assert j.sessions()[-1]["outcome"] == "stopped"
        assert any(e["kind"] == "stop" for e in j.events())
    st = _status(env, tmp_path, run)
    assert st["state"] == "stopped" and st["pid"] is None and st["exit_code"] == 130
    assert "run the same import command to resume" in _cli(env, tmp_path, "status", "--run", run).stdout
    assert _cli(env, tmp_path, "stop", "--run", run).returncode == 2  # nothing running now

    p = _cli(env, tmp_path, "import", export, "--run", run, "--yes", "--json")  # the same command resumes
    assert p.returncode == 0, p.stderr[-2000:]
    with RunJournal.open(run) as j:
        assert j.total_rows() == 400
        assert_guarantees(j, server, prod_key)
    assert _status(env, tmp_path, run)["state"] == "finished"


@pytest.mark.slow
def test_kill_9_of_the_worker_is_seen_dead_and_the_import_resumes_exactly(tmp_path: Path, sandbox_factory,
                                                                         prod_key, workers):
    server = sandbox_factory(latency_ms=25, jitter_ms=15, ambiguous_rate=0.05, ambiguous_hang_s=0.5,
                             fail_rate=0.03, seed=19)
    export = write_export(tmp_path / "users.json", 200, bad={3, 77})
    run = tmp_path / "run"
    env = _env(server, prod_key)
    args = ("--rate", "80", "--timeout", "0.4", "--max-attempts", "20")
    pid = _detach(env, tmp_path, export, run, workers, *args)
    _poll(lambda: _counts(run).get("created", 0) >= 50, "50 rows created by the worker")
    os.kill(pid, signal.SIGKILL)
    _poll(lambda: not _alive(pid), "the worker to die")
    st = _status(env, tmp_path, run)
    assert st["state"] == "dead" and st["pid"] == pid, st
    assert "resume" in st["message"]
    p = _cli(env, tmp_path, "import", export, "--run", run, "--yes", "--json", *args)
    assert p.returncode == 0, p.stderr[-2000:]
    with RunJournal.open(run) as j:
        assert j.total_rows() == 200  # journal rows == export rows
        assert_guarantees(j, server, prod_key)  # 0 lost, 0 duplicates, the right ids
    assert _status(env, tmp_path, run)["state"] == "finished"


@pytest.mark.slow
def test_two_clients_one_controls_both_get_the_result(tmp_path: Path, sandbox_factory, prod_key, workers):
    server = sandbox_factory(latency_ms=20)
    export = write_export(tmp_path / "users.json", 300)
    # deeper than a socket address can name (108 bytes): bound and reached through /proc/self/fd
    run = tmp_path / ("a" * 50) / ("b" * 50) / "run"
    run.parent.mkdir(parents=True)
    assert len(str(run / "worker.sock")) > 108
    env = _env(server, prod_key)
    pid = _detach(env, tmp_path, export, run, workers, "--rate", "40")

    async def scenario() -> None:
        a = await attach(run, label="console A")
        b = await attach(run, label="console B")
        try:
            assert await a.request_control()
            assert not await b.request_control()
            assert b.controller is not None and b.controller.label.startswith("console A")
            assert b.controller.pid == os.getpid() and b.controller.since <= time.time()
            with pytest.raises(NotController):
                await b.stop()
            await a.pause()
            await _until(lambda: b.state == "paused" and getattr(b.snapshot, "state", "") == "paused", "paused")
            st = read_status(run)
            assert st.state == "paused" and st.pid == pid and st.controller["label"].startswith("console A")
            # A hands over; B takes control and stops; both see the result
            await a.release_control()
            await _until(lambda: b.controller is None, "B to hear that nobody controls")
            assert await b.request_control()
            await _until(lambda: a.controller is not None and a.controller.label.startswith("console B"), "A told")
            with pytest.raises(NotController):
                await a.resume()
            await b.resume()
            await b.stop()
            ra, rb = await asyncio.gather(a.wait_result(60), b.wait_result(60))
            assert ra == rb and ra.exit_code == 130 and ra.stop_reason == "stopped"
            assert ra.summary["created"] + ra.summary["pending"] == 300
        finally:
            await a.close()
            await b.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
    _poll(lambda: not _alive(pid), "the worker to end")
    with RunJournal.open(run, readonly=True) as j:
        assert j.counts()["creating"] == 0 and j.sessions()[-1]["outcome"] == "stopped"


async def _until(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_attach_with_nothing_running_says_so(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(NotRunning):
        asyncio.run(attach(run))
    (run / "worker.sock").touch()  # a dead worker's leftover: nobody listens
    with pytest.raises(NotRunning):
        asyncio.run(attach(run))


# ----------------------------------------------------------------------------- refused before anything is spawned
def test_detach_refuses_in_the_foreground_before_spawning(tmp_path: Path, sandbox_factory, prod_key, dev_key):
    server = sandbox_factory()
    export = write_export(tmp_path / "users.json", 120)
    run = tmp_path / "run"
    # Production without --yes
    p = _cli(_env(server, prod_key), tmp_path, "import", export, "--run", run, "--detach")
    assert p.returncode == 2 and "--yes" in p.stderr and not run.exists()
    # Development without IMPORT_TO_DEV_INSTANCE
    p = _cli(_env(server, dev_key), tmp_path, "import", export, "--run", run, "--detach")
    assert p.returncode == 2 and "IMPORT_TO_DEV_INSTANCE" in p.stderr and not run.exists()
    # Development with room for 100: 120 rows do not fit (asked of the instance before spawning)
    p = _cli(_env(server, dev_key, IMPORT_TO_DEV_INSTANCE="true"), tmp_path, "import", export, "--run", run, "--detach")
    assert p.returncode == 2 and "at most 100" in p.stderr, p.stderr
    assert not (run / "worker.log").exists() and server.create_requests(dev_key) == 0
    # a changed export
    run2 = tmp_path / "run2"
    env = _env(server, prod_key)
    p = _cli(env, tmp_path, "import", export, "--run", run2, "--yes", "--rate", "1000")
    assert p.returncode == 0, p.stderr
    export.write_text(export.read_text().replace("user7@", "user7x@"))
    p = _cli(env, tmp_path, "import", export, "--run", run2, "--yes", "--detach")
    assert p.returncode == 2 and "changed" in p.stderr and not (run2 / "worker.log").exists()
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_a_second_session_is_refused_while_a_worker_holds_the_run(tmp_path: Path, sandbox_factory, prod_key,
                                                                  workers):
    server = sandbox_factory(latency_ms=20)
    export = write_export(tmp_path / "users.json", 300)
    run = tmp_path / "run"
    env = _env(server, prod_key)
    pid = _detach(env, tmp_path, export, run, workers, "--rate", "30")
    for args in (("import", export, "--run", run, "--yes", "--detach"), ("import", export, "--run", run, "--yes")):
        p = _cli(env, tmp_path, *args)
        assert p.returncode == 2 and "another clerk-migrate session" in p.stderr and f"pid {pid}" in p.stderr, p.stderr
    assert _cli(env, tmp_path, "stop", "--run", run).returncode == 0
    assert not _alive(pid) or _poll(lambda: not _alive(pid), "the worker to end")


# ----------------------------------------------------------------------------- signals to a foreground import
def _foreground(env: dict[str, str], cwd: Path, export: Path, run: Path, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "console", "import", str(export), "--run", str(run), "--yes", "--json",
           "--rate", "40"]
    return subprocess.Popen(cmd, env=env, cwd=cwd, **popen)


def _assert_stop_recorded(run: Path, server, key: str) -> None:
    with RunJournal.open(run, readonly=True) as j:
        counts = j.counts()
        assert counts["creating"] == 0 and counts["pending"] > 0
        assert counts["created"] == len(server.users(key))
        assert j.sessions()[-1]["outcome"] == "stopped"
        assert any(e["kind"] == "stop" for e in j.events())


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_sighup_or_sigterm_to_a_foreground_import_is_a_recorded_safe_stop(tmp_path: Path, sandbox_factory,
                                                                          prod_key, signum):
    server = sandbox_factory(latency_ms=30, jitter_ms=10)
    export = write_export(tmp_path / "users.json", 200)
    run = tmp_path / "run"
    proc = _foreground(_env(server, prod_key), tmp_path, export, run, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    try:
        _poll(lambda: _counts(run).get("created", 0) >= 20 or proc.poll() is not None, "20 rows created")
        proc.send_signal(signum)
        proc.send_signal(signum)  # a shell that hangs up sends it again: still a safe stop, not a cancel
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert json.loads(out)["pending"] > 0
    _assert_stop_recorded(run, server, prod_key)


@pytest.mark.slow
def test_a_closed_terminal_stops_a_foreground_import_safely(tmp_path: Path, sandbox_factory, prod_key):
    """The real thing: the import's controlling terminal goes away (the SSH session drops):
    the kernel sends SIGHUP, writes to the terminal fail; the stop is recorded, exit 130."""
    server = sandbox_factory(latency_ms=30, jitter_ms=10)
    export = write_export(tmp_path / "users.json", 200)
    run = tmp_path / "run"
    leader, follower = os.openpty()

    def controlling_tty() -> None:  # runs in the child after setsid: the pty becomes its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = _env(server, prod_key, TERM="xterm-256color")
    proc = _foreground(env, tmp_path, export, run, stdin=follower, stdout=follower, stderr=follower,
                       start_new_session=True, preexec_fn=controlling_tty)
    os.close(follower)
    try:
        seen = bytearray()

        def progressed() -> bool:
            while select.select([leader], [], [], 0)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen.extend(chunk)
            return _counts(run).get("created", 0) >= 20 or proc.poll() is not None

        _poll(progressed, "20 rows created")
        os.close(leader)  # hang up
        leader = -1
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if leader >= 0:
            os.close(leader)
    assert proc.returncode == 130
    _assert_stop_recorded(run, server, prod_key)


@pytest.mark.slow
def test_stop_command_stops_a_foreground_import(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=30)
    export = write_export(tmp_path / "users.json", 600)  # 15 s at 40/s: still running when stop comes
    run = tmp_path / "run"
    env = _env(server, prod_key)
    proc = _foreground(env, tmp_path, export, run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _poll(lambda: _counts(run).get("created", 0) >= 10 or proc.poll() is not None, "10 rows created")
        st = _status(env, tmp_path, run)
        assert st["state"] == "running" and st["pid"] == proc.pid and st["worker"] is False
        p = _cli(env, tmp_path, "stop", "--run", run, "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"run": str(run), "pid": proc.pid, "worker": False}
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    _assert_stop_recorded(run, server, prod_key)


# ----------------------------------------------------------------------------- retry and undo through a worker
@pytest.mark.slow
def test_retry_and_undo_detached(tmp_path: Path, sandbox_factory, prod_key, workers):
    server = sandbox_factory()
    server.seed_user(prod_key, {"email_address": ["user4@example.test"], "external_id": "someone-else",
                                "skip_password_requirement": True})
    export = write_export(tmp_path / "users.json", 30)
    run = tmp_path / "run"
    env = _env(server, prod_key)
    assert _cli(env, tmp_path, "import", export, "--run", run, "--yes").returncode == 1  # row 4: email taken

    p = _cli(env, tmp_path, "retry", "--run", run, "--code", "form_identifier_exists", "--detach", "--json")
    assert p.returncode == 0, p.stderr
    pid = json.loads(p.stdout)["pid"]
    workers.append(pid)
    _poll(lambda: not _alive(pid), "the retry worker to end")
    st = read_status(run).as_json()
    assert (st["state"], st["kind"], st["exit_code"], st["failed"]) == ("finished", "retry", 1, 1)
    # the whole result stays in the last heartbeat, for the starter that attaches too late
    kept = ended_result(run, pid)
    assert kept is not None and (kept.kind, kept.exit_code) == ("retry", 1) and kept.summary
    assert ended_result(run, pid + 1) is None and ended_result(run, None) is None  # another worker's: not this
    with RunJournal.open(run, readonly=True) as j:
        assert [s["kind"] for s in j.sessions()] == ["import", "retry"]

    p = _cli(env, tmp_path, "undo", "--run", run, "--yes", "--detach", "--json")
    assert p.returncode == 0, p.stderr
    pid = json.loads(p.stdout)["pid"]
    workers.append(pid)
    _poll(lambda: not _alive(pid), "the undo worker to end")
    st = read_status(run).as_json()
    assert (st["state"], st["kind"], st["exit_code"]) == ("finished", "undo", 0)
    assert [u["external_id"] for u in server.users(prod_key)] == ["someone-else"]  # only the run's users went


@pytest.mark.slow
def test_sighup_to_the_worker_is_a_safe_stop(tmp_path: Path, sandbox_factory, prod_key, workers):
    server = sandbox_factory(latency_ms=20)
    export = write_export(tmp_path / "users.json", 300)
    run = tmp_path / "run"
    env = _env(server, prod_key)
    pid = _detach(env, tmp_path, export, run, workers, "--rate", "40")
    _poll(lambda: _counts(run).get("created", 0) >= 10, "10 rows created")
    os.kill(pid, signal.SIGHUP)
    os.kill(pid, signal.SIGHUP)  # twice, as a shell that hangs up does
    _poll(lambda: not _alive(pid), "the worker to end")
    st = read_status(run).as_json()
    assert (st["state"], st["exit_code"], st["stop_reason"]) == ("stopped", 130, "stopped")
    with RunJournal.open(run, readonly=True) as j:
        assert j.counts()["creating"] == 0 and j.sessions()[-1]["outcome"] == "stopped"
    assert "safe stop requested (SIGHUP)" in (run / "worker.log").read_text()
