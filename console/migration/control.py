"""The client side of a worker: start one, attach to it, control it.

    pid = start_worker(run_dir, JobSpec("import", str(run_dir), {...}), settings)   # blocking, ~0.5 s
    link = await attach(run_dir, label="console")       # NotRunning when no worker serves DIR
    async for event in link.events():                    # control, snapshot, ..., then result (or lost)
        ...
    await link.request_control()   # True: this link controls the job; False: link.controller does
    await link.pause(); await link.resume(); await link.stop()   # NotController unless it controls
    result = await link.wait_result()                   # JobResult; WorkerLost if the worker died
    await link.close()

Everything after `start_worker` is asyncio-native and never blocks the loop it
runs on (the console runs it on Textual's loop; the CLI on asyncio.run). See
docs/jobs.md for the wire protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError
from console.migration.jobs import JobResult, JobSpec, snapshot_from_json
from console.migration.status import (
    LOG_NAME,
    SOCKET_NAME,
    lock_holder,
    pid_alive,
    read_heartbeat,
)
from console.migration.worker import LINE_LIMIT, PROTOCOL, WORKER_COMMAND

READY_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 15.0
POLL_S = 0.02


class NotRunning(MigrationError):
    """No worker serves the run folder (nothing runs, it ended, or it died)."""

    code = "not_running"


class NotController(MigrationError):
    """Another client controls the job (or this one never asked)."""

    code = "not_controller"


class WorkerLost(MigrationError):
    """The connection ended without a result: the worker died (kill -9, power loss)."""

    code = "worker_lost"


# ----------------------------------------------------------------------------- starting a worker
_children: list[subprocess.Popen] = []


def reap_workers() -> None:
    """Collect the exit status of workers this process started that have ended (no zombies
    in a long-lived console)."""
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


def _worker_env(key: str | None) -> dict[str, str]:
    """The starter's environment without the key (the worker reads it from stdin):
    /proc/PID/environ of the worker must not show it."""
    secrets = [key] if key else []
    if key:
        for prefix in ("sk_live_", "sk_test_"):
            if key.startswith(prefix):
                secrets.append(key[len(prefix):])
    env = {}
    for name, value in os.environ.items():
        if name == "CLERK_SECRET_KEY" or any(s and s in value for s in secrets):
            continue
        env[name] = value
    return env


def settings_to_json(settings: Any) -> dict[str, Any]:
    """Every field of the Settings but the key, as JSON (the key travels apart)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        if f.name == "secret_key":
            continue
        value = getattr(settings, f.name)
        value = list(value) if isinstance(value, tuple) else value
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue  # not plain data: the worker keeps that field's default
        out[f.name] = value
    return out


