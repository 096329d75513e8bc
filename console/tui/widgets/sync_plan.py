"""Sync › the plan (issue 14 §2): the later export's path (and its accounts file when
the run reads one), Plan (`plan_sync` in a thread worker: no request, nothing written;
then, with the run's key, `plan.read_clerk` so that "before" is Clerk's value), the
counts by kind, and the plan's table (widgets/sync_table.py). The view owns the plan
and closes it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, ProgressBar, Select, Static

from console.tui.widgets.sync_table import PAGE_ROWS, SyncPlanTable

__all__ = ["PAGE_ROWS", "SyncPlanTable", "SyncPlanView", "kind_filter", "run_accounts_path"]


# ----------------------------------------------------------------------------- the plan's form
KIND_CHOICES = (
    ("every row that changes", "active"),
    ("all but unchanged", "all"),
    ("new", "new"), ("changed", "changed"), ("removed", "removed"),
    ("refused", "refused"), ("failed", "failed"), ("dropped", "dropped"),
)
KIND_FILTER: dict[str, Any] = {"active": ["new", "changed", "removed"], "all": None}
COUNT_ORDER = ("new", "changed", "unchanged", "removed", "refused", "failed", "dropped", "busy")


def kind_filter(value: object) -> Any:
    """The Select's value -> plan.rows(kind=…): a list, None (all but unchanged), or one kind."""
    return KIND_FILTER.get(str(value), str(value))


def run_accounts_path(run: Any) -> str | None:
    from console.migration.feed import run_accounts

    return run_accounts(run.info)[0] if run is not None else None


class PlanProgress(Message):
    def __init__(self, generation: int, rows: int, bytes_read: int, size: int) -> None:
        super().__init__()
        self.generation, self.rows, self.bytes_read, self.size = generation, rows, bytes_read, size

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PlanProgress)


class PlanMade(Message):
    """A plan (or the one line saying why there is none), and what reading Clerk said."""

    def __init__(self, generation: int, plan: Any = None, error: str | None = None, note: str = "") -> None:
        super().__init__()
        self.generation, self.plan, self.error, self.note = generation, plan, error, note


