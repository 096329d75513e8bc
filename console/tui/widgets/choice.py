"""A radio button whose choice reads without colour.

Textual's RadioButton draws `●` whether it is chosen or not and tells them
apart by colour only, which a poor SSH terminal loses. Here the chosen one
shows `●` and the others an empty box.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import RadioButton

CHOSEN = "●"
NOT_CHOSEN = " "


class ChoiceButton(RadioButton):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = CHOSEN if self.value else NOT_CHOSEN  # read by the base class's drawing
        return super()._button
