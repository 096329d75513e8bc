"""export-db on every adapter layout, each built from the schema file the adapter
publishes (tests/fixtures/schemas/, first line: where it came from) on a real
server: a throwaway PostgreSQL cluster, a throwaway MariaDB, SQLite files.

For each layout: every user exported exactly once with its OAuth providers
joined from the accounts table and the app's password column found; `validate`
counts exact on the output; every row's create body (console.source's
to_payload) accepted by the sandbox over HTTP. Then table discovery: prefixed
and schema-qualified names, two fitting tables refused, --users-table and
--accounts-table.

PostgreSQL and MariaDB are skipped (reason shown) only outside CI; with CI=true
a server that cannot run fails these tests.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from console.cli import main


def _load_support():
    name = "dbexport_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "dbexport_support.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


support = _load_support()
source = pytest.importorskip("console.source", reason="the source reader (console/source) is another part")


@pytest.fixture(scope="module")
def pg():
    cluster = None
    try:
        cluster = support.PgCluster()
        cluster.start()
    except (support.PgUnavailable, OSError) as exc:
        if cluster is not None:
            cluster.stop()
        if support.in_ci():
            pytest.fail(f"PostgreSQL must run in CI for export-db tests: {exc}")
        pytest.skip(f"PostgreSQL cannot run on this machine: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def my():
    return support.mariadb_or_skip()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["export-db", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


_n = iter(range(1_000_000))


def build(layout, request, tmp_path, **kw) -> str:
    servers = {}
    if layout.dialect == "postgresql":
        servers["pg"] = request.getfixturevalue("pg")
    elif layout.dialect == "mysql":
        servers["my"] = request.getfixturevalue("my")
    return support.build_layout(layout, name=f"{layout.name.replace('-', '_')}_{next(_n)}", tmp=tmp_path,
                                **servers, **kw)


def round_trip(out: Path, sandbox, key: str) -> list[dict]:
    """Every row of the export through console.source to the sandbox's POST /v1/users."""
    reader = source.open_export(out)
    created = []
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        for row in reader.rows():
            body = source.to_payload(row.user, source.Policies())
            r = api.post("/v1/users", json=body)
            assert r.status_code == 200, (row.user.external_id, r.status_code, r.text)
            created.append(r.json())
    return created


@pytest.mark.parametrize("name", sorted(support.LAYOUTS))
def test_every_adapter_layout_exports_each_user_once(name, request, tmp_path, capsys, sandbox, prod_key):
    layout = support.LAYOUTS[name]
    url = build(layout, request, tmp_path)
    if name == "supabase":
        # Supabase Auth's own users (GoTrue) sit beside: never exported
        with request.getfixturevalue("pg").connect(db=url.rsplit("/", 1)[1]) as conn:
            conn.execute(
                "INSERT INTO auth.users (id, aud, email, encrypted_password, created_at) VALUES "
                "('11111111-1111-4111-8111-111111111111', 'authenticated', 'gotrue@example.com', %s, now())",
                (support.BCRYPT,),
            )
    out = tmp_path / "users.ndjson"
    code, stdout, stderr = cli(capsys, "--db", url, "--out", str(out), "--json")
    assert code == 0, stderr

    rows = read_ndjson(out)
    assert rows == layout.expected()
    assert len({r["id"] for r in rows}) == len(rows) == 4  # each user once, whatever its accounts
    summary = json.loads(stdout)
    assert summary["schema"] == layout.label
    assert summary["tables"] == {"users": layout.tables[0], "accounts": layout.tables[1]}
    assert summary["password_column"] == layout.password
    assert summary["rows"] == 4 and summary["with_providers"] == 1
    assert summary["odd_values"] == {}
    text = out.read_text()
    assert support.SECRET_TOKEN not in text and "providerAccountId" not in text
    assert "gotrue@example.com" not in text
    for secret in (support.PgCluster.SUPERPASS, support.MariaDBServer.APP_PASSWORD):
        assert secret not in stdout + stderr

    report = source.validate_export(out)
    assert (report.rows, report.importable, report.refused) == (4, 4, 0), [i.as_dict() for i in report.issues]
    assert report.shape == "prisma"

    created = round_trip(out, sandbox, prod_key)
    assert sorted(u["external_id"] for u in created) == sorted(r["id"] for r in rows)
    assert len(sandbox.users(prod_key)) == 4
    by_ext = {u["external_id"]: u for u in created}
    grace = by_ext[str(layout.uid("2"))]
    assert grace["email_addresses"][0]["email_address"] == "grace@example.com"
    assert grace["password_enabled"] is bool(layout.password)


