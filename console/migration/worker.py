"""The worker: one job run detached from the terminal, owning its run folder.

Started by `start_worker` (control.py) as

    python -m console _worker --run DIR       (its own session; stdin a pipe; stdout/stderr DIR/worker.log)

it reads one JSON line from stdin, `{"spec": JobSpec, "settings": {...}, "key": "sk_..."}`,
so the key is never in its argv or environment, then:

1. takes the run lock (DIR/run.lock, the flock every writing session takes) for its
   whole life, with `for_job=True` so the job's own run_lock is the same hold;
2. binds DIR/worker.sock (mode 0600; through /proc/self/fd/N/ of an fd on DIR, so
   a long folder path never hits the 108-byte limit of a socket address);
3. writes DIR/worker.json (the heartbeat, atomically, every second);
4. runs the job, serving JSON lines to any number of clients (docs/jobs.md):
   snapshots 4 times a second, who controls the job, the result at the end; the
   one controlling client may pause, resume and stop;
5. at the end: the result to every client, a last heartbeat with `ended_at`,
   the socket removed, the lock let go; exit code = the job's.

SIGTERM, SIGHUP and SIGINT are a safe stop (in-flight requests finish, the
stop is recorded in the journal); repeated signals change nothing more. kill -9
leaves the heartbeat without `ended_at` and the lock free: status says dead,
and the next import resumes as after any crash.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError
from console.migration.jobs import BaseJob, JobResult, JobSpec, make_job, snapshot_to_json
from console.migration.status import (
    HEARTBEAT_EVERY_S,
    SOCKET_NAME,
    write_heartbeat,
)

WORKER_COMMAND = "_worker"
PROTOCOL = 1
SNAPSHOT_EVERY_S = 0.25  # the live panel's rate
LOG_PROGRESS_EVERY_S = 60.0
STDIN_MAX = 1 << 20
LINE_LIMIT = 16 << 20  # a result may list up to 1,000 mismatches
MAX_CLIENTS = 64
CLIENT_BUFFER_MAX = 4 << 20  # a client that reads nothing for this long is dropped
DRAIN_AT_END_S = 3.0


def socket_address(run_dir: Path, dir_fd: int | None) -> str:
    """The socket's address: the plain path when short, else through the fd on DIR."""
    plain = str(run_dir / SOCKET_NAME)
    if dir_fd is None or len(plain.encode()) < 100:
        return plain
    return f"/proc/self/fd/{dir_fd}/{SOCKET_NAME}"


def _scrubber(key: str | None):
    secrets = []
    if key:
        secrets.append(key)
        for prefix in ("sk_live_", "sk_test_"):
            if key.startswith(prefix) and len(key) > len(prefix) + 4:
                secrets.append(key[len(prefix):])

    def scrub(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "[key]")
        return text

    return scrub


@dataclass
class _Client:
    id: int
    writer: asyncio.StreamWriter
    pid: int | None
    uid: int | None
    label: str
    since: float

    def public(self) -> dict[str, Any]:
        return {"client": self.id, "pid": self.pid, "label": self.label, "since": self.since}


