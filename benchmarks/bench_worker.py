"""Benchmark: the import run through the detached worker (`import --detach`), production limits.

    .venv/bin/python benchmarks/bench_worker.py [--rows 5000] [--latency-ms 150] [--jitter-ms 50]

The same happy path as bench_import.py (the sandbox in its own process with Clerk's
production limit, 1000 requests / 10 s, and 150 ± 50 ms latency), but the import
is started with `python -m console import … --detach`: the starter returns at once
and the worker (its own session, no terminal) does the work, while a client stays
attached to its socket the whole time and receives its snapshots, as a console
would. Prints the starter's wall time, the sustained created/s (rows 10%..90%,
from the journal's outcome times) against the 90/s pace (target >= 98%), 429s,
requests per row, the worker's CPU (its own getrusage, from worker.log) and the
snapshots the attached client received per second. Exit 1 when a target is missed
or a row is lost, duplicated or has the wrong id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_import as bi  # noqa: E402  (start_sandbox, check_rows, PACE)

from console.migration.control import attach  # noqa: E402
from console.sandbox import make_key  # noqa: E402
from console.sandbox.samples import write_sample_export  # noqa: E402


def detach(export: Path, run: Path, url: str, key: str) -> tuple[int, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=url, PYTHONPATH=str(ROOT))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "console", "import", str(export), "--run", str(run), "--yes", "--json", "--detach"],
        cwd=run.parent, env=env, capture_output=True, text=True,
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"import --detach exited {proc.returncode}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)["pid"], wall


async def watch(run: Path) -> dict:
    """Attached for the whole run, as a console: count the snapshots, keep the result."""
    link = await attach(run, label="bench")
    start = time.monotonic()
    n = 0
    async for _snap in link:
        n += 1
    result = await link.wait_result()
    await link.close()
    span = time.monotonic() - start
    return {"snapshots": n, "span_s": span, "per_s": n / span if span else 0.0, "result": result}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--latency-ms", type=float, default=150)
    ap.add_argument("--jitter-ms", type=float, default=50)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        tmp_path = Path(tmp)
        export = write_sample_export(tmp_path / "users.json", n=args.rows, seed=1)
        sandbox, url = bi.start_sandbox("--latency-ms", str(args.latency_ms), "--jitter-ms", str(args.jitter_ms))
        try:
            key = make_key("production", "bench-worker")
            run = tmp_path / "run"
            pid, starter_wall = detach(export, run, url, key)
            w = asyncio.run(watch(run))
            result = w["result"]
            s = result.summary
            log = (run / "worker.log").read_text()
            m = re.search(r"cpu ([\d.]+) s over ([\d.]+) s", log)
            cpu, life = (float(m.group(1)), float(m.group(2))) if m else (float("nan"), float("nan"))
            check = bi.check_rows(run, url, key)
            per_row = s["requests"] / max(1, s["created"] + s["existed"])
            share = check["sustained"] / bi.PACE
            print(f"== import --detach: {args.rows} rows ({s['importable']} importable, {s['refused']} refused), "
                  f"sandbox {args.latency_ms:g}±{args.jitter_ms:g} ms, production limit 1000/10 s")
            print(f"   starter returned in {starter_wall:.2f} s (worker pid {pid}); worker exit {result.exit_code}")
            print(f"   created {s['created']}, existed {s['existed']}, failed {s['failed']}, pending {s['pending']}")
            print(f"   sustained created/s (rows 10%..90%): {check['sustained']:.1f} = {100 * share:.1f}% of the pace "
                  f"{bi.PACE:g}/s (target >= 98%)")
            print(f"   overall created/s: {s['created_per_s']} over {s['duration_s']} s")
            print(f"   429s: {s['rate_limited']} (target 0); requests per row: {per_row:.4f} (target 1.0)")
            print(f"   worker CPU: {cpu:.2f} s over its {life:.1f} s life = {100 * cpu / life:.1f}% of one core")
            print(f"   attached client: {w['snapshots']} snapshots in {w['span_s']:.1f} s = {w['per_s']:.2f}/s")
            print(f"   lost {check['lost']}, duplicates {check['duplicates']}, wrong id {check['wrong_id']}, "
                  f"refused sent {check['refused_sent']}")
            ok &= share >= 0.98 and s["rate_limited"] == 0 and abs(per_row - 1.0) < 1e-9 and result.exit_code == 0
            ok &= not (check["lost"] or check["duplicates"] or check["wrong_id"] or check["refused_sent"])
        finally:
            sandbox.terminate()
            sandbox.wait(10)
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
