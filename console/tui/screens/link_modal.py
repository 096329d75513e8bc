"""Link a failed row to the Clerk user that holds its email (issue 15 item 17).

A row failed `form_identifier_exists` on its email: a Clerk user made outside the run
(an early sign-up, another tool) holds the address. Instead of another address, the
operator may link the row to that user: the user gets the row's id as its external_id
(PATCH /v1/users/{id}) and the row is journaled `existed` with that user's id.

This modal shows the plan first, read only (`link.plan_links` for the one row, in a
thread: who holds the email now, its external_id, what a link would do or why it is
refused), and returns True when the operator confirms. The Failures pane then starts
the `link` job in a worker (`StartJob("link", {"row_nos": [row]})`), which plans again
and refuses a user given another external_id meanwhile: the console itself never writes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.migration.journal import RowRecord
from console.tui.widgets.scroll_area import ScrollArea

LINK_CODE = "form_identifier_exists"


def can_link(rec: RowRecord | None) -> bool:
    """A failed row whose email another Clerk user holds (the engine's default candidates)."""
    return (rec is not None and rec.status == "failed" and rec.error_code == LINK_CODE
            and rec.error_param == "email_address" and bool(rec.email))


def read_link_item(run_dir: Path, settings: Any, row_no: int) -> Any:
    """The link plan of one row (reads only: one GET /v1/users by email). Runs in a thread."""
    from console.migration.journal import RunJournal
    from console.migration.link import plan_links

    with RunJournal.open(run_dir, readonly=True) as journal:
        plan = asyncio.run(plan_links(journal, settings, row_nos=[row_no], timeout=15.0))
    return plan.items[0] if plan.items else None


def plan_text(item: Any) -> tuple[Content, bool]:
    """What the plan says, and whether the link may go ahead. Values are plain text (never markup)."""
    if item is None:
        return Content.assemble(("The journal no longer has this row: nothing to link.", "bold")), False
    parts: list[Any] = []
    if item.clerk_user_id:
        parts += [("Clerk user ", "dim"), (item.clerk_user_id, "bold"), (" holds ", "dim"), (item.email or "—", "bold"),
                  ("\nits external_id now: ", "dim"), (item.current_external_id or "none", "bold"), "\n\n"]
    if item.action == "link":
        parts += [
            ("What will happen\n", "bold"),
            f"· Clerk user {item.clerk_user_id} gets the external_id ", (repr(item.external_id), "bold"),
            f" (PATCH /v1/users/{item.clerk_user_id}); it is read again first, and refused if it got another "
            "meanwhile;\n",
            f"· row {item.row} becomes existed with that user's id (the id map, verify and the session claim then "
            "count it);\n",
            "· nothing is created, and undo leaves that user alone (this run did not make it).",
        ]
        return Content.assemble(*parts), True
    if item.action == "already":
        parts += [("What will happen\n", "bold"),
                  f"That user holds this row's id already: row {item.row} becomes existed with its id, without a "
                  "request to change it."]
        return Content.assemble(*parts), True
    parts += [("Not linked: ", "bold $text-error"), item.reason or item.action]
    return Content.assemble(*parts), False


class LinkModal(ModalScreen[bool]):
    """The plan for one row; True when the operator confirms the link."""

    BINDINGS = [
        Binding("escape", "close", "Cancel"),
        Binding("ctrl+l", "link", "Link"),
    ]

    DEFAULT_CSS = """
    LinkModal .link-dialog { width: 90%; max-width: 100; height: auto; max-height: 90%; padding: 0 1; }
    LinkModal .dialog-title { margin: 0; }
    LinkModal #link-body { height: auto; max-height: 16; }
    LinkModal #link-who { margin-bottom: 1; }
    LinkModal .dialog-buttons { margin-top: 1; }
    LinkModal .dialog-buttons Button { margin-left: 1; min-width: 8; }
    """

    def __init__(self, run_dir: Path, record: RowRecord, settings: Any) -> None:
        super().__init__(classes="modal")
        self.run_dir = run_dir
        self.record = record
        self.settings = settings
        self.item: Any = None
        self.allowed = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        rec = self.record
        with Vertical(classes="dialog link-dialog"):
            yield Label(Text(f"Link row {rec.row_no} to the Clerk user holding its email"), classes="dialog-title")
            with ScrollArea(id="link-body"):
                who = Text("external id ", style="dim")
                who.append(rec.external_id or "—", style="bold")
                who.append("  email ", style="dim")
                who.append(rec.email or "—", style="bold")
                yield Static(who, id="link-who")
                yield Static(Text(f"Asking Clerk who holds {rec.email} (nothing is changed yet)…", style="italic"),
                             id="link-plan")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Link (ctrl+l)", variant="primary", id="link", disabled=True, compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self._read_plan()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _read_plan(self) -> None:
        from console.migration.errors import first_line

        try:
            item = read_link_item(self.run_dir, self.settings, self.record.row_no)
        except Exception as exc:  # noqa: BLE001 - the key, the instance, Clerk's answer: one line here
            self.app.call_from_thread(self._show_error, first_line(exc))
            return
        self.app.call_from_thread(self._show_plan, item)

    def _show_plan(self, item: Any) -> None:
        self.item = item
        text, self.allowed = plan_text(item)
        self.query_one("#link-plan", Static).update(text)
        button = self.query_one("#link", Button)
        button.disabled = not self.allowed
        if self.allowed:
            button.focus()
        self.refresh_bindings()

    def _show_error(self, words: str) -> None:
        self.error = words
        self.query_one("#link-plan", Static).update(
            Content.assemble(("Cannot read the plan: ", "bold $text-error"), words))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "link":
            return True if self.allowed else None
        return True

    def action_close(self) -> None:
        self.dismiss(False)

    def action_link(self) -> None:
        if self.allowed:
            self.dismiss(True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "link":
            self.action_link()
        else:
            self.dismiss(False)


__all__ = ["LINK_CODE", "LinkModal", "can_link", "plan_text", "read_link_item"]