class Worker:
    def __init__(self, run_dir: Path, spec: JobSpec, settings: Any, *, scrub=lambda s: s) -> None:
        self.run_dir = run_dir
        self.spec = spec
        self.settings = settings
        self.scrub = scrub
        self.job: BaseJob | None = None
        self.result: JobResult | None = None
        self.started_at = time.time()
        self.clients: dict[int, _Client] = {}
        self.controller: _Client | None = None
        self.stop_source: str | None = None
        self._next_id = 1
        self._last_snapshot: Any = None
        self._last_sent_state: str | None = None
        self._journal: Any = None  # read-only: how many sessions the journal holds (status tells ours from later ones)
        self.sessions_before: int | None = None
        self.own_session = False

    # ----------------------------------------------------------------- log
    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        sys.stderr.write(f"{stamp} worker {os.getpid()}: {self.scrub(message)}\n")
        sys.stderr.flush()

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> str:
        if self.result is not None:
            return "stopped" if self.result.stop_reason else "finished"
        snap = self.job.snapshot() if self.job is not None else None
        phase = snap.state if snap is not None else None  # every snapshot type has a state
        if self.job is not None and self.job.stop_requested or phase == "stopping":
            return "stopping"
        if phase == "paused" or (self.job is not None and self.job.pause_requested):
            return "paused"
        if phase in (None, "idle", "starting", "loading"):
            return "starting"
        return "running"

    def heartbeat(self) -> dict[str, Any]:
        snap = self.job.snapshot() if self.job is not None else None
        beat: dict[str, Any] = {
            "protocol": PROTOCOL,
            "pid": os.getpid(),
            "kind": self.spec.kind,
            "state": self.state,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "socket": SOCKET_NAME,
            "controller": self.controller.public() if self.controller else None,
            "clients": len(self.clients),
            "snapshot": snapshot_to_json(snap) if snap is not None else None,
            "ended_at": None,
            "sessions_before": self.sessions_before,
            "own_session": self._own_session(),
        }
        if self.result is not None:
            beat.update(ended_at=time.time(), exit_code=self.result.exit_code, stop_reason=self.result.stop_reason,
                        message=self.result.message, stopped_by=self.stop_source,
                        result=self.result.to_json())  # for a client that attaches after the worker is gone
        return beat

    def _sessions(self) -> int | None:
        if self._journal is None:
            return None
        try:
            return len(self._journal.sessions())
        except Exception:  # noqa: BLE001 - a status hint, never a reason to stop the job
            return None

    def _own_session(self) -> bool:
        """Has the job opened its session in the journal yet (import, retry)?"""
        if not self.own_session and self.sessions_before is not None:
            now = self._sessions()
            self.own_session = now is not None and now > self.sessions_before
        return self.own_session

    def _beat(self) -> None:
        try:
            write_heartbeat(self.run_dir, self.heartbeat())
        except OSError as exc:  # a full disk must not end the job: the journal is what counts
            self.log(f"cannot write the heartbeat: {exc.strerror or exc}")

    # ----------------------------------------------------------------- main
    async def serve(self) -> int:
        from console.migration.run import run_lock

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        kind = self.spec.kind
        try:
            with run_lock(self.run_dir, f"{kind} worker", for_job=True):
                return await self._serve_locked()
        except MigrationError as exc:  # busy: another session holds the run
            self.log(f"not started: {exc.message}")
            return exc.exit_code

    async def _serve_locked(self) -> int:
        dir_fd = os.open(self.run_dir, os.O_RDONLY | os.O_DIRECTORY)
        address = socket_address(self.run_dir, dir_fd)
        sock_path = self.run_dir / SOCKET_NAME
        try:
            sock_path.unlink()  # a dead worker's socket (we hold the lock: nobody serves it)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(address)
        finally:
            os.umask(old_umask)
        os.chmod(sock_path, 0o600)
        sock.listen(16)
        server = await asyncio.start_unix_server(self._client, sock=sock, limit=LINE_LIMIT)
        try:
            from console.migration.run import open_run

            try:
                self._journal = open_run(self.run_dir, readonly=True)
                self.sessions_before = self._sessions()
            except MigrationError:
                self._journal = None  # a new run the job creates: no session before it
                self.sessions_before = 0
            self.job = make_job(self.spec, self.settings)
            if self.stop_source is not None:
                self.job.stop()
            self._beat()  # ready: start_worker waits for this beat
            self.log(f"{self.spec.kind} started on {self.run_dir} (job options: {json.dumps(self.spec.options, default=str)})")
            ticker = asyncio.create_task(self._tick())
            try:
                self.result = await self._run_job()
            finally:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            self._beat()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.log(f"{self.spec.kind} ended: exit {self.result.exit_code}"
                     + (f", {self.result.stop_reason}" if self.result.stop_reason else "")
                     + (f": {self.result.message}" if self.result.message else "")
                     + f" (cpu {usage.ru_utime + usage.ru_stime:.2f} s over {time.time() - self.started_at:.1f} s)")
            self._broadcast_snapshot(force=True)
            self._broadcast({"type": "result", "result": self.result.to_json()})
        finally:
            server.close()
            try:
                sock_path.unlink()
            except FileNotFoundError:
                pass
            await self._close_clients()
            os.close(dir_fd)
            if self._journal is not None:
                self._journal.close()
        return self.result.exit_code if self.result is not None else 70

    async def _run_job(self) -> JobResult:
        assert self.job is not None
        try:
            return await self.job.run()
        except Exception as exc:  # a bug: one line to the clients, the traceback to the log
            self.log("internal error:\n" + "".join(traceback.format_exception(exc)))
            return JobResult(70, f"internal error: {type(exc).__name__}: {self.scrub(str(exc))[:300]}",
                             "internal_error", {"run": str(self.run_dir)}, self.spec.kind)

    async def _tick(self) -> None:
        last_beat = 0.0
        last_log = time.monotonic()
        beat_state = None
        while True:
            now = time.monotonic()
            self._broadcast_snapshot()
            if now - last_beat >= HEARTBEAT_EVERY_S or self.state != beat_state:
                last_beat = now
                beat_state = self.state
                self._beat()
            if now - last_log >= LOG_PROGRESS_EVERY_S:
                last_log = now
                snap = self.job.snapshot() if self.job is not None else None
                if snap is not None:
                    self.log(f"progress: {_short(snap)}")
            await asyncio.sleep(SNAPSHOT_EVERY_S)

    def request_stop(self, source: str) -> None:
        if self.result is not None:
            return
        if self.job is None:  # a signal before the job exists: applied when it does
            self.stop_source = self.stop_source or source
            return
        if self.stop_source is None:
            self.stop_source = source
            self.log(f"safe stop requested ({source}): finishing the requests in flight")
        self.job.stop()
        self._broadcast_snapshot(force=True)

    # ----------------------------------------------------------------- clients
    def _send(self, client: _Client, message: dict[str, Any]) -> None:
        if client.writer.is_closing():
            return
        transport = client.writer.transport
        if transport.get_write_buffer_size() > CLIENT_BUFFER_MAX:
            self.log(f"client {client.id} (pid {client.pid}) reads nothing: dropped")
            client.writer.close()
            return
        client.writer.write((json.dumps(message, ensure_ascii=False, default=str) + "\n").encode())

    def _broadcast(self, message: dict[str, Any]) -> None:
        for client in list(self.clients.values()):
            self._send(client, message)

    def _snapshot_message(self) -> dict[str, Any] | None:
        snap = self.job.snapshot() if self.job is not None else None
        return {
            "type": "snapshot",
            "state": self.state,
            "at": time.time(),
            "snapshot": snapshot_to_json(snap) if snap is not None else None,
        }

    def _broadcast_snapshot(self, force: bool = False) -> None:
        snap = self.job.snapshot() if self.job is not None else None
        state = self.state
        if not force and snap is self._last_snapshot and state == self._last_sent_state:
            return
        self._last_snapshot = snap
        self._last_sent_state = state
        if self.clients:
            message = self._snapshot_message()
            if message is not None:
                self._broadcast(message)

    def _control_changed(self) -> None:
        holder = self.controller.public() if self.controller else None
        self._broadcast({"type": "control", "controller": holder})
        self._beat()

    def _hello(self, client: _Client) -> dict[str, Any]:
        return {
            "type": "hello",
            "protocol": PROTOCOL,
            "client": client.id,
            "kind": self.spec.kind,
            "pid": os.getpid(),
            "run": str(self.run_dir),
            "started_at": self.started_at,
            "state": self.state,
            "can_pause": bool(self.job is not None and self.job.can_pause),
            "controller": self.controller.public() if self.controller else None,
        }

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid = uid = None
        sock = writer.get_extra_info("socket")
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _gid = struct.unpack("3i", creds)
        except (OSError, AttributeError):
            pass
        if uid is not None and uid not in (os.getuid(), 0):
            writer.close()  # the socket is 0600 in a 0700 folder: this should not happen
            return
        if len(self.clients) >= MAX_CLIENTS:
            writer.write(b'{"type": "error", "code": "too_many_clients", "message": "too many clients attached"}\n')
            writer.close()
            return
        client = _Client(self._next_id, writer, pid, uid, f"pid {pid}", time.time())
        self._next_id += 1
        self.clients[client.id] = client
        try:
            self._send(client, self._hello(client))
            first = self._snapshot_message()
            if first is not None and first["snapshot"] is not None:
                self._send(client, first)
            if self.result is not None:
                self._send(client, {"type": "result", "result": self.result.to_json()})
                return
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    break
                if not line:
                    break
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError
                except ValueError:
                    self._send(client, {"type": "reply", "id": None, "ok": False, "code": "bad_request",
                                        "message": "one JSON object per line"})
                    continue
                self._handle(client, request)
        except (ConnectionError, OSError):
            pass
        finally:
            self.clients.pop(client.id, None)
            if self.controller is client:
                self.controller = None
                self.log(f"control released: {client.label} disconnected")
                self._control_changed()
            if not writer.is_closing():
                writer.close()

    def _handle(self, client: _Client, request: dict[str, Any]) -> None:
        cmd = request.get("cmd")
        rid = request.get("id")

        def reply(ok: bool = True, code: str | None = None, message: str | None = None, **extra: Any) -> None:
            self._send(client, {"type": "reply", "id": rid, "cmd": cmd, "ok": ok, "code": code, "message": message,
                                **extra})

        if cmd == "hello":
            label = str(request.get("label") or "").strip()[:80]
            if label:
                client.label = f"{label} (pid {client.pid})" if client.pid else label
            reply(client=client.id)
            return
        if cmd == "ping":
            reply()
            return
        if cmd == "control":
            holder = self.controller
            if holder is None or holder is client or request.get("force"):
                taken_from = holder if holder is not None and holder is not client else None
                if holder is not client:
                    client.since = time.time()
                self.controller = client
                self.log(f"control: {client.label}" + (f" (taken over from {taken_from.label})" if taken_from else ""))
                reply(controller=client.public())
                self._control_changed()
            else:
                reply(False, "controlled", f"{holder.label} controls this {self.spec.kind} since "
                      f"{time.strftime('%H:%M:%S', time.localtime(holder.since))}", controller=holder.public())
            return
        if cmd == "release":
            if self.controller is client:
                self.controller = None
                self.log(f"control released by {client.label}")
                self._control_changed()
            reply()
            return
        if cmd in ("pause", "resume", "stop"):
            if self.controller is not client:
                holder = self.controller
                why = (f"{holder.label} controls this {self.spec.kind}" if holder
                       else "ask for control first")
                reply(False, "not_controller", why, controller=holder.public() if holder else None)
                return
            if self.result is not None:
                reply(False, "ended", f"the {self.spec.kind} has ended")
                return
            assert self.job is not None
            try:
                if cmd == "pause":
                    self.job.pause()
                elif cmd == "resume":
                    self.job.resume()
                else:
                    self.request_stop(f"asked by {client.label}")
            except MigrationError as exc:
                reply(False, exc.code, exc.message)
                return
            if cmd != "stop":
                self.log(f"{cmd} asked by {client.label}")
            reply()
            self._broadcast_snapshot(force=True)
            self._beat()
            return
        reply(False, "bad_request", f"unknown command {cmd!r}")

    async def _close_clients(self) -> None:
        writers = [c.writer for c in self.clients.values()]
        for w in writers:
            try:
                await asyncio.wait_for(w.drain(), DRAIN_AT_END_S)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
            w.close()
        for w in writers:
            try:
                await asyncio.wait_for(w.wait_closed(), 1.0)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass


