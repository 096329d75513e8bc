"""The console's side of a job: it never runs one in its own process.

Import, retry, verify, undo (and any job registered in console/migration/jobs.py)
run in a worker process that owns the run folder (docs/jobs.md); the console
starts one with `start_worker` (in a thread: it spawns a process and waits for
it to hold the run), then attaches (`attach` -> `JobLink`, an asyncio task on
Textual's own loop) and follows the link's events, posting one message per
event to the app. A console that did not start the job attaches the same way
and watches; any console may ask for control (one at a time), take it over on
purpose, pause, resume or stop. Closing the console closes the link only: the
job keeps running.

The one thing the console still does in its own process before a start is what
`clerk-migrate import --detach` does in the operator's terminal: a new run's
journal is written from the export (`prepare_run`, with the load progress
shown, and stoppable), and an existing run's rules are settled against the
instance. Everything that can refuse is asked before a worker is spawned.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from console.tui.messages import ProgressMessage

if TYPE_CHECKING:
    from console.migration.control import Controller, JobLink
    from console.migration.jobs import JobResult
    from console.tui.app import ConsoleApp

RATE_HISTORY = 240  # samples of the created/s sparkline (one a second: four minutes)
PREPARE_EVERY_S = 0.1  # the journal-writing progress is said at most this often


# ----------------------------------------------------------------------------- what the console shows
@dataclass
class JobView:
    """The job working on the run, as the worker reports it (nothing decided here)."""

    kind: str
    run_dir: Path
    phase: str = "preparing"  # preparing (this console checks / writes a new journal), starting, attached, ended
    mine: bool = False  # this console started it
    pid: int | None = None
    started_at: float | None = None
    state: str = "starting"  # the worker's word: starting, running, paused, stopping, finished, stopped
    snapshot: Any = None  # the latest typed snapshot (Progress, VerifyProgress, UndoProgress, ...)
    controller: "Controller | None" = None
    has_control: bool = False
    can_pause: bool = False
    preparing_rows: int = 0
    rate_history: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_HISTORY))
    last_second: int = -1
    result: "JobResult | None" = None
    lost: bool = False  # the worker went away without a result (kill -9)
    refused: str | None = None  # why it did not start: one line
    note: str | None = None  # the last word about control ("… controls it since …")
    want_stop: bool = False

    @property
    def active(self) -> bool:
        return self.phase != "ended"

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    @property
    def stopping(self) -> bool:
        return self.want_stop or self.state == "stopping"

    def take(self, snapshot: Any, state: str | None) -> None:
        """The latest snapshot, and one created/s sample per second of the job."""
        self.snapshot = snapshot
        if state:
            self.state = state
        elapsed = getattr(snapshot, "elapsed_s", None)
        rate = getattr(snapshot, "rate_now", None)
        if elapsed is not None and rate is not None and int(elapsed) != self.last_second:
            self.last_second = int(elapsed)
            self.rate_history.append(rate)

    def holder_words(self) -> str:
        """Who holds the run: the worker (pid, since when) and who controls it."""
        since = clock_time(self.started_at)
        who = f"{self.kind} worker, pid {self.pid}" + (f", since {since}" if since else "")
        return f"{who} · {self.control_words()}"

    def control_words(self) -> str:
        c = self.controller
        if self.has_control:
            return "you control it"
        if c is None:
            return "nobody controls it (p or s takes control)"
        return f"watching: {controller_words(c)} controls it since {clock_time(c.since)} (t takes over)"


def controller_words(c: "Controller") -> str:
    """`console (pid 1234)`: who controls a job."""
    return f"{c.label or 'a client'}" + (f" (pid {c.pid})" if c.pid and f"pid {c.pid}" not in (c.label or "") else "")


def clock_time(stamp: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp)) if stamp else ""


# ----------------------------------------------------------------------------- worker -> app messages
class JobPreparing(Message):
    """Rows written so far into a new run's journal (nothing sent yet)."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobPreparing)


