"""What a run folder is doing now: `RunStatus` from the journal, the worker's
heartbeat and the run lock, without talking to anyone.

    st = read_status(run_dir)      # NotARunFolder / NewerJournal (JournalError) otherwise
    st.state                       # new, running, paused, stopped, finished, dead
    st.pid, st.rate, st.eta_s, st.controller, st.summary (the status --json counts)

How the state is decided (docs/jobs.md):
- the lock (DIR/run.lock, an flock) is held: a session is working. With a fresh
  heartbeat of that same pid it is a detached worker: `paused` when its job is
  paused, else `running` (`phase` says reconciling, stopping, ...). Without one it
  is a foreground session (`import` in a terminal, the console): `running`.
- the lock is free: a heartbeat that never wrote its end, or an import/retry session
  the journal never closed (no outcome), means the holder died (kill -9, power
  loss): `dead`; the next `import` resumes it. Else the last thing that ended says
  `stopped` (a stop or a refusal) or `finished`; nothing ever ran: `new`.

The lock is probed without taking it (/proc/locks names the pid holding an flock),
so a status read can never make a starting import fail as "busy"; where
/proc/locks is missing, a shared non-blocking flock is tried and dropped at once.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LOCK_NAME = "run.lock"  # as console.migration.run.LOCK_NAME
SOCKET_NAME = "worker.sock"
HEARTBEAT_NAME = "worker.json"
LOG_NAME = "worker.log"
HEARTBEAT_EVERY_S = 1.0
STALE_AFTER_S = 5.0  # a heartbeat older than this, its lock free: the worker is gone

STATES = ("new", "running", "paused", "stopped", "finished", "dead")


# ----------------------------------------------------------------------------- heartbeat file
def write_heartbeat(run_dir: str | os.PathLike[str], beat: dict[str, Any]) -> None:
    """Atomically replace DIR/worker.json (0600): a reader sees the old or the new one."""
    path = Path(run_dir) / HEARTBEAT_NAME
    tmp = path.with_name(f".{HEARTBEAT_NAME}.{os.getpid()}.tmp")
    data = json.dumps(beat, ensure_ascii=False, default=str).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_heartbeat(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(run_dir) / HEARTBEAT_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ----------------------------------------------------------------------------- the lock, probed
def lock_holder(run_dir: str | os.PathLike[str]) -> int | None:
    """The pid holding DIR/run.lock, or None when nobody does. 0: held, pid unknown."""
    path = Path(run_dir) / LOCK_NAME
    try:
        st = path.stat()
    except OSError:
        return None
    holders = _proc_locks_holders(st.st_ino)
    if holders is not None:
        return holders[0] if holders else None
    return _probe_flock(path)


def _proc_locks_holders(inode: int) -> list[int] | None:
    """Pids holding an flock on this inode, from /proc/locks (None: not readable)."""
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    pids = []
    for line in text.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 11733 fe:00:2146312 0 EOF"; "->" lines are waiters
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":
            continue
        dev_ino = parts[5].split(":")
        try:
            if int(dev_ino[-1]) == inode:
                pids.append(int(parts[4]))
        except ValueError:
            continue
    return pids


def _probe_flock(path: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _pid_in_lock_file(path) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _pid_in_lock_file(path: Path) -> int | None:
    try:
        m = re.search(r"pid (\d+)", path.read_text(errors="replace"))
    except OSError:
        return None
    return int(m.group(1)) if m else None


def lock_text(run_dir: str | os.PathLike[str]) -> str:
    """What the holder wrote into the lock: 'import worker, pid 1234' ('' when free)."""
    try:
        return (Path(run_dir) / LOCK_NAME).read_text(errors="replace").strip()
    except OSError:
        return ""


def pid_alive(pid: int | None) -> bool:
    """The process exists and is not a zombie (an ended worker nobody has reaped yet)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


# ----------------------------------------------------------------------------- RunStatus
@dataclass(frozen=True)
class RunStatus:
    run: str
    state: str  # one of STATES
    pid: int | None = None  # the process working on the run (running/paused), or the dead worker's
    kind: str | None = None  # import, retry, verify, undo (what runs or ran last)
    phase: str | None = None  # the job's own word: starting, loading, reconciling, running, stopping, ...
    worker: bool = False  # a detached worker (it serves DIR/worker.sock) rather than a foreground session
    rate: float | None = None  # rows settled per second now (running) or over the last session
    eta_s: float | None = None
    controller: dict[str, Any] | None = None  # {pid, label, since} of the client that controls the worker
    started_at: float | None = None
    heartbeat_age_s: float | None = None
    exit_code: int | None = None  # the last worker's, once it ended
    stop_reason: str | None = None
    message: str | None = None
    snapshot: dict[str, Any] | None = None  # the worker's latest snapshot (JSON form), while it runs
    summary: dict[str, Any] = field(default_factory=dict)  # run_summary(journal): the counts

    @property
    def active(self) -> bool:
        return self.state in ("running", "paused")

    def as_json(self) -> dict[str, Any]:
        """The `status --json` object: the summary's fields, then the live ones."""
        live = asdict(self)
        live.pop("summary")
        live.pop("run")
        live.pop("snapshot")
        return {**self.summary, **live}


