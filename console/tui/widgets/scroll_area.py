"""A scrollable area that shows when it has the focus: a bar in the accent colour
on its left (a character, so it shows without colour too); a blank column keeps
its place otherwise, so nothing moves when the focus comes and goes."""

from __future__ import annotations

from textual.containers import VerticalScroll


class ScrollArea(VerticalScroll):
    DEFAULT_CSS = """
    ScrollArea { border-left: blank; }
    ScrollArea:focus { border-left: outer $accent; }
    """
