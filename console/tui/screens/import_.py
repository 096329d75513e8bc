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

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from console.tui.messages import PauseJob, ResumeJob, StartJob, StopJob, TakeControl
from console.tui.runview import FolderHoldings, RunView, duration, pace_of, resume_problem
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.widgets.import_panel import ImportPanel
from console.tui.widgets.job_line import JobLine
from console.tui.widgets.scroll_area import ScrollArea

CONFIRM_WORD = "production"
DEFAULT_FOLDER = "clerk-migrate-run"


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
    ImportPane #plan-blockers, ImportPane #prod-confirm { margin: 1 0 0 0; }
    ImportPane #plan-folder { margin-top: 1; }
    ImportPane #run-dir-row { margin-top: 1; }
    ImportPane #run-dir-label { width: auto; color: $text-muted; }
    ImportPane #start-row { margin-top: 1; }
    ImportPane #prod-word { width: 1fr; }
    ImportPane #start { width: 15; }
    ImportPane #open-run { margin-left: 1; }
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
            with Vertical(id="import-plan"):
                yield Static("", id="plan-figures")
                yield Static("", id="plan-blockers", classes="band band-error")
                with Horizontal(id="run-dir-row", classes="row"):
                    yield Label("Run folder ", id="run-dir-label")
                    yield Input(placeholder="folder for the run's journal", id="run-dir", compact=True)
                    yield Button("Open this run", id="open-run", compact=True)
                yield Static("", id="plan-folder")
                yield Static("", id="prod-confirm", classes="band band-warning")
                with Horizontal(id="start-row", classes="row"):
                    yield Input(placeholder=f"type {CONFIRM_WORD}", id="prod-word", compact=True)
                    yield Button("Start import", variant="primary", id="start", compact=True)
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
            self._sync_plan(state, run, other)
        self.show_progress(state)
        self.query_one("#import-result", Static).update(self._result(state, run))
        self.refresh_bindings()

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

    def _holdings(self, state: ConsoleState) -> FolderHoldings | None:
        """Plain console: what the folder in the box holds (read by the app in a thread)."""
        holds = state.folder_holds
        if state.run_dir is not None or holds is None:
            return None
        box = self.query_one("#run-dir", Input).value.strip()
        return holds if box and Path(box).expanduser() == holds.path else None

    def _sync_plan(self, state: ConsoleState, run: RunView | None, other: bool) -> None:
        holds = self._holdings(state)
        if run is None and holds is not None and holds.what in ("run", "other_export"):
            run = holds.view  # the folder's run, before it is opened: the plan says what it holds
        resuming = run is not None and run.info.rows_loaded and (run.to_send > 0 or not run.sessions)
        finished = run is not None and run.import_finished
        kind = run.info.instance_kind if run is not None else state.instance_kind
        if resuming:
            assert run is not None
            rows, problems = run.to_send, self._resume_problems(state, run)
            action = "Resume import"
        else:
            rows = state.report.importable if state.report is not None else 0
            problems = [reason for _, reason in state.import_blockers()]
            action = "Start import"
        if holds is not None and holds.what in ("other_export", "not_a_run"):
            problems = [holds.reason] + problems
        if other:
            problems = [f"the {state.job.kind} is running on this run: wait for it to end"] + problems
        self._sync_folder(state, holds)
        plan_figures = self.query_one("#plan-figures", Static)
        start = self.query_one("#start", Button)
        start.label = action
        if finished and not resuming and (holds is None or holds.what == "run"):
            plan_figures.update(
                Content(
                    "Every row of this run is settled. Another export goes into another run folder "
                    "(clerk-migrate --run NEW_DIR)."
                ).stylize("$text-muted")
            )
            for widget_id in ("#plan-blockers", "#prod-confirm", "#start-row"):
                self.query_one(widget_id).display = False
            return
        assert run is None or run.info is not None
        rate = (run.info.settings.get("rate") if run is not None else None) or self.console.options.job("import").get("rate")
        pace = pace_of(kind, float(rate) if rate else None)
        key = state.settings.secret_key
        instance = Content.assemble(
            ({"production": "Production", "development": "Development"}.get(kind or "", "none yet"), "bold"),
            " ",
            key.masked if key else "",
        )
        refused = state.report.refused if state.report is not None and not resuming else 0
        lines: list[Content] = [
            Content.assemble(
                ("Rows      ", "$text-muted"),
                (f"{rows:,}", "bold"),
                " to send" + (f" ({refused:,} refused stay out)" if refused else ""),
            ),
            Content.assemble(("Instance  ", "$text-muted"), instance),
            Content.assemble(
                ("Pace      ", "$text-muted"),
                f"{pace:,.0f} requests/s (Clerk: {'1,000' if kind == 'production' else '100'} per 10 s)",
            ),
            Content.assemble(
                ("Estimate  ", "$text-muted"),
                (f"about {duration(rows / pace) if pace else '—'}", "bold"),
                " at that pace",
            ),
        ]
        plan_figures.update(Content("\n").join(lines))

        blockers = self.query_one("#plan-blockers", Static)
        blockers.display = bool(problems)
        if problems:
            blockers.update(Text("Not ready: " + " · ".join(problems)))

        production = kind == "production"
        confirm = self.query_one("#prod-confirm", Static)
        confirm.display = production and not problems
        self.query_one("#start-row").display = not problems
        self.query_one("#prod-word").display = production
        if production:
            confirm.update(
                Content.assemble(
                    "This writes to the ",
                    ("Production", "bold"),
                    f" instance: your real users. Type the word {CONFIRM_WORD} below, then press enter.",
                )
            )

    def _sync_folder(self, state: ConsoleState, holds: FolderHoldings | None) -> None:
        """The run folder box (plain console) and, before the typed word, what it holds."""
        row = self.query_one("#run-dir-row")
        row.display = state.run_dir is None
        words = self.query_one("#plan-folder", Static)
        self.query_one("#open-run").display = holds is not None and holds.what in ("run", "other_export")
        if state.run_dir is not None:
            words.display = False
            return
        box = self.query_one("#run-dir", Input)
        if not box.value and state.load.path is not None:
            box.value = str(state.load.path.parent / DEFAULT_FOLDER)
        words.display = holds is not None and holds.what != "free"
        if holds is None or holds.what == "free":
            return
        if holds.what == "run" and holds.view is not None:
            v = holds.view
            words.update(Content.assemble(
                ("This folder holds a run of this export: ", "bold"),
                f"resuming: {v.counts.get('created', 0):,} created, {v.to_send:,} to send"
                + (f", {v.failed:,} failed" if v.failed else "") + ". ",
                ("o", "bold"), " opens it (its failures, verify, finish), as clerk-migrate --run DIR does.",
            ))
        elif holds.what == "other_export":
            words.update(Content.assemble(("✗ ", "$text-error bold"), holds.reason, ". ",
                                          ("o", "bold"), " opens that run instead."))
        else:
            words.update(Content.assemble(("✗ ", "$text-error bold"), holds.reason))

    def _resume_problems(self, state: ConsoleState, run: RunView) -> list[str]:
        problem = resume_problem(run, state.settings)
        return [problem] if problem else []

    def _result(self, state: ConsoleState, run: RunView | None) -> Content:
        job = import_job(state)
        if job is not None and job.active:
            if job.phase != "attached":
                return Content("")
            keys = [("p", "bold"), " pause/resume · "] if job.can_pause else []
            return Content.assemble(
                *keys, ("s", "bold"),
                " safe stop: in-flight requests finish, the rest stays pending (resumable) · quitting the console "
                "leaves it running",
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
            holds = self._holdings(self.state)
            return holds is not None and holds.what in ("run", "other_export") and not busy
        return True

    def _problems(self) -> list[str]:
        """What blocks a start now: the engine's guards for a run to resume, else the
        console's blockers (no key, no export, the Development guard or cap, the folder)."""
        state, run = self.state, self.state.run
        if run is not None and run.info.rows_loaded and run.to_send > 0:
            return self._resume_problems(state, run)
        holds = self._holdings(state)
        if holds is not None and holds.what in ("other_export", "not_a_run"):
            return [holds.reason]
        if holds is not None and holds.what == "run" and holds.view is not None and holds.view.to_send:
            return self._resume_problems(state, holds.view)
        return [reason for _, reason in state.import_blockers()]

    def action_start(self) -> None:
        state = self.state
        run = state.run
        job = import_job(state)
        if job is not None and job.active:
            return
        holds = self._holdings(state)
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
        holds = self._holdings(self.state)
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
