"""Sync (issue 14 §2): bring Clerk in line with a later export of the live app, as
`clerk-migrate sync --run DIR NEW_EXPORT` does (docs/sync.md, docs/cut-over.md).

A step of its own after Verify, because a cut-over goes import → verify → sync →
verify → switch, and a sync comes back several times (T1, T2, the final export
during the freeze): it is not a second import (it works on a run whose import is
finished, against a later export), and the rail then says where the run stands.

1. The plan: the new export's path, Plan (`plan_sync`, in a thread: no request,
   nothing written), the counts by kind, and a table of every row that is not
   unchanged — kind, row, field, before → after (widgets/sync_plan.py, paged).
   With the run's key, Clerk's values of the changed users are read back first
   (`plan.read_clerk`: one request per 100), so "before" is Clerk's.
2. The sync: a job in a worker of its own (`StartJob("sync", …)`, as every job the
   console starts: it outlives the console, a second console watches it), its
   `SyncProgress` in the live panel (widgets/sync_panel.py), pause and safe stop.
   Removed users are kept by default; ban or delete waits for its word typed.
3. Afterwards the run follows the newest export: Verify compares against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, Input, Label, Select, Static

from console.tui.messages import PauseJob, ResumeJob, StartJob, StopJob
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.widgets.job_line import JobLine
from console.tui.widgets.sync_panel import SyncPanel
from console.tui.widgets.sync_plan import SyncPlanTable, SyncPlanView, run_accounts_path

REMOVED_CHOICES = (("keep them (listed)", "keep"), ("ban them", "ban"), ("delete them", "delete"))
REMOVED_DONE = {"keep": "kept", "ban": "banned", "delete": "deleted"}


class SyncPane(StepPane):
    step = "sync"
    _ready = False

    DEFAULT_CSS = """
    SyncPane #sync-note { height: auto; color: $text-muted; }
    SyncPane #sync-run-row { height: 1; margin-top: 1; }
    SyncPane #sync-run-row Label { width: auto; padding-right: 1; color: $text-muted; }
    SyncPane #sync-run-row Button { margin-left: 1; min-width: 8; }
    SyncPane #sync-removed { width: 22; }
    SyncPane #sync-word { width: 1fr; }
    SyncPane #sync-outcome { height: auto; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start_sync", "Sync", tooltip="Send the plan: new users, changes, removals"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("p", "pause", "Pause/resume"),
        Binding("s", "stop", "Safe stop"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.refusal: str | None = None  # this pane's own (the word not typed)
        self._followed: object = None  # the sync result whose export Load and Review were given

    def compose(self) -> ComposeResult:
        yield Label("Sync: bring Clerk in line with a later export", classes="pane-title")
        yield Static("", id="sync-note")
        yield SyncPlanView(id="sync-plan-view")
        with Horizontal(id="sync-run-row", classes="row"):
            yield Label("Removed")
            yield Select(REMOVED_CHOICES, value="keep", allow_blank=False, id="sync-removed", compact=True)
            yield Input(placeholder="", id="sync-word", compact=True)
            yield Button("Sync", variant="warning", id="sync-start", compact=True)
        yield SyncPanel(id="sync-panel")
        yield JobLine("", id="sync-job-line")
        yield Static("", id="sync-outcome")

    def on_mount(self) -> None:
        self._ready = True
        self.sync(self.state)

    @property
    def planner(self) -> SyncPlanView:
        return self.query_one(SyncPlanView)

    @property
    def plan(self) -> Any:
        return self.planner.plan

    # -- what the worker reported ---------------------------------------------------------
    @property
    def job(self) -> Any:
        job = self.state.job
        return job if job is not None and job.kind == "sync" else None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.active

    @property
    def removed(self) -> str:
        return str(self.query_one("#sync-removed", Select).value)

    # -- rendering -----------------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:
            return
        run = state.run
        ready = run is not None and run.import_finished
        note = self.query_one("#sync-note", Static)
        if not ready:
            note.update("Sync comes after the import: every importable row settled first (step 4, Import). "
                        "Then a later export of the live app brings Clerk up to date (docs/cut-over.md).")
        elif self.plan is None and not self.running:
            note.update(Text("Compared by external id with what this run imported; only the difference is sent. "
                             f"The run's export now: {Path(run.info.export_path).name}."))
        else:
            note.update("")
        note.display = bool(str(note.render()))
        self.planner.display = not self.running  # the live panel takes its place while the sync runs
        self.planner.sync(run, self.running, self.removed)
        has_plan = self.plan is not None and not self.running
        self.query_one("#sync-run-row").display = has_plan
        self.query_one("#sync-start", Button).disabled = not has_plan
        word = self.query_one("#sync-word", Input)
        word.display = self.removed != "keep"
        word.placeholder = f"type {self.removed}" if self.removed != "keep" else ""
        self.show_progress(state)
        self._follow_export(state)
        self.refresh_keys()

    def _follow_export(self, state: ConsoleState) -> None:
        """After a sync the run's export is the new one (the journal adopted it): Load and
        Review read it too, so that every step shows the export the run now follows."""
        job = self.job
        result = job.result if job is not None and not job.active else None
        run = state.run
        if result is None or result is self._followed or result.exit_code not in (0, 1) or run is None:
            return
        export = Path(run.info.export_path)
        if Path(str(result.summary.get("export", ""))).resolve() != export.resolve():
            return  # the run is not read again yet: the next sync() call comes after it
        self._followed = result
        if state.load.path is None or state.load.path.resolve() != export.resolve():
            accounts = run_accounts_path(run)
            self.console.start_load(export, mapping=run.info.mapping, accounts=Path(accounts) if accounts else None)

    def show_progress(self, state: ConsoleState) -> None:
        """The live part (called for each snapshot of the sync worker)."""
        panel = self.query_one(SyncPanel)
        job = self.job
        panel.display = job is not None and (job.active or job.snapshot is not None)
        if panel.display:
            panel.show(job.snapshot, job.state if job.active else None)
        self.query_one("#sync-job-line", JobLine).show(job)
        self.query_one("#sync-outcome", Static).update(self._outcome())

    def _outcome(self) -> Content:
        error = self.refusal or self.planner.error
        if error:
            return Content.assemble(("✗ ", "$text-error bold"), error)
        job = self.job
        if job is not None and not job.active:
            if job.refused:
                return Content.assemble(("✗ Not started: ", "$text-error bold"), job.refused)
            if job.lost:
                return Content.assemble(("✗ ", "$text-error bold"), job.note or "the sync worker went away")
            if job.result is not None and self.plan is None:
                return self._result_words(job.result)
        if self.running:
            return Content.assemble(("p", "bold"), " pauses · ", ("s", "bold"),
                                    " stops safely (the same sync again resumes it)").stylize("$text-muted")
        if self.plan is not None:
            return Content.assemble(("enter", "bold"), " on a line: the whole row · ", ("ctrl+r", "bold"),
                                    " sends the plan").stylize("$text-muted")
        return Content("")

    @staticmethod
    def _result_words(r: Any) -> Content:
        s = r.summary or {}
        if r.exit_code == 2:
            return Content.assemble(("✗ Not done: ", "$text-error bold"), r.message or "refused")
        head = ("■ Stopped: ", "$text-warning bold") if r.exit_code == 130 else (
            ("✓ Synced: ", "$text-success bold") if r.exit_code == 0 else ("✗ Some rows failed: ", "$text-error bold"))
        policy = s.get("removed_policy", "keep")
        acted = s.get(REMOVED_DONE.get(policy, "kept"), 0)
        return Content.assemble(
            head,
            f"{s.get('created', 0):,} created, {s.get('updated', 0):,} updated, {s.get('removed', 0):,} removed "
            f"({acted:,} {REMOVED_DONE.get(policy, policy)}), {s.get('failed', 0):,} failed, "
            f"{s.get('requests', 0):,} requests.",
            ("\nThe run now follows ", "$text-muted"), (Path(str(s.get("export", ""))).name, "bold"),
            (": Verify (step 6) compares Clerk with it.", "$text-muted"),
        )

    # -- the plan ----------------------------------------------------------------------------
    @on(SyncPlanView.PlanWanted)
    def _plan_wanted(self, event: SyncPlanView.PlanWanted) -> None:
        event.stop()
        run = self.state.run
        if run is None or not run.import_finished or self.running:
            return
        self.refusal = None
        self.planner.start(run, self.state.settings, self.console.options.client_factory)

    @on(SyncPlanView.Changed)
    def _plan_changed(self, event: SyncPlanView.Changed) -> None:
        event.stop()
        self.sync(self.state)

    # -- the sync ------------------------------------------------------------------------
    def action_start_sync(self) -> None:
        planner = self.planner
        if planner.plan is None or self.running or planner.planning:
            return
        removed = self.removed
        if removed != "keep" and self.query_one("#sync-word", Input).value.strip().lower() != removed:
            self.refusal = (f"removed users are {REMOVED_DONE[removed]} only once you type {removed!r} "
                            "in the field beside the choice")
            self.query_one("#sync-word").focus()
            self.sync(self.state)
            return
        export, accounts = planner.planned_for or (planner.plan.export_path, None)
        self.refusal = None
        options = {"export": str(Path(export).resolve()), "accounts": str(Path(accounts).resolve()) if accounts else None,
                   "removed": removed, "confirmed": True}  # the run was confirmed when it was made, as retry takes it
        planner.drop()  # the worker plans again from the file; this plan is stale once the journal adopts it
        self.post_message(StartJob("sync", options))
        self.sync(self.state)

    def action_pause(self) -> None:
        job = self.job
        if job is not None and job.active:
            self.post_message(ResumeJob() if job.paused else PauseJob())

    def action_stop(self) -> None:
        if self.running:
            self.post_message(StopJob())

    def action_page(self, step: int) -> None:
        self.planner.turn(step)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "start_sync":
            return None if self.plan is None or self.running or self.planner.planning else True
        if action in ("pause", "stop"):
            return self.running
        if action == "page":
            return self.plan is not None and not self.running
        return True

    # -- fields and buttons ------------------------------------------------------------------
    @on(Select.Changed, "#sync-removed")
    def _removed(self, event: Select.Changed) -> None:
        event.stop()
        self.query_one("#sync-word", Input).value = ""
        self.refusal = None
        self.sync(self.state)

    @on(Input.Submitted, "#sync-word")
    @on(Button.Pressed, "#sync-start")
    def _start_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_start_sync()

    def on_enter(self) -> None:
        run = self.state.run
        if run is not None and run.import_finished and not self.running:
            # now (keys already queued go there), and again after what is queued: panes passed by
            # keys typed quickly (ctrl+n three times) may have their own focus() calls queued
            target = self.query_one(SyncPlanTable) if self.plan is not None else self.query_one("#sync-path")
            self.screen.set_focus(target)
            target.focus()
        else:
            super().on_enter()
