"""Benchmark: the preflight's streaming pass (`check_export`) on the 1,000,000-row sample export.

    .venv/bin/python benchmarks/bench_preflight.py [--rows N] [--json]

Reuses (or writes) the sample export of benchmarks/bench_validate.py under /tmp/clerk-migrate-bench/
and measures, each in a fresh process so that the figures are its own (wall, CPU, peak RSS):

1. the reader's pass alone (`for row in open_export(path).rows()`: read, map, the export's checks);
2. `check_export(path, rules)` with the demo instance's settings made demanding (last names
   turned off, GitHub sign-in off, a password required, legal consent with the `skip` policy): every
   row goes through every rule: the same pass plus the
   settings' rules, the counts and the example rows of every finding.

3. `Tally.add` alone over 100,000 rows read beforehand: the rules' CPU per row.

The difference is what the preflight adds to a pass the import's load makes anyway (the load
runs the same Tally). Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DIR = Path("/tmp/clerk-migrate-bench")


def _child(kind: str, path: str) -> None:
    from console.clerk.models import InstanceSettings
    from console.migration.preflight import BodyRules, check_export
    from console.sandbox.instance_settings import attribute, environment_json, merge_user_settings
    from console.source import open_export

    settings = merge_user_settings({"attributes": {"last_name": attribute(False)},
                                    "social": {"oauth_github": {"enabled": False}},
                                    "sign_up": {"legal_consent_enabled": True}})
    rules = BodyRules.from_settings(InstanceSettings.from_environment(environment_json(settings)), legal="skip")
    if kind == "tally":  # the rules alone: Tally.add over rows read beforehand
        from itertools import islice

        from console.migration.preflight import Tally

        rows = list(islice(open_export(path).rows(), 100_000))
        tally = Tally(rules, "refuse")
        cpu0 = time.process_time()
        for checked in rows:
            tally.add(checked)
        per_row = (time.process_time() - cpu0) / len(rows) * 1e6
        print(json.dumps({"kind": kind, "rows": len(rows), "us_per_row": round(per_row, 2)}))
        return
    started, cpu0 = time.perf_counter(), time.process_time()
    if kind == "reader":
        rows = sum(1 for _ in open_export(path).rows())
        extra: dict = {"rows": rows}
    else:
        readiness = check_export(path, rules)
        extra = {"rows": readiness.rows, "refused_by_settings": readiness.refused_by_settings,
                 "findings": {f.code: f.count for f in readiness.findings if f.source == "settings"}}
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(rss), **extra}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    path = BENCH_DIR / f"users-{args.rows}.json"
    if not path.exists():
        from console.sandbox.samples import write_sample_export

        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        write_sample_export(path, args.rows)
    results = []
    load = os.getloadavg()[0]
    for kind in ("reader", "preflight", "tally"):
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                             check=True)
        results.append(json.loads(out.stdout))
    report = {"rows": args.rows, "file_mb": round(path.stat().st_size / 1e6), "load_before": round(load, 2),
              "load_after": round(os.getloadavg()[0], 2), "results": results,
              "preflight_overhead_s": round(results[1]["wall_s"] - results[0]["wall_s"], 2)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.rows:,} rows ({report['file_mb']} MB), load {report['load_before']} -> {report['load_after']}")
        for r in results[:2]:
            print(f"  {r['kind']:<10} wall {r['wall_s']:>6.2f} s  CPU {r['cpu_s']:>6.2f} s  peak RSS {r['peak_rss_mb']} MB")
        print(f"  preflight adds {report['preflight_overhead_s']:.2f} s wall; settings findings: "
              f"{results[1]['findings']}")
        print(f"  the rules alone: {results[2]['us_per_row']} µs of CPU a row (Tally.add over "
              f"{results[2]['rows']:,} rows read beforehand)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
