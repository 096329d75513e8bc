"""export-ids --dialect mysql, run with the mysql/mariadb client against a throwaway
MariaDB/MySQL server (unix socket only, no TCP) when its binaries are installed;
skipped otherwise (CI installs only PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.test_verify_helpers import cli, cli_env, ext_id, make_run


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
        if found:
            return found
    return None


class _MyServer:
    def __init__(self) -> None:
        self.server = _binary("mariadbd", "mysqld")
        self.install = _binary("mariadb-install-db", "mysql_install_db")
        self.client = _binary("mariadb", "mysql")
        if not (self.server and self.install and self.client):
            raise RuntimeError("no MariaDB/MySQL server binaries (mariadbd, mariadb-install-db, mariadb)")
        self.dir = Path(tempfile.mkdtemp(prefix="cm-my-"))
        self.sock = self.dir / "sock"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "_MyServer":
        user = ["--user=root"] if os.geteuid() == 0 else []
        r = subprocess.run([self.install, "--no-defaults", f"--datadir={self.dir / 'data'}", *user,
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError(f"install-db failed: {(r.stderr or r.stdout)[-300:]}")
        self.proc = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={self.dir / 'data'}", *user, "--skip-networking",
             f"--socket={self.sock}", f"--pid-file={self.dir / 'pid'}", f"--log-error={self.dir / 'err.log'}",
             "--innodb-buffer-pool-size=32M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited at start")
            if self.sock.exists() and self.sql("SELECT 1", db="").returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("the server did not start within 60 s")

    def sql(self, text: str, db: str = "app", *extra: str) -> subprocess.CompletedProcess:
        args = [self.client, "--no-defaults", "-S", str(self.sock), "-uroot", *extra] + ([db] if db else [])
        return subprocess.run(args, input=text, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def mysql():
    server = None
    try:
        server = _MyServer().start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        if server is not None:
            server.stop()
        pytest.skip(f"MariaDB/MySQL cannot run here: {exc}")
    yield server
    server.stop()


def _rows(server: _MyServer, table: str) -> str:
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
