"""Enter on a row of any table shows the whole row in a modal (issue 15, item 16):
long cells are cut in the tables even at 120 columns (Review's messages, Clerk's
words in Failures, Verify's values, the App code steps)."""

from __future__ import annotations

import pytest
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.commands.demo import make_demo_app
from console.migration.verify import VerifyReport

from part2_support import fresh_area, synthetic_run, wait_for
from tui_support import FIXED_URL, screen_text, wait_until

LONG = ("the email nnguyen5@gmail.com belongs to Clerk user user_2fixedHolder000000000001 (external_id "
        "'signed-up-early'), not to this row; Clerk keeps one account per address, so fix the address or "
        "link the row to that user — the end of this message is what gets cut: TAIL-OF-THE-MESSAGE")
FAILED = {5: ("form_identifier_exists", "email_address", LONG)}


@pytest.fixture
def area(tmp_path):
    return fresh_area(tmp_path / "demo")


def modal_words(app) -> str:
    """Everything the modal holds (scrolled or not), as plain text."""
    return " ".join(str(w.render()) for w in app.screen.query(Static))


async def enter_on(pilot, table: DataTable, row: int = 0) -> None:
    table.focus()
    table.move_cursor(row=row)
    await pilot.pause()
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ModalScreen), what="a modal")


async def assert_whole_row(pilot, table: DataTable, row: int = 0) -> None:
    """Every cell of the row, whole, in the modal; the modal closes with escape."""
    app = pilot.app
    key = table.coordinate_to_cell_key((row, 0)).row_key
    cells = [str(getattr(c, "plain", c)) for c in table.get_row(key)]
    await enter_on(pilot, table, row)
    words = modal_words(app)
    for cell in cells:
        assert " ".join(cell.split()) in " ".join(words.split()), (table.id, cell)
    await pilot.press("escape")
    await pilot.pause()
    assert not isinstance(app.screen, ModalScreen)


async def test_enter_shows_the_whole_row_in_every_table(sandbox, area):
    synthetic_run(area, sandbox.url, failed=FAILED)
    app = make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.state.run is not None and app.state.load.status == "loaded"
                       and app.state.live.status == "ok", what="the reopened run")

        # Review: the codes, then a row behind a code
        app.go_to("review")
        await wait_until(pilot, lambda: app.query_one("#detail").row_count > 0, what="the rows")
        await assert_whole_row(pilot, app.query_one("#by-code", DataTable))
        await assert_whole_row(pilot, app.query_one("#detail", DataTable))

        # Failures: the code groups (Clerk's long words cut in the table, whole here)
        app.go_to("failures")
        pane = app.pane("failures")
        await wait_for(pilot, lambda: len(pane.rows) == 1, what="the failed row")
        assert "TAIL-OF-THE-MESSAGE" not in screen_text(app)  # cut at 120 columns
        await assert_whole_row(pilot, app.query_one("#groups", DataTable), row=1)
        # a failed row: its detail and fix form, with everything the row holds
        rows = app.query_one("#fail-rows", DataTable)
        rec = pane.rows[0]
        await enter_on(pilot, rows)
        await wait_until(pilot, lambda: "external_id" in str(app.screen.query_one("#fix-sent").render()), what="the body")
        words = " ".join(modal_words(app).split())
        for value in (rec.external_id, rec.email, str(rec.row_no), rec.status, " ".join(LONG.split())):
            assert value in words, value
        await pilot.press("escape")

        # Verify: a difference whose values are long
        verify = app.pane("verify")
        expected = "Zoë-" + "x" * 150 + "-END-OF-EXPECTED"
        entry = {"row": 12, "external_id": "ext-12", "clerk_user_id": "user_fixed00012", "status": "created",
                 "field": "first_name", "expected": expected, "found": "Zoe"}
        verify.report = VerifyReport(checked=1, matched=0, mismatched=[entry], missing=[], clerk_total=288,
                                     expected_total=288, seed=1, sample=1, mismatched_users=1,
                                     mismatched_fields=1, missing_count=0)
        verify._entries = [("mismatch", entry)]
        verify._fill_table()
        app.go_to("verify")
        await pilot.pause()
        await assert_whole_row(pilot, app.query_one("#verify-table", DataTable))
        await enter_on(pilot, app.query_one("#verify-table", DataTable))
        assert "user_fixed00012" in modal_words(app)  # what the table has no room for
        await pilot.press("escape")

        # Finish › App code: a step of the guide (before any scan: the guide's own steps)
        app.go_to("finish")
        app.query_one("#finish-tabs").active = "tab-app"
        await pilot.pause()
        await assert_whole_row(pilot, app.query_one("#checklist", DataTable), row=2)