class JobStarting(Message):
    """The checks passed (a new run's folder is made): a worker is being started."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir


class JobLinked(Message):
    """Attached to the worker (started here or found running)."""

    def __init__(self, link: "JobLink", mine: bool) -> None:
        super().__init__()
        self.kind, self.pid, self.started_at = link.kind, link.pid, link.started_at
        self.can_pause, self.state, self.controller = link.can_pause, link.state, link.controller
        self.run_dir = link.run_dir
        self.mine = mine


class JobSnapshot(ProgressMessage):
    """The worker's latest snapshot (4 a second; a newer one replaces an older one still queued)."""

    def __init__(self, snapshot: Any, state: str | None) -> None:
        super().__init__(snapshot)
        self.state = state


class JobControl(Message):
    """Who controls the job changed, or a control request was answered (`note`)."""

    def __init__(self, controller: "Controller | None", has_control: bool, note: str | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.has_control = has_control
        self.note = note


class JobEnded(Message):
    """The job's result reached this console (every attached console gets it), or the
    worker went away without one (`lost`)."""

    def __init__(self, result: "JobResult | None", *, lost: bool = False) -> None:
        super().__init__()
        self.result = result
        self.lost = lost


class _StoppedWhilePreparing(Exception):
    pass


# ----------------------------------------------------------------------------- the driver
class JobDriver:
    """Starts, attaches to and controls the run's job for the app. Not a widget: its
    coroutines run as the app's async workers (group "job"); it keeps the link, the
    app keeps what it shows (`ConsoleState.job`)."""

    def __init__(self, app: "ConsoleApp") -> None:
        self.app = app
        self.link: "JobLink | None" = None
        self._stop_preparing = False
        self._want: str | None = None  # "pause" / "stop" asked before the link was there

    @property
    def label(self) -> str:
        return self.app.options.label  # the worker adds the pid it sees from the kernel

    # -- starting ----------------------------------------------------------------------
    def start(self, kind: str, run_dir: Path, options: dict[str, Any], *,
              prepare: Callable[[Callable[[int], None]], None] | None = None) -> None:
        """Check (and for a new run write the journal) here, then start the worker and attach."""
        self._stop_preparing = False
        self._want = None
        self.app.run_worker(self._start(kind, run_dir, options, prepare), group="job", exclusive=True,
                            exit_on_error=False, name=f"start {kind}")

    async def _start(self, kind: str, run_dir: Path, options: dict[str, Any],
                     prepare: Callable[[Callable[[int], None]], None] | None) -> None:
        from console.migration.control import start_worker
        from console.migration.jobs import EXIT_STOPPED, JobResult, JobSpec, job_class

        app = self.app
        settings = app.state.settings
        if prepare is not None:
            last = [0.0]

            def on_rows(rows: int) -> None:
                if self._stop_preparing:
                    raise _StoppedWhilePreparing
                now = time.monotonic()
                if now - last[0] >= PREPARE_EVERY_S:
                    last[0] = now
                    app.post_message(JobPreparing(rows))

            try:
                await asyncio.to_thread(prepare, on_rows)
            except _StoppedWhilePreparing:
                app.post_message(JobEnded(JobResult(EXIT_STOPPED, f"stopped before the {kind} started: nothing was "
                                                    "sent", "stopped", {"run": str(run_dir)}, kind)))
                return
        spec = JobSpec(kind, str(run_dir.resolve()), options)
        cls = job_class(kind)
        await cls.preflight(run_dir, settings, cls.options_from_json(spec.options))
        if self._stop_preparing:
            app.post_message(JobEnded(JobResult(EXIT_STOPPED, f"stopped before the {kind} started: nothing was sent",
                                                "stopped", {"run": str(run_dir)}, kind)))
            return
        app.post_message(JobStarting(run_dir))
        pid = await asyncio.to_thread(start_worker, run_dir, spec, settings, python=app.options.worker_python)
        await self._follow(run_dir, mine=True, pid=pid)

    def watch(self, run_dir: Path) -> None:
        """Attach to the job another console (or the CLI) started, and watch it."""
        self._want = None
        self.app.run_worker(self._follow(run_dir, mine=False), group="job", exclusive=True, exit_on_error=False,
                            name="attach")

    async def _follow(self, run_dir: Path, *, mine: bool, pid: int | None = None) -> None:
        from console.migration.control import NotRunning, attach, ended_result
        from console.migration.errors import MigrationError

        app = self.app
        try:
            link = await attach(run_dir, label=self.label)
        except NotRunning:
            # it ended between its start (or the look at the folder) and this attach (a short
            # job, a slow console): the worker this console started left its result in its
            # last heartbeat; what any job did is in the journal, which the app reads again
            app.post_message(JobEnded(ended_result(run_dir, pid) if mine else None, lost=False))
            return
        self.link = link
        try:
            app.post_message(JobLinked(link, mine))
            if mine or self._want:
                try:
                    await link.request_control()
                    want, self._want = self._want, None
                    if want and link.has_control:
                        await getattr(link, want)()
                except MigrationError:
                    pass  # it ended meanwhile: the result comes through the events
            async for event in link.events():
                if event.type == "snapshot":
                    app.post_message(JobSnapshot(event.snapshot, event.state))
                elif event.type == "control":
                    app.post_message(JobControl(event.controller, link.has_control))
                elif event.type == "result":
                    app.post_message(JobEnded(event.result))
                elif event.type == "lost":
                    app.post_message(JobEnded(None, lost=True))
        finally:
            self.link = None
            await link.close()

    # -- controls ------------------------------------------------------------------------
    def command(self, name: str) -> None:
        """pause, resume, stop or take (control, on purpose, from whoever holds it)."""
        if name == "stop":
            self._stop_preparing = True
        if self.link is None:
            if name in ("pause", "stop"):
                self._want = name  # handed over once the link is there
            return
        self.app.run_worker(self._command(self.link, name), group="job-control", exit_on_error=False,
                            name=f"job {name}")

    async def _command(self, link: "JobLink", name: str) -> None:
        from console.migration.control import NotController
        from console.migration.errors import MigrationError

        app = self.app
        try:
            if name == "take" or not link.has_control:
                if not await link.request_control(force=name == "take"):
                    c = link.controller
                    who = (f"{controller_words(c)} controls it since {clock_time(c.since)}" if c
                           else "another client controls it")
                    app.post_message(JobControl(link.controller, False, f"{who}: t takes control on purpose"))
                    return
                app.post_message(JobControl(link.controller, link.has_control))
            if name != "take":
                await getattr(link, name)()
        except NotController as exc:
            app.post_message(JobControl(link.controller, link.has_control, exc.message))
        except MigrationError as exc:
            if link.result is None and not link.ended:
                app.post_message(JobControl(link.controller, link.has_control, exc.message))

    async def close(self) -> None:
        """The console closes: the link goes, the job keeps running. A new run's journal
        being written here stops (it is this process's work)."""
        self._stop_preparing = True
        link = self.link
        if link is not None:
            await link.close()

    async def stop_and_wait(self, timeout: float = 600.0) -> "JobResult | None":
        """A safe stop of the job (taking control from whoever holds it), waiting for its result."""
        from console.migration.errors import MigrationError

        self._stop_preparing = True
        link = self.link
        if link is None:
            return None
        try:
            if not link.has_control:
                await link.request_control(force=True)
            await link.stop()
            return await link.wait_result(timeout)
        except (MigrationError, asyncio.TimeoutError):
            return link.result


__all__ = [
    "JobControl",
    "JobDriver",
    "JobEnded",
    "JobLinked",
    "JobPreparing",
    "JobSnapshot",
    "JobStarting",
    "JobView",
    "clock_time",
    "controller_words",
]
