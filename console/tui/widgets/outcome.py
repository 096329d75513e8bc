"""The one-line outcome under a form: what the engine did, or why it did not."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def show_outcome(box: Static, words: Content | None, error: str | None = None) -> None:
    """Show `words` (or `✗ error`) in `box`; hide the box when there is nothing to say."""
    if error is not None:
        words = Content.assemble(("✗ ", "$text-error bold"), error)
    box.update(words or "")
    box.display = bool(words)
