"""export-ids --dialect mysql, run with the mysql/mariadb client against the throwaway
MariaDB/MySQL server of tests/dbexport_support.py (shared with export-db's tests);
skipped outside CI when it cannot run, failing in CI."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.integration.test_verify_helpers import cli, cli_env, ext_id, make_run


def _load_support():
    name = "dbexport_support"  # the name the export-db tests load it under: one shared server
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "dbexport_support.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="module")
def mysql():
    """The throwaway MariaDB of tests/dbexport_support.py, shared with export-db's tests
    (skipped with the reason outside CI, failing in CI when it cannot run)."""
    return _load_support().mariadb_or_skip()


def _rows(server, table: str) -> str:
    r = server.sql(f"SELECT * FROM {table} ORDER BY 1")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_mysql_script_rewrites_and_aborts(mysql, tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=15, bad={4})
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    ids = [ext_id(i) for i in range(1, 16) if i != 4]
    setup = (
        "DROP DATABASE IF EXISTS app; CREATE DATABASE app CHARACTER SET utf8mb4; USE app;\n"
        "CREATE TABLE users (id VARCHAR(64) PRIMARY KEY) ENGINE=InnoDB;\n"
        "CREATE TABLE `my``posts` (id INT AUTO_INCREMENT PRIMARY KEY, `user id` VARCHAR(64),"
        " FOREIGN KEY (`user id`) REFERENCES users(id) ON UPDATE CASCADE) ENGINE=InnoDB;\n"
        "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, owner TEXT) ENGINE=InnoDB;\n"
        + "".join(f"INSERT INTO users VALUES ('{i}');\n" for i in ids)
        + "".join(f"INSERT INTO `my``posts` (`user id`) VALUES ('{i}');\n" for i in ids + ids[:3])
        + "INSERT INTO `my``posts` (`user id`) VALUES (NULL);\n"
        + "".join(f"INSERT INTO notes (owner) VALUES ('{i}');\n" for i in ids[:4])
    )
    r = mysql.sql(setup, db="")
    assert r.returncode == 0, r.stderr
    sql = tmp_path / "fk.sql"
    code, out, err = cli(capsys, "export-ids", "--run", str(run_dir), "--out", str(tmp_path / "m.csv"),
                         "--sql", str(sql), "--dialect", "mysql",
                         "--fk", "app.users.id", "--fk", "my`posts.user id", "--fk", "notes.owner")
    assert code == 0, err
    r = mysql.sql(sql.read_text())
    assert r.returncode == 0, r.stderr
    new = {u["external_id"]: u["id"] for u in sandbox.users(prod_key)}
    posts = [line.split("\t")[1] for line in _rows(mysql, "`my``posts`").splitlines()[1:]]
    assert posts == [new[i] for i in ids + ids[:3]] + ["NULL"]  # through ON UPDATE CASCADE
    owners = [line.split("\t")[1] for line in _rows(mysql, "notes").splitlines()[1:]]
    assert owners == [new[i] for i in ids[:4]]
    assert mysql.sql(sql.read_text()).returncode == 0  # a second run changes nothing
    # a row whose user was refused (row 4): the script aborts, nothing changes, even with --force
    assert mysql.sql(f"INSERT INTO notes (owner) VALUES ('{ext_id(4)}');").returncode == 0
    before = _rows(mysql, "notes"), _rows(mysql, "`my``posts`")
    r = mysql.sql(sql.read_text())
    assert r.returncode != 0 and "clerk_migrate_rows_hold_ids_not_in_the_map" in r.stderr
    assert (_rows(mysql, "notes"), _rows(mysql, "`my``posts`")) == before
    r = mysql.sql(sql.read_text(), "app", "--force")
    assert (_rows(mysql, "notes"), _rows(mysql, "`my``posts`")) == before
