"""Finish: what the operator takes away after the import, in four tabs, each a
widget of its own (console/tui/widgets/finish_*.py):

- Id map & SQL (`IdMapForm`): the id map CSV and the foreign-key rewrite SQL;
- Keep old ids (`SessionClaim`): the session-token claim and how the app reads it;
- App code (`AppCodeChecklist`): the guide's checklist, filled by `scan_app`;
- Undo (`UndoPanel`): undo of a rehearsal run, after a preview and the typed word.

Every file is written and every request sent by the engine, in thread workers.
This pane holds the tabs, the keys, and what the tabs share.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static, TabbedContent, TabPane

from console.tui.runview import RunView
from console.tui.screens.base import StepPane
from console.tui.state import ConsoleState
from console.tui.widgets.finish_app import AppCodeChecklist
from console.tui.widgets.finish_claim import SessionClaim
from console.tui.widgets.finish_ids import IdMapForm
from console.tui.widgets.finish_undo import UNDO_WORD, UndoPanel

__all__ = ["FinishPane", "UNDO_WORD"]


class FinishPane(StepPane):
    step = "finish"
    _ready = False

    DEFAULT_CSS = """
    FinishPane #finish-tabs { height: 1fr; }
    FinishPane TabPane { padding: 0; }
    FinishPane .finish-scroll { height: 1fr; }
    FinishPane .section { margin-top: 1; }
    FinishPane .form-row { height: 1; }
    FinishPane .form-label { width: 9; color: $text-muted; }
    FinishPane .form-row Input { width: 1fr; }
    FinishPane .form-row Button { margin-left: 1; }
    FinishPane #fk-dialect { width: 1fr; }
    FinishPane .outcome { height: auto; }
    FinishPane .note { margin-bottom: 1; }
    FinishPane #claim { height: auto; }
    FinishPane #undo-bar { margin-top: 1; }
    FinishPane #undo-bar Bar { width: 1fr; }
    """

    BINDINGS = [
        Binding("ctrl+t", "next_tab", "Next tab", tooltip="Id map & SQL → Keep old ids → App code → Undo"),
        Binding("ctrl+o", "write_map", "Write id map"),
        Binding("ctrl+s", "write_sql", "Write SQL"),
        Binding("s", "stop_undo", "Stop undo"),
    ]

    # the widget that takes the focus when a tab opens
    TAB_FOCUS = {"tab-ids": "#map-path", "tab-claim": "#claim-scroll", "tab-app": "#app-path", "tab-undo": "#undo-preview"}

    def compose(self) -> ComposeResult:
        yield Label("Finish: the id map, the foreign keys, the app, undo", classes="pane-title")
        yield Static("", id="finish-empty", classes="note")
        with TabbedContent(id="finish-tabs"):
            with TabPane("Id map & SQL", id="tab-ids"):
                yield IdMapForm(classes="finish-scroll", id="ids-form")
            with TabPane("Keep old ids", id="tab-claim"):
                yield SessionClaim(classes="finish-scroll", id="claim-scroll")
            with TabPane("App code", id="tab-app"):
                yield AppCodeChecklist(classes="finish-scroll", id="app-code")
            with TabPane("Undo", id="tab-undo"):
                yield UndoPanel(classes="finish-scroll", id="undo-panel")

    def on_mount(self) -> None:
        self._ready = True
        self.sync(self.state)

    @property
    def ids(self) -> IdMapForm:
        return self.query_one(IdMapForm)

    @property
    def app_code(self) -> AppCodeChecklist:
        return self.query_one(AppCodeChecklist)

    @property
    def undo(self) -> UndoPanel:
        return self.query_one(UndoPanel)

    # -- rendering -----------------------------------------------------------------
    def sync(self, state: ConsoleState) -> None:
        if not self._ready:  # the app re-renders before every pane has its widgets
            return
        run: RunView | None = state.run
        ready = run is not None and run.sessions > 0
        self.query_one("#finish-empty").display = not ready
        self.query_one("#finish-tabs").display = ready
        if not ready:
            self.query_one("#finish-empty", Static).update("Nothing to finish yet: import first (step 4, Import).")
            return
        assert run is not None
        self.ids.sync(run)
        self.undo.sync(run)
        self.refresh_keys()

    # -- keys --------------------------------------------------------------------------
    def action_write_map(self) -> None:
        self.ids.write_map()

    def action_write_sql(self) -> None:
        self.ids.write_sql()

    def action_stop_undo(self) -> None:
        self.undo.stop_undo()

    def action_next_tab(self) -> None:
        """ctrl+t: the next tab, with the focus in it (an Input keeps ctrl+t free)."""
        tabs = self.query_one("#finish-tabs", TabbedContent)
        if not tabs.display:
            return
        order = list(self.TAB_FOCUS)
        # the focus leaves the pane first: a focused widget that hides hands the focus
        # to a neighbour in the same pane, and the TabbedContent then switches back
        self.screen.set_focus(tabs.query_one("Tabs"))
        tabs.active = order[(order.index(tabs.active) + 1) % len(order)] if tabs.active in order else order[0]
        # then into the tab active once the pane shows (keys typed quickly, which a
        # terminal sends in one read, each move on from the last)
        self.call_after_refresh(self._focus_active_tab)

    def _focus_active_tab(self) -> None:
        tabs = self.query_one("#finish-tabs", TabbedContent)
        if tabs.active not in self.TAB_FOCUS:
            return
        target = self.query_one(self.TAB_FOCUS[tabs.active])
        if target.focusable and not target.disabled:
            self.screen.set_focus(target)
        else:
            self.screen.set_focus(tabs.query_one("Tabs"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        run = self.state.run
        if action in ("next_tab", "write_map", "write_sql"):
            return run is not None and run.sessions > 0
        if action == "stop_undo":
            return self.undo.undoing
        return True

    # Escape from a field of a tab: a widget of that tab that starts nothing by itself
    TAB_MAIN = {"tab-ids": "#finish-tabs Tabs", "tab-claim": "#claim-scroll", "tab-app": "#checklist",
                "tab-undo": "#undo-preview"}

    def main_widget(self):
        tabs = self.query_one("#finish-tabs", TabbedContent)
        if not tabs.display or tabs.active not in self.TAB_MAIN:
            return None
        target = self.query_one(self.TAB_MAIN[tabs.active])
        return target if target.focusable else tabs.query_one("Tabs")

    def show_progress(self, state: ConsoleState) -> None:
        """The live part of an undo (each snapshot of its worker)."""
        if self.query_one("#finish-tabs").display:
            self.undo.show_progress()

    def on_enter(self) -> None:
        tabs = self.query_one("#finish-tabs", TabbedContent)
        if not tabs.display:
            super().on_enter()
        elif tabs.active == "tab-undo":  # an undo started, or ended (its Stop button is gone)
            stop = self.query_one("#undo-stop")
            self.screen.set_focus(stop if stop.display else tabs.query_one("Tabs"))
        else:
            self.query_one("#map-path").focus()
