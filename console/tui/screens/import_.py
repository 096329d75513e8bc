"""Import: what will happen, the typed confirmation for Production, then the
live panel with pause / resume / safe stop. A reopened run (`--run DIR`) shows
where it stands and offers to resume.

The session itself runs in `RunSession` (console/tui/import_run.py); every
figure comes from the journal (`RunView`) or from the engine's `Progress`.
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

from console.tui.import_run import RunSession
from console.tui.runview import RunView, duration, pace_of, resume_problem
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.widgets.import_panel import ImportPanel
from console.tui.widgets.scroll_area import ScrollArea

CONFIRM_WORD = "production"


class ImportPane(StepPane):
    step = "import"
    _ready = False

    DEFAULT_CSS = """
    ImportPane #import-body { height: 1fr; }
    ImportPane #import-plan { height: auto; }
    ImportPane #import-where { margin-bottom: 1; }
    ImportPane #plan-blockers, ImportPane #prod-confirm { margin: 1 0 0 0; }
    ImportPane #run-dir-row { margin-top: 1; }
    ImportPane #run-dir-label { width: auto; color: $text-muted; }
    ImportPane #start-row { margin-top: 1; }
    ImportPane #prod-word { width: 1fr; }
    ImportPane #start { width: 15; }
    ImportPane #import-controls { margin-top: 1; }
    ImportPane #import-controls Button { margin: 0 1 0 0; }
    ImportPane #import-result { margin-top: 1; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start", "Start/resume", tooltip="Start (or resume) sending the rows to Clerk"),
        Binding("p", "pause", "Pause/resume", tooltip="Stop taking new rows; in-flight requests finish"),
        Binding("s", "stop", "Stop safely", tooltip="Finish the requests in flight, leave the rest pending"),
    ]

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
                yield Static("", id="prod-confirm", classes="band band-warning")
                with Horizontal(id="start-row", classes="row"):
                    yield Input(placeholder=f"type {CONFIRM_WORD}", id="prod-word", compact=True)
                    yield Button("Start import", variant="primary", id="start", compact=True)
            yield ImportPanel(id="import-panel")
            with Horizontal(id="import-controls", classes="row"):
                yield Button("Pause", id="pause", compact=True)
                yield Button("Stop safely", id="stop", variant="warning", compact=True)
            yield Static("", id="import-result")
        yield RunSession()

    def on_mount(self) -> None:
        self._ready = True
        self.sync(self.state)

    @property
    def session(self) -> RunSession:
        return self.query_one(RunSession)

    # -- rendering -----------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:  # the app re-renders before every pane has its widgets
            return
        session = self.session
        run: RunView | None = state.run
        busy = session.busy
        self.query_one("#import-plan").display = not busy
        self.query_one("#import-controls").display = busy
        panel = self.query_one("#import-panel", ImportPanel)
        panel.display = run is not None and run.progress is not None
        where = self._where(state, run, session)
        self.query_one("#import-where", Static).update(where)
        self.query_one("#import-where").display = bool(where.plain)
        if busy:
            pause = self.query_one("#pause", Button)
            pause.label = "Resume" if session.paused else "Pause"
            self.query_one("#stop", Button).disabled = session.phase == "stopping"
        else:
            self._sync_plan(state, run)
        self.show_progress(state)
        self.query_one("#import-result", Static).update(self._result(state, run, session))
        self.refresh_bindings()

    def show_progress(self, state: ConsoleState) -> None:
        """The live part only (called by the session's 4 Hz timer)."""
        run = state.run
        panel = self.query_one("#import-panel", ImportPanel)
        if run is not None and run.progress is not None:
            panel.display = True
            panel.show(run.progress, run.rate_history, kind=run.kind or "import")
        elif self.session.phase == "preparing":
            self.query_one("#import-where", Static).update(self._where(state, run, self.session))

    def _where(self, state: ConsoleState, run: RunView | None, session: RunSession) -> Content:
        if session.phase == "preparing":
            return Content(f"Preparing the run: {session.preparing_rows:,} rows written to the journal…")
        if run is None or not run.sessions or session.busy:
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
        if c.get("creating"):
            parts.append(
                f"\n{c['creating']:,} were in flight when the last session ended: they are looked up in Clerk "
                "before anything is sent again."
            )
        return Content.assemble(*parts)

    def _sync_plan(self, state: ConsoleState, run: RunView | None) -> None:
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
        plan_figures = self.query_one("#plan-figures", Static)
        start = self.query_one("#start", Button)
        start.label = action
        if finished and not resuming:
            plan_figures.update(
                Content(
                    "Every row of this run is settled. Another export goes into another run folder "
                    "(clerk-migrate --run NEW_DIR)."
                ).stylize("$text-muted")
            )
            for widget_id in ("#plan-blockers", "#run-dir-row", "#prod-confirm", "#start-row"):
                self.query_one(widget_id).display = False
            return
        pace = pace_of(kind, (run.info.settings.get("rate") if run is not None else None) or self._rate())
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

        run_dir_row = self.query_one("#run-dir-row")
        run_dir_row.display = state.run_dir is None
        if state.run_dir is None:
            box = self.query_one("#run-dir", Input)
            if not box.value and state.load.path is not None:
                box.value = str(state.load.path.parent / "clerk-migrate-run")

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

    def _rate(self) -> float | None:
        rate = self.session.options().get("rate")
        return float(rate) if rate else None

    def _resume_problems(self, state: ConsoleState, run: RunView) -> list[str]:
        problem = resume_problem(run, state.settings)
        return [problem] if problem else []

    def _result(self, state: ConsoleState, run: RunView | None, session: RunSession) -> Content:
        if session.busy:
            return Content.assemble(
                ("p", "bold"), " pause/resume · ", ("s", "bold"),
                " safe stop: in-flight requests finish, the rest stays pending (resumable)",
            ).stylize("$text-muted")
        if session.refused:
            return Content.assemble(("✗ Not started: ", "$text-error bold"), session.refused)
        if run is None or run.result_code is None:
            return Content("")
        c = run.counts
        if run.result_code == 0:
            head = Content.assemble(("✓ Import complete: ", "$text-success bold"))
        elif run.result_code == 1:
            head = Content.assemble(("✓ Import finished, some rows failed: ", "$text-warning bold"))
        elif run.result_code == 130:
            head = Content.assemble(("■ Stopped: ", "$text-warning bold"))
        else:
            head = Content.assemble(("✗ Stopped by Clerk: ", "$text-error bold"), run.result_message or "", "\n")
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
        if self.session.busy:
            self.query_one("#pause").focus()
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
        busy = self.session.busy if self.is_mounted else False
        if action == "start":
            run = self.state.run
            if busy or (run is not None and run.import_finished):
                return False
            return None if self._problems() else True  # shown dim while something blocks it
        if action in ("pause", "stop"):
            return busy
        return True

    def _problems(self) -> list[str]:
        """What blocks a start now: the engine's guards for a run to resume, else the
        console's blockers (no key, no export, the Development guard or cap)."""
        state, run = self.state, self.state.run
        if run is not None and run.info.rows_loaded and run.to_send > 0:
            return self._resume_problems(state, run)
        return [reason for _, reason in state.import_blockers()]

    def action_start(self) -> None:
        state = self.state
        run = state.run
        if self.session.busy:
            return
        if self.session.other:
            self._refuse(f"the {self.session.other} is running: wait for it to end")
            return
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
            state.run_dir = run_dir
        self.query_one("#prod-word", Input).value = ""
        if self.session.start_import(confirmed_production=kind == "production", run_dir=run_dir):
            self.query_one("#pause").focus()

    def _refuse(self, words: str) -> None:
        self.session.refused = words
        self.query_one("#import-result", Static).update(
            Content.assemble(("✗ Not started: ", "$text-error bold"), words)
        )

    def action_pause(self) -> None:
        if self.session.paused:
            self.session.resume()
        else:
            self.session.pause()

    def action_stop(self) -> None:
        self.session.stop()

    @on(Input.Submitted, "#prod-word")
    @on(Button.Pressed, "#start")
    def _start(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#pause")
    def _pause(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_pause()

    @on(Button.Pressed, "#stop")
    def _stop(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop()
