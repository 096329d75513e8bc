"""Failures: the rows Clerk refused, grouped by code; a row's detail and a fix;
retry a row, a selection, a code group or every retryable row.

Groups come from `journal.failures_by_code`, the table is one keyset page of
`journal.rows(status="failed", …)` (never every row in a widget), fixes go
through `journal.set_fix` under the run's lock (never while a retry sends, from
this console or another), retries through a `retry` job in a worker (`StartJob`).
Whenever the run is read again (after a retry, or when another console changed
it), the rows on the page are re-read by number, so the operator sees them turn
created as Clerk accepts them.

A row whose email another Clerk user holds can be linked to that user (`l`, ctrl+l in
the fix form; the plan first, then a `link` job: failure_actions.py, link_modal.py).
Pages are keyset reads by row number both ways (`[` `]` one page, `{` `}` the first
and the last page): a jump to the last page reads the last rows backwards, never OFFSET.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from console.migration.journal import RowRecord
from console.tui.runview import RowPage, RunView, read_failed_page, read_rows
from console.tui.screens.base import StepPane
from console.tui.screens.failure_actions import FailureRowActions
from console.tui.screens.link_modal import can_link
from console.tui.screens.modals import WholeRowModal, table_row_fields
from console.tui.state import ConsoleState
from console.tui.widgets.failure_tables import EVERY_CODE, FailedRows, FailureGroups, failures_note, failures_summary
from console.tui.widgets.import_panel import ImportPanel
from console.tui.widgets.job_line import JobLine

PAGE_SIZE = 100
PAGES = Binding.Group("Pages", compact=True)  # [ ] one page, { } the first / the last


class FailedPage(Message):
    def __init__(self, query: tuple, page: RowPage) -> None:
        super().__init__()
        self.query = query
        self.page = page


class RowsReread(Message):
    def __init__(self, run_dir: Path, rows: list[RowRecord]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.rows = rows


class FailuresPane(FailureRowActions, StepPane):
    step = "failures"
    _ready = False

    DEFAULT_CSS = """
    FailuresPane #fail-head { height: auto; margin-bottom: 1; }
    FailuresPane #fail-empty { height: auto; }
    FailuresPane #fail-panel { margin-bottom: 1; }
    FailuresPane #groups { height: auto; max-height: 7; }
    FailuresPane #fail-filter-row { height: 1; margin-top: 1; }
    FailuresPane #fail-filter { width: 1fr; }
    FailuresPane #fail-page-info { width: auto; padding: 0 1; color: $text-muted; }
    FailuresPane #fail-rows { height: 1fr; min-height: 4; }
    FailuresPane #fail-note { height: auto; }
    """

    BINDINGS = [
        Binding("e", "detail", "Detail / fix"),
        Binding("l", "link", "Link to user"),
        Binding("space", "toggle_select", "Select row"),
        Binding("r", "retry_rows", "Retry selected"),
        Binding("a", "retry_all", "Retry retryable"),
        Binding("g", "retry_group", "Retry this code"),
        # one footer entry for the four (`[ ] { } Pages`): the footer has room for it at 120 columns
        Binding("left_square_bracket", "page(-1)", "Prev page", group=PAGES),
        Binding("right_square_bracket", "page(1)", "Next page", group=PAGES),
        Binding("left_curly_bracket", "first_page", "First page", group=PAGES),
        Binding("right_curly_bracket", "last_page", "Last page", group=PAGES),
        Binding("ctrl+f", "focus_filter", "Filter rows"),
        Binding("s", "stop", "Stop safely"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.code: str | None = None  # the group whose rows the table shows (None: every code)
        # the page's keyset anchor: ("after", row_no or None: the first page), ("before", row_no), ("last", None)
        self.anchor: tuple[str, int | None] = ("after", None)
        # where the page stands: ("first", n) the n-th page from the first, ("last", k) k pages before the last
        self.place: tuple[str, int] = ("first", 1)
        self.page: RowPage | None = None
        self.rows: list[RowRecord] = []
        self.selected: set[int] = set()
        self._query: tuple | None = None  # the page asked for last
        self._shown: tuple | None = None  # the page shown
        self._queued: list[int] = []  # [ / ] pressed while a page was on its way: done in order when it lands
        self._groups_for: object = None
        self._rows_for: object = None
        self._link_said: object = None  # the link job's result already said

    def compose(self) -> ComposeResult:
        yield Static("", id="fail-head")
        yield Static("", id="fail-empty", classes="note")
        yield ImportPanel(compact=True, id="fail-panel")
        yield JobLine("", id="fail-job-line")
        yield FailureGroups(id="groups")
        with Horizontal(id="fail-filter-row", classes="row"):
            yield Input(placeholder="filter: external id, email, row", id="fail-filter", compact=True)
            yield Static("", id="fail-page-info")
        yield FailedRows(id="fail-rows")
        yield Static("", id="fail-note")

    def on_mount(self) -> None:
        self.query_one(FailureGroups).ensure_columns()
        self.query_one(FailedRows).ensure_columns()
        self._ready = True
        self.sync(self.state)

    @property
    def busy(self) -> bool:
        """A job works on the run (here or elsewhere): fixes and retries wait."""
        job = self.state.job
        run = self.state.run
        return (job is not None and job.active) or (run is not None and run.busy_elsewhere)

    # -- rendering -------------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:  # the app re-renders before every pane has its widgets
            return
        run: RunView | None = state.run
        has_rows = run is not None and run.sessions > 0 and (run.failed > 0 or self.rows != [])
        empty = self.query_one("#fail-empty", Static)
        empty.display = not has_rows
        for widget_id in ("#groups", "#fail-filter-row", "#fail-rows"):
            self.query_one(widget_id).display = has_rows
        if run is None or not run.sessions:
            empty.update("Nothing here yet: the rows Clerk refuses during the import land here (step 4, Import).")
        elif not has_rows:
            empty.update(
                Content.assemble(("✓ ", "$text-success bold"), "No row failed: every row sent is in Clerk.")
                if not run.to_send
                else Content("No row has failed so far.")
            )
        self.query_one("#fail-head", Static).update(
            Content.assemble(("Failures", "bold $text-accent"), "  ", failures_summary(run))
        )
        self.show_progress(state)
        if run is not None and self._groups_for is not run:
            self._groups_for = run
            self._fill_groups(run)
            if self._rows_for != run.run_dir or not self.rows:
                self._rows_for = run.run_dir
                self._request_page()
            else:
                self._reread_rows(run.run_dir, [r.row_no for r in self.rows])
        self._sync_note()
        self._say_link_result(state)
        self.refresh_keys()

    def _say_link_result(self, state: ConsoleState) -> None:
        """A link job started here ended: what happened to its row(s), in one notification."""
        job = state.job
        result = job.result if job is not None and job.kind == "link" and job.mine else None
        if result is None or result is self._link_said:
            return
        self._link_said = result
        items = (result.summary or {}).get("items") or []
        for item in items:
            if item.get("outcome") in ("linked", "already"):
                self._say(f"Row {item['row']} linked to Clerk user {item['clerk_user_id']}: it is existed now.")
            else:
                self._say(f"Row {item['row']} not linked: {item.get('message') or item.get('reason')}", "warning")
        if not items and result.message:
            self._say(f"Link: {result.message}", "warning" if result.exit_code else "information")

    def show_progress(self, state: ConsoleState) -> None:
        job = state.job
        panel = self.query_one("#fail-panel", ImportPanel)
        snap = job.snapshot if job is not None and job.kind in ("import", "retry") else None
        live = snap is not None and getattr(snap, "state", "") != "loading" and (job.active or job.kind == "retry")
        panel.display = live
        if live:
            panel.show(snap, job.rate_history, kind=job.kind)
        self.query_one("#fail-job-line", JobLine).show(
            job if job is not None and job.kind in ("import", "retry", "link") else None)

    def _fill_groups(self, run: RunView) -> None:
        self.query_one(FailureGroups).fill(run, keep=self.code, showing_rows=bool(self.rows))

    def _sync_note(self) -> None:
        job = self.state.job
        running = (f"The {job.kind}" if job is not None and job.active else "A clerk-migrate session") if self.busy else None
        self.query_one("#fail-note", Static).update(failures_note(self.state.run, len(self.selected), bool(self.rows),
                                                                  running))

    # -- the rows table, one keyset page at a time -------------------------------------
    def _request_page(self) -> None:
        run = self.state.run
        if run is None:
            return
        search = self.query_one("#fail-filter", Input).value.strip()
        query = (run.run_dir, self.code, search, self.anchor)
        self._query = query
        self._read_page(query)

    def _to_first(self) -> None:
        self.anchor, self.place = ("after", None), ("first", 1)
        self._queued.clear()

    @work(thread=True, exclusive=True, group="failures-page", exit_on_error=False)
    def _read_page(self, query: tuple) -> None:
        run_dir, code, search, (how, row_no) = query
        page = read_failed_page(run_dir, code=code, search=search, size=PAGE_SIZE,
                                after_row=row_no if how == "after" else None,
                                before_row=row_no if how == "before" else None, last=how == "last")
        self.post_message(FailedPage(query, page))

    def on_failed_page(self, message: FailedPage) -> None:
        message.stop()
        if message.query != self._query:
            return
        page = self.page = message.page
        self._shown = message.query
        if not page.earlier:
            self.place = ("first", 1)  # a page backwards reached the start
        elif not page.more:
            self.place = ("last", 0)  # a page onwards reached the end
        self._show_rows(page.rows)
        if self._queued:
            self.action_page(self._queued.pop(0))

    @work(thread=True, exclusive=True, group="failures-reread", exit_on_error=False)
    def _reread_rows(self, run_dir: Path, row_nos: list[int]) -> None:
        self.post_message(RowsReread(run_dir, read_rows(run_dir, row_nos)))

    def on_rows_reread(self, message: RowsReread) -> None:
        message.stop()
        run = self.state.run
        if run is None or run.run_dir != message.run_dir:
            return
        by_no = {r.row_no: r for r in message.rows}
        if [r.row_no for r in self.rows] == [r.row_no for r in message.rows]:
            self._show_rows([by_no[r.row_no] for r in self.rows])

    def _show_rows(self, rows: list[RowRecord]) -> None:
        table = self.query_one(FailedRows)
        self.rows = rows
        self.selected &= {r.row_no for r in rows if r.status == "failed"}
        table.show(rows, self.selected)
        if rows:
            focused = self.app.focused
            if self.state.current == "failures" and (focused is None or self not in focused.ancestors):
                table.focus()  # the rows arrived after the step opened: work starts here
        self.query_one("#fail-page-info", Static).update(self._page_words())
        self._sync_note()
        self.refresh_keys_soon()

    def _page_words(self) -> str:
        page = self.page
        where, n = self.place
        if where == "first":
            words = f"page {n}"
        else:
            words = "last page" if n == 0 else f"{n} before the last"
        back = " · [ prev { first" if page is not None and page.earlier else ""
        more = " · ] next } last" if page is not None and page.more else ""
        return f"{words}{back}{more}"

    def _current_row(self) -> RowRecord | None:
        table = self.query_one("#fail-rows", DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    # -- events ------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#groups")
    def _group_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value if event.row_key else None
        code = None if key in (None, EVERY_CODE) else key
        if code != self.code:
            self.code = code
            self._to_first()
            self._request_page()

    @on(DataTable.RowSelected, "#groups")
    def _group_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a code: its whole line (Clerk's words are cut in the table)."""
        event.stop()
        fields = table_row_fields(self.query_one(FailureGroups), event.row_key)
        more = Text("Its rows are in the table below: tab goes there (the filter first).", style="dim")
        self.app.push_screen(WholeRowModal("Failed rows of one code", fields, more))

    @on(DataTable.RowHighlighted, "#fail-rows")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.refresh_keys_soon()  # `l` shows for a row another Clerk user's email blocks

    @on(DataTable.RowSelected, "#fail-rows")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_detail()

    @on(Input.Changed, "#fail-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._to_first()
        self._request_page()

    @on(Input.Submitted, "#fail-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#fail-rows").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        busy = self.busy
        if action == "stop":
            job = self.state.job
            return job is not None and job.active and job.kind in ("import", "retry")
        if action in ("retry_rows", "retry_all", "retry_group", "detail", "toggle_select"):
            return None if busy or not self.rows else True
        if action == "link":
            if not can_link(self._current_row()):
                return False
            return None if busy else True
        return True

    def action_page(self, step: int) -> None:
        """] / [: the page after the last row shown / before the first (keyset by row number)."""
        if self._query is not None and self._query != self._shown:
            self._queued.append(step)  # from the page on its way, once it lands
            return
        page = self.page
        if page is None or not self.rows:
            return
        where, n = self.place
        if step > 0 and page.more:
            self.anchor = ("after", self.rows[-1].row_no)
            self.place = (where, n + 1 if where == "first" else max(n - 1, 0))
        elif step < 0 and page.earlier:
            self.anchor = ("before", self.rows[0].row_no)
            self.place = (where, max(n - 1, 1) if where == "first" else n + 1)
        else:
            return
        self._request_page()

    def action_first_page(self) -> None:
        """{: the first page (the lowest row numbers)."""
        self._to_first()
        self._request_page()

    def action_last_page(self) -> None:
        """}: the last page (the highest row numbers), read backwards by row number: no OFFSET."""
        self.anchor, self.place = ("last", None), ("last", 0)
        self._queued.clear()
        self._request_page()

    def action_focus_filter(self) -> None:
        self.query_one("#fail-filter").focus()

    def main_widget(self):
        """Escape from the filter: the rows it filters (the groups while there are none)."""
        rows = self.query_one("#fail-rows")
        if rows.display and self.rows:
            return rows
        groups = self.query_one("#groups")
        return groups if groups.display else None

    def on_enter(self) -> None:
        run = self.state.run
        if self.rows or (run is not None and run.failed):
            self.query_one("#fail-rows").focus()  # the page may still be on its way
        elif self.query_one("#groups").display:
            self.query_one("#groups").focus()
        else:
            super().on_enter()


__all__ = ["FailuresPane", "PAGE_SIZE"]