def _short(snap: Any) -> str:
    fields = ("created", "existed", "failed", "pending", "checked", "deleted", "gone", "total", "state")
    parts = [f"{f} {getattr(snap, f)}" for f in fields if hasattr(snap, f)]
    rate = getattr(snap, "rate_now", None)
    if rate:
        parts.append(f"{rate:.1f}/s")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- entry point
def _read_payload() -> dict[str, Any]:
    data = b""
    while len(data) <= STDIN_MAX:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    # stdin away from the starter: nothing more comes that way
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if len(data) > STDIN_MAX:
        raise MigrationError("the job description on stdin is too long", 2, "bad_spec")
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MigrationError("no job description on stdin (this command is started by clerk-migrate itself)",
                             2, "bad_spec") from None
    if not isinstance(payload, dict):
        raise MigrationError("the job description on stdin is not an object", 2, "bad_spec")
    return payload


def settings_from_json(conf: dict[str, Any], key: Any) -> Any:
    """The starter's Settings again (control.settings_to_json), with the key from stdin."""
    import dataclasses

    from console.settings import Settings

    kwargs: dict[str, Any] = {"secret_key": key}
    for f in dataclasses.fields(Settings):
        if f.name in conf and f.name != "secret_key":
            value = conf[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) and "tuple" in str(f.type) else value
    kwargs.setdefault("key_source", "env")
    return Settings(**kwargs)


