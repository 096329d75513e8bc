"""One line under a live panel: who holds the run (the worker's pid, since when) and
who controls the job (you, nobody, or another console since when, and `t` to take
over), then the last word about control. Rendered from `ConsoleState.job` only."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


class JobLine(Static):
    DEFAULT_CSS = """
    JobLine { height: auto; color: $text-muted; }
    """

    def show(self, job: Any) -> None:
        if job is None or not job.active:
            self.display = False
            return
        self.display = True
        text = Text()
        if job.phase == "preparing":
            text.append("This console checks the run before starting its worker" +
                        (f": {job.preparing_rows:,} rows written to the journal" if job.preparing_rows else "") + "…")
        elif job.phase == "starting":
            text.append(f"Starting the {job.kind} in a worker of its own (it outlives this console)…")
        else:
            text.append(job.holder_words())
        if job.note:
            text.append("\n")
            text.append(job.note, style="italic")
        self.update(text)


__all__ = ["JobLine"]
