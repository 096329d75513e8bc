"""Pilot tests: the demo console driven Setup -> Load -> Review against the
sandbox, asserting on the engine's state (the report, the chosen policies)."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Input, Static

from console.settings import SecretKey, Settings
from console.source import validate_export
from console.source.model import Policies
from console.tui.app import make_app
from console.tui.options import ConsoleOptions
from console.tui.screens.error_modal import ErrorModal
from console.tui.screens.review import PAGE_SIZE

from tui_support import SAMPLE_ROWS, screen_text, wait_until


async def choose_demo_key(pilot, index: int) -> None:
    app = pilot.app
    radio = app.query_one("#demo-keys")
    radio.focus()
    await pilot.pause()
    start = max(radio.pressed_index, 0)  # the focused set highlights the pressed button
    for _ in range(abs(index - start)):
        await pilot.press("down" if index > start else "up")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.live.status in ("ok", "failed", "unavailable"), what="the live check")


async def load_suggested_export(pilot) -> None:
    app = pilot.app
    await pilot.press("ctrl+n")
    assert app.state.current == "load"
    assert app.focused is app.query_one("#export-path", Input)
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.load.status in ("loaded", "failed"), what="the load")


async def test_demo_setup_load_review_against_the_sandbox(demo_app, demo_area):
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        # Setup: nothing chosen yet, the rail says so
        assert app.state.settings.secret_key is None
        assert app.state.step_status("setup").mark == "open"
        await choose_demo_key(pilot, 0)
        assert app.state.instance_kind == "production"
        assert app.state.live.status == "ok", app.state.live.message
        assert app.state.live.user_count == 0
        assert app.state.step_status("setup").mark == "done"
        text = screen_text(app)
        assert "PRODUCTION" in text and "sk_live_…" in text
        assert app.state.settings.secret_key.reveal() not in text

        # Load: the suggested export, detected and checked in a thread worker
        await load_suggested_export(pilot)
        report = app.state.report
        assert app.state.load.status == "loaded", app.state.load.error
        assert report.rows == SAMPLE_ROWS
        assert app.state.load.format == "json" and app.state.load.shape == "prisma"
        truth = validate_export(demo_area.export, instance_kind="production")
        assert (report.importable, report.refused, report.warned) == (truth.importable, truth.refused, truth.warned)

        # Review: one summary line per code, the detail of the first code
        await pilot.press("ctrl+n")
        assert app.state.current == "review"
        summary = app.query_one("#by-code", DataTable)
        codes = {code for code, _ in report.by_code}
        assert summary.row_count == len(codes)
        await wait_until(pilot, lambda: app.query_one("#detail", DataTable).row_count > 0, what="the detail page")

        # a policy chosen here re-runs the engine's checks, with its effect shown
        before = app.state.report_counts()
        app.query_one("#review-tabs").active = "tab-policies"
        await pilot.pause()
        radio = app.query_one("#policy-unverified")
        radio.focus()
        await pilot.press("down", "down", "enter")  # "Refuse these rows"
        await wait_until(pilot, lambda: app.state.policies.unverified_email == "refuse", what="the policy")
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.report is not report, what="the re-check")
        expected = validate_export(
            demo_area.export, policies=Policies(unverified_email="refuse"), instance_kind="production"
        )
        assert app.state.report.refused == expected.refused
        assert app.state.report.importable == expected.importable
        assert app.state.previous_counts == before
        if expected.refused != before["refused"]:
            assert "Effect of the last change" in str(app.query_one("#effect", Static).render())

        # moving on from Review confirms it; Import is ready on Production
        await pilot.press("ctrl+n")
        assert app.state.current == "import"
        assert app.state.step_status("review").mark == "done"
        assert app.state.step_status("import").mark == "open"


async def test_the_chosen_key_reads_without_colour(demo_app):
    """The chosen instance is marked by a character, not only by a colour."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        lines = [line for line in screen_text(app).splitlines() if "-style" in line]
        assert len(lines) == 2 and not any("●" in line for line in lines)
        await choose_demo_key(pilot, 1)
        lines = [line for line in screen_text(app).splitlines() if "-style" in line]
        assert ["●" in line for line in lines] == [False, True], lines