class SyncPlanView(Vertical):
    """The form that makes a plan, its counts, and its table. Owns the plan (closes it)."""

    class Changed(Message):
        """A plan was made, dropped, or failed: the pane re-renders."""

    DEFAULT_CSS = """
    SyncPlanView { height: 1fr; }
    SyncPlanView #sync-form, SyncPlanView #sync-accounts-row { height: 1; }
    SyncPlanView #sync-form Input, SyncPlanView #sync-accounts-row Input { width: 1fr; }
    SyncPlanView #sync-form Button { margin-left: 1; min-width: 8; }
    SyncPlanView #plan-bar { margin-top: 1; }
    SyncPlanView #plan-bar Bar { width: 1fr; }
    SyncPlanView #plan-counts { height: auto; margin-top: 1; }
    SyncPlanView #plan-filter { height: 1; }
    SyncPlanView #sync-kind { width: 30; }
    SyncPlanView #plan-page { width: 1fr; padding-left: 1; color: $text-muted; }
    SyncPlanView #plan-table { height: 1fr; min-height: 4; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan: Any = None
        self.note = ""  # what reading Clerk's values said
        self.error: str | None = None  # why there is no plan
        self.planning = False
        self.planned_for: tuple[str, str | None] | None = None  # (export, accounts) of the plan shown
        self.removed = "keep"
        self._generation = 0
        self._stop: threading.Event | None = None
        self._progress: tuple[int, int, int] = (0, 0, 0)

    def compose(self) -> ComposeResult:
        from console.tui.screens.load import PathSuggester

        with Horizontal(id="sync-form", classes="row"):
            yield Input(placeholder="the later export (→ completes)", suggester=PathSuggester(), id="sync-path",
                        compact=True)
            yield Button("Plan", variant="primary", id="sync-plan", compact=True)
            yield Button("Browse", id="sync-browse", compact=True)
        with Horizontal(id="sync-accounts-row", classes="row"):
            yield Input(placeholder="its accounts file (the run reads one)", suggester=PathSuggester(),
                        id="sync-accounts", compact=True)
        yield ProgressBar(total=None, show_eta=False, id="plan-bar")
        yield Static("", id="plan-counts")
        with Horizontal(id="plan-filter"):
            yield Select(KIND_CHOICES, value="active", allow_blank=False, id="sync-kind", compact=True)
            yield Static("", id="plan-page")
        yield SyncPlanTable(id="plan-table")

    _ready = False

    def on_mount(self) -> None:
        self._ready = True
        self.post_message(self.Changed())  # the pane renders again, with this view's widgets there

    def on_unmount(self) -> None:
        self._ready = False  # the children are gone already
        if self._stop is not None:
            self._stop.set()
        self.drop()

    # -- rendering -----------------------------------------------------------------------
    def sync(self, run: Any, running: bool, removed: str) -> None:
        if not self._ready:
            return
        ready = run is not None and run.import_finished
        self.query_one("#sync-form").display = ready and not running
        self.query_one("#sync-accounts-row").display = ready and not running and run_accounts_path(run) is not None
        if removed != self.removed:
            self.removed = removed
            table = self.query_one(SyncPlanTable)
            if self.plan is not None:
                table.show(self.plan, table.kind, removed)
        shown = self.plan is not None and not running
        for selector in ("#plan-filter", "#plan-table"):
            self.query_one(selector).display = shown
        self.styles.height = "1fr" if shown else "auto"  # no plan: what follows comes right under the form
        self.query_one("#plan-bar").display = self.planning
        self.show_counts(running)

    def show_counts(self, running: bool = False) -> None:
        box = self.query_one("#plan-counts", Static)
        if self.planning:
            from console.tui.screens.load import human_bytes

            rows, read, size = self._progress
            if size:
                self.query_one("#plan-bar", ProgressBar).update(total=size, progress=read)
            box.update(f"Reading the new export: {rows:,} rows · {human_bytes(read)} of {human_bytes(size)}")
            return
        plan = self.plan
        box.display = plan is not None and not running
        if plan is None or running:
            return
        counts = plan.counts
        parts: list[Any] = [(f"{plan.rows_in_export:,} rows", "bold"), ": "]
        for n, kind in enumerate(k for k in COUNT_ORDER if counts.get(k) or k in ("new", "changed", "removed")):
            parts += [", " if n else "", (f"{counts.get(kind, 0):,}", "bold"), f" {kind}"]
        sends = counts.get("new", 0) + counts.get("changed", 0)
        parts.append(f". To send: {sends:,} rows" + (" and the removed ones" if self.removed != "keep" else "") + ".")
        if plan.busy:
            parts.append(("\nThe import is not finished (rows pending or in flight): the sync refuses until it is.",
                          "$text-error"))
        if self.note:
            parts.append(("\n" + self.note, "$text-muted"))
        box.update(Content.assemble(*parts))
        self.query_one("#plan-page", Static).update(self.query_one(SyncPlanTable).page_words())

    # -- the plan ----------------------------------------------------------------------------
    def _paths(self) -> tuple[Path, Path | None] | None:
        value = self.query_one("#sync-path", Input).value.strip()
        if not value:
            self.error = "type the path of the later export first"
            return None
        accounts = self.query_one("#sync-accounts", Input).value.strip()
        if self.query_one("#sync-accounts-row").display and not accounts:
            self.error = "this run reads an accounts file: give the later one beside the export"
            return None
        return Path(value).expanduser(), (Path(accounts).expanduser() if accounts else None)

    def start(self, run: Any, settings: Any, client_factory: Any) -> None:
        paths = self._paths()
        if paths is None:
            self.post_message(self.Changed())
            return
        export, accounts = paths
        if self._stop is not None:
            self._stop.set()
        self.drop()
        self._generation += 1
        self._stop = threading.Event()
        self.error, self.note, self.planning, self._progress = None, "", True, (0, 0, 0)
        self.planned_for = (str(export), str(accounts) if accounts else None)
        self.post_message(self.Changed())
        self._make(self._generation, run, export, accounts, settings, client_factory, self._stop)

    @work(thread=True, exclusive=True, group="sync-plan", exit_on_error=False)
    def _make(self, generation: int, run: Any, export: Path, accounts: Path | None, settings: Any,
              client_factory: Any, stop: threading.Event) -> None:
        import asyncio

        from console.migration.errors import as_migration_error
        from console.migration.journal import RunJournal
        from console.migration.sync_plan import PlanStopped, plan_sync
        from console.migration.blockers import resume_problem

        def progress(rows: int, bytes_read: int, size: int) -> None:
            self.post_message(PlanProgress(generation, rows, bytes_read, size))

        try:
            with RunJournal.open(run.run_dir, readonly=True) as journal:
                plan = plan_sync(journal, export, accounts=accounts, on_progress=progress, stop=stop)
        except PlanStopped:
            return
        except Exception as exc:  # noqa: BLE001 - the engine's one line (unreadable export, no fingerprints, …)
            known = as_migration_error(exc)
            if known is None:
                raise
            self.post_message(PlanMade(generation, error=known.message))
            return
        note = ""
        changed = plan.counts.get("changed", 0)
        problem = resume_problem(run, settings)
        if changed and problem is None:
            async def read() -> int:
                async with client_factory(settings) as client:
                    return await plan.read_clerk(client, stop=stop)

            try:
                requests = asyncio.run(read())
                note = (f"Before: Clerk's values of the {changed:,} changed users, read back ({requests:,} "
                        f"request{'s' * (requests != 1)}).")
            except Exception as exc:  # noqa: BLE001 - reads only: said; the plan stands without them
                known = as_migration_error(exc)
                note = (f"Clerk's values were not read ({known.message if known else exc}): "
                        "before shows the journal's email only.")
        elif changed:
            note = f"Clerk's values were not read ({problem}): before shows the journal's email only."
        self.post_message(PlanMade(generation, plan, note=note))

    def on_plan_progress(self, message: PlanProgress) -> None:
        message.stop()
        if message.generation == self._generation:
            self._progress = (message.rows, message.bytes_read, message.size)
            self.show_counts()

    def on_plan_made(self, message: PlanMade) -> None:
        message.stop()
        if message.generation != self._generation:
            if message.plan is not None:
                message.plan.close()
            return
        self.planning = False
        self.error = message.error
        self.plan, self.note = message.plan, message.note
        table = self.query_one(SyncPlanTable)
        table.show(self.plan, kind_filter(self.query_one("#sync-kind", Select).value), self.removed)
        self.post_message(self.Changed())
        if self.plan is not None:
            self.screen.set_focus(table if table.row_count else self.query_one("#sync-kind"))

    def drop(self) -> None:
        """No plan any more (a new one is made, or the sync starts: the worker plans again)."""
        if self.plan is not None:
            self.plan.close()
        self.plan = None
        if self._ready:
            self.query_one(SyncPlanTable).show(None)

    def turn(self, step: int) -> None:
        table = self.query_one(SyncPlanTable)
        if table.turn(step):
            self.query_one("#plan-page", Static).update(table.page_words())

    # -- fields and buttons ------------------------------------------------------------------
    @on(Input.Submitted, "#sync-path")
    @on(Input.Submitted, "#sync-accounts")
    @on(Button.Pressed, "#sync-plan")
    def _plan_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.post_message(self.PlanWanted())

    class PlanWanted(Message):
        """The operator asks for a plan (enter in the path, or Plan): the pane has the run."""

    @on(Button.Pressed, "#sync-browse")
    def _browse(self, event: Button.Pressed) -> None:
        from console.tui.screens.modals import BrowseModal

        event.stop()
        current = self.query_one("#sync-path", Input).value.strip()
        run = self.app.state.run  # type: ignore[attr-defined]
        start = Path(current).expanduser() if current else (
            Path(run.info.export_path).parent if run is not None else Path.cwd())
        while not start.is_dir() and start != start.parent:
            start = start.parent

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.query_one("#sync-path", Input).value = str(path)
                self.post_message(self.PlanWanted())

        self.app.push_screen(BrowseModal(start), chosen)

    @on(Select.Changed, "#sync-kind")
    def _kind(self, event: Select.Changed) -> None:
        event.stop()
        if self.plan is not None:
            self.query_one(SyncPlanTable).show(self.plan, kind_filter(event.value), self.removed)
            self.show_counts()
