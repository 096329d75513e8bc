"""The console's side of an import or retry session: a thread worker running the
engine's `Importer`, and the plumbing between it and the screens.

`RunSession` is a hidden widget (it sits in the Import pane, which stays
mounted) so that its worker, its messages and its timer live on the app's
event loop. It holds no rule of the migration:

- the worker thread calls `prepare_run` / `open_run`, builds the `Importer` and
  runs `asyncio.run(importer.run())` (or `retry`), as docs/engine.md says;
- `pause()`, `resume()` and `stop()` are called from the UI thread and go
  straight to the importer (thread-safe there);
- the importer's `on_progress` (its own loop's thread, ≤10/s) posts a
  `SessionProgress` message; a newer one replaces an older one still queued,
  and the screens are redrawn by a 4 Hz timer, not per snapshot;
- every count the screens show after a session is read back from the journal
  (`read_run`, in a thread worker, on its own read-only connection).

Closing the app mid-run stops the importer (in-flight requests finish, the rest
stays pending) and waits for it a few seconds; the journal is consistent
either way, and `--run DIR` resumes it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from console.migration.progress import Progress
from console.tui.runview import RunView, read_run
from console.tui.messages import ProgressMessage

if TYPE_CHECKING:
    from console.tui.app import ConsoleApp

RENDER_EVERY_S = 0.25  # the live panel is redrawn at most 4 times a second
READ_EVERY_S = 2.0  # while a session runs, the journal's groups are re-read this often
SHUTDOWN_WAIT_S = 15.0  # on exit: how long to wait for in-flight requests to finish


class SessionProgress(ProgressMessage):
    """A Progress snapshot from the importer."""


class SessionPreparing(Message):
    """Rows written so far into a new run journal (before anything is sent)."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SessionPreparing)


class SessionStarted(Message):
    def __init__(self, view: RunView | None, kind: str) -> None:
        super().__init__()
        self.view = view
        self.kind = kind


