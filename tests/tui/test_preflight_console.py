"""The console's parts of issue 13: Review's Readiness tab (the export against the instance's own
settings, served by the sandbox's Frontend API) with the legal-consent choice, the console's import
using the same rules, and Verify's "Sign in as…" with a masked password field; snapshots at 80x24
and 120x36."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import bcrypt
import pytest

from console.commands.demo import DemoArea, make_demo_app
from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.run import prepare_run
from console.sandbox.instance_settings import attribute, merge_user_settings
from console.settings import Settings

from part2_support import choose_key, fresh_area, production_key, start_import, wait_for, wait_settled
from tui_support import FIXED_URL, fixed_clock, screen_text, wait_until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
STRICT = {"attributes": {"last_name": attribute(False)}, "social": {"oauth_github": {"enabled": False}},
          "sign_up": {"legal_consent_enabled": True}}
PASSWORD = "correct horse bcrypt 1"


@pytest.fixture
def strict_sandbox(sandbox_factory):
    """An instance whose settings matter: legal consent required, GitHub sign-in off, last names off."""
    return sandbox_factory(user_settings=merge_user_settings(STRICT))


@pytest.fixture
def area(tmp_path, monkeypatch) -> DemoArea:
    monkeypatch.chdir(tmp_path)  # relative paths: reproducible snapshots
    fresh_area(Path("demo"))
    return DemoArea(Path("demo"), Path("demo/authjs-users.json"), Path("demo/run"))


def app_for(server, area):
    return make_demo_app(server.url, area, url_label=FIXED_URL, clock=fixed_clock)


def steady(app) -> None:
    from textual.widgets import Input

    for box in app.screen.query(Input):
        box.cursor_blink = False


async def to_readiness(pilot) -> None:
    app = pilot.app
    await choose_key(pilot, 0)
    app.go_to("load")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
    await wait_until(pilot, lambda: app.state.readiness_status == "done", what="the readiness")
    app.go_to("review")
    await pilot.pause()
    await pilot.press("r")
    await pilot.pause()
    steady(app)


@pytest.mark.parametrize("size", SIZES)
def test_review_readiness(snap_compare, strict_sandbox, area, size):
    assert snap_compare(app_for(strict_sandbox, area), terminal_size=size, run_before=to_readiness)


async def test_readiness_legal_choice_and_the_import_uses_the_rules(strict_sandbox, area):
    app = app_for(strict_sandbox, area)
    async with app.run_test(size=(120, 36)) as pilot:
        await to_readiness(pilot)
        r = app.state.readiness
        codes = {f.code: f for f in r.findings if f.source == "settings"}
        assert {"last_name_turned_off", "oauth_provider_off"} <= set(codes)
        assert codes["oauth_provider_off"].by and set(codes["oauth_provider_off"].by) == {"GitHub"}
        assert [b["code"] for b in r.blockers] == ["legal_policy_missing"]
        assert ("legal consent" in [short for short, _ in app.state.import_blockers()])
        text = screen_text(app)
        assert "legal consent required" in text and "Legal consent: choose how to import it" in text
        # the column choice: a column the export does not have refuses every row
        assert app.focused is app.query_one("#legal-policy")
        await pilot.press("down", "enter")
        assert app.focused is app.query_one("#legal-column")
        await pilot.press(*"termsAcceptedAt", "enter")
        await wait_until(pilot, lambda: app.state.readiness_status == "done" and app.state.legal == "column:termsAcceptedAt",
                         what="the column policy")
        r = app.state.readiness
        assert r.refused_by_settings == r.importable_by_export and not r.blockers
        # skip: every row fits, nothing blocks the import for legal consent
        app.query_one("#legal-policy").focus()
        await pilot.press("up", "enter")
        await wait_until(pilot, lambda: app.state.legal == "skip" and app.state.readiness_status == "done",
                         what="the skip policy")
        assert app.state.readiness.refused_by_settings == 0 and not app.state.readiness.blockers
        assert "legal consent" not in [short for short, _ in app.state.import_blockers()]
        # the console's import keeps the same rules and sends what they allow
        app.go_to("import")
        await pilot.pause()
        await start_import(pilot)
        await wait_settled(pilot)
        users = strict_sandbox.users(production_key().reveal())
        assert len(users) == app.state.readiness.importable
        assert all(u["last_name"] is None for u in users)  # last names are off: not sent
        with RunJournal.open(area.run_dir, readonly=True) as journal:
            rules = journal.info.settings["body_rules"]
            assert rules["legal"] == "skip" and rules["checked"] and "last_name" in rules["turned_off"]


# ----------------------------------------------------------------------------- sign in as…
def signed_area(area: DemoArea, server) -> DemoArea:
    """The area's export with a bcrypt user of a known password, imported for real."""
    rows = json.loads(Path(area.export).read_text())
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    rows[0] = {**rows[0], "email": "ada@example.test", "password": digest, "name": "Ada Lovelace",
               "emailVerified": "2023-01-01T00:00:00.000Z"}
    Path(area.export).write_text(json.dumps(rows))
    settings = Settings(production_key(), "prompt", server.url, False)
    journal = prepare_run(area.run_dir, area.export, settings, confirmed_production=True)
    try:
        result = asyncio.run(Importer(journal, settings, confirmed_production=True, rate=500).run())
        assert result.exit_code == 0
    finally:
        journal.close()
    return area


async def open_sign_in(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.state.run is not None and app.state.current == "verify", what="the run")
    await wait_for(pilot, lambda: app.state.load.status == "loaded", what="the run's export")
    await pilot.press("i")
    await wait_for(pilot, lambda: app.screen.query("#sign-in-email"), what="the sign-in form")
    await pilot.press(*"ada@example.test", "enter")


async def answered(pilot) -> None:
    await wait_for(pilot, lambda: not pilot.app.screen.checking and pilot.app.screen.result is not None,
                   what="Clerk's answer")


@pytest.mark.parametrize("size", SIZES)
def test_verify_sign_in(snap_compare, sandbox, area, size):
    signed_area(area, sandbox)

    async def run_before(pilot):
        await open_sign_in(pilot)
        await pilot.press(*"not the password", "enter")
        await answered(pilot)
        await pilot.press(*"typed again")  # shown masked
        steady(pilot.app)
        await pilot.pause()

    assert snap_compare(app_for(sandbox, area), terminal_size=size, run_before=run_before)


async def test_sign_in_right_and_wrong_and_the_password_is_never_shown(sandbox, area):
    await asyncio.to_thread(signed_area, area, sandbox)
    app = app_for(sandbox, area)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sign_in(pilot)
        modal = app.screen
        await pilot.press(*PASSWORD)
        assert PASSWORD not in screen_text(app) and "•" * 8 in screen_text(app)  # masked while typed
        await pilot.press("enter")
        await answered(pilot)
        assert modal.result.verified and "✓ Verified" in screen_text(app)
        assert modal.query_one("#sign-in-password").value == ""  # not kept in the field
        modal.result = None
        await pilot.press(*"wrong password 42", "enter")
        await answered(pilot)
        text = screen_text(app)
        assert not modal.result.verified and "Not verified" in text and "bcrypt" in text
        assert PASSWORD not in text and "wrong password 42" not in text
        await pilot.press("escape")
        assert app.screen is not modal
    journal_bytes = b"".join(p.read_bytes() for p in Path(area.run_dir).iterdir() if p.name.startswith("journal"))
    assert PASSWORD.encode() not in journal_bytes and b"wrong password 42" not in journal_bytes
