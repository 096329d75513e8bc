"""`clerk-migrate unmark --run DIR [--yes] [--rate R] [--json]`: remove the run marker
(`private_metadata.clerk_migrate`) from the users this run created, once the migration
is accepted. One PATCH per user, paced by the instance's budget, resumable.

It says first what it will do (how many users, requests and how long at the pace),
then asks (type `yes`) on a terminal, or needs --yes. After it, undo can no longer
tell this run's users in Clerk and keeps them all. Exit 0 every marker removed (or
the user already gone), 1 some not removed (run it again), 2 refused (not a run
folder, another instance's key, no terminal and no --yes, not confirmed, the key
refused by Clerk), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console.commands.common import CommandError, duration, emit_json, note, positive_float, progress_line


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "unmark",
        help="remove the run marker from the users this run created (after the migration)",
        description="Remove private_metadata.clerk_migrate (the run marker) from every user this run created: "
        "one PATCH per user, paced, resumable. Afterwards undo cannot tell this run's users and deletes none. "
        "Exit 0 all done, 1 some not done, 2 refused.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--yes", action="store_true", help="do not ask: remove the markers")
    parser.add_argument("--rate", type=positive_float, default=None, metavar="R",
                        help="requests per second (default: 90%% of the instance's limit)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def plan_text(plan: Any) -> str:
    lines = [
        f"unmark removes the run marker (private_metadata.clerk_migrate, run {plan.run_id}) from {plan.to_unmark} "
        f"user(s) this run created in the {plan.instance or '?'} instance ({plan.key_masked}, {plan.base_url}):",
        f"  {plan.to_unmark} request(s) (one PATCH per user), about {duration(plan.eta_s)} at {plan.pace:g} requests/s",
        "  their other metadata stays as it is; afterwards `undo` cannot tell this run's users and deletes none",
    ]
    if plan.already_done:
        lines.append(f"  {plan.already_done} user(s) were done by an earlier unmark of this run")
    if plan.undone:
        lines.append(f"  {plan.undone} user(s) were deleted by undo: nothing to do for them")
    if plan.legacy:
        lines.append(f"  {plan.legacy} user(s) were created before run markers existed: they carry none")
    return "\n".join(lines)


def _render(p: Any) -> str:
    parts = [f"unmark: {p.done + p.gone}/{p.total} done"]
    if p.gone:
        parts.append(f"{p.gone} gone")
    return progress_line(p, parts)


def run(args: argparse.Namespace) -> int:
    from console.commands.verify import LineProgress, drive, key_settings, open_run_or_exit, refuse_blocked
    from console.migration.jobs import JobSpec
    from console.migration.run import confirm_instance_now, key_is_the_runs
    from console.migration.unmark import unmark_plan

    journal = open_run_or_exit(args.run)
    try:
        settings = key_settings()
        refuse_blocked(journal, settings, "unmark")  # a key, the run's instance
        if not args.yes and not sys.stdin.isatty():
            raise CommandError("unmark changes every user of the run: pass --yes (there is no terminal to ask on)", 2)
        plan = unmark_plan(journal, settings, rate=args.rate)
        if plan.to_unmark == 0 and not key_is_the_runs(journal, settings):
            confirm_instance_now(journal, settings)  # nothing to change, but another key: whose instance is it?
        if plan.to_unmark == 0:
            message = "nothing to unmark: no user of this run still carries its marker"
            if args.json:
                emit_json({"run": str(journal.run_dir), "to_unmark": 0, "done": 0, "gone": 0, "failed": 0,
                           "remaining": 0, "already_done": plan.already_done, "message": message})
            else:
                print(message)
            return 0
        note(plan_text(plan))
        if not args.yes:
            sys.stderr.write(f"Type yes to remove the marker from these {plan.to_unmark} user(s): ")
            sys.stderr.flush()
            if sys.stdin.readline().strip() != "yes":
                raise CommandError("not confirmed: nothing was changed", 2)
        progress = LineProgress(_render)
        spec = JobSpec("unmark", str(journal.run_dir), {"rate": args.rate})
        result, last = drive(spec, settings, journal, progress, "unmark", "unmark stopped")
        progress.final(last)
        r = result.summary
        if args.json:
            emit_json({**r, "plan": plan.as_dict()})
        else:
            print(f"unmark: {r['done']} done, {r['gone']} already gone, {r['failed']} failed, "
                  f"{r['remaining']} left; {r['requests']} requests, {r['duration_s']} s")
            for item in r["not_unmarked"][:20]:
                print(f"  not done: row {item['row']} ({item['external_id']}, {item['clerk_user_id']}): "
                      f"{item['code']}: {item['message']}")
        if result.message:
            note(f"clerk-migrate: {result.message}")
        return result.exit_code
    finally:
        journal.close()
