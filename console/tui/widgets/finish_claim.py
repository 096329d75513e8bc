"""Finish › Keep old ids: the session-token claim that keeps the Auth.js ids, and
how the app reads it (the engine's `session_claim_snippet`)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from console.tui.widgets.scroll_area import ScrollArea


class SessionClaim(ScrollArea):
    """Our own text, scrollable (focus it and use the arrow keys)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="claim")

    def on_mount(self) -> None:
        from console.migration.outputs import session_claim_snippet

        self.query_one("#claim", Static).update(claim_text(session_claim_snippet()))


def claim_text(claim: Any) -> Text:
    """The session-claim option, from the engine's snippet (our own text; still Text)."""
    text = Text()
    text.append("Keep the Auth.js ids instead of rewriting the foreign keys\n", style="bold")
    text.append("Add this claim to the session token (")
    text.append(claim.where)
    text.append("):\n\n")
    text.append("  " + claim.claim_json + "\n\n", style="bold")
    text.append("Read it in the app, App Router:\n", style="bold")
    for line in claim.read_app_router.splitlines():
        text.append("  " + line + "\n")
    text.append("\nPages Router:\n", style="bold")
    for line in claim.read_pages_router.splitlines():
        text.append("  " + line + "\n")
    for note in claim.notes:
        text.append("\n" + note + "\n", style="dim")
    return text
