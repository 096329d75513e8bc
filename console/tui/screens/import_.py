"""Import: what will happen, the typed confirmation for Production, then the
live panel with pause / resume / safe stop. A reopened run (`--run DIR`) shows
where it stands and offers to resume; a plain console says what the run folder
named here holds before anything is typed, and offers to open a run found there.

The import runs in a worker process (console/tui/jobs.py): this pane posts
`StartJob` / `PauseJob` / `ResumeJob` / `StopJob` / `TakeControl` and renders the
worker's snapshots (`ConsoleState.job`) and the journal (`RunView`).
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from console.tui.messages import PauseJob, ResumeJob, StartJob, StopJob, TakeControl
from console.tui.runview import RunView
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.widgets.import_panel import ImportPanel
from console.tui.widgets.import_plan import CONFIRM_WORD, ImportPlan, resume_problems
from console.tui.widgets.job_line import JobLine
from console.tui.widgets.scroll_area import ScrollArea



def import_job(state: ConsoleState):
    """The import or retry this console shows (running, or the last one seen)."""
    job = state.job
    return job if job is not None and job.kind in ("import", "retry") else None


class ImportPane(StepPane):
    step = "import"
    _ready = False

    DEFAULT_CSS = """
    ImportPane #import-body { height: 1fr; }
    ImportPane #import-plan { height: auto; }
    ImportPane #import-where { margin-bottom: 1; }
    ImportPane #import-controls { margin-top: 1; }
    ImportPane #import-controls Button { margin: 0 1 0 0; }
    ImportPane #import-result { margin-top: 1; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start", "Start/resume", tooltip="Start (or resume) sending the rows to Clerk"),
        Binding("p", "pause", "Pause/resume", tooltip="Stop taking new rows; in-flight requests finish"),
        Binding("s", "stop", "Stop safely", tooltip="Finish the requests in flight, leave the rest pending"),
        Binding("t", "take", "Take control", tooltip="Control this job from here (another console controls it)"),
        Binding("o", "open_run", "Open this run", tooltip="Open the run found in the folder, as --run DIR does"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.refusal: str | None = None  # this pane's own "not started" (the typed word, the folder)

    def compose(self) -> ComposeResult:
        yield Label("Import: create the users in Clerk", classes="pane-title")
        with ScrollArea(id="import-body"):
            yield Static("", id="import-where")
            yield ImportPlan(id="import-plan")
            yield ImportPanel(id="import-panel")
            yield JobLine("", id="import-job-line")
            with Horizontal(id="import-controls", classes="row"):
                yield Button("Pause", id="pause", compact=True)
                yield Button("Stop safely", id="stop", variant="warning", compact=True)
                yield Button("Take control", id="take", compact=True)
            yield Static("", id="import-result")

    def on_mount(self) -> None:
        self._ready = True
        self.sync(self.state)

    @property
    def plan(self) -> ImportPlan:
        return self.query_one(ImportPlan)

    # -- rendering -----------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:  # the app re-renders before every pane has its widgets
            return
        run: RunView | None = state.run
        job = import_job(state)
        busy = job is not None and job.active
        other = state.job is not None and state.job.active and job is None  # a verify or an undo runs
        self.query_one("#import-plan").display = not busy
        self.query_one("#import-controls").display = busy and job.phase == "attached"
        where = self._where(state, run)
        self.query_one("#import-where", Static).update(where)
        self.query_one("#import-where").display = bool(where.plain)
        if busy:
            pause = self.query_one("#pause", Button)
            pause.label = "Resume" if job.paused else "Pause"
            pause.display = job.can_pause
            self.query_one("#stop", Button).disabled = job.stopping
            self.query_one("#take").display = not job.has_control and job.controller is not None
        else:
            self.plan.sync(state, run, other)
        self.show_progress(state)
        self.query_one("#import-result", Static).update(self._result(state, run))
        self.refresh_keys()

    def show_progress(self, state: ConsoleState) -> None:
        """The live part only (called for each snapshot)."""
        job = import_job(state)
        panel = self.query_one("#import-panel", ImportPanel)
        snap = job.snapshot if job is not None else None
        shown = snap is not None and getattr(snap, "state", "") != "loading" and (job.active or job.result is not None)
        panel.display = shown
        if shown:
            panel.show(snap, job.rate_history, kind=job.kind)
        self.query_one("#import-job-line", JobLine).show(job)

    def _where(self, state: ConsoleState, run: RunView | None) -> Content:
        job = import_job(state)
        if job is not None and job.active:
            return Content("")
        if run is None and job is not None and state.run_dir is not None and not state.run_dir.exists():
            return Content.assemble((f"The run folder {state.run_dir} is gone", "$text-warning bold"),
                                    " (removed while this console watched it: the demo removes its area when its "
                                    "job ends, unless started with --keep). What the job did is above.")
        if run is None or not run.sessions and not (run.status and run.status.state == "dead"):
            return Content("")
        c = run.counts
        parts: list[tuple[str, str] | str] = [
            (f"Run {run.run_dir}", "bold"),
            f"  {run.rows:,} rows: ",
            (f"{run.in_clerk:,} in Clerk", "$text-success"),
            f" ({c['created']:,} created, {c['existed']:,} existed), ",
            (f"{run.failed:,} failed", "$text-error" if run.failed else ""),
            f", {run.to_send:,} still to send, {c['refused']:,} refused by the checks.",
        ]
        status = run.status
        if status is not None and status.state == "dead":
            parts.append((f"\nThe session working on this run ended without closing (pid {status.pid or '?'}: "
                          "killed, or the machine lost power). Resume it here: rows in flight are looked up in "
                          "Clerk before anything is sent again.", "$text-warning"))
        elif c.get("creating"):
            parts.append(
                f"\n{c['creating']:,} were in flight when the last session ended: they are looked up in Clerk "
                "before anything is sent again."
            )
        if status is not None and status.active and not status.worker:
            parts.append((f"\nA clerk-migrate {status.kind or 'import'} in a terminal (pid {status.pid or '?'}) "
                          f"works on this run: follow it with clerk-migrate status --run {run.run_dir}.", "bold"))
        return Content.assemble(*parts)

    def _result(self, state: ConsoleState, run: RunView | None) -> Content:
        job = import_job(state)
        if job is not None and job.active:
            if job.phase != "attached":
                return Content("")
            keys = [("p", "bold"), " pause/resume · "] if job.can_pause else []
            leaving = ("quitting the demo stops it (its sandbox lives here)" if state.demo
                       else "quitting the console leaves it running")
            return Content.assemble(
                *keys, ("s", "bold"),
                f" safe stop: in-flight requests finish, the rest stays pending (resumable) · {leaving}",
            ).stylize("$text-muted")
        if self.refusal:
            return Content.assemble(("✗ Not started: ", "$text-error bold"), self.refusal)
        if job is None:
            return Content("")
        if job.refused:
            return Content.assemble(("✗ Not started: ", "$text-error bold"), job.refused)
        if job.lost:
            return Content.assemble(("✗ The worker went away: ", "$text-error bold"), job.note or "")
        result = job.result
        if result is None or run is None:
            return Content("")
        c = run.counts
        code = result.exit_code
        what = "Retry" if job.kind == "retry" else "Import"
        if code == 0:
            head = Content.assemble((f"✓ {what} complete: ", "$text-success bold"))
        elif code == 1:
            head = Content.assemble((f"✓ {what} finished, some rows failed: ", "$text-warning bold"))
        elif code == 130:
            head = Content.assemble(("■ Stopped: ", "$text-warning bold"))
        else:
            head = Content.assemble(("✗ Stopped by Clerk: ", "$text-error bold"), result.message or "", "\n")
        body = Content(
            f"{c['created']:,} created, {c['existed']:,} existed, {c['failed']:,} failed, "
            f"{run.to_send:,} still to send."
        )
        if run.to_send:
            how = f"type {CONFIRM_WORD} and press enter" if run.info.instance_kind == "production" else "press ctrl+r"
            nxt = f"\nTo resume, {how}: the journal knows every row's state."
        elif run.failed:
            nxt = "\nNext: Failures (ctrl+n) to fix and retry the failed rows."
        else:
            nxt = "\nNext: Verify (step 6) reads the users back from Clerk; ctrl+n goes step by step."
        return head.append(body).append(Content(nxt).stylize("$text-muted"))

    # -- focus and keys --------------------------------------------------------------
    def on_enter(self) -> None:
        job = import_job(self.state)
        if job is not None and job.active:
            for wid in ("#pause", "#stop"):
                button = self.query_one(wid)
                if button.display and self.query_one("#import-controls").display:
                    button.focus()
                    return
            super().on_enter()
            return
        word = self.query_one("#prod-word", Input)
        start = self.query_one("#start", Button)
        if word.display and self.query_one("#start-row").display:
            word.focus()
        elif start.display and self.query_one("#start-row").display:
            start.focus()
        else:
            super().on_enter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        job = import_job(self.state)
        busy = job is not None and job.active
        if action == "start":
            run = self.state.run
            if busy or (run is not None and run.import_finished):
                return False
            return None if self._problems() else True  # shown dim while something blocks it
        if action == "pause":
            return busy and job.can_pause
        if action == "stop":
            return busy
        if action == "take":
            return busy and not job.has_control and job.controller is not None
        if action == "open_run":
            holds = self.plan.holdings(self.state)
            return holds is not None and holds.what in ("run", "other_export") and not busy
        return True

    def _problems(self) -> list[str]:
        """What blocks a start now: the engine's guards for a run to resume, else the
        console's blockers (no key, no export, the Development guard or cap, the folder)."""
        state, run = self.state, self.state.run
        if run is not None and run.info.rows_loaded and run.to_send > 0:
            return resume_problems(state, run)
        holds = self.plan.holdings(state)
        if holds is not None and holds.what in ("other_export", "not_a_run"):
            return [holds.reason]
        if holds is not None and holds.what == "run" and holds.view is not None and holds.view.to_send:
            return resume_problems(state, holds.view)
        return [reason for _, reason in state.import_blockers()]

    def action_start(self) -> None:
        state = self.state
        run = state.run
        job = import_job(state)
        if job is not None and job.active:
            return
        holds = self.plan.holdings(state)
        if run is None and holds is not None and holds.view is not None:
            run = holds.view
        kind = run.info.instance_kind if run is not None and run.info.rows_loaded else state.instance_kind
        problems = self._problems()
        if problems:
            self._refuse(problems[0])
            return
        if kind == "production" and self.query_one("#prod-word", Input).value.strip() != CONFIRM_WORD:
            self._refuse(f"this is a Production instance: type the word {CONFIRM_WORD} to start")
            self.query_one("#prod-word", Input).focus()
            return
        run_dir = state.run_dir
        if run_dir is None:
            value = self.query_one("#run-dir", Input).value.strip()
            if not value:
                self._refuse("choose a folder for the run's journal")
                return
            run_dir = Path(value).expanduser()
        self.refusal = None
        self.query_one("#prod-word", Input).value = ""
        self.post_message(StartJob("import", run_dir=run_dir, confirmed_production=kind == "production"))

    def _refuse(self, words: str) -> None:
        self.refusal = words
        self.query_one("#import-result", Static).update(
            Content.assemble(("✗ Not started: ", "$text-error bold"), words)
        )

    def action_pause(self) -> None:
        job = import_job(self.state)
        if job is not None and job.active:
            self.post_message(ResumeJob() if job.paused else PauseJob())

    def action_stop(self) -> None:
        self.post_message(StopJob())

    def action_take(self) -> None:
        self.post_message(TakeControl())

    def action_open_run(self) -> None:
        holds = self.plan.holdings(self.state)
        if holds is not None and holds.what in ("run", "other_export"):
            self.console.open_run(holds.path)

    @on(Input.Submitted, "#prod-word")
    @on(Button.Pressed, "#start")
    def _start(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_start()

    @on(Input.Changed, "#run-dir")
    def _folder_changed(self, event: Input.Changed) -> None:
        event.stop()
        value = event.value.strip()
        if value and self.state.run_dir is None:
            self.console.look_at_folder(Path(value).expanduser())

    @on(Button.Pressed, "#open-run")
    def _open_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_open_run()

    @on(Button.Pressed, "#pause")
    def _pause(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_pause()

    @on(Button.Pressed, "#stop")
    def _stop(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop()

    @on(Button.Pressed, "#take")
    def _take(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_take()
