"""`clerk-migrate retry --run DIR [--code CODE …] [--row N …]`: resend failed rows.

Without --code or --row: every retryable failed row (no answer after every
attempt, or a row the operator fixed). Exit codes as import.
"""

from __future__ import annotations

import argparse

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
    add_run_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.commands.preflight import settle_run
    from console.migration.run import open_run

    settings = load_key_settings()
    journal = open_run(args.run)  # a refusal reaches cli.main: one line, exit 2
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
