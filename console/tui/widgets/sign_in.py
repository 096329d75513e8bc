"""Verify's "Sign in as…" (issue 13 §5): Clerk checks a user's password.

The modal takes an email and a password (a masked field), then asks the engine's
`sign_in` (console/migration/signin.py: the user found through the run's journal,
`POST /v1/users/{id}/verify_password`) in a thread. The password is taken out of
the field the moment the check starts (the field is emptied), held only in a
`Password`, and never logged, journaled, shown or put in a message. The answer
says what to check when Clerk does not accept it: the hasher, the digest format,
the plaintext policy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.tui.widgets.scroll_area import ScrollArea


class SignInAnswered(Message):
    def __init__(self, result: Any = None, refused: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.refused = refused


class SignInModal(ModalScreen[None]):
    """Email + masked password -> verified or not, and what to check."""

    BINDINGS = [Binding("escape", "dismiss", "Close")]
    DEFAULT_CSS = """
    SignInModal .dialog { width: 76; max-width: 95%; height: auto; }
    SignInModal #sign-in-title { text-style: bold; }
    SignInModal #password-row { margin-top: 0; }
    SignInModal .dialog-buttons Button { margin-left: 2; }
    SignInModal .field-row { height: 1; margin-top: 1; }
    SignInModal .field-row Label { width: 10; }
    SignInModal .field-row Input { width: 1fr; }
    SignInModal #sign-in-answer { height: auto; margin-top: 1; }
    SignInModal #sign-in-advice { height: auto; max-height: 4; color: $text-muted; }
    """

    def __init__(self, run_dir: Path, settings: Any, email: str = "") -> None:
        super().__init__(classes="modal")
        self.run_dir = run_dir
        self.settings = settings
        self._email = email
        self.checking = False
        self.result: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Sign in as a user of this run", id="sign-in-title")
            yield Static(Text("Clerk checks the password as a sign-in would. Nothing is written; the password "
                              "is not kept.", style="dim"))
            with Horizontal(classes="field-row row"):
                yield Label("Email")
                yield Input(self._email, placeholder="a user this run created", id="sign-in-email", compact=True)
            with Horizontal(classes="field-row row", id="password-row"):
                yield Label("Password")
                yield Input(placeholder="their password", password=True, id="sign-in-password", compact=True)
            yield Static("", id="sign-in-answer")
            with ScrollArea(id="sign-in-advice"):
                yield Static("", id="sign-in-advice-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Sign in", variant="primary", id="sign-in-check", compact=True)
                yield Button("Close", id="sign-in-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#sign-in-password" if self._email else "#sign-in-email").focus()

    @on(Input.Submitted, "#sign-in-email")
    def _email_given(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#sign-in-password").focus()

    @on(Input.Submitted, "#sign-in-password")
    @on(Button.Pressed, "#sign-in-check")
    def _check(self, event: Message) -> None:
        event.stop()
        if self.checking:
            return
        from console.migration.signin import Password

        email = self.query_one("#sign-in-email", Input).value.strip()
        box = self.query_one("#sign-in-password", Input)
        password = Password(box.value)
        box.value = ""  # out of the field at once: the check holds it, nothing else
        if not email or not password:
            self._answer(Text("Give the user's email and password.", style="bold"))
            return
        self.checking = True
        self._answer(Text(f"Asking Clerk about {email}…", style="dim"))
        self.run_worker(lambda: self._ask(email, password), thread=True, group="sign-in", exit_on_error=False)

    def _ask(self, email: str, password: Any) -> None:
        from console.migration.errors import as_migration_error
        from console.migration.run import open_run
        from console.migration.signin import sign_in

        try:
            journal = open_run(self.run_dir)
            try:
                result = asyncio.run(sign_in(journal, self.settings, email, password))
            finally:
                journal.close()
        except Exception as exc:  # noqa: BLE001 - one line, never the password (sign_in never holds it in one)
            known = as_migration_error(exc)
            self.post_message(SignInAnswered(refused=known.message if known else f"internal error: {type(exc).__name__}"))
            return
        finally:
            del password
        self.post_message(SignInAnswered(result))

    def on_sign_in_answered(self, message: SignInAnswered) -> None:
        message.stop()
        self.checking = False
        self.result = message.result
        advice = self.query_one("#sign-in-advice-text", Static)
        if message.refused:
            self._answer(Text.assemble(("✗ ", "bold red"), message.refused))
            advice.update("")
            return
        r = message.result
        if r.verified:
            self._answer(Text.assemble(("✓ Verified: ", "bold green"),
                                       f"Clerk accepts this password for {r.email} (row {r.row_no})."))
            advice.update("")
        else:
            why = "Clerk holds no password for this user" if r.reason == "no_password" else \
                "Clerk does not accept this password"
            self._answer(Text.assemble(("✗ Not verified: ", "bold red"), f"{why} (row {r.row_no})."))
            advice.update(Text("\n".join(f"· {line}" for line in r.advice)))
        self.query_one("#sign-in-password").focus()

    def _answer(self, text: Text) -> None:
        self.query_one("#sign-in-answer", Static).update(text)

    @on(Button.Pressed, "#sign-in-close")
    def _close(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()
