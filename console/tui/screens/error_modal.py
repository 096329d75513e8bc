"""A worker's error, explained in one modal: what happened and what to do. The
app's one error handler (ConsoleApp.on_worker_state_changed) sends every error
of every worker here; the engine's own words come first (a MigrationError, as
`console.migration.errors.explain` gives it), a bug says it is one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

MIGRATION_WORDS: dict[str, tuple[str, str]] = {
    "busy": ("The run is busy", "Another clerk-migrate session works on this run: wait for it, watch it with "
             "clerk-migrate status --run DIR, or stop it (clerk-migrate stop --run DIR)."),
    "export_changed": ("The export changed", "A run keeps the export it started from: put that file back, or "
                       "start a new run folder for the new export."),
    "export_missing": ("The export is gone", "Put the run's export back where its journal says (Load shows the path)."),
    "export_unreadable": ("The export cannot be read", "Fix the file or choose another one in Load."),
    "unauthorized": ("The key was refused", "Clerk answered 401 for this key. Paste the right secret key in Setup."),
    "quota": ("The instance is full", "A Development instance holds 100 users: import fewer, or into Production."),
    "dev_instance_cap": ("Over the Development cap", "Import a subset, or use a Production instance."),
    "clerk_error": ("Clerk answered with an error", "Nothing more was sent. Check the key and the instance in Setup."),
    "worker_failed": ("The worker did not start", "Its log (worker.log in the run folder) says why; fix it and "
                      "start again."),
    "not_running": ("Nothing runs on this run", "The job ended meanwhile: what it did is in the journal."),
    "io_error": ("The file system refused", "Check the path, the permissions and the free space, then try again."),
}


def explain(error: BaseException, *, base_url: str = "") -> tuple[str, str, str]:
    """(title, what happened, what to do) for an error a worker raised.
    The texts never include the secret key: Clerk errors and settings errors
    are built without it, and nothing else here sees it."""
    from console.clerk.errors import AuthenticationError, ClerkError, UnknownOutcome
    from console.settings import KeyringUnavailable

    from console.migration.errors import MigrationError

    name = type(error).__name__
    text = str(error) or name
    if isinstance(error, MigrationError):  # the engine's words (as_migration_error mapped the rest)
        title, todo = MIGRATION_WORDS.get(error.code, ("Refused", "Nothing was sent. Fix what the line says, "
                                                       "then try again."))
        return (title, error.message, todo)
    if isinstance(error, AuthenticationError):
        return ("The key was refused", text, "Clerk answered 401 for this key. Paste the right secret key in Setup.")
    if isinstance(error, UnknownOutcome):
        return (
            "Clerk could not be reached",
            text,
            f"Check the network and the base URL ({base_url or 'CLERK_API_URL'}), then run the live check again (Setup, c).",
        )
    if isinstance(error, ClerkError):
        return ("Clerk answered with an error", text, "Nothing was written. Check the key and the instance in Setup.")
    if isinstance(error, KeyringUnavailable):
        return ("No keyring", text, "Use CLERK_SECRET_KEY or a .env file instead, or install a keyring backend.")
    if isinstance(error, PermissionError):
        return ("Permission denied", text, "Choose a path you can read (or write), or fix its permissions.")
    if isinstance(error, OSError):
        return ("The file system refused", text, "Check the path and the free space, then try again.")
    if type(error).__name__ == "ExportError":
        return ("The export cannot be read", text, "Fix the file or choose another one in Load.")
    return (
        "Something went wrong",
        f"{name}: {text}",
        "This is a bug in clerk-migrate; nothing was written to Clerk. Go back and retry the step; "
        "run with CLERK_MIGRATE_DEBUG=1 to keep the traceback.",
    )


class ErrorModal(ModalScreen[None]):
    """A worker's error: what happened and what to do. Never a crash."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, what: str, todo: str) -> None:
        super().__init__(classes="modal")
        self._title, self._what, self._todo = title, what, todo

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog"):
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(Text(self._what), classes="dialog-body")
            yield Static(Text("What to do: " + self._todo), classes="dialog-todo")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()


__all__ = ["ErrorModal", "MIGRATION_WORDS", "explain"]
