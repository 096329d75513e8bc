"""Snapshots of Import, Failures, Verify and Finish at 80x24 and 120x36.

Reproducible by construction: relative paths under a temporary working folder,
a fixed URL text and clock, run journals built by hand (fixed Clerk ids and
messages), and the live panel fed a hand-built `Progress` (the "mid-import"
screen never depends on timing). Update the baselines with
`pytest tests/tui/test_part2_snapshots.py --snapshot-update` and look at the
report before committing them."""

from __future__ import annotations

import shutil
from collections import deque
from pathlib import Path

import pytest

from console.commands.demo import DemoArea, make_demo_app
from console.migration.journal import RunInfo
from console.migration.progress import Progress
from console.migration.verify import VerifyProgress, VerifyReport
from console.migration.control import Controller
from console.migration.jobs import JobResult
from console.tui.jobs import JobView
from console.migration.status import RunFigures, RunStatus
from console.tui.runview import RunView

from part2_support import fresh_area, synthetic_run, up_to_import, wait_for
from tui_support import FIXED_URL

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
REPO = Path(__file__).resolve().parents[2]

FAILED = {
    5: ("form_identifier_exists", "email_address",
        "the email nnguyen5@gmail.com belongs to Clerk user user_2fixedHolder000000000001 "
        "(external_id 'signed-up-early'), not to this row"),
    9: ("unknown_outcome", None, "no answer from Clerk after 6 attempt(s) and no user with this external id"),
    17: ("form_param_format_invalid", "first_name", "[bold]first_name[/bold] is invalid"),
}


@pytest.fixture
def area(tmp_path, monkeypatch) -> DemoArea:
    monkeypatch.chdir(tmp_path)
    fresh_area(Path("demo"))
    return DemoArea(Path("demo"), Path("demo/authjs-users.json"), Path("demo/run"))


def app_for(sandbox, area):
    return make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)


async def steady(pilot) -> None:
    """No blinking cursor in a snapshot (its phase depends on timing)."""
    from textual.widgets import Input

    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


