"""Load: the export file, its detected format and shape, the streaming read."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static

from console.source import FIELDS
from console.tui.screens.base import StepPane
from console.tui.screens.modals import BrowseModal
from console.tui.state import ConsoleState
from console.tui.widgets.scroll_area import ScrollArea

FORMAT_WORDS = {"json": "JSON array", "ndjson": "NDJSON (one object per line)", "csv": "CSV with a header row"}
SHAPE_WORDS = {
    "prisma": "Auth.js rows, Prisma adapter",
    "pg": "Auth.js rows, pg adapter",
    "clerk_script": "Clerk's older migration-script format",
    "mapped": "your column mapping",
}
# The fields a column mapping can fill: the reader's own (`--map FIELD=COLUMN`).
MAPPING_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (name, name.replace("_", " ") + (" (required)" if name == "id" else ""))
    for name in FIELDS
    if not name.endswith("metadata")
)


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
    _mapped_columns: list[str] = []

    BINDINGS = [
        Binding("ctrl+o", "browse", "Browse files"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("Load: the Auth.js export (JSON, NDJSON or CSV)", classes="pane-title")
        with ScrollArea(id="load-body"):
            yield from self._body()

    def _body(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Input(
                str(self.state.suggested_export or ""),
                placeholder="path to the export file (→ completes)",
                suggester=PathSuggester(),
                id="export-path",
                compact=True,
            )
            yield Button("Load", variant="primary", id="load", compact=True)
            yield Button("Browse", id="browse", compact=True)
        yield Static("", id="detected")
        yield ProgressBar(total=None, show_eta=False, id="load-progress")
        yield Static("", id="load-figures")
        yield Static("", id="load-error", classes="band band-error")
        with Vertical(id="mapping"):
            yield Static(
                "The columns do not match a known Auth.js shape. Say which column holds what "
                "(the same as --map FIELD=COLUMN), then Apply. An id, and an email or a username, are needed.",
                classes="note",
            )
            for name, words in MAPPING_FIELDS:
                with Horizontal(classes="map-row"):
                    yield Label(words, classes="map-label")
                    yield Select[str]([], prompt="(none)", id=f"map-{name}", allow_blank=True)
            yield Button("Apply mapping", variant="primary", id="apply-mapping")
        yield Static("", id="load-summary")

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

        mapping = self.query_one("#mapping")
        mapping.display = load.status == "needs_mapping"
        if load.status == "needs_mapping":
            options = [(Text(c), c) for c in load.columns]
            for name, _ in MAPPING_FIELDS:
                select = self.query_one(f"#map-{name}", Select)
                if self._mapped_columns != load.columns:
                    select.set_options(options)
            self._mapped_columns = list(load.columns)

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
                    (nxt, "$text-muted"),
                )
            )
        else:
            summary.update("")

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

    def show_path(self, path: Path) -> None:
        """The app fills the path in (a reopened run's export)."""
        self.query_one("#export-path", Input).value = str(path)

    # -- events --------------------------------------------------------------
    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#load")
    def _load(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self.query_one("#load-error", Static).update("Type the path of the export first.")
            self.query_one("#load-error").display = True
            return
        self.console.start_load(Path(value).expanduser())

    @on(Button.Pressed, "#browse")
    def _browse_button(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_browse()

    def action_browse(self) -> None:
        current = self.query_one("#export-path", Input).value.strip()
        start = Path(current).expanduser() if current else Path.cwd()
        while not start.is_dir() and start != start.parent:
            start = start.parent
        self.app.push_screen(BrowseModal(start), self._browsed)

    def _browsed(self, path: Path | None) -> None:
        if path is not None:
            box = self.query_one("#export-path", Input)
            box.value = str(path)
            self.console.start_load(path)

    @on(Button.Pressed, "#apply-mapping")
    def _apply_mapping(self, event: Button.Pressed) -> None:
        event.stop()
        mapping: dict[str, str] = {}
        for name, _ in MAPPING_FIELDS:
            value = self.query_one(f"#map-{name}", Select).value
            if isinstance(value, str):
                mapping[name] = value
        if "id" not in mapping:
            self.query_one("#load-error", Static).update("Choose the column that holds the user id.")
            self.query_one("#load-error").display = True
            return
        path = self.state.load.path
        if path is not None:
            self.console.start_load(path, mapping=mapping)