def start_worker(
    run_dir: str | os.PathLike[str],
    spec: JobSpec,
    settings: Any,
    *,
    ready_timeout_s: float = READY_TIMEOUT_S,
    python: str | None = None,
) -> int:
    """Start a detached worker for `spec` on the (prepared) run folder; return its pid
    once it holds the run and serves its socket. Raises MigrationError (code "busy",
    "worker_failed", ...) with the worker's own one line when it could not start.
    Blocking (polls for up to a second or so): from an event loop, run it in a thread."""
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise MigrationError(f"{run_dir}: no such run folder", 2, "not_a_run")
    holder = lock_holder(run_dir)
    if holder is not None:
        raise MigrationError(
            f"{run_dir}: another clerk-migrate session is working on this run (pid {holder or '?'}); "
            f"see `clerk-migrate status --run {run_dir}`", 2, "busy")
    key_obj = getattr(settings, "secret_key", None)
    key = key_obj.reveal() if key_obj is not None else None
    payload = {
        "spec": {**spec.to_json(), "run_dir": str(run_dir)},
        "settings": settings_to_json(settings),
        "key": key,
    }
    log_path = run_dir / LOG_NAME
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(log_fd, 0o600)
        log_start = os.fstat(log_fd).st_size
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "console", WORKER_COMMAND, "--run", str(run_dir)],
            stdin=subprocess.PIPE,
            stdout=log_fd,
            stderr=log_fd,
            cwd=str(run_dir),
            env=_worker_env(key),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(log_fd)
    _children.append(proc)
    assert proc.stdin is not None
    try:
        proc.stdin.write((json.dumps(payload) + "\n").encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    del payload, key
    deadline = time.monotonic() + ready_timeout_s
    while True:
        beat = read_heartbeat(run_dir)
        if beat and beat.get("pid") == proc.pid:
            return proc.pid
        if proc.poll() is not None:
            raise MigrationError(_log_tail(log_path, log_start) or f"the worker ended at once (exit {proc.returncode})",
                                 proc.returncode if proc.returncode in (1, 2) else 2, "worker_failed")
        if time.monotonic() > deadline:
            raise MigrationError(f"the worker (pid {proc.pid}) did not start within {ready_timeout_s:.0f} s: "
                                 f"see {log_path}", 2, "worker_failed")
        time.sleep(POLL_S)


def _log_tail(path: Path, start: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            text = fh.read(65536).decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    last = lines[-1]
    # "2024-01-01 12:00:00 worker 123: not started: <why>" -> <why>
    marker = "not started: "
    return last.split(marker, 1)[1] if marker in last else last


# ----------------------------------------------------------------------------- attaching
@dataclass(frozen=True)
class Controller:
    client: int
    pid: int | None
    label: str
    since: float

    @classmethod
    def from_json(cls, data: Any) -> "Controller | None":
        if not isinstance(data, dict):
            return None
        return cls(int(data.get("client") or 0), data.get("pid"), str(data.get("label") or ""),
                   float(data.get("since") or 0.0))


@dataclass(frozen=True)
class JobEvent:
    """What a link reports: `type` is "control" (controller), "snapshot" (snapshot, state),
    "result" (result) or "lost" (the worker went away without a result)."""

    type: str
    snapshot: Any = None
    state: str | None = None
    controller: Controller | None = None
    result: JobResult | None = None


class JobLink:
    """One connection to a worker. Use it from one event loop."""

    def __init__(self, run_dir: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 hello: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self._reader = reader
        self._writer = writer
        self.kind: str = str(hello.get("kind") or "")
        self.pid: int = int(hello.get("pid") or 0)
        self.client_id: int = int(hello.get("client") or 0)
        self.started_at: float = float(hello.get("started_at") or 0.0)
        self.can_pause: bool = bool(hello.get("can_pause"))
        self.state: str = str(hello.get("state") or "running")
        self.controller: Controller | None = Controller.from_json(hello.get("controller"))
        self.snapshot: Any = None
        self.result: JobResult | None = None
        self.ended = False
        self._snap_seq = 0
        self._ctrl_seq = 1
        self._cond = asyncio.Condition()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._task = asyncio.create_task(self._read_loop(), name=f"job link {run_dir}")

    # -- state -------------------------------------------------------------------
    @property
    def has_control(self) -> bool:
        return self.controller is not None and self.controller.client == self.client_id

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def _read_loop(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                kind = msg.get("type")
                if kind == "snapshot":
                    data = msg.get("snapshot")
                    try:
                        self.snapshot = snapshot_from_json(data) if data else None
                    except (ValueError, TypeError):
                        self.snapshot = None
                    self.state = str(msg.get("state") or self.state)
                    self._snap_seq += 1
                elif kind == "control":
                    new = Controller.from_json(msg.get("controller"))
                    if new != self.controller:
                        self.controller = new
                        self._ctrl_seq += 1
                elif kind == "result":
                    self.result = JobResult.from_json(msg.get("result") or {})
                    self.state = "stopped" if self.result.stop_reason else "finished"
                elif kind == "reply":
                    if "controller" in msg and msg.get("cmd") in ("control", "release"):
                        new = Controller.from_json(msg.get("controller"))
                        if new != self.controller:
                            self.controller = new
                            self._ctrl_seq += 1
                    fut = self._pending.pop(msg.get("id"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                await self._notify()
        except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(self._lost())
            self._pending.clear()
            with contextlib.suppress(Exception):
                await self._notify()

    def _lost(self) -> MigrationError:
        if self.result is not None:
            return MigrationError(f"the {self.kind} has ended", 2, "ended")
        return WorkerLost(f"the {self.kind} worker (pid {self.pid}) went away without a result (killed?): "
                          f"`clerk-migrate status --run {self.run_dir}` says more; run the import again to resume")

    # -- requests ----------------------------------------------------------------
    async def _request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        if self.ended:
            raise self._lost()
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._writer.write((json.dumps({"cmd": cmd, "id": rid, **fields}) + "\n").encode())
            await self._writer.drain()
        except (ConnectionError, OSError):
            self._pending.pop(rid, None)
            raise self._lost() from None
        try:
            return await asyncio.wait_for(fut, REQUEST_TIMEOUT_S)
        finally:
            self._pending.pop(rid, None)

    async def hello(self, label: str) -> None:
        await self._request("hello", label=label)

    async def request_control(self, *, force: bool = False) -> bool:
        """Ask to control the job: True when granted (or already held); False when another
        client holds it (`self.controller` says who and since when). force=True takes it over
        (the one holding it is told)."""
        reply = await self._request("control", force=force)
        if reply.get("ok"):
            return True
        if reply.get("code") == "controlled":
            return False
        raise MigrationError(reply.get("message") or "control refused", 2, reply.get("code") or "refused")

    async def release_control(self) -> None:
        await self._request("release")

    async def _command(self, cmd: str) -> None:
        reply = await self._request(cmd)
        if reply.get("ok"):
            return
        code = reply.get("code") or "refused"
        message = reply.get("message") or f"{cmd} refused"
        if code == "not_controller":
            raise NotController(message, 2, code)
        raise MigrationError(message, 2, code)

    async def pause(self) -> None:
        await self._command("pause")

    async def resume(self) -> None:
        await self._command("resume")

    async def stop(self) -> None:
        """A safe stop: the worker finishes the requests in flight, then sends the result."""
        await self._command("stop")

    # -- reading -----------------------------------------------------------------
    async def events(self) -> AsyncIterator[JobEvent]:
        """Every change from now on, newest only (a slow reader skips snapshots, never the
        result): first the current controller and snapshot, then each change, then one
        "result" or "lost" event, and the iteration ends."""
        seen_snap = 0
        seen_ctrl = 0
        while True:
            async with self._cond:
                await self._cond.wait_for(
                    lambda: self._snap_seq != seen_snap or self._ctrl_seq != seen_ctrl or self.ended
                    or self.result is not None
                )
                out: list[JobEvent] = []
                if self._ctrl_seq != seen_ctrl:
                    seen_ctrl = self._ctrl_seq
                    out.append(JobEvent("control", controller=self.controller))
                if self._snap_seq != seen_snap:
                    seen_snap = self._snap_seq
                    out.append(JobEvent("snapshot", snapshot=self.snapshot, state=self.state))
                final = None
                if self.result is not None:
                    final = JobEvent("result", result=self.result, state=self.state)
                elif self.ended:
                    final = JobEvent("lost", state="dead")
            for event in out:
                yield event
            if final is not None:
                yield final
                return

    async def snapshots(self) -> AsyncIterator[Any]:
        """The snapshots only (newest first-come), until the job ends."""
        async for event in self.events():
            if event.type == "snapshot" and event.snapshot is not None:
                yield event.snapshot

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.snapshots()

    async def wait_result(self, timeout: float | None = None) -> JobResult:
        """The job's result; WorkerLost if the worker went away without one."""
        async def wait() -> None:
            async with self._cond:
                await self._cond.wait_for(lambda: self.result is not None or self.ended)

        await asyncio.wait_for(wait(), timeout)
        if self.result is None:
            raise self._lost()
        return self.result

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        reap_workers()

    async def __aenter__(self) -> "JobLink":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def ended_result(run_dir: str | os.PathLike[str], pid: int | None) -> JobResult | None:
    """The result of the worker `pid` that already ended, as its last heartbeat keeps it:
    for a client that started a short job and reached the folder after the worker had
    gone (nobody was attached to hear the result). None when that worker left none."""
    beat = read_heartbeat(run_dir)
    if not beat or pid is None or beat.get("pid") != pid or not beat.get("ended_at"):
        return None
    result = beat.get("result")
    return JobResult.from_json(result) if isinstance(result, dict) else None


async def attach(run_dir: str | os.PathLike[str], *, label: str = "clerk-migrate",
                 timeout: float = 5.0) -> JobLink:
    """Connect to the worker serving the run folder. NotRunning when none does."""
    run_dir = Path(run_dir).resolve()
    path = run_dir / SOCKET_NAME
    if not path.exists():
        raise NotRunning(f"{run_dir}: no worker is running on this run", 2)
    dir_fd = None
    address = str(path)
    if len(address.encode()) >= 100:
        dir_fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
        address = f"/proc/self/fd/{dir_fd}/{SOCKET_NAME}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(address, limit=LINE_LIMIT), timeout)
    except (ConnectionRefusedError, FileNotFoundError):
        raise NotRunning(f"{run_dir}: no worker answers on this run (it ended or died): "
                         f"see `clerk-migrate status --run {run_dir}`", 2) from None
    except (OSError, asyncio.TimeoutError) as exc:
        raise NotRunning(f"{run_dir}: cannot reach the worker ({exc})", 2) from None
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
        hello = json.loads(line) if line else None
    except (asyncio.TimeoutError, ValueError, ConnectionError, OSError):
        hello = None
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        writer.close()
        raise NotRunning(f"{run_dir}: the worker did not answer", 2)
    if int(hello.get("protocol") or 0) != PROTOCOL:
        writer.close()
        raise MigrationError(f"{run_dir}: the worker speaks protocol {hello.get('protocol')}, this version "
                             f"{PROTOCOL}: use the same clerk-migrate", 2, "protocol")
    link = JobLink(run_dir, reader, writer, hello)
    try:
        await link.hello(label)
    except MigrationError:
        pass  # it ended meanwhile: the link still has the result
    return link


# ----------------------------------------------------------------------------- stop
@dataclass(frozen=True)
class StopOutcome:
    pid: int
    worker: bool  # a detached worker (else a foreground session stopped by SIGTERM)
    result: JobResult | None  # the worker's result (None for a foreground session)


async def stop_run(run_dir: str | os.PathLike[str], *, force: bool = False, label: str = "clerk-migrate stop",
                   wait_s: float = 600.0) -> StopOutcome:
    """A safe stop of whatever works on the run, waiting until nothing is in flight.

    A worker: take control (force=True takes it from another client), ask it to stop,
    wait for its result and for its lock to go. A foreground session (an `import` in a
    terminal, holding the lock): SIGTERM, which it takes as a safe stop, then wait for
    the lock to go. NotRunning when nothing works on it; NotController when another
    client controls the worker and force is False."""
    run_dir = Path(run_dir).resolve()
    try:
        link = await attach(run_dir, label=label)
    except NotRunning:
        link = None
    if link is not None:
        try:
            try:
                granted = link.result is not None or await link.request_control(force=force)
            except MigrationError:
                granted = True  # it ended meanwhile: its result is there (or it died: wait_result says so)
            if link.result is None and not link.ended:
                if not granted:
                    holder = link.controller
                    since = time.strftime("%H:%M:%S", time.localtime(holder.since)) if holder else "?"
                    raise NotController(
                        f"{holder.label if holder else 'another client'} controls this {link.kind} since {since}: "
                        "stop it there, or pass --force to take over", 2)
                with contextlib.suppress(MigrationError):
                    await link.stop()
            result = await link.wait_result(wait_s)
        finally:
            await link.close()
        await _wait_lock_gone(run_dir, link.pid, 30.0)
        return StopOutcome(link.pid, True, result)
    holder = lock_holder(run_dir)
    if not holder:
        raise NotRunning(f"{run_dir}: nothing is running on this run", 2)
    import signal

    os.kill(holder, signal.SIGTERM)  # the holder of the run's flock: a clerk-migrate session
    if not await _wait_lock_gone(run_dir, holder, wait_s):
        raise MigrationError(f"pid {holder} still holds {run_dir} after {wait_s:.0f} s", 2, "stop_timeout")
    return StopOutcome(holder, False, None)


async def _wait_lock_gone(run_dir: Path, pid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        holder = lock_holder(run_dir)
        if holder != pid or not pid_alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


__all__ = [
    "Controller",
    "JobEvent",
    "JobLink",
    "NotController",
    "NotRunning",
    "StopOutcome",
    "WorkerLost",
    "attach",
    "reap_workers",
    "start_worker",
    "stop_run",
]
