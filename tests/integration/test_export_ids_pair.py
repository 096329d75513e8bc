"""export-ids (issue 18 §5, issue 15 item 12): cells that start like a formula are written
as text, the map and the SQL change together or not at all (a real process killed with
SIGKILL between the two renames, and before them), stale temporaries are cleaned, and the
rows left out of the map are said with their reasons (--json, the text, the SQL header)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from console.migration.importer import Importer
from console.migration.run import prepare_run

from tests.integration.engine_support import settings_for
from tests.integration.test_verify_helpers import cli, cli_env, make_run

REPO = Path(__file__).resolve().parents[2]

# the CLI with os.replace patched to kill the process (SIGKILL) at its Nth call
KILLER = """
import os, signal, sys
from console.cli import main
n = [0]
real = os.replace
def replace(a, b):
    n[0] += 1
    if n[0] == int(os.environ["KILL_AT_REPLACE"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def _hostile_run(tmp_path: Path, server, key: str) -> Path:
    """A run whose ids and emails start like formulas, one row failed, one refused, one pending."""
    rows = [
        {"id": "=HYPERLINK(\"http://x\")", "email": "a1@example.test"},
        {"id": "+cmd", "email": "a2@example.test"},
        {"id": "-nanoid_like", "email": "=1+2@example.test"},
        {"id": "@sum", "email": "a4@example.test"},
        {"id": "plain", "email": "a5@example.test"},
        {"id": "taken", "email": "held@example.test"},  # failed: the email belongs to another user
        {"id": "bad", "email": "not-an-email"},  # refused
        {"id": "later", "email": "a8@example.test"},  # left pending
    ]
    export = tmp_path / "users.json"
    export.write_text(json.dumps(rows))
    server.seed_user(key, {"external_id": "someone", "email_address": ["held@example.test"],
                           "skip_password_requirement": True})
    settings = settings_for(server.url, key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    with journal.transaction() as c:  # row 8 stays pending: as if the import was stopped before it
        c.execute("UPDATE rows SET status = 'refused', refusal_codes = 'held_back' WHERE row_no = 8")
    asyncio.run(Importer(journal, settings, confirmed_production=True, rate=400).run())
    with journal.transaction() as c:
        c.execute("UPDATE rows SET status = 'pending', refusal_codes = NULL, error_code = NULL WHERE row_no = 8")
    counts = journal.counts()
    journal.close()
    assert (counts["created"], counts["failed"], counts["refused"], counts["pending"]) == (5, 1, 1, 1), counts
    return tmp_path / "run"


def test_cells_that_start_like_formulas_are_text(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run = _hostile_run(tmp_path, sandbox, prod_key)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "export-ids", "--run", str(run), "--out", str(tmp_path / "ids.csv"), "--json")
    assert code == 0, err
    report = json.loads(out)
    with open(tmp_path / "ids.csv", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    firsts = sorted(r[0] for r in rows)
    assert firsts == sorted(["'=HYPERLINK(\"http://x\")", "'+cmd", "'-nanoid_like", "'@sum", "plain"])
    assert any(r[2] == "'=1+2@example.test" for r in rows)
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert report["escaped"] == 5 and "leading '" in err
    # --raw: exactly the ids, for a program
    code, out, err = cli(capsys, "export-ids", "--run", str(run), "--out", str(tmp_path / "raw.csv"), "--raw", "--json")
    with open(tmp_path / "raw.csv", newline="") as fh:
        assert sorted(r[0] for r in list(csv.reader(fh))[1:]) == sorted(
            ["=HYPERLINK(\"http://x\")", "+cmd", "-nanoid_like", "@sum", "plain"])
    assert json.loads(out)["escaped"] == 0


def test_left_out_rows_and_why(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run = _hostile_run(tmp_path, sandbox, prod_key)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "export-ids", "--run", str(run), "--out", str(tmp_path / "ids.csv"),
                         "--sql", str(tmp_path / "fk.sql"), "--fk", "User.id", "--dialect", "sqlite", "--json")
    assert code == 0, err
    left = json.loads(out)["left_out"]
    assert {k: left[k] for k in ("failed", "refused", "pending", "undone", "no_external_id", "total")} == {
        "failed": 1, "refused": 1, "pending": 1, "undone": 0, "no_external_id": 0, "total": 3}
    assert [(e["row"], e["status"], e["reason"]) for e in left["examples"]] == [
        (6, "failed", "form_identifier_exists"), (7, "refused", "email_invalid"),
        (8, "pending", "not in Clerk yet (run the import again)")]
    header = (tmp_path / "fk.sql").read_text().split("BEGIN")[0]
    assert "-- Left out of the map (not in Clerk, or no id to map): 1 failed, 1 refused, 1 pending" in header
    assert "row 6 taken failed: form_identifier_exists" in header
    code, out, err = cli(capsys, "export-ids", "--run", str(run), "--out", str(tmp_path / "ids.csv"))
    assert "left out of the map: 1 failed, 1 refused, 1 pending" in out


def _killed_export(tmp_path: Path, run: Path, kill_at: int, *argv: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(PYTHONPATH=str(REPO), KILL_AT_REPLACE=str(kill_at))
    proc = subprocess.run([sys.executable, "-c", KILLER, "export-ids", "--run", str(run), *argv], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _hidden(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))


def test_the_map_and_the_sql_change_together_or_not_at_all(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run, _ = make_run(tmp_path, sandbox, prod_key, n=40)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    ids, sql = tmp_path / "ids.csv", tmp_path / "fk.sql"
    pair = ("--out", str(ids), "--sql", str(sql), "--fk", "User.id")
    code, out, err = cli(capsys, "export-ids", "--run", str(run), *pair, "--dialect", "sqlite")
    assert code == 0, err
    old = (ids.read_bytes(), sql.read_bytes())
    assert b"(sqlite)" in old[1]

    # killed before the intent record: neither file changes; its temporaries are cleaned next time
    _killed_export(tmp_path, run, 1, *pair, "--dialect", "postgresql")
    assert (ids.read_bytes(), sql.read_bytes()) == old
    assert any(".tmp" in name for name in _hidden(tmp_path))
    code, out, err = cli(capsys, "export-ids", "--run", str(run), "--out", str(tmp_path / "other.csv"))
    code, out, err = cli(capsys, "export-ids", "--run", str(run), *pair, "--dialect", "sqlite")
    assert code == 0 and _hidden(tmp_path) == [], _hidden(tmp_path)

    # killed between the two renames: the next export-ids finishes the pair first
    old = (ids.read_bytes(), sql.read_bytes())
    _killed_export(tmp_path, run, 3, *pair, "--dialect", "postgresql")
    assert sql.read_bytes() == old[1]  # the interrupted pair: a new map, the old SQL, and the intent record
    assert ".ids.csv.clerk-migrate-pair.json" in _hidden(tmp_path)
    code, out, err = cli(capsys, "export-ids", "--run", str(run), "--out", str(ids))
    assert code == 0, err
    assert "finished an export-ids that was interrupted" in err and str(sql) in err
    assert b"(postgresql)" in sql.read_bytes()  # both files are the killed command's pair now
    assert _hidden(tmp_path) == []
