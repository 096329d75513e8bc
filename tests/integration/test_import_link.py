"""`retry --link-existing` over HTTP against the sandbox (issue 15 item 17): a failed row whose
email belongs to a Clerk user made outside the run gives that user its id as external_id
(PATCH /v1/users/{id}) and becomes `existed` with that user's id, never `created` (undo keeps
it); the plan is shown first; a user with another external_id is refused, never overwritten;
a lost answer is read back before the row is journaled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from console.cli import main
from console.migration.journal import RunJournal
from console.migration.link import link_row, plan_links

from tests.integration.engine_support import settings_for, write_export


@pytest.fixture
def env(monkeypatch, tmp_path: Path, sandbox, prod_key):
    monkeypatch.chdir(tmp_path)
    for name in ("CLERK_SECRET_KEY", "CLERK_API_URL", "IMPORT_TO_DEV_INSTANCE", "CLERK_PUBLISHABLE_KEY",
                 "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "CLERK_FRONTEND_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_API_URL", sandbox.url)
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    return sandbox


def _imported(tmp_path: Path, server, key: str, capsys) -> tuple[Path, dict, dict]:
    """6 rows; user2's email held by a Clerk user without an external_id, user4's by one with another."""
    free = server.seed_user(key, {"email_address": ["user2@example.test"], "skip_password_requirement": True})
    taken = server.seed_user(key, {"external_id": "app-77", "email_address": ["user4@example.test"],
                                   "skip_password_requirement": True})
    run = tmp_path / "run"
    assert main(["import", str(write_export(tmp_path / "users.json", 6, passwords=False)), "--run", str(run),
                 "--yes", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] == 4 and summary["failed"] == 2
    return run, free, taken


def _user(server, key: str, user_id: str) -> dict:
    return next(u for u in server.users(key) if u["id"] == user_id)


def test_link_existing_plan_then_link_then_undo_keeps_the_linked_user(env, tmp_path: Path, prod_key, capsys):
    server = env
    run, free, taken = _imported(tmp_path, server, prod_key, capsys)
    # no terminal and no --yes: the plan is shown, nothing is changed
    assert main(["retry", "--run", str(run), "--link-existing"]) == 2
    err = capsys.readouterr().err
    assert "link plan: 2 failed row(s): 1 to link" in err and "pass --yes" in err
    assert f"row 2 user2@example.test -> Clerk user {free['id']} (external_id none): link" in err
    assert f"row 4 user4@example.test -> Clerk user {taken['id']} (external_id app-77): other_external_id" in err
    assert _user(server, prod_key, free["id"])["external_id"] is None
    # with --yes: linked, journaled existed with that user's id; the other one refused (exit 1)
    assert main(["retry", "--run", str(run), "--link-existing", "--yes", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["linked"], out["refused"], out["failed"]) == (1, 1, 0), out
    assert out["plan"]["to_link"] == 1
    assert _user(server, prod_key, free["id"])["external_id"] == "ck000002"
    assert _user(server, prod_key, taken["id"])["external_id"] == "app-77"  # never overwritten
    with RunJournal.open(run) as j:
        row2, row4 = j.get_row(2), j.get_row(4)
        assert (row2.status, row2.clerk_user_id) == ("existed", free["id"])
        assert row4.status == "failed"
    # status counts it among the users in Clerk; undo deletes the 4 created, keeps the linked one
    assert main(["status", "--run", str(run), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["existed"] == 1 and status["created"] == 4 and status["failed"] == 1
    assert main(["undo", "--run", str(run), "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == 4
    left = {u["id"] for u in server.users(prod_key)}
    assert left == {free["id"], taken["id"]}


def test_the_console_links_one_row_and_a_lost_answer_is_read_back(env, tmp_path: Path, prod_key, capsys):
    """The engine functions the Failures fix modal calls: plan_links(row_nos=[row]) to show what
    will happen, link_row to do it; the PATCH's answer is lost (written, then a 502): the user is
    read back and the row journaled only because Clerk holds the id."""
    server = env
    run, free, taken = _imported(tmp_path, server, prod_key, capsys)
    settings = settings_for(server.url, prod_key)
    with RunJournal.open(run) as journal:
        plan = asyncio.run(plan_links(journal, settings, row_nos=[2]))
        (item,) = plan.items
        assert (item.row, item.clerk_user_id, item.current_external_id, item.action) == (2, free["id"], None, "link")
        server.config.ambiguous_writes = True  # every write is done, and its answer lost
        server.config.ambiguous_rate = 1.0
        server.config.ambiguous_modes = ("502",)
        lost = server.stats(prod_key).get("ambiguous_502", 0)
        result = asyncio.run(link_row(journal, settings, 2, timeout=5.0))
        server.config.ambiguous_rate = 0.0
        assert server.stats(prod_key).get("ambiguous_502", 0) == lost + 1  # the PATCH's answer was lost
        assert (result.linked, result.failed) == (1, 0), result.items
        assert journal.get_row(2).status == "existed" and journal.get_row(2).clerk_user_id == free["id"]
        # the user with another external_id: refused by the plan and by the link
        plan4 = asyncio.run(plan_links(journal, settings, row_nos=[4]))
        assert plan4.items[0].action == "other_external_id"
        result4 = asyncio.run(link_row(journal, settings, 4))
        assert result4.refused == 1 and result4.exit_code == 1 and journal.get_row(4).status == "failed"
    assert _user(server, prod_key, free["id"])["external_id"] == "ck000002"
    assert _user(server, prod_key, taken["id"])["external_id"] == "app-77"


def test_a_user_given_another_id_after_the_plan_is_not_overwritten(env, tmp_path: Path, prod_key, capsys):
    import httpx

    server = env
    run, free, _taken = _imported(tmp_path, server, prod_key, capsys)
    settings = settings_for(server.url, prod_key)
    with RunJournal.open(run) as journal:
        plan = asyncio.run(plan_links(journal, settings, row_nos=[2]))
        assert plan.items[0].action == "link"
        # the app sets its own id on that user between the plan and the link
        httpx.patch(f"{server.url}/v1/users/{free['id']}", headers={"Authorization": f"Bearer {prod_key}"},
                    json={"external_id": "app-99"}).raise_for_status()
        from console.migration.link import link_rows

        result = asyncio.run(link_rows(journal, settings, plan))
        assert result.refused == 1 and result.linked == 0 and "app-99" in result.items[0]["message"]
        assert journal.get_row(2).status == "failed"
    assert _user(server, prod_key, free["id"])["external_id"] == "app-99"
