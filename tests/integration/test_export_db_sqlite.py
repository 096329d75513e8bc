"""export-db against real SQLite databases built from each Auth.js adapter's schema."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.dbexport import DbExportError, export_database, inspect_database, mask_url, parse_database_url


def _load_support():
    name = "dbexport_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "dbexport_support.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


support = _load_support()

T1 = "2024-03-01T12:30:45.123Z"
EXPECTED = [
    {"id": "1", "name": "Ada Lovelace", "email": "ada@example.com", "emailVerified": None,
     "image": "https://img.example/ada.png", "createdAt": T1, "providers": ["github", "google"]},
    {"id": "2", "name": "Grace Hopper", "email": "grace@example.com", "emailVerified": T1, "image": None,
     "createdAt": "2024-03-02T12:30:45.123Z", "password": support.BCRYPT, "providers": []},
    {"id": "3", "name": None, "email": "linus@example.com", "emailVerified": "2024-03-01T17:30:45.123Z",
     "image": None, "createdAt": "2024-03-03T12:30:45.123Z", "providers": []},
    {"id": "4", "name": "Émilie du Châtelet", "email": "emilie@example.com", "emailVerified": None,
     "image": None, "createdAt": "2024-03-04T12:30:45.123Z", "providers": []},
]


def expected_for(has_created: bool, has_password: bool) -> list[dict]:
    rows = []
    for r in EXPECTED:
        r = dict(r)
        if not has_created:
            r.pop("createdAt")
        if not has_password:
            r.pop("password", None)
        rows.append(r)
    return rows


def read_ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["export-db", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# adapter -> (schema label, users table, accounts table, password column, has createdAt)
ADAPTERS = {
    "prisma": ("prisma", "User", "Account", "password", True),
    "pg": ("pg", "users", "accounts", None, False),
    "drizzle": ("drizzle", "user", "account", "hashedPassword", False),
    "legacy": ("pg", "users", "accounts", "password_hash", True),
}


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_each_adapter_schema_exports_the_prisma_shape(tmp_path, capsys, adapter):
    label, users, accounts, pw_col, has_created = ADAPTERS[adapter]
    db = support.make_sqlite(tmp_path / f"{adapter}.db", adapter)
    out = tmp_path / "users.ndjson"
    code, stdout, stderr = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out), "--json")
    assert code == 0, stderr
    assert read_ndjson(out) == expected_for(has_created, pw_col is not None)
    summary = json.loads(stdout)
    assert summary["schema"] == label
    assert summary["tables"] == {"users": users, "accounts": accounts}
    assert summary["password_column"] == pw_col
    assert summary["rows"] == 4 and summary["out"] == str(out)
    assert summary["naming"] == ("snake_case" if adapter == "legacy" else "camelCase")
    assert isinstance(summary["duration_s"], float)
    # the schema is named on stderr too, and stdout holds only the JSON object
    assert f'"{users}"' in stderr and "found the" in stderr
    assert stdout.count("\n") == 1


def test_tokens_sessions_and_non_oauth_accounts_never_exported(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    out = tmp_path / "u.ndjson"
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out))[0] == 0
    text = out.read_text()
    assert support.SECRET_TOKEN not in text and "sess-secret" not in text
    assert "providerAccountId" not in text and "github-1" not in text
    # credentials / email / webauthn account rows are not OAuth providers
    for word in ("credentials", "passkey", '"email"]'):
        assert word not in text


def test_json_array_format_and_extension_default(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    out = tmp_path / "users.json"  # .json -> a JSON array without --format
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out))[0] == 0
    assert json.loads(out.read_text()) == expected_for(True, True)
    out2 = tmp_path / "users.json.txt"
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out2), "--format", "json")[0] == 0
    assert json.loads(out2.read_text()) == expected_for(True, True)
    out3 = tmp_path / "users.json"
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out3), "--format", "ndjson")[0] == 0
    assert read_ndjson(out3) == expected_for(True, True)


def test_empty_users_table_writes_valid_empty_files(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma", users=[])
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a.json"))[0] == 0
    assert json.loads((tmp_path / "a.json").read_text()) == []
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a.ndjson"))[0] == 0
    assert (tmp_path / "a.ndjson").read_text() == ""


def test_file_is_0600_atomic_and_no_temp_left(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    out = tmp_path / "users.ndjson"
    out.write_text("old export\n")
    os.chmod(out, 0o644)
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out))[0] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.db", "users.ndjson"]


def test_failed_export_keeps_the_earlier_file_and_leaves_no_temp(tmp_path, capsys):
    db = tmp_path / "bad.db"
    conn = sqlite3.connect(db)
    conn.executescript('CREATE TABLE "User" (id TEXT, email TEXT, "emailVerified" DATETIME, password BLOB);')
    conn.execute('INSERT INTO "User" VALUES (?, ?, ?, ?)', ("u1", "a@b.c", None, b"\xff\xfe\x00binary"))
    conn.commit()
    conn.close()
    out = tmp_path / "users.ndjson"
    out.write_text("earlier export\n")
    code, stdout, stderr = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out))
    assert code == 2
    assert "password of user id u1" in stderr and "binary" in stderr
    assert out.read_text() == "earlier export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.db", "users.ndjson"]


def test_database_is_only_read(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    before = db.read_bytes()
    os.chmod(db, 0o444)  # a read-only file still exports (mode=ro)
    try:
        assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "u.ndjson"))[0] == 0
    finally:
        os.chmod(db, 0o644)
    assert db.read_bytes() == before
    assert not (tmp_path / "p.db-journal").exists() and not (tmp_path / "p.db-wal").exists()


def test_url_from_environment_and_url_forms(tmp_path, capsys, monkeypatch):
    db = support.make_sqlite(tmp_path / "dev.db", "drizzle")
    monkeypatch.setenv("AUTHJS_DATABASE_URL", f"sqlite:///{db}")
    assert cli(capsys, "--out", str(tmp_path / "a.ndjson"))[0] == 0
    assert len(read_ndjson(tmp_path / "a.ndjson")) == 4
    monkeypatch.delenv("AUTHJS_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    # Prisma's DATABASE_URL form, SQLAlchemy's relative and absolute forms
    for url in ("file:./dev.db", "sqlite:///dev.db", f"sqlite:///{db}", f"sqlite:////{str(db).lstrip('/')}"):
        out = tmp_path / "b.ndjson"
        code, _, err = cli(capsys, "--db", url, "--out", str(out))
        assert code == 0, (url, err)
        assert len(read_ndjson(out)) == 4


def test_no_url_at_all_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AUTHJS_DATABASE_URL", raising=False)
    code, out, err = cli(capsys, "--out", str(tmp_path / "a.ndjson"))
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "--db" in err and "AUTHJS_DATABASE_URL" in err


@pytest.mark.parametrize(
    "url, expected",
    [
        ("oracle://root:hunter2@db/app", "unsupported database URL scheme 'oracle'"),
        ("mysql://root:hunter2@db:3306/", "no database named"),
        ("dev.db", "cannot tell which database"),
        ("sqlite:///{tmp}/missing.db", "no SQLite database at"),
    ],
)
def test_bad_urls(tmp_path, capsys, url, expected):
    code, out, err = cli(capsys, "--db", url.format(tmp=tmp_path), "--out", str(tmp_path / "a.ndjson"))
    assert code == 2 and expected in err and "hunter2" not in err
    assert err.strip().count("\n") == 0


def test_not_a_sqlite_file(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database\n" * 10)
    code, _, err = cli(capsys, "--db", f"sqlite:///{junk}", "--out", str(tmp_path / "a.ndjson"))
    assert code == 2 and "is not a SQLite database" in err


def test_no_authjs_tables_lists_what_was_looked_for(tmp_path, capsys):
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE customers (id INTEGER, email TEXT); CREATE TABLE users (id INTEGER, login TEXT);")
    conn.close()
    code, out, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a.ndjson"))
    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]
    assert "no Auth.js users table" in line
    for looked in ('"User"', '"user"', '"users"', "emailVerified", "email_verified"):
        assert looked in line
    assert '"users" lacks email, emailVerified/email_verified' in line
    assert "customers" in line  # what it found
    assert not (tmp_path / "a.ndjson").exists()


def test_email_column_of_integer_type_is_refused(tmp_path, capsys):
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db)
    conn.executescript('CREATE TABLE "User" (id TEXT, email INTEGER, "emailVerified" DATETIME, name TEXT, image TEXT);')
    conn.close()
    code, _, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a.ndjson"))
    assert code == 2
    assert 'column "email" of table "User" has type INTEGER' in err and "expected a text column" in err


def test_boolean_email_verified_column_is_refused(tmp_path, capsys):
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db)
    conn.executescript('CREATE TABLE "user" (id TEXT, email TEXT, "emailVerified" BOOLEAN);')
    conn.close()
    code, _, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a.ndjson"))
    assert code == 2 and '"emailVerified" of table "user" has type BOOLEAN' in err


def test_odd_values_are_exported_as_is_and_reported(tmp_path, capsys):
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email, "emailVerified" TEXT, image TEXT,'
        " created_at TEXT);"
    )
    conn.executemany(
        "INSERT INTO users VALUES (?,?,?,?,?,?)",
        [
            (1, "a", "a@x.io", "yesterday", None, "2024-01-02 03:04:05"),  # SQLite CURRENT_TIMESTAMP form
            (2, "b", 12345, "2024-05-06T07:08:09+02:00", None, "1704164645000"),  # ms as text
            (3, "c", "c@x.io", 1704164645, None, "not a date"),  # epoch seconds
            (4, "d", "d@x.io", "", None, None),
        ],
    )
    conn.commit()
    conn.close()
    out = tmp_path / "a.ndjson"
    code, stdout, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out), "--json")
    assert code == 0, err
    rows = read_ndjson(out)
    assert [r["emailVerified"] for r in rows] == ["yesterday", "2024-05-06T05:08:09.000Z", "2024-01-02T03:04:05.000Z", ""]
    assert [r["createdAt"] for r in rows] == [
        "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.000Z", "not a date", None,
    ]
    assert rows[1]["email"] == "12345"
    summary = json.loads(stdout)
    assert summary["odd_values"] == {"emailVerified": 2, "createdAt": 1, "email": 1}
    assert "emailVerified: 2 value(s) are not a date" in err and "user id 1, 4" in err
    assert summary["schema"] == "pg" and summary["tables"]["accounts"] is None
    assert "no accounts table" in err


def test_accounts_table_without_provider_column_is_refused(tmp_path, capsys):
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        'CREATE TABLE "user" (id TEXT, email TEXT, "emailVerified" INTEGER);'
        'CREATE TABLE "account" (id TEXT, "userId" TEXT, "providerId" TEXT, "accountId" TEXT);'
    )
    conn.close()
    code, _, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a.ndjson"))
    assert code == 2
    assert 'no usable Auth.js accounts table' in err and '"account" lacks provider/provider_id' in err


def test_text_user_ids_join_integer_account_user_ids(tmp_path, capsys):
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        'CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, "emailVerified" TEXT);'
        'CREATE TABLE accounts ("userId" INTEGER, provider TEXT);'
        "INSERT INTO users VALUES ('10', 'a@x.io', NULL), ('9', 'b@x.io', NULL);"
        "INSERT INTO accounts VALUES (10, 'github'), (10, 'discord'), (9, 'google'), (10, 'github');"
    )
    conn.close()
    out = tmp_path / "a.ndjson"
    assert cli(capsys, "--db", f"sqlite:///{db}", "--out", str(out))[0] == 0
    assert {r["id"]: r["providers"] for r in read_ndjson(out)} == {"10": ["discord", "github"], "9": ["google"]}


def test_out_cannot_be_the_database_or_a_missing_folder(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    code, _, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(db))
    assert code == 2 and "is the database itself" in err
    code, _, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "nope" / "u.json"))
    assert code == 2 and "does not exist" in err


def test_progress_goes_to_stderr(tmp_path, capsys):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    code, out, err = cli(capsys, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "u.ndjson"))
    assert code == 0 and out == ""
    assert "4/4 rows" in err and "wrote 4 users" in err
    assert "visible to other local users" not in err  # no password in that URL


def test_engine_api_progress_and_inspect(tmp_path):
    db = support.make_sqlite(tmp_path / "p.db", "prisma")
    seen: list[tuple[int, int]] = []
    summary = export_database(f"sqlite:///{db}", tmp_path / "u.ndjson", on_progress=lambda r, t: seen.append((r, t)))
    assert summary.rows == 4 and seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert inspect_database(f"sqlite:///{db}").label == "prisma"
    with pytest.raises(DbExportError, match="cancelled"):
        export_database(f"sqlite:///{db}", tmp_path / "c.ndjson", should_stop=lambda: True)
    assert not (tmp_path / "c.ndjson").exists()


@pytest.mark.parametrize(
    "url, secret",
    [
        ("postgresql://app:s3cr%40t-pw@db.internal:5432/app", "s3cr"),
        ("postgres://app:hunter2@db.internal/app?sslmode=require", "hunter2"),
        ("postgresql://db.internal/app?user=app&password=topsecret", "topsecret"),
        ("postgresql://app:pw-in-bad-url@db.internal:notaport/app", "pw-in-bad-url"),
    ],
)
def test_passwords_are_masked_in_urls_and_errors(url, secret):
    assert secret not in mask_url(url) and "***" in mask_url(url)
    try:
        parsed = parse_database_url(url)
    except DbExportError as exc:
        assert secret not in str(exc) and "***" in str(exc)
    else:
        assert secret not in parsed.masked and secret not in str(parsed) and secret not in repr(parsed)
        assert parsed.scrub(f"error near {url} and s3cr@t-pw") .count(secret) == 0


def test_a_cli_run_never_prints_a_traceback(tmp_path):
    """End to end in a subprocess: bad input -> one line on stderr, exit 2."""
    env = {k: v for k, v in os.environ.items() if k != "CLERK_MIGRATE_DEBUG"}
    env.pop("AUTHJS_DATABASE_URL", None)
    root = Path(__file__).resolve().parents[2]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)  # a header, then garbage
    for argv in (
        ["--db", f"sqlite:///{junk}", "--out", str(tmp_path / "a.json")],
        ["--db", "postgresql://u:leakme@127.0.0.1:1/db", "--out", str(tmp_path / "a.json")],
    ):
        r = subprocess.run(
            [sys.executable, "-m", "console", "export-db", *argv],
            capture_output=True, text=True, cwd=root, env=env, timeout=60,
        )
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and "leakme" not in r.stderr and "leakme" not in r.stdout
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