def worker_main(argv: list[str]) -> int:
    """`python -m console _worker --run DIR`: the detached worker (started by start_worker)."""
    from console.settings import SecretKey

    if len(argv) != 2 or argv[0] != "--run":
        sys.stderr.write("clerk-migrate: _worker is started by `import --detach`, not by hand\n")
        return 2
    run_dir = Path(argv[1]).resolve()
    scrub = _scrubber(None)
    try:
        payload = _read_payload()
        key = payload.get("key")
        scrub = _scrubber(key if isinstance(key, str) else None)
        spec = JobSpec.from_json(payload.get("spec"))
        if Path(spec.run_dir).resolve() != run_dir:
            raise MigrationError("the job's run folder is not the worker's", 2, "bad_spec")
        settings = settings_from_json(payload.get("settings") or {},
                                      SecretKey(key) if isinstance(key, str) and key else None)
        del payload, key
        worker = Worker(run_dir, spec, settings, scrub=scrub)
        return asyncio.run(worker.serve())
    except MigrationError as exc:
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker {os.getpid()}: not started: "
                         f"{scrub(exc.message)}\n")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the log says it; never the key
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker {os.getpid()}: internal error:\n{scrub(text)}")
        return 70


__all__ = ["PROTOCOL", "WORKER_COMMAND", "Worker", "socket_address", "worker_main"]
