"""The Sync step (issue 14 §2) at 80x24, by keys, against the sandbox: a run imported
from a first export, then a later export with new, changed and removed rows. The plan
(counts by kind, one line per field with Clerk's value before and the export's after,
paged, a row whole on enter), then the sync in a worker with the live panel; removed
users are kept unless a word is typed; afterwards the run follows the newest export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.commands.demo import DemoArea, make_demo_app
from console.migration.journal import RunJournal
from console.sandbox import make_key
from console.tui.widgets.sync_plan import PAGE_ROWS

from part2_support import wait_for
from tests.integration.sync_support import first_rows, second_export, seed_import, write
from tui_support import FIXED_URL, screen_text

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
ROWS = 120  # 6 new, 12 changed (3 of each kind), 6 removed


def demo_key() -> str:
    return make_key("production", "demo")  # the demo's Production-style key: the app picks it for the run


@pytest.fixture
def synced_area(tmp_path, monkeypatch, sandbox):
    """A run imported from T0 into the sandbox, and T1 beside it (relative paths: snapshots)."""
    monkeypatch.chdir(tmp_path)
    root = Path("demo")
    root.mkdir(mode=0o700)
    rows = first_rows(ROWS)
    t0 = write(root / "users-T0.json", rows)
    seed_import(root / "run", t0, sandbox, demo_key()).close()
    second = second_export(rows, new=0.05, changed=0.1, removed=0.05)
    write(root / "users-T1.json", second.rows)
    return DemoArea(root, t0, root / "run"), second


def build(sandbox, area, **kwargs):
    kwargs.setdefault("url_label", FIXED_URL)
    kwargs.setdefault("clock", lambda: 0.0)
    return make_demo_app(sandbox.url, area, **kwargs)


async def open_sync(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.state.run is not None and app.state.live.status == "ok"
                   and app.state.load.status == "loaded", what="the reopened run")
    app.go_to("sync")
    await pilot.pause()
    assert app.focused is app.query_one("#sync-path")


async def make_plan(pilot, export: str = "demo/users-T1.json"):
    app = pilot.app
    await pilot.press(*export, "enter")
    planner = app.pane("sync").planner
    await wait_for(pilot, lambda: planner.plan is not None or planner.error, what="the plan")
    assert planner.error is None, planner.error
    await pilot.pause()
    return planner.plan


def table_lines(app) -> list[tuple[str, ...]]:
    table = app.query_one("#plan-table", DataTable)
    return [tuple(str(getattr(c, "plain", c)) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_the_plan_by_keys_at_80x24(sandbox, synced_area):
    area, second = synced_area
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot)
        plan = await make_plan(pilot)
        # the counts are the test's own knowledge of the change
        assert plan.counts["new"] == len(second.new) and plan.counts["removed"] == len(second.removed)
        assert plan.counts["changed"] == len(second.changed)
        counts = " ".join(str(app.query_one("#plan-counts", Static).render()).split())
        assert f"{len(second.new)} new" in counts and f"{len(second.changed)} changed" in counts
        assert "read back" in counts  # Clerk's values of the changed users
        assert app.focused is app.query_one("#plan-table")

        # a renamed user: Clerk's first name before, the export's after
        ext, (first, _) = next(iter(second.name.items()))
        number = int(ext[2:])
        lines = table_lines(app)
        line = next(line for line in lines if line[2] == "first_name" and f"Renamed{number}" in line[3])
        assert line[3].startswith(f"First{number} → ")
        # a new user's line, and every kind shown is one that sends something
        assert {line[0] for line in lines if line[0]} <= {"new", "changed", "removed"}
        assert any(line[0] == "new" for line in lines)

        # enter on a line: its row whole (the external id, every field)
        table = app.query_one("#plan-table", DataTable)
        table.move_cursor(row=lines.index(line))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), what="the whole row")
        words = " ".join(screen_text(app).split())
        assert ext in words and f"Renamed{number}" in words
        await pilot.press("escape")
        await pilot.pause()

        # the removed users: by the kind filter (keys), kept by default
        app.query_one("#sync-kind").focus()
        await pilot.press("enter", *["down"] * 4, "enter")  # every row that changes, all, new, changed, removed
        await wait_for(pilot, lambda: all(line[0] in ("removed", "") for line in table_lines(app)), what="removed")
        removed = [line for line in table_lines(app) if line[0] == "removed"]
        assert len(removed) == len(second.removed) and all("kept in Clerk" in line[3] for line in removed)


async def test_the_plan_pages_and_refuses_an_unreadable_export(sandbox, synced_area, tmp_path):
    area, second = synced_area
    big = second_export(first_rows(ROWS), new=0.6, changed=0.0, removed=0.0, tag="big")
    write(Path("demo/users-big.json"), big.rows)
    Path("demo/broken.json").write_text('[{"id": "ck000001", "email": ')
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot)
        await pilot.press(*"demo/broken.json", "enter")
        planner = app.pane("sync").planner
        await wait_for(pilot, lambda: planner.error is not None, what="the refusal")
        assert "broken.json" in planner.error and planner.plan is None
        assert "broken.json" in " ".join(str(app.query_one("#sync-outcome").render()).split())

        app.query_one("#sync-path").value = ""
        app.query_one("#sync-path").focus()
        plan = await make_plan(pilot, "demo/users-big.json")
        assert plan.counts["new"] == len(big.new) > PAGE_ROWS
        first_page = [line[1] for line in table_lines(app) if line[1]]
        assert len(first_page) == PAGE_ROWS
        await pilot.press("right_square_bracket")
        await pilot.pause()
        second_page = [line[1] for line in table_lines(app) if line[1]]
        assert second_page and int(second_page[0]) > int(first_page[-1])
        assert "rows 51–" in str(app.query_one("#plan-page").render())
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert [line[1] for line in table_lines(app) if line[1]] == first_page


async def test_the_sync_runs_in_a_worker_and_the_run_follows_the_new_export(sandbox, synced_area):
    from tests.integration.sync_support import assert_holds

    area, second = synced_area
    app = build(sandbox, area, job_options={"sync": {"rate": 400}})
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sync(pilot)
        await make_plan(pilot)
        # ban needs its word: refused without it, nothing started
        app.query_one("#sync-removed").focus()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert app.pane("sync").removed == "ban"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.state.job is None or app.state.job.kind != "sync"
        assert "type 'ban'" in str(app.query_one("#sync-outcome").render())
        # back to keep, then ctrl+r sends the plan
        app.query_one("#sync-removed").focus()
        await pilot.press("enter", "up", "enter", "ctrl+r")
        await wait_for(pilot, lambda: app.state.job is not None and app.state.job.kind == "sync", what="the job")
        await wait_for(pilot, lambda: not app.state.job.active, timeout=120, what="the end of the sync")
        result = app.state.job.result
        assert result is not None and result.exit_code == 0, (result, app.state.job.refused)
        assert result.summary["created"] == len(second.new) and result.summary["updated"] == len(second.changed)
        assert result.summary["kept"] == len(second.removed)
        assert "Synced" in str(app.query_one("#sync-outcome").render())
        assert_holds(sandbox.users(demo_key()), second.rows, also=set(second.removed), second=second)
        # the run follows the newest export: what Verify compares with
        with RunJournal.open(area.run_dir, readonly=True) as journal:
            assert os.path.basename(journal.info.export_path) == "users-T1.json"
        await wait_for(pilot, lambda: Path(app.state.run.info.export_path).name == "users-T1.json",
                       what="the run read again")
        assert app.state.step_status("sync").mark == "done"
        # Load and Review follow the newest export too
        await wait_for(pilot, lambda: app.state.load.status == "loaded" and app.state.load.path.name == "users-T1.json",
                       what="Load reading the new export")
        assert app.state.report.rows == len(second.rows)
        # Verify compares Clerk with the newest export: every user matches
        app.go_to("verify")
        await pilot.pause()
        await pilot.press("a")
        verify = app.pane("verify")
        await wait_for(pilot, lambda: verify.summary is not None or verify.refused, timeout=60, what="the verification")
        assert verify.refused is None, verify.refused
        assert verify.summary["ok"] and verify.summary["checked"] == len(second.rows), verify.summary


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_the_sync_plan(snap_compare, sandbox, synced_area, size):
    area, _ = synced_area

    async def run_before(pilot):
        from textual.widgets import Input

        await open_sync(pilot)
        await make_plan(pilot)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()

    assert snap_compare(build(sandbox, area), terminal_size=size, run_before=run_before)


async def test_keys_typed_quickly_reach_the_sync_path(sandbox, synced_area):
    """ctrl+n three times from Import, then the path, in one read of the terminal (tmux
    finding: the Verify pane's queued focus took the keys, and `i` opened its sign-in)."""
    area, _ = synced_area
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.run is not None and app.state.live.status == "ok"
                       and app.state.load.status == "loaded", what="the reopened run")
        from textual import events

        app.go_to("import")
        await pilot.pause()
        for _ in range(3):  # the three in one read: queued before any is handled
            app.post_message(events.Key("ctrl+n", None))
        await wait_for(pilot, lambda: app.state.current == "sync", what="the Sync step")
        await pilot.pause()
        await pilot.pause()
        await pilot.press(*"demo/users-T1.json")
        assert app.state.current == "sync" and not isinstance(app.screen, ModalScreen)
        assert app.query_one("#sync-path").value == "demo/users-T1.json"
        assert app.focused is app.query_one("#sync-path")  # not a widget of a pane passed on the way
        await pilot.press("i")  # a key typed after them lands there too (Verify's `i` opened its sign-in)
        assert app.query_one("#sync-path").value.endswith(".jsoni") and not isinstance(app.screen, ModalScreen)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_the_sync_running(snap_compare, sandbox, synced_area, size):
    """The live panel fed a hand-built SyncProgress (fixed figures, a 429 pause, an error)."""
    from console.migration.sync import SyncProgress
    from console.tui.jobs import JobView

    area, _ = synced_area

    async def run_before(pilot):
        from textual.widgets import Input

        app = pilot.app
        await open_sync(pilot)
        app.state.job = JobView("sync", Path(area.run_dir), phase="attached", mine=True, pid=4242, state="running",
                                has_control=True, can_pause=True, snapshot=SyncProgress(
                                    phase="updating", state="running", sync_id=2, planned_new=6, planned_changed=12,
                                    planned_removed=6, unchanged=96, created=0, updated=7, removed_done=6, failed=1,
                                    left=11, requests=15, rate_limited=1, pace=63.0, paused_for_s=2.0, in_flight=3,
                                    elapsed_s=4.2, eta_s=2.0,
                                    last_errors=("row 17: email_taken: the email [bold]x@example.test belongs to "
                                                 "another user",)))
        app.refresh_views()
        for box in app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()

    assert snap_compare(build(sandbox, area), terminal_size=size, run_before=run_before)
