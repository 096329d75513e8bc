"""Keys and focus as an operator at 80x24 meets them (issue 15, items 4, 5, 6, 10
and the rail's marks of 15): the focused widget is visible everywhere, each pane
has a natural Tab order with the rail last, Escape leaves any input so the step
keys work again, the help says how to close it and how to come back after a lost
connection, and the command palette speaks the migration's words only."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from console.commands.demo import make_demo_app

from part2_support import fresh_area, synthetic_run, wait_for
from tui_support import FIXED_URL, region_text, screen_cells, screen_text, wait_until

FAILED = {
    5: ("form_identifier_exists", "email_address", "the email belongs to another Clerk user"),
    9: ("unknown_outcome", None, "no answer from Clerk after 6 attempt(s)"),
}


@pytest.fixture
def area(tmp_path):
    return fresh_area(tmp_path / "demo")


async def reopened(pilot) -> None:
    """A run with two failed rows, reopened: every step has something to show."""
    app = pilot.app
    await wait_for(pilot, lambda: app.state.run is not None and app.state.load.status == "loaded"
                   and app.state.live.status == "ok", what="the reopened run")
    await wait_for(pilot, lambda: len(app.pane("failures").rows) == 2, what="the failed rows")
    await pilot.pause()


def build(sandbox, area):
    synthetic_run(area, sandbox.url, failed=FAILED)
    return make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)


# -- 5: the focus is visible -------------------------------------------------------------
def _distance(a, b) -> float:
    if a is None or b is None:
        return 0.0 if a is b else 255.0
    x, y = a.get_truecolor(), b.get_truecolor()
    return sum((p - q) ** 2 for p, q in zip(x, y)) ** 0.5


def visibly_different(focused, blurred) -> bool:
    """A mark an operator sees: another character, reverse video, or a clear change
    of colour (a 5% tint is not one)."""
    for (char_a, style_a), (char_b, style_b) in zip(focused, blurred):
        if char_a != char_b or bool(style_a.reverse) != bool(style_b.reverse):
            return True
        if _distance(style_a.color, style_b.color) > 60 or _distance(style_a.bgcolor, style_b.bgcolor) > 60:
            return True
    return False


def cells_of(app, region) -> list:
    rows = screen_cells(app)
    return [cell for y in range(region.y, region.bottom) for cell in rows[y][region.x : region.right]]


def scroll_offsets(app) -> list:
    return [(w, w.scroll_offset) for w in app.screen.query("*") if w.is_scrollable]


def kind(widget) -> tuple:
    """Widgets of one kind draw their focus alike (the same class and CSS classes)."""
    return type(widget).__name__, tuple(sorted(c for c in widget.classes if c != "-valid"))


async def assert_focus_visible(pilot, widgets, away, seen: set | None = None) -> list[str]:
    """Each widget focused, against the screen with the focus elsewhere (taken
    again only when focusing scrolled something: a focus change costs a frame).
    With `seen`, one widget of each kind is enough."""
    app = pilot.app
    checked = []
    blurred, offsets = None, None
    for widget in widgets:
        if seen is not None:
            if kind(widget) in seen:
                continue
            seen.add(kind(widget))
        if blurred is None:
            app.screen.set_focus(away)
            await pilot.pause()
            blurred, offsets = screen_cells(app), scroll_offsets(app)
        app.screen.set_focus(widget)
        await pilot.pause()
        region = widget.region.intersection(app.screen.region)  # the part on screen
        focused = cells_of(app, region)
        if scroll_offsets(app) != offsets:
            app.screen.set_focus(away)
            await pilot.pause()
            blurred, offsets = screen_cells(app), scroll_offsets(app)
        before = [cell for y in range(region.y, region.bottom) for cell in blurred[y][region.x : region.right]]
        assert visibly_different(focused, before), f"focus not visible on {widget!r}"
        checked.append(f"{type(widget).__name__}#{widget.id}")
    return checked


TABS = {"review": ("review-tabs", ("tab-issues", "tab-policies")),
        "finish": ("finish-tabs", ("tab-ids", "tab-claim", "tab-app", "tab-undo"))}


async def test_the_focused_widget_is_visible_in_every_pane_and_modal(sandbox, area):
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await reopened(pilot)
        rail = app.query_one("#rail")
        checked: list[str] = []
        seen: set = set()
        for step in ("setup", "load", "review", "import", "failures", "verify", "sync", "finish"):
            app.go_to(step)
            await pilot.pause()
            pane = app.pane(step)
            holder, tabs = TABS.get(step, (None, (None,)))
            for tab in tabs:
                if holder:
                    app.query_one(f"#{holder}").active = tab
                    await pilot.pause()
                widgets = [w for w in app.screen.focus_chain if pane in w.ancestors]
                checked += await assert_focus_visible(pilot, widgets, rail, seen)
        # the rail itself, seen from a pane
        checked += await assert_focus_visible(pilot, [rail], app.query_one("#map-path"))
        # a modal's fields and buttons: the fix form of a failed row
        app.go_to("failures")
        await pilot.pause()
        app.query_one("#fail-rows").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.query("#fix-email"), what="the fix form")
        modal = app.screen
        widgets = [w for w in modal.focus_chain if w.id != "close"]
        checked += await assert_focus_visible(pilot, widgets, modal.query_one("#close"))
        kinds = {name.split("#")[0] for name in checked}
        assert {"Input", "Button", "DataTable", "FailedRows", "Select", "RadioSet", "ScrollArea", "ContentTabs",
                "StepRail", "IdMapForm", "SessionClaim"} <= kinds, kinds


# -- 5: a natural Tab order, the rail last --------------------------------------------------
def chain_ids(app) -> list[str]:
    return [w.id or type(w).__name__ for w in app.screen.focus_chain]


async def test_tab_order_in_review_and_finish_with_the_rail_last(sandbox, area):
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await reopened(pilot)
        app.go_to("review")
        await wait_until(pilot, lambda: app.query_one("#detail").row_count > 0, what="the rows")
        assert app.focused.id == "by-code"
        seen = []
        for _ in range(2):
            await pilot.press("tab")
            seen.append(app.focused.id)
        assert seen == ["filter", "detail"]  # codes -> filter -> rows
        chain = chain_ids(app)
        assert chain[:3] == ["by-code", "filter", "detail"] and chain[-1] == "rail", chain

        app.go_to("failures")
        await pilot.pause()
        chain = chain_ids(app)
        assert chain[:3] == ["groups", "fail-filter", "fail-rows"] and chain[-1] == "rail", chain

        app.go_to("finish")
        await pilot.pause()
        chain = chain_ids(app)
        assert chain[:6] == ["map-path", "write-map", "fk-dialect", "fk-columns", "sql-path", "write-sql"], chain
        assert chain[-1] == "rail", chain
        await pilot.press("shift+tab")  # from the first field back: the rail
        assert app.focused.id == "rail"
        await pilot.press("tab")
        assert app.focused.id == "map-path"


# -- 6: Escape leaves any input -------------------------------------------------------------
async def test_escape_leaves_the_input_and_the_step_keys_work_again(sandbox, area):
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await reopened(pilot)
        app.go_to("review")
        await pilot.pause()
        await pilot.press("ctrl+f")
        assert app.focused.id == "filter"
        await pilot.press("p")
        assert app.query_one("#filter", Input).value == "p"  # typed in the field
        await pilot.press("escape")
        assert not isinstance(app.focused, Input) and app.pane("review") in app.focused.ancestors
        await pilot.press("p")
        assert app.query_one("#review-tabs").active == "tab-policies"
        assert app.query_one("#filter", Input).value == "p"

        # every input of every pane: Escape hands the focus to the pane's main widget
        for step in ("setup", "load", "import", "failures", "verify", "finish"):
            app.go_to(step)
            await pilot.pause()
            pane = app.pane(step)
            for box in [w for w in app.screen.focus_chain if isinstance(w, Input) and pane in w.ancestors]:
                app.screen.set_focus(box)
                await pilot.press("escape")
                assert not isinstance(app.focused, Input), (step, box.id, app.focused)
                assert app.focused is not None and (pane in app.focused.ancestors or app.focused.id == "rail")
        app.go_to("failures")
        await pilot.pause()
        app.query_one("#fail-filter").focus()
        await pilot.press("escape")
        assert app.focused.id == "fail-rows"


# -- 10: the help and the command palette ---------------------------------------------------
async def test_help_says_how_to_close_it_and_how_to_come_back(sandbox, area):
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await reopened(pilot)
        await pilot.press("f1")
        await pilot.pause()
        first = " ".join(screen_text(app).split())
        assert "escape closes this help" in first.lower()
        modal = app.screen
        words = " ".join(str(w.source) for w in modal.query("Markdown"))  # the whole help, scrolled or not
        assert "clerk-migrate --run" in words and "lost" in words
        assert str(area.run_dir) in words  # this run's own folder
        await pilot.press("escape")
        assert app.screen is not modal


async def test_the_command_palette_speaks_the_migrations_words(sandbox, area):
    app = make_demo_app(sandbox.url, area)
    async with app.run_test(size=(80, 24)):
        commands = list(app.get_system_commands(app.screen))
    titles = [c.title for c in commands]
    assert titles[:8] == [f"Step {n}: {t}" for n, t in enumerate(
        ["Setup", "Load", "Review", "Import", "Failures", "Verify", "Sync", "Finish"], start=1)]
    assert "Help" in titles and "Quit the console" in titles
    for textual_own in ("Quit the application", "Screenshot", "Theme", "Keys", "Maximize", "Minimize"):
        assert not any(t.startswith(textual_own) for t in titles), titles
    quit_help = next(c.help for c in commands if c.title == "Quit the console")
    assert "--keep" in quit_help  # the demo's area goes when it closes


# -- 15: one mark per step in the rail ------------------------------------------------------
async def test_the_rail_shows_one_mark_per_step(sandbox, area):
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await reopened(pilot)
        rail = app.query_one("#rail")
        text = region_text(app, rail.region)
        setup_line = next(line for line in text.splitlines() if "1 Setup" in line)
        assert setup_line.count("✓") == 1, setup_line
        for line in text.splitlines():
            assert sum(line.count(mark) for mark in "✓•✗▶") <= 1, line


# -- 4: the run folder, whole, in Setup --------------------------------------------------------
async def test_setup_shows_the_whole_run_folder_at_80_columns(sandbox, tmp_path):
    deep = tmp_path / "a-rather-long-folder-name-for-the-migration" / "of-the-production-users"
    area = fresh_area(deep)
    app = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)
    async with app.run_test(size=(80, 24)) as pilot:
        radio = app.query_one("#demo-keys")
        radio.focus()
        await pilot.press("enter")  # Production: its warning band takes room
        await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")
        pane = app.pane("setup")
        shown = "".join(region_text(app, pane.region).split())
        assert str(area.run_dir) in shown, shown
        assert "clerk-migrate--run" in shown
        # the header has room for the path's end only, or for nothing of it: never a cut start
        header = screen_text(app).splitlines()[0]
        assert "run /" not in header
        assert " run …" not in header or header.rstrip().endswith(f"{Path(area.run_dir).parent.name}/run"[-10:])
