"""`clerk-migrate stop --run DIR [--force] [--json]`: a safe stop of what works on a run.

A detached worker (`import --detach`) is asked through its socket: in-flight
requests finish, the stop is recorded in the journal, and the command returns
once the worker has ended. A foreground session (an `import` in another
terminal) gets SIGTERM, which it takes as the same safe stop. Exit 0 stopped
(or it had just ended), 2 nothing running, or another client controls the
worker (`--force` takes over).
"""

from __future__ import annotations

import argparse
import asyncio

from console.commands.common import CommandError, emit_json, note


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "stop",
        help="safely stop the import (or retry, verify, undo) working on a run",
        description="Ask the run's worker (or the session holding the run) for a safe stop and wait until "
        "nothing is in flight. Exit 0 stopped, 2 nothing running or controlled by another client.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--force", action="store_true",
                        help="take control from the console that holds it, then stop")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.migration.control import stop_run
    from console.migration.errors import MigrationError
    from console.migration.run import open_run

    try:
        open_run(args.run, readonly=True).close()  # a run folder at all: one line otherwise
    except MigrationError as exc:
        raise CommandError(exc.message, exc.exit_code) from None
    note(f"clerk-migrate: stopping the work on {args.run}: waiting for the requests in flight")
    try:
        outcome = asyncio.run(stop_run(args.run, force=args.force))
    except MigrationError as exc:
        raise CommandError(exc.message, exc.exit_code) from None
    result = outcome.result
    if args.json:
        out = {"run": args.run, "pid": outcome.pid, "worker": outcome.worker}
        if result is not None:
            out.update(exit_code=result.exit_code, stop_reason=result.stop_reason, message=result.message,
                       summary=result.summary)
        emit_json(out)
    else:
        what = f"worker pid {outcome.pid}" if outcome.worker else f"session pid {outcome.pid}"
        if result is None:
            print(f"stopped: {what} has let go of the run")
        else:
            s = result.summary
            counts = ", ".join(f"{k} {s[k]}" for k in ("created", "existed", "failed", "pending", "checked",
                                                          "deleted", "gone") if k in s)
            print(f"{result.kind or 'job'} {('stopped' if result.stop_reason else 'ended')} ({what}): {counts}"
                  + (f"\n  {result.message}" if result.message else ""))
    return 0
