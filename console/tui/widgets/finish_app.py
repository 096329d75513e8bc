"""Finish › App code: the checklist of Clerk's guide (ClerkProvider,
clerkMiddleware, auth()/getAuth, …), filled from `scan_app(path)` once the
operator names the app's folder (`app_code_steps` before that). The highlighted
step's files and lines are in a detail area below the checklist that scrolls
(tab into it, then the arrows), and enter on a step shows all of it in a modal.

The scan also builds the patch of the mechanical rewrites (`build_patch`, in the
same thread worker): `v` (or the Patch button) opens it on a screen of its own,
file by file with the diff, what is left for a hand edit and the advice for the
app's versions, and writes it (widgets/patch_view.py). An app whose user ids are
integers gets its warning here too (issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Static

from console.tui.widgets.outcome import show_outcome
from console.tui.widgets.scroll_area import ScrollArea

SHOWN_FINDINGS = 500  # a step's files and lines shown here; `scan-app` lists every one
STATUS_MARK = {"done": ("✓ done", "$text-success"), "to do": ("• to do", "$text-warning"), "not applicable": ("– n/a", "$text-muted")}


class Scanned(Message):
    def __init__(self, report: Any = None, error: str | None = None, patch: Any = None) -> None:
        super().__init__()
        self.report = report
        self.error = error
        self.patch = patch


class AppCodeChecklist(Vertical):
    DEFAULT_CSS = """
    AppCodeChecklist #checklist { height: auto; max-height: 50%; margin-top: 1; }
    AppCodeChecklist #step-detail-scroll { height: 1fr; min-height: 3; margin-top: 1; }
    AppCodeChecklist #step-detail { height: auto; }
    AppCodeChecklist #ids-warning { margin: 1 0 0 0; max-height: 3; }
    AppCodeChecklist .form-row Button { min-width: 8; }
    """

    BINDINGS = [Binding("v", "view_patch", "View patch", tooltip="The patch file by file, what is left, the advice")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scan: Any = None
        self.patch: Any = None  # the scan's Patch (build_patch)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("App path", classes="form-label")
            yield Input(placeholder="the Next.js app's folder", id="app-path", compact=True)
            yield Button("Scan", variant="primary", id="scan", compact=True)
            yield Button("Patch", id="view-patch", compact=True, disabled=True)
        yield Static("", id="scan-outcome", classes="outcome")
        yield Static("", id="ids-warning", classes="band band-warning")
        yield DataTable(id="checklist", cursor_type="row", zebra_stripes=True)
        with ScrollArea(id="step-detail-scroll"):
            yield Static("", id="step-detail")

    def on_mount(self) -> None:
        table = self.query_one("#checklist", DataTable)
        table.add_column("Status", key="status")
        table.add_column("Step of the guide", key="step")
        self.query_one("#ids-warning").display = False
        self._guide_checklist()

    def _outcome(self, words: Content | None, error: str | None = None) -> None:
        show_outcome(self.query_one("#scan-outcome", Static), words, error)

    def _guide_checklist(self) -> None:
        """Before a scan: the guide's steps, Auth.js construct -> Clerk replacement."""
        from console.migration.outputs import app_code_steps

        table = self.query_one("#checklist", DataTable)
        table.clear()
        for n, step in enumerate(app_code_steps()):
            table.add_row(Text("?", style="$text-muted"), Text(f"{step.auth_js} → {step.clerk}"), key=str(n))
        self._outcome(
            Content("Name the app's folder and Scan: each step of the guide is then marked done or to do, with "
                    "the files and lines still using Auth.js.").stylize("$text-muted"),
        )

    # -- the scan --------------------------------------------------------------------
    def start_scan(self) -> None:
        value = self.query_one("#app-path", Input).value.strip()
        if not value:
            self._outcome(None, "name the app's folder (the one with package.json)")
            return
        self._outcome(Content("Scanning…"))
        self._scan(Path(value).expanduser())

    @work(thread=True, exclusive=True, group="finish-scan", exit_on_error=False)
    def _scan(self, path: Path) -> None:
        from console.appscan import AppScanError, scan_app
        from console.appscan.patch import build_patch

        try:
            report = scan_app(path)
        except AppScanError as exc:
            self.post_message(Scanned(error=str(exc)))
            return
        self.post_message(Scanned(report, patch=build_patch(report)))

    def on_scanned(self, message: Scanned) -> None:
        message.stop()
        if message.error:
            self._outcome(None, message.error)
            return
        report = self.scan = message.report
        patch = self.patch = message.patch
        self.query_one("#view-patch", Button).disabled = patch is None
        self._ids_warning(report)
        table = self.query_one("#checklist", DataTable)
        table.clear()
        for item in report.checklist:
            mark, style = STATUS_MARK.get(item.status, (item.status, ""))
            table.add_row(Text(mark, style=style), Text(item.title), key=item.key)
        todo = sum(1 for i in report.checklist if i.status == "to do")
        self._outcome(
            Content.assemble(
                ("✓ " if not todo else "• ", "$text-success bold" if not todo else "$text-warning bold"),
                f"{report.path}: {report.router} router, {report.files_scanned:,} files, "
                f"{len(report.findings):,} Auth.js touch points; ",
                (f"{todo} step(s) to do" if todo else "every step done", "bold"),
                ". Highlight a step for its files and lines. ",
                self._patch_words(patch),
            ),
        )
        self.refresh_bindings()
        self._show_step(report.checklist[0].key if report.checklist else None)
        if self.app.focused is self.query_one("#app-path"):  # on to the result: its keys (v) in the footer
            self.query_one("#checklist").focus()

    @staticmethod
    def _patch_words(patch: Any) -> Content:
        if patch is None:
            return Content("")
        if not patch.files:
            return Content.assemble("The patch has nothing to rewrite (", ("v", "bold"), " shows what is left).")
        files = len(patch.files)
        return Content.assemble(
            "The patch rewrites ", (f"{files} file{'s' * (files != 1)}", "bold"),
            f" and leaves {len(patch.left):,} for a hand edit: ", ("v", "bold"), " views and writes it.",
        )

    def _ids_warning(self, report: Any) -> None:
        from console.tui.widgets.patch_view import INTEGER_IDS

        band = self.query_one("#ids-warning", Static)
        integer = next((a for a in report.advice if a.key == INTEGER_IDS), None)
        band.display = integer is not None
        if integer is not None:
            band.update(Text("⚠ " + integer.title + ". The patch's Advice (v) says what to do before the cut-over."))

    def action_view_patch(self) -> None:
        from console.tui.widgets.patch_view import PatchScreen

        if self.scan is None or self.patch is None:
            return
        self.app.push_screen(PatchScreen(self.scan, self.patch, self.app.state.run_dir))  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "view_patch":
            return self.patch is not None
        return True

    @on(Button.Pressed, "#view-patch")
    def _patch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_view_patch()

    @on(DataTable.RowHighlighted, "#checklist")
    def _step_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.scan is not None and event.row_key is not None:
            self._show_step(event.row_key.value)

    def _show_step(self, key: str | None) -> None:
        detail = self.query_one("#step-detail", Static)
        detail.update(self.step_text(key) if self.scan is not None and key is not None else "")
        self.query_one("#step-detail-scroll").scroll_home(animate=False)

    def step_text(self, key: str, limit: int = SHOWN_FINDINGS) -> Text:
        """A step of the checklist: what to do, what shows it done, and the files
        and lines still using Auth.js (file names from the app: Text, never markup)."""
        findings = self.scan.by_step().get(key, [])
        item = next((i for i in self.scan.checklist if i.key == key), None)
        text = Text()
        if item is not None:
            text.append(item.title, style="bold")
            if item.detail:
                text.append("\n  ")
                text.append(item.detail)
            for line in item.evidence:
                text.append("\n  ✓ ")
                text.append(line)
        for f in findings[:limit]:
            text.append("\n  ")
            text.append(f"{f.file}:{f.line}", style="bold")
            text.append(f"  {f.authjs} → {f.clerk}")
        if len(findings) > limit:
            text.append(f"\n  … and {len(findings) - limit:,} more (clerk-migrate scan-app PATH lists them all)")
        return text

    @on(DataTable.RowSelected, "#checklist")
    def _step_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a step: the whole of it in a modal."""
        from console.tui.screens.modals import WholeRowModal, table_row_fields

        event.stop()
        table = self.query_one("#checklist", DataTable)
        key = event.row_key.value
        fields = table_row_fields(table, event.row_key)
        more = self.step_text(key) if self.scan is not None and key is not None else None  # type: ignore[arg-type]
        self.app.push_screen(WholeRowModal("A step of the guide", fields, more))

    @on(Input.Submitted, "#app-path")
    @on(Button.Pressed, "#scan")
    def _scan_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.start_scan()
