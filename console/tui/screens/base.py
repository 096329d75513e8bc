"""What every step pane has: its step id, a title, and `sync(state)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical
from textual.timer import Timer
from textual.widget import Widget

from console.tui.state import ConsoleState, StepId

if TYPE_CHECKING:
    from console.tui.app import ConsoleApp


KEYS_SETTLE_S = 0.25  # refresh_keys_soon: the footer follows once the row has stayed this long


class StepPane(Vertical):
    """One step of the console, shown in the app's ContentSwitcher.

    A pane renders `ConsoleState` in `sync` (called after every state change)
    and asks the app (`self.console`) to do things; it never changes the state
    behind the app's back and holds no rule of the migration.
    """

    step: ClassVar[StepId]
    _footer_keys: tuple | None = None  # what check_action said of the pane's keys at the last footer refresh
    _keys_timer: Timer | None = None
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

    def refresh_keys(self) -> None:
        """refresh_bindings, only when it shows: this pane is the step on screen and one of its
        keys turned on, off or hidden (what check_action says of it changed). Each refresh
        recomposes the footer, some 20 ms a key group at 120 columns: after a 1M-row load the
        hidden panes' unconditional refreshes held a Failures page key ~150 ms (issue 17)."""
        if not self.is_mounted or self.state.current != self.step:
            self._footer_keys = None  # the step shown again: its footer is asked for again then
            return
        keys = tuple(self.check_action(name, params) for name, params in self._pane_actions())
        if keys != self._footer_keys:
            self._footer_keys = keys
            self.refresh_bindings()

    def refresh_keys_soon(self) -> None:
        """refresh_keys once the operator stops paging or moving along rows (KEYS_SETTLE_S):
        a key that comes and goes with the highlighted row (Failures' `l`) would otherwise
        recompose the footer (~100-150 ms at 120 columns) under every page key or arrow held
        down. Meanwhile a stale key does nothing: Textual asks check_action before it runs one."""
        if self._keys_timer is not None:
            self._keys_timer.stop()
        self._keys_timer = self.set_timer(KEYS_SETTLE_S, self.refresh_keys)

    def _pane_actions(self) -> list[tuple[str, tuple]]:
        from textual.actions import parse
        from textual.binding import Binding

        out = []
        for item in self.BINDINGS:
            action = item.action if isinstance(item, Binding) else item[1]
            _namespace, name, params = parse(action)
            out.append((name, params))
        return out

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
