"""The step rail: where the operator is, what is done, what is blocked and why."""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from console.tui.state import STEP_ORDER, STEP_TITLES, ConsoleState, StepId

MARKS = {"done": "✓", "open": "•", "blocked": "✗"}


class StepRail(OptionList):
    """One option per step: mark, number, title, and a dim second line (the
    reason it is blocked, or what is left). Enter opens the highlighted step."""

    DEFAULT_CSS = """
    StepRail {
        width: 24;
        height: 1fr;
        border: none;
        border-right: vkey $panel-lighten-1;
        padding: 0;
        background: $surface;
    }
    StepRail:focus { border: none; border-right: vkey $primary; }
    """

    BINDINGS = [
        Binding("enter", "select", "Open step", show=True),
    ]

    class StepChosen(Message):
        def __init__(self, step: StepId) -> None:
            super().__init__()
            self.step = step

    def __init__(self, **kwargs) -> None:
        super().__init__(*[Option(STEP_TITLES[s], id=s) for s in STEP_ORDER], **kwargs)

    def sync(self, state: ConsoleState) -> None:
        statuses = state.statuses()
        for number, step in enumerate(STEP_ORDER, start=1):
            status = statuses[step]
            current = step == state.current
            mark = "▶" if current else MARKS[status.mark]
            mark_style = {"done": "$text-success", "blocked": "$text-error", "open": "$text-muted"}[status.mark]
            parts: list[tuple[str, str] | str] = [
                (f"{mark} ", "bold" if current else mark_style),
                (f"{number} {STEP_TITLES[step]}", "bold" if current else ""),
            ]
            if status.reason:
                parts.append((f"\n    {status.reason}", "$text-muted italic"))
            prompt = Content.assemble(*parts)
            self.replace_option_prompt(step, prompt)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.StepChosen(event.option.id))  # type: ignore[arg-type]
