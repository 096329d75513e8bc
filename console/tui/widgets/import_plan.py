"""Import › the plan: what an import (or a resume) will do before anything is typed:
the rows to send, the instance, the pace and the time it takes, what blocks it,
the run folder (a plain console: what the folder named here holds, issue 15 item 1),
and the Production confirmation. Rendered from ConsoleState; the Import pane
(screens/import_.py) owns the keys and starts the job."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from console.migration.blockers import resume_problem
from console.migration.status import planned_pace
from console.tui.runview import FolderHoldings, RunView, duration
from console.tui.state import ConsoleState

CONFIRM_WORD = "production"
DEFAULT_FOLDER = "clerk-migrate-run"


class ImportPlan(Vertical):
    DEFAULT_CSS = """
    ImportPlan { height: auto; }
    ImportPlan #plan-blockers, ImportPlan #prod-confirm { margin: 1 0 0 0; }
    ImportPlan #plan-folder { margin-top: 1; }
    ImportPlan #run-dir-row { margin-top: 1; }
    ImportPlan #run-dir-label { width: auto; color: $text-muted; }
    ImportPlan #start-row { margin-top: 1; }
    ImportPlan #prod-word { width: 1fr; }
    ImportPlan #start { width: 15; }
    ImportPlan #open-run { margin-left: 1; }
    """

    def compose(self) -> ComposeResult:
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

    @property
    def rate(self) -> float | None:
        rate = self.app.options.job("import").get("rate")  # type: ignore[attr-defined]
        return float(rate) if rate else None

    def holdings(self, state: ConsoleState) -> FolderHoldings | None:
        """Plain console: what the folder in the box holds (read by the app in a thread)."""
        holds = state.folder_holds
        if state.run_dir is not None or holds is None:
            return None
        box = self.query_one("#run-dir", Input).value.strip()
        return holds if box and Path(box).expanduser() == holds.path else None

    def sync(self, state: ConsoleState, run: RunView | None, other: bool) -> None:
        holds = self.holdings(state)
        if run is None and holds is not None and holds.what in ("run", "other_export"):
            run = holds.view  # the folder's run, before it is opened: the plan says what it holds
        resuming = run is not None and run.info.rows_loaded and (run.to_send > 0 or not run.sessions)
        finished = run is not None and run.import_finished
        kind = run.info.instance_kind if run is not None else state.instance_kind
        if resuming:
            assert run is not None
            rows, problems = run.to_send, resume_problems(state, run)
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
        rate = (run.info.settings.get("rate") if run is not None else None) or self.rate
        pace = planned_pace(kind, float(rate) if rate else None)
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



def resume_problems(state: ConsoleState, run: RunView) -> list[str]:
    """Why this key cannot carry the run on (the engine's resume_problem), as a list."""
    problem = resume_problem(run, state.settings)
    return [problem] if problem else []
