"""How long a key press waits for its handler while the console loads a big export.

    .venv/bin/python scripts/measure_key_latency.py [EXPORT] [--rows N]

Writes a sample export of N rows (default 1,000,000) with the sandbox's
generator if EXPORT does not exist, opens the real console (`make_app`) in a
headless terminal, starts the Load step on it, and from another thread (as the
terminal driver does) sends a key (down, to the step rail) every 100 ms while
the load runs. Each key's latency is the time from the send to its handler
(the rail's cursor_down action). Prints p50 / p95 / max, and the same with no
load for comparison. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

from textual import events

from console.settings import SecretKey, Settings
from console.tui.app import make_app
from console.tui.options import ConsoleOptions
from console.tui.widgets.step_rail import StepRail


def quantiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"n={len(values)}  p50={statistics.median(values) * 1000:.1f} ms  "
        f"p95={p95 * 1000:.1f} ms  max={max(values) * 1000:.1f} ms"
    )


async def measure(export: Path, during_load: bool, seconds: float = 5.0) -> tuple[list[float], float]:
    settings = Settings(SecretKey("sk_live_" + "m" * 40), "env", "http://127.0.0.1:9")
    app = make_app(ConsoleOptions(settings=settings, export_path=export, auto_live_check=False))
    latencies: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        rail = app.query_one(StepRail)
        handled = threading.Event()
        stamp: list[float] = [0.0]
        original = rail.action_cursor_down

        def probe() -> None:
            stamp[0] = time.perf_counter()
            handled.set()
            original()

        rail.action_cursor_down = probe  # type: ignore[method-assign]
        app.go_to("load")
        started = time.perf_counter()
        if during_load:
            app.start_load(export)
        rail.focus()
        await pilot.pause()
        stop = threading.Event()

        def presser() -> None:
            while not stop.is_set():
                handled.clear()
                sent = time.perf_counter()
                app.post_message(events.Key("down", None))  # thread-safe, like the driver's thread
                if handled.wait(5.0):
                    latencies.append(stamp[0] - sent)
                    if stamp[0] - sent > 0.05:
                        print(f"  slow key at {sent - started:.2f} s: {(stamp[0] - sent) * 1000:.0f} ms (load {app.state.load.status})", file=sys.stderr)
                stop.wait(0.1)

        thread = threading.Thread(target=presser, daemon=True)
        thread.start()
        if during_load:
            while app.state.load.status not in ("loaded", "failed"):
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join()
        await pilot.pause()  # the last key is handled before the app closes
        if during_load and app.state.load.status != "loaded":
            print(f"load failed: {app.state.load.error}", file=sys.stderr)
        if during_load:
            report = app.state.report
            print(f"loaded {report.rows:,} rows ({report.size_bytes / 1e6:.0f} MB) in {elapsed:.1f} s, "
                  f"{len(report.issues):,} issues", file=sys.stderr)
    return latencies, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", default="/tmp/users-1m.json")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    export = Path(args.export)
    if not export.exists():
        from console.sandbox.samples import write_sample_export

        print(f"writing {args.rows:,} sample rows to {export} …", file=sys.stderr)
        write_sample_export(export, n=args.rows, seed=1)
    idle, _ = asyncio.run(measure(export, during_load=False))
    busy, elapsed = asyncio.run(measure(export, during_load=True))
    print(f"key -> handler, idle:         {quantiles(idle)}")
    print(f"key -> handler, during load:  {quantiles(busy)}  (load {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
