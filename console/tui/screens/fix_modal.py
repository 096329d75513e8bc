"""One failed row: what was sent (secrets masked), what Clerk answered, and a
fix of its fields (saved with `journal.set_fix`, then retried if asked).

The body is the engine's (`feed.sent_body`: the export row with the row's fix, as
the importer sends it), read in a thread: the export is read up to the row.

A row whose email another Clerk user holds (`form_identifier_exists` on the email)
may be linked to that user instead (ctrl+l, or the button): the modal closes with a
`LinkAsk`, and the Failures pane shows the link's plan (link_modal.py) before anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.migration.journal import RowRecord
from console.migration.feed import sent_body
from console.tui.screens.link_modal import can_link
from console.tui.widgets.scroll_area import ScrollArea

# The fields the operator may fix here, in the journal's words (FIXABLE_FIELDS),
# with the create body's key that shows what was sent.
FIX_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("email", "email", "email_address"),
    ("first_name", "first name", "first_name"),
    ("last_name", "last name", "last_name"),
    ("username", "username", "username"),
)


@dataclass(frozen=True)
class FixRequest:
    run_dir: Path
    row_no: int
    fields: dict[str, Any] | None  # None clears the fix
    retry: bool


@dataclass(frozen=True)
class LinkAsk:
    """Link the row to the Clerk user holding its email: the pane shows the plan first."""

    run_dir: Path
    row_no: int


class RowFixModal(ModalScreen["FixRequest | LinkAsk | None"]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+r", "save(True)", "Save and retry"),
        Binding("ctrl+s", "save(False)", "Save fix"),
        Binding("ctrl+l", "link", "Link to that user"),
    ]

    DEFAULT_CSS = """
    RowFixModal .fix-dialog { width: 90%; max-width: 110; height: 90%; max-height: 30; padding: 0 1; }
    RowFixModal .dialog-title { margin: 0; }
    RowFixModal #fix-body { height: 1fr; }
    RowFixModal .fix-section { text-style: bold; color: $text-primary; margin-top: 1; }
    RowFixModal #fix-answer { color: $text-error; }
    RowFixModal .dialog-buttons { margin-top: 0; }
    RowFixModal .fix-row { height: 1; }
    RowFixModal .fix-label { width: 12; color: $text-muted; }
    RowFixModal .fix-row Input { width: 1fr; }
    RowFixModal #fix-error { color: $text-error; height: auto; }
    RowFixModal .dialog-buttons Button { margin-left: 1; min-width: 8; }
    """

    def __init__(self, run_dir: Path, record: RowRecord, *, editable: bool = True) -> None:
        super().__init__(classes="modal")
        self.run_dir = run_dir
        self.record = record
        self.editable = editable and record.status in ("failed", "pending")
        self.linkable = editable and can_link(record)

    def compose(self) -> ComposeResult:
        rec = self.record
        with Vertical(classes="dialog fix-dialog"):
            title = Text(f"Row {rec.row_no} · {rec.status} after {rec.attempts} attempt(s)")
            yield Label(title, classes="dialog-title")
            with ScrollArea(id="fix-body"):
                who = Text("external id ", style="dim")
                who.append(rec.external_id or "—", style="bold")
                who.append("  email ", style="dim")
                who.append(rec.email or "—", style="bold")
                yield Static(who, id="fix-who")
                yield Static(self._answer(), id="fix-answer")
                if self.linkable:
                    hint = Text("Or link the row to the Clerk user holding this email: ", style="dim")
                    hint.append("ctrl+l", style="bold")
                    hint.append(" (what will happen is shown first).", style="dim")
                    yield Static(hint, id="fix-link-hint")
                yield Label("Fix (blank: as exported)" if self.editable else "Fix", classes="fix-section")
                for name, words, _ in FIX_FIELDS:
                    with Horizontal(classes="fix-row"):
                        yield Label(words, classes="fix-label")
                        yield Input(
                            str((rec.fix or {}).get(name) or ""),
                            id=f"fix-{name}",
                            compact=True,
                            disabled=not self.editable,
                        )
                yield Static("", id="fix-error")
                yield Label("What was sent (passwords and digests are not shown)", classes="fix-section")
                yield Static(Text("Reading the row from the export…", style="italic"), id="fix-sent")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save + retry", variant="primary", id="save-retry", disabled=not self.editable, compact=True)
                yield Button("Save", id="save", disabled=not self.editable, compact=True)
                yield Button("Clear", id="clear", disabled=not (self.editable and rec.fix), compact=True)
                if self.linkable:
                    yield Button("Link to user", id="link", compact=True)
                yield Button("Close", id="close", compact=True)

    def _answer(self) -> Text:
        rec = self.record
        text = Text("Clerk answered ", style="bold")
        if rec.error_code:
            text.append(rec.error_code, style="bold")
            if rec.error_param:
                text.append(f"  (param {rec.error_param})")
            text.append("\n")
        text.append(rec.error_message or ("—" if rec.status == "failed" else f"nothing: the row is {rec.status}"))
        return text

    def on_mount(self) -> None:
        self.query_one("#fix-error").display = False
        self._read_body()
        if self.editable:
            self.query_one("#fix-email", Input).focus()
        else:
            self.query_one("#close", Button).focus()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _read_body(self) -> None:
        try:
            body = sent_body(self.run_dir, self.record.row_no)
            shown = _body_text(body) if body is not None else Text("The export no longer has this row.", style="italic")
        except Exception as exc:  # an unreadable export: say so here, the row is still fixable
            shown = Text(f"Cannot read the export: {exc}", style="italic")
            body = None
        self.app.call_from_thread(self._show_body, shown, body)

    def _show_body(self, shown: Text, body: dict[str, Any] | None) -> None:
        self.query_one("#fix-sent", Static).update(shown)
        if body is None:
            return
        for name, _, key in FIX_FIELDS:
            value = body.get(key)
            if isinstance(value, list):
                value = value[0] if value else None
            box = self.query_one(f"#fix-{name}", Input)
            box.placeholder = str(value) if value else "(none)"

    # -- actions ------------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "link":
            return self.linkable
        return True

    def action_link(self) -> None:
        if self.linkable:
            self.dismiss(LinkAsk(self.run_dir, self.record.row_no))

    def action_save(self, retry: bool) -> None:
        if not self.editable:
            return
        fields: dict[str, Any] = {}
        for name, _, _ in FIX_FIELDS:
            value = self.query_one(f"#fix-{name}", Input).value.strip()
            if value:
                fields[name] = value
        email = fields.get("email")
        if email is not None:
            from console.source import email_is_valid

            if not email_is_valid(email):
                error = self.query_one("#fix-error", Static)
                error.update(Text(f"{email} is not an email address Clerk accepts."))
                error.display = True
                self.query_one("#fix-email", Input).focus()
                return
        self.dismiss(FixRequest(self.run_dir, self.record.row_no, fields or None, retry))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save(True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save-retry":
            self.action_save(True)
        elif event.button.id == "save":
            self.action_save(False)
        elif event.button.id == "link":
            self.action_link()
        elif event.button.id == "clear":
            self.dismiss(FixRequest(self.run_dir, self.record.row_no, None, False))
        else:
            self.dismiss(None)


def _body_text(body: dict[str, Any]) -> Text:
    """`key: value` lines; values from the export as plain Text (never markup)."""
    text = Text()
    for n, (key, value) in enumerate(body.items()):
        if n:
            text.append("\n")
        text.append(f"{key}: ", style="bold")
        text.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return text
