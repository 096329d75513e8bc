"""Issue 15 items 1, 2, 3, 8 and 15, by Pilot against the sandbox: what a run folder
holds before the typed word (and opening it), a reopened run keeping its export, a
run changed by another session showing without a key, quitting while a job runs,
and undo's words and the rail after it. Each test fails on the console before the
worker (issue 19): it said "N to send" for a settled run, took any export, stayed
stale, quit without a word, and said "0 users that were there before kept"."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from console.commands.demo import DemoArea, make_demo_app, prepare_area
from console.migration.journal import RunJournal
from console.migration.run import run_lock
from console.migration.status import read_status
from console.sandbox import make_key
from console.settings import SecretKey, Settings
from console.tui.app import make_app
from console.tui.options import ConsoleOptions
from console.tui.screens.fix_modal import RowFixModal
from console.tui.screens.quit_modal import QuitModal

from part2_support import (
    busy,
    counts,
    export_rows,
    fast_jobs,
    fresh_area,
    start_import,
    synthetic_run,
    up_to_import,
    wait_for,
    wait_settled,
)
from tui_support import FIXED_URL, region_text, screen_text, wait_until

PROD = make_key("production", "demo")


def words(app, pane: str | None = None) -> str:
    """The screen's words (one pane's, when named: the rail beside it cuts wrapped lines)."""
    if pane is None:
        return " ".join(screen_text(app).split())
    return " ".join(region_text(app, app.query_one(f"#pane-{pane}").region).split())


@pytest.fixture
def area(tmp_path) -> DemoArea:
    return fresh_area(tmp_path / "demo")


def plain_console(sandbox, export: Path, **options):
    """`clerk-migrate` without --run, the key in the environment, the export filled in."""
    settings = Settings(SecretKey(PROD), "env", sandbox.url, False, frontend_api_url=sandbox.url)
    options.setdefault("job_options", fast_jobs())
    return make_app(ConsoleOptions(settings=settings, export_path=export, url_label=FIXED_URL, clock=lambda: 0.0,
                                   **options))


async def loaded_then_import(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")
    app.go_to("load")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
    app.go_to("import")
    await wait_for(pilot, lambda: app.state.folder_holds is not None, what="the look at the run folder")
    await pilot.pause()


# ----------------------------------------------------------------------------- item 1
async def test_plain_console_says_what_the_default_folder_holds_and_opens_it(sandbox, area):
    folder = Path(area.export).parent / "clerk-migrate-run"
    synthetic_run(DemoArea(area.root, area.export, folder), sandbox.url, pending=set(range(250, 301)))
    before = counts(folder)
    app = plain_console(sandbox, area.export)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded_then_import(pilot)
        assert app.state.run_dir is None and app.query_one("#run-dir").value == str(folder)
        text = words(app, "import")
        # before any word is typed: what the folder holds, and the resume's own figures
        assert "This folder holds a run of this export" in text
        assert f"resuming: {before['created']:,} created, {before['pending']:,} to send" in text
        assert f"Rows {before['pending']:,} to send" in text and "288 to send" not in text
        assert str(app.query_one("#start").label) == "Resume import"
        await pilot.press("escape", "o")  # out of the word field, then open the run found there
        await wait_for(pilot, lambda: app.state.run is not None and app.state.run_dir == folder, what="the run")
        assert app.state.current == "import" and app.state.step_status("import").reason == f"{before['pending']} to send"
    assert counts(folder) == before  # looking and opening wrote nothing


async def test_plain_console_refuses_a_folder_of_another_export_before_the_typed_word(sandbox, area, tmp_path):
    other = prepare_area(40, 3, tmp_path / "other")
    folder = Path(area.export).parent / "clerk-migrate-run"
    synthetic_run(DemoArea(other.root, other.export, folder), sandbox.url)
    app = plain_console(sandbox, area.export)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded_then_import(pilot)
        text = words(app, "import")
        assert "this folder belongs to another export" in text
        assert not app.query_one("#prod-confirm").display and not app.query_one("#start-row").display
        assert "belongs to another export" in str(app.query_one("#plan-blockers").render())
        await pilot.press("ctrl+r")  # shown dim, and nothing starts
        await pilot.pause()
        assert not busy(app)
        # a new folder clears it
        box = app.query_one("#run-dir")
        box.value = str(tmp_path / "fresh-run")
        await wait_for(pilot, lambda: app.state.folder_holds is not None and app.state.folder_holds.what == "free",
                       what="the new folder's look")
        await pilot.pause()
        assert app.query_one("#start-row").display and "belongs to another export" not in words(app)
    assert counts(folder)["created"] == 40 - counts(folder)["refused"]


# ----------------------------------------------------------------------------- item 2
async def test_a_reopened_run_keeps_its_export(sandbox, area, tmp_path):
    synthetic_run(area, sandbox.url)
    other = prepare_area(40, 3, tmp_path / "other")
    same_bytes = tmp_path / "copy-of-the-export.json"
    shutil.copyfile(area.export, same_bytes)
    app = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.run is not None,
                         what="the run's export")
        app.go_to("load")
        box = app.query_one("#export-path")
        box.value = str(other.export)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.error is not None, what="the refusal")
        assert "is not this run's export" in app.state.load.error and str(area.export) in app.state.load.error
        assert app.state.report.rows == 300 and app.state.step_status("load").reason == "300 rows"
        assert box.value == str(area.export)  # the run's export is shown again
        # the same bytes somewhere else are still this run's export
        box.value = str(same_bytes)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.load.path == same_bytes,
                         what="the same export from elsewhere")
        assert app.state.load.error is None and app.state.report.rows == 300


# ----------------------------------------------------------------------------- item 3
async def test_a_change_made_by_another_session_shows_without_a_key(sandbox, area):
    failed = {5: ("form_identifier_exists", "email_address", "the email belongs to another user")}
    synthetic_run(area, sandbox.url, failed=failed)
    app = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0, job_options=fast_jobs(),
                        watch_every_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.current == "failures" and app.pane("failures").rows,
                       what="the failed row")
        assert app.state.step_status("failures").reason == "1 failed"

        # another session takes the run while the fix form is open: the fix is refused, nothing written
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RowFixModal), what="the fix form")
        await pilot.press(*"nancy.early@example.org")
        with run_lock(area.run_dir, "retry"):
            app.screen.query_one("#save").press()
            await wait_for(pilot, lambda: not isinstance(app.screen, RowFixModal), what="the form to close")
            await wait_for(pilot, lambda: any("working on this run" in str(n.message) for n in app._notifications),
                           what="the refusal")
        with RunJournal.open(area.run_dir, readonly=True) as journal:
            assert journal.get_row(5).fix is None

        # another session (the CLI, another console) fixes row 5 and retries it
        from console.migration.jobs import JobSpec, make_job

        def elsewhere() -> None:
            with run_lock(area.run_dir, "fix"), RunJournal.open(area.run_dir) as journal:
                journal.set_fix(5, {"email": "nancy.fixed@example.org"})
            settings = Settings(SecretKey(PROD), "env", sandbox.url, False)
            job = make_job(JobSpec("retry", str(area.run_dir), {"row_nos": [5], "confirmed_production": True,
                                                              "rate": 400, "timeout": 5.0}), settings)
            assert asyncio.run(job.run()).exit_code == 0

        await asyncio.to_thread(elsewhere)
        # no key pressed: the console re-reads the run and the row turns created
        await wait_for(pilot, lambda: app.state.step_status("failures").mark == "done", what="the rail")
        pane = app.pane("failures")
        await wait_for(pilot, lambda: pane.rows and pane.rows[0].status == "created", what="the row")
        assert app.state.step_status("verify").reason == "read users back"  # Verify is open, not blocked


# ----------------------------------------------------------------------------- item 8
async def test_quitting_while_an_import_runs_asks_and_can_stop_it(sandbox, area):
    app = plain_console(sandbox, area.export, run_dir=area.run_dir, job_options=fast_jobs(rate=20))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
        app.go_to("import")
        await pilot.pause()
        await start_import(pilot)
        await wait_for(pilot, lambda: counts(area.run_dir).get("created", 0) >= 5, what="5 created")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), what="the question")
        text = words(app)
        assert "The import keeps running" in text and f"worker pid {app.state.job.pid}" in text
        assert "clerk-migrate --run" in text and "clerk-migrate status --run" in text
        await pilot.press("escape")  # stay: nothing changes
        await pilot.pause()
        assert app.is_running and busy(app)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), what="the question again")
        await pilot.click("#quit-stop")
        await wait_for(pilot, lambda: not app.is_running, timeout=30, what="the console to close")
    st = read_status(area.run_dir)
    assert st.state == "stopped" and st.pid is None  # stopped safely, nothing holds the run
    left = counts(area.run_dir)
    assert left["creating"] == 0 and left["pending"] > 0


async def test_the_demo_says_its_area_goes_with_it(sandbox, area):
    synthetic_run(area, sandbox.url)
    app = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.run is not None, what="the run")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), what="the question")
        text = words(app)
        assert "removes the demo's temporary area" in text and "the id map and the SQL included" in text
        assert "--keep" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
    kept = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0, keep_area=True)
    async with kept.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: kept.state.run is not None, what="the run")
        await pilot.press("ctrl+q")  # --keep and nothing running: nothing to ask
        await wait_for(pilot, lambda: not kept.is_running, what="the demo to close")


# ----------------------------------------------------------------------------- item 15
async def test_undo_says_who_is_kept_and_the_rail_forgets_the_verification(sandbox, area):
    rows = export_rows(area)
    early = sandbox.seed_user(PROD, {"external_id": "signed-up-early", "email_address": [rows[4]["email"]],
                                     "skip_password_requirement": True})  # row 5's address: that row fails
    app = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0, job_options=fast_jobs())
    async with app.run_test(size=(120, 36)) as pilot:
        await up_to_import(pilot)
        await start_import(pilot)
        await wait_settled(pilot)
        assert app.state.run.counts["failed"] == 1 and app.state.run.counts["created"] == 287
        app.go_to("verify")
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: app.state.step_status("verify").reason == "287 match", timeout=60,
                       what="the verification")
        # one user this run created lost its marker in Clerk (someone edited it): undo keeps it
        with RunJournal.open(area.run_dir, readonly=True) as journal:
            edited = journal.get_row(10)
        httpx.put(f"{sandbox.url}/v1/users/{edited.clerk_user_id}/metadata", json={"private_metadata": {}},
                  headers={"Authorization": f"Bearer {PROD}"}).raise_for_status()
        app.go_to("finish")
        app.query_one("#finish-tabs").active = "tab-undo"
        await pilot.pause()
        app.query_one("#undo-preview").press()
        finish = app.pane("finish")
        await wait_for(pilot, lambda: finish.undo.preview is not None, what="the preview")
        preview = " ".join(str(app.query_one("#undo-preview-outcome").render()).split())
        assert preview.startswith("286 of the 287 users this run created are in Clerk with its marker")
        assert "Kept, never deleted: 0 found already in Clerk by the import (existed)" in preview
        assert "1 journaled created whose copy in Clerk lacks this run's marker" in preview
        assert "any user this run did not create" in preview  # the early sign-up among them
        assert f"row 10 {edited.external_id}" in preview and "no marker" in preview
        await pilot.press(*"undo", "enter")
        await wait_for(pilot, lambda: finish.undo.undo_result is not None, timeout=60, what="the undo")
        result = " ".join(str(app.query_one("#undo-outcome").render()).split())
        assert "286 deleted" in result and "users that were there before kept" not in result
        assert "1 journaled created whose copy in Clerk lacks this run's marker" in result
        await wait_for(pilot, lambda: app.state.run.undone == 286, what="the journal re-read")
        verify = app.state.step_status("verify")
        assert "match" not in verify.reason and verify.reason == "286 undone" and verify.mark != "done"
    left = sorted(u["external_id"] for u in sandbox.users(PROD))
    assert left == sorted([early["external_id"], edited.external_id])  # both kept, never deleted
