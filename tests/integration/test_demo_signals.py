"""`clerk-migrate demo` removes its temporary run area also when its terminal
closes (SIGHUP) or it is killed politely (SIGTERM), not only on ctrl+q."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _drain(fd: int) -> bytes:
    """Whatever the console wrote so far (it must not block on a full pty)."""
    out = b""
    while select.select([fd], [], [], 0.05)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_demo_area_removed_on_signal(tmp_path: Path, signum: int) -> None:
    leader, follower = pty.openpty()
    env = dict(os.environ, TMPDIR=str(tmp_path), TERM="xterm-256color", COLUMNS="100", LINES="30")
    env.pop("CLERK_SECRET_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "demo", "--rows", "50"],
        stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True,
        start_new_session=True,
    )
    os.close(follower)
    try:
        areas = lambda: list(tmp_path.glob("clerk-migrate-demo-*"))  # noqa: E731
        _wait(lambda: any((a / "authjs-users.json").exists() for a in areas()), 60, "the demo area")
        # let the console come up and draw (reading the pty keeps it from blocking)
        seen = bytearray()
        _wait(lambda: seen.extend(_drain(leader)) or b"Setup" in seen, 60, "the console to draw")
        proc.send_signal(signum)
        _wait(lambda: _drain(leader) is not None and proc.poll() is not None, 30, "the demo to exit")
        assert areas() == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        os.close(leader)
