"""Benchmark: export-db from PostgreSQL and MySQL/MariaDB, 100,000 users with 1.5
OAuth accounts each (150,000 accounts).

    .venv/bin/python benchmarks/bench_export_db.py [--server all|postgresql|mysql] [--users N]
                                                   [--adapter prisma|pg] [--format ndjson|json]

Starts a throwaway server as tests/dbexport_support.py does (PostgreSQL: initdb +
pg_ctl on 127.0.0.1, as the `postgres` user when run as root; MariaDB:
mariadb-install-db + mariadbd on a unix socket and 127.0.0.1, as the `mysql` user
when root), creates the adapter's schema (PostgreSQL: prisma or pg; MySQL: the
Prisma schema of tests/fixtures/schemas/prisma.mysql.sql plus a password column),
loads the rows (COPY; multi-row INSERTs), then times
1. the engine (`console.dbexport.export_database`) in this process, and
2. the whole command in a fresh process (`python -m console export-db …`, the URL
   in AUTHJS_DATABASE_URL): wall time and peak RSS (the child's own, from wait4),
and prints them. Targets: under 10 s and under 300 MB RSS for the command.
Exit 1 when a figure is over its target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_S = 10.0
TARGET_RSS_MB = 300.0
PROVIDERS = ("github", "google", "discord", "apple", "gitlab")


def _support():
    spec = importlib.util.spec_from_file_location("dbexport_support", ROOT / "tests" / "dbexport_support.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["dbexport_support"] = mod
    spec.loader.exec_module(mod)
    return mod


def load(conn, support, adapter: str, n: int) -> int:
    """Create the schema and COPY n users and ~1.5 n accounts; returns the account count."""
    conn.execute(support.PRISMA_PG if adapter == "prisma" else support.PG_ADAPTER)
    base = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
    accounts = 0
    with conn.cursor() as cur:
        if adapter == "prisma":
            copy_users = 'COPY "User" (id, name, email, "emailVerified", image, password, "createdAt", "updatedAt") FROM STDIN'
            copy_acc = ('COPY "Account" ("userId", type, provider, "providerAccountId", access_token, refresh_token, '
                        '"updatedAt") FROM STDIN')
        else:
            copy_users = 'COPY users (id, name, email, "emailVerified", image) FROM STDIN'
            copy_acc = 'COPY accounts ("userId", type, provider, "providerAccountId", access_token, refresh_token) FROM STDIN'
        with cur.copy(copy_users) as copy:
            for i in range(1, n + 1):
                created = base + dt.timedelta(seconds=i * 37)
                verified = created + dt.timedelta(minutes=5) if i % 3 == 0 else None
                uid = f"clu{i:021d}" if adapter == "prisma" else i
                row = [uid, f"User {i}", f"user{i}@example.com", verified,
                       f"https://avatars.example/{i}.png" if i % 2 else None]
                if adapter == "prisma":
                    naive = lambda t: None if t is None else t.replace(tzinfo=None)  # noqa: E731
                    row[3] = naive(verified)
                    row += [support.BCRYPT if i % 4 == 0 else None, naive(created), naive(created)]
                copy.write_row(row)
        with cur.copy(copy_acc) as copy:
            for i in range(1, n + 1):
                uid = f"clu{i:021d}" if adapter == "prisma" else i
                for k in range(1 if i % 2 else 2):  # 1.5 accounts per user on average
                    prov = PROVIDERS[(i + k) % len(PROVIDERS)]
                    row = [uid, "oauth", prov, f"{prov}-{i}-{k}", "ya29." + "x" * 120, "1//" + "r" * 60]
                    if adapter == "prisma":
                        row.append(dt.datetime(2024, 1, 1))
                    copy.write_row(row)
                    accounts += 1
    conn.execute("ANALYZE")
    return accounts


def load_mysql(my, support, n: int) -> int:
    """The Prisma MySQL schema + a password column; n users and 1.5 n accounts by multi-row INSERTs."""
    my.create_database("bench")
    my.execute_script("bench", support.fixture_sql("prisma.mysql.sql"))
    conn = my.connect(db="bench", autocommit=False)
    base = dt.datetime(2023, 1, 1)
    accounts = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00', unique_checks = 0, foreign_key_checks = 0")
            cur.execute("ALTER TABLE `User` ADD COLUMN `password` VARCHAR(191) NULL")
            users, accs = [], []
            for i in range(1, n + 1):
                created = base + dt.timedelta(seconds=i * 37)
                verified = created + dt.timedelta(minutes=5) if i % 3 == 0 else None
                uid = f"clu{i:021d}"
                users.append((uid, f"User {i}", f"user{i}@example.com", verified,
                              f"https://avatars.example/{i}.png" if i % 2 else None,
                              support.BCRYPT if i % 4 == 0 else None))
                for k in range(1 if i % 2 else 2):
                    prov = PROVIDERS[(i + k) % len(PROVIDERS)]
                    accs.append((uid, "oauth", prov, f"{prov}-{i}-{k}", "ya29." + "x" * 120, "1//" + "r" * 60))
                if len(users) >= 5000 or i == n:
                    cur.executemany("INSERT INTO `User` (id, name, email, emailVerified, image, password) "
                                    "VALUES (%s, %s, %s, %s, %s, %s)", users)
                    cur.executemany("INSERT INTO `Account` (userId, type, provider, providerAccountId, access_token, "
                                    "refresh_token) VALUES (%s, %s, %s, %s, %s, %s)", accs)
                    accounts += len(accs)
                    users, accs = [], []
            cur.execute("ANALYZE TABLE `User`, `Account`")
        conn.commit()
    finally:
        conn.close()
    return accounts


def run_command(url: str, out: Path, fmt: str) -> tuple[int, float, float, str, str]:
    """python -m console export-db in a new process: (exit, wall s, peak RSS MB, stdout, stderr)."""
    env = {**os.environ, "AUTHJS_DATABASE_URL": url}
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "console", "export-db", "--out", str(out), "--format", fmt, "--json"],
            cwd=ROOT, env=env, stdout=so, stderr=se,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        return proc.returncode, wall, usage.ru_maxrss / 1024.0, so.read().decode(), se.read().decode()


def measure(label: str, url: str, users: int, fmt: str) -> bool:
    from console.dbexport import export_database

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"users.{fmt}"
        t1 = time.perf_counter()
        summary = export_database(url, out, fmt=fmt)
        engine_s = time.perf_counter() - t1
        assert summary.rows == users, summary.rows
        size = out.stat().st_size
        print(f"{label} engine:  {summary.rows:,} rows in {engine_s:.2f} s = {summary.rows / engine_s:,.0f} rows/s "
              f"({size / 1e6:.1f} MB, {summary.with_providers:,} users with providers, "
              f"{summary.with_password:,} with a password)", flush=True)
        code, cli_s, rss_mb, stdout, stderr = run_command(url, out, fmt)
        if code != 0:
            print(f"{label} command failed ({code}): {stderr.strip()}", file=sys.stderr)
            return False
        rows = json.loads(stdout)["rows"]
        assert rows == users, rows
        print(f"{label} command: {rows:,} rows in {cli_s:.2f} s wall (new process, connect, detect, export) "
              f"= {rows / cli_s:,.0f} rows/s; peak RSS {rss_mb:.0f} MB", flush=True)
    ok = cli_s < TARGET_S and rss_mb < TARGET_RSS_MB
    verdict = "OK" if ok else "OVER TARGET"
    print(f"{label} target < {TARGET_S:.0f} s and < {TARGET_RSS_MB:.0f} MB RSS: {verdict}", flush=True)
    return ok


def bench_postgresql(support, args) -> bool:
    cluster = support.PgCluster()
    try:
        t0 = time.perf_counter()
        cluster.start()
        cluster.create_database("bench")
        with cluster.connect(db="bench") as conn:
            accounts = load(conn, support, args.adapter, args.users)
        print(f"postgresql setup: cluster + {args.users:,} users, {accounts:,} accounts loaded with COPY "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        return measure(f"postgresql/{args.adapter}", cluster.url(db="bench"), args.users, args.format)
    finally:
        cluster.stop()


def bench_mysql(support, args) -> bool:
    my = support.MariaDBServer()
    try:
        t0 = time.perf_counter()
        my.start()
        version = my.connect().get_server_info().replace("5.5.5-", "")
        accounts = load_mysql(my, support, args.users)
        print(f"mysql setup: MariaDB {version} + {args.users:,} users, {accounts:,} accounts loaded "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        return measure("mysql/prisma", my.url("bench"), args.users, args.format)
    finally:
        my.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=("all", "postgresql", "mysql"), default="all")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--adapter", choices=("prisma", "pg"), default="prisma", help="PostgreSQL schema")
    ap.add_argument("--format", choices=("ndjson", "json"), default="ndjson")
    args = ap.parse_args()

    support = _support()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    ok = True
    if args.server in ("all", "postgresql"):
        ok = bench_postgresql(support, args) and ok
    if args.server in ("all", "mysql"):
        ok = bench_mysql(support, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
