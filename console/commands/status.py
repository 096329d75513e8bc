"""`clerk-migrate status --run DIR [--json]`: what the run is doing and what it holds.

One `RunStatus` (console/migration/status.py): the counts and the failure breakdown, the
state (new, running, paused, stopped, finished, dead) with the pid and rate, the last
verification, the last sync, the undo and the unmark, and the marks of the last steps (the
console's rail reads the same).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from console.commands.common import emit_json
from console.commands.import_ import human_summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status",
        help="counts and the failure breakdown of a run",
        description="Show a run's counts by status, its failures grouped by Clerk code and its refusals, what "
        "works on it now, and what the later steps (verify, sync, undo, unmark) left.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.migration.run import open_run
    from console.migration.status import read_status

    journal = open_run(args.run, readonly=True)  # status writes nothing: it works on a read-only run folder too
    try:
        live = read_status(args.run, journal=journal)  # + state, pid, rate, eta_s (docs/jobs.md), figures
        summary = live.as_json()
        if args.json:
            emit_json(summary)
            return 0
        print(human_summary(summary))
        print(f"  state {live.state}" + (f" ({live.kind}, pid {live.pid})" if live.pid else "")
              + (f", {live.rate:.1f}/s" if live.rate else "") + (f", ETA {live.eta_s:.0f} s" if live.eta_s else "")
              + (f", controlled by {live.controller.get('label')}" if live.controller else "")
              + (f": {live.message}" if live.message else ""))
        print(f"  export {summary['export']} (sha256 {str(summary['sha256'])[:12]}…), key {summary['key']}, {summary['base_url']}")
        for line in later_lines(live.figures):
            print(f"  {line}")
        events = journal.events(limit=5)
        for event in events:
            when = datetime.fromtimestamp(event["at"]).strftime("%Y-%m-%d %H:%M:%S")
            print(f"  {when}  {event['kind']}: {event['message']}")
        if summary["pending"] and live.state == "running":
            print(f"  {summary['pending']} row(s) still to send: the {live.kind or 'job'} is sending them"
                  f" (clerk-migrate stop --run {summary['run']} stops it safely)")
        elif summary["pending"]:
            print(f"  {summary['pending']} row(s) still to send: run the same import command to resume")
        if summary["retryable"]:
            print(f"  {summary['retryable']} failed row(s) can be retried: clerk-migrate retry --run {summary['run']}")
        return 0
    finally:
        journal.close()


def later_lines(f: Any) -> list[str]:
    """What verify, the last sync, undo and unmark left, one line each (none when they never ran)."""
    if f is None:
        return []
    out = []
    v = f.verify_last
    if v:
        out.append(f"verify: {v.get('checked', 0)} checked, {v.get('matched', 0)} matched, "
                   f"{v.get('mismatched_users', 0)} mismatched, {v.get('missing_count', 0)} missing"
                   + ("" if v.get("complete", True) else " (stopped early)"))
    s = f.sync_last
    if s:
        out.append(f"last sync {s.get('sync')} ({s.get('export')}): {s.get('created', 0)} created, "
                   f"{s.get('updated', 0)} updated, {s.get('unchanged', 0)} unchanged, {s.get('removed', 0)} removed, "
                   f"{s.get('failed', 0)} failed" + (f", {s['left']} left" if s.get("left") else ""))
    if f.undone or f.undo_last or f.removed_created:
        removed = (f" ({f.removed_created} of them removed from the export by a sync)" if f.removed_created else "")
        out.append(f"undo: {f.undone} user(s) deleted; {f.undo_left} this run created would still be read back and "
                   f"deleted by `clerk-migrate undo`{removed}")
    if f.unmarked or f.unmark_last:
        left = (f.unmark_last or {}).get("remaining", 0)
        out.append(f"unmark: {f.unmarked} user(s) without the run marker" + (f", {left} left" if left else "")
                   + " (undo keeps every user once unmarked)")
    return out
