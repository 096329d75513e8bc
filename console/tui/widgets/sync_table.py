"""Sync › the plan's table (issue 14 §2): what a later export changes, one line per field
of each row that is not unchanged — kind, row, field, before → after — read page by
page from the engine's `SyncPlan` (keyset pages of `plan.rows(with_fields=True)`: never
the whole plan in a widget). `enter` on a line shows its row whole (`plan.row(pos)`).

Values come from the export and from Clerk: every cell is `rich.text.Text`, never
markup. Password digests are masked by the engine."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.widgets import DataTable

PAGE_ROWS = 50  # plan rows per page (each may take several lines: one per field)
KIND_WORDS = {
    "new": "new", "changed": "changed", "removed": "removed", "refused": "refused",
    "failed": "failed", "dropped": "dropped", "busy": "busy", "unchanged": "unchanged",
}
KIND_STYLE = {"new": "bold", "changed": "bold", "removed": "bold", "refused": "dim", "failed": "dim",
              "dropped": "dim", "busy": "bold"}
REMOVED_WORDS = {"keep": "kept in Clerk", "ban": "banned (sign-in blocked)", "delete": "deleted (this run's users)"}


def row_lines(row: Any, removed: str = "keep") -> list[tuple[str, Text, Text]]:
    """(field, before, after) for each line of one plan row, in the migration's words."""
    if row.kind == "removed":
        who = Text(row.old_email or row.external_id or "")
        if row.clerk_user_id:
            who.append(f"  {row.clerk_user_id}", style="dim")
        return [("user", who, Text(REMOVED_WORDS.get(removed, removed)))]
    if row.kind == "dropped":
        return [("row", Text(row.old_email or row.external_id or ""), Text("forgotten (no Clerk user)", style="dim"))]
    if row.kind == "busy":
        return [("row", Text(row.status or ""), Text("the import is not finished", style="dim"))]
    if row.kind in ("refused", "failed") and not row.fields:
        words = row.message or ", ".join(row.codes) or ("its create failed: retry is for it" if row.kind == "failed"
                                                        else "refused by the checks")
        return [("row", Text(""), Text(words, style="dim"))]
    lines = []
    for change in row.fields:
        before = Text("—", style="dim") if change.old is None else Text(change.old)
        after = Text("—", style="dim") if change.new is None else Text(change.new)
        if change.note and change.old is None and change.new is None:
            after = Text(change.note, style="dim")
        lines.append((change.field, before, after))
    if not lines:
        lines.append(("row", Text(""), Text(row.email or "", style="dim")))
    return lines


def row_text(row: Any, removed: str = "keep") -> Text:
    """One plan row whole: everything the table cuts."""
    text = Text()
    text.append(f"{KIND_WORDS.get(row.kind, row.kind)}", style="bold")
    text.append(f"  row {row.row if row.row is not None else '— (gone from the new export)'}")
    if row.old_row is not None and row.old_row != row.row:
        text.append(f" (row {row.old_row} of the run's export)", style="dim")
    for label, value in (("external id", row.external_id), ("email", row.email), ("email before", row.old_email),
                         ("Clerk user", row.clerk_user_id), ("journal status", row.status)):
        if value:
            text.append(f"\n{label}: ", style="dim")
            text.append(str(value))
    if row.codes:
        text.append("\ncodes: ", style="dim")
        text.append(", ".join(row.codes))
    if row.message:
        text.append("\n")
        text.append(row.message)
    for change in row.fields:
        text.append(f"\n\n{change.field}", style="bold")
        text.append("\n  before: ", style="dim")
        text.append("—" if change.old is None else change.old)
        text.append("\n  after:  ", style="dim")
        text.append("—" if change.new is None else change.new)
        if change.note:
            text.append("\n  ")
            text.append(change.note, style="dim")
    if row.kind == "removed":
        text.append("\n\nwhat the sync does: ", style="dim")
        text.append(REMOVED_WORDS.get(removed, removed))
    return text