class SessionEnded(Message):
    """The session is over: `refused` is the engine's one line when a guard or a
    resume check said no (nothing was sent); else the importer's result."""

    def __init__(
        self,
        kind: str,
        *,
        exit_code: int | None = None,
        stop_reason: str | None = None,
        message: str | None = None,
        refused: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.exit_code = exit_code
        self.stop_reason = stop_reason
        self.message = message
        self.refused = refused
        self.progress = progress


class RunRead(Message):
    """The run folder's journal, read in a thread (None: no run there yet)."""

    def __init__(self, view: RunView | None, startup: bool) -> None:
        super().__init__()
        self.view = view
        self.startup = startup


class _StoppedWhilePreparing(Exception):
    pass


class RunSession(Widget):
    """The one import/retry session of the console (one journal writer at a time)."""

    DEFAULT_CSS = "RunSession { display: none; }"

    def __init__(self) -> None:
        super().__init__(id="run-session")
        self.phase = "idle"  # idle, preparing, running, stopping
        self.kind: str | None = None
        self.refused: str | None = None  # the last refusal, shown by the Import / Failures panes
        self._importer: Any = None
        self._lock = threading.Lock()
        self._want_pause = False
        self._want_stop = False
        self._finished = threading.Event()
        self._finished.set()
        self._dirty = False
        self._timer: Timer | None = None
        self._last_read = 0.0
        self.other: str | None = None  # "verify" / "undo" while one runs (one job on the run at a time)

    # -- access ------------------------------------------------------------------
    @classmethod
    def of(cls, app: Any) -> "RunSession":
        return app.query_one("#run-session", cls)

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    @property
    def busy(self) -> bool:
        return self.phase != "idle"

    @property
    def paused(self) -> bool:
        return self._want_pause

    def claim(self, what: str) -> str | None:
        """Reserve the run for a verification or an undo: None, or why not."""
        if self.busy:
            return f"an {self.kind or 'import'} session is running: wait for it or stop it"
        if self.other is not None and self.other != what:
            return f"the {self.other} is running: wait for it or stop it"
        self.other = what
        return None

    def release(self, what: str) -> None:
        if self.other == what:
            self.other = None

    def options(self) -> dict[str, Any]:
        """Importer keywords: the app's `import_options` (tests shorten timeouts).
        Snapshots come as often as the panel is redrawn: more would be dropped anyway."""
        options = dict(getattr(self.app, "import_options", None) or {})
        options.setdefault("progress_interval_s", RENDER_EVERY_S)
        return options

    # -- startup: an existing run folder -----------------------------------------
    def on_mount(self) -> None:
        if self.console.state.run_dir is not None:
            # after the first refresh: every pane has its widgets by then
            self.call_after_refresh(self.read, startup=True)

    def read(self, *, startup: bool = False) -> None:
        run_dir = self.console.state.run_dir
        if run_dir is None:
            return
        self._last_read = time.monotonic()
        self.run_worker(
            lambda: self.post_message(RunRead(read_run(run_dir), startup)),
            thread=True,
            group="run-read",
            exclusive=True,
            exit_on_error=False,
            name="read the run journal",
        )

    def on_run_read(self, message: RunRead) -> None:
        message.stop()
        state = self.console.state
        if message.view is None:
            if not self.busy:
                state.run = None
        elif state.run is not None and state.run.run_dir == message.view.run_dir:
            state.run = state.run.refreshed(message.view)
        else:
            state.run = message.view
            state.run.session = self.phase if self.phase != "idle" else "idle"  # type: ignore[assignment]
        if message.startup and message.view is not None:
            self._reopened(message.view)
        self._changed()

    def _reopened(self, view: RunView) -> None:
        """`--run DIR` on an earlier run: use the demo key it was made with, if
        offered, load the run's export again for Load and Review, and open the
        step where the run stands."""
        from console.settings import fingerprint

        state = self.console.state
        if state.settings.secret_key is None:
            for choice in state.key_choices:
                if fingerprint(choice.key) == view.info.key_fingerprint:
                    self.console.use_key(choice.key, "prompt")
                    break
        self.console.load_run_export(view)  # Load and Review: the run's export and policies again
        if view.to_send or not view.sessions:
            step = "import"
        elif view.failed:
            step = "failures"
        else:
            step = "verify"
        self.console.go_to(step)  # type: ignore[arg-type]

    # -- sessions ----------------------------------------------------------------
    def start_import(self, *, confirmed_production: bool, run_dir: Path) -> bool:
        """Create the run (or reopen it) and send its pending rows."""
        state = self.console.state
        load = state.load
        export = load.path if state.run is None or state.run.run_dir != run_dir else None
        return self._start(
            "import",
            run_dir=run_dir,
            export=export,
            policies=state.policies if export is not None else None,
            mapping=load.mapping if export is not None else None,
            confirmed_production=confirmed_production,
            legal=state.legal,
        )

    def start_retry(self, *, codes: Sequence[str] | None = None, row_nos: Sequence[int] | None = None) -> bool:
        """Failed rows back to pending (these rows, these codes, or every retryable
        one), then send them. The run was confirmed for Production when it was
        created, as `clerk-migrate retry` takes it."""
        run = self.console.state.run
        if run is None:
            return False
        return self._start(
            "retry",
            run_dir=run.run_dir,
            confirmed_production=True,
            codes=list(codes) if codes else None,
            row_nos=list(row_nos) if row_nos else None,
        )

    def _start(self, kind: str, **job: Any) -> bool:
        if self.busy or self.other is not None:
            return False
        self.phase = "preparing"
        self.kind = kind
        self.refused = None
        self._want_pause = self._want_stop = False
        self._finished.clear()
        state = self.console.state
        if state.run is not None:
            state.run.session = "preparing"
            state.run.kind = kind
            state.run.progress = None
            state.run.rate_history.clear()
            state.run.last_second = -1
            state.run.result_code = state.run.result_message = None
        settings = state.settings
        options = self.options()
        self.run_worker(
            lambda: self._session(kind, settings, options, **job),
            thread=True,
            group="run-session",
            exit_on_error=False,
            name=f"{kind} session",
        )
        if self._timer is None:
            self._timer = self.set_interval(RENDER_EVERY_S, self._tick)
        self._changed()
        return True

    def _session(
        self,
        kind: str,
        settings: Any,
        options: dict[str, Any],
        *,
        run_dir: Path,
        export: Path | None = None,
        policies: Any = None,
        mapping: dict[str, str] | None = None,
        confirmed_production: bool = False,
        codes: list[str] | None = None,
        row_nos: list[int] | None = None,
        legal: str | None = None,
    ) -> None:
        """The worker thread: the whole session, start to end."""
        from console.migration import preflight as pf
        from console.migration.importer import Importer
        from console.migration.journal import JournalError, is_run_folder
        from console.migration.run import RunRefused, open_run, prepare_run
        from console.source import ExportError

        journal = None
        try:
            try:
                # the instance's settings decide what is sent and refused (issue 13), as `import` does
                read = asyncio.run(pf.read_instance_settings(settings))
                new_run = kind == "import" and not is_run_folder(run_dir)
                rules_setting: dict[str, Any] = {}
                if new_run:
                    rules_setting = {pf.SETTINGS_KEY: pf.plan_rules(read, legal).as_dict()}
                    mapping = pf.mapping_with_legal(mapping, legal)
                if kind == "import":
                    last = [0.0]

                    def on_load(rows: int, _read: int, _size: int) -> None:
                        if self._want_stop:
                            raise _StoppedWhilePreparing
                        now = time.monotonic()
                        if now - last[0] >= 0.1:
                            last[0] = now
                            self.post_message(SessionPreparing(rows))

                    journal = prepare_run(
                        run_dir,
                        export,
                        settings,
                        policies=policies,
                        mapping=mapping,
                        confirmed_production=confirmed_production,
                        on_load_progress=on_load,
                        run_settings={**{k: options[k] for k in ("rate", "concurrency") if k in options},
                                      **rules_setting},
                    )
                else:
                    journal = open_run(run_dir)
                if not new_run:
                    pf.settle_run_rules(journal, read, legal if kind == "import" else None)
                importer = Importer(
                    journal,
                    settings,
                    confirmed_production=confirmed_production,
                    on_progress=lambda p: self.post_message(SessionProgress(p)),
                    kind=kind,
                    **options,
                )
                with self._lock:
                    self._importer = importer
                    if self._want_pause:
                        importer.pause()
                    if self._want_stop:
                        importer.stop()
                self.post_message(SessionStarted(read_run(run_dir), kind))
                if kind == "retry":
                    result = asyncio.run(importer.retry(codes=codes, row_nos=row_nos))
                else:
                    result = asyncio.run(importer.run())
            except _StoppedWhilePreparing:
                self.post_message(SessionEnded(kind, refused="stopped before the import started: nothing was sent"))
                return
            except (RunRefused, JournalError, ExportError, pf.PreflightError) as exc:
                self.post_message(SessionEnded(kind, refused=getattr(exc, "message", None) or str(exc)))
                return
            self.post_message(
                SessionEnded(
                    kind,
                    exit_code=result.exit_code,
                    stop_reason=result.stop_reason,
                    message=result.message,
                    progress=importer.progress,
                )
            )
        finally:
            with self._lock:
                self._importer = None
            if journal is not None:
                journal.close()
            self._finished.set()

    # -- controls (UI thread) ----------------------------------------------------
    def pause(self) -> None:
        with self._lock:
            self._want_pause = True
            if self._importer is not None:
                self._importer.pause()
        self._changed()

    def resume(self) -> None:
        with self._lock:
            self._want_pause = False
            if self._importer is not None:
                self._importer.resume()
        self._changed()

    def stop(self) -> None:
        """Safe stop: in-flight requests finish, the rest stays pending."""
        if not self.busy:
            return
        with self._lock:
            self._want_stop = True
            if self._importer is not None:
                self._importer.stop()
        self.phase = "stopping"
        if self.console.state.run is not None:
            self.console.state.run.session = "stopping"
        self._changed()

    def on_unmount(self) -> None:
        """The app is closing: stop sending and let in-flight requests finish."""
        if not self._finished.is_set():
            with self._lock:
                self._want_stop = True
                if self._importer is not None:
                    self._importer.stop()
            self._finished.wait(SHUTDOWN_WAIT_S)

    # -- what the worker reports -------------------------------------------------
    def on_session_preparing(self, message: SessionPreparing) -> None:
        message.stop()
        self._preparing_rows = message.rows
        self._dirty = True

    @property
    def preparing_rows(self) -> int:
        return getattr(self, "_preparing_rows", 0)

    def on_session_started(self, message: SessionStarted) -> None:
        message.stop()
        state = self.console.state
        view = message.view
        if view is not None:
            if state.run is not None and state.run.run_dir == view.run_dir:
                state.run = state.run.refreshed(view)
            else:
                state.run = view
            state.run.kind = message.kind
        if self.phase == "preparing":
            self.phase = "running"
        if state.run is not None:
            state.run.session = self.phase  # type: ignore[assignment]
        self._changed()

    def on_session_progress(self, message: SessionProgress) -> None:
        message.stop()
        run = self.console.state.run
        if run is not None:
            run.take_progress(message.progress)
            self._dirty = True

    def on_session_ended(self, message: SessionEnded) -> None:
        message.stop()
        state = self.console.state
        self.phase = "idle"
        self.refused = message.refused
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        run = state.run
        if run is not None:
            run.session = "idle"
            if message.progress is not None:
                run.take_progress(message.progress)
            run.result_code = message.exit_code
            run.result_message = message.refused or message.message
        self._preparing_rows = 0
        self.read()
        self._changed()
        app = self.console
        if message.refused and app.state.current != "import":  # the Import pane says it in place
            app.notify(message.refused, title="Not started", severity="error", markup=False)
        # the Pause button that held the focus is gone: put it where work goes on
        if app.state.current in ("import", "failures"):
            app.pane(app.state.current).on_enter()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # an unexpected error in the session's thread: the app shows it in a
        # modal (the event bubbles on); here the session is over
        if event.worker.group == "run-session" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            if self.phase != "idle":
                self.post_message(SessionEnded(self.kind or "import", refused="the session ended with an error"))

    # -- redraws -----------------------------------------------------------------
    def _tick(self) -> None:
        if self._dirty:
            self._dirty = False
            self._redraw_live()
        if self.busy and time.monotonic() - self._last_read >= READ_EVERY_S and self.console.state.current == "failures":
            self.read()

    def _redraw_live(self) -> None:
        """Only what moves during a session: the visible pane's panel and the rail."""
        from console.tui.widgets.step_rail import StepRail

        app = self.console
        state = app.state
        status = (state.step_status("import"), state.step_status("failures"))
        if status != getattr(self, "_rail_import", None):
            self._rail_import = status
            app.query_one(StepRail).sync(state)
        pane = app.pane(state.current)
        show = getattr(pane, "show_progress", None)
        if callable(show):
            show(state)

    def _changed(self) -> None:
        """The run or the session changed: every view re-renders from the state."""
        self._rail_import = None
        self.console.refresh_views()
