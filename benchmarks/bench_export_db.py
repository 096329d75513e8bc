"""Benchmark: export-db from PostgreSQL, 100,000 users with ~1.5 OAuth accounts each.

    .venv/bin/python benchmarks/bench_export_db.py [--users N] [--adapter prisma|pg] [--format ndjson|json]

Starts a throwaway PostgreSQL cluster (as tests/dbexport_support.py does: initdb
+ pg_ctl on 127.0.0.1, as the `postgres` user when run as root), creates the
adapter's schema, loads the rows with COPY, then times
1. the engine (`console.dbexport.export_database`), and
2. the whole command in a fresh process (`python -m console export-db …`),
and prints wall times and rows/s. Target: under 10 s for 100,000 users.
Exit 1 when the command's wall time is over the target.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--adapter", choices=("prisma", "pg"), default="prisma")
    ap.add_argument("--format", choices=("ndjson", "json"), default="ndjson")
    args = ap.parse_args()

    support = _support()
    from console.dbexport import export_database

    cluster = support.PgCluster()
    try:
        t0 = time.perf_counter()
        cluster.start()
        cluster.create_database("bench")
        with cluster.connect(db="bench") as conn:
            accounts = load(conn, support, args.adapter, args.users)
        print(f"setup: cluster + {args.users:,} users, {accounts:,} accounts loaded with COPY "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        url = cluster.url(db="bench")

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"users.{args.format}"
            t1 = time.perf_counter()
            summary = export_database(url, out, fmt=args.format)
            engine_s = time.perf_counter() - t1
            assert summary.rows == args.users, summary.rows
            size = out.stat().st_size
            print(f"engine:  {summary.rows:,} rows in {engine_s:.2f} s = {summary.rows / engine_s:,.0f} rows/s "
                  f"({size / 1e6:.1f} MB, {summary.with_providers:,} users with providers)", flush=True)

            env = {**os.environ, "AUTHJS_DATABASE_URL": url}
            t2 = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-m", "console", "export-db", "--out", str(out), "--format", args.format, "--json"],
                cwd=ROOT, env=env, capture_output=True, text=True,
            )
            cli_s = time.perf_counter() - t2
            if r.returncode != 0:
                print(f"command failed ({r.returncode}): {r.stderr.strip()}", file=sys.stderr)
                return 2
            rows = json.loads(r.stdout)["rows"]
            print(f"command: {rows:,} rows in {cli_s:.2f} s wall (new process, connect, detect, export) "
                  f"= {rows / cli_s:,.0f} rows/s", flush=True)
        verdict = "OK" if cli_s < TARGET_S else "OVER TARGET"
        print(f"target < {TARGET_S:.0f} s: {verdict}")
        return 0 if cli_s < TARGET_S else 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
