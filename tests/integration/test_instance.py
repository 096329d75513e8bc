"""Issue 13 §2: the instance, not the key (GET /v1/instance recorded in the journal; a
rotated key of the same instance resumes, verifies and undoes the run; another instance is
refused; an old journal keeps the key's fingerprint as its rule), and the Development cap
(one number, --dev-cap, corrected from Clerk's own quota answer). Over HTTP to the sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.run import RunRefused, prepare_run
from console.sandbox import make_key
from console.settings import DEV_USER_CAP

from tests.integration.engine_support import assert_guarantees, settings_for, write_export
from tests.integration.test_verify_helpers import cli, cli_env


def test_a_rotated_key_resumes_verifies_and_undoes_the_run(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    export = write_export(tmp_path / "users.json", 40)
    run = tmp_path / "run"
    settings = settings_for(sandbox.url, prod_key)
    journal = prepare_run(run, export, settings, confirmed_production=True)
    importer = Importer(journal, settings, confirmed_production=True, rate=400)

    def stop_at_20(p) -> None:
        if p.created >= 20:
            importer.stop()

    importer.on_progress = stop_at_20
    importer.progress_interval_s = 0.0
    first = asyncio.run(importer.run())
    assert first.exit_code == 130
    assert journal.info.instance_id == sandbox.instance_id(prod_key)
    assert journal.info.instance_env == "production"
    journal.close()

    rotated = sandbox.rotate_key(prod_key)  # the key rolled in the dashboard: same instance, another key
    cli_env(monkeypatch, tmp_path, sandbox, rotated)
    code, out, err = cli(capsys, "import", str(export), "--run", str(run), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["created"] == 40
    with RunJournal.open(run) as j:
        assert_guarantees(j, sandbox, prod_key)
        assert j.info.key_masked.endswith(rotated[-4:])  # the journal names the key it was last used with
        assert any("a rotated key" in e["message"] for e in j.events(100))
    code, out, err = cli(capsys, "verify", "--run", str(run), "--all", "--json")
    assert code == 0 and json.loads(out)["matched"] == 40, err
    # the original key still works too (Clerk keeps both during a roll-over)
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    code, out, err = cli(capsys, "verify", "--run", str(run), "--sample", "5", "--json")
    assert code == 0, err
    # another instance is refused, naming both instances, and nothing but GET /v1/instance goes there
    other = make_key("production", "someone-else")
    monkeypatch.setenv("CLERK_SECRET_KEY", other)
    for argv in (("import", str(export), "--run", str(run), "--yes"), ("verify", "--run", str(run), "--all"),
                 ("undo", "--run", str(run), "--yes"), ("unmark", "--run", str(run), "--yes")):
        code, out, err = cli(capsys, *argv)
        assert code == 2 and "another instance" in err and sandbox.instance_id(prod_key) in err, (argv, err)
    assert sandbox.stats(other)["requests"] == 4 and sandbox.users(other) == []
    # a Development key is refused before any request (another kind of instance)
    monkeypatch.setenv("CLERK_SECRET_KEY", make_key("development", "tests"))
    code, out, err = cli(capsys, "verify", "--run", str(run), "--all")
    assert code == 2 and "another instance" in err
    monkeypatch.setenv("CLERK_SECRET_KEY", rotated)
    code, out, err = cli(capsys, "undo", "--run", str(run), "--yes", "--json")
    assert code == 0 and json.loads(out)["deleted"] == 40, err
    assert sandbox.users(prod_key) == []


def test_a_run_made_before_instance_ids_keeps_the_key_rule(tmp_path: Path, sandbox, prod_key):
    """A journal without an instance id: another key is refused by its fingerprint, before
    any request, even a rotated one; the run's own key records the instance at its next
    session, and from then on a rotated key is accepted."""
    export = write_export(tmp_path / "users.json", 6)
    settings = settings_for(sandbox.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    assert journal.info.instance_id is None  # recorded at the first session, not at the load
    journal.close()
    rotated = sandbox.rotate_key(prod_key)
    with pytest.raises(RunRefused, match="another instance"):
        prepare_run(tmp_path / "run", export, settings_for(sandbox.url, rotated), confirmed_production=True)
    assert sandbox.stats(rotated) == {}
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    asyncio.run(Importer(journal, settings, confirmed_production=True, rate=400).run())
    assert journal.info.instance_id == sandbox.instance_id(prod_key)
    journal.close()
    journal = prepare_run(tmp_path / "run", export, settings_for(sandbox.url, rotated), confirmed_production=True)
    result = asyncio.run(Importer(journal, settings_for(sandbox.url, rotated), confirmed_production=True).run())
    assert result.exit_code == 0 and result.summary["created"] == 6
    journal.close()


# ----------------------------------------------------------------- the Development cap
def test_the_dev_cap_is_one_number_overridable_and_corrected_by_clerk(tmp_path: Path, sandbox_factory, dev_key,
                                                                     monkeypatch, capsys):
    assert DEV_USER_CAP == 100
    server = sandbox_factory(dev_user_cap=5)  # this instance holds 5 users: Clerk says so when full
    export = write_export(tmp_path / "users.json", 8)
    cli_env(monkeypatch, tmp_path, server, dev_key)  # IMPORT_TO_DEV_INSTANCE=true
    # --dev-cap 3: refused before any create, saying where the number comes from
    code, out, err = cli(capsys, "import", str(export), "--run", str(tmp_path / "a"), "--dev-cap", "3")
    assert code == 2 and "at most 3 (as --dev-cap says)" in err and "3 more fit, this run has 8" in err
    assert server.stats(dev_key).get("create_requests", 0) == 0
    # the default (100) lets it start; Clerk's quota answer names 5: kept, and the stop says so
    code, out, err = cli(capsys, "import", str(export), "--run", str(tmp_path / "b"), "--json")
    assert code == 2, err
    assert "Clerk says it holds at most 5 users" in err and json.loads(out)["created"] == 5
    with RunJournal.open(tmp_path / "b") as j:
        assert j.get_meta("dev_cap")["limit"] == 5
    # the next session knows it before sending anything (and --dev-cap does not override Clerk's word)
    before = server.stats(dev_key)["create_requests"]
    code, out, err = cli(capsys, "import", str(export), "--run", str(tmp_path / "b"), "--dev-cap", "50")
    assert code == 2 and "at most 5 (as Clerk said in its quota answer)" in err and "0 more fit" in err
    assert server.stats(dev_key)["create_requests"] == before
