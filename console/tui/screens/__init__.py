"""One pane per step, in the rail's order (the app mounts them all at once,
in a ContentSwitcher)."""

from __future__ import annotations

from console.tui.screens.base import StepPane
from console.tui.screens.failures import FailuresPane
from console.tui.screens.import_ import ImportPane
from console.tui.screens.finish import FinishPane
from console.tui.screens.verify import VerifyPane
from console.tui.screens.load import LoadPane
from console.tui.screens.review import ReviewPane
from console.tui.screens.setup import SetupPane
from console.tui.screens.sync import SyncPane
from console.tui.state import STEP_ORDER, StepId

PANES: dict[StepId, type[StepPane]] = {
    "setup": SetupPane,
    "load": LoadPane,
    "review": ReviewPane,
    "import": ImportPane,
    "failures": FailuresPane,
    "verify": VerifyPane,
    "sync": SyncPane,
    "finish": FinishPane,
}
assert tuple(PANES) == STEP_ORDER

__all__ = ["PANES", "StepPane"]
