"""`clerk-migrate status --run DIR [--json]`: counts and the failure breakdown."""

from __future__ import annotations

import argparse
from datetime import datetime

from console.commands.common import CommandError, emit_json
from console.commands.import_ import engine_errors, error_line, human_summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status",
        help="counts and the failure breakdown of a run",
        description="Show a run's counts by status, its failures grouped by Clerk code and its refusals.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.migration.run import open_run

    try:
        journal = open_run(args.run, readonly=True)  # status writes nothing: it works on a read-only run folder too
    except engine_errors() as exc:
        raise CommandError(error_line(exc), 2) from None
    try:
        from console.migration.status import read_status

        live = read_status(args.run, journal=journal)  # + state, pid, rate, eta_s (docs/jobs.md)
        summary = live.as_json()
        if args.json:
            emit_json(summary)
            return 0
        print(human_summary(summary))
        print(f"  state {live.state}" + (f" ({live.kind}, pid {live.pid})" if live.pid else "")
              + (f", {live.rate}/s" if live.rate else "") + (f", ETA {live.eta_s:.0f} s" if live.eta_s else "")
              + (f", controlled by {live.controller.get('label')}" if live.controller else "")
              + (f": {live.message}" if live.message else ""))
        print(f"  export {summary['export']} (sha256 {str(summary['sha256'])[:12]}…), key {summary['key']}, {summary['base_url']}")
        events = journal.events(limit=5)
        for event in events:
            when = datetime.fromtimestamp(event["at"]).strftime("%Y-%m-%d %H:%M:%S")
            print(f"  {when}  {event['kind']}: {event['message']}")
        if summary["pending"]:
            print(f"  {summary['pending']} row(s) still to send: run the same import command to resume")
        if summary["retryable"]:
            print(f"  {summary['retryable']} failed row(s) can be retried: clerk-migrate retry --run {summary['run']}")
        return 0
    finally:
        journal.close()
