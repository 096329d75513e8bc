"""Failures: a failed row linked to the Clerk user holding its email (issue 15 item 17),
and the first / last page keys (issue 17 §1), through the console with Pilot against the
sandbox over HTTP. The plan is read from Clerk and shown before anything is changed; the
link itself is a `link` job in a worker process of its own; assertions are on the
sandbox's users and the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.commands.demo import make_demo_app
from console.migration.journal import RunJournal
from console.sandbox import make_key
from console.tui.screens.fix_modal import RowFixModal
from console.tui.screens.link_modal import LinkModal

from part2_support import busy, export_rows, fast_jobs, fresh_area, synthetic_run, wait_for
from tui_support import FIXED_URL, screen_text

PROD = make_key("production", "demo")
TAKEN = ("form_identifier_exists", "email_address", "That email address is taken. Please try another.")


@pytest.fixture
def area(tmp_path):
    return fresh_area(tmp_path / "demo")


def build(sandbox, area):
    return make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0, job_options=fast_jobs())


def user(sandbox, user_id: str) -> dict:
    return next(u for u in sandbox.users(PROD) if u["id"] == user_id)


def row(run_dir: Path, row_no: int):
    with RunJournal.open(run_dir, readonly=True) as journal:
        return journal.get_row(row_no)


async def on_failures(pilot, rows: int) -> None:
    app = pilot.app
    pane = app.pane("failures")
    await wait_for(pilot, lambda: app.state.current == "failures" and len(pane.rows) == rows
                   and app.state.live.status == "ok", what="the failed rows")
    await pilot.pause()


def footer(app) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


async def plan_shown(pilot) -> LinkModal:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, LinkModal)
                   and (app.screen.item is not None or app.screen.error is not None), what="the link plan")
    await pilot.pause()  # the plan drawn
    modal = app.screen
    assert modal.error is None, modal.error
    return modal


async def test_link_shows_the_plan_then_links_the_row_in_a_worker(sandbox, area):
    victim = export_rows(area)[4]  # row 5: someone signed up early with its address, no external_id
    holder = sandbox.seed_user(PROD, {"email_address": [victim["email"]], "skip_password_requirement": True})
    synthetic_run(area, sandbox.url, failed={5: TAKEN, 9: ("unknown_outcome", None, "no answer")})
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_failures(pilot, 2)
        pane = app.pane("failures")
        assert pane.rows[0].row_no == 5 and app.focused is app.query_one("#fail-rows")
        await wait_for(pilot, lambda: "l Link to user" in footer(app), what="l in the footer")  # at 80 columns

        # from the fix form: ctrl+l shows the plan; nothing is changed by reading it; escape
        await pilot.press("enter")
        assert isinstance(app.screen, RowFixModal)
        assert "ctrl+l" in str(app.screen.query_one("#fix-link-hint").render())
        await pilot.press("ctrl+l")
        modal = await plan_shown(pilot)
        text = " ".join(str(modal.query_one("#link-plan").render()).split())
        assert f"Clerk user {holder['id']} holds {victim['email']}" in text
        assert "its external_id now: none" in text
        assert f"gets the external_id '{victim['id']}'" in text and f"row 5 becomes existed" in text
        assert not modal.query_one("#link").disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LinkModal), what="the plan to close")
        assert app.state.job is None and user(sandbox, holder["id"])["external_id"] is None
        assert row(area.run_dir, 5).status == "failed"

        # from the table: l, the plan, enter on the focused Link button: a link job in a worker
        await pilot.press("l")
        modal = await plan_shown(pilot)
        assert app.focused is modal.query_one("#link")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.state.job is not None and app.state.job.kind == "link", what="the job")
        await wait_for(pilot, lambda: not busy(app) and app.state.job.result is not None, timeout=60,
                       what="the link job's end")
        assert app.state.job.mine and app.state.job.pid not in (None, 0)  # a worker process, not this one
        assert app.state.job.result.exit_code == 0, app.state.job.result
        await wait_for(pilot, lambda: pane.rows and pane.rows[0].status == "existed", what="the row to turn existed")
        assert user(sandbox, holder["id"])["external_id"] == victim["id"]
        linked = row(area.run_dir, 5)
        assert (linked.status, linked.clerk_user_id) == ("existed", holder["id"])
        assert row(area.run_dir, 9).status == "failed"  # only the chosen row
        await wait_for(pilot, lambda: "existed ✓" in screen_text(app), what="the row drawn as existed")
        await wait_for(pilot, lambda: app.state.run.failed == 1, what="the figures re-read")


async def test_a_holder_with_another_external_id_is_refused_and_nothing_is_sent(sandbox, area):
    victim = export_rows(area)[4]
    holder = sandbox.seed_user(PROD, {"email_address": [victim["email"]], "external_id": "app-77",
                                      "skip_password_requirement": True})
    before = user(sandbox, holder["id"])
    synthetic_run(area, sandbox.url, failed={5: TAKEN})
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_failures(pilot, 1)
        await pilot.press("l")
        modal = await plan_shown(pilot)
        text = " ".join(str(modal.query_one("#link-plan").render()).split())
        assert "its external_id now: app-77" in text
        assert "Not linked:" in text and "already has the external_id 'app-77'" in text
        assert modal.query_one("#link").disabled and app.focused is modal.query_one("#cancel")
        await pilot.press("ctrl+l")  # refused: the key does nothing
        await pilot.pause()
        assert isinstance(app.screen, LinkModal)
        await pilot.press("enter")  # Cancel has the focus
        await wait_for(pilot, lambda: not isinstance(app.screen, LinkModal), what="the plan to close")
        assert app.state.job is None  # no job started
        assert user(sandbox, holder["id"]) == before
        assert row(area.run_dir, 5).status == "failed"


async def test_link_key_only_for_a_row_another_user_holds(sandbox, area):
    synthetic_run(area, sandbox.url, failed={5: TAKEN, 9: ("form_param_format_invalid", "first_name", "bad")})
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_failures(pilot, 2)
        await wait_for(pilot, lambda: "Link to user" in footer(app), what="l in the footer")
        await pilot.press("down")  # row 9: not an email held by someone
        await wait_for(pilot, lambda: "e Detail / fix  space" in footer(app), what="the footer without l")
        assert "Link to user" not in footer(app)
        await pilot.press("l")
        await pilot.pause()
        assert not isinstance(app.screen, LinkModal)
        await pilot.press("enter")
        assert isinstance(app.screen, RowFixModal) and not app.screen.query("#link")


async def test_first_and_last_page_keys(sandbox, area):
    rows = {n: ("unknown_outcome", None, f"no answer {n}") for n in range(1, 301)}
    synthetic_run(area, sandbox.url, failed=rows)
    with RunJournal.open(area.run_dir, readonly=True) as journal:
        failed = [r.row_no for r in journal.iter_rows(status="failed")]
    assert len(failed) > 200  # three pages of 100
    app = build(sandbox, area)
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.pane("failures")
        await wait_for(pilot, lambda: app.state.current == "failures" and len(pane.rows) == 100, what="the first page")
        assert [r.row_no for r in pane.rows] == failed[:100]
        await wait_for(pilot, lambda: "[]{} Pages" in footer(app), what="the page keys in the footer")

        await pilot.press("right_curly_bracket")  # }: the last page
        await wait_for(pilot, lambda: pane.rows and pane.rows[-1].row_no == failed[-1], what="the last page")
        assert [r.row_no for r in pane.rows] == failed[-100:]
        assert "last page" in str(app.query_one("#fail-page-info").render())
        await pilot.press("left_square_bracket")  # [: the page before it
        await wait_for(pilot, lambda: pane.rows and pane.rows[-1].row_no == failed[-101], what="the page before")
        assert [r.row_no for r in pane.rows] == failed[-200:-100]
        assert "1 before the last" in str(app.query_one("#fail-page-info").render())
        await pilot.press("left_curly_bracket")  # {: the first page
        await wait_for(pilot, lambda: pane.rows and pane.rows[0].row_no == failed[0], what="the first page again")
        assert [r.row_no for r in pane.rows] == failed[:100]
        assert str(app.query_one("#fail-page-info").render()).startswith("page 1")
        await pilot.press("right_square_bracket", "right_square_bracket")  # ] ]: the third page is the last
        await wait_for(pilot, lambda: pane.rows and pane.rows[0].row_no == failed[200], what="the third page")
        assert [r.row_no for r in pane.rows] == failed[200:]
        assert "last page" in str(app.query_one("#fail-page-info").render())


async def test_a_link_job_that_ends_before_the_console_attaches_still_reports_its_result(sandbox, area,
                                                                                         monkeypatch):
    """A one-row link can end before a slow (loaded) console reaches the worker's socket
    (CI saw it: the console then waited for a result that never came). The console that
    started the worker takes the result from the worker's last heartbeat. Made certain
    here: the console attaches only once the worker has let go of the run."""
    from console.migration import control
    from console.migration.status import lock_holder

    real_attach = control.attach
    late = []

    async def attach_after_the_end(run_dir, **kwargs):
        import asyncio

        while lock_holder(run_dir) is not None:  # the worker still holds the run
            await asyncio.sleep(0.02)
        late.append(run_dir)
        return await real_attach(run_dir, **kwargs)

    monkeypatch.setattr(control, "attach", attach_after_the_end)
    victim = export_rows(area)[4]
    holder = sandbox.seed_user(PROD, {"email_address": [victim["email"]], "skip_password_requirement": True})
    synthetic_run(area, sandbox.url, failed={5: TAKEN})
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_failures(pilot, 1)
        await pilot.press("l")
        await plan_shown(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.state.job is not None and app.state.job.kind == "link", what="the job")
        await wait_for(pilot, lambda: not busy(app), timeout=60, what="the link job's end")
        assert late, "the console attached while the worker still ran"
        result = app.state.job.result
        assert result is not None and not app.state.job.lost
        assert (result.kind, result.exit_code) == ("link", 0), result
        assert app.state.results["link"] is result
        await wait_for(pilot, lambda: pane_rows(app) and pane_rows(app)[0].status == "existed",
                       what="the row to turn existed")
        assert user(sandbox, holder["id"])["external_id"] == victim["id"]


def pane_rows(app):
    return app.pane("failures").rows
