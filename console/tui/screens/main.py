"""The console's main screen: the header, the rail and the step panes (the app
composes them into it). It decides two things for every pane:

- the Tab order: the pane's own fields and tables first (each pane may send some
  of them to the end with `FOCUS_LAST`), then its scroll areas and tab strips,
  and the rail last;
- Escape in a field (an Input, a Select) leaves it: the focus goes to the pane's
  main widget, so the step's keys (`p`, `s`, `[`…) work again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Select, Tabs

if TYPE_CHECKING:
    from console.tui.screens.base import StepPane

FIELDS = (Input, Select)  # what Escape leaves


class MainScreen(Screen):
    BINDINGS = [
        Binding("escape", "leave_field", "Leave the field", show=False),
    ]

    def _pane(self) -> "StepPane | None":
        from console.tui.screens.base import StepPane

        try:
            return self.app.pane(self.app.state.current)  # type: ignore[attr-defined]
        except Exception:  # before the panes are mounted
            return next(iter(self.query(StepPane)), None)

    @property
    def focus_chain(self) -> list[Widget]:
        chain = super().focus_chain
        pane = self._pane()
        rails = [w for w in chain if w.id == "rail"]
        if pane is None:
            return chain
        inside = [w for w in chain if pane in w.ancestors]
        others = [w for w in chain if w not in inside and w not in rails]
        return pane.order_focus(inside) + others + rails

    def action_leave_field(self) -> None:
        focused = self.focused
        if not isinstance(focused, FIELDS):
            return
        pane = self._pane()
        target = pane.main_widget() if pane is not None and pane in focused.ancestors else None
        if target is None or not target.focusable:
            target = self.query_one("#rail")
        self.set_focus(target)


def order_focus(pane: Widget, widgets: list[Widget], last: tuple[str, ...]) -> list[Widget]:
    """Fields and tables first, in the order they appear; then the widgets that
    match `last`, in that order; then scroll areas that hold fields; then tab strips."""
    pushed: list[Widget] = []
    for selector in last:
        matched = set(pane.query(selector))
        pushed += [w for w in widgets if w in matched and w not in pushed]
    strips = [w for w in widgets if isinstance(w, Tabs)]
    scrolls = [
        w for w in widgets
        if isinstance(w, ScrollableContainer) and any(d.focusable for d in w.query("*")) and w not in pushed
    ]
    first = [w for w in widgets if w not in pushed and w not in strips and w not in scrolls]
    return first + pushed + scrolls + strips
