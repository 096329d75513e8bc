"""Quitting while something runs (issue 15 item 8): say what happens to the job and
how to come back, and offer to stop it instead.

- A job in its worker keeps running without the console: "Quit, keep running"
  (the default: ctrl+q twice), "Stop, then quit" (a safe stop), "Stay" (escape).
- A new run's journal still being written by this console (before any worker):
  quitting stops that; nothing was sent.
- The demo: its sandbox lives in this process, and its temporary area (the run's
  journal, the id map and the SQL) is removed when it closes unless `--keep`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.tui.jobs import clock_time, controller_words


def quit_words(job: Any, run_dir: Path | None, *, demo: bool, keep_area: bool) -> tuple[str, Text, list[tuple[str, str]]]:
    """(title, body, [(answer, button words)…]): the first answer is the default."""
    folder = str(run_dir) if run_dir is not None else "DIR"
    body = Text()
    if demo:
        title = "Quit the demo?"
        if job is not None and job.active:
            body.append(f"The {job.kind} is running. ", style="bold")
            body.append("This is the demo: the sandbox it writes to lives in this console, so quitting stops "
                        "it safely first (the requests in flight finish; the journal stays consistent).\n")
        area = run_dir.parent if run_dir is not None else None
        if keep_area:
            body.append(f"The demo's temporary area stays (started with --keep): {area or folder}.\n")
        else:
            body.append("Quitting removes the demo's temporary area, ", style="bold")
            body.append("the run's journal, the id map and the SQL included", style="bold")
            body.append(f" ({area or folder}); start the demo with --keep to keep it.\n")
        body.append("A real run (clerk-migrate, not the demo) keeps running in its worker when you quit, "
                    "and after a dropped connection.", style="dim")
        stop = "Stop it, then quit" if job is not None and job.active else "Quit"
        return title, body, [("stop", stop), ("stay", "Stay")]
    if job.phase == "preparing":
        body.append("This console is still preparing the run", style="bold")
        rows = f" ({job.preparing_rows:,} rows written to the journal)" if job.preparing_rows else ""
        body.append(f"{rows}: nothing has been sent yet and no worker runs. Quitting stops that; "
                    "a half-made run folder is removed.")
        return "Quit while the run is prepared?", body, [("stop", "Stop it, then quit"), ("stay", "Stay")]
    title = f"The {job.kind} keeps running"
    body.append(f"The {job.kind} runs in its own process", style="bold")
    pid = f" (worker pid {job.pid}" + (f", since {clock_time(job.started_at)}" if job.started_at else "") + ")"
    body.append(f"{pid if job.pid else ''} and does not need this console: quitting leaves it running, "
                "as a dropped connection does.\n")
    body.append("Come back to it:  ", style="dim")
    body.append(f"clerk-migrate --run {folder}\n", style="bold")
    body.append("Follow it:        ", style="dim")
    body.append(f"clerk-migrate status --run {folder}\n", style="bold")
    body.append("Stop it later:    ", style="dim")
    body.append(f"clerk-migrate stop --run {folder}", style="bold")
    c = job.controller
    if c is not None and not job.has_control:
        body.append(f"\n{controller_words(c)} controls it since {clock_time(c.since)}: stopping it from here takes "
                    "control.", style="italic")
    return title, body, [("keep", "Quit, keep running"), ("stop", "Stop, then quit"), ("stay", "Stay")]


class QuitModal(ModalScreen[str | None]):
    """The answer: "keep" (quit, the job runs on), "stop" (stop it safely, then quit) or None (stay)."""

    BINDINGS = [Binding("escape", "stay", "Stay")]

    DEFAULT_CSS = """
    QuitModal .quit-dialog { width: 90%; max-width: 84; height: auto; max-height: 22; }
    QuitModal .dialog-buttons Button { margin-left: 1; }
    """

    def __init__(self, job: Any, run_dir: Path | None, *, demo: bool = False, keep_area: bool = False) -> None:
        super().__init__(classes="modal")
        self._title, self.body, self.answers = quit_words(job, run_dir, demo=demo, keep_area=keep_area)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog quit-dialog"):
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(self.body, classes="dialog-body", id="quit-body")
            with Horizontal(classes="dialog-buttons"):
                for answer, words in self.answers:
                    variant = "warning" if answer == "stop" else "primary" if answer == "keep" else "default"
                    yield Button(words, id=f"quit-{answer}", variant=variant, compact=True)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.query_one(f"#quit-{self.answers[0][0]}").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        answer = (event.button.id or "").removeprefix("quit-")
        self.dismiss(None if answer == "stay" else answer)

    def choose_default(self) -> None:
        """ctrl+q in the question: its first answer."""
        answer = self.answers[0][0]
        self.dismiss(None if answer == "stay" else answer)

    def action_stay(self) -> None:
        self.dismiss(None)


__all__ = ["QuitModal", "quit_words"]
