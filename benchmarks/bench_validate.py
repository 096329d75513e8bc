"""Benchmark: `validate` on a 1,000,000-row Prisma-shaped JSON array.

    .venv/bin/python benchmarks/bench_validate.py [--rows N] [--file PATH] [--accounts] [--json]

Writes (or reuses) the sample export `console.sandbox.samples.write_sample_export`
makes (the rows `export-db` writes, with a realistic share of problems) under
/tmp/clerk-migrate-bench/, then, each in a fresh process so that the figures
are its own:

1. `validate_export(path)`: wall time, CPU time and peak RSS (ru_maxrss);
2. the stages, timed separately:
   - read/parse: every byte through the reader's tap (count, sha256, UTF-8
     check) and the JSON window (the C decoder, rows as dicts, depth and
     repeated-key checks), no mapping;
   - map + checks: `ExportReader.rows()` (one pass maps a row to a SourceUser
     and runs the catalogue on it; they are one function, so they are timed
     together) minus read/parse;
   - report: `validate_export` minus `rows()` (counting, the issues list).
   Each stage is printed as rows/s.

With --accounts, also an accounts export beside it (Prisma `Account` rows with
fake tokens, NDJSON, written once under /tmp/clerk-migrate-bench/: every user one
OAuth account, every second user a second one, 1,500,000 rows for 1,000,000
users), and two more fresh processes:

3. `open_accounts(accounts)` alone: wall, CPU, the user ids in the join, and
   the peak RSS above the interpreter's (what the join costs);
4. `validate_export(path, accounts=accounts)`: wall, CPU, peak RSS.

Target: under 15 s wall and under 600 MB peak RSS for 1,000,000 rows on a
2-core machine (without the accounts file). Exit 1 when a target is missed. The
load average before and after is printed: other work on the machine slows the
wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_S = 15.0
TARGET_RSS_MB = 600.0
BENCH_DIR = Path("/tmp/clerk-migrate-bench")


def sample_path(rows: int) -> Path:
    return BENCH_DIR / f"users-{rows}.json"


def accounts_path(users: Path) -> Path:
    return users.with_name(users.stem.replace("users", "accounts") + ".ndjson")


def ensure_accounts(users: Path) -> Path:
    """An accounts export for every user of `users` (written once)."""
    path = accounts_path(users)
    if path.exists() and path.stat().st_size > 0:
        return path
    from console.source import open_export

    partial = path.with_suffix(".partial")
    n = 0
    with open(partial, "w", encoding="utf-8") as out:
        for i, checked in enumerate(open_export(users).rows()):
            uid = checked.user.external_id
            if uid is None:
                continue
            providers = list(checked.user.providers[:1]) or ["github"]
            if i % 2:
                providers.append("google" if providers[0] == "github" else "github")
            for provider in providers:
                n += 1
                out.write(json.dumps({
                    "id": f"acc{n}", "userId": uid, "type": "oauth", "provider": provider,
                    "providerAccountId": str(100000 + n), "refresh_token": None,
                    "access_token": f"fake-access-token-{n:09d}", "expires_at": 1709641230,
                    "token_type": "bearer", "scope": "read:user,user:email", "id_token": None,
                    "session_state": None}, separators=(",", ":")) + "\n")
    partial.replace(path)
    return path


def ensure_sample(path: Path, rows: int) -> float:
    """Write the sample export unless a complete one is there; seconds spent."""
    if path.exists() and path.stat().st_size > 0:
        return 0.0
    from console.sandbox.samples import write_sample_export

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    write_sample_export(partial, n=rows, seed=1, fmt="json")
    partial.replace(path)  # only a complete file is ever reused
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_now_mb() -> float:
    """The resident set now (Linux /proc), to see what a kept object costs."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


# ---- child processes (one measurement each) ----------------------------------

def child_validate(path: str) -> dict:
    import console.source as source  # imports first: the baseline RSS includes them

    baseline = peak_rss_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    report = source.validate_export(path)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "rows": report.rows,
        "importable": report.importable,
        "refused": report.refused,
        "warned": report.warned,
        "issues": len(report.issues),
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "by_code": {f"{c}/{s}": n for (c, s), n in sorted(report.by_code.items())},
    }