class SyncPlanTable(DataTable):
    """The plan's lines, one page of rows at a time (`[` `]` in the pane)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.plan: Any = None
        self.kind: str | list[str] | None = None  # None: every kind but unchanged
        self.removed = "keep"
        self.page = 0
        self._starts: list[int | None] = [None]  # the `after` of each page seen (keyset)
        self.rows_shown: list[Any] = []
        self.has_more = False

    FIXED = (("Kind", "kind", 7), ("Row", "row", 5), ("Field", "field", 12))

    def on_mount(self) -> None:
        for label, key, width in self.FIXED:
            self.add_column(label, key=key, width=width)
        self.add_column("Before → after", key="change", width=30)

    def on_resize(self) -> None:
        """Before → after takes the width left (cut with an ellipsis: enter shows the row whole),
        so the table never scrolls sideways."""
        pad = 2 * self.cell_padding
        left = self.scrollable_content_region.width - sum(w + pad for _, _, w in self.FIXED) - pad - 2
        column = self.columns.get("change")  # type: ignore[call-overload]
        if column is not None and left > 10 and column.width != left:
            column.width, column.auto_width = left, False
            self._require_update_dimensions = True
            self.refresh()

    def show(self, plan: Any, kind: str | list[str] | None = None, removed: str = "keep") -> None:
        """A new plan (or kind): its first page."""
        self.plan, self.kind, self.removed = plan, kind, removed
        self.page, self._starts = 0, [None]
        self._fill()

    def turn(self, step: int) -> bool:
        """The next (1) or previous (-1) page; False when there is none."""
        if self.plan is None:
            return False
        if step > 0 and not self.has_more:
            return False
        if step < 0 and self.page == 0:
            return False
        self.page += 1 if step > 0 else -1
        if self.page >= len(self._starts):
            self._starts.append(self.rows_shown[-1].pos if self.rows_shown else None)
        self._fill()
        return True

    def _fill(self) -> None:
        self.clear()
        self.rows_shown = []
        self.has_more = False
        if self.plan is None:
            return
        rows = self.plan.rows(kind=self.kind, limit=PAGE_ROWS + 1, after=self._starts[self.page], with_fields=True)
        self.has_more = len(rows) > PAGE_ROWS
        self.rows_shown = rows[:PAGE_ROWS]
        for row in self.rows_shown:
            for n, (field, before, after) in enumerate(row_lines(row, self.removed)):
                change = Text(no_wrap=True, overflow="ellipsis")
                change.append_text(before)
                change.append(" → ", style="dim")
                change.append_text(after)
                self.add_row(
                    Text(KIND_WORDS.get(row.kind, row.kind) if n == 0 else "", style=KIND_STYLE.get(row.kind, "")),
                    Text(str(row.row if row.row is not None else "—") if n == 0 else "", justify="right"),
                    Text(field, no_wrap=True, overflow="ellipsis"),
                    change,
                    key=f"{row.pos}:{n}",
                )

    def page_words(self) -> str:
        if self.plan is None:
            return ""
        if not self.rows_shown:
            return "no rows of this kind"
        first = self.page * PAGE_ROWS + 1
        last = first + len(self.rows_shown) - 1
        more = " · ] next page" if self.has_more else ""
        back = " · [ previous" if self.page else ""
        return f"rows {first:,}–{last:,}{more}{back}"

    @on(DataTable.RowSelected)
    def _whole_row(self, event: DataTable.RowSelected) -> None:
        """Enter on a line: its plan row whole, every field with its before and after."""
        from console.tui.screens.modals import WholeRowModal

        event.stop()
        if self.plan is None or event.row_key.value is None:
            return
        pos = int(str(event.row_key.value).split(":")[0])
        row = self.plan.row(pos)
        if row is None:
            return
        title = Text(f"A row of the sync plan: {KIND_WORDS.get(row.kind, row.kind)}")
        self.app.push_screen(WholeRowModal(title, [], row_text(row, self.removed)))
