"""undo after a sync, over HTTP against the sandbox: users this run created that a later
export no longer has (kept, or banned, by the sync) left the journal's `rows` for
`sync_items`; undo still reads them back and deletes those carrying the run's marker, never
the users that were there before; status says what undo would still delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main


def _users(ids: list[int]) -> list[dict]:
    return [{"id": f"u{i:03d}", "name": f"User Number{i}", "email": f"user{i}@example.test",
             "emailVerified": "2023-01-02T03:04:05.000Z", "createdAt": "2022-05-06T07:08:09.000Z"} for i in ids]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture
def env(monkeypatch, tmp_path: Path, sandbox, prod_key):
    monkeypatch.chdir(tmp_path)
    for name in ("CLERK_SECRET_KEY", "CLERK_API_URL", "IMPORT_TO_DEV_INSTANCE", "CLERK_PUBLISHABLE_KEY",
                 "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "CLERK_FRONTEND_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_API_URL", sandbox.url)
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    return sandbox


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])


def test_undo_deletes_the_runs_users_a_sync_removed_and_keeps_the_others(env, tmp_path: Path, prod_key, capsys):
    server = env
    # u006 was in Clerk before the run (no marker): `existed`, never deleted
    server.seed_user(prod_key, {"external_id": "u006", "email_address": ["user6@example.test"],
                                "skip_password_requirement": True})
    run = tmp_path / "run"
    assert main(["import", str(_write(tmp_path / "t0.json", _users([1, 2, 3, 4, 5, 6]))), "--run", str(run),
                 "--yes", "--json"]) == 0
    first = _json(capsys)
    assert first["created"] == 5 and first["existed"] == 1
    # T1: u002 (created) and u006 (existed) gone from the export: kept in Clerk, out of the journal's rows
    assert main(["sync", "--run", str(run), str(_write(tmp_path / "t1.json", _users([1, 3, 4, 5]))),
                 "--yes", "--json"]) == 0
    assert _json(capsys)["removed"] == 2
    # T2: u003 gone too, banned this time
    assert main(["sync", "--run", str(run), str(_write(tmp_path / "t2.json", _users([1, 4, 5]))),
                 "--yes", "--json", "--removed", "ban"]) == 0
    assert _json(capsys)["banned"] == 1
    assert len(server.users(prod_key)) == 6
    # status says what undo would delete: the 3 rows, and the 2 users the syncs removed (u006 is not ours)
    assert main(["status", "--run", str(run), "--json"]) == 0
    status = _json(capsys)
    assert status["undo"]["left"] == 5 and status["undo"]["removed_by_sync"] == 2, status["undo"]
    assert status["sync_last"]["sync"] == 2 and status["sync_last"]["removed"] == 1
    assert main(["status", "--run", str(run)]) == 0
    text = capsys.readouterr().out
    assert "last sync 2" in text and "2 of them removed from the export by a sync" in text
    # undo: every user this run created goes, the removed ones included; the one that was there stays
    assert main(["undo", "--run", str(run), "--yes", "--json"]) == 0
    result = _json(capsys)
    assert result["deleted"] == 5 and result["failed"] == 0 and result["kept"] == 0, result
    assert [u["external_id"] for u in server.users(prod_key)] == ["u006"]
    # nothing left: a second undo says so, status counts them undone
    assert main(["undo", "--run", str(run), "--yes", "--json"]) == 0
    assert _json(capsys)["to_delete"] == 0
    assert main(["status", "--run", str(run), "--json"]) == 0
    status = _json(capsys)
    assert status["undo"]["left"] == 0 and status["undo"]["undone"] == 5 and status["undo"]["last"]["deleted"] == 5


def test_a_removed_user_without_the_runs_marker_is_kept(env, tmp_path: Path, prod_key, capsys):
    """The journal's word is not enough: a user the sync removed whose Clerk copy lost the marker
    (unmarked by hand, say) is read back and kept, and said."""
    import httpx

    server = env
    run = tmp_path / "run"
    assert main(["import", str(_write(tmp_path / "t0.json", _users([1, 2, 3]))), "--run", str(run), "--yes",
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["sync", "--run", str(run), str(_write(tmp_path / "t1.json", _users([1, 3]))), "--yes", "--json"]) == 0
    capsys.readouterr()
    u2 = next(u for u in server.users(prod_key) if u["external_id"] == "u002")
    httpx.patch(f"{server.url}/v1/users/{u2['id']}/metadata", headers={"Authorization": f"Bearer {prod_key}"},
                json={"private_metadata": {"clerk_migrate": None}}).raise_for_status()
    assert main(["undo", "--run", str(run), "--yes", "--json"]) == 0
    result = _json(capsys)
    assert result["deleted"] == 2 and result["kept"] == 1
    assert result["kept_rows"][0]["clerk_user_id"] == u2["id"] and result["kept_rows"][0]["row"] is None
    assert [u["external_id"] for u in server.users(prod_key)] == ["u002"]
