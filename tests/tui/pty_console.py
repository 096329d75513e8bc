"""A real `clerk-migrate` console in a pseudo-terminal, read as a terminal draws it.

The process is its pty's session leader with the pty as its controlling terminal,
so closing our side is what a dropped SSH connection does: the kernel sends it
SIGHUP. The screen is emulated by pyte (80x24 unless told), so tests read what
an operator would see. Every wait polls a condition with a deadline."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

REPO = Path(__file__).resolve().parents[2]
KEYS = {"enter": b"\r", "escape": b"\x1b", "tab": b"\t", "ctrl+n": b"\x0e", "ctrl+q": b"\x11", "ctrl+r": b"\x12",
        "down": b"\x1b[B", "up": b"\x1b[A"}


def console_env(base_url: str, key: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.pop("IMPORT_TO_DEV_INSTANCE", None)
    env.update(CLERK_API_URL=base_url, PYTHONPATH=str(REPO), TERM="xterm-256color", **extra)
    if key:
        env["CLERK_SECRET_KEY"] = key
    return env


def _controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyConsole:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, size: tuple[int, int] = (80, 24)) -> None:
        cols, rows = size
        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "console", *args], stdin=follower, stdout=follower,
                                     stderr=follower, env=env, cwd=cwd, start_new_session=True,
                                     preexec_fn=_controlling_tty, close_fds=True)
        os.close(follower)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pump(self, wait: float = 0.05) -> None:
        """Feed what the console wrote so far to the emulated screen (never blocks long)."""
        if self.closed:
            return
        while select.select([self.leader], [], [], wait)[0]:
            wait = 0
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:  # the console is gone
                return
            if not chunk:
                return
            self.stream.feed(chunk)

    def text(self) -> str:
        self.pump(0)
        return "\n".join(self.screen.display)

    def words(self) -> str:
        return " ".join(self.text().split())

    def wait_for(self, condition, what: str, timeout: float = 30.0) -> float:
        """Poll until `condition(self)` (or a string on screen) holds; the seconds it took."""
        start = time.monotonic()
        check = (lambda c: condition in c.text()) if isinstance(condition, str) else condition
        while not check(self):
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{self.text()}")
            if self.proc.poll() is not None and not isinstance(condition, str):
                self.pump(0)
            self.pump(0.05)
        return time.monotonic() - start

    def press(self, *keys: str) -> None:
        for key in keys:
            os.write(self.leader, KEYS.get(key, key.encode()))
            self.pump(0.02)

    def type(self, text: str) -> None:
        os.write(self.leader, text.encode())
        self.pump(0.02)

    def hang_up(self) -> None:
        """Close the terminal, as a dropped SSH connection does (the console gets SIGHUP)."""
        if not self.closed:
            self.closed = True
            os.close(self.leader)

    def wait_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("the console did not exit")
            self.pump(0.05)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.hang_up()
