"""Load, issues 12 §2 and 13 §3, at 80x24 by keys: a MongoDB export (mongoexport)
read natively with its accounts file beside it (the OAuth providers joined, so the
email rule verifies the OAuth users); a column the checks leave out kept as the
engine suggests with one key; any target of `--map` typed as TARGET=COLUMN (→
completes it), checked by the engine, then applied."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import DataTable, Input, Select

from console.settings import SecretKey, Settings
from console.source import validate_export
from console.tui.app import make_app
from console.tui.options import ConsoleOptions

from tui_support import screen_text, wait_until

REPO = Path(__file__).resolve().parents[2]
MONGO = REPO / "tests/data/mongo"  # mongoexport output of the Auth.js MongoDB adapter (README there says whence)


def app_for(sandbox_server, export: Path):
    settings = Settings(SecretKey("sk_live_" + "d" * 40), "env", sandbox_server.url)
    return make_app(ConsoleOptions(settings=settings, export_path=export, clock=lambda: 0.0))


def mongo_files(tmp_path: Path) -> tuple[Path, Path]:
    users = shutil.copy(MONGO / "users.relaxed.ndjson", tmp_path / "users.ndjson")
    accounts = shutil.copy(MONGO / "accounts.relaxed.ndjson", tmp_path / "accounts.ndjson")
    return Path(users), Path(accounts)


async def test_a_mongoexport_with_its_accounts_file(sandbox_server, tmp_path):
    users, accounts = mongo_files(tmp_path)
    truth = validate_export(users, accounts=accounts)
    alone = validate_export(users)
    assert truth.email_verification["verified_by_oauth"] > alone.email_verification["verified_by_oauth"]
    app = app_for(sandbox_server, users)
    async with app.run_test(size=(80, 24)) as pilot:
        app.go_to("load")
        await pilot.pause()
        await pilot.press("tab", "tab", "tab")  # export path -> Load -> Browse -> the accounts file
        assert app.focused is app.query_one("#accounts-path")
        await pilot.press(*str(accounts), "enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
        report = app.state.report
        assert app.state.load.shape == "mongodb" and app.state.load.accounts == accounts
        assert report.accounts["users"] == truth.accounts["users"]
        assert report.email_verification == truth.email_verification
        summary = " ".join(str(app.query_one("#load-summary").render()).split())
        assert f"{truth.accounts['rows']} rows, the OAuth providers of {truth.accounts['users']} users joined" in summary
        assert "MongoDB adapter" in " ".join(screen_text(app).split())


async def test_a_column_not_imported_is_kept_with_one_key(sandbox_server, tmp_path):
    users, _ = mongo_files(tmp_path)
    app = app_for(sandbox_server, users)
    async with app.run_test(size=(80, 24)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
        table = app.query_one("#unknown-cols", DataTable)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert rows["role"] == "public_metadata.role"
        table.focus()
        table.move_cursor(row=list(rows).index("role"))
        await pilot.press("enter")  # the one key
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.load.mapping, what="the re-load")
        assert app.state.load.mapping == {"public_metadata.role": "role"}
        left = {i.field for i in app.state.report.issues if i.code == "unknown_column"}
        assert "role" not in left and "loginCount" in left
        table = app.query_one("#unknown-cols", DataTable)
        assert "role" not in {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        # the mapping is listed; the file loaded again keeps it
        pairs = app.query_one("#map-pairs", DataTable)
        assert [str(c) for c in pairs.get_row_at(0)] == ["public_metadata.role", "role"]
        app.query_one("#export-path").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the same file again")
        assert app.state.load.mapping == {"public_metadata.role": "role"}


async def test_any_target_typed_with_completion_checked_and_applied(sandbox_server, tmp_path):
    export = tmp_path / "custom.csv"
    export.write_text("user_key,mail,phone,handle,plan\n"
                      "k1,ada@example.com,+1 (555) 555-0100,ada_l,pro\n"
                      "k2,bob@example.com,555-0101,bobby,free\n")
    app = app_for(sandbox_server, export)
    async with app.run_test(size=(80, 24)) as pilot:
        app.go_to("load")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.load.status == "needs_mapping", what="the mapping form")
        # the new plain targets have their select; phone_number among them
        assert app.query_one("#map-phone_number", Select) is not None
        app.query_one("#map-id", Select).value = "user_key"
        app.query_one("#map-email", Select).value = "mail"
        box = app.query_one("#map-pair", Input)
        box.focus()
        await pilot.press(*"phone_n", "right")  # → completes the target …
        assert box.value == "phone_number"
        await pilot.press(*"=ph", "right")  # … then the column
        assert box.value == "phone_number=phone"
        await pilot.press("enter")
        await pilot.press(*"username=handle", "enter")
        await pilot.press(*"public_metadata.billing.plan=plan", "enter")
        # refused in place, in the engine's words: an unknown target, a column the file lacks
        await pilot.press(*"bogus=plan", "enter")
        assert "unknown field 'bogus'" in str(app.query_one("#map-error").render())
        box.value = ""
        await pilot.press(*"private_metadata.x=nope", "enter")
        assert "no column 'nope'" in str(app.query_one("#map-error").render())
        box.value = ""
        pairs = app.query_one("#map-pairs", DataTable)
        assert pairs.row_count == 3
        app.query_one("#apply-mapping").press()
        await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the mapped load")
        assert app.state.load.mapping == {"id": "user_key", "email": "mail", "phone_number": "phone",
                                          "username": "handle", "public_metadata.billing.plan": "plan"}
        report = app.state.report
        # bob's number has no country code: refused with the engine's reason; ada's imports
        assert report.importable == 1 and any(i.code == "phone_invalid" for i in report.issues)
        assert not any(i.code == "unknown_column" for i in report.issues)
        # once loaded, the whole mapping is the list; delete takes one out (Apply then loads without it)
        pairs = app.query_one("#map-pairs", DataTable)
        assert pairs.row_count == 5
        pairs.focus()
        pairs.move_cursor(row=4)
        await pilot.press("delete")
        assert pairs.row_count == 4
        app.query_one("#apply-mapping").press()
        await wait_until(pilot, lambda: app.state.load.status == "loaded" and "public_metadata.billing.plan"
                         not in (app.state.load.mapping or {}), what="the load without it")
        assert any(i.code == "unknown_column" and i.field == "plan" for i in app.state.report.issues)
