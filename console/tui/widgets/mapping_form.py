"""Load's column mapping (issues 12 §2, 13 §3): which column of the export goes to
which Clerk target, the same dict as `--map TARGET=COLUMN` (`console.source.MAP_TARGETS`:
the reader's fields, `phone_number`, `username`, `legal_accepted_at`, and keys in
Clerk's metadata, `public_metadata.role`, nested with dots).

- When the columns match no known shape, a column per field (the selects), as before.
- Any other target, for any file: `TARGET=COLUMN` typed in one field (→ completes the
  target, then the column), added to the list below it (`delete` takes one out).
- The columns no field reads (the engine's `unknown_column` notes, each with the flag
  that keeps it: `keep_flag`): `enter` on one keeps it as suggested, in one key.

The form asks the pane to load again with the mapping (`Apply`); it changes no state."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from console.source import FIELDS, META_FIELDS, parse_mapping

# The fields the selects offer (the reader's own, but the metadata objects as a whole).
MAPPING_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (name, name.replace("_", " ") + (" (required)" if name == "id" else ""))
    for name in FIELDS
    if name not in META_FIELDS
)
TARGET_WORDS = tuple(FIELDS) + tuple(f"{m}." for m in META_FIELDS)  # what → completes before "="


class PairSuggester(Suggester):
    """Completes `TARGET=COLUMN`: a target before the `=`, a column of the file after it."""

    def __init__(self, form: "MappingForm") -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.form = form

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        target, eq, column = value.partition("=")
        if not eq:
            return next((w for w in TARGET_WORDS if w.startswith(target) and w != target), None)
        found = next((c for c in self.form.columns if c.startswith(column) and c != column), None)
        return f"{target}={found}" if found is not None else None


def unknown_columns(state: Any) -> list[tuple[str, str]]:
    """(column, the target that keeps it) for every column the checks left out, in
    the engine's words (`keep_flag`: --map TARGET=COLUMN)."""
    from console.source.checks import keep_flag

    index = state.issue_index
    if index is None:
        return []
    out: list[tuple[str, str]] = []
    for position in index.by_code.get("unknown_column", []):
        column = index.issues[position].field
        if column:  # the "… more columns" note names none
            target = keep_flag(column).removeprefix("--map ").rpartition("=")[0]
            out.append((column, target))
    return out


