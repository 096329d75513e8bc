"""Finish › Id map & SQL: the id map CSV (`write_id_map`) and the foreign-key
rewrite script (`write_fk_sql`: a dialect and the TABLE.COLUMN list), both
written by the engine in a thread worker on a read-only journal connection.

The SQL file is named after its dialect (fk-postgres.sql, fk-mysql.sql,
fk-sqlite.sql), so switching the dialect never writes over another dialect's
script, and a file that exists already is written over only when the operator
says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from console.tui.messages import ReadRun
from console.tui.runview import MAP_NAME, RunView
from console.tui.widgets.outcome import show_outcome
from console.tui.widgets.scroll_area import ScrollArea

DIALECT_CHOICES = (("PostgreSQL", "postgresql"), ("MySQL / MariaDB", "mysql"), ("SQLite", "sqlite"))
DIALECT_NAMES = {value: words for words, value in DIALECT_CHOICES}
SQL_NAMES = {"postgresql": "fk-postgres.sql", "mysql": "fk-mysql.sql", "sqlite": "fk-sqlite.sql"}


class Written(Message):
    """A file the engine wrote (or why it could not)."""

    def __init__(self, what: str, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.what = what
        self.result = result
        self.error = error


class IdMapForm(ScrollArea):
    """The map file and the SQL form, each with its outcome line."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.map_result: Any = None
        self.sql_result: Any = None
        self._defaults_for: Path | None = None

    def compose(self) -> ComposeResult:
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

    def on_mount(self) -> None:
        for box in self.query(".outcome"):
            box.display = False

    @property
    def _run(self) -> RunView | None:
        return self.app.state.run  # type: ignore[attr-defined]

    def sync(self, run: RunView) -> None:
        if self._defaults_for != run.run_dir:
            self._defaults_for = run.run_dir
            self.query_one("#map-path", Input).value = str(run.run_dir / MAP_NAME)
            dialect = str(self.query_one("#fk-dialect", Select).value)
            self.query_one("#sql-path", Input).value = str(run.run_dir / SQL_NAMES[dialect])

    @on(Select.Changed, "#fk-dialect")
    def _dialect_changed(self, event: Select.Changed) -> None:
        """The file name follows the dialect while it is one of ours; a name the
        operator typed stays."""
        event.stop()
        box = self.query_one("#sql-path", Input)
        path = Path(box.value.strip())
        if path.name in SQL_NAMES.values() and isinstance(event.value, str):
            box.value = str(path.with_name(SQL_NAMES[event.value]))

    # -- the id map and the SQL ------------------------------------------------------
    def write_map(self) -> None:
        run = self._run
        value = self.query_one("#map-path", Input).value.strip()
        if run is None or not value:
            show_outcome(self.query_one("#map-outcome", Static), None, "give a file name for the map")
            return
        self._write("map", run.run_dir, Path(value).expanduser())

    def write_sql(self) -> None:
        from console.migration.outputs import FkError, parse_fk

        run = self._run
        if run is None:
            return
        outcome = self.query_one("#sql-outcome", Static)
        dialect = str(self.query_one("#fk-dialect", Select).value)
        names = [n.strip() for n in self.query_one("#fk-columns", Input).value.replace(";", ",").split(",") if n.strip()]
        path = self.query_one("#sql-path", Input).value.strip()
        if not names:
            show_outcome(outcome, None, "name at least one column that holds Auth.js user ids (TABLE.COLUMN)")
            self.query_one("#fk-columns").focus()
            return
        try:
            fks = [parse_fk(name, dialect) for name in names]
        except FkError as exc:
            show_outcome(outcome, None, str(exc))
            self.query_one("#fk-columns").focus()
            return
        if not path:
            show_outcome(outcome, None, "give a file name for the SQL")
            return
        target = Path(path).expanduser()
        if target.exists():
            self._ask_overwrite(run.run_dir, target, fks, dialect)
            return
        self._write("sql", run.run_dir, target, fks=fks, dialect=dialect)

    def _ask_overwrite(self, run_dir: Path, target: Path, fks: Any, dialect: str) -> None:
        from datetime import datetime

        from rich.text import Text

        from console.tui.screens.modals import ConfirmModal

        try:
            stat = target.stat()
            when = datetime.fromtimestamp(stat.st_mtime).strftime("%Y-%m-%d %H:%M")
            about = f" ({stat.st_size:,} bytes, written {when})"
        except OSError:
            about = ""
        body = Text()
        body.append(str(target), style="bold")
        body.append(f" exists already{about}. Write the {DIALECT_NAMES[dialect]} script "
                    "over it? Another name (or dialect) keeps it.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._write("sql", run_dir, target, fks=fks, dialect=dialect)
            else:
                show_outcome(self.query_one("#sql-outcome", Static), None, f"not written: {target} kept as it was")
                self.query_one("#sql-path").focus()

        self.app.push_screen(ConfirmModal("Write over the SQL file?", body, "Write over it", "Keep it"), answered)

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
        box = self.query_one("#map-outcome" if message.what == "map" else "#sql-outcome", Static)
        if message.error:
            show_outcome(box, None, message.error)
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
            self.app.state.map_written = True  # type: ignore[attr-defined]
            self.post_message(ReadRun())
        else:
            self.sql_result = r
            words = Content.assemble(
                ("✓ ", "$text-success bold"),
                f"{DIALECT_NAMES.get(r.dialect, r.dialect)} script for {r.rows:,} ids and {', '.join(r.columns)} written to ",
                (str(r.path), "bold"),
                ". One checked transaction: any surprise rolls it all back. Run it with\n",
                (r.run_with, "bold"),
            )
        show_outcome(box, words)

    # -- keys and buttons ---------------------------------------------------------------
    @on(Input.Submitted, "#map-path")
    @on(Button.Pressed, "#write-map")
    def _map(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.write_map()

    @on(Input.Submitted, "#fk-columns")
    @on(Input.Submitted, "#sql-path")
    @on(Button.Pressed, "#write-sql")
    def _sql(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.write_sql()
