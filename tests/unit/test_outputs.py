"""The id map's SQL: names, literals, and the SQLite script run on real databases
with hostile names and values; the PostgreSQL and MySQL scripts' structure."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from console.migration.outputs import (
    FkColumn,
    FkError,
    MapRow,
    OutputError,
    app_code_steps,
    fk_sql,
    parse_fk,
    quote_ident,
    quote_literal,
    session_claim_snippet,
)

HOSTILE = [
    "plain",
    "o'neil",
    'dq"id',
    "semi;colon -- comment",
    "back\\slash",
    "tick`tock",
    "ünï©ødé",
    "$clerk_migrate$",
    "1",
    "'); DROP TABLE posts; --",
]


def _rows(values: list[str]) -> list[MapRow]:
    return [MapRow(i, v, f"user_{i:027d}", f"u{i}@example.test", "created") for i, v in enumerate(values, 1)]


def _script(rows, fks, dialect="sqlite") -> str:
    return "".join(fk_sql(rows, [parse_fk(f, dialect) if isinstance(f, str) else f for f in fks], dialect))


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("text, expected", [
    ("Account.userId", FkColumn("Account", "userId")),
    ("public.Account.userId", FkColumn("Account", "userId", "public")),
    ('my table.my "col"', FkColumn("my table", 'my "col"')),
    ("ünï.cödé", FkColumn("ünï", "cödé")),
])
def test_parse_fk_accepts(text, expected):
    assert parse_fk(text) == expected


@pytest.mark.parametrize("text", [
    "", "posts", "a.b.c.d", "posts.", ".user_id", "a..b", "posts.user\nid", "posts.user\x00id", "posts.user\tid",
    " posts.user_id", "posts.user_id ", "posts.\u200buser", "posts." + "x" * 64,
])
def test_parse_fk_refuses_with_one_line(text):
    with pytest.raises(FkError) as info:
        parse_fk(text)
    message = str(info.value)
    assert message.startswith("--fk") and "\n" not in message and "\x00" not in message


def test_long_names_depend_on_the_dialect():
    name = "t." + "c" * 64
    with pytest.raises(FkError):
        parse_fk(name, "postgresql")
    assert parse_fk(name, "sqlite").column == "c" * 64
    with pytest.raises(FkError):
        parse_fk("t." + "é" * 32, "postgresql")  # 64 bytes: PostgreSQL would truncate it
    with pytest.raises(FkError, match="unknown SQL dialect"):
        parse_fk("a.b", "oracle")


def test_quoting():
    assert quote_ident('a"b', "postgresql") == '"a""b"'
    assert quote_ident('a"b', "sqlite") == '"a""b"'
    assert quote_ident("a`b", "mysql") == "`a``b`"
    assert quote_ident('a"b', "mysql") == '`a"b`'
    assert quote_literal("o'neil", "postgresql") == "'o''neil'"
    assert quote_literal("a\\b'c", "postgresql") == "E'a\\\\b''c'"
    assert quote_literal("a\\b'c", "sqlite") == "'a\\b''c'"
    assert quote_literal("ck123", "mysql") == "'ck123'"
    assert quote_literal("o'n\\x", "mysql") == "_utf8mb4 X'" + "o'n\\x".encode().hex().upper() + "'"
    assert quote_literal("é", "mysql") == "_utf8mb4 X'C3A9'"
    with pytest.raises(OutputError):
        quote_literal("a\x00b", "sqlite")


# ----------------------------------------------------------------------------- SQLite, for real
def _db(path: Path, values: list[str], extra: list[str] = (), *, int_ids: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "we""ird tbl" ("id" INTEGER PRIMARY KEY, "user id ""x""" TEXT)')
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, old_id INTEGER)")
    conn.executemany('INSERT INTO "we""ird tbl" ("user id ""x""") VALUES (?)', [(v,) for v in values + list(extra)])
    conn.executemany("INSERT INTO posts (old_id) VALUES (?)", [(1,), (1,), (None,)] if int_ids else [])
    conn.commit()
    return conn


def test_sqlite_hostile_names_and_values(tmp_path: Path):
    rows = _rows(HOSTILE)
    script = _script(rows, ['we"ird tbl.user id "x"'])
    conn = _db(tmp_path / "a.db", HOSTILE)
    conn.executescript(script)
    got = [r[0] for r in conn.execute('SELECT "user id ""x""" FROM "we""ird tbl" ORDER BY id')]
    assert got == [r.clerk_user_id for r in rows]
    assert conn.execute("SELECT COUNT(*) FROM posts").fetchone()[0] == 0  # still there: nothing injected
    assert conn.execute("SELECT name FROM sqlite_temp_master").fetchall() == []  # cleaned up