# ----------------------------------------------------------------------------- discovery

def _sqlite(tmp_path, script: str, name: str = "t.db") -> str:
    path = tmp_path / name
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return f"sqlite:///{path}"


def test_two_fitting_users_tables_are_refused_then_chosen(tmp_path, capsys):
    """Two t3 apps in one database (create-t3-app's multi-project schema): refused
    with the list and the flag; --users-table picks one and its partner accounts."""
    ddl = support.fixture_sql("drizzle-t3.sqlite.sql")
    url = _sqlite(tmp_path, ddl + ddl.replace("project1_", "project2_").replace("_idx`", "_idx2`")
                  + "INSERT INTO project1_user (id, email) VALUES ('a', 'a@x.io');"
                  + "INSERT INTO project2_user (id, email) VALUES ('b', 'b@x.io'), ('c', 'c@x.io');"
                  + "INSERT INTO project2_account (userId, type, provider, providerAccountId)"
                  + " VALUES ('b', 'oauth', 'github', '1');")
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out))
    assert code == 2 and stdout == "" and not out.exists()
    line = err.strip()
    assert len(line.splitlines()) == 1
    assert '2 tables in SQLite database' in line and '"project1_user", "project2_user"' in line
    assert "--users-table" in line
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", "project2_user", "--json")
    assert code == 0, err
    assert [(r["id"], r["providers"]) for r in read_ndjson(out)] == [("b", ["github"]), ("c", [])]
    assert json.loads(stdout)["tables"] == {"users": "project2_user", "accounts": "project2_account"}


def test_prefix_without_underscore_and_snake_case_columns(tmp_path, capsys):
    url = _sqlite(tmp_path, """
        CREATE TABLE appusers (id INTEGER PRIMARY KEY, email TEXT, email_verified TEXT, password_digest TEXT);
        CREATE TABLE appaccounts (user_id INTEGER, type TEXT, provider TEXT);
        CREATE TABLE orders (id INTEGER);
        INSERT INTO appusers VALUES (1, 'a@x.io', '2024-01-02 03:04:05', 'pbkdf2_sha256$1$s$h');
        INSERT INTO appaccounts VALUES (1, 'oauth', 'discord');
    """)
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--json")
    assert code == 0, err
    assert read_ndjson(out) == [{"id": "1", "name": None, "email": "a@x.io",
                                 "emailVerified": "2024-01-02T03:04:05.000Z", "image": None,
                                 "password": "pbkdf2_sha256$1$s$h", "providers": ["discord"]}]
    summary = json.loads(stdout)
    assert summary["naming"] == "snake_case" and summary["password_column"] == "password_digest"
    assert summary["tables"] == {"users": "appusers", "accounts": "appaccounts"}


def test_accounts_table_flag_and_bad_table_flags(tmp_path, capsys):
    url = _sqlite(tmp_path, """
        CREATE TABLE "User" (id TEXT, email TEXT, "emailVerified" INTEGER);
        CREATE TABLE "Account" ("userId" TEXT, provider TEXT);
        CREATE TABLE "LegacyAccount" ("userId" TEXT, provider TEXT);
        CREATE TABLE orders (id INTEGER, email TEXT);
        INSERT INTO "User" VALUES ('u1', 'a@x.io', NULL);
        INSERT INTO "Account" VALUES ('u1', 'google');
        INSERT INTO "LegacyAccount" VALUES ('u1', 'twitter');
    """)
    out = tmp_path / "u.ndjson"
    assert cli(capsys, "--db", url, "--out", str(out))[0] == 0
    assert read_ndjson(out)[0]["providers"] == ["google"]  # the partner of "User"
    assert cli(capsys, "--db", url, "--out", str(out), "--accounts-table", "LegacyAccount")[0] == 0
    assert read_ndjson(out)[0]["providers"] == ["twitter"]
    out2 = tmp_path / "v.ndjson"
    for argv, expected in (
        (("--users-table", "members"), '--users-table "members": no such table in SQLite database'),
        (("--users-table", "orders"), '--users-table "orders" in SQLite database'),
        (("--accounts-table", "orders"), '--accounts-table "orders" in SQLite database'),
    ):
        code, stdout, err = cli(capsys, "--db", url, "--out", str(out2), *argv)
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
        assert not out2.exists()
    assert "lacks emailVerified/email_verified" in cli(capsys, "--db", url, "--out", str(out2),
                                                        "--users-table", "orders")[2]