def child_accounts(path: str) -> dict:
    import console.source as source

    import gc

    gc.collect()
    before = rss_now_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    index = source.open_accounts(accounts_path(Path(path)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    gc.collect()
    return {"rows": index.rows, "users": index.users, "wall_s": wall, "cpu_s": cpu,
            "peak_rss_mb": peak_rss_mb(), "kept_mb": rss_now_mb() - before}


def child_validate_accounts(path: str) -> dict:
    import console.source as source

    wall0, cpu0 = time.perf_counter(), time.process_time()
    report = source.validate_export(path, accounts=accounts_path(Path(path)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"rows": report.rows, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(),
            "email_verification": report.email_verification}


def child_stages(path: str) -> dict:
    from console.source.readers import _records, _Tap, open_export

    p = Path(path)
    reader = open_export(p)
    cpu0 = time.process_time()
    with open(p, "rb") as f:
        tap = _Tap(f, p)
        _, records = _records(reader.format, tap, p)
        n = sum(1 for _ in records)
        tap.drain()
        tap.hexdigest()
    parse = time.process_time() - cpu0
    cpu0 = time.process_time()
    for _ in reader.rows():
        pass
    rows = time.process_time() - cpu0
    return {"rows": n, "parse_cpu_s": parse, "rows_cpu_s": rows}


def run_child(kind: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--file", str(path)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench_validate: the {kind} measurement failed")
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="an export to measure instead of the generated sample")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--accounts", action="store_true", help="also measure an accounts file beside the export")
    parser.add_argument("--child", choices=("validate", "stages", "accounts", "validate_accounts"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child = {"validate": child_validate, "stages": child_stages, "accounts": child_accounts,
                 "validate_accounts": child_validate_accounts}[args.child]
        print(json.dumps(child(str(args.file))))
        return 0

    path = args.file or sample_path(args.rows)
    generated_s = 0.0 if args.file else ensure_sample(path, args.rows)
    size_mb = path.stat().st_size / 1e6
    load_before = os.getloadavg()
    full = run_child("validate", path)
    stages = run_child("stages", path)
    acc = acc_full = None
    if args.accounts:
        ensure_accounts(path)
        acc = run_child("accounts", path)
        acc_full = run_child("validate_accounts", path)
    load_after = os.getloadavg()

    rows = full["rows"]
    parse_s = stages["parse_cpu_s"]
    checks_s = max(stages["rows_cpu_s"] - parse_s, 1e-9)
    report_s = max(full["cpu_s"] - stages["rows_cpu_s"], 1e-9)
    figures = {
        "file": str(path),
        "size_mb": round(size_mb, 1),
        "rows": rows,
        "wall_s": round(full["wall_s"], 2),
        "cpu_s": round(full["cpu_s"], 2),
        "peak_rss_mb": round(full["peak_rss_mb"], 1),
        "baseline_rss_mb": round(full["baseline_rss_mb"], 1),
        "rows_per_s": round(rows / full["wall_s"]),
        "stages_cpu_s": {"read_parse": round(parse_s, 2), "map_checks": round(checks_s, 2),
                         "report": round(report_s, 2)},
        "stages_rows_per_s": {"read_parse": round(rows / parse_s), "map_checks": round(rows / checks_s),
                              "report": round(rows / report_s)},
        "importable": full["importable"], "refused": full["refused"], "warned": full["warned"],
        "issues": full["issues"],
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "json_reader": "stdlib json C decoder (object_pairs_hook=tuple) in a bounded window",
        "generated_s": round(generated_s, 1),
    }
    if acc is not None and acc_full is not None:
        figures["accounts"] = {
            "file": str(accounts_path(path)),
            "size_mb": round(accounts_path(path).stat().st_size / 1e6, 1),
            "rows": acc["rows"], "users": acc["users"],
            "open_wall_s": round(acc["wall_s"], 2), "open_cpu_s": round(acc["cpu_s"], 2),
            "open_peak_rss_mb": round(acc["peak_rss_mb"], 1),
            "join_rss_mb": round(acc["kept_mb"], 1),
            "join_bytes_per_user": round(acc["kept_mb"] * 1024 * 1024 / max(acc["users"], 1)),
            "validate_wall_s": round(acc_full["wall_s"], 2), "validate_cpu_s": round(acc_full["cpu_s"], 2),
            "validate_peak_rss_mb": round(acc_full["peak_rss_mb"], 1),
            "email_verification": acc_full["email_verification"],
        }
    ok = figures["wall_s"] < TARGET_S and figures["peak_rss_mb"] < TARGET_RSS_MB
    figures["within_target"] = ok
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"validate {path} ({size_mb:,.0f} MB, {rows:,} rows)"
              + (f"  [generated in {generated_s:.0f} s]" if generated_s else ""))
        print(f"  wall {figures['wall_s']:.2f} s (target < {TARGET_S:.0f} s), cpu {figures['cpu_s']:.2f} s, "
              f"{figures['rows_per_s']:,} rows/s")
        print(f"  peak RSS {figures['peak_rss_mb']:.0f} MB (target < {TARGET_RSS_MB:.0f} MB; "
              f"{figures['baseline_rss_mb']:.0f} MB after imports)")
        print("  stages (CPU time, rows/s):")
        for name, label in (("read_parse", "read/parse"), ("map_checks", "map + checks"), ("report", "report")):
            print(f"    {label:<13} {figures['stages_cpu_s'][name]:6.2f} s  "
                  f"{figures['stages_rows_per_s'][name]:>12,} rows/s")
        print(f"  {full['importable']:,} importable, {full['refused']:,} refused, {full['warned']:,} "
              f"with a change, {full['issues']:,} issues")
        if "accounts" in figures:
            a = figures["accounts"]
            print(f"  accounts {a['file']} ({a['size_mb']:,.0f} MB, {a['rows']:,} rows, {a['users']:,} users): "
                  f"read in {a['open_wall_s']:.2f} s (peak RSS {a['open_peak_rss_mb']:.0f} MB), the join keeps "
                  f"{a['join_rss_mb']:.0f} MB ({a['join_bytes_per_user']} bytes a user)")
            print(f"  validate with accounts: wall {a['validate_wall_s']:.2f} s, cpu {a['validate_cpu_s']:.2f} s, "
                  f"peak RSS {a['validate_peak_rss_mb']:.0f} MB")
        print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
              f"({os.cpu_count()} CPUs, Python {platform.python_version()})")
        print("  within target" if ok else "  TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