async def reopened(pilot, step: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.state.run is not None and app.state.live.status == "ok", what="the run")
    await wait_for(pilot, lambda: app.state.current == step, what=f"the {step} step")
    # the run's export loads again for Load and Review: the rail marks them when it has
    await wait_for(pilot, lambda: app.state.load.status == "loaded", what="the run's export")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_import_plan_production(snap_compare, sandbox, area, size):
    async def run_before(pilot):
        await up_to_import(pilot)
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_import_mid_run(snap_compare, sandbox, area, size):
    """The live panel fed a hand-built snapshot: fixed figures, a 429 pause, errors."""

    async def run_before(pilot):
        await up_to_import(pilot)
        app = pilot.app
        info = RunInfo(export_path="demo/authjs-users.json", base_url=FIXED_URL, key_fingerprint="0" * 16,
                       key_masked="sk_live_…jEMH", instance_kind="production", rows_loaded=True)
        figures = RunFigures({"pending": 160, "creating": 3, "created": 120, "existed": 3, "failed": 2,
                              "refused": 12}, sessions=1)
        run = RunView(Path("demo/run"), info, RunStatus("demo/run", "running", worker=True, figures=figures))
        job = JobView("import", Path("demo/run"), phase="attached", mine=True, pid=4242, started_at=None,
                      state="running", can_pause=True, has_control=True,
                      controller=Controller(1, 4243, "console (pid 4243)", 0.0))
        job.rate_history = deque([0, 35, 71, 86, 90, 89, 90, 88, 63, 62, 74, 81, 88, 90, 89, 90])
        job.snapshot = Progress(
            total=288, created=120, existed=3, failed=2, pending=160, creating=3, refused=12, retries=1,
            rate_limited=1, requests=131, paused_for_s=2.4, pace=63.0, rate_now=81.5, rate_overall=76.9,
            eta_s=2.0, latency_p50_ms=41.0, latency_p95_ms=118.0, elapsed_s=16.2, state="running",
            last_errors=("row 5: form_identifier_exists: the email nnguyen5@gmail.com belongs to another user",
                         "row 17: form_param_format_invalid (first_name): [bold]first_name[/bold] is invalid"),
            in_flight=6, concurrency=9,
        )
        app.state.job = job
        app.state.run = run
        app.refresh_views()
        app.pane("import").on_enter()
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_import_reopened_to_resume(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url, pending=set(range(200, 301)), creating={198, 199})

    async def run_before(pilot):
        await reopened(pilot, "import")
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_failures_grouped(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url, failed=FAILED)

    async def run_before(pilot):
        await reopened(pilot, "failures")
        pane = pilot.app.pane("failures")
        await wait_for(pilot, lambda: len(pane.rows) == 3, what="the failed rows")
        await pilot.press("space")  # select row 5
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_failures_row_detail(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url, failed=FAILED)

    async def run_before(pilot):
        await reopened(pilot, "failures")
        app = pilot.app
        pane = app.pane("failures")
        await wait_for(pilot, lambda: len(pane.rows) == 3, what="the failed rows")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "external_id" in str(app.screen.query_one("#fix-sent").render()), what="the body")
        await pilot.press(*"nancy@example.org")
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_verify_differences(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url)

    async def run_before(pilot):
        await reopened(pilot, "verify")
        app = pilot.app
        base = {"status": "created"}
        job = JobView("verify", Path("demo/run"), phase="ended", pid=4242, state="finished")
        job.snapshot = VerifyProgress(total=300, checked=300, matched=297, mismatched=2, missing=1, requests=5,
                                      elapsed_s=3.1, state="done")
        report = VerifyReport(
            checked=300, matched=297,
            mismatched=[
                {**base, "row": 12, "external_id": "ckjiqn62400012", "clerk_user_id": "user_fixed00012",
                 "field": "first_name", "expected": "Zoë", "found": "Zoe"},
                {**base, "row": 40, "external_id": "ckjiqn62400040", "clerk_user_id": "user_fixed00040",
                 "field": "email", "expected": "[red]a@example.org", "found": "b@example.org"},
            ],
            missing=[{**base, "row": 77, "external_id": "ckjiqn62400077", "clerk_user_id": "user_fixed00077",
                      "held_by": None}],
            clerk_total=287, expected_total=288, seed=4242, sample=300,
            mismatched_users=2, mismatched_fields=2, missing_count=1,
        )
        job.result = JobResult(1, None, None, {"run": "demo/run", **report.as_json()}, "verify")
        app.state.job = job
        app.state.results["verify"] = job.result
        app.refresh_views()
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_finish_map_and_sql(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url)

    async def run_before(pilot):
        app = pilot.app
        await reopened(pilot, "verify")
        app.go_to("finish")
        await pilot.press("enter")
        pane = app.pane("finish")
        await wait_for(pilot, lambda: pane.ids.map_result is not None, what="the map")
        app.query_one("#fk-columns").focus()
        await pilot.press(*"Post.authorId, Comment.userId", "enter")
        await wait_for(pilot, lambda: pane.ids.sql_result is not None, what="the SQL")
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_finish_app_checklist(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url)
    shutil.copytree(REPO / "tests/fixtures/apps/app-router", "app")

    async def run_before(pilot):
        app = pilot.app
        await reopened(pilot, "verify")
        app.go_to("finish")
        app.query_one("#finish-tabs").active = "tab-app"
        await pilot.pause()
        app.query_one("#app-path").focus()
        await pilot.press(*"app", "enter")
        pane = app.pane("finish")
        await wait_for(pilot, lambda: pane.app_code.scan is not None, what="the scan")
        app.query_one("#checklist").focus()
        await pilot.press("down", "down")
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_finish_undo_confirmation(snap_compare, sandbox, area, size):
    synthetic_run(area, sandbox.url)

    async def run_before(pilot):
        app = pilot.app
        await reopened(pilot, "verify")
        app.go_to("finish")
        app.query_one("#finish-tabs").active = "tab-undo"
        await pilot.pause()
        app.query_one("#undo-word").focus()
        await pilot.press(*"und", "enter")  # not the word: refused in place
        await pilot.pause()
        await steady(pilot)

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)
