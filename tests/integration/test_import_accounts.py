"""`import --accounts FILE` over HTTP against the sandbox: the run records the accounts
file (path and sha256) and every later step reads the export with it (the feed), so the
email-verification default, the fingerprints, verify and the sync see the same providers;
a resume refuses a changed accounts file with one line, like a changed export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.migration.feed import run_accounts
from console.migration.journal import RunJournal


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows))
    return path


def _users(n: int) -> list[dict]:
    # no emailVerified date anywhere: the `oauth` default verifies a user only when an OAuth
    # account is known for it, and reserves the address otherwise
    return [{"id": f"u{i:03d}", "name": f"User Number{i}", "email": f"user{i}@example.test", "emailVerified": None,
             "createdAt": "2022-05-06T07:08:09.000Z"} for i in range(1, n + 1)]


def _accounts(ids: list[str]) -> list[dict]:
    # Auth.js Account rows (Prisma adapter's columns), tokens included: they are parsed past
    return [{"userId": i, "type": "oauth", "provider": "github", "providerAccountId": f"gh-{i}",
             "access_token": f"gho_secret_{i}"} for i in ids]


@pytest.fixture
def env(monkeypatch, tmp_path: Path, sandbox, prod_key):
    monkeypatch.chdir(tmp_path)
    for name in ("CLERK_SECRET_KEY", "CLERK_API_URL", "IMPORT_TO_DEV_INSTANCE", "CLERK_PUBLISHABLE_KEY",
                 "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "CLERK_FRONTEND_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_API_URL", sandbox.url)
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    return sandbox


def _verified(server, key: str) -> dict[str, str]:
    out = {}
    for u in server.users(key):
        addr = u["email_addresses"][0]
        out[u["external_id"]] = (addr.get("verification") or {}).get("status") or "none"
    return out


def test_the_accounts_file_is_recorded_and_read_by_every_step(env, tmp_path: Path, prod_key, capsys):
    server = env
    export = _write(tmp_path / "users.json", _users(6))
    accounts = _write(tmp_path / "accounts.json", _accounts(["u002", "u004"]))
    run = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run), "--yes", "--json", "--accounts", str(accounts)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] == 6
    with RunJournal.open(run, readonly=True) as j:
        path, sha = run_accounts(j.info)
        assert path == str(accounts.resolve()) and sha and len(sha) == 64
    # the OAuth users' addresses went verified, the others reserved (unverified)
    status = _verified(server, prod_key)
    assert {k for k, v in status.items() if v == "verified"} == {"u002", "u004"}, status
    # the tokens of the accounts file never reach Clerk nor the journal
    assert "gho_secret" not in json.dumps(server.users(prod_key))
    assert b"gho_secret" not in b"".join(p.read_bytes() for p in run.iterdir() if p.is_file())
    # verify reads the export with the same accounts: every user matches
    assert main(["verify", "--run", str(run), "--all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] == 6 and report["matched"] == 6 and report["mismatched"] == []
    # the same command again resumes (nothing left to send) with the run's own accounts file
    assert main(["import", str(export), "--run", str(run), "--yes", "--json", "--accounts", str(accounts)]) == 0
    capsys.readouterr()
    assert main(["import", str(export), "--run", str(run), "--yes", "--json"]) == 0  # the run's own
    capsys.readouterr()
    # the same bytes elsewhere: accepted, and the run reads it from there from now on
    moved = tmp_path / "moved-accounts.json"
    moved.write_bytes(accounts.read_bytes())
    assert main(["import", str(export), "--run", str(run), "--yes", "--json", "--accounts", str(moved)]) == 0
    capsys.readouterr()
    with RunJournal.open(run, readonly=True) as j:
        assert run_accounts(j.info)[0] == str(moved.resolve())
    creates = server.create_requests(prod_key)
    # the accounts file changed in place: refused with one line, nothing sent, by import, retry and verify
    _write(moved, _accounts(["u001", "u002", "u004"]))
    for argv in (["import", str(export), "--run", str(run), "--yes"], ["retry", "--run", str(run)],
                 ["verify", "--run", str(run), "--all"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "accounts file changed" in err and len(err.strip().splitlines()) == 1, (argv, err)
    # gone: said as such
    moved.unlink()
    assert main(["import", str(export), "--run", str(run), "--yes"]) == 2
    assert "accounts file of this run is not there" in capsys.readouterr().err
    assert server.create_requests(prod_key) == creates


def test_a_run_without_an_accounts_file_refuses_one_on_resume(env, tmp_path: Path, prod_key, capsys):
    server = env
    export = _write(tmp_path / "users.json", _users(3))
    accounts = _write(tmp_path / "accounts.json", _accounts(["u001"]))
    run = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run), "--yes", "--json"]) == 0
    capsys.readouterr()
    assert set(_verified(server, prod_key).values()) == {"unverified"}  # reserved: no OAuth account known
    assert main(["import", str(export), "--run", str(run), "--yes", "--accounts", str(accounts)]) == 2
    err = capsys.readouterr().err
    assert "without an accounts file" in err and len(err.strip().splitlines()) == 1


def test_sync_with_accounts_works_on_a_run_imported_with_them(env, tmp_path: Path, prod_key, capsys):
    server = env
    rows = _users(5)
    export = _write(tmp_path / "t0.json", rows)
    accounts = _write(tmp_path / "a0.json", _accounts(["u001"]))
    run = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run), "--yes", "--json", "--accounts", str(accounts)]) == 0
    capsys.readouterr()
    # later: u003 linked GitHub too, and a new user u006 came with an account
    t1 = _write(tmp_path / "t1.json", rows + [{**_users(6)[5]}])
    a1 = _write(tmp_path / "a1.json", _accounts(["u001", "u003", "u006"]))
    # a sync without the accounts file of the new export: refused (every OAuth user would change)
    assert main(["sync", "--run", str(run), str(t1), "--yes"]) == 2
    assert "--accounts" in capsys.readouterr().err
    assert main(["sync", "--run", str(run), str(t1), "--yes", "--json", "--accounts", str(a1)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] == 1 and summary["updated"] == 1 and summary["unchanged"] == 4, summary
    status = _verified(server, prod_key)
    assert {k for k, v in status.items() if v == "verified"} == {"u001", "u003", "u006"}, status
    with RunJournal.open(run, readonly=True) as j:
        assert run_accounts(j.info)[0] == str(a1.resolve())
    # the run now reads the new export with the new accounts file: verify matches every user
    assert main(["verify", "--run", str(run), "--all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["matched"] == 6 and report["mismatched"] == []