async def test_development_key_shows_the_guard_and_the_cap(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await choose_demo_key(pilot, 1)
        assert app.state.instance_kind == "development"
        text = screen_text(app)
        assert "IMPORT_TO_DEV_INSTANCE" in text and "100 users" in text
        await load_suggested_export(pilot)
        assert any(b.code == "dev_instance_cap" for b in app.state.report.blockers)
        status = app.state.step_status("import")
        assert status.mark == "blocked" and status.reason == "dev import is off"
        # the switch lifts the guard for the session; the cap still blocks
        app.go_to("setup")
        await pilot.pause()
        app.query_one("#dev-allow").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.settings.allow_dev_import, what="the switch")
        assert app.state.step_status("import").reason == "over the dev cap"
        app.go_to("review")
        await pilot.pause()
        assert "Blocks the import" in screen_text(app)

        # switching to Production re-checks the export for that instance: no cap
        app.go_to("setup")
        await pilot.pause()
        await choose_demo_key(pilot, 0)
        await wait_until(pilot, lambda: app.state.report is not None and app.state.report_instance_kind == "production", what="the re-check")
        assert app.state.report.blockers == []


async def test_a_markup_like_value_renders_literally(sandbox_server, tmp_path):
    export = tmp_path / "users.json"
    rows = [
        {"id": "[bold]x", "name": "[bold]x [red]y", "email": "not-an-email", "emailVerified": None},
        {"id": "u2", "name": "Ada Lovelace", "email": "ada@example.com", "emailVerified": "2024-01-01T00:00:00Z"},
    ]
    export.write_text(json.dumps(rows))
    settings = Settings(SecretKey("sk_live_" + "a" * 40), "env", sandbox_server.url)
    app = make_app(ConsoleOptions(settings=settings, export_path=export, clock=lambda: 0.0))
    async with app.run_test(size=(120, 36)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
        app.go_to("review")
        table = app.query_one("#by-code", DataTable)
        table.move_cursor(row=table.get_row_index("email_invalid"))
        await wait_until(pilot, lambda: app.query_one("#page-info", Static).render() and app.query_one("#detail", DataTable).row_count == 1, what="the detail")
        await pilot.pause()
        assert "[bold]x" in screen_text(app)
        # the row detail too
        app.query_one("#detail").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "[bold]x" in screen_text(app)


async def test_unreadable_file_is_explained_in_place(demo_app, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('[{"id": "1", "email": "a@b.co"}, {"id": ')
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.go_to("load")
        box = app.query_one("#export-path", Input)
        box.value = str(bad)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "failed", what="the failure")
        error = app.query_one("#load-error", Static)
        assert error.display
        assert "broken.json" in str(error.render())
        assert not isinstance(app.screen, ErrorModal)  # in place, not a modal
        assert app.state.step_status("review").mark == "blocked"


async def test_a_worker_error_lands_in_a_modal(demo_app, monkeypatch):
    import console.tui.app as tui_app

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(tui_app, "validate_export", boom)
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await load_suggested_export(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal), what="the modal")
        assert "simulated failure" in screen_text(app)
        assert "What to do" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ErrorModal)
        assert app.is_running


