"""Review: the issues by code, the rows behind them (paged), the policies and
their effect on the counts, the Development cap, the CSV report.

Everything here is read from the engine's `ValidationReport`; a policy change
asks the app to run the engine's validation again with the new policies.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    TabbedContent,
    TabPane,
)

from console.source import VERIFIED_POLICY_RISK
from console.source.model import Issue, Policies
from console.tui.screens.base import StepPane
from console.tui.widgets.choice import ChoiceButton
from console.tui.screens.modals import RowDetailModal, WholeRowModal, table_row_fields
from console.tui.state import ConsoleState, counts_delta
from console.tui.widgets.readiness import ReadinessView
from console.tui.widgets.scroll_area import ScrollArea

PAGE_SIZE = 200

UNVERIFIED_CHOICES: tuple[tuple[str, str], ...] = (  # the engine's UNVERIFIED_POLICIES, default first
    ("oauth", "Verified if dated or OAuth, else reserved"),
    ("reserved", "Import unverified (the user verifies it)"),
    ("refuse", "Refuse these rows"),
    ("verified", "Import all as verified (the older default)"),  # last: its risk is said right under it
)
PLAINTEXT_CHOICES: tuple[tuple[str, str], ...] = (
    ("refuse", "Refuse them (the users reset it)"),
    ("send", "Send as password (skip checks)"),
)
PLAINTEXT_CODES = ("password_plaintext", "plaintext_password")


def _delta(before: dict | None, after: dict | None, key: str) -> str:
    d = counts_delta(before, after, key)
    return "" if not d else f" ({d:+,})"


class ReviewPane(StepPane):
    step = "review"
    DEFAULT_CSS = """
    ReviewPane #verified-risk { padding: 0 0 0 5; }
    """
    FOCUS_LAST = ("#export-csv",)  # codes -> filter -> rows, then Save CSV, the tabs, the rail

    BINDINGS = [
        Binding("ctrl+s", "export_csv", "Save report CSV"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("ctrl+f", "focus_filter", "Filter rows"),
        Binding("p", "show_tab('tab-policies')", "Policies"),
        Binding("i", "show_tab('tab-issues')", "Issues"),
        Binding("r", "show_tab('tab-readiness')", "Readiness"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.code: str | None = None  # the code whose rows the detail table shows
        self.page = 0
        self.total = 0
        self._summary_for: object = None  # the report the summary table was filled from
        self._detail_rows: list[Issue] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="review-head"):
            yield Label("Review", classes="pane-title")
            yield Static("", id="counts")
            yield Button("Save CSV", id="export-csv", compact=True)
        yield Static("", id="review-empty", classes="note")
        yield Static("", id="blockers", classes="band band-error")
        yield Static("", id="recomputing", classes="note")
        with TabbedContent(id="review-tabs"):
            with TabPane("Issues", id="tab-issues"):
                yield DataTable(id="by-code", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="filter-row", classes="row"):
                    yield Input(placeholder="filter: id, email, text, row", id="filter", compact=True)
                    yield Static("", id="page-info")
                yield DataTable(id="detail", cursor_type="row", zebra_stripes=True)
            with TabPane("Readiness", id="tab-readiness"):  # the instance's own settings (issue 13)
                yield ReadinessView(id="readiness")
            with TabPane("Policies", id="tab-policies"):
                with ScrollArea():
                    yield Static("", id="effect", classes="note")
                    yield Label("Unverified emails", classes="section")
                    yield Static("", id="unverified-words")
                    with RadioSet(id="policy-unverified"):
                        for value, words in UNVERIFIED_CHOICES:
                            yield ChoiceButton(words, value=value == self.state.policies.unverified_email)
                    yield Static(Content("⚠ " + VERIFIED_POLICY_RISK).stylize("$text-warning"), id="verified-risk")
                    yield Label("Plaintext passwords", classes="section")
                    yield Static("", id="plaintext-words")
                    with RadioSet(id="policy-plaintext"):
                        for value, words in PLAINTEXT_CHOICES:
                            yield ChoiceButton(words, value=value == self.state.policies.plaintext_password)

    def on_mount(self) -> None:
        summary = self.query_one("#by-code", DataTable)
        summary.add_column("Severity", key="severity")
        summary.add_column("Code", key="code", width=18)
        summary.add_column("Rows", key="rows")
        summary.add_column("Example", key="example")
        detail = self.query_one("#detail", DataTable)
        detail.add_column("Row", key="row")
        detail.add_column("External id", key="external_id", width=18)
        detail.add_column("Field", key="field")
        detail.add_column("Message", key="message")

    # -- rendering -------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        report = state.report
        empty = self.query_one("#review-empty", Static)
        empty.display = report is None
        self.query_one("#review-tabs").display = report is not None
        self.query_one("#export-csv", Button).disabled = report is None
        if report is None:
            if state.load.status == "missing":
                empty.update(Text(f"The run's export is not at {state.load.path} any more: see Load (step 2)."))
            else:
                empty.update("Nothing to review yet: load an export first (step 2, Load).")
            self.query_one("#counts", Static).update("")
            self.query_one("#blockers").display = False
            self.query_one("#recomputing").display = False
            return
        after = state.report_counts()
        before = state.previous_counts
        self.query_one("#counts", Static).update(
            Content.assemble(
                f"{report.rows:,} rows: ",
                (f"{report.importable:,} importable", "$text-success bold"),
                _delta(before, after, "importable"),
                " · ",
                (f"{report.refused:,} refused", "$text-error bold" if report.refused else ""),
                _delta(before, after, "refused"),
                f" · {report.warned:,} changed",
                _delta(before, after, "warned"),
            )
        )
        blockers = self.query_one("#blockers", Static)
        blockers.display = bool(report.blockers)
        if report.blockers:
            blockers.update(Text("Blocks the import: " + " ".join(b.message for b in report.blockers)))
        busy = self.query_one("#recomputing", Static)
        busy.display = state.load.status == "loading"
        if state.load.status == "loading":
            busy.update(f"Checking again with the chosen policies and instance… {state.load.rows:,} rows")
        if self._summary_for is not report:
            self._summary_for = report
            self._fill_summary(state)
        self._sync_policies(state)
        self.query_one(ReadinessView).sync(state)

    def _fill_summary(self, state: ConsoleState) -> None:
        report, index = state.report, state.issue_index
        assert report is not None and index is not None
        table = self.query_one("#by-code", DataTable)
        keep = self.code
        table.clear()
        entries = sorted(report.by_code.items(), key=lambda kv: (kv[0][1] != "error", -kv[1], kv[0][0]))
        seen: set[str] = set()
        for (code, severity), count in entries:
            if code in seen:  # a code with both severities: one line, the error first
                continue
            seen.add(code)
            example = index.example(code)
            table.add_row(
                Text(severity, style="bold" if severity == "error" else ""),
                Text(code, no_wrap=True, overflow="ellipsis"),
                Text(f"{count:,}", justify="right"),
                Text(example.message if example else "", no_wrap=True, overflow="ellipsis"),
                key=code,
            )
        codes = [code for (code, _), _ in entries]
        if not codes:
            self.code = None
            self._request_page()
            return
        self.code = keep if keep in codes else codes[0]
        table.move_cursor(row=table.get_row_index(self.code))
        self.page = 0
        self._request_page()

    def _sync_policies(self, state: ConsoleState) -> None:
        report = state.report
        assert report is not None
        counts = getattr(report, "email_verification", None) or {}
        self.query_one("#unverified-words", Static).update(
            Content.assemble(
                f"{report.unverified:,} rows have no emailVerified date; {report.unverified_with_oauth:,} of them "
                "signed in with an OAuth provider (Auth.js leaves those unverified although the provider "
                "verified the address).\nWith this policy: ",
                (f"{counts.get('verified_by_date', 0):,}", "bold"), " verified by date, ",
                (f"{counts.get('verified_by_oauth', 0):,}", "bold"), " by an OAuth account, ",
                (f"{counts.get('reserved', 0):,}", "bold"), " reserved (verified on first sign-in), ",
                (f"{counts.get('verified_by_policy', 0):,}", "bold"), " verified by policy, ",
                (f"{counts.get('refused', 0):,}", "bold"), " refused.",
            )
        )
        plaintext = sum(n for (code, _), n in report.by_code.items() if code in PLAINTEXT_CODES)
        self.query_one("#plaintext-words", Static).update(
            Content(f"{plaintext:,} rows hold what looks like a plaintext password rather than a digest.")
        )
        self._set_radio("#policy-unverified", [v for v, _ in UNVERIFIED_CHOICES], state.policies.unverified_email)
        self._set_radio("#policy-plaintext", [v for v, _ in PLAINTEXT_CHOICES], state.policies.plaintext_password)
        effect = self.query_one("#effect", Static)
        before, after = state.previous_counts, state.report_counts()
        if before and after:
            parts = [
                f"{key} {before[key]:,} → {after[key]:,}"
                for key in ("importable", "refused", "warned")
                if before[key] != after[key]
            ]
            words = Content("Effect of the last change: " + ("; ".join(parts) if parts else "no change in the counts."))
        else:
            words = Content("Choosing a policy checks the export again and shows its effect on the counts here.")
        run = state.run
        if run is not None and run.info.rows_loaded:
            words = words.append(
                Content(
                    "\nThe run in the run folder keeps the policies it was made with; other policies need a new run folder."
                ).stylize("$text-muted")
            )
        effect.update(words)

    def _set_radio(self, selector: str, values: list[str], chosen: str) -> None:
        radio = self.query_one(selector, RadioSet)
        for button, value in zip(radio.query(RadioButton), values):
            wanted = value == chosen
            if button.value != wanted:
                with button.prevent(RadioButton.Changed), radio.prevent(RadioSet.Changed):
                    button.value = wanted

    # -- the detail table, one page at a time ----------------------------------
    def _request_page(self) -> None:
        text = self.query_one("#filter", Input).value
        self.console.request_detail_page(self.code, text, self.page, PAGE_SIZE)

    def show_page(self, issues: list[Issue], total: int, every_code: bool = False) -> None:
        self.total = total
        self._detail_rows = issues
        table = self.query_one("#detail", DataTable)
        table.clear()
        for n, issue in enumerate(issues):
            table.add_row(
                Text(str(issue.row) if issue.row else "file", justify="right"),
                Text(issue.external_id or "—", no_wrap=True, overflow="ellipsis"),
                Text(issue.field),
                Text(issue.message, no_wrap=True, overflow="ellipsis"),
                key=str(n),
            )
        pages = max(1, -(-total // PAGE_SIZE))
        first = self.page * PAGE_SIZE + 1 if total else 0
        last = min(total, (self.page + 1) * PAGE_SIZE)
        where = "all codes: " if every_code else ""  # nothing under the chosen code matched
        more = f" · page {self.page + 1}/{pages}" if pages > 1 else ""
        self.query_one("#page-info", Static).update(Text(f"{where}{first:,}–{last:,} of {total:,}{more}"))

    @on(DataTable.RowHighlighted, "#by-code")
    def _code_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        code = event.row_key.value if event.row_key else None
        if code != self.code:
            self.code = code
            self.page = 0
            self._request_page()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.page = 0
        self._request_page()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#detail").focus()

    @on(DataTable.RowSelected, "#detail")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        issue = self._detail_rows[int(event.row_key.value)]  # type: ignore[arg-type]
        index = self.state.issue_index
        issues = index.of_row(issue.row) if index and issue.row else [issue]
        self.app.push_screen(RowDetailModal(issue.row, issue.external_id, issues))

    @on(DataTable.RowSelected, "#by-code")
    def _code_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a code: its whole line (the example is cut in the table)."""
        event.stop()
        fields = table_row_fields(self.query_one("#by-code", DataTable), event.row_key)
        more = Text("Its rows are in the table below: tab goes there.", style="dim")
        self.app.push_screen(WholeRowModal("An issue code", fields, more))

    def action_page(self, step: int) -> None:
        pages = max(1, -(-self.total // PAGE_SIZE))
        page = min(max(0, self.page + step), pages - 1)
        if page != self.page:
            self.page = page
            self._request_page()

    def action_show_tab(self, tab: str) -> None:
        """Open a tab and put the focus in it (focus elsewhere would switch back)."""
        if self.state.report is None:
            return
        self.query_one("#review-tabs", TabbedContent).active = tab
        if tab == "tab-readiness":
            self.query_one(ReadinessView).focus_first()
            return
        target = "#policy-unverified" if tab == "tab-policies" else "#by-code"
        self.query_one(target).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#review-tabs", TabbedContent).active = "tab-issues"
        self.query_one("#filter").focus()

    # -- policies ----------------------------------------------------------------
    @on(RadioSet.Changed, "#policy-unverified")
    def _unverified(self, event: RadioSet.Changed) -> None:
        event.stop()
        value = UNVERIFIED_CHOICES[event.index][0]
        self.console.set_policies(Policies(value, self.state.policies.plaintext_password))  # type: ignore[arg-type]

    @on(RadioSet.Changed, "#policy-plaintext")
    def _plaintext(self, event: RadioSet.Changed) -> None:
        event.stop()
        value = PLAINTEXT_CHOICES[event.index][0]
        self.console.set_policies(Policies(self.state.policies.unverified_email, value))  # type: ignore[arg-type]

    # -- the CSV report ---------------------------------------------------------
    @on(Button.Pressed, "#export-csv")
    def _export_button(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_export_csv()

    def action_export_csv(self) -> None:
        self.console.ask_report_path()

    def on_enter(self) -> None:
        if self.state.report is not None:
            self.screen.set_focus(self.query_one("#by-code"))
        else:
            self.screen.set_focus(self.app.query_one("#rail"))

    def main_widget(self):
        """Escape from the filter: the rows it filters (the codes while there are none)."""
        if self.state.report is None:
            return None
        if self.query_one("#review-tabs", TabbedContent).active != "tab-issues":
            return super().main_widget()
        detail = self.query_one("#detail", DataTable)
        return detail if detail.row_count else self.query_one("#by-code")

    def leave_forward(self) -> None:
        if self.state.report is not None:
            self.console.state.review_confirmed = True
