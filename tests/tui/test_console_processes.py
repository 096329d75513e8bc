"""The console with real processes (issue 19): `clerk-migrate --run DIR` in a pty on the
sandbox, its import in a worker process of its own.

- the terminal closes mid-import (SIGHUP to the console): the sandbox keeps receiving
  creates, `status` says running, a new console attaches and shows the live panel, the
  job finishes: every export row in the journal, no user created twice;
- the worker is killed (kill -9): the console says so, `status` says dead, the console
  resumes the run: the same guarantees;
- two consoles on one run: both watch, one controls at a time, the other says who and
  since when and takes over on purpose, both see the end.

Screens are read through a terminal emulator (pty_console.py); waits poll conditions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.migration.journal import RunJournal, is_run_folder
from console.migration.status import read_heartbeat
from tests.integration.engine_support import write_export

from pty_console import REPO, PtyConsole, console_env

pytestmark = pytest.mark.slow
RAIL = 24  # columns of the step rail: the pane is right of it


def pane(console: PtyConsole) -> str:
    """The words of the step pane (the rail beside it cuts wrapped lines)."""
    return " ".join(" ".join(line[RAIL:] for line in console.text().splitlines()).split())


def counts(run: Path) -> dict[str, int]:
    if not is_run_folder(run):
        return {}
    try:
        with RunJournal.open(run, readonly=True) as journal:
            return journal.counts()
    except Exception:  # noqa: BLE001 - being created right now
        return {}


def poll(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def status(env: dict[str, str], cwd: Path, run: Path) -> dict:
    p = subprocess.run([sys.executable, "-m", "console", "status", "--run", str(run), "--json"], env=env, cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (ProcessLookupError, OSError):
        return False


@pytest.fixture
def consoles():
    """Consoles a test opened, and the workers it saw: none outlives the test."""
    opened: list[PtyConsole] = []
    workers: list[int] = []
    yield opened, workers
    for console in opened:
        console.close()
    for pid in workers:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def open_console(opened: list[PtyConsole], run: Path, env: dict[str, str], cwd: Path) -> PtyConsole:
    console = PtyConsole(["--run", str(run)], env, cwd)
    opened.append(console)
    return console


def start_import_by_keys(console: PtyConsole, export: Path) -> None:
    """Setup (the key from the environment) -> Load -> Review -> Import, and the typed word."""
    console.wait_for(lambda c: "Clerk answers" in pane(c), "the live check")
    console.press("ctrl+n")
    console.wait_for(lambda c: "Load: the Auth.js export" in c.text(), "the Load step")
    console.type(str(export))
    console.press("enter")
    console.wait_for(lambda c: "rows checked" in pane(c), "the load")
    console.press("ctrl+n", "ctrl+n")
    console.wait_for(lambda c: "Type the word production below" in pane(c), "the Import plan")
    console.type("production")
    console.press("enter")


def assert_every_row_once(server, key: str, run: Path, rows: int) -> None:
    c = counts(run)
    assert sum(c.values()) == rows  # every export row is in the journal
    assert c["pending"] == 0 and c["creating"] == 0
    users = server.users(key)
    ids = [u["external_id"] for u in users]
    assert len(ids) == len(set(ids)), "a user was created twice"
    assert len(users) == c["created"] + c["existed"] == rows


def test_a_hung_up_console_leaves_the_import_running_and_a_new_one_attaches(tmp_path, sandbox_factory, prod_key,
                                                                            consoles):
    opened, workers = consoles
    server = sandbox_factory()
    export = write_export(tmp_path / "users.json", 1200)
    run = tmp_path / "run"
    env = console_env(server.url, prod_key)
    first = open_console(opened, run, env, tmp_path)
    start_import_by_keys(first, export)
    poll(lambda: counts(run).get("created", 0) >= 30, "30 users created")
    worker = read_heartbeat(run)["pid"]
    workers.append(worker)
    assert worker != first.pid and alive(worker)

    first.hang_up()  # the SSH connection drops
    first.wait_exit()
    sent = server.create_requests(prod_key)
    poll(lambda: server.create_requests(prod_key) >= sent + 30, "the sandbox to keep receiving creates")
    st = status(env, tmp_path, run)
    assert st["state"] == "running" and st["worker"] and st["pid"] == worker

    second = open_console(opened, run, env, tmp_path)
    took = second.wait_for(lambda c: f"pid {worker}" in pane(c), "the live panel", timeout=30)
    assert "Import: Sending" in pane(second) or "Import: Done" in pane(second)
    print(f"the second console showed the live panel after {took:.2f} s")
    second.wait_for(lambda c: "Import complete" in pane(c), "the end", timeout=90)
    poll(lambda: not alive(worker), "the worker to end")
    assert_every_row_once(server, prod_key, run, 1200)
    assert server.create_requests(prod_key) == 1200  # each row sent once
    second.press("ctrl+q")  # nothing runs: it quits without asking
    assert second.wait_exit() == 0


def test_a_killed_worker_is_said_and_the_console_resumes_the_run(tmp_path, sandbox_factory, prod_key, consoles):
    opened, workers = consoles
    server = sandbox_factory(latency_ms=20, jitter_ms=10)
    export = write_export(tmp_path / "users.json", 800)
    run = tmp_path / "run"
    env = console_env(server.url, prod_key)
    console = open_console(opened, run, env, tmp_path)
    start_import_by_keys(console, export)
    poll(lambda: counts(run).get("created", 0) >= 50, "50 users created")
    worker = read_heartbeat(run)["pid"]
    workers.append(worker)
    os.kill(worker, signal.SIGKILL)  # power loss, OOM killer
    console.wait_for(lambda c: "The worker went away" in pane(c), "the console to say so")
    poll(lambda: status(env, tmp_path, run)["state"] == "dead", "status to say dead", timeout=30)
    console.wait_for(lambda c: "ended without closing" in pane(c) and "Resume import" in pane(c), "the resume offer")
    console.type("production")
    console.press("enter")
    console.wait_for(lambda c: "Import complete" in pane(c), "the resumed import to end", timeout=90)
    resumed = read_heartbeat(run)["pid"]
    workers.append(resumed)
    assert resumed != worker
    assert_every_row_once(server, prod_key, run, 800)
    assert status(env, tmp_path, run)["state"] == "finished"


def test_the_demo_hung_up_mid_import_serves_its_sandbox_until_the_job_ends(tmp_path, consoles):
    """The demo's sandbox lives in the demo's process: after a hang-up it goes on without a
    terminal until the worker lets go of the run, then removes its temporary area."""
    opened, workers = consoles
    env = console_env("http://127.0.0.1:9", None, TMPDIR=str(tmp_path))
    demo = PtyConsole(["demo", "--rows", "1500"], env, tmp_path)
    opened.append(demo)
    demo.wait_for(lambda c: "Choose one of the demo sandbox's" in pane(c), "the demo")
    demo.press("enter")  # the Production-style key
    demo.wait_for(lambda c: "Clerk answers" in pane(c), "the live check")
    demo.press("ctrl+n", "enter")
    demo.wait_for(lambda c: "rows checked" in pane(c), "the load")
    demo.press("ctrl+n", "ctrl+n")
    demo.wait_for(lambda c: "Type the word production below" in pane(c), "the Import plan")
    demo.type("production")
    demo.press("enter")
    area = poll(lambda: next(iter(tmp_path.glob("clerk-migrate-demo-*")), None), "the demo's area")
    run = area / "run"
    poll(lambda: counts(run).get("created", 0) >= 30, "30 users created")
    worker = read_heartbeat(run)["pid"]
    workers.append(worker)
    demo.hang_up()
    made = counts(run)["created"]
    poll(lambda: counts(run).get("created", 0) >= made + 50, "the import to go on after the hang-up")
    assert demo.proc.poll() is None  # the demo serves its sandbox in the background
    st = status(env, tmp_path, run)
    assert st["state"] == "running" and st["pid"] == worker
    try:
        poll(lambda: demo.proc.poll() is not None, "the demo to end with its job", timeout=90)
    except AssertionError:
        wchan = Path(f"/proc/{demo.pid}/wchan").read_text() if alive(demo.pid) else "gone"
        raise AssertionError(f"the demo did not end (waiting in {wchan}; worker alive: {alive(worker)}; "
                             f"journal: {counts(run)})") from None
    assert not area.exists()  # removed once the job ended (no --keep)
    assert not alive(worker)


def test_two_consoles_watch_one_controls_and_both_see_the_end(tmp_path, sandbox_factory, prod_key, consoles):
    opened, workers = consoles
    server = sandbox_factory()
    export = write_export(tmp_path / "users.json", 1500)
    run = tmp_path / "run"
    env = console_env(server.url, prod_key)
    p = subprocess.run([sys.executable, "-m", "console", "import", str(export), "--run", str(run), "--yes",
                        "--detach", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    worker = json.loads(p.stdout)["pid"]
    workers.append(worker)
    a = open_console(opened, run, env, tmp_path)
    b = open_console(opened, run, env, tmp_path)
    for console in (a, b):
        console.wait_for(lambda c: f"pid {worker}" in pane(c) and "nobody controls it" in pane(c), "the live panel")

    a.press("p")  # the first to ask controls it: paused
    a.wait_for(lambda c: "you control it" in pane(c) and "Paused" in pane(c), "A to control and pause")
    b.wait_for(lambda c: f"watching: console (pid {a.pid}) controls it since" in pane(c), "B to say who controls it")
    held = counts(run)["created"]
    b.press("p")  # B does not control it: told who does, nothing changes
    b.wait_for(lambda c: f"console (pid {a.pid}) controls it since" in pane(c) and "t takes control" in pane(c),
               "B to be told")
    assert "Paused" in pane(b)
    b.press("t")  # on purpose
    b.wait_for(lambda c: "you control it" in pane(c), "B to take control")
    a.wait_for(lambda c: f"watching: console (pid {b.pid}) controls it since" in pane(c), "A to see B controls it")
    assert counts(run)["created"] == held  # still paused meanwhile
    b.press("p")  # resumes
    for console in (a, b):
        console.wait_for(lambda c: "Import complete" in pane(c), "the end on both", timeout=90)
    assert_every_row_once(server, prod_key, run, 1500)
    for console in (a, b):
        console.press("ctrl+q")
        assert console.wait_exit() == 0
    assert REPO.is_dir()
