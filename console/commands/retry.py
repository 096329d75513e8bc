"""`clerk-migrate retry --run DIR [--code CODE …] [--row N …]`: resend failed rows.

Without --code or --row: every retryable failed row (no answer after every
attempt, or a row the operator fixed). Exit codes as import.
"""

from __future__ import annotations

import argparse
from typing import Any

from console.commands.common import note
from console.commands.import_ import add_run_options, load_key_settings, run_importer


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "retry",
        help="resend failed rows (all retryable ones, or those with the given codes)",
        description="Reset failed rows of a run to pending and send them again: every retryable one "
        "(unknown outcome, or fixed by the operator), or those with the given Clerk codes or row numbers.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--code", action="append", default=None, metavar="CODE", help="retry failed rows with this code; repeatable")
    parser.add_argument("--row", action="append", type=int, default=None, metavar="N", help="retry this failed row; repeatable")
    parser.add_argument("--link-existing", action="store_true",
                        help="instead of resending: give each failed row's id (external_id) to the Clerk user that "
                        "already holds its email, and journal the row as existed (the plan is shown first; refused "
                        "when that user has another external_id). Default rows: form_identifier_exists on the email")
    parser.add_argument("--yes", action="store_true", help="with --link-existing: do not ask, link them")
    add_run_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.commands.preflight import settle_run
    from console.migration.run import open_run

    settings = load_key_settings()
    journal = open_run(args.run)  # a refusal reaches cli.main: one line, exit 2
    if args.link_existing:
        try:
            return link_existing(journal, settings, args)
        finally:
            journal.close()
    try:
        # every blocker first (the run was confirmed for Production when import created it):
        # the key, the run's instance, another session, the export and its accounts file, the
        # instance's settings against the run's rules (issue 13)
        settle_run(journal, settings, kind="retry", codes=args.code, row_nos=args.row)
        n = journal.count_retryable(codes=args.code, row_nos=args.row)
        what = "row(s) " + ", ".join(map(str, args.row)) if args.row else (
            "code(s) " + ", ".join(args.code) if args.code else "every retryable failed row"
        )
        note(f"clerk-migrate: retrying {n} failed row(s) ({what})")
        if args.detach:  # the worker takes it from here (commands/detach.py)
            from console.commands.detach import detach

            return detach(journal, settings, args, kind="retry", codes=args.code, row_nos=args.row)
        return run_importer(journal, settings, args, confirmed_production=True, kind="retry", codes=args.code,
                            row_nos=args.row)
    finally:
        journal.close()


# ----------------------------------------------------------------- --link-existing (issue 15 item 17)
def link_existing(journal: Any, settings: Any, args: argparse.Namespace) -> int:
    """The plan (stderr: row, email, Clerk user, its external_id now, what happens), the
    operator's yes, then the link job (console/migration/link.py)."""
    import asyncio
    import sys

    from console.commands.common import CommandError, emit_json
    from console.commands.verify import LineProgress, drive, refuse_blocked
    from console.migration.jobs import JobSpec
    from console.migration.link import plan_links

    refuse_blocked(journal, settings, "link")  # the key (and --yes's Production rule, confirmed at import), the run
    plan = asyncio.run(plan_links(journal, settings, codes=args.code, row_nos=args.row, rate=args.rate,
                                  timeout=args.timeout))
    note(plan_text(plan))
    acting = len(plan.to_link) + plan.count("already")
    if not acting:
        summary = {"run": str(journal.run_dir), "plan": plan.as_json(), "linked": 0, "already": 0,
                   "refused": len(plan.items), "failed": 0, "requests": plan.requests}
        if args.json:
            emit_json(summary)
        else:
            print("link: nothing to link" + (f" ({len(plan.items)} row(s) refused, see above)" if plan.items else ""))
        return 1 if plan.items else 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("--link-existing changes Clerk users' external_id: pass --yes (there is no terminal "
                               "to ask on)", 2)
        sys.stderr.write(f"Type yes to link these {len(plan.to_link)} Clerk user(s): ")
        sys.stderr.flush()
        if sys.stdin.readline().strip() != "yes":
            raise CommandError("not confirmed: nothing was linked", 2)
    if args.detach:
        from console.commands.detach import detach

        return detach(journal, settings, args, kind="link", codes=args.code, row_nos=args.row, rate=args.rate,
                      timeout=args.timeout)
    progress = LineProgress(_render_link)
    spec = JobSpec("link", str(journal.run_dir), {"codes": args.code, "row_nos": args.row, "rate": args.rate,
                                                 "timeout": args.timeout})
    result, last = drive(spec, settings, journal, progress, "link", "link stopped")
    progress.final(last)
    r = result.summary
    if args.json:
        emit_json(r)
    else:
        print(f"link: {r['linked']} linked, {r['already']} held the id already, {r['refused']} refused, "
              f"{r['failed']} failed; {r['requests']} requests")
        for item in r["items"]:
            if item["outcome"] not in ("linked", "already"):
                print(f"  not linked: row {item['row']} ({item['external_id']}, {item['email']}): {item['message']}")
    if result.message:
        note(f"clerk-migrate: {result.message}")
    return result.exit_code


def plan_text(plan: Any) -> str:
    """The link plan for a terminal: one line per row."""
    lines = [f"link plan: {len(plan.items)} failed row(s): {len(plan.to_link)} to link, {plan.count('already')} "
             f"holding the id already, {len(plan.items) - len(plan.to_link) - plan.count('already')} refused"]
    for i in plan.items[:200]:
        who = (f"Clerk user {i.clerk_user_id} (external_id {i.current_external_id or 'none'})" if i.clerk_user_id
               else "no Clerk user")
        lines.append(f"  row {i.row} {i.email or '-'} -> {who}: {i.action}: {i.reason}")
    if len(plan.items) > 200:
        lines.append(f"  … {len(plan.items) - 200} more (--json lists all)")
    return "\n".join(lines)


def _render_link(p: Any) -> str:
    return (f"link: {p.linked + p.already + p.refused + p.failed}/{p.total} · linked {p.linked} · "
            f"refused {p.refused} · failed {p.failed} · {p.requests} requests" + (f" · {p.state}"
                                                                                  if p.state not in ("running", "done")
                                                                                  else ""))
