"""Load: the export file (and the accounts file beside it), its detected format and
shape, the streaming read, and the column mapping (widgets/mapping_form.py)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, ProgressBar, Static

from console.tui.screens.base import StepPane
from console.tui.screens.modals import BrowseModal
from console.tui.state import ConsoleState
from console.tui.widgets.mapping_form import MappingForm
from console.tui.widgets.scroll_area import ScrollArea

FORMAT_WORDS = {"json": "JSON array", "ndjson": "NDJSON (one object per line)", "csv": "CSV with a header row"}
SHAPE_WORDS = {
    "prisma": "Auth.js rows, Prisma adapter",
    "pg": "Auth.js rows, pg adapter",
    "clerk_script": "Clerk's older migration-script format",
    "mongodb": "Auth.js users, MongoDB adapter (mongoexport)",
    "mapped": "your column mapping",
}


class PathSuggester(Suggester):
    """Completes a path from the file system as the operator types."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, prefix = os.path.split(expanded)
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            return None
        for name in names:
            if name.startswith(prefix) and name != prefix and not name.startswith("."):
                full = os.path.join(folder, name)
                completed = value[: len(value) - len(prefix)] + name
                return completed + ("/" if os.path.isdir(full) else "")
        return None


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


class LoadPane(StepPane):
    step = "load"
    DEFAULT_CSS = """
    LoadPane .path-label { width: 9; color: $text-muted; }
    LoadPane #accounts-row { margin-bottom: 1; }
    """

    BINDINGS = [
        Binding("ctrl+o", "browse", "Browse files"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("Load: the Auth.js export (and its accounts file)", classes="pane-title")
        with ScrollArea(id="load-body"):
            yield from self._body()

    def _body(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Export", classes="path-label")
            yield Input(
                str(self.state.suggested_export or ""),
                placeholder="path to the export file (→ completes)",
                suggester=PathSuggester(),
                id="export-path",
                compact=True,
            )
            yield Button("Load", variant="primary", id="load", compact=True)
            yield Button("Browse", id="browse", compact=True)
        with Horizontal(classes="row", id="accounts-row"):
            yield Label("Accounts", classes="path-label")
            yield Input(
                placeholder="optional: the accounts export (OAuth providers)",
                suggester=PathSuggester(),
                id="accounts-path",
                compact=True,
            )
            yield Button("Browse", id="browse-accounts", compact=True)
        yield Static("", id="detected")
        yield ProgressBar(total=None, show_eta=False, id="load-progress")
        yield Static("", id="load-figures")
        yield Static("", id="load-error", classes="band band-error")
        yield Static("", id="load-summary")
        yield MappingForm(id="mapping")

    def sync(self, state: ConsoleState) -> None:
        load = state.load
        detected = self.query_one("#detected", Static)
        if load.format:
            cols = ", ".join(load.columns[:8]) + (" …" if len(load.columns) > 8 else "")
            detected.update(
                Content.assemble(
                    ("Format ", "$text-muted"),
                    FORMAT_WORDS.get(load.format, load.format),
                    ("  ·  shape ", "$text-muted"),
                    SHAPE_WORDS.get(load.shape or "", load.shape or "unknown"),
                    ("  ·  ", "$text-muted"),
                    human_bytes(load.size_bytes),
                    ("\ncolumns ", "$text-muted"),
                    (cols, ""),
                )
            )
        elif load.status == "detecting":
            detected.update("Opening the file…")
        elif state.demo and load.status == "idle":
            detected.update(Content("The demo's sample export is filled in: press enter to load it.").stylize("$text-muted"))
        else:
            detected.update(Content("Type a path (→ completes it) or Browse (ctrl+o), then Load.").stylize("$text-muted"))

        bar = self.query_one("#load-progress", ProgressBar)
        bar.display = load.status in ("loading", "loaded") and load.size_bytes > 0
        self.update_progress(state)

        error = self.query_one("#load-error", Static)
        error.display = load.error is not None
        if load.error:
            error.update(Text(load.error))
        missing = load.status == "missing"  # a reopened run's export is gone: said, not an error of the file
        error.set_class(missing, "band-warning").set_class(not missing, "band-error")

        self.query_one(MappingForm).sync(state)

        summary = self.query_one("#load-summary", Static)
        report = state.report
        if report is not None and load.status == "loaded":
            if state.run_export is not None and load.path == state.run_export:
                nxt = "\nThe run's export (its journal names it), checked with the run's policies."
            else:
                nxt = "\nNext: Review the issues and choose the policies (ctrl+n)."
            summary.update(
                Content.assemble(
                    ("✓ ", "$text-success bold"),
                    f"{report.rows:,} rows checked: ",
                    (f"{report.importable:,} importable", "bold"),
                    f", {report.refused:,} refused, {report.warned:,} imported with a change.",
                    self._accounts_words(report),
                    (nxt, "$text-muted"),
                )
            )
        else:
            summary.update("")

    @staticmethod
    def _accounts_words(report) -> Content:
        """What the accounts file gave, in the engine's figures (report.accounts)."""
        accounts = getattr(report, "accounts", None)
        if not accounts:
            return Content("")
        return Content.assemble(
            ("\nAccounts ", "$text-muted"),
            (Path(str(accounts.get("path", ""))).name, "bold"),
            f": {accounts.get('rows', 0):,} rows, the OAuth providers of {accounts.get('users', 0):,} users joined"
            f" ({accounts.get('not_oauth', 0):,} not OAuth, {accounts.get('incomplete', 0):,} incomplete).",
        )

    def update_progress(self, state: ConsoleState) -> None:
        """Called for each progress message: touches only the bar and one line."""
        load = state.load
        bar = self.query_one("#load-progress", ProgressBar)
        if load.size_bytes:
            bar.update(total=load.size_bytes, progress=load.bytes_read)
        figures = self.query_one("#load-figures", Static)
        if load.status == "loading":
            figures.update(
                f"{load.rows:,} rows · {human_bytes(load.bytes_read)} of {human_bytes(load.size_bytes)}"
                f" · {load.mb_per_s:.1f} MB/s"
            )
        elif load.status == "loaded":
            figures.update(f"{load.rows:,} rows · {human_bytes(load.size_bytes)} in {load.elapsed_s:.1f} s")
        else:
            figures.update("")

    def on_enter(self) -> None:
        self.screen.set_focus(self.query_one("#export-path", Input))

    def show_path(self, path: Path, accounts: Path | None = None) -> None:
        """The app fills the paths in (a reopened run's export)."""
        self.query_one("#export-path", Input).value = str(path)
        if accounts is not None:
            self.query_one("#accounts-path", Input).value = str(accounts)

    # -- events --------------------------------------------------------------
    def _accounts(self) -> Path | None:
        value = self.query_one("#accounts-path", Input).value.strip()
        return Path(value).expanduser() if value else None

    def _start(self, path: Path, mapping: dict[str, str] | None) -> None:
        self.console.start_load(path, mapping=mapping or None, accounts=self._accounts())

    @on(Input.Submitted, "#export-path")
    @on(Input.Submitted, "#accounts-path")
    @on(Button.Pressed, "#load")
    def _load(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self.query_one("#load-error", Static).update("Type the path of the export first.")
            self.query_one("#load-error").display = True
            return
        path = Path(value).expanduser()
        # the same file again keeps its mapping (the form's, added pairs included)
        same = self.state.load.path is not None and path == self.state.load.path
        self._start(path, self.query_one(MappingForm).mapping() if same else None)

    @on(Button.Pressed, "#browse")
    def _browse_button(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_browse()

    @on(Button.Pressed, "#browse-accounts")
    def _browse_accounts(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.push_screen(BrowseModal(self._start_folder("#accounts-path")), self._browsed_accounts)

    def _start_folder(self, selector: str) -> Path:
        current = self.query_one(selector, Input).value.strip() or self.query_one("#export-path", Input).value.strip()
        start = Path(current).expanduser() if current else Path.cwd()
        while not start.is_dir() and start != start.parent:
            start = start.parent
        return start

    def action_browse(self) -> None:
        self.app.push_screen(BrowseModal(self._start_folder("#export-path")), self._browsed)

    def _browsed(self, path: Path | None) -> None:
        if path is not None:
            box = self.query_one("#export-path", Input)
            box.value = str(path)
            self._start(path, None)

    def _browsed_accounts(self, path: Path | None) -> None:
        if path is not None:
            self.query_one("#accounts-path", Input).value = str(path)
            self.query_one("#accounts-path").focus()

    @on(MappingForm.Apply)
    def _apply_mapping(self, event: MappingForm.Apply) -> None:
        event.stop()
        path = self.state.load.path
        if path is not None:
            self._start(path, event.mapping)
