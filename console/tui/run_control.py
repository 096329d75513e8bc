"""The app's side of a run folder: reading it, noticing it change, its jobs, quitting.

A mixin of `ConsoleApp` (console/tui/app.py), kept apart so that each file stays
one subject. Everything here runs on the app's event loop and changes
`ConsoleState` only in message handlers:

- the run is read in a thread (`read_run`: the journal, the heartbeat, the lock)
  when the console opens it, after each job, and whenever the run folder moved
  (`FolderWatch`, every `options.watch_every_s`): a fix saved in another console,
  a retry started from the CLI, a worker that died all show without a key press;
- a job found running is attached to and watched (`JobDriver.watch`), so a second
  console shows the same live panel; one started here is started in a worker
  (`StartJob` -> `JobDriver.start`) and controlled from here;
- quitting while a job runs asks, and says that the job keeps running and how to
  come back (the demo: that its sandbox and temporary area go with it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message

from console.tui.jobs import (
    JobControl,
    JobDriver,
    JobEnded,
    JobLinked,
    JobPreparing,
    JobSnapshot,
    JobStarting,
    JobView,
)
from console.migration.start_checks import prepare_import, prepare_retry
from console.tui.messages import PauseJob, ReadRun, ResumeJob, StartJob, StopJob, TakeControl
from console.tui.runview import RunView, read_run
from console.tui.watch import FolderWatch, log_tail
from console.migration.status import SOCKET_NAME

READ_WHILE_ATTACHED_S = 5.0  # the journal's groups are re-read this often while a job's snapshots flow


class RunRead(Message):
    """The run folder read in a thread (None: no run there)."""

    def __init__(self, generation: int, view: RunView | None, startup: bool) -> None:
        super().__init__()
        self.generation = generation
        self.view = view
        self.startup = startup


def settle_garbage() -> None:
    """A job's panel is about to be drawn for hours: what the console holds now (the
    widgets, the loaded report) moves out of the cyclic collector's way (`gc.freeze`),
    so that a full collection walks only what the hours of snapshots leave behind. A
    full collection over everything took 80-110 ms at a time, a key waiting behind it."""
    import gc

    gc.collect()
    gc.freeze()


def same_run(old: RunView | None, new: RunView | None) -> bool:
    """Nothing a pane shows differs between two reads of the run."""
    if old is None or new is None:
        return old is new
    a, b = old.status, new.status
    return (old.run_dir == new.run_dir and old.figures == new.figures and old.failures == new.failures
            and (a.state, a.pid, a.kind, a.worker, a.controller) == (b.state, b.pid, b.kind, b.worker, b.controller)
            and old.info == new.info)


class FolderLooked(Message):
    """What the folder named in Import holds (a plain console, before the typed word)."""

    def __init__(self, holdings: Any) -> None:
        super().__init__()
        self.holdings = holdings


class QuitNow(Message):
    """Quit without asking (a signal): `stop` the job first, or leave it running."""

    def __init__(self, stop: bool) -> None:
        super().__init__()
        self.stop = stop


class RunControl:
    """Mixed into ConsoleApp (which provides state, options, pane(), refresh_views()…)."""

    state: Any
    options: Any

    def init_run_control(self) -> None:
        self.jobs = JobDriver(self)  # type: ignore[arg-type]
        self._watch = FolderWatch()
        self._read_generation = 0
        self._last_read = 0.0
        self._rail_words: Any = None
        self._load_after_attach: RunView | None = None  # a reopened run's export, read once the panel shows

    def mount_run_control(self) -> None:
        run_dir = self.state.run_dir
        if run_dir is not None:
            if (Path(run_dir) / SOCKET_NAME).exists():
                # a worker serves the run: attach at once, beside the first read (the live
                # panel within a second or two of `clerk-migrate --run DIR`)
                self.state.job = JobView("import", Path(run_dir), phase="starting")
                self.jobs.watch(Path(run_dir))
            # after the first refresh: every pane has its widgets by then
            self.call_after_refresh(self.read_run, startup=True)  # type: ignore[attr-defined]
        self.set_interval(self.options.watch_every_s, self._look_at_folder)  # type: ignore[attr-defined]

    # -- reading the run ----------------------------------------------------------------
    def read_run(self, *, startup: bool = False) -> None:
        run_dir = self.state.run_dir
        if run_dir is None:
            return
        self._read_generation += 1
        self._last_read = time.monotonic()
        self._read(self._read_generation, Path(run_dir), startup)

    @work(thread=True, group="run-read", exit_on_error=False)
    def _read(self, generation: int, run_dir: Path, startup: bool) -> None:
        self.post_message(RunRead(generation, read_run(run_dir), startup))  # type: ignore[attr-defined]

    def on_read_run(self, message: ReadRun) -> None:
        self.read_run()

    def on_run_read(self, message: RunRead) -> None:
        if message.generation != self._read_generation:
            return  # a newer read is on its way
        state = self.state
        if not message.startup and same_run(state.run, message.view):
            return  # nothing moved that a pane shows: no redraw
        state.run = message.view
        if message.startup and message.view is not None:
            self._reopened(message.view)
        status = message.view.status if message.view is not None else None
        job = state.job
        if (status is not None and status.active and status.worker and self.jobs.link is None
                and not (job is not None and job.active)):
            # a job runs on this run that this console is not following: watch it
            state.job = JobView(status.kind or "import", message.view.run_dir, phase="starting", mine=False,
                                pid=status.pid, started_at=status.started_at)
            self.jobs.watch(message.view.run_dir)
        self.refresh_views()  # type: ignore[attr-defined]

    # -- a plain console: the folder named in Import (issue 15 item 1) -----------------------
    def look_at_folder(self, path: Path) -> None:
        """What `path` holds (a run of this export, of another, other files), read in a thread."""
        self._look_folder(path, self.state.load.path)

    @work(thread=True, group="folder", exclusive=True, exit_on_error=False)
    def _look_folder(self, path: Path, export: Path | None) -> None:
        from console.tui.runview import read_folder

        self.post_message(FolderLooked(read_folder(path, export)))  # type: ignore[attr-defined]

    def on_folder_looked(self, message: FolderLooked) -> None:
        if self.state.run_dir is None:
            self.state.folder_holds = message.holdings
            self.refresh_views()  # type: ignore[attr-defined]

    def open_run(self, run_dir: Path) -> None:
        """Open an existing run folder here, as `clerk-migrate --run DIR` does."""
        state = self.state
        state.run_dir = Path(run_dir)
        state.folder_holds = None
        state.run = None
        self.read_run(startup=True)
        self.refresh_views()  # type: ignore[attr-defined]

    async def _look_at_folder(self) -> None:
        """Every second: has the run folder moved since the last look? (aiofiles stats)"""
        run_dir = self.state.run_dir
        moved = await self._watch.changed(Path(run_dir) if run_dir is not None else None)
        if run_dir is None:
            return
        job = self.state.job
        following = job is not None and job.active and job.phase == "attached"
        since = time.monotonic() - self._last_read
        if following:
            # the live panel and the rail come from the snapshots: the journal is read again only
            # for what a snapshot does not carry (the failed rows' groups, when Failures shows)
            if since >= READ_WHILE_ATTACHED_S and self.state.current == "failures":
                self.read_run()
        elif moved or (self.state.run is None and since >= 5.0):
            self.read_run()

    def _reopened(self, view: RunView) -> None:
        """`--run DIR` on an earlier run: use the demo key it was made with, if offered,
        load the run's export again for Load and Review, and open the step where the run
        stands (where its job runs, when one does: then the export is read once the live
        panel shows, so that reading it does not hold the panel back)."""
        from console.settings import fingerprint

        state = self.state
        if state.settings.secret_key is None:
            for choice in state.key_choices:
                if fingerprint(choice.key) == view.info.key_fingerprint:
                    self.use_key(choice.key, "prompt")  # type: ignore[attr-defined]
                    break
        status = view.status
        job = state.job
        if (status is not None and status.active and status.worker) or (job is not None and job.active):
            self._load_after_attach = view
        else:
            self.load_run_export(view)  # type: ignore[attr-defined]
        if status is not None and status.active:
            step = {"retry": "failures", "link": "failures", "verify": "verify", "undo": "finish"}.get(status.kind or "", "import")
        elif view.to_send or not view.sessions:
            step = "import"
        elif view.failed:
            step = "failures"
        else:
            step = "verify"
        self.go_to(step)  # type: ignore[attr-defined]

    # -- starting a job (intents from the panes) -----------------------------------------
    def on_start_job(self, message: StartJob) -> None:
        message.stop()
        state = self.state
        kind = message.kind
        job = state.job
        if job is not None and job.active:
            self.job_refused(f"the {job.kind} is running on this run: wait for it or stop it", keep=True)
            return
        run_dir = Path(message.run_dir) if message.run_dir is not None else state.run_dir
        if run_dir is None:
            self.job_refused("choose a folder for the run's journal", kind=kind)
            return
        run = state.run if state.run is not None and state.run.run_dir == run_dir else None
        if run is not None and run.busy_elsewhere:
            st = run.status
            self.job_refused(f"a clerk-migrate session (pid {st.pid or '?'}, {st.kind or 'import'}) works on this run: "
                             f"wait for it, or `clerk-migrate stop --run {run_dir}`", kind=kind)
            return
        options = {**self.options.job(kind), **message.options}
        prepare = None
        settings = state.settings
        if kind == "import":
            new_run = run is None or not run.info.rows_loaded
            options["confirmed_production"] = message.confirmed_production
            export = state.load.path if new_run else None
            prepare = prepare_import(
                run_dir, settings, export=export, policies=state.policies if new_run else None,
                mapping=state.load.mapping if new_run else None, legal=state.legal,
                confirmed_production=message.confirmed_production, accounts=state.load.accounts if new_run else None,
                run_settings={k: options[k] for k in ("rate", "concurrency") if options.get(k) is not None})
        elif kind == "retry":
            options["confirmed_production"] = True  # confirmed when the run was made, as `retry` takes it
            prepare = prepare_retry(run_dir, settings)
        state.job = JobView(kind, run_dir, phase="preparing", mine=True)
        self.jobs.start(kind, run_dir, options, prepare=prepare)
        self.refresh_views()  # type: ignore[attr-defined]

    def job_refused(self, words: str, *, keep: bool = False, kind: str | None = None) -> None:
        """A job did not start: said in place by the pane of its kind. `keep`: another job
        runs (it stays; the refusal is a notification)."""
        state = self.state
        job = state.job
        if job is not None and job.active:
            if keep:
                self.notify(words, title="Not started", severity="warning", markup=False)  # type: ignore[attr-defined]
                return
            job.phase = "ended"
            job.refused = words
        else:
            state.job = JobView(kind or (job.kind if job else "import"), state.run_dir or Path("."), phase="ended",
                                refused=words)
        self.refresh_views()  # type: ignore[attr-defined]

    def on_pause_job(self, message: PauseJob) -> None:
        self._command(message.name)

    def on_resume_job(self, message: ResumeJob) -> None:
        self._command(message.name)

    def on_stop_job(self, message: StopJob) -> None:
        job = self.state.job
        if job is not None and job.active:
            job.want_stop = True
        self._command(message.name)

    def on_take_control(self, message: TakeControl) -> None:
        self._command(message.name)

    def _command(self, name: str) -> None:
        job = self.state.job
        if job is None or not job.active:
            return
        self.jobs.command(name)
        self.refresh_views()  # type: ignore[attr-defined]

    # -- what the worker reports ---------------------------------------------------------
    def on_job_preparing(self, message: JobPreparing) -> None:
        job = self.state.job
        if job is not None:
            job.preparing_rows = message.rows
            self.redraw_live()

    def on_job_starting(self, message: JobStarting) -> None:
        state = self.state
        if state.run_dir is None:  # a plain console's new run: its folder is the console's run now
            state.run_dir = message.run_dir
            state.folder_holds = None
            self.read_run()
        job = state.job
        if job is not None:
            job.phase = "starting"
            self.refresh_views()  # type: ignore[attr-defined]

    def on_job_linked(self, message: JobLinked) -> None:
        state = self.state
        job = state.job
        if job is None or job.phase == "ended" or job.kind != message.kind:
            job = state.job = JobView(message.kind, message.run_dir, mine=message.mine)
        if job.phase != "attached":
            settle_garbage()
        job.phase, job.pid, job.started_at = "attached", message.pid, message.started_at
        job.can_pause, job.state, job.controller = message.can_pause, message.state, message.controller
        self.refresh_views()  # type: ignore[attr-defined]
        pane = self.pane(state.current)  # type: ignore[attr-defined]
        if state.current in ("import", "failures", "verify", "sync", "finish"):
            pane.on_enter()  # the pane's controls show now: the focus goes to them

    def on_job_snapshot(self, message: JobSnapshot) -> None:
        job = self.state.job
        if job is None or not job.active:
            return
        before = job.state
        job.take(message.progress, message.state)
        if job.state != before:  # paused, resumed, stopping: the buttons and keys change too
            self.refresh_views()  # type: ignore[attr-defined]
        else:
            self.redraw_live()
        self._load_deferred()

    def _load_deferred(self) -> None:
        view, self._load_after_attach = self._load_after_attach, None
        if view is not None:
            self.call_after_refresh(self.load_run_export, view)  # type: ignore[attr-defined]

    def on_job_control(self, message: JobControl) -> None:
        job = self.state.job
        if job is None:
            return
        job.controller, job.has_control = message.controller, message.has_control
        job.note = message.note
        if message.note:
            self.notify(message.note, title="Control", severity="warning", markup=False)  # type: ignore[attr-defined]
        self.refresh_views()  # type: ignore[attr-defined]

    def on_job_ended(self, message: JobEnded) -> None:
        state = self.state
        job = state.job
        if job is None:
            return
        job.phase = "ended"
        job.result = message.result
        job.lost = message.lost
        self._load_deferred()
        if message.result is not None:
            state.results[message.result.kind or job.kind] = message.result
        if message.lost:
            self._say_lost(job)
        self.read_run()
        self.refresh_views()  # type: ignore[attr-defined]
        current = state.current
        words = (message.result.message if message.result is not None else None) or ""
        if message.result is not None and message.result.exit_code == 2 and current not in ("import", "failures"):
            self.notify(words, title="Not started", severity="error", markup=False)  # type: ignore[attr-defined]
        if current in ("import", "failures", "verify", "sync", "finish"):
            self.pane(current).on_enter()  # type: ignore[attr-defined]  # the Pause button that held the focus is gone

    @work(group="log-tail", exit_on_error=False)
    async def _say_lost(self, job: JobView) -> None:
        lines = await log_tail(job.run_dir)
        tail = f" Its log ends: {lines[-1]}" if lines else ""
        job.note = (f"the {job.kind} worker (pid {job.pid}) went away without a result (killed?); the journal is "
                    f"consistent: resume it here.{tail}")
        self.refresh_views()  # type: ignore[attr-defined]

    def redraw_live(self) -> None:
        """Only what moves while a job runs: the rail when its words change, the visible pane's panel."""
        state = self.state
        rail = self.rail  # type: ignore[attr-defined]
        if rail is None:
            return  # closing
        words = tuple(state.step_status(s) for s in ("import", "failures", "verify", "sync", "finish"))
        if words != self._rail_words:
            self._rail_words = words
            rail.sync(state)
        show = getattr(self.pane(state.current), "show_progress", None)  # type: ignore[attr-defined]
        if show is not None:
            show(state)

    # -- quitting ------------------------------------------------------------------------
    async def action_quit(self) -> None:
        from console.tui.screens.quit_modal import QuitModal

        job = self.state.job
        if isinstance(self.screen, QuitModal):  # type: ignore[attr-defined]
            self.screen.choose_default()  # type: ignore[attr-defined]  # ctrl+q twice: the modal's first answer
            return
        active = job is not None and job.active
        # the demo's area goes with it: ask when a run (its journal, id map, SQL) would go too
        demo_loses = self.state.demo and not self.options.keep_area and self.state.run is not None
        if not active and not demo_loses:
            await self.jobs.close()
            self.exit()  # type: ignore[attr-defined]
            return
        self.push_screen(QuitModal(job, self.state.run_dir, demo=self.state.demo,  # type: ignore[attr-defined]
                                   keep_area=self.options.keep_area), self._quit_answered)

    def on_quit_now(self, message: QuitNow) -> None:
        self._quit(message.stop)

    def _quit_answered(self, answer: str | None) -> None:
        if answer == "keep":
            self._quit(stop=False)
        elif answer == "stop":
            self._quit(stop=True)

    @work(group="quit", exit_on_error=False)
    async def _quit(self, stop: bool) -> None:
        if stop:
            job = self.state.job
            if job is not None:
                job.want_stop = True
                self.notify("Stopping safely: the requests in flight finish…", title="Quit",  # type: ignore[attr-defined]
                            markup=False)
            await self.jobs.stop_and_wait()
        await self.jobs.close()
        self.exit()  # type: ignore[attr-defined]

    def exit(self, *args: Any, **kwargs: Any) -> None:
        # a new run's journal being written in this process stops with it (nothing was sent)
        self.jobs._stop_preparing = True
        super().exit(*args, **kwargs)  # type: ignore[misc]


__all__ = ["FolderLooked", "QuitNow", "RunControl", "RunRead"]
