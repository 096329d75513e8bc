"""export-db against a real MariaDB: the throwaway server tests/dbexport_support.py
starts once per test run (unix socket + 127.0.0.1 in a temp dir; as root it runs
as the `mysql` user). Skipped with the reason shown only outside CI; with CI=true
a MariaDB that cannot run fails these tests.

The adapter layouts themselves (Prisma, t3 Drizzle, TypeORM, Kysely on MySQL) are
in test_export_db_layouts.py; here: what only MySQL has (read-only session,
SSCursor streaming, time zones, collations, zero dates, URL forms) and bad input.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from console.cli import main
from console.dbexport import DbExportError, ExportCancelled, export_database, parse_database_url
from console.dbexport import backends
from console.dbexport.schema import detect_schema


def _load_support():
    name = "dbexport_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "dbexport_support.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


support = _load_support()
PW = support.MariaDBServer.APP_PASSWORD
_n = iter(range(1_000_000))


@pytest.fixture(scope="module")
def my():
    return support.mariadb_or_skip()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["export-db", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def fresh(my, script: str = "") -> tuple[str, str]:
    name = f"t{next(_n)}"
    my.create_database(name)
    if script:
        my.execute_script(name, script)
    return name, my.url(name)


def prisma_db(my) -> str:
    return support.build_layout(support.LAYOUTS["prisma-mysql"], name=f"prisma{next(_n)}", my=my)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------- bad input

def test_unreachable_mysql_is_one_masked_line(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", f"mysql://app:topsecret-pw@127.0.0.1:{port}/app", "--out", str(out))
    line = _one_line(err)
    assert code == 2 and stdout == "" and not out.exists()
    assert f"cannot connect to mysql://app:***@127.0.0.1:{port}/app" in line
    assert "Can't connect to MySQL server" in line and "topsecret-pw" not in line


def test_wrong_password_is_one_masked_line(my, tmp_path, capsys):
    name, _ = fresh(my)
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", my.url(name, password="wrong-pw-77"), "--out", str(out))
    line = _one_line(err)
    assert code == 2 and stdout == "" and not out.exists()
    assert f"cannot connect to mysql://app:***@127.0.0.1:{my.port}/{name}" in line
    assert "Access denied for user 'app'" in line and "(MySQL error 1045)" in line
    assert "wrong-pw-77" not in line and PW not in line


def test_unknown_database_and_database_without_authjs_tables(my, tmp_path, capsys):
    out = tmp_path / "u.ndjson"
    code, _, err = cli(capsys, "--db", my.url("no_such_db"), "--out", str(out))
    assert code == 2 and "Unknown database 'no_such_db'" in _one_line(err) and PW not in err
    name, url = fresh(my, "CREATE TABLE orders (id INT); CREATE TABLE users (id INT, login VARCHAR(20))")
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out))
    line = _one_line(err)
    assert code == 2 and stdout == "" and not out.exists()
    assert f"no Auth.js users table in MySQL database mysql://app:***@127.0.0.1:{my.port}/{name}" in line
    assert '"users" lacks email, emailVerified/email_verified' in line and "orders" in line


def test_two_candidate_tables_are_refused_then_chosen(my, tmp_path, capsys):
    ddl = support.fixture_sql("drizzle-t3.mysql.sql")
    second = ddl.replace("project1_", "shop_").replace("_idx`", "_idx2`").replace("created_by_idx2", "cb2")
    name, url = fresh(my)
    my.execute_script(name, ddl)
    my.execute_script(name, second)
    my.execute_script(name, "INSERT INTO shop_user (id, email, emailVerified) VALUES ('s1', 's@x.io', NULL)")
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out))
    line = _one_line(err)
    assert code == 2 and stdout == "" and not out.exists()
    assert '2 tables in MySQL database' in line and '"project1_user", "shop_user"' in line
    assert "choose one with --users-table" in line
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", "shop_user", "--json")
    assert code == 0, err
    assert [r["email"] for r in read_ndjson(out)] == ["s@x.io"]
    assert json.loads(stdout)["tables"] == {"users": "shop_user", "accounts": "shop_account"}
    # schema-qualified: the database name in front
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", f"{name}.shop_user")
    assert code == 0, err


def test_surprising_column_types_are_refused(my, tmp_path, capsys):
    _, url = fresh(my, "CREATE TABLE `User` (id VARCHAR(30), email INT, emailVerified DATETIME(3))")
    code, _, err = cli(capsys, "--db", url, "--out", str(tmp_path / "u.ndjson"))
    assert code == 2 and 'column "email" of table "User" has type int' in _one_line(err)
    _, url = fresh(my, "CREATE TABLE `user` (id VARCHAR(30), email VARCHAR(99), emailVerified TINYINT(1))")
    code, _, err = cli(capsys, "--db", url, "--out", str(tmp_path / "u.ndjson"))
    assert code == 2 and '"emailVerified" of table "user" has type tinyint(1) (bool)' in _one_line(err)


def test_a_cli_run_never_prints_a_traceback(my, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CLERK_MIGRATE_DEBUG", "AUTHJS_DATABASE_URL")}
    root = Path(__file__).resolve().parents[2]
    for url in (my.url("nope_db"), f"mariadb://app:{PW}@127.0.0.1:1/app", f"mysql://app:{PW}@127.0.0.1:x/app"):
        r = subprocess.run([sys.executable, "-m", "console", "export-db", "--db", url, "--out", str(tmp_path / "a.json")],
                           capture_output=True, text=True, cwd=root, env=env, timeout=60)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and PW not in r.stderr + r.stdout
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


# ----------------------------------------------------------------------------- guarantees

def test_session_is_read_only_and_rows_stream_from_an_sscursor(my, monkeypatch):
    url = parse_database_url(prisma_db(my))
    source = backends.MySQLSource(url)
    try:
        schema = detect_schema(source.tables(), where=source.where)
        monkeypatch.setattr(backends, "BATCH", 3)
        it = source.batches(schema)
        first = next(it)
        assert len(first) == 3
        assert isinstance(source._stream, pymysql.cursors.SSCursor)  # unbuffered: the rest is still on the server
        assert source._stream._result.unbuffered_active
        assert [len(b) for b in it] == [1]
        with source.conn.cursor() as cur:
            cur.execute("SELECT @@session.transaction_read_only" if _has_var(cur, "transaction_read_only")
                        else "SELECT @@session.tx_read_only")
            assert cur.fetchone()[0] == 1
            for stmt in ("INSERT INTO `User` (id, email) VALUES ('intruder', 'x@x.io')",
                         "UPDATE `User` SET name = 'changed'"):
                with pytest.raises(pymysql.err.MySQLError) as info:
                    cur.execute(stmt)
                assert info.value.args[0] == 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    finally:
        source.close()
    conn = my.connect(db=url.mysql.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM `User` WHERE id = 'intruder' OR name = 'changed'")
            assert cur.fetchone()[0] == 0
    finally:
        conn.close()


def _has_var(cur, name: str) -> bool:
    cur.execute("SHOW VARIABLES LIKE %s", (name,))
    return cur.fetchone() is not None


def test_cancel_mid_stream_drops_the_connection_and_writes_nothing(my, tmp_path, monkeypatch):
    url = prisma_db(my)
    monkeypatch.setattr(backends, "BATCH", 1)
    calls = iter(range(100))
    out = tmp_path / "u.ndjson"
    out.write_text("earlier\n")
    with pytest.raises(ExportCancelled):
        export_database(url, out, should_stop=lambda: next(calls) >= 2)
    assert out.read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.ndjson"]


def test_socket_url_mariadb_scheme_and_password_parameter(my, tmp_path, capsys):
    url = prisma_db(my)
    db = url.rsplit("/", 1)[1]
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", my.socket_url(db), "--out", str(out), "--json")
    assert code == 0, err
    assert json.loads(stdout)["database"] == f"mysql://root@localhost/{db}?socket={my.sock}"
    assert len(read_ndjson(out)) == 4
    for u in (f"mysql://app@%2F{str(my.sock)[1:].replace('/', '%2F')}/{db}?password={PW}",
              f"mariadb://app:{PW}@127.0.0.1:{my.port}/{db}",
              f"mysql+pymysql://app:{PW}@127.0.0.1:{my.port}/{db}?connection_limit=5"):
        code, stdout, err = cli(capsys, "--db", u, "--out", str(out), "--json")
        assert code == 0, (u, err)
        assert PW not in stdout + err and "***" in json.loads(stdout)["database"]
        assert len(read_ndjson(out)) == 4


def test_ssl_required_against_a_server_without_tls_is_refused_preferred_falls_back(my, tmp_path, capsys):
    url = prisma_db(my)
    out = tmp_path / "u.ndjson"
    for mode in ("REQUIRED", "VERIFY_IDENTITY"):
        code, _, err = cli(capsys, "--db", f"{url}?ssl-mode={mode}", "--out", str(out))
        line = _one_line(err)
        assert code == 2 and "SSL is required but the server doesn't support it" in line and PW not in err
        assert not out.exists()
    code, _, err = cli(capsys, "--db", f"{url}?ssl-mode=PREFERRED", "--out", str(out))
    assert code == 0, err


# ----------------------------------------------------------------------------- values

def test_timestamps_in_utc_whatever_the_server_zone_zero_dates_kept_as_they_are(my, tmp_path, capsys):
    name, url = fresh(my, """
        CREATE TABLE `user` (id VARCHAR(36) PRIMARY KEY, email VARCHAR(255), emailVerified TIMESTAMP(3) NULL,
                             created_at DATETIME NULL, name VARCHAR(255), image VARCHAR(255))
    """)
    conn = my.connect(db=name)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+05:00', sql_mode = ''")  # an app writing in its local zone
            cur.execute("INSERT INTO `user` VALUES ('a', 'a@x.io', '2024-01-01 05:00:00.250', '2023-06-01 10:00:00',"
                        " 'A', NULL), ('b', 'b@x.io', NULL, '0000-00-00 00:00:00', 'B', NULL)")
    finally:
        conn.close()
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--json")
    assert code == 0, err
    rows = read_ndjson(out)
    assert rows[0]["emailVerified"] == "2024-01-01T00:00:00.250Z"  # TIMESTAMP: the instant, in UTC
    assert rows[0]["createdAt"] == "2023-06-01T10:00:00.000Z"  # DATETIME: taken as UTC (Prisma's way)
    assert rows[1]["createdAt"] == "0000-00-00 00:00:00"  # not a date: exported as it is, flagged
    assert json.loads(stdout)["odd_values"] == {"createdAt": 1}
    assert "no accounts table" in err


def test_joins_across_collations_and_types_and_binary_passwords(my, tmp_path, capsys):
    _, url = fresh(my, """
        CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255), email_verified DATETIME(3),
                            name VARCHAR(255), image TEXT, password_hash VARBINARY(255))
            DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci;
        CREATE TABLE accounts (user_id VARCHAR(36) COLLATE utf8mb4_bin, provider_type VARCHAR(20),
                               provider_id VARCHAR(40) COLLATE utf8mb4_bin, access_token TEXT)
            DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci;
        INSERT INTO users (email, password_hash) VALUES ('a@x.io', '$2b$10$abcdefghijklmnopqrstuv'), ('b@x.io', NULL);
        INSERT INTO accounts VALUES ('1', 'oauth', 'github', 'tok'), ('1', 'oauth', 'github', 'tok2'),
                                    ('1', 'email', 'email', NULL), ('2', 'oauth', 'Apple', 'tok')
    """)
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--json")
    assert code == 0, err
    assert read_ndjson(out) == [
        {"id": "1", "name": None, "email": "a@x.io", "emailVerified": None, "image": None,
         "password": "$2b$10$abcdefghijklmnopqrstuv", "providers": ["github"]},
        {"id": "2", "name": None, "email": "b@x.io", "emailVerified": None, "image": None, "providers": ["Apple"]},
    ]
    summary = json.loads(stdout)
    assert summary["naming"] == "snake_case" and summary["password_column"] == "password_hash"
    assert "tok" not in out.read_text()


def test_users_table_in_another_database_of_the_server(my, tmp_path, capsys):
    other = support.build_layout(support.LAYOUTS["kysely-mysql"], name=f"other{next(_n)}", my=my)
    other_db = other.rsplit("/", 1)[1]
    _, url = fresh(my, "CREATE TABLE notes (id INT)")
    out = tmp_path / "u.ndjson"
    code, stdout, err = cli(capsys, "--db", url, "--out", str(out), "--users-table", f"{other_db}.User",
                            "--accounts-table", f"{other_db}.Account", "--json")
    assert code == 0, err
    assert len(read_ndjson(out)) == 4
    assert json.loads(stdout)["tables"] == {"users": f"{other_db}.User", "accounts": f"{other_db}.Account"}


def test_parse_mysql_urls_mask_every_password_form():
    for url, secret in (
        ("mysql://app:s3cr%40t-pw@db:3307/app", "s3cr@t-pw"),
        ("mariadb://app@db/app?password=hunter2", "hunter2"),
        ("mysql://app:pw-in-bad-url@db:notaport/app", "pw-in-bad-url"),
    ):
        try:
            parsed = parse_database_url(url)
        except DbExportError as exc:
            assert secret not in str(exc) and "***" in str(exc)
        else:
            assert secret not in parsed.masked and secret not in repr(parsed) and "s3cr" not in parsed.masked
            assert parsed.scrub(f"Access denied (using password: {secret})").count(secret) == 0
    with pytest.raises(DbExportError, match="no database named"):
        parse_database_url("mysql://app:pw@db:3306")
