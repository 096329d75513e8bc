"""Finish at 80x24, by keys (issue 15, items 7, 9 and 13): the SQL file is named
after its dialect and never written over without a yes; the app-code step's files
and lines are reachable from the keyboard; Undo's confirm field takes the focus
once the preview is shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.commands.demo import make_demo_app

from part2_support import fresh_area, synthetic_run, wait_for
from tui_support import FIXED_URL, region_text, screen_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def area(tmp_path):
    return fresh_area(tmp_path / "demo")


async def open_finish(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.state.run is not None and app.state.live.status == "ok"
                   and app.state.current == "verify", what="the reopened run")
    app.go_to("finish")
    await pilot.pause()
    assert app.focused is app.query_one("#map-path")


def build(sandbox, area, **options):
    synthetic_run(area, sandbox.url)
    return make_demo_app(sandbox.url, area, url_label=FIXED_URL, clock=lambda: 0.0, **options)


async def test_sql_file_per_dialect_and_asked_before_writing_over(sandbox, area):
    app = build(sandbox, area)
    run_dir = Path(area.run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_finish(pilot)
        ids = app.pane("finish").ids
        sql_path = app.query_one("#sql-path", Input)
        assert sql_path.value == str(run_dir / "fk-postgres.sql")
        app.query_one("#fk-columns").focus()
        await pilot.press(*"Post.authorId", "ctrl+s")
        await wait_for(pilot, lambda: ids.sql_result is not None, what="the PostgreSQL script")
        postgres = (run_dir / "fk-postgres.sql").read_text()
        assert '"Post"' in postgres

        # another dialect: another file, chosen by keys; the PostgreSQL script stays
        app.query_one("#fk-dialect").focus()
        await pilot.press("enter", "down", "down", "enter")
        await wait_for(pilot, lambda: sql_path.value.endswith("fk-sqlite.sql"), what="the SQLite name")
        ids.sql_result = None
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: ids.sql_result is not None, what="the SQLite script")
        assert (run_dir / "fk-sqlite.sql").is_file()
        assert (run_dir / "fk-postgres.sql").read_text() == postgres

        # the same file again: asked first; no keeps it as it was
        (run_dir / "fk-sqlite.sql").write_text("-- edited by hand\n")
        ids.sql_result = None
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), what="the question")
        assert "fk-sqlite.sql" in " ".join(screen_text(app).split())
        await pilot.press("enter")  # the focused answer is "Keep it"
        await wait_for(pilot, lambda: not isinstance(app.screen, ModalScreen), what="the answer")
        await pilot.pause()
        assert (run_dir / "fk-sqlite.sql").read_text() == "-- edited by hand\n" and ids.sql_result is None
        assert "kept as it was" in str(app.query_one("#sql-outcome").render())
        # yes writes over it
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), what="the question again")
        await pilot.press("shift+tab", "enter")  # "Write over it"
        await wait_for(pilot, lambda: ids.sql_result is not None, what="the script written over")
        assert "COMMIT" in (run_dir / "fk-sqlite.sql").read_text()

        # a name the operator typed stays when the dialect changes
        sql_path.value = str(run_dir / "my-own.sql")
        app.query_one("#fk-dialect").focus()
        await pilot.press("enter", "up", "enter")
        await pilot.pause()
        assert sql_path.value == str(run_dir / "my-own.sql")


async def test_app_code_files_and_lines_reachable_by_keys_at_80x24(sandbox, area, tmp_path, monkeypatch):
    shutil.copytree(REPO / "tests/fixtures/apps/app-router", tmp_path / "app")
    app = build(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_finish(pilot)
        await pilot.press("ctrl+t", "ctrl+t")
        await wait_for(pilot, lambda: app.focused is app.query_one("#app-path"), what="the App code tab")
        await pilot.press(*str(tmp_path / "app"), "enter")
        code = app.pane("finish").app_code
        await wait_for(pilot, lambda: code.scan is not None, what="the scan")
        # the step with the most files and lines
        by_step = code.scan.by_step()
        key = max(by_step, key=lambda k: len(by_step[k]))
        findings = by_step[key]
        assert len(findings) >= 5
        keys = [item.key for item in code.scan.checklist]
        app.query_one("#checklist").focus()
        await pilot.press(*["down"] * keys.index(key))
        await pilot.pause()
        last = f"{findings[-1].file}:{findings[-1].line}"

        # tab into the detail, then the arrows reach the last file and line
        await pilot.press("tab")
        detail = app.query_one("#step-detail-scroll")
        assert app.focused is detail
        await pilot.press("end")
        await pilot.pause()
        assert last in region_text(app, detail.region)

        # enter on the step: all of it in a modal
        app.query_one("#checklist").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), what="the step's modal")
        shown = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert all(f"{f.file}:{f.line}" in shown for f in findings)
        await pilot.press("escape")


async def test_undo_confirm_field_is_focused_once_the_preview_shows(sandbox, area):
    app = build(sandbox, area, job_options={"undo": {"rate": 400}})
    async with app.run_test(size=(80, 24)) as pilot:
        await open_finish(pilot)
        await pilot.press("ctrl+t", "ctrl+t", "ctrl+t")
        await wait_for(pilot, lambda: app.focused is app.query_one("#undo-preview"), what="the Undo tab")
        await pilot.press("enter")
        undo = app.pane("finish").undo
        await wait_for(pilot, lambda: undo.preview is not None, what="the preview")
        await pilot.pause()
        assert app.focused is app.query_one("#undo-word")
        await pilot.press(*"und")  # typed straight away, no tab
        assert app.query_one("#undo-word", Input).value == "und"