async def test_review_pages_the_detail_rows(sandbox_server, tmp_path):
    export = tmp_path / "many.json"
    rows = [{"id": f"u{n}", "name": "A B", "email": "bad-email", "emailVerified": None} for n in range(PAGE_SIZE + 50)]
    export.write_text(json.dumps(rows))
    settings = Settings(SecretKey("sk_live_" + "b" * 40), "env", sandbox_server.url)
    app = make_app(ConsoleOptions(settings=settings, export_path=export, clock=lambda: 0.0))
    async with app.run_test(size=(120, 36)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
        app.go_to("review")
        table = app.query_one("#by-code", DataTable)
        table.move_cursor(row=table.get_row_index("email_invalid"))
        detail = app.query_one("#detail", DataTable)
        await wait_until(pilot, lambda: detail.row_count == PAGE_SIZE, what="page 1")
        detail.focus()
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: detail.row_count == 50, what="page 2")
        assert "page 2/2" in str(app.query_one("#page-info", Static).render())
        # the filter narrows the rows, still through the index
        app.query_one("#filter", Input).value = "u249"
        await wait_until(pilot, lambda: detail.row_count == 1, what="the filter")


async def test_pasted_key_is_masked_and_keyring_absence_is_said(sandbox_server, monkeypatch):
    import console.tui.app as tui_app
    from console.settings import KeyringUnavailable

    def no_keyring(key):
        raise KeyringUnavailable("no OS keyring backend is available on this host")

    monkeypatch.setattr(tui_app, "save_to_keyring", no_keyring)
    settings = Settings(None, None, sandbox_server.url)
    app = make_app(ConsoleOptions(settings=settings, clock=lambda: 0.0))
    secret = "sk_test_" + "Zq9" * 12 + "wxyz"
    async with app.run_test(size=(120, 36)) as pilot:
        box = app.query_one("#key-input", Input)
        assert box.password
        box.focus()
        box.value = secret
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.live.status in ("ok", "failed"), what="the live check")
        assert app.state.settings.key_source == "prompt"
        assert box.value == ""
        text = screen_text(app)
        assert secret not in text and "sk_test_…wxyz" in text and "DEVELOPMENT" in text
        app.query_one("#save-keyring").press()
        await wait_until(pilot, lambda: "Not saved" in str(app.query_one("#keyring-note", Static).render()), what="the keyring note")
        assert "no OS keyring" in screen_text(app)


async def test_live_check_refused_url_is_said_in_place(sandbox_server):
    def refuses(settings):
        raise ValueError("http:// is only allowed on loopback")  # what the client says of a bad base URL

    settings = Settings(SecretKey("sk_live_" + "c" * 40), "env", sandbox_server.url)
    app = make_app(ConsoleOptions(settings=settings, client_factory=refuses, clock=lambda: 0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.live.status == "failed", what="the live check")
        assert "only allowed on loopback" in app.state.live.message
        assert not isinstance(app.screen, ErrorModal)


async def test_run_dir_is_recorded_and_shown(tmp_path):
    settings = Settings(None, None, "https://api.clerk.com")
    app = make_app(ConsoleOptions(settings=settings, run_dir=tmp_path, auto_live_check=False))
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        assert app.state.run_dir == tmp_path
        assert str(tmp_path) in screen_text(app)  # in Setup, in full
        assert "run /tmp" in screen_text(app)  # and in the header


async def test_report_csv_goes_through_the_engine_writer(demo_app, tmp_path):
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await load_suggested_export(pilot)
        app.go_to("review")
        await pilot.press("ctrl+s")
        await pilot.pause()
        box = app.screen.query_one("#save-path", Input)
        box.value = str(tmp_path / "report.csv")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "report.csv").exists(), what="the CSV")
        lines = (tmp_path / "report.csv").read_text().splitlines()
        assert len(lines) == len(app.state.report.issues) + 1


