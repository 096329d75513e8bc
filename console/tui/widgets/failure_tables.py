"""The two tables of the Failures step: the failed rows grouped by Clerk's code
(`journal.failures_by_code`), and one keyset page of the failed rows themselves.
Cells from the journal are `Text` (export data is never markup)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.content import Content
from textual.widgets import DataTable

from console.migration.journal import RowRecord
from console.tui.runview import RunView

STATUS_STYLE = {
    "failed": "bold $text-error",
    "created": "$text-success",
    "existed": "$text-success",
    "pending": "$text-warning",
    "creating": "$text-warning",
}
EVERY_CODE = "*"  # the key of the first line, every code at once


class FailureGroups(DataTable):
    """One line per Clerk error code (rows, param, retryable as is, Clerk's words),
    after an `every code` line."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._signature: object = None

    def ensure_columns(self) -> None:
        if self.columns:
            return
        self.add_column("Code", key="code")
        self.add_column("Rows", key="rows")
        self.add_column("Param", key="param")
        self.add_column("Retry", key="retry")
        self.add_column("What Clerk said", key="example")

    def fill(self, run: RunView, keep: str | None, showing_rows: bool) -> None:
        """Refill when the groups changed, keeping the highlighted code when it is
        still there (no RowHighlighted is sent: the page shown stays)."""
        self.ensure_columns()
        signature = (run.failed, tuple((g.code, g.count, g.param, g.retryable) for g in run.failures))
        if signature == self._signature:
            return
        self._signature = signature
        with self.prevent(DataTable.RowHighlighted):
            self.clear()
            self.add_row(Text("every code", style="italic"), Text(f"{run.failed:,}", justify="right"), "", "", "",
                         key=EVERY_CODE)
            for group in run.failures:
                self.add_row(
                    Text(group.code),
                    Text(f"{group.count:,}", justify="right"),
                    Text(group.param or "—"),
                    Text("yes" if group.retryable else "fix", style="$text-success" if group.retryable else ""),
                    Text(group.example or "", no_wrap=True, overflow="ellipsis"),
                    key=group.code,
                )
            codes = [g.code for g in run.failures]
            if keep in codes:
                self.move_cursor(row=self.get_row_index(keep))  # type: ignore[arg-type]
            elif keep is not None and showing_rows:
                # the group emptied (its rows were retried): keep showing the page, its rows updated
                self.move_cursor(row=0)


class FailedRows(DataTable):
    """One page of failed rows: selection mark, row, status, ids, the fix, Clerk's words."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def ensure_columns(self) -> None:
        if self.columns:
            return
        self.add_column(" ", key="sel")
        self.add_column("Row", key="row")
        self.add_column("Status", key="status")
        self.add_column("External id", key="external_id")
        self.add_column("Email", key="email")
        self.add_column("Fix", key="fix")
        self.add_column("Clerk said", key="message")

    def show(self, rows: list[RowRecord], selected: set[int]) -> None:
        """The page's rows, the cursor kept on the same line."""
        self.ensure_columns()
        cursor = self.cursor_row
        self.clear()
        for rec in rows:
            self.add_row(*self.cells(rec, rec.row_no in selected), key=str(rec.row_no))
        if rows:
            self.move_cursor(row=min(max(cursor, 0), len(rows) - 1))

    def mark(self, row_no: int, selected: bool) -> None:
        self.update_cell(str(row_no), "sel", Text("●" if selected else " ", style="bold"))

    @staticmethod
    def cells(rec: RowRecord, selected: bool) -> tuple:
        status = rec.status + (" ✓" if rec.status in ("created", "existed") else "")
        fix = ", ".join(sorted(rec.fix)) if rec.fix else ""
        message = rec.error_message or ""
        if rec.error_code:
            message = f"{rec.error_code}: {message}" if message else rec.error_code
        return (
            Text("●" if selected else " ", style="bold"),
            Text(str(rec.row_no), justify="right"),
            Text(status, style=STATUS_STYLE.get(rec.status, "")),
            Text(rec.external_id or "—", no_wrap=True, overflow="ellipsis"),
            Text(rec.email or "—", no_wrap=True, overflow="ellipsis"),
            Text(fix, style="italic"),
            Text(message, no_wrap=True, overflow="ellipsis"),
        )


def failures_summary(run: RunView | None) -> Content:
    """The head line: failed, retryable as is, in Clerk (the run's figures)."""
    if run is None or not run.sessions:
        return Content("")
    return Content.assemble(
        (f"{run.failed:,} failed", "$text-error bold" if run.failed else "$text-success"),
        f" · {run.retryable:,} retryable as is",
        f" · {run.in_clerk:,} in Clerk",
    )


def failures_note(run: RunView | None, selected: int, has_rows: bool, running: str | None) -> Content:
    """The keys under the table, or why fixes and retries wait (`running`: what runs)."""
    if run is None or not (run.failed or has_rows):
        return Content("")
    if running:
        return Content(f"{running} is running: fixes and retries wait until it ends (s stops it safely)."
                       ).stylize("$text-muted")
    chosen = f"{selected} selected" if selected else "the highlighted row"
    every = f" retry the {run.retryable:,} retryable" if run.retryable else " retry all (none retryable as is)"
    return Content.assemble(
        ("enter", "bold"), " detail & fix · ", ("space", "bold"), " select · ",
        ("r", "bold"), f" retry {chosen} · ", ("a", "bold"), every,
    ).stylize("$text-muted")
