"""Pilot tests of the console's part 2 against the sandbox: the whole demo flow
(import -> a failure fixed and retried -> verify -> finish), every job in a
worker process of its own; closing the app mid-import (the job goes on) and
attaching a new console to it; pause and resume; a Production import refusing
to start without the typed word. Assertions are on the engine's state (the
journal, the sandbox's users), waits are on conditions."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from console.commands.demo import make_demo_app
from console.migration.journal import RunJournal, is_run_folder
from console.sandbox import make_key
from console.tui.screens.fix_modal import RowFixModal

from part2_support import (
    busy,
    counts,
    export_rows,
    fast_jobs,
    fresh_area,
    job_result,
    start_import,
    up_to_import,
    wait_for,
    wait_settled,
)
from tui_support import FIXED_URL, screen_text, wait_until

PROD = make_key("production", "demo")


@pytest.fixture
def area(tmp_path):
    return fresh_area(tmp_path / "demo")


def build(sandbox, area, rate: float = 400):
    return make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0, job_options=fast_jobs(rate))


def assert_no_duplicate(sandbox, run_dir: Path) -> dict[str, int]:
    users = sandbox.users(PROD)
    ids = [u.get("external_id") for u in users]
    assert len(ids) == len(set(ids)), "an external id was created twice"
    c = counts(run_dir)
    return {"users": len(users), **c}


async def test_demo_flow_import_fix_retry_verify_finish(sandbox, area):
    # someone signed up in Clerk already with the address of export row 5
    victim = export_rows(area)[4]
    sandbox.seed_user(PROD, {"email_address": [victim["email"]], "external_id": "signed-up-early",
                             "skip_password_requirement": True})
    app = build(sandbox, area)
    async with app.run_test(size=(120, 36)) as pilot:
        await up_to_import(pilot)
        assert "about 3 s" in screen_text(app) or "Estimate" in screen_text(app)
        await start_import(pilot)
        await wait_settled(pilot)
        run = app.state.run
        assert run.counts["failed"] == 1 and run.counts["created"] == 287
        assert job_result(app).exit_code == 1
        assert app.state.step_status("failures").reason == "1 failed"

        # Failures: the group, the row, its detail; fix the email and retry that row
        await pilot.press("ctrl+n")
        assert app.state.current == "failures", (app.screen, app.focused, screen_text(app))
        pane = app.pane("failures")
        await wait_until(pilot, lambda: len(pane.rows) == 1, what="the failed rows")
        assert pane.rows[0].row_no == 5 and pane.rows[0].error_code == "form_identifier_exists"
        assert app.focused is app.query_one("#fail-rows")
        text = screen_text(app)
        assert "form_identifier_exists" in text and "email_address" in text
        await pilot.press("enter")
        assert isinstance(app.screen, RowFixModal)
        await wait_until(pilot, lambda: "external_id" in str(app.screen.query_one("#fix-sent").render()), what="the body")
        sent = str(app.screen.query_one("#fix-sent").render())
        assert victim["id"] in sent and "not shown" in sent
        assert "$2" not in sent  # the digest never shows
        await pilot.press(*"nancy.nguyen@example.org")
        await pilot.press("enter")  # save and retry
        await wait_until(pilot, lambda: not isinstance(app.screen, RowFixModal), what="the modal to close")
        await wait_for(
            pilot, lambda: app.state.run.counts["failed"] == 0 and not busy(app), timeout=30, what="the retry"
        )
        await wait_for(pilot, lambda: pane.rows and pane.rows[0].status == "created", what="the row to turn created")
        users = {u["external_id"]: u for u in sandbox.users(PROD)}
        fixed = users[victim["id"]]
        assert [e["email_address"] for e in fixed["email_addresses"]] == ["nancy.nguyen@example.org"]
        assert app.state.step_status("failures").mark == "done"

        # Verify: every user, Clerk's total beside the expectation
        await pilot.press("ctrl+n")
        assert app.state.current == "verify"
        await pilot.press("a")
        verify = app.pane("verify")
        await wait_for(pilot, lambda: verify.summary is not None or verify.refused, timeout=30, what="the verification")
        assert verify.refused is None
        assert verify.summary["ok"] and verify.summary["checked"] == 288
        assert verify.summary["clerk_total"] == 289 and verify.summary["expected_total"] == 288
        await wait_for(pilot, lambda: "Clerk holds 289 users" in screen_text(app), what="the totals")
        await wait_for(pilot, lambda: app.state.step_status("verify").mark == "done", what="the journal re-read")

        # Sync (a later export, for the cut-over) comes next; nothing to sync here: on to Finish
        await pilot.press("ctrl+n")
        assert app.state.current == "sync" and app.state.step_status("sync").reason == "a later export"
        await pilot.press("ctrl+n")
        # Finish: the id map and the foreign-key SQL
        assert app.state.current == "finish"
        assert app.focused is app.query_one("#map-path")
        await pilot.press("enter")
        finish = app.pane("finish")
        await wait_until(pilot, lambda: finish.ids.map_result is not None, what="the map")
        with open(area.run_dir / "id-map.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 288 and {r["external_id"] for r in rows} == set(users) - {"signed-up-early"}
        app.query_one("#fk-columns").focus()
        await pilot.press(*"Post.authorId, Comment.userId", "enter")
        await wait_until(pilot, lambda: finish.ids.sql_result is not None, what="the SQL")
        sql = (area.run_dir / "fk-postgres.sql").read_text()
        assert '"Post"' in sql and '"authorId"' in sql and "COMMIT" in sql
        assert (area.run_dir / "fk-postgres.sql").stat().st_mode & 0o777 == 0o600
        assert app.state.step_status("finish").mark == "done"


def real_console(sandbox, area, rate: float = 400):
    """`clerk-migrate --run DIR` with the key in the environment (not the demo: its sandbox
    lives in the console, so quitting the demo stops its job)."""
    from console.settings import SecretKey, Settings
    from console.tui.app import make_app
    from console.tui.options import ConsoleOptions

    settings = Settings(SecretKey(PROD), "env", sandbox.url, False, frontend_api_url=sandbox.url)
    return make_app(ConsoleOptions(settings=settings, run_dir=area.run_dir, export_path=area.export,
                                   url_label=FIXED_URL, clock=lambda: 0.0, job_options=fast_jobs(rate)))


async def real_up_to_import(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")
    app.go_to("load")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
    app.go_to("import")
    await pilot.pause()


async def test_closed_mid_import_the_job_goes_on_and_a_new_console_attaches(sandbox, area):
    """The console closes mid-import (ctrl+q, keep it running): the worker goes on
    creating; a console opened on the run attaches, shows the live panel and the end."""
    from console.tui.screens.quit_modal import QuitModal

    app = real_console(sandbox, area, rate=30)  # about 10 s for the 288 rows: time to come back
    async with app.run_test(size=(80, 24)) as pilot:
        await real_up_to_import(pilot)
        await start_import(pilot)
        await wait_for(pilot, lambda: counts(area.run_dir).get("created", 0) >= 30, what="30 rows created")
        assert busy(app) and app.state.job.pid != os.getpid()  # a worker process, not this one
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), what="the question")
        text = " ".join(screen_text(app).split())
        assert "keeps running" in text and "clerk-migrate --run" in text and "status --run" in text
        await pilot.press("enter")  # the first answer: quit, keep it running
        await wait_for(pilot, lambda: not app.is_running, what="the console to close")
    before = counts(area.run_dir)["created"]
    await wait_for_created(area, before + 10)  # the worker creates on without any console

    reopened = real_console(sandbox, area)
    async with reopened.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: reopened.state.job is not None and reopened.state.job.phase == "attached",
                       timeout=10, what="the console to attach")
        # the step comes from the run's first read (a thread), which can land after the attach
        await wait_for(pilot, lambda: reopened.state.current == "import", what="the Import step")
        await wait_for(pilot, lambda: reopened.query_one("#import-panel").display, what="the live panel")
        def drawn() -> str:
            return " ".join(screen_text(reopened).split())

        await wait_for(pilot, lambda: f"pid {reopened.state.job.pid}" in drawn() and "controls it" in drawn(),
                       what="the worker's pid and who controls it, drawn")
        await wait_settled(pilot)
        assert reopened.state.run.to_send == 0
    after = assert_no_duplicate(sandbox, area.run_dir)
    assert after["pending"] == 0 and after["creating"] == 0
    assert after["users"] == after["created"] + after["existed"] == 288
    assert sandbox.create_requests(PROD) == 288  # each row sent once


async def wait_for_created(area, n: int, timeout: float = 30.0) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while counts(area.run_dir).get("created", 0) < n:
        assert time.monotonic() < deadline, f"the worker did not reach {n} created"
        await asyncio.sleep(0.05)


async def test_pause_and_resume(sandbox, area):
    app = build(sandbox, area, rate=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await up_to_import(pilot)
        await start_import(pilot)
        await wait_for(pilot, lambda: counts(area.run_dir).get("created", 0) >= 20, what="20 created")
        await wait_for(pilot, lambda: app.focused is app.query_one("#pause"), what="the focus on Pause")
        assert app.state.job.has_control  # the console that started it controls it
        await pilot.press("p")
        await wait_for(pilot, lambda: str(app.query_one("#pause").label) == "Resume", what="the Resume button")
        await wait_for(
            pilot,
            lambda: app.state.job.snapshot.state == "paused" and app.state.job.snapshot.in_flight == 0,
            what="the pause",
        )
        held = counts(area.run_dir)
        # a paused import sends nothing: several snapshots later the journal has not moved
        seen = app.state.job.snapshot
        for _ in range(3):
            await wait_for(pilot, lambda: app.state.job.snapshot is not seen, what="a new snapshot")
            seen = app.state.job.snapshot
            assert seen.state == "paused"
        assert counts(area.run_dir) == held
        assert "Paused" in screen_text(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: counts(area.run_dir)["created"] > held["created"], what="sending again")
        await wait_settled(pilot)
        assert job_result(app).exit_code == 0
    assert assert_no_duplicate(sandbox, area.run_dir)["users"] == 288


async def test_production_import_refuses_without_the_typed_word(sandbox, area):
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await up_to_import(pilot)
        assert "type the word production" in screen_text(app).lower().replace("\n", " ") or "Type the word" in screen_text(app)
        await start_import(pilot, word="yes")
        await pilot.pause()
        assert not busy(app)
        assert "type the word production" in str(app.query_one("#import-result").render())
        app.query_one("#prod-word").value = ""
        await pilot.press("ctrl+r")  # the Start binding, with nothing typed
        await pilot.pause()
        assert not busy(app)
        assert not is_run_folder(area.run_dir)  # no journal, nothing sent
        assert sandbox.users(PROD) == [] and sandbox.create_requests(PROD) == 0


async def test_a_run_left_in_flight_is_looked_up_before_resending(sandbox, area):
    """Rows left `creating` by a killed session: the reopened run says so, and the
    resume settles them by lookup (the user made by the lost create is kept)."""
    from part2_support import synthetic_run

    rows = export_rows(area)
    synthetic_run(area, sandbox.url, pending={3, 4}, creating={2})
    # the lost create of row 2 did reach Clerk: the user carries this run's marker
    with RunJournal.open(area.run_dir, readonly=True) as journal:
        run_id = journal.info.run_id
    sandbox.seed_user(PROD, {"external_id": rows[1]["id"], "email_address": [rows[1]["email"]],
                             "private_metadata": {"clerk_migrate": {"run": run_id}},
                             "skip_password_requirement": True})
    app = build(sandbox, area)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: app.state.run is not None, what="the run")
        await pilot.pause()
        text = screen_text(app)
        assert "3 still to send" in text and "in flight when the last session ended" in text
        app.query_one("#prod-word").focus()
        await start_import(pilot)
        await wait_settled(pilot)
        with RunJournal.open(area.run_dir, readonly=True) as journal:
            assert journal.get_row(2).status == "created"
            assert journal.get_row(3).status == "created"
    ext = [u["external_id"] for u in sandbox.users(PROD)]
    assert ext.count(rows[1]["id"]) == 1


async def test_undo_of_a_rehearsal_behind_the_typed_word(sandbox, area):
    """Finish › Undo: a preview, a refusal without the word, then only the users this
    run created are deleted (the early sign-up stays)."""
    rows = export_rows(area)
    sandbox.seed_user(PROD, {"external_id": rows[0]["id"], "email_address": [rows[0]["email"]],
                             "skip_password_requirement": True})  # row 1: there before the run
    app = build(sandbox, area)
    async with app.run_test(size=(120, 36)) as pilot:
        await up_to_import(pilot)
        await start_import(pilot)
        await wait_settled(pilot)
        assert app.state.run.counts["existed"] == 1 and app.state.run.counts["created"] == 287
        app.go_to("finish")
        finish = app.pane("finish")
        await wait_for(pilot, lambda: app.query_one("#finish-tabs").display and finish.check_action("next_tab", ())
                       and app.focused is not None and finish in app.focused.ancestors, what="Finish's tabs")
        await pilot.press("ctrl+t", "ctrl+t", "ctrl+t")
        await wait_for(pilot, lambda: app.query_one("#finish-tabs").active == "tab-undo", what="the Undo tab")
        assert app.focused is app.query_one("#undo-preview")
        await pilot.press("enter")
        finish = app.pane("finish")
        await wait_until(pilot, lambda: finish.undo.preview is not None, what="the preview")
        assert finish.undo.preview.present == 287 and finish.undo.preview.existed_kept == 1
        app.query_one("#undo-word").focus()
        await pilot.press(*"yes", "enter")
        await pilot.pause()
        assert not finish.undo.undoing and "type the word undo" in str(app.query_one("#undo-outcome").render())
        assert len(sandbox.users(PROD)) == 288
        app.query_one("#undo-word").value = ""
        await pilot.press(*"undo", "enter")
        await wait_for(pilot, lambda: finish.undo.undo_result is not None, timeout=30, what="the undo")
        result = finish.undo.undo_result
        assert result.summary["deleted"] == 287 and result.exit_code == 0
        await wait_for(pilot, lambda: app.state.run.undone == 287, what="the journal re-read")
        assert app.state.step_status("finish").reason == "287 undone"
    assert [u["external_id"] for u in sandbox.users(PROD)] == [rows[0]["id"]]


async def test_plain_console_asks_for_a_run_folder(sandbox, area):
    """`clerk-migrate` without --run: the Import plan offers a run folder beside the
    export, and the import creates it there."""
    from console.settings import SecretKey, Settings
    from console.tui.app import make_app
    from console.tui.options import ConsoleOptions

    settings = Settings(SecretKey(PROD), "env", sandbox.url, False)
    app = make_app(ConsoleOptions(settings=settings, export_path=area.export, clock=lambda: 0.0, url_label=FIXED_URL,
                                  job_options=fast_jobs()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
        app.go_to("import")
        await pilot.pause()
        box = app.query_one("#run-dir")
        expected = Path(area.export).parent / "clerk-migrate-run"
        assert box.display and box.value == str(expected)
        app.query_one("#prod-word").focus()
        await start_import(pilot)
        await wait_settled(pilot)
        assert app.state.run_dir == expected and is_run_folder(expected)
        assert counts(expected)["created"] == 288


async def test_reopened_run_loads_its_export_with_its_policies(sandbox, area):
    """`--run DIR` on a run the real importer made: Load fills in the journal's export
    path and loads it with the run's policies, so Load and Review are done again and
    Review's counts are the journal's."""
    from console.migration.importer import Importer
    from console.migration.run import prepare_run
    from console.settings import SecretKey, Settings
    from console.source.model import Policies
    from console.tui.app import make_app
    from console.tui.options import ConsoleOptions

    victim = export_rows(area)[4]
    sandbox.seed_user(PROD, {"email_address": [victim["email"]], "external_id": "signed-up-early",
                             "skip_password_requirement": True})
    settings = Settings(SecretKey(PROD), "env", sandbox.url, False)
    policies = Policies(unverified_email="refuse")  # not the default: Review must take the run's
    journal = prepare_run(area.run_dir, area.export, settings, policies=policies, confirmed_production=True)
    try:
        result = await Importer(journal, settings, confirmed_production=True, rate=400, timeout=5.0).run()
    finally:
        journal.close()
    assert result.exit_code == 1  # the early sign-up's row failed
    expected = counts(area.run_dir)

    app = make_app(ConsoleOptions(settings=settings, run_dir=area.run_dir, clock=lambda: 0.0, url_label=FIXED_URL))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.run is not None,
                         what="the run's export to load")
        state = app.state
        assert state.current == "failures"
        assert app.query_one("#export-path").value == str(Path(area.export).resolve())
        assert state.policies == policies
        assert state.step_status("load").mark == "done" and state.step_status("review").mark == "done"
        report = state.report
        assert report.rows == sum(expected.values()) == 300
        assert report.refused == expected["refused"] and report.importable == state.run.importable
        assert state.run.failed == expected["failed"] == 1
        rail = str(app.query_one("#rail").get_option_at_index(1).prompt) + str(
            app.query_one("#rail").get_option_at_index(2).prompt)
        assert "✓" in rail and "300 rows" in rail and f"{report.importable:,} importable" in rail


async def test_reopened_run_whose_export_is_gone(sandbox, area):
    from part2_support import synthetic_run

    synthetic_run(area, sandbox.url)
    moved = Path(area.export).with_name("moved.json")
    Path(area.export).rename(moved)
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.load.status == "missing", what="the missing export")
        assert app.state.report is None and app.state.current == "verify"
        assert app.state.step_status("load").reason == "export not found"
        app.go_to("load")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "The run's export is not at" in text and "journal" in text
        assert app.query_one("#export-path").value.endswith("authjs-users.json")


async def test_finish_tabs_follow_keys_typed_quickly(sandbox, area):
    """ctrl+t keys arriving in one read (a terminal does that) each move one tab on,
    and the focus lands in the tab shown."""
    from textual import events

    from part2_support import synthetic_run

    synthetic_run(area, sandbox.url)
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.run is not None and app.state.current == "verify", what="the run")
        app.go_to("finish")
        await wait_until(pilot, lambda: app.focused is app.query_one("#map-path"), what="the focus in Finish")
        tabs = app.query_one("#finish-tabs")
        for presses, tab, focus in ((1, "tab-claim", "#claim-scroll"), (2, "tab-undo", "#undo-preview"),
                                    (3, "tab-app", "#app-path")):
            for _ in range(presses):
                app.post_message(events.Key("ctrl+t", None))
            await wait_until(pilot, lambda tab=tab, focus=focus: tabs.active == tab and app.focused is app.query_one(focus),
                             what=tab)