async def test_help_and_palette_commands(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert "the operator console" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Step 3: Review" in commands and "Run the live check" in commands
        for binding in app.BINDINGS:
            assert binding.description  # every binding says what it does


def test_help_lists_the_keys_of_every_step():
    """The help names every key a step binds, under that step's name, and both docs."""
    from console.tui.screens import PANES
    from console.tui.screens.fix_modal import RowFixModal
    from console.tui.screens.modals import HELP
    from console.tui.state import STEP_TITLES

    words = {"left_square_bracket": "[", "right_square_bracket": "]", "left_curly_bracket": "{",
             "right_curly_bracket": "}"}
    lines = {line.split("**")[1]: line for line in HELP.replace("\n  ", " ").splitlines() if line.startswith("- **")}
    for step, pane in PANES.items():
        line = lines[STEP_TITLES[step]]
        bindings = list(pane.BINDINGS) + (list(RowFixModal.BINDINGS) if step == "failures" else [])
        for binding in bindings:
            for key in binding.key.split(","):
                assert f"`{words.get(key, key)}`" in line, (step, key)
    assert "docs/console.md" in HELP and "docs/console-import.md" in HELP


def test_demo_command_runs_and_cleans_up(monkeypatch, tmp_path):
    from console.cli import main
    from console.tui.app import ConsoleApp

    seen = {}

    def fake_run(self, *args, **kwargs):
        seen["url"] = self.state.settings.base_url
        seen["export"] = self.state.suggested_export
        seen["keys"] = [c.key.instance_kind for c in self.state.key_choices]
        return 0

    monkeypatch.setattr(ConsoleApp, "run", fake_run)
    assert main(["demo", "--rows", "50"]) == 0
    assert seen["url"].startswith("http://127.0.0.1:")
    assert seen["keys"] == ["production", "development"]
    assert not seen["export"].exists()  # the temporary area is gone


async def test_unknown_columns_get_a_mapping_form(sandbox_server, tmp_path):
    from textual.widgets import Select

    export = tmp_path / "custom.csv"
    export.write_text("user_key,mail,full_name\nk1,ada@example.com,Ada Lovelace\nk2,bob@example.com,Bob Stone\n")
    settings = Settings(SecretKey("sk_live_" + "d" * 40), "env", sandbox_server.url)
    app = make_app(ConsoleOptions(settings=settings, export_path=export, clock=lambda: 0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "needs_mapping", what="the mapping form")
        assert app.state.load.columns == ["user_key", "mail", "full_name"]
        assert app.query_one("#mapping").display
        app.query_one("#map-id", Select).value = "user_key"
        app.query_one("#map-email", Select).value = "mail"
        app.query_one("#map-name", Select).value = "full_name"
        app.query_one("#apply-mapping").press()
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the mapped load")
        assert app.state.load.mapping == {"id": "user_key", "email": "mail", "name": "full_name"}
        assert app.state.report.shape == "mapped" and app.state.report.importable == 2


async def test_review_filter_finds_a_row_by_its_email_id_and_name(demo_app):
    """The filter matches the row's email, external id and name, not only the words
    of the issue (issue 15, item 11): a full address that no message contains."""
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await load_suggested_export(pilot)
        app.go_to("review")
        detail = app.query_one("#detail", DataTable)
        await wait_until(pilot, lambda: detail.row_count > 0, what="the rows")
        pane = app.pane("review")
        # a user whose issue is under another code than the highlighted one
        issue = next(i for i in app.state.report.issues
                     if i.email and i.name and i.email.lower() not in i.message.lower()
                     and i.name.lower() not in i.message.lower() and i.code != pane.code)
        box = app.query_one("#filter", Input)
        for needle in (issue.email, issue.name.upper(), issue.external_id):
            box.value = needle
            await wait_until(pilot, lambda: any(i.row == issue.row for i in pane._detail_rows), what=needle)
            assert all(needle.lower() in " ".join(filter(None, (i.email, i.name, i.external_id, i.message))).lower()
                       for i in pane._detail_rows)
            assert "all codes" in str(app.query_one("#page-info", Static).render())
        # the row's detail names its email and name
        detail.focus()
        detail.move_cursor(row=[i.row for i in pane._detail_rows].index(issue.row))
        await pilot.press("enter")
        await pilot.pause()
        assert issue.email in screen_text(app) and issue.name in screen_text(app)
