"""Verify: read the run's users back from Clerk and compare them with the export.

The engine's verify job runs in a worker process, as every job the console
starts does (console/tui/jobs.py): one way to run a job, a verification of a
million users that outlives a dropped connection, a second console that sees
it and its result, and the run's lock keeping an import or an undo of the same
run from starting meanwhile. Its `VerifyProgress` snapshots replace each other
on the way to the screen; its result is the `verify --json` object. The
mismatches and missing users are shown a page at a time; Clerk's total user
count stands beside what the journal expects. Re-run on demand, with a sample
(the engine's default size) or all.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static

from console.tui.messages import StartJob, StopJob
from console.tui.runview import RunView, duration
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.widgets.job_line import JobLine
from console.tui.widgets.verify_table import VerifyDifferences

PAGE_SIZE = 100
WHAT = (
    "Reads the users back and compares each with what the export sent: external id, email and its "
    "verification, names, username, password set, created at."
)


def default_sample() -> int:
    from console.migration.verify import DEFAULT_SAMPLE

    return DEFAULT_SAMPLE


class VerifyPane(StepPane):
    step = "verify"
    _ready = False

    DEFAULT_CSS = """
    VerifyPane #verify-what { height: auto; color: $text-muted; }
    VerifyPane #verify-form { height: 1; margin-top: 1; }
    VerifyPane #verify-form Label { width: auto; padding-right: 1; }
    VerifyPane #verify-sample { width: 10; }
    VerifyPane #verify-form Button { margin-left: 1; }
    VerifyPane #verify-bar { margin-top: 1; }
    VerifyPane #verify-bar Bar { width: 1fr; }
    VerifyPane #verify-figures { height: auto; }
    VerifyPane #verify-totals { height: auto; margin-top: 1; }
    VerifyPane #verify-result { height: auto; margin-top: 1; }
    VerifyPane #verify-page { height: 1; color: $text-muted; }
    VerifyPane #verify-table { height: 1fr; min-height: 4; }
    """

    BINDINGS = [
        Binding("v", "verify(False)", "Verify sample"),
        Binding("a", "verify(True)", "Verify all"),
        Binding("s", "stop", "Stop"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("i", "sign_in", "Sign in as…"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.refusal: str | None = None  # this pane's own (a bad sample size)
        self.page = 0
        self._entries: list[tuple[str, dict[str, Any]]] = []
        self._filled_from: Any = None  # the result the table shows

    def compose(self) -> ComposeResult:
        yield Label("Verify: read the users back from Clerk", classes="pane-title")
        yield Static("", id="verify-what")
        with Horizontal(id="verify-form", classes="row"):
            yield Label("Users to check")
            yield Input(str(default_sample()), id="verify-sample", type="integer", compact=True)
            yield Button("Verify sample", variant="primary", id="verify-sample-btn", compact=True)
            yield Button("Verify all", id="verify-all-btn", compact=True)
        yield ProgressBar(total=1, show_eta=False, id="verify-bar")
        yield Static("", id="verify-figures")
        yield JobLine("", id="verify-job-line")
        yield Static("", id="verify-totals")
        yield Static("", id="verify-result")
        yield Static("", id="verify-page")
        yield VerifyDifferences(id="verify-table")

    def on_mount(self) -> None:
        self.query_one(VerifyDifferences).ensure_columns()
        self._ready = True
        self.sync(self.state)

    # -- what the worker reported (ConsoleState.job, .results) ----------------------------
    @property
    def job(self) -> Any:
        job = self.state.job
        return job if job is not None and job.kind == "verify" else None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.active

    @property
    def progress(self) -> Any:
        job = self.job
        return job.snapshot if job is not None else None

    @property
    def result(self) -> Any:
        """The last verification's JobResult seen by this console (its summary: verify --json)."""
        result = self.state.results.get("verify")
        return result if result is not None and result.exit_code in (0, 1, 130) and "checked" in result.summary else None

    @property
    def summary(self) -> dict[str, Any] | None:
        result = self.result
        return result.summary if result is not None else None

    @property
    def refused(self) -> str | None:
        if self.refusal:
            return self.refusal
        job = self.job
        if job is None or job.active:
            return None
        if job.refused:
            return job.refused
        if job.lost:
            return job.note or "the verify worker went away without a result"
        r = job.result
        return r.message or "refused" if r is not None and r.exit_code == 2 else None

    # -- rendering -------------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:  # the app re-renders before every pane has its widgets
            return
        run: RunView | None = state.run
        ready = run is not None and run.import_finished
        for widget_id in ("#verify-form",):
            self.query_one(widget_id).display = ready
        self.query_one("#verify-sample-btn", Button).disabled = self.running
        self.query_one("#verify-all-btn", Button).disabled = self.running
        if self.result is not None and self._filled_from is not self.result:
            self._filled_from = self.result
            summary = self.result.summary
            self._entries = [("missing", e) for e in summary.get("missing") or []] + [
                ("mismatch", e) for e in summary.get("mismatched") or []]
            self.page = 0
            self._fill_table()
        what = self.query_one("#verify-what", Static)
        if ready:
            what.update(WHAT)
        else:
            what.update(
                "Verify comes after the import: every importable row must be settled first "
                "(step 4, Import; step 5, Failures)."
            )
        self._show(run)
        self.refresh_keys()

    def show_progress(self, state: ConsoleState) -> None:
        """The live part (called for each snapshot of the verify worker)."""
        self._show(state.run)

    def _show(self, run: RunView | None) -> None:
        self.query_one("#verify-job-line", JobLine).show(self.job)
        bar = self.query_one("#verify-bar", ProgressBar)
        figures = self.query_one("#verify-figures", Static)
        p = self.progress
        bar.display = p is not None
        if p is not None:
            bar.update(total=max(1, p.total), progress=p.checked)
            eta = f" · ETA {duration(p.eta_s)}" if p.eta_s is not None and self.running else ""
            words = {"reading": "reading the export", "counting": "counting Clerk's users"}.get(p.state, p.state)
            figures.update(
                Content.assemble(
                    (f"{p.checked:,} of {p.total:,} checked", "bold"),
                    f" · {p.matched:,} match · ",
                    (f"{p.mismatched:,} differ", "$text-error" if p.mismatched else ""),
                    " · ",
                    (f"{p.missing:,} missing", "$text-error" if p.missing else ""),
                    f" · {p.requests:,} requests · {words}{eta}",
                )
            )
        else:
            figures.update("")
        self.query_one("#verify-totals", Static).update(self._totals(run))
        self.query_one("#verify-result", Static).update(self._result(run))
        table = self.query_one("#verify-table", DataTable)
        table.display = bool(self._entries)
        self.query_one("#verify-page").display = bool(self._entries)

    def _totals(self, run: RunView | None) -> Content:
        summary = self._summary(run)
        if summary is None or summary.get("clerk_total") is None:
            return Content("")
        clerk, expected = summary["clerk_total"], summary["expected_total"]
        ok = clerk >= expected
        return Content.assemble(
            ("✓ " if ok else "✗ ", "$text-success bold" if ok else "$text-error bold"),
            "Clerk holds ",
            (f"{clerk:,}", "bold"),
            " users; this run expects at least ",
            (f"{expected:,}", "bold"),
            " (created, or already there" + (f", less {summary.get('undone'):,} undone" if summary.get("undone") else "") + ")."
            + ("" if ok else " Some are missing."),
        )

    def _summary(self, run: RunView | None) -> dict[str, Any] | None:
        if self.summary is not None:
            return self.summary
        return run.verify_last if run is not None else None

    def _result(self, run: RunView | None) -> Content:
        if self.refused:
            return Content.assemble(("✗ Not verified: ", "$text-error bold"), self.refused)
        if self.running:
            return Content.assemble(("s", "bold"), " stops the verification (what was read stays reported)").stylize(
                "$text-muted"
            )
        summary = self._summary(run)
        if summary is None:
            if run is not None and run.import_finished:
                return Content.assemble(
                    ("v", "bold"), " checks a random sample of the users (the size above), ",
                    ("a", "bold"), " checks every one (one request per 100 users); ",
                    ("i", "bold"), " signs in as a user (Clerk checks a password).",
                ).stylize("$text-muted")
            return Content("")
        mode = "every user" if summary.get("sample") is None else f"a sample, seed {summary.get('seed')}"
        head: Content
        if not summary.get("complete", True):
            head = Content.assemble(("■ Stopped early: ", "$text-warning bold"))
        elif summary.get("ok"):
            head = Content.assemble(("✓ Verified: ", "$text-success bold"))
        else:
            head = Content.assemble(("✗ Differences: ", "$text-error bold"))
        body = Content(
            f"{summary.get('checked', 0):,} users checked ({mode}), {summary.get('matched', 0):,} match, "
            f"{summary.get('mismatched_users', 0):,} differ ({summary.get('mismatched_fields', 0):,} fields), "
            f"{summary.get('missing_count', 0):,} missing."
        )
        if self.summary is None and run is not None and run.verify_last is not None:
            body = body.append(Content(" (last verification of this run; v runs it again)").stylize("$text-muted"))
        return head.append(body)

    def _fill_table(self) -> None:
        self.query_one(VerifyDifferences).show_page(self._entries, self.page * PAGE_SIZE, PAGE_SIZE)
        pages = max(1, -(-len(self._entries) // PAGE_SIZE))
        more = " (the report lists the first 10,000; all are in the journal)" if (self.summary or {}).get("truncated") else ""
        self.query_one("#verify-page", Static).update(
            f"{len(self._entries):,} differences and missing users · page {self.page + 1}/{pages}{more}"
        )

    # -- the verification -------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        run = self.state.run
        if action == "verify":
            return None if self.running or run is None or not run.import_finished else True
        if action == "stop":
            return self.running
        if action == "page":
            return bool(self._entries)
        return run is not None if action == "sign_in" else True

    def action_verify(self, all_users: bool) -> None:
        run = self.state.run
        if run is None or not run.import_finished or self.running:
            return
        sample: int | None = None
        if not all_users:
            value = self.query_one("#verify-sample", Input).value.strip()
            try:
                sample = int(value) if value else default_sample()
            except ValueError:
                sample = -1
            if sample < 1:
                self.refusal = "the sample size must be a whole number, 1 or more"
                self.sync(self.state)
                return
        self.refusal = None
        self.post_message(StartJob("verify", {"all": True} if all_users else {"sample": sample}))

    def action_sign_in(self) -> None:  # "Sign in as…": Clerk checks a password (issue 13 §5)
        from console.tui.widgets.sign_in import SignInModal
        if self.state.run is not None:
            self.app.push_screen(SignInModal(self.state.run.run_dir, self.state.settings))

    def action_stop(self) -> None:
        if self.running:
            self.post_message(StopJob())

    def action_page(self, step: int) -> None:
        pages = max(1, -(-len(self._entries) // PAGE_SIZE))
        page = min(max(0, self.page + step), pages - 1)
        if page != self.page:
            self.page = page
            self._fill_table()

    @on(DataTable.RowSelected, "#verify-table")
    def _entry_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a difference: the whole of it (values are cut in the table)."""
        from console.tui.screens.modals import WholeRowModal, table_row_fields, whole

        event.stop()
        kind, entry = self._entries[int(event.row_key.value)]  # type: ignore[arg-type]
        fields = table_row_fields(self.query_one(VerifyDifferences), event.row_key)
        fields.append(("Clerk user id", whole(entry.get("clerk_user_id") or "—")))
        fields.append(("In the journal", whole(entry.get("status") or "—")))
        title = "A missing user" if kind == "missing" else "A field that differs"
        self.app.push_screen(WholeRowModal(title, fields))

    @on(Input.Submitted, "#verify-sample")
    @on(Button.Pressed, "#verify-sample-btn")
    def _sample(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_verify(False)

    @on(Button.Pressed, "#verify-all-btn")
    def _all(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_verify(True)

    def on_enter(self) -> None:
        run = self.state.run
        if self._entries and not self.running:
            self.query_one("#verify-table").focus()
        elif run is not None and run.import_finished and not self.running:
            self.query_one("#verify-sample-btn").focus()
        else:
            super().on_enter()

