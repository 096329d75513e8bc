"""Waiting on conditions (never on fixed sleeps) and reading the screen."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from rich.console import Console


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds (workers finish, messages land)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    # let what the condition set in motion settle (a detail page, a refresh)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app) -> str:
    """The screen as plain text, as a terminal would show it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


SAMPLE_ROWS = 600  # enough for every issue code of the sample and for a second detail page
SAMPLE_SEED = 7
FIXED_URL = "http://127.0.0.1:PORT"


def fixed_clock() -> float:
    return 0.0


def screen_cells(app) -> list[list[tuple[str, object]]]:
    """The screen as rows of (character, rich Style): what a terminal draws,
    attributes and colours included."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    rows: list[list[tuple[str, object]]] = []
    for line in update.strips:
        row: list[tuple[str, object]] = []
        for strip in line:
            for segment in strip:
                if segment.control:
                    continue
                row.extend((char, segment.style) for char in segment.text)
        rows.append(row)
    return rows


def region_text(app, region) -> str:
    """The text inside one region of the screen (a pane, a widget), line by line."""
    lines = screen_text(app).splitlines()
    out = []
    for y in range(region.y, min(region.bottom, len(lines))):
        out.append(lines[y][region.x : region.right])
    return "\n".join(out)
