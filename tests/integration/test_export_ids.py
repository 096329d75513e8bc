"""export-ids on runs made by the real importer: the CSV, and the SQL run against
real SQLite databases (and PostgreSQL, on a throwaway cluster, when it can run)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_verify_helpers import cli, cli_env, ext_id, make_newer, make_run


def _app_db(path: Path, ids: list[str]) -> Path:
    """An app database as Prisma makes it for SQLite: User, Account and the app's own Post,
    whose foreign keys hold the Auth.js ids."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE "User" ("id" TEXT NOT NULL PRIMARY KEY, "email" TEXT);
        CREATE TABLE "Account" ("id" INTEGER PRIMARY KEY, "userId" TEXT NOT NULL,
            CONSTRAINT "Account_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE);
        CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "title" TEXT, "author Id" TEXT,
            CONSTRAINT "Post_author_fkey" FOREIGN KEY ("author Id") REFERENCES "User" ("id") ON UPDATE CASCADE);
        """
    )
    conn.executemany('INSERT INTO "User" ("id") VALUES (?)', [(i,) for i in ids])
    conn.executemany('INSERT INTO "Account" ("userId") VALUES (?)', [(i,) for i in ids[::2]])
    conn.executemany('INSERT INTO "Post" ("title", "author Id") VALUES (?, ?)',
                     [(f"post {n}", ids[n % len(ids)]) for n in range(3 * len(ids))] + [("anonymous", None)])
    conn.commit()
    conn.close()
    return path


def _dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in ("User", "Account", "Post")}
    finally:
        conn.close()


def test_csv_is_every_created_or_existed_row(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    existed = sandbox.seed_user(prod_key, {"external_id": ext_id(6), "email_address": ["user6@example.test"],
                                           "skip_password_requirement": True})
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=20, bad={3, 11},
                          fixes={5: {"email": "fixed5@example.test"}})
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    out_csv = tmp_path / "out" / "map.csv"
    out_csv.parent.mkdir()
    code, out, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(out_csv))
    assert code == 0, err
    assert "wrote 18 ids" in out and "17 created, 1 already there" in out
    # the other option, on stderr
    assert '{"userId": "{{user.external_id || user.id}}"}' in err and "sessionClaims.userId" in err
    assert "auth().userId stays Clerk's own id" in err
    with out_csv.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["external_id", "clerk_user_id", "email"]
    by_ext = {u["external_id"]: u["id"] for u in sandbox.users(prod_key)}
    body = rows[1:]
    assert [r[0] for r in body] == [ext_id(i) for i in range(1, 21) if i not in (3, 11)]
    assert all(r[1] == by_ext[r[0]] for r in body)
    assert dict((r[0], r[2]) for r in body)[ext_id(5)] == "fixed5@example.test"
    assert dict((r[0], r[1]) for r in body)[ext_id(6)] == existed["id"]
    assert stat.S_IMODE(os.stat(out_csv).st_mode) == 0o600
    # --json: the same figures, the claim and the app-code steps
    code, out, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(out_csv), "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rows"] == 18 and obj["existed"] == 1 and obj["sql"] is None
    assert obj["session_claim"]["claim"] == {"userId": "{{user.external_id || user.id}}"}
    assert any("clerkMiddleware()" in s["clerk"] for s in obj["app_code"])


def test_sqlite_script_rewrites_the_foreign_keys(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=30, bad={9})
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    ids = [ext_id(i) for i in range(1, 31) if i != 9]
    db = _app_db(tmp_path / "app.db", ids)
    sql = tmp_path / "fk.sql"
    code, out, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"),
                         "--sql", str(sql), "--dialect", "sqlite",
                         "--fk", "Account.userId", "--fk", "main.Post.author Id", "--fk", "User.id")
    assert code == 0, err
    assert "sqlite3 -bail" in out
    script = sql.read_text()
    assert '"main"."Post"."author Id"' in script and stat.S_IMODE(os.stat(sql).st_mode) == 0o600
    before = _dump(db)
    conn = sqlite3.connect(db)
    conn.executescript(script)
    conn.close()
    after = _dump(db)
    new = {u["external_id"]: u["id"] for u in sandbox.users(prod_key)}
    assert [r[0] for r in after["User"]] == sorted(new[i] for i in ids)
    assert [(r[0], new[r[1]]) for r in before["Account"]] == after["Account"]
    assert [(r[0], r[1], new[r[2]] if r[2] else None) for r in before["Post"]] == after["Post"]
    # a second run changes nothing and does not fail
    conn = sqlite3.connect(db)
    conn.executescript(script)
    conn.close()
    assert _dump(db) == after


def test_sqlite_script_aborts_when_a_row_cannot_be_mapped(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=12, bad={4})
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    db = _app_db(tmp_path / "app.db", [ext_id(i) for i in range(1, 13)])  # row 4 was refused: not in Clerk
    sql = tmp_path / "fk.sql"
    code, out, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"), "--sql", str(sql),
                         "--dialect", "sqlite", "--fk", "Post.author Id", "--fk", "Account.userId")
    assert code == 0
    before = _dump(db)
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match=r'"Post"\."author Id" hold an id that is not in the map'):
        conn.executescript(sql.read_text())
    conn.close()
    assert _dump(db) == before
    # the sqlite3 shell, even without -bail (it goes on after an error), commits nothing
    if shutil.which("sqlite3"):
        r = subprocess.run(["sqlite3", str(db)], stdin=sql.open(), capture_output=True, text=True, timeout=60)
        assert "not in the map" in r.stderr
        assert _dump(db) == before
        r = subprocess.run(["sqlite3", "-bail", str(db)], stdin=sql.open(), capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and _dump(db) == before


def test_bad_input(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=3)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    base = ["export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"), "--sql", str(tmp_path / "f.sql")]
    for bad in ("posts", "a.b.c.d", "posts.", ".user_id", "a..b", "posts.user\nid", "posts.user\x00id", " posts.user_id"):
        code, out, err = cli(capsys, *base, "--fk", bad)
        assert code == 2, bad
        assert err.startswith("clerk-migrate: --fk") and len(err.strip().splitlines()) == 1 and out == "", (bad, err)
    assert not (tmp_path / "m.csv").exists() and not (tmp_path / "f.sql").exists()  # nothing written
    code, _, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"), "--fk", "a.b")
    assert code == 2 and "--fk needs --sql" in err
    code, _, err = cli(capsys, *base)
    assert code == 2 and "--sql needs at least one --fk" in err
    code, _, err = cli(capsys, *base, "--fk", "a.b", "--dialect", "oracle")
    assert code == 2
    code, _, err = cli(capsys, "export-ids", "--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.csv"))
    assert code == 2 and "no such run folder" in err
    (tmp_path / "plain").mkdir()
    code, _, err = cli(capsys, "export-ids", "--run", str(tmp_path / "plain"), "--out", str(tmp_path / "m.csv"))
    assert code == 2 and "not a run folder" in err
    newer = make_newer(run_dir, tmp_path / "newer")
    code, _, err = cli(capsys, "export-ids", "--run", str(newer), "--out", str(tmp_path / "m.csv"))
    assert code == 2 and "newer" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "no" / "dir" / "m.csv"))
    assert code == 2 and "cannot write" in err
    # never over the journal or the export
    journal_bytes = (run_dir / "journal.sqlite").read_bytes()
    for target in (run_dir / "journal.sqlite", tmp_path / "run-users.json"):
        code, _, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(target))
        assert code == 2 and "that is the run's" in err
    assert (run_dir / "journal.sqlite").read_bytes() == journal_bytes
    code, _, err = cli(capsys, *base[:5], "--sql", str(tmp_path / "m.csv"), "--fk", "a.b")
    assert code == 2 and "same file" in err


# ----------------------------------------------------------------------------- PostgreSQL
def _load_pg_support():
    import importlib.util
    import sys

    name = "_dbexport_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "dbexport_support.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="module")
def pg():
    support = _load_pg_support()
    cluster = None
    try:
        cluster = support.PgCluster()
        cluster.start()
    except (support.PgUnavailable, OSError) as exc:
        if cluster is not None:
            cluster.stop()
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"PostgreSQL must run in CI: {exc}")
        pytest.skip(f"PostgreSQL cannot run on this machine: {exc}")
    yield cluster
    cluster.stop()


def _run_pg_script(pg, db: str, path: Path) -> tuple[bool, str]:
    """Run the script as an operator would: psql -v ON_ERROR_STOP=1 -f (psycopg when psql is missing)."""
    psql = shutil.which("psql") or (str(pg.bin / "psql") if (pg.bin / "psql").exists() else None)
    if psql:
        r = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url(db=db), "-f", str(path)],
                           capture_output=True, text=True, timeout=120)
        return r.returncode == 0, r.stderr
    import psycopg

    try:
        with pg.connect(db=db) as conn:
            conn.execute(path.read_text())
        return True, ""
    except psycopg.Error as exc:
        return False, str(exc)


def test_postgresql_script_on_a_real_server(pg, tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=25, bad={6})
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    ids = [ext_id(i) for i in range(1, 26) if i != 6]
    pg.create_database("fkok")
    with pg.connect(db="fkok") as conn:
        conn.execute('CREATE TABLE "User" (id text PRIMARY KEY)')
        conn.execute('CREATE TABLE "Post" (id serial PRIMARY KEY, "authorId" text REFERENCES "User"(id))')
        conn.execute('CREATE SCHEMA app')
        conn.execute('CREATE TABLE app."Note" (id serial PRIMARY KEY, "owner""s id" varchar(64))')
        with conn.cursor() as cur:
            cur.executemany('INSERT INTO "User" VALUES (%s)', [(i,) for i in ids])
            cur.executemany('INSERT INTO "Post" ("authorId") VALUES (%s)', [(i,) for i in ids * 2])
            cur.executemany('INSERT INTO app."Note" ("owner""s id") VALUES (%s)', [(i,) for i in ids[:5]] + [(None,)])
    sql = tmp_path / "fk.sql"
    # the Post FK is not ON UPDATE CASCADE: rewriting User.id alone would break it, so both are listed,
    # and the constraint must be deferrable for that: it is not, so the first attempt fails whole
    code, out, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"), "--sql", str(sql),
                         "--fk", "public.User.id", "--fk", "Post.authorId", "--fk", 'app.Note.owner"s id')
    assert code == 0, err
    assert "psql -v ON_ERROR_STOP=1" in out
    ok, msg = _run_pg_script(pg, "fkok", sql)
    assert not ok and "foreign key" in msg.lower()
    with pg.connect(db="fkok") as conn:
        assert conn.execute('SELECT count(*) FROM "User" WHERE id LIKE %s', ("user_%",)).fetchone()[0] == 0
        conn.execute('ALTER TABLE "Post" DROP CONSTRAINT "Post_authorId_fkey"')
        conn.execute('ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") '
                     'REFERENCES "User"(id) DEFERRABLE INITIALLY IMMEDIATE')
    ok, msg = _run_pg_script(pg, "fkok", sql)
    assert ok, msg
    new = {u["external_id"]: u["id"] for u in sandbox.users(prod_key)}
    with pg.connect(db="fkok") as conn:
        assert sorted(r[0] for r in conn.execute('SELECT id FROM "User"')) == sorted(new[i] for i in ids)
        posts = conn.execute('SELECT "authorId" FROM "Post" ORDER BY id').fetchall()
        assert [r[0] for r in posts] == [new[i] for i in ids * 2]
        notes = conn.execute('SELECT "owner""s id" FROM app."Note" ORDER BY id').fetchall()
        assert [r[0] for r in notes] == [new[i] for i in ids[:5]] + [None]
    # a second run is a no-op
    ok, msg = _run_pg_script(pg, "fkok", sql)
    assert ok, msg


def test_postgresql_script_aborts_and_changes_nothing(pg, tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=10, bad={2})
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    pg.create_database("fkbad")
    with pg.connect(db="fkbad") as conn:
        conn.execute('CREATE TABLE posts (id serial PRIMARY KEY, user_id text)')
        conn.execute('CREATE TABLE legacy (id serial PRIMARY KEY, user_id integer)')
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO posts (user_id) VALUES (%s)", [(ext_id(i),) for i in range(1, 11)])
    sql = tmp_path / "fk.sql"
    code, _, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"),
                       "--sql", str(sql), "--fk", "posts.user_id")
    assert code == 0
    ok, msg = _run_pg_script(pg, "fkbad", sql)
    assert not ok and "1 row(s) of \"posts\".\"user_id\" hold an id that is not in the map" in msg
    with pg.connect(db="fkbad") as conn:
        assert [r[0] for r in conn.execute("SELECT user_id FROM posts ORDER BY id")] == [ext_id(i) for i in range(1, 11)]
    # a column that cannot hold a Clerk id: refused with the ALTER to run
    code, _, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"),
                       "--sql", str(sql), "--fk", "legacy.user_id")
    ok, msg = _run_pg_script(pg, "fkbad", sql)
    assert not ok and "is integer" in msg and 'ALTER TABLE "legacy" ALTER COLUMN "user_id" TYPE text' in msg