def test_no_authjs_tables_is_one_line_and_nothing_written(tmp_path, capsys):
    url = _sqlite(tmp_path, "CREATE TABLE customers (id INTEGER, email TEXT); CREATE TABLE auth_user (id INTEGER);")
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out))
    assert code == 2 and stdout == "" and not out.exists()
    assert len(err.strip().splitlines()) == 1
    assert "no Auth.js users table in SQLite database" in err and "<prefix>_user" in err
    assert '"auth_user" lacks email, emailVerified/email_verified' in err and "customers" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.db"]


def test_supabase_auth_users_alone_is_never_taken(pg, tmp_path, capsys):
    name = f"gotrue_{next(_n)}"
    pg.create_database(name)
    with pg.connect(db=name) as conn:
        conn.execute(support.SUPABASE_PREAMBLE)
        conn.execute(support.fixture_sql("supabase-auth.postgresql.sql"))
        # even with an emailVerified column added, auth.users is Supabase Auth's
        conn.execute('ALTER TABLE auth.users ADD COLUMN "emailVerified" timestamptz')
    out = tmp_path / "u.ndjson"
    code, _, err = cli(capsys, "--db", pg.url(db=name), "--out", str(out))
    assert code == 2 and "no Auth.js users table" in err
    assert "\"auth.users\" is Supabase Auth's own table, never Auth.js's" in err
    code, _, err = cli(capsys, "--db", pg.url(db=name), "--out", str(out), "--users-table", "auth.users")
    assert code == 2 and "Supabase Auth's own users table" in err and "next_auth.users" in err
    assert not out.exists() and pg.SUPERPASS not in err


def test_schema_qualified_flag_when_two_schemas_hold_users(pg, tmp_path, capsys):
    """The pg adapter's tables in public and a copy in `archive`: refused, then
    --users-table archive.users / --users-table users (the search path's)."""
    name = f"twoschemas_{next(_n)}"
    url = support.build_layout(support.LAYOUTS["pg-adapter"], name=name, pg=pg)
    with pg.connect(db=name) as conn:
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.users (LIKE public.users INCLUDING ALL)")
        conn.execute("CREATE TABLE archive.accounts (LIKE public.accounts INCLUDING ALL)")
        conn.execute("INSERT INTO archive.users (id, email) VALUES (99, 'old@x.io')")
    out = tmp_path / "u.ndjson"
    code, _, err = cli(capsys, "--db", url, "--out", str(out))
    assert code == 2 and '"users", "archive.users"' in err and "--users-table" in err
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", "archive.users", "--json")
    assert code == 0, err
    assert [r["email"] for r in read_ndjson(out)] == ["old@x.io"]
    assert json.loads(stdout)["tables"] == {"users": "archive.users", "accounts": "archive.accounts"}
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", "users", "--json")
    assert code == 0, err
    assert len(read_ndjson(out)) == 4 and json.loads(stdout)["tables"]["users"] == "users"
    # names no discovery would look at, schema-qualified and quoted
    with pg.connect(db=name) as conn:
        conn.execute('CREATE TABLE archive.members (LIKE public.users INCLUDING ALL)')
        conn.execute('CREATE TABLE archive.logins (LIKE public.accounts INCLUDING ALL)')
        conn.execute("INSERT INTO archive.members (id, email) VALUES (7, 'm@x.io')")
        conn.execute("""INSERT INTO archive.logins ("userId", type, provider, "providerAccountId")"""
                     " VALUES (7, 'oauth', 'gitlab', 'g7')")
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", '"archive"."members"',
                            "--accounts-table", "archive.logins", "--json")
    assert code == 0, err
    assert [(r["id"], r["providers"]) for r in read_ndjson(out)] == [("7", ["gitlab"])]
    assert json.loads(stdout)["tables"] == {"users": "archive.members", "accounts": "archive.logins"}
