"""Finish: what the operator takes away after the import.

- the id map (CSV) and the foreign-key rewrite SQL (a dialect and the
  TABLE.COLUMN list in a form): `write_id_map` / `write_fk_sql`;
- the other option, keeping the old ids: the session-token claim and how the
  app reads it (`session_claim_snippet`);
- the app-code checklist of Clerk's guide, filled from `scan_app(path)` when
  the operator names the app's folder (`app_code_steps` before that);
- undo of a rehearsal run, after a preview and the typed word `undo`
  (`Undoer`, resumable, only the users this run created).

Every file is written and every request sent by the engine, in thread workers.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static, TabbedContent, TabPane

from console.tui.import_run import RunSession
from console.tui.runview import MAP_NAME, RunView
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.messages import ProgressMessage

UNDO_WORD = "undo"
DIALECT_CHOICES = (("PostgreSQL", "postgresql"), ("MySQL / MariaDB", "mysql"), ("SQLite", "sqlite"))
STATUS_MARK = {"done": ("✓ done", "$text-success"), "to do": ("• to do", "$text-warning"), "not applicable": ("– n/a", "$text-muted")}


class Written(Message):
    """A file the engine wrote (or why it could not)."""

    def __init__(self, what: str, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.what = what
        self.result = result
        self.error = error


class Scanned(Message):
    def __init__(self, report: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.report = report
        self.error = error


class UndoPreviewed(Message):
    def __init__(self, preview: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.error = error


class UndoProgressed(ProgressMessage):
    """A snapshot from the undo worker."""


class UndoEnded(Message):
    def __init__(self, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class FinishPane(StepPane):
    step = "finish"
    _ready = False

    DEFAULT_CSS = """
    FinishPane #finish-tabs { height: 1fr; }
    FinishPane TabPane { padding: 0; }
    FinishPane .finish-scroll { height: 1fr; }
    FinishPane .section { margin-top: 1; }
    FinishPane .form-row { height: 1; }
    FinishPane .form-label { width: 9; color: $text-muted; }
    FinishPane .form-row Input { width: 1fr; }
    FinishPane .form-row Button { margin-left: 1; }
    FinishPane #fk-dialect { width: 1fr; }
    FinishPane .outcome { height: auto; }
    FinishPane .note { margin-bottom: 1; }
    FinishPane #claim { height: auto; }
    FinishPane #checklist { height: auto; max-height: 12; margin-top: 1; }
    FinishPane #step-detail { height: auto; margin-top: 1; }
    FinishPane #undo-bar { margin-top: 1; }
    FinishPane #undo-bar Bar { width: 1fr; }
    """

    BINDINGS = [
        Binding("ctrl+t", "next_tab", "Next tab", tooltip="Id map & SQL → Keep old ids → App code → Undo"),
        Binding("ctrl+o", "write_map", "Write id map"),
        Binding("ctrl+s", "write_sql", "Write SQL"),
        Binding("s", "stop_undo", "Stop undo"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.map_result: Any = None
        self.sql_result: Any = None
        self.scan: Any = None
        self.preview: Any = None
        self.undo_progress: Any = None
        self.undo_result: Any = None
        self.undoing = False
        self._undoer: Any = None
        self._undo_lock = threading.Lock()
        self._undo_finished = threading.Event()
        self._undo_finished.set()
        self._defaults_for: Path | None = None

    def compose(self) -> ComposeResult:
        yield Label("Finish: the id map, the foreign keys, the app, undo", classes="pane-title")
        yield Static("", id="finish-empty", classes="note")
        with TabbedContent(id="finish-tabs"):
            with TabPane("Id map & SQL", id="tab-ids"):
                with VerticalScroll(classes="finish-scroll"):
                    yield Static(
                        "The map of Auth.js ids to Clerk ids, for every user of this run (created, or already "
                        "in Clerk): a CSV (0600, it holds emails).",
                        classes="note",
                    )
                    with Horizontal(classes="form-row"):
                        yield Label("Map file", classes="form-label")
                        yield Input(id="map-path", compact=True)
                        yield Button("Write map", variant="primary", id="write-map", compact=True)
                    yield Static("", id="map-outcome", classes="outcome")
                    yield Label("Foreign keys: columns holding Auth.js ids", classes="section")
                    with Horizontal(classes="form-row"):
                        yield Label("Dialect", classes="form-label")
                        yield Select(DIALECT_CHOICES, value="postgresql", allow_blank=False, id="fk-dialect", compact=True)
                    with Horizontal(classes="form-row"):
                        yield Label("Columns", classes="form-label")
                        yield Input(placeholder="TABLE.COLUMN, e.g. Post.authorId", id="fk-columns", compact=True)
                    with Horizontal(classes="form-row"):
                        yield Label("SQL file", classes="form-label")
                        yield Input(id="sql-path", compact=True)
                        yield Button("Write SQL", variant="primary", id="write-sql", compact=True)
                    yield Static("", id="sql-outcome", classes="outcome")
            with TabPane("Keep old ids", id="tab-claim"):
                with VerticalScroll(classes="finish-scroll", id="claim-scroll"):
                    yield Static("", id="claim")
            with TabPane("App code", id="tab-app"):
                with VerticalScroll(classes="finish-scroll"):
                    with Horizontal(classes="form-row"):
                        yield Label("App path", classes="form-label")
                        yield Input(placeholder="the Next.js app's folder", id="app-path", compact=True)
                        yield Button("Scan", variant="primary", id="scan", compact=True)
                    yield Static("", id="scan-outcome", classes="outcome")
                    yield DataTable(id="checklist", cursor_type="row", zebra_stripes=True)
                    yield Static("", id="step-detail")
            with TabPane("Undo", id="tab-undo"):
                with VerticalScroll(classes="finish-scroll"):
                    yield Static("", id="undo-what")
                    with Horizontal(classes="form-row"):
                        yield Button("Preview", id="undo-preview", compact=True)
                    yield Static("", id="undo-preview-outcome", classes="outcome")
                    with Horizontal(classes="form-row", id="undo-confirm-row"):
                        yield Label("Confirm", classes="form-label")
                        yield Input(placeholder=f"type {UNDO_WORD}", id="undo-word", compact=True)
                        yield Button("Undo", variant="error", id="undo-go", compact=True)
                        yield Button("Stop", variant="warning", id="undo-stop", compact=True)
                    yield ProgressBar(total=1, show_eta=False, id="undo-bar")
                    yield Static("", id="undo-outcome", classes="outcome")

    def on_mount(self) -> None:
        from console.migration.outputs import session_claim_snippet

        self.query_one("#claim", Static).update(_claim_text(session_claim_snippet()))
        table = self.query_one("#checklist", DataTable)
        table.add_column("Status", key="status")
        table.add_column("Step of the guide", key="step")
        self.query_one("#undo-bar").display = False
        for box in self.query(".outcome"):
            box.display = False
        self._guide_checklist()
        self._ready = True
        self.sync(self.state)

    @property
    def session(self) -> RunSession:
        return RunSession.of(self.app)

    # -- rendering -----------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:  # the app re-renders before every pane has its widgets
            return
        run: RunView | None = state.run
        ready = run is not None and run.sessions > 0
        self.query_one("#finish-empty").display = not ready
        self.query_one("#finish-tabs").display = ready
        if not ready:
            self.query_one("#finish-empty", Static).update("Nothing to finish yet: import first (step 4, Import).")
            return
        assert run is not None
        if self._defaults_for != run.run_dir:
            self._defaults_for = run.run_dir
            self.query_one("#map-path", Input).value = str(run.run_dir / MAP_NAME)
            self.query_one("#sql-path", Input).value = str(run.run_dir / "rewrite-user-ids.sql")
        self._sync_undo(run)
        self.refresh_bindings()

    def _sync_undo(self, run: RunView) -> None:
        created = run.counts.get("created", 0)
        left = max(0, created - run.undone)
        production = run.info.instance_kind == "production"
        words = Content.assemble(
            "Undo deletes the users ",
            ("this run created", "bold"),
            f": {left:,} still to delete",
            f" ({run.undone:,} already undone)" if run.undone else "",
            f". The {run.counts.get('existed', 0):,} that were in Clerk before are never touched. "
            "It is for a rehearsal: import, check the app, undo, then import again into a new run folder.",
        )
        if production:
            words = words.append(
                Content("\nThis is the Production instance: users who signed in since the import lose their account.")
                .stylize("$text-error bold")
            )
        self.query_one("#undo-what", Static).update(words)
        busy = self.undoing or self.session.busy
        self.query_one("#undo-preview", Button).disabled = busy or left == 0
        self.query_one("#undo-go", Button).disabled = busy or left == 0
        self.query_one("#undo-go").display = self.query_one("#undo-word").display = not self.undoing
        self.query_one("#undo-stop").display = self.undoing
        self.query_one("#undo-confirm-row").display = left > 0 or self.undoing

    def _guide_checklist(self) -> None:
        """Before a scan: the guide's steps, Auth.js construct -> Clerk replacement."""
        from console.migration.outputs import app_code_steps

        table = self.query_one("#checklist", DataTable)
        table.clear()
        for n, step in enumerate(app_code_steps()):
            table.add_row(Text("?", style="$text-muted"), Text(f"{step.auth_js} → {step.clerk}"), key=str(n))
        self._outcome(
            "#scan-outcome",
            Content("Name the app's folder and Scan: each step of the guide is then marked done or to do, with "
                    "the files and lines still using Auth.js.").stylize("$text-muted"),
        )

    # -- the id map and the SQL ------------------------------------------------------------
    def action_write_map(self) -> None:
        run = self.state.run
        value = self.query_one("#map-path", Input).value.strip()
        if run is None or not value:
            self._outcome("#map-outcome", None, "give a file name for the map")
            return
        self._write("map", run.run_dir, Path(value).expanduser())

    def action_write_sql(self) -> None:
        from console.migration.outputs import FkError, parse_fk

        run = self.state.run
        if run is None:
            return
        dialect = str(self.query_one("#fk-dialect", Select).value)
        names = [n.strip() for n in self.query_one("#fk-columns", Input).value.replace(";", ",").split(",") if n.strip()]
        path = self.query_one("#sql-path", Input).value.strip()
        if not names:
            self._outcome("#sql-outcome", None, "name at least one column that holds Auth.js user ids (TABLE.COLUMN)")
            self.query_one("#fk-columns").focus()
            return
        try:
            fks = [parse_fk(name, dialect) for name in names]
        except FkError as exc:
            self._outcome("#sql-outcome", None, str(exc))
            self.query_one("#fk-columns").focus()
            return
        if not path:
            self._outcome("#sql-outcome", None, "give a file name for the SQL")
            return
        self._write("sql", run.run_dir, Path(path).expanduser(), fks=fks, dialect=dialect)

    @work(thread=True, group="finish-write", exit_on_error=False)
    def _write(self, what: str, run_dir: Path, path: Path, fks: Any = None, dialect: str = "postgresql") -> None:
        from console.migration.journal import JournalError
        from console.migration.outputs import FkError, OutputError, write_fk_sql, write_id_map
        from console.migration.run import open_run

        try:
            with open_run(run_dir, readonly=True) as journal:
                result = write_id_map(journal, path) if what == "map" else write_fk_sql(journal, path, fks, dialect)
        except (OutputError, FkError, JournalError, OSError) as exc:
            self.post_message(Written(what, error=str(exc)))
            return
        self.post_message(Written(what, result=result))

    def on_written(self, message: Written) -> None:
        message.stop()
        target = "#map-outcome" if message.what == "map" else "#sql-outcome"
        if message.error:
            self._outcome(target, None, message.error)
            return
        r = message.result
        if message.what == "map":
            self.map_result = r
            words = Content.assemble(
                ("✓ ", "$text-success bold"),
                f"{r.rows:,} ids written to ",
                (str(r.path), "bold"),
                f" ({r.created:,} created, {r.existed:,} already there"
                + (f", {len(r.skipped):,} rows without an id left out" if r.skipped else "")
                + ").",
            )
            if self.state.run is not None:
                self.state.run.extras["finish"] = "map written"
                self.console.refresh_views()
        else:
            self.sql_result = r
            words = Content.assemble(
                ("✓ ", "$text-success bold"),
                f"{r.dialect} script for {r.rows:,} ids and {', '.join(r.columns)} written to ",
                (str(r.path), "bold"),
                ". One checked transaction: any surprise rolls it all back. Run it with\n",
                (r.run_with, "bold"),
            )
        self._outcome(target, words)

    def _outcome(self, target: str, words: Content | None, error: str | None = None) -> None:
        if error is not None:
            words = Content.assemble(("✗ ", "$text-error bold"), error)
        box = self.query_one(target, Static)
        box.update(words or "")
        box.display = bool(words)

    # -- the app's code -------------------------------------------------------------------
    def action_scan(self) -> None:
        value = self.query_one("#app-path", Input).value.strip()
        if not value:
            self._outcome("#scan-outcome", None, "name the app's folder (the one with package.json)")
            return
        self._outcome("#scan-outcome", Content("Scanning…"))
        self._scan(Path(value).expanduser())

    @work(thread=True, exclusive=True, group="finish-scan", exit_on_error=False)
    def _scan(self, path: Path) -> None:
        from console.appscan import AppScanError, scan_app

        try:
            self.post_message(Scanned(scan_app(path)))
        except AppScanError as exc:
            self.post_message(Scanned(error=str(exc)))

    def on_scanned(self, message: Scanned) -> None:
        message.stop()
        if message.error:
            self._outcome("#scan-outcome", None, message.error)
            return
        report = self.scan = message.report
        table = self.query_one("#checklist", DataTable)
        table.clear()
        for item in report.checklist:
            mark, style = STATUS_MARK.get(item.status, (item.status, ""))
            table.add_row(Text(mark, style=style), Text(item.title), key=item.key)
        todo = sum(1 for i in report.checklist if i.status == "to do")
        self._outcome(
            "#scan-outcome",
            Content.assemble(
                ("✓ " if not todo else "• ", "$text-success bold" if not todo else "$text-warning bold"),
                f"{report.path}: {report.router} router, {report.files_scanned:,} files, "
                f"{len(report.findings):,} Auth.js touch points; ",
                (f"{todo} step(s) to do" if todo else "every step done", "bold"),
                ". Highlight a step for its files and lines.",
            ),
        )
        self._show_step(report.checklist[0].key if report.checklist else None)

    @on(DataTable.RowHighlighted, "#checklist")
    def _step_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.scan is not None and event.row_key is not None:
            self._show_step(event.row_key.value)

    def _show_step(self, key: str | None) -> None:
        detail = self.query_one("#step-detail", Static)
        if self.scan is None or key is None:
            detail.update("")
            return
        findings = self.scan.by_step().get(key, [])
        item = next((i for i in self.scan.checklist if i.key == key), None)
        text = Text()
        if item is not None:
            text.append(item.title, style="bold")
            if item.detail:
                text.append("\n  ")
                text.append(item.detail)
            for line in item.evidence[:5]:
                text.append("\n  ✓ ")
                text.append(line)
        for f in findings[:12]:
            text.append("\n  ")
            text.append(f"{f.file}:{f.line}", style="bold")
            text.append(f"  {f.authjs} → {f.clerk}")
        if len(findings) > 12:
            text.append(f"\n  … and {len(findings) - 12} more (clerk-migrate scan-app PATH lists them all)")
        detail.update(text)

    # -- undo ---------------------------------------------------------------------------
    def action_undo_preview(self) -> None:
        run = self.state.run
        if run is None or self.undoing:
            return
        self._outcome("#undo-preview-outcome", Content("Reading the users back from Clerk…"))
        self._preview(run.run_dir, self.state.settings, dict(getattr(self.app, "undo_options", None) or {}))

    @work(thread=True, exclusive=True, group="undo-preview", exit_on_error=False)
    def _preview(self, run_dir: Path, settings: Any, options: dict[str, Any]) -> None:
        from console.clerk.errors import ClerkError
        from console.migration.journal import JournalError
        from console.migration.run import RunRefused, open_run
        from console.migration.undo import undo_preview

        options.pop("concurrency", None)
        try:
            with open_run(run_dir, readonly=True) as journal:
                preview = asyncio.run(undo_preview(journal, settings, **options))
        except (RunRefused, JournalError) as exc:
            self.post_message(UndoPreviewed(error=getattr(exc, "message", None) or str(exc)))
            return
        except ClerkError as exc:
            self.post_message(UndoPreviewed(error=f"Clerk answered {exc.status or 'nothing'}: {exc}"))
            return
        self.post_message(UndoPreviewed(preview))

    def on_undo_previewed(self, message: UndoPreviewed) -> None:
        message.stop()
        target = "#undo-preview-outcome"
        if message.error:
            self._outcome(target, None, message.error)
            return
        p = self.preview = message.preview
        words = Content.assemble(
            (f"{p.present:,}", "bold"),
            f" of the {p.to_delete:,} users to delete are in Clerk ({p.gone:,} already gone); ",
            (f"{p.signed_in:,} signed in since the import", "$text-error bold" if p.signed_in else "bold"),
            " and would lose their account." if p.signed_in else ".",
        )
        if p.unsettled:
            words = words.append(
                Content(f"\n{p.unsettled:,} rows are still being settled (an import was interrupted): resume it first, "
                        "or their users stay behind.").stylize("$text-warning")
            )
        for example in p.signed_in_examples[:5]:
            line = Text("\n  ")
            line.append(f"row {example.get('row')} ")
            line.append(str(example.get("email") or example.get("external_id") or ""))
            line.append(f"  last sign-in {example.get('last_sign_in_at')}", style="dim")
            words = words.append(Content.from_rich_text(line))
        words = words.append(Content(f"\nType {UNDO_WORD} below and press enter to delete them.").stylize("$text-muted"))
        self._outcome(target, words)

    def action_undo(self) -> None:
        run = self.state.run
        if run is None or self.undoing:
            return
        box = self.query_one("#undo-word", Input)
        if box.value.strip() != UNDO_WORD:
            self._outcome("#undo-outcome", None, f"type the word {UNDO_WORD} to delete the users this run created")
            box.focus()
            return
        why = self.session.claim("undo")
        if why:
            self._outcome("#undo-outcome", None, why)
            return
        box.value = ""
        self.undoing = True
        self.undo_progress = None
        self.undo_result = None
        self._undo_finished.clear()
        self._outcome("#undo-outcome", Content("Deleting…  (s stops: the deletes in flight finish, the rest stays)"))
        self._undo(run.run_dir, self.state.settings, dict(getattr(self.app, "undo_options", None) or {}))
        self.sync(self.state)
        self.query_one("#undo-stop").focus()  # s (or enter here) stops it

    @work(thread=True, exclusive=True, group="undo", exit_on_error=False)
    def _undo(self, run_dir: Path, settings: Any, options: dict[str, Any]) -> None:
        from console.clerk.errors import ClerkError
        from console.migration.journal import JournalError
        from console.migration.run import RunRefused, open_run
        from console.migration.undo import Undoer

        try:
            try:
                with open_run(run_dir) as journal:
                    undoer = Undoer(journal, settings, on_progress=lambda p: self.post_message(UndoProgressed(p)), **options)
                    with self._undo_lock:
                        self._undoer = undoer
                    result = asyncio.run(undoer.run())
            except (RunRefused, JournalError) as exc:
                self.post_message(UndoEnded(error=getattr(exc, "message", None) or str(exc)))
                return
            except ClerkError as exc:
                self.post_message(UndoEnded(error=f"Clerk answered {exc.status or 'nothing'}: {exc}"))
                return
            self.post_message(UndoEnded(result))
        finally:
            with self._undo_lock:
                self._undoer = None
            self._undo_finished.set()

    def on_undo_progressed(self, message: UndoProgressed) -> None:
        message.stop()
        p = self.undo_progress = message.progress
        bar = self.query_one("#undo-bar", ProgressBar)
        bar.display = True
        bar.update(total=max(1, p.total), progress=p.done + p.failed)
        self._outcome(
            "#undo-outcome",
            Content.assemble(
                (f"{p.deleted:,} deleted", "bold"),
                f" · {p.gone:,} already gone · ",
                (f"{p.failed:,} failed", "$text-error" if p.failed else ""),
                f" of {p.total:,} · in flight {p.in_flight} · pace {p.pace:,.1f}/s · {p.state}",
            )
        )

    def on_undo_ended(self, message: UndoEnded) -> None:
        message.stop()
        self.undoing = False
        self.preview = None
        self._outcome("#undo-preview-outcome", None)
        self.session.release("undo")
        if message.error:
            self._outcome("#undo-outcome", None, message.error)
        else:
            r = self.undo_result = message.result
            ok = r.exit_code == 0
            words = Content.assemble(
                ("✓ Undone: " if ok else "■ Undo incomplete: ", "$text-success bold" if ok else "$text-warning bold"),
                f"{r.deleted:,} deleted, {r.gone:,} already gone, {r.failed:,} failed, {r.remaining:,} not tried; "
                f"{r.existed_kept:,} users that were there before kept.",
            )
            if r.message:
                words = words.append(Content("\n" + r.message))
            if not ok:
                words = words.append(Content("\nUndo again to finish it: it resumes where it stopped.").stylize("$text-muted"))
            self._outcome("#undo-outcome", words)
        self.session.read()
        self.sync(self.state)
        if self.state.current == "finish":
            self.query_one("#finish-tabs").query_one("Tabs").focus()  # the Stop button is gone

    def action_stop_undo(self) -> None:
        with self._undo_lock:
            if self._undoer is not None:
                self._undoer.stop()

    def on_unmount(self) -> None:
        if not self._undo_finished.is_set():
            self.action_stop_undo()
            self._undo_finished.wait(10.0)

    # -- keys and buttons ------------------------------------------------------------------
    TAB_FOCUS = {"tab-ids": "#map-path", "tab-claim": "#claim-scroll", "tab-app": "#app-path", "tab-undo": "#undo-preview"}

    def action_next_tab(self) -> None:
        """ctrl+t: the next tab, with the focus in it (an Input keeps ctrl+t free)."""
        tabs = self.query_one("#finish-tabs", TabbedContent)
        if not tabs.display:
            return
        order = list(self.TAB_FOCUS)
        # the focus leaves the pane first: a focused widget that hides hands the focus
        # to a neighbour in the same pane, and the TabbedContent then switches back
        self.screen.set_focus(tabs.query_one("Tabs"))
        tabs.active = order[(order.index(tabs.active) + 1) % len(order)] if tabs.active in order else order[0]
        # then into the tab active once the pane shows (keys typed quickly, which a
        # terminal sends in one read, each move on from the last)
        self.call_after_refresh(self._focus_active_tab)

    def _focus_active_tab(self) -> None:
        tabs = self.query_one("#finish-tabs", TabbedContent)
        if tabs.active not in self.TAB_FOCUS:
            return
        target = self.query_one(self.TAB_FOCUS[tabs.active])
        if target.focusable and not target.disabled:
            self.screen.set_focus(target)
        else:
            self.screen.set_focus(tabs.query_one("Tabs"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        run = self.state.run
        if action == "next_tab":
            return run is not None and run.sessions > 0
        if action in ("write_map", "write_sql"):
            return run is not None and run.sessions > 0
        if action == "stop_undo":
            return self.undoing
        return True

    @on(Input.Submitted, "#map-path")
    @on(Button.Pressed, "#write-map")
    def _map(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_write_map()

    @on(Input.Submitted, "#fk-columns")
    @on(Input.Submitted, "#sql-path")
    @on(Button.Pressed, "#write-sql")
    def _sql(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_write_sql()

    @on(Input.Submitted, "#app-path")
    @on(Button.Pressed, "#scan")
    def _scan_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_scan()

    @on(Button.Pressed, "#undo-preview")
    def _preview_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_undo_preview()

    @on(Button.Pressed, "#undo-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop_undo()

    @on(Input.Submitted, "#undo-word")
    @on(Button.Pressed, "#undo-go")
    def _undo_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_undo()

    def on_enter(self) -> None:
        if self.query_one("#finish-tabs").display:
            self.query_one("#map-path").focus()
        else:
            super().on_enter()


def _claim_text(claim: Any) -> Text:
    """The session-claim option, from the engine's snippet (our own text; still Text)."""
    text = Text()
    text.append("Keep the Auth.js ids instead of rewriting the foreign keys\n", style="bold")
    text.append("Add this claim to the session token (")
    text.append(claim.where)
    text.append("):\n\n")
    text.append("  " + claim.claim_json + "\n\n", style="bold")
    text.append("Read it in the app, App Router:\n", style="bold")
    for line in claim.read_app_router.splitlines():
        text.append("  " + line + "\n")
    text.append("\nPages Router:\n", style="bold")
    for line in claim.read_pages_router.splitlines():
        text.append("  " + line + "\n")
    for note in claim.notes:
        text.append("\n" + note + "\n", style="dim")
    return text
