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

Beside the state, `RunStatus.figures` (RunFigures) holds what every face shows of the run:
the counts and what they mean (to send, in Clerk, finished), the last verification, the
last sync (journal meta `sync_last`), the undo (users deleted, users it would still
delete, among them those a sync removed from the export) and the unmark. `step_marks`
turns them into the marks of the last four steps (import, failures, verify, finish): the
console's step rail, the plan, and `status`'s text read the same rule. `planned_pace`
is the pace a session aims at.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

LOCK_NAME = "run.lock"  # as console.migration.run.LOCK_NAME
SOCKET_NAME = "worker.sock"
HEARTBEAT_NAME = "worker.json"
LOG_NAME = "worker.log"
HEARTBEAT_EVERY_S = 1.0
STALE_AFTER_S = 5.0  # a heartbeat older than this, its lock free: the worker is gone

STATES = ("new", "running", "paused", "stopped", "finished", "dead")
MAP_NAME = "id-map.csv"  # the id map's default file name in the run folder (the Finish step's)
STEPS = ("import", "failures", "verify", "finish")


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


# ----------------------------------------------------------------------------- the run's figures
@dataclass(frozen=True)
class RunFigures:
    """The run as its journal tells it: counts, and what the later steps left behind."""

    counts: dict[str, int]
    rows_loaded: bool = True
    sessions: int = 0  # import/retry/sync sessions
    last_outcome: str | None = None  # the last session's: done, stopped, unauthorized, ...
    retryable: int = 0  # failed rows `retry` resends without --code/--row
    undone: int = 0  # users of the journal's rows an undo deleted (or found gone)
    undo_left: int = 0  # users an undo would still read back and delete (if they carry the marker)
    removed_created: int = 0  # of those, users this run created that a sync removed from the export
    unmarked: int = 0  # users whose run marker an unmark removed
    verify_last: dict[str, Any] | None = None
    sync_last: dict[str, Any] | None = None
    undo_last: dict[str, Any] | None = None
    unmark_last: dict[str, Any] | None = None
    map_written: bool = False  # DIR/id-map.csv exists

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def importable(self) -> int:
        return self.rows - self.counts.get("refused", 0)

    @property
    def to_send(self) -> int:
        """Rows still needing a session: pending, and creating (looked up first)."""
        return self.counts.get("pending", 0) + self.counts.get("creating", 0)

    @property
    def in_clerk(self) -> int:
        return self.counts.get("created", 0) + self.counts.get("existed", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def import_finished(self) -> bool:
        """Every importable row settled (created, existed or failed) by at least one session."""
        return self.rows_loaded and self.to_send == 0 and self.sessions > 0

    def later_steps_json(self) -> dict[str, Any]:
        """What status --json adds: the last sync, the undo and the unmark."""
        return {
            "sync_last": self.sync_last,
            "undo": {"undone": self.undone, "left": self.undo_left, "removed_by_sync": self.removed_created,
                     "last": self.undo_last},
            "unmark": {"unmarked": self.unmarked, "last": self.unmark_last},
        }


def read_figures(journal: Any, sessions: list[dict[str, Any]] | None = None,
                 counts: dict[str, int] | None = None) -> RunFigures:
    """RunFigures from an open journal (read-only is fine): a few small queries."""
    from console.migration.undo import removed_left, removed_undone_count, undone_count
    from console.migration.unmark import unmarked_count

    sessions = journal.sessions() if sessions is None else sessions
    counts = journal.counts() if counts is None else counts
    removed = removed_left(journal)
    undone = undone_count(journal)
    return RunFigures(
        counts=counts,
        rows_loaded=bool(journal.info.rows_loaded),
        sessions=len(sessions),
        last_outcome=sessions[-1].get("outcome") if sessions else None,
        retryable=journal.count_retryable(),
        undone=undone + removed_undone_count(journal),
        undo_left=max(0, counts.get("created", 0) - undone) + len(removed),
        removed_created=len(removed),
        unmarked=unmarked_count(journal),
        verify_last=journal.get_meta("verify_last"),
        sync_last=journal.get_meta("sync_last"),
        undo_last=journal.get_meta("undo_last"),
        unmark_last=journal.get_meta("unmark_last"),
        map_written=(Path(journal.run_dir) / MAP_NAME).is_file(),
    )


# ----------------------------------------------------------------------------- the steps' marks
@dataclass(frozen=True)
class StepMark:
    mark: str  # done | open | blocked
    reason: str = ""  # what is left, or why it is blocked; a few words (the console's rail is narrow)


def step_mark(step: str, figures: RunFigures | None, *, state: str | None = None, live: Any = None,
              import_blockers: Any = (), map_written: bool = False) -> StepMark:
    """The mark of one of the last four steps. `figures` None: no run yet. `state`: the
    RunStatus state (a dead session says so). `live`: the job a face is running or watching,
    anything with `kind`, `phase` ("preparing" while the journal is written), `snapshot` (its
    latest typed snapshot: Progress for import/retry), `preparing_rows` and `active`; None when
    none. `import_blockers`: (few words, sentence) pairs of what keeps a new import from
    starting (the face's own: no key, no export loaded, ...)."""
    running = live is not None and live.active
    if step == "import":
        if running and live.kind in ("import", "retry"):
            if live.phase == "preparing":
                return StepMark("open", "writing the journal…" if live.preparing_rows else "checking…")
            p = live.snapshot
            total = p.total if p is not None else 0
            # in steps of 10%: a rail re-renders when its words change
            done = f"{100 * p.done // total // 10 * 10}%" if total else "starting"
            return StepMark("open", f"{live.kind} {done}")
        if figures is not None:
            if not figures.rows_loaded:
                return StepMark("open", "journal not loaded")
            if state == "dead":
                return StepMark("open", "resume: a session died")
            if figures.to_send:
                return StepMark("open", f"{figures.to_send:,} to send")
            if figures.sessions:
                if figures.undone:
                    return StepMark("done", f"{figures.undone:,} undone")
                return StepMark("done", f"{figures.in_clerk:,} in Clerk")
        blockers = list(import_blockers)
        if blockers:
            return StepMark("blocked", blockers[0][0])
        return StepMark("open", "ready")
    if running and live.kind in ("import", "retry"):
        p = live.snapshot
        failed = p.failed if p is not None else (figures.failed if figures is not None else 0)
        if step == "failures" and failed:
            return StepMark("open", f"{failed:,} so far")
        return StepMark("blocked", "after the import")
    if figures is None or not figures.sessions:
        return StepMark("blocked", "after an import")
    if step == "failures":
        if figures.failed:
            return StepMark("open", f"{figures.failed:,} failed")
        if figures.to_send:
            return StepMark("open", "none yet")
        return StepMark("done", "none")
    if not figures.import_finished:
        return StepMark("blocked", "after the import")
    if step == "verify":
        if running and live.kind == "verify":
            return StepMark("open", "verifying…")
        if figures.undone:
            # the users this run created are (partly) gone: an earlier verification says nothing now
            return StepMark("blocked", f"{figures.undone:,} undone")
        last = figures.verify_last
        if last is not None:
            if not last.get("complete", True):
                return StepMark("open", "stopped early")
            if last.get("ok"):
                return StepMark("done", f"{last.get('checked', 0):,} match")
            return StepMark("open", "differences found")
        return StepMark("open", "read users back")
    if step == "finish":
        if running and live.kind == "undo":
            return StepMark("open", "undoing…")
        if figures.undone:
            return StepMark("done", f"{figures.undone:,} undone")
        if figures.map_written or map_written:
            return StepMark("done", "map written")
        return StepMark("open", "id map, SQL, app")
    raise ValueError(f"step must be one of {', '.join(STEPS)}")


def step_marks(figures: RunFigures | None, **kw: Any) -> dict[str, StepMark]:
    """step_mark for each of STEPS."""
    return {step: step_mark(step, figures, **kw) for step in STEPS}


def planned_pace(instance_kind: str | None, rate: float | None = None) -> float:
    """Requests per second a session's budget aims at (docs/clerk-client.md): 90% of the
    instance's limit, or `rate`, capped by the limit."""
    from console.clerk.limiter import RequestBudget

    return RequestBudget.for_instance(instance_kind, rate=rate).target_rate


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
    figures: RunFigures | None = None  # the run's figures and what the later steps left (read_figures)

    @property
    def active(self) -> bool:
        return self.state in ("running", "paused")

    def marks(self, **kw: Any) -> dict[str, StepMark]:
        """The last four steps' marks (step_marks) with this run's state."""
        return step_marks(self.figures, state=self.state, **kw)

    def as_json(self) -> dict[str, Any]:
        """The `status --json` object: the summary's fields, the live ones, then the last sync,
        the undo and the unmark."""
        live = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("summary", "run", "snapshot", "figures")}
        later = self.figures.later_steps_json() if self.figures is not None else {}
        return {**self.summary, **live, **later}


def read_status(run_dir: str | os.PathLike[str], *, details: bool = True, journal: Any = None) -> RunStatus:
    """The run's state now. Reads the journal read-only (pass an open `journal` to reuse it)."""
    from console.migration.run import open_run
    from console.migration.summary import run_summary

    run_dir = Path(run_dir)
    own = journal is None
    if own:
        journal = open_run(run_dir, readonly=True)
    try:
        sessions = journal.sessions()
        figures = read_figures(journal, sessions)  # the journal's counts read once, for both
        summary = run_summary(journal, details=details, counts=figures.counts, sessions=sessions,
                              retryable=figures.retryable)
    finally:
        if own:
            journal.close()
    holder = lock_holder(run_dir)
    beat = read_heartbeat(run_dir)
    now = time.time()
    age = now - float(beat.get("updated_at") or 0) if beat else None
    last = sessions[-1] if sessions else None
    session_rate, session_eta = _session_rate(last, summary)
    base: dict[str, Any] = {"run": str(run_dir), "summary": summary, "figures": figures}

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
    "MAP_NAME",
    "RunFigures",
    "RunStatus",
    "STEPS",
    "StepMark",
    "planned_pace",
    "read_figures",
    "step_mark",
    "step_marks",
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