class MappingForm(Vertical):
    """The mapping of the file in Load; `Apply` carries the dict to the pane."""

    class Apply(Message):
        def __init__(self, mapping: dict[str, str]) -> None:
            super().__init__()
            self.mapping = mapping

    DEFAULT_CSS = """
    MappingForm { height: auto; margin-top: 1; }
    MappingForm .map-row { height: auto; }
    MappingForm .map-label { width: 20; padding: 1 1 0 0; }
    MappingForm .map-row Select { width: 1fr; }
    MappingForm #map-pair-row { height: 1; margin-top: 1; }
    MappingForm #map-pair { width: 1fr; }
    MappingForm #map-pair-row Button, MappingForm #apply-mapping { margin-left: 1; min-width: 8; }
    MappingForm #map-pairs, MappingForm #unknown-cols { height: auto; max-height: 8; }
    MappingForm #map-error { height: auto; }
    MappingForm .section { margin-top: 0; }
    MappingForm #map-note { margin-top: 1; }
    """

    BINDINGS = [
        Binding("delete", "remove_pair", "Remove mapping", tooltip="Take the highlighted mapping out"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns: list[str] = []  # the first record's keys, and the columns the checks left out
        self.strict = False  # a CSV: every mapped column must be in its header (JSON rows differ in their keys)
        self.pairs: dict[str, str] = {}  # targets the selects do not show (metadata keys…), or any on a known shape
        self._columns_for: list[str] | None = None
        self._mapping_for: dict[str, str] | None = None
        self._unknown_for: object = None
        self._sniffed: tuple[Any, str | None] = (None, None)  # (path, format) of a file the reader could not map

    def compose(self) -> ComposeResult:
        yield Label("Columns not imported: enter keeps one as shown", id="unknown-title", classes="section")
        yield DataTable(id="unknown-cols", cursor_type="row", zebra_stripes=True)
        yield Static("", id="map-note", classes="note")
        with Vertical(id="map-selects"):
            for name, words in MAPPING_FIELDS:
                with Horizontal(classes="map-row"):
                    yield Label(words, classes="map-label")
                    yield Select[str]([], prompt="(none)", id=f"map-{name}", allow_blank=True)
        with Horizontal(id="map-pair-row"):
            yield Input(placeholder="TARGET=COLUMN (→ completes)",
                        suggester=PairSuggester(self), id="map-pair", compact=True)
            yield Button("Add", id="add-pair", compact=True)
        yield Static("", id="map-error", classes="outcome")
        yield DataTable(id="map-pairs", cursor_type="row", zebra_stripes=True)
        yield Button("Apply mapping", variant="primary", id="apply-mapping", compact=True)

    def on_mount(self) -> None:
        unknown = self.query_one("#unknown-cols", DataTable)
        unknown.add_column("Column", key="column")
        unknown.add_column("Kept as", key="target")
        pairs = self.query_one("#map-pairs", DataTable)
        pairs.add_column("Target", key="target")
        pairs.add_column("Column", key="column")
        self.query_one("#map-error").display = False

    # -- rendering ---------------------------------------------------------------------
    def sync(self, state: Any) -> None:
        load = state.load
        needs = load.status == "needs_mapping"
        known = bool(load.columns) and load.status in ("needs_mapping", "loaded")
        self.display = known
        if not known:
            return
        self.strict = (load.format or self._sniff(load.path)) == "csv"
        left_out = [column for column, _ in unknown_columns(state)] if state.report is not None else []
        self.columns = list(load.columns) + [c for c in left_out if c not in load.columns]
        mapping = dict(load.mapping or {})
        if self._mapping_for != mapping or self._columns_for != self.columns:
            self._mapping_for, self._columns_for = mapping, list(self.columns)
            self._fill_selects(mapping if needs else {})
            selects = {name for name, _ in MAPPING_FIELDS} if needs else set()
            self.pairs = {t: c for t, c in mapping.items() if t not in selects}
            self._fill_pairs()
        self.query_one("#map-selects").display = needs
        self.query_one("#map-note", Static).update(
            "The columns do not match a known Auth.js shape. Say which column holds what (the same as "
            "--map TARGET=COLUMN), then Apply. An id, and an email, a phone number or a username, are needed."
            if needs else
            "More columns into Clerk, as --map TARGET=COLUMN: a field, phone_number, username, or a metadata "
            "key (public_metadata.role, nested with dots). Add, then Apply."
        )
        report = state.report if load.status == "loaded" else None
        if self._unknown_for is not report:
            self._unknown_for = report
            table = self.query_one("#unknown-cols", DataTable)
            table.clear()
            for column, target in unknown_columns(state) if report is not None else []:
                table.add_row(Text(column), Text(target), key=f"{target}={column}")
        has_unknown = self.query_one("#unknown-cols", DataTable).row_count > 0
        self.query_one("#unknown-title").display = has_unknown
        self.query_one("#unknown-cols").display = has_unknown

    def _sniff(self, path: Any) -> str | None:
        """The format of a file that needs a mapping (the reader's sniff: its first bytes)."""
        if self._sniffed[0] != path:
            from console.source.readers import sniff_format

            try:
                self._sniffed = (path, sniff_format(path) if path is not None else None)
            except Exception:  # noqa: BLE001 - unreadable: the load says why; nothing is checked here
                self._sniffed = (path, None)
        return self._sniffed[1]

    def _fill_selects(self, mapping: dict[str, str]) -> None:
        options = [(Text(c), c) for c in self.columns]
        for name, _ in MAPPING_FIELDS:
            select = self.query_one(f"#map-{name}", Select)
            select.set_options(options)
            if mapping.get(name) in self.columns:
                select.value = mapping[name]

    def _fill_pairs(self) -> None:
        table = self.query_one("#map-pairs", DataTable)
        table.clear()
        for target, column in self.pairs.items():
            table.add_row(Text(target), Text(column), key=target)
        table.display = bool(self.pairs)

    def _error(self, words: str | None) -> None:
        box = self.query_one("#map-error", Static)
        box.update(Text("✗ " + words) if words else "")
        box.display = bool(words)

    # -- what the operator does ------------------------------------------------------
    def mapping(self) -> dict[str, str]:
        """The selects (when shown) and the added pairs, as one mapping."""
        out: dict[str, str] = {}
        if self.query_one("#map-selects").display:
            for name, _ in MAPPING_FIELDS:
                value = self.query_one(f"#map-{name}", Select).value
                if isinstance(value, str):
                    out[name] = value
        out.update(self.pairs)
        return out

    def add_pair(self, text: str) -> bool:
        """`TARGET=COLUMN` checked by the engine (`parse_mapping`) and against the file's columns."""
        try:
            pair = parse_mapping([text.strip()])
        except ValueError as exc:
            self._error(str(exc))
            return False
        (target, column), = pair.items()
        if self.strict and column not in self.columns:
            self._error(f"no column {column!r} in the file (its columns: {', '.join(self.columns[:12])}"
                        + (" …" if len(self.columns) > 12 else "") + ")")
            return False
        try:
            parse_mapping([f"{t}={c}" for t, c in {**self.pairs, target: column}.items()])
        except ValueError as exc:  # e.g. a key mapped both as a value and as the parent of others
            self._error(str(exc))
            return False
        self.pairs[target] = column
        self._error(None)
        self._fill_pairs()
        return True

    @on(Input.Submitted, "#map-pair")
    @on(Button.Pressed, "#add-pair")
    def _add(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        box = self.query_one("#map-pair", Input)
        if self.add_pair(box.value):
            box.value = ""

    def action_remove_pair(self) -> None:
        table = self.query_one("#map-pairs", DataTable)
        if self.app.focused is not table or not table.row_count:
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        self.pairs.pop(str(key), None)
        self._fill_pairs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "remove_pair":
            return bool(self.pairs) and self.app.focused is self.query_one("#map-pairs")
        return True

    @on(DataTable.RowSelected, "#unknown-cols")
    def _keep_column(self, event: DataTable.RowSelected) -> None:
        """Enter on a column the checks left out: its suggested mapping added, and applied."""
        event.stop()
        if self.add_pair(str(event.row_key.value)):
            self.post_message(self.Apply(self.mapping()))

    @on(Button.Pressed, "#apply-mapping")
    def _apply(self, event: Button.Pressed) -> None:
        event.stop()
        mapping = self.mapping()
        if self.query_one("#map-selects").display and "id" not in mapping:
            self._error("choose the column that holds the user id")
            return
        self.post_message(self.Apply(mapping))
