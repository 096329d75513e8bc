"""Snapshots of each step of the console at 80x24 and 120x36, from the demo
wired to the sandbox (fixed URL text, fixed clock, fixed sample seed, relative
paths). Update the baselines with `pytest tests/tui --snapshot-update` and look
at the report before committing them."""

from __future__ import annotations

import pytest

from tui_support import wait_until

def steady(app) -> None:
    """No blinking cursor: a snapshot must not depend on when it was taken."""
    from textual.widgets import Input

    for box in app.query(Input):
        box.cursor_blink = False


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


async def _choose(pilot, index: int) -> None:
    app = pilot.app
    steady(app)
    radio = app.query_one("#demo-keys")
    radio.focus()
    await pilot.pause()
    if index:
        await pilot.press("down")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")


async def _load(pilot) -> None:
    app = pilot.app
    app.go_to("load")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")


async def _review(pilot) -> None:
    app = pilot.app
    app.go_to("review")
    await wait_until(pilot, lambda: app.query_one("#detail").row_count > 0, what="the detail page")


@pytest.mark.parametrize("size", SIZES)
def test_setup_first_screen(snap_compare, relative_demo, size):
    assert snap_compare(relative_demo(), terminal_size=size, run_before=lambda pilot: steady(pilot.app))


@pytest.mark.parametrize("size", SIZES)
def test_setup_production(snap_compare, relative_demo, size):
    async def run_before(pilot):
        await _choose(pilot, 0)

    assert snap_compare(relative_demo(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_setup_development(snap_compare, relative_demo, size):
    async def run_before(pilot):
        await _choose(pilot, 1)
        pilot.app.query_one("#dev-guard").scroll_visible(animate=False)

    assert snap_compare(relative_demo(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_load_done(snap_compare, relative_demo, size):
    async def run_before(pilot):
        await _choose(pilot, 0)
        await _load(pilot)

    assert snap_compare(relative_demo(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_review_issues(snap_compare, relative_demo, size):
    async def run_before(pilot):
        await _choose(pilot, 1)
        await _load(pilot)
        await _review(pilot)

    assert snap_compare(relative_demo(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_review_policies(snap_compare, relative_demo, size):
    async def run_before(pilot):
        await _choose(pilot, 0)
        await _load(pilot)
        await _review(pilot)
        from console.tui.screens.review import UNVERIFIED_CHOICES

        # "Refuse these rows", by its place among the choices (the default, oauth, is chosen first)
        await pilot.press("p", *["down"] * [v for v, _ in UNVERIFIED_CHOICES].index("refuse"), "enter")
        await wait_until(
            pilot, lambda: pilot.app.state.load.status == "loaded" and pilot.app.state.previous_counts, what="the re-check"
        )

    assert snap_compare(relative_demo(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_import_blocked(snap_compare, relative_demo, size):
    async def run_before(pilot):
        await _choose(pilot, 1)
        await _load(pilot)
        pilot.app.go_to("import")
        await pilot.pause()

    assert snap_compare(relative_demo(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, relative_demo, size):
    assert snap_compare(
        relative_demo(), terminal_size=size, press=["f1"], run_before=lambda pilot: steady(pilot.app)
    )