def read_status(run_dir: str | os.PathLike[str], *, details: bool = True, journal: Any = None) -> RunStatus:
    """The run's state now. Reads the journal read-only (pass an open `journal` to reuse it)."""
    from console.migration.run import open_run
    from console.migration.summary import run_summary

    run_dir = Path(run_dir)
    own = journal is None
    if own:
        journal = open_run(run_dir, readonly=True)
    try:
        summary = run_summary(journal, details=details)
        sessions = journal.sessions()
    finally:
        if own:
            journal.close()
    holder = lock_holder(run_dir)
    beat = read_heartbeat(run_dir)
    now = time.time()
    age = now - float(beat.get("updated_at") or 0) if beat else None
    last = sessions[-1] if sessions else None
    session_rate, session_eta = _session_rate(last, summary)
    base: dict[str, Any] = {"run": str(run_dir), "summary": summary}

    if holder is not None:
        if beat and beat.get("pid") == holder and not beat.get("ended_at"):
            snap = beat.get("snapshot") or {}
            state = "paused" if beat.get("state") == "paused" else "running"
            return RunStatus(
                **base, state=state, pid=holder or None, kind=beat.get("kind"), phase=snap.get("state") or beat.get("state"),
                worker=True, rate=_num(snap.get("rate_now")), eta_s=_num(snap.get("eta_s")),
                controller=beat.get("controller"), started_at=beat.get("started_at"), heartbeat_age_s=age,
                snapshot=snap or None,
            )
        text = lock_text(run_dir)
        kind = text.split(",")[0].split()[0] if text else (last or {}).get("kind")
        return RunStatus(**base, state="running", pid=holder or None, kind=kind, phase="running",
                         rate=session_rate, eta_s=session_eta,
                         started_at=(last or {}).get("started_at") if last and not last.get("outcome") else None)

    if beat and not beat.get("ended_at") and _superseded(beat, len(sessions)):
        beat = None  # a session began after that worker died: its news are old
    beat_open = bool(beat) and not beat.get("ended_at")
    session_open = last is not None and not last.get("outcome")
    if beat_open and age is not None and age < STALE_AFTER_S and pid_alive(beat.get("pid")):
        # between taking its lock and writing its first beat, or while letting go: still there
        snap = beat.get("snapshot") or {}
        return RunStatus(**base, state="running", pid=beat.get("pid"), kind=beat.get("kind"),
                         phase=beat.get("state"), worker=True, heartbeat_age_s=age, snapshot=snap or None)
    if beat_open or session_open:
        dead_pid = beat.get("pid") if beat_open else None
        kind = beat.get("kind") if beat_open else last.get("kind")
        return RunStatus(**base, state="dead", pid=dead_pid, kind=kind, phase=None, worker=beat_open,
                         heartbeat_age_s=age, rate=session_rate, eta_s=None,
                         message="the session working on this run ended without closing (killed or lost power): "
                                 "run the same import again to resume; rows in flight are looked up first")
    # nothing running, nothing dead: what ended last
    beat_end = float(beat.get("ended_at") or 0) if beat else 0.0
    session_end = float((last or {}).get("ended_at") or 0)
    if beat and beat_end >= session_end - 1.0:
        reason = beat.get("stop_reason")
        state = "stopped" if reason else "finished"
        return RunStatus(**base, state=state, pid=None, kind=beat.get("kind"), phase=beat.get("state"),
                         worker=True, rate=session_rate, heartbeat_age_s=age, exit_code=beat.get("exit_code"),
                         stop_reason=reason, message=beat.get("message"), started_at=beat.get("started_at"))
    if last is not None:
        outcome = last.get("outcome")
        state = "finished" if outcome == "done" else "stopped"
        return RunStatus(**base, state=state, kind=last.get("kind"), rate=session_rate,
                         stop_reason=None if outcome == "done" else outcome, started_at=last.get("started_at"))
    return RunStatus(**base, state="new")


def _superseded(beat: dict[str, Any], sessions: int) -> bool:
    """More journal sessions than the worker's job accounts for: someone ran after it. The
    worker notes how many there were when it started and whether its own has opened yet."""
    before = beat.get("sessions_before")
    if not isinstance(before, int):
        return False
    return sessions > before + (1 if beat.get("own_session") else 0)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _session_rate(session: dict[str, Any] | None, summary: dict[str, Any]) -> tuple[float | None, float | None]:
    """Rows settled per second by a session (from its figures, flushed every second while it
    runs) and the time the rows still to send would take at that pace."""
    if not session:
        return None, None
    span = float(session.get("ended_at") or 0) - float(session.get("started_at") or 0)
    done = (session.get("created") or 0) + (session.get("existed") or 0)
    if span <= 0.5 or done <= 0:
        return None, None
    rate = done / span
    left = summary.get("pending") or 0
    return round(rate, 2), (round(left / rate, 1) if left else None)


__all__ = [
    "HEARTBEAT_NAME",
    "LOCK_NAME",
    "LOG_NAME",
    "RunStatus",
    "SOCKET_NAME",
    "STALE_AFTER_S",
    "STATES",
    "lock_holder",
    "lock_text",
    "pid_alive",
    "read_heartbeat",
    "read_status",
    "write_heartbeat",
]
