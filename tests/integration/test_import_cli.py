"""`clerk-migrate import / retry / status` per cli-contract.md: JSON on stdout only,
one line on stderr for refusals, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.migration.journal import RunJournal
from console.sandbox import make_key

from tests.integration.engine_support import assert_guarantees, write_export

CONTRACT_FIELDS = {
    "run", "instance", "rows", "importable", "created", "existed", "failed", "refused", "pending",
    "requests", "rate_limited", "duration_s", "created_per_s",
}


@pytest.fixture
def env(monkeypatch, tmp_path: Path, sandbox):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("CLERK_SECRET_KEY", "CLERK_API_URL", "IMPORT_TO_DEV_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_API_URL", sandbox.url)

    def use(key: str, **extra: str) -> None:
        monkeypatch.setenv("CLERK_SECRET_KEY", key)
        for k, v in extra.items():
            monkeypatch.setenv(k, v)

    return use


def _json(capsys) -> tuple[dict, str]:
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.strip()]
    assert len(lines) == 1, captured.out
    return json.loads(lines[0]), captured.err


def test_import_json_then_status(tmp_path: Path, sandbox, prod_key, env, capsys):
    env(prod_key)
    export = write_export(tmp_path / "users.json", 25, bad={4})
    run = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run), "--yes", "--json", "--rate", "300"]) == 0
    summary, err = _json(capsys)
    assert CONTRACT_FIELDS <= set(summary)
    assert summary["run"] == str(run) and summary["created"] == 24 and summary["refused"] == 1
    assert "Traceback" not in err and prod_key not in err
    assert main(["status", "--run", str(run), "--json"]) == 0
    status, _ = _json(capsys)
    assert CONTRACT_FIELDS <= set(status) and status["created"] == 24
    assert status["refusals"] and "failures" in status
    assert main(["status", "--run", str(run)]) == 0
    text = capsys.readouterr().out
    assert "created 24" in text and prod_key not in text
    with RunJournal.open(run) as j:
        assert_guarantees(j, sandbox, prod_key)


def test_refusals_are_one_line_exit_2(tmp_path: Path, sandbox, prod_key, dev_key, env, capsys):
    export = write_export(tmp_path / "users.json", 5)
    env(prod_key)
    assert main(["import", str(export), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--yes" in err and len(err.strip().splitlines()) == 1 and prod_key not in err
    env(dev_key)
    assert main(["import", str(export), "--run", str(tmp_path / "run")]) == 2
    assert "IMPORT_TO_DEV_INSTANCE" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert sandbox.create_requests(prod_key) == 0 and sandbox.create_requests(dev_key) == 0
    # unreadable export
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"id\": 1, ")
    env(prod_key)
    assert main(["import", str(bad), "--run", str(tmp_path / "run"), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    # a folder that holds something else is not taken over
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    assert main(["import", str(export), "--run", str(tmp_path / "busy"), "--yes"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    # status of something that is not a run folder
    assert main(["status", "--run", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    # a journal written by a newer version
    import sqlite3

    assert main(["import", str(export), "--run", str(tmp_path / "run"), "--yes", "--json"]) == 0
    capsys.readouterr()
    con = sqlite3.connect(tmp_path / "run" / "journal.sqlite")
    con.execute("PRAGMA user_version = 99")
    con.close()
    assert main(["status", "--run", str(tmp_path / "run")]) == 2
    assert "newer" in capsys.readouterr().err


def test_failed_rows_exit_1_then_retry_by_code(tmp_path: Path, sandbox, prod_key, env, capsys):
    env(prod_key)
    export = write_export(tmp_path / "users.json", 8, passwords=False)
    holder = sandbox.seed_user(prod_key, {"external_id": "other", "email_address": ["user3@example.test"], "skip_password_requirement": True})
    run = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run), "--yes", "--json"]) == 1
    summary, err = _json(capsys)
    assert summary["failed"] == 1 and summary["created"] == 7
    assert summary["failures"][0]["code"] == "form_identifier_exists"
    assert "retry" in err
    # nothing retryable by default (a 422 needs a fix or an explicit code)
    assert main(["retry", "--run", str(run), "--json"]) == 1
    capsys.readouterr()
    # the other user goes away; retrying that code now creates the row
    import httpx

    httpx.delete(f"{sandbox.url}/v1/users/{holder['id']}", headers={"Authorization": f"Bearer {prod_key}"})
    assert main(["retry", "--run", str(run), "--code", "form_identifier_exists", "--json"]) == 0
    summary, _ = _json(capsys)
    assert summary["created"] == 8 and summary["failed"] == 0
    with RunJournal.open(run) as j:
        assert_guarantees(j, sandbox, prod_key)


def test_resume_with_another_key_is_refused(tmp_path: Path, sandbox, prod_key, env, capsys):
    env(prod_key)
    export = write_export(tmp_path / "users.json", 5)
    run = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run), "--yes", "--json"]) == 0
    capsys.readouterr()
    other = make_key("production", "someone-else")
    env(other)
    assert main(["import", str(export), "--run", str(run), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "another instance" in err and other not in err and prod_key not in err
    assert main(["retry", "--run", str(run)]) == 2
    assert "another instance" in capsys.readouterr().err


def test_a_rate_above_the_instance_limit_is_said(tmp_path: Path, sandbox, prod_key, env, capsys):
    """--rate 450 on a Production instance (1000 requests / 10 s): the import says the cap once
    on stderr, and its progress shows the pace it can hold (1000 per 10.25 s: 97.6/s), marked capped."""
    env(prod_key)
    export = write_export(tmp_path / "users.json", 30)
    assert main(["import", str(export), "--run", str(tmp_path / "run"), "--yes", "--json", "--rate", "450"]) == 0
    summary, err = _json(capsys)
    assert summary["created"] == 30
    cap = [line for line in err.splitlines() if "is above the production instance's limit" in line]
    assert len(cap) == 1 and cap[0].startswith("clerk-migrate: note: --rate 450/s") and "97.56/s sustained" in cap[0]
    assert "pace 97.6/s (capped)" in err and "pace 450" not in err  # 1000 per 10 s + the 0.25 s guard


def test_a_resume_given_one_policy_flag_keeps_the_runs_others(tmp_path: Path, sandbox, prod_key, env, capsys):
    """A run made when the default for undated emails was `verified` (before `oauth`): resuming
    it with only --plaintext compares --plaintext alone (the rest is the run's own, not today's
    defaults); another --plaintext is still refused."""
    from console.migration.run import prepare_run
    from console.settings import SecretKey, Settings
    from console.source.model import Policies

    env(prod_key)
    export = write_export(tmp_path / "users.json", 4)
    run = tmp_path / "run"
    old = Policies(unverified_email="verified", plaintext_password="refuse")  # what an older version stored
    prepare_run(run, export, Settings(SecretKey(prod_key), "env", sandbox.url, False), policies=old,
                confirmed_production=True).close()
    assert main(["import", str(export), "--run", str(run), "--yes", "--json", "--plaintext", "refuse"]) == 0
    summary, err = _json(capsys)
    assert summary["created"] == 4, err
    with RunJournal.open(run) as j:
        assert j.info.policies == {"unverified_email": "verified", "plaintext_password": "refuse"}
    assert main(["import", str(export), "--run", str(run), "--yes", "--plaintext", "send"]) == 2
    err = capsys.readouterr().err
    assert "plaintext_password=send" in err and len(err.strip().splitlines()) == 1
    assert main(["import", str(export), "--run", str(run), "--yes", "--unverified", "oauth"]) == 2
    assert "unverified_email=oauth" in capsys.readouterr().err
