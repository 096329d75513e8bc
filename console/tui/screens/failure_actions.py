"""The Failures pane's row actions: a row's detail and fix, linking a row to the Clerk user holding
its email (issue 15 item 17), selecting, retrying and stopping. A mixin of FailuresPane (which has
`state`, `rows`, `selected`, `code`, `busy`, `_current_row`, `_show_rows` and `_sync_note`); every
writing action posts an intent (StartJob, StopJob): the job runs in a worker."""

from __future__ import annotations

from typing import Any

from textual import work

from console.migration.journal import RowRecord
from console.tui.messages import ReadRun, StartJob, StopJob
from console.tui.runview import set_row_fix
from console.tui.screens.fix_modal import FixRequest, LinkAsk, RowFixModal
from console.tui.screens.link_modal import LinkModal, can_link
from console.tui.widgets.failure_tables import FailedRows


class FailureRowActions:
    """What the keys do to the highlighted, selected or grouped rows."""

    state: Any
    rows: list[RowRecord]
    selected: set[int]
    code: str | None

    def action_detail(self) -> None:
        rec = self._current_row()
        run = self.state.run
        if rec is None or run is None:
            return
        self.app.push_screen(RowFixModal(run.run_dir, rec, editable=not self.busy), self._fix_done)

    def _fix_done(self, request: FixRequest | LinkAsk | None) -> None:
        if request is None:
            return
        if isinstance(request, LinkAsk):
            self._ask_link(request.row_no)
            return
        self._apply_fix(request)

    # -- link a row to the Clerk user holding its email (issue 15 item 17) ---------------
    def action_link(self) -> None:
        rec = self._current_row()
        if rec is None or not can_link(rec):
            self._say("Only a row whose email another Clerk user holds (form_identifier_exists) can be linked.",
                      "warning")
            return
        self._ask_link(rec.row_no)

    def _ask_link(self, row_no: int) -> None:
        run = self.state.run
        rec = next((r for r in self.rows if r.row_no == row_no), None)
        if run is None or rec is None:
            return
        if self.busy:
            self._say("A session is running already: wait for it, or stop it (s).", "warning")
            return
        self.app.push_screen(LinkModal(run.run_dir, rec, self.state.settings),
                             lambda yes, row_no=row_no: self._link_answered(row_no, bool(yes)))

    def _link_answered(self, row_no: int, yes: bool) -> None:
        if not yes:
            return
        if self.busy:
            self._say("A session is running already: wait for it, or stop it (s).", "warning")
            return
        self._say(f"Linking row {row_no} in a worker.")
        self.post_message(StartJob("link", {"row_nos": [row_no]}))

    @work(thread=True, exclusive=True, group="failures-fix", exit_on_error=False)
    def _apply_fix(self, request: FixRequest) -> None:
        from console.migration.errors import MigrationError

        try:
            record = set_row_fix(request.run_dir, request.row_no, request.fields)
        except (ValueError, MigrationError) as exc:  # the journal refuses the field or the row, or a session holds
            self.app.call_from_thread(self._say, str(exc), "error")  # the run: said in place
            return
        self.app.call_from_thread(self._fixed, record, request.retry)

    def _fixed(self, record: RowRecord, retry: bool) -> None:
        self.rows = [record if r.row_no == record.row_no else r for r in self.rows]
        self._show_rows(self.rows)
        if retry:
            self._retry(row_nos=[record.row_no], what=f"row {record.row_no}")
        else:
            self._say(f"Row {record.row_no}: fix saved ({', '.join(sorted(record.fix or {})) or 'cleared'}); r retries it.")
            self.post_message(ReadRun())

    def _say(self, words: str, severity: str = "information") -> None:
        self.app.notify(words, severity=severity, markup=False)  # type: ignore[arg-type]

    def action_toggle_select(self) -> None:
        rec = self._current_row()
        if rec is None or rec.status != "failed":
            return
        self.selected ^= {rec.row_no}
        table = self.query_one(FailedRows)
        table.mark(rec.row_no, rec.row_no in self.selected)
        if table.cursor_row < len(self.rows) - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._sync_note()

    def action_retry_rows(self) -> None:
        if self.selected:
            rows = sorted(self.selected)
        else:
            rec = self._current_row()
            if rec is None or rec.status != "failed":
                self._say("The highlighted row has not failed: nothing to retry.", "warning")
                return
            rows = [rec.row_no]
        self._retry(row_nos=rows, what=f"{len(rows)} row(s)")

    def action_retry_all(self) -> None:
        run = self.state.run
        if run is None:
            return
        if not run.retryable:
            self._say("No row is retryable as is: fix a row first (enter), or retry a code with g.", "warning")
            return
        self._retry(what=f"{run.retryable:,} retryable row(s)")

    def action_retry_group(self) -> None:
        if self.code is None:
            self._say("Highlight a code in the groups table first.", "warning")
            return
        self._retry(codes=[self.code], what=f"every {self.code} row")

    def _retry(self, *, what: str, codes: list[str] | None = None, row_nos: list[int] | None = None) -> None:
        if self.busy:
            self._say("A session is running already: wait for it, or stop it (s).", "warning")
            return
        self.selected.clear()
        self._say(f"Retrying {what}.")
        self.post_message(StartJob("retry", {"codes": list(codes) if codes else None,
                                             "row_nos": list(row_nos) if row_nos else None}))

    def action_stop(self) -> None:
        self.post_message(StopJob())