def test_sqlite_integer_ids_and_numeric_old_ids(tmp_path: Path):
    rows = [MapRow(1, "1", "user_a", None, "created"), MapRow(2, "2", "user_b", None, "created")]
    conn = _db(tmp_path / "a.db", [], int_ids=True)
    conn.executescript(_script(rows, ["posts.old_id"]))
    assert [r[0] for r in conn.execute("SELECT old_id FROM posts ORDER BY id")] == ["user_a", "user_a", None]


def test_sqlite_unmapped_row_aborts_and_changes_nothing(tmp_path: Path):
    rows = _rows(HOSTILE[:3])
    conn = _db(tmp_path / "a.db", HOSTILE[:3], ["stranger"])
    before = conn.execute('SELECT * FROM "we""ird tbl"').fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="not in the map"):
        conn.executescript(_script(rows, ['we"ird tbl.user id "x"']))
    assert not conn.in_transaction
    assert conn.execute('SELECT * FROM "we""ird tbl"').fetchall() == before


def test_sqlite_update_count_check_aborts(tmp_path: Path):
    """An UPDATE that changes fewer rows than counted (a trigger skips one) rolls everything back."""
    rows = _rows(["a", "b", "c"])
    conn = _db(tmp_path / "a.db", ["a", "b", "c"])
    conn.execute("CREATE TABLE other (id INTEGER PRIMARY KEY, uid TEXT)")
    conn.executemany("INSERT INTO other (uid) VALUES (?)", [("a",), ("b",)])
    conn.execute('CREATE TRIGGER skip BEFORE UPDATE ON "we""ird tbl" WHEN OLD.id = 2 BEGIN SELECT RAISE(IGNORE); END')
    conn.commit()
    with pytest.raises(sqlite3.IntegrityError, match="did not change exactly the rows counted"):
        conn.executescript(_script(rows, ["other.uid", 'we"ird tbl.user id "x"']))
    assert [r[0] for r in conn.execute("SELECT uid FROM other ORDER BY id")] == ["a", "b"]  # the first column too
    assert [r[0] for r in conn.execute('SELECT "user id ""x""" FROM "we""ird tbl" ORDER BY id')] == ["a", "b", "c"]


def test_sqlite_enforced_foreign_keys_with_cascade(tmp_path: Path):
    rows = _rows(["u1", "u2"])
    conn = sqlite3.connect(tmp_path / "fk.db")
    conn.executescript(
        """
        PRAGMA foreign_keys = ON;
        CREATE TABLE "User" (id TEXT PRIMARY KEY);
        CREATE TABLE "Account" (id INTEGER PRIMARY KEY, "userId" TEXT REFERENCES "User"(id) ON UPDATE CASCADE);
        CREATE TABLE "Post" (id INTEGER PRIMARY KEY, "authorId" TEXT REFERENCES "User"(id));
        INSERT INTO "User" VALUES ('u1'), ('u2');
        INSERT INTO "Account" ("userId") VALUES ('u1'), ('u2');
        INSERT INTO "Post" ("authorId") VALUES ('u2');
        """
    )
    # children listed before the parent: deferred to COMMIT, consistent there
    conn.executescript(_script(rows, ["Post.authorId", "User.id", "Account.userId"]))
    assert conn.execute('SELECT "authorId" FROM "Post"').fetchall() == [(rows[1].clerk_user_id,)]
    assert [r[0] for r in conn.execute('SELECT "userId" FROM "Account" ORDER BY id')] == [r.clerk_user_id for r in rows]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_sqlite_shell_without_bail_cannot_commit_a_partial_rewrite(tmp_path: Path):
    if not shutil.which("sqlite3"):
        pytest.skip("no sqlite3 shell")
    rows = _rows(["a", "b"])
    path = tmp_path / "a.db"
    conn = _db(path, ["a", "b"])
    conn.execute("CREATE TABLE other (uid TEXT)")
    conn.execute("INSERT INTO other VALUES ('a')")
    conn.commit()
    conn.close()
    # the second column's table does not exist: its check fails, the first column must stay as it was
    script = tmp_path / "s.sql"
    script.write_text(_script(rows, ["other.uid", "missing_table.uid"]))
    r = subprocess.run(["sqlite3", str(path)], stdin=script.open(), capture_output=True, text=True, timeout=60)
    assert "no such table: missing_table" in r.stderr
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT uid FROM other").fetchall() == [("a",)]


