"""What every step pane has: its step id, a title, and `sync(state)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical
from textual.widget import Widget

from console.tui.state import ConsoleState, StepId

if TYPE_CHECKING:
    from console.tui.app import ConsoleApp


class StepPane(Vertical):
    """One step of the console, shown in the app's ContentSwitcher.

    A pane renders `ConsoleState` in `sync` (called after every state change)
    and asks the app (`self.console`) to do things; it never changes the state
    behind the app's back and holds no rule of the migration.
    """

    step: ClassVar[StepId]
    # widgets (selectors) that Tab reaches after the pane's other fields and tables
    FOCUS_LAST: ClassVar[tuple[str, ...]] = ()
    DEFAULT_CSS = """
    StepPane { height: 1fr; width: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(id=f"pane-{self.step}", classes="step-pane")

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    @property
    def state(self) -> ConsoleState:
        return self.console.state

    def sync(self, state: ConsoleState) -> None:
        """Render the state. Cheap: called often."""

    def on_enter(self) -> None:
        """The operator opened this step: focus where work starts."""
        for widget in self.query("*"):
            if widget.focusable and widget.display and widget.visible:
                self.screen.set_focus(widget)  # now, not after the next key
                return
        self.screen.set_focus(self.app.query_one("#rail"))  # nothing to work on here: the rail keeps the keys live

    def order_focus(self, widgets: list[Widget]) -> list[Widget]:
        """The Tab order of this pane's focusable widgets (the rail comes after)."""
        from console.tui.screens.main import order_focus

        return order_focus(self, widgets, self.FOCUS_LAST)

    def main_widget(self) -> Widget | None:
        """Where the focus goes when Escape leaves a field: by default the first
        widget of the Tab order that is not a field."""
        from console.tui.screens.main import FIELDS

        chain = [w for w in self.screen.focus_chain if self in w.ancestors]
        return next((w for w in chain if not isinstance(w, FIELDS)), None)

    def leave_forward(self) -> None:
        """The operator moves on to the next step from here."""
