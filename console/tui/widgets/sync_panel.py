"""Sync's live panel: the engine's `SyncProgress` snapshots (the sync job's, through
the worker) as a bar and three lines of figures, and the last errors. Nothing is
computed here but the sum the bar needs (done = settled rows, total = done + left)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import ProgressBar, Static

from console.tui.runview import duration

NBSP = "\u00a0"
PHASE_WORDS = {
    "starting": "starting", "planning": "reading the new export", "adopting": "the journal takes the new export",
    "removing": "removed users", "updating": "changed users", "creating": "new users", "done": "done",
    "stopped": "stopped",
}


def settled(p: Any) -> int:
    return p.created + p.existed + p.updated + p.removed_done + p.failed


class SyncPanel(Vertical):
    DEFAULT_CSS = """
    SyncPanel { height: auto; margin-top: 1; }
    SyncPanel #sync-bar Bar { width: 1fr; }
    SyncPanel #sync-errors { color: $text-error; height: auto; max-height: 4; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="sync-phase")
        yield ProgressBar(total=None, show_eta=False, id="sync-bar")
        yield Static("", id="sync-figures")
        yield Static("", id="sync-errors")

    def show(self, progress: Any, state: str | None = None) -> None:
        p = progress
        if p is None:
            self.query_one("#sync-phase", Static).update(Content("Starting the sync…").stylize("$text-muted"))
            self.query_one("#sync-figures", Static).update("")
            self.query_one("#sync-errors", Static).update("")
            return
        word = state or p.state
        phase = PHASE_WORDS.get(p.phase, p.phase)
        self.query_one("#sync-phase", Static).update(Content.assemble(
            (f"Sync #{p.sync_id}" if p.sync_id else "Sync", "bold"), " · ",
            *([phase, " · "] if phase != word else []),
            (word, "$text-warning bold" if word in ("paused", "stopping") else "$text-success bold"),
            (f" · waiting {p.paused_for_s:.0f} s (Retry-After)" if p.paused_for_s > 0.5 else "", "$text-warning"),
        ))
        bar = self.query_one("#sync-bar", ProgressBar)
        if p.phase == "planning" and p.size_bytes:
            bar.update(total=p.size_bytes, progress=p.bytes_read)
        else:
            done = settled(p)
            bar.update(total=max(1, done + p.left), progress=done)
        def fig(label: str, value: str, style: str = "") -> list[tuple[str, str]]:
            """One figure whose words never part at a line's end (no-break spaces)."""
            return [(label.replace(" ", NBSP), "$text-muted"), (value.replace(" ", NBSP), style)]

        lines = [
            [fig("created ", f"{p.created + p.existed:,} of {p.planned_new:,}"),
             fig("updated ", f"{p.updated:,} of {p.planned_changed:,}"),
             fig("removed ", f"{p.removed_done:,} of {p.planned_removed:,}"),
             fig("failed ", f"{p.failed:,}", "$text-error bold" if p.failed else ""),
             fig("left ", f"{p.left:,}")],
            [fig("requests ", f"{p.requests:,}"), fig("429s ", f"{p.rate_limited:,}"), fig("pace ", f"{p.pace:.0f}/s"),
             fig("in flight ", f"{p.in_flight}")],
            [fig("elapsed ", duration(p.elapsed_s)),
             fig("ETA ", duration(p.eta_s) if p.eta_s is not None else "—")],
        ]
        parts: list[tuple[str, str]] = []
        for n, line in enumerate(lines):
            if n:
                parts.append(("\n", ""))
            for k, figure in enumerate(line):
                if k:
                    parts.append(("  ", ""))
                parts += figure
        self.query_one("#sync-figures", Static).update(Content.assemble(*parts))
        errors = Text()
        for n, line in enumerate(p.last_errors[-3:]):
            if n:
                errors.append("\n")
            errors.append(line)
        self.query_one("#sync-errors", Static).update(errors)