def test_a_big_map_is_streamed_in_chunks():
    rows = (MapRow(i, f"ck{i}", f"user_{i}", None, "created") for i in range(1, 2502))
    count = [0]
    pieces = list(fk_sql(rows, [parse_fk("a.b")], "postgresql", count=count))
    assert count[0] == 2501
    assert sum(p.startswith("INSERT INTO clerk_migrate_id_map") for p in pieces) == 3
    assert "IF n_map <> 2501 THEN" in "".join(pieces)


# ----------------------------------------------------------------------------- PostgreSQL, MySQL: structure
def test_postgresql_script_structure():
    script = _script(_rows(HOSTILE), ['public.we"ird.$clerk_migrate$', "b.c"], "postgresql")
    assert script.count("BEGIN;") == 1 and script.rstrip().endswith("COMMIT;")
    assert "ON COMMIT DROP" in script
    # the dollar-quote tag is not the one an identifier holds
    tag = re.search(r"^DO (\$[a-z_0-9]+\$)$", script, re.M).group(1)
    assert tag != "$clerk_migrate$" and script.count(tag) == 2
    assert '"public"."we""ird"."$clerk_migrate$"' in script
    assert "E'back\\\\slash'" in script and "'o''neil'" in script
    assert "GET DIAGNOSTICS updated = ROW_COUNT" in script and "IF unmapped <> 0 THEN" in script
    # every RAISE uses '%' with the text as an argument: no % in a name can break it
    assert all(line.strip().startswith(("RAISE EXCEPTION '%',", "RAISE NOTICE '%',"))
               for line in script.splitlines() if "RAISE" in line)


def test_mysql_script_structure():
    script = _script(_rows(HOSTILE), ["db.my`tbl.user_id", "posts.author"], "mysql")
    assert "`db`.`my``tbl`.`user_id`" in script and script.count("START TRANSACTION;") == 1
    assert script.rstrip().endswith("COMMIT;")
    assert "_utf8mb4 X'" + "o'neil".encode().hex().upper() + "'" in script
    assert "'); DROP" not in script and "\\" not in script.split("clerk_migrate_id_map (old_id, clerk_user_id) VALUES")[1]
    updates = [line for line in script.splitlines() if line.startswith("UPDATE ")]
    assert len(updates) == 2
    body = script.split("\n")
    for i, line in enumerate(body):  # every UPDATE is guarded by the flag set only when every check passed
        if line.startswith("UPDATE "):
            assert "WHERE @clerk_migrate_ok = 1;" in body[i + 1]
    for name in ("clerk_migrate_id_map_not_fully_loaded", "clerk_migrate_rows_hold_ids_not_in_the_map",
                 "clerk_migrate_update_count_differs", "clerk_migrate_column_missing_or_not_text_or_too_short"):
        assert f"CONSTRAINT {name} CHECK" in script
    assert "information_schema.COLUMNS" in script and "TABLE_SCHEMA = 'db'" in script
    assert "TABLE_SCHEMA = DATABASE()" in script


def test_no_fk_or_unknown_dialect():
    with pytest.raises(OutputError):
        list(fk_sql([], [], "sqlite"))
    with pytest.raises(OutputError):
        list(fk_sql([], [parse_fk("a.b")], "oracle"))


# ----------------------------------------------------------------------------- the other option
def test_session_claim_and_app_code():
    claim = session_claim_snippet()
    assert claim.claim_json == '{"userId": "{{user.external_id || user.id}}"}'
    text = claim.text()
    assert "sessionClaims?.userId" in text and "auth().userId stays Clerk's own id" in text
    assert claim.as_dict()["claim"] == {"userId": "{{user.external_id || user.id}}"}
    steps = app_code_steps()
    joined = " ".join(f"{s.auth_js} {s.clerk} {s.note}" for s in steps)
    for needle in ("<ClerkProvider>", "clerkMiddleware()", "currentUser()", "getAuth(req)", "useUser()",
                   "<SignedIn>", "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY", "<SignIn />"):
        assert needle in joined, needle
