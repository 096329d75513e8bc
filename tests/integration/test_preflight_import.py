"""The import runs the same preflight (issue 13 §1): rows the instance's settings would refuse are
refused at load and never sent (the sandbox's create counter proves it), fields the instance turned
off are not sent, the legal policy goes into the bodies, a resume refuses settings that changed in a
way that matters, and a 422 form_param_unknown without a parameter is named from the settings."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from console.cli import main
from console.clerk.models import InstanceSettings
from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.preflight import BodyRules
from console.migration.run import prepare_run
from console.sandbox.instance_settings import attribute, environment_json
from console.settings import SecretKey, Settings

from tests.integration.test_preflight import settings, user, write


@pytest.fixture
def cli(monkeypatch, tmp_path: Path, capsys, prod_key):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("CLERK_", "NEXT_PUBLIC_CLERK_")) or name == "IMPORT_TO_DEV_INSTANCE":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)

    def run(server, *args, fapi: bool = True):
        monkeypatch.setenv("CLERK_API_URL", server.url)
        if fapi:
            monkeypatch.setenv("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", server.publishable_key("production"))
        else:
            monkeypatch.delenv("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", raising=False)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        data = json.loads(out) if "--json" in args and out.strip() else None
        return code, data, err

    return run


def _by_ext(server, key: str) -> dict[str, dict]:
    return {u["external_id"]: u for u in server.users(key)}


@pytest.mark.parametrize("case", ["username", "phone", "password_only", "legal_column"])
def test_rows_the_instance_would_refuse_are_refused_and_never_sent(tmp_path, sandbox_factory, cli, prod_key, case):
    rows = [user(1, handle="ada_l", phone="+15555550101", termsAt="2023-01-01T00:00:00Z"),
            user(2, password=None, handle="bo_b", phone="+15555550102", termsAt="2023-01-01T00:00:00Z"),
            user(3), user(4, password=None)]
    extra: list[str] = []
    if case == "username":
        instance = settings(username=attribute(required=True, used_for_first_factor=True))
        extra, code_, refused = ["--map", "username=handle"], "username_required", {3, 4}
    elif case == "phone":
        instance = settings(phone_number=attribute(required=True, first_factors=("phone_code",)))
        extra, code_, refused = ["--map", "phone_number=phone"], "phone_required", {3, 4}
    elif case == "password_only":
        instance = settings(email_address=attribute(required=True, used_for_first_factor=True),
                            social={"oauth_google": {"enabled": False}, "oauth_github": {"enabled": False}})
        code_, refused = "password_required", {2, 4}
    else:
        instance = settings(legal=True)
        extra, code_, refused = ["--legal", "column:termsAt"], "legal_consent_missing", {3, 4}
    server = sandbox_factory(user_settings=instance)
    export = write(tmp_path / "u.json", rows)
    code, summary, err = cli(server, "import", export, "--run", tmp_path / "run", "--yes", "--json", *extra)
    assert code == 0, err
    assert summary["created"] == 2 and summary["refused"] == 2 and summary["failed"] == 0
    assert summary["refusals"] == {code_: 2} and summary["refused_by_settings"] == 2
    assert f"refused by the instance's settings: 2" in err
    # nothing was sent for the refused rows: exactly two creates reached the instance
    assert server.create_requests(prod_key) == 2
    assert set(_by_ext(server, prod_key)) == {f"u{i}" for i in {1, 2, 3, 4} - refused}
    with RunJournal.open(tmp_path / "run", readonly=True) as journal:
        refused_rows = {r.row_no: r for r in journal.iter_rows(status="refused")}
        assert set(refused_rows) == refused and all(r.error_code == code_ for r in refused_rows.values())
        stored = journal.info.settings["body_rules"]
        assert stored["checked"] and stored["digest"]
        readiness = journal.get_meta("preflight")
        assert readiness["refused_by_settings"] == 2


def test_usernames_off_the_column_is_not_sent_and_the_users_are_created(tmp_path, sandbox_factory, cli, prod_key):
    server = sandbox_factory()  # the demo instance: usernames off (a create with one is refused)
    export = write(tmp_path / "u.json", [user(i, handle=f"handle_{i}") for i in range(1, 4)])
    code, summary, err = cli(server, "import", export, "--run", tmp_path / "run", "--yes", "--json",
                             "--map", "username=handle")
    assert code == 0 and summary["created"] == 3 and summary["failed"] == 0, err
    assert err.count("usernames are turned off on the instance") == 1
    assert all(u["username"] is None for u in server.users(prod_key)) and server.create_requests(prod_key) == 3
    code, report, err = cli(server, "verify", "--run", tmp_path / "run", "--all", "--json")
    assert code == 0 and report["matched"] == 3, err  # verify expects what was sent


def test_legal_consent_without_a_policy_refuses_to_start(tmp_path, sandbox_factory, cli, prod_key):
    server = sandbox_factory(user_settings=settings(legal=True))
    export = write(tmp_path / "u.json", [user(i, accepted="2023-05-06T07:08:09.000Z") for i in range(1, 4)])
    code, summary, err = cli(server, "import", export, "--run", tmp_path / "run", "--yes", "--json")
    assert code == 2 and summary is None
    lines = [line for line in err.splitlines() if line and not line.startswith("clerk-migrate: note:")]
    assert len(lines) == 1 and "--legal skip" in lines[0] and "--legal column:NAME" in lines[0]
    assert not (tmp_path / "run").exists() and server.create_requests(prod_key) == 0
    # skip: created with skip_legal_checks
    code, summary, err = cli(server, "import", export, "--run", tmp_path / "run", "--yes", "--json", "--legal", "skip")
    assert code == 0 and summary["created"] == 3, err
    assert all(u["legal_accepted_at"] is None for u in server.users(prod_key))
    # a column: Clerk keeps each user's date
    server.reset()
    code, summary, err = cli(server, "import", export, "--run", tmp_path / "run2", "--yes", "--json",
                             "--legal", "column:accepted")
    assert code == 0 and summary["created"] == 3, err
    assert {u["legal_accepted_at"] for u in server.users(prod_key)} == {1683356889000}
    # the policy is the run's: another one on resume is refused
    code, _, err = cli(server, "import", export, "--run", tmp_path / "run2", "--yes", "--legal", "skip")
    assert code == 2 and "legal policy" in err


def test_github_off_is_said_and_the_users_are_created(tmp_path, sandbox_factory, cli, prod_key):
    server = sandbox_factory(user_settings=settings(social={"oauth_github": {"enabled": False}}))
    export = write(tmp_path / "u.json", [user(1, password=None, providers=["github"]), user(2)])
    code, summary, err = cli(server, "import", export, "--run", tmp_path / "run", "--yes", "--json")
    assert code == 0 and summary["created"] == 2
    assert "OAuth provider the instance has turned off (GitHub 1)" in err


def test_a_resume_refuses_settings_that_changed_in_a_way_that_matters(tmp_path, sandbox_factory, cli, prod_key):
    server = sandbox_factory(user_settings=settings(username=attribute(used_for_first_factor=True)))
    export = write(tmp_path / "u.json", [user(1, handle="ada_l"), user(2)])
    run = tmp_path / "run"
    code, summary, err = cli(server, "import", export, "--run", run, "--yes", "--json", "--map", "username=handle")
    assert code == 0 and summary["created"] == 2
    # a change the bodies do not depend on: recorded, the resume goes on
    server.config.user_settings = settings(username=attribute(used_for_first_factor=True),
                                           social={"oauth_github": {"enabled": False}})
    code, _, err = cli(server, "import", export, "--run", run, "--yes", "--json")
    assert code == 0, err
    with RunJournal.open(run, readonly=True) as journal:
        assert any("does not depend on" in e["message"] for e in journal.events(limit=20))
    # usernames now required: rows loaded under the old rules would be sent wrongly
    server.config.user_settings = settings(username=attribute(required=True, used_for_first_factor=True))
    for args in (("import", export, "--run", run, "--yes"), ("retry", "--run", run)):
        code, _, err = cli(server, *args)
        assert code == 2 and "settings changed since this run was checked" in err and "usernames are now required" in err
    # without a publishable key the run's own rules apply (said)
    code, _, err = cli(server, "import", export, "--run", run, "--yes", fapi=False)
    assert code == 0 and "were not read again" in err


def test_a_run_made_without_the_settings_adopts_them_and_sends_nothing_they_refuse(tmp_path, sandbox_factory, cli,
                                                                                    prod_key):
    server = sandbox_factory(user_settings=settings(username=attribute(required=True, used_for_first_factor=True)))
    export = write(tmp_path / "u.json", [user(1, handle="ada_l"), user(2)])
    app = Settings(SecretKey(prod_key), "env", server.url, False)
    run = tmp_path / "run"
    prepare_run(run, export, app, mapping={"username": "handle"}, confirmed_production=True).close()  # no rules
    code, summary, err = cli(server, "import", export, "--run", run, "--yes", "--json")
    assert code == 1 and summary["created"] == 1 and summary["failed"] == 1
    assert "started without the instance's settings" in err
    assert [f["code"] for f in summary["failures"]] == ["username_required"]
    assert server.create_requests(prod_key) == 1  # row 2 was never sent


def _rules_of(server) -> BodyRules:
    return BodyRules.from_settings(InstanceSettings.from_environment(environment_json(server.config.user_settings)))


@pytest.mark.parametrize("with_settings", [True, False])
def test_a_422_without_a_parameter_is_named_from_the_settings(tmp_path, sandbox_factory, prod_key, with_settings):
    server = sandbox_factory(user_settings=settings(username=attribute(used_for_first_factor=True)))
    export = write(tmp_path / "u.json", [user(1, handle="ada_l"), user(2, handle="bo_b")])
    app = Settings(SecretKey(prod_key), "env", server.url, False, (), None,
                   server.url if with_settings else None)
    rules = _rules_of(server)
    journal = prepare_run(tmp_path / "run", export, app, mapping={"username": "handle"}, confirmed_production=True,
                          run_settings={"body_rules": rules.as_dict()})
    # the instance's settings change after the run was checked: usernames off
    server.config.user_settings = settings()
    importer = Importer(journal, app, confirmed_production=True, rate=200, timeout=5.0)
    result = asyncio.run(importer.run())
    assert result.summary["failed"] == 2 and server.create_requests(prod_key) == 2
    failed = list(journal.iter_rows(status="failed"))
    assert {r.error_code for r in failed} == {"form_param_unknown"}
    for r in failed:
        if with_settings:
            assert r.error_param == "username"
            assert "likely username: turned off in the instance's settings" in r.error_message
            assert "they changed since" in r.error_message
        else:
            assert r.error_param is None and "username" in r.error_message
            assert "CLERK_PUBLISHABLE_KEY" in r.error_message
    journal.close()
