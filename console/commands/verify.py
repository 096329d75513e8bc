"""`clerk-migrate verify --run DIR [--sample N | --all] [--seed S] [--json]`:
read the run's users back from Clerk and compare them with the export.

Exit 0 every checked user matches (and Clerk holds at least as many users as
the run created or found), 1 a mismatch or a missing user, 2 refused (not a
run folder, newer journal, another instance's key, the export missing or
changed, the key refused by Clerk), 130 interrupted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from console.commands.common import CommandError, duration, emit_json, note, positive_float, whole_number

SHOWN = 20  # mismatches / missing users printed in the human output
PLAIN_EVERY_S = 5.0


# ----------------------------------------------------------------- shared by verify / undo / unmark
def open_run_or_exit(run_dir: str):
    """The run, checked in full (a refusal is a MigrationError: one line, exit 2, cli.main)."""
    from console.migration.run import open_run

    return open_run(run_dir)


def key_settings():
    from console.commands.import_ import load_key_settings

    return load_key_settings()


def refuse_blocked(journal: Any, settings: Any, kind: str) -> None:
    """blockers.local_blockers for a session of `kind` (no request): the first one's line, exit 2."""
    from console.migration.blockers import local_blockers

    for blocker in local_blockers(journal, settings, kind=kind):
        raise blocker.error()


def drive(spec: Any, settings: Any, journal: Any, on_snapshot: Any, what: str, failing: str) -> Any:
    """The job in the foreground (common.drive_job): Ctrl-C / SIGTERM once = its safe stop
    (in-flight requests finish), twice = quit now. A refusal by Clerk's answer is said as
    `failing: …`, any other refusal as it is."""
    from console.commands.common import drive_job
    from console.migration.errors import MigrationError

    try:
        return drive_job(spec, settings, journal=journal, on_snapshot=on_snapshot,
                         stopping=f"stopping {what}: finishing the requests in flight",
                         interrupted=f"interrupted: run the same command again to {what} again")
    except MigrationError as exc:
        if exc.code in ("clerk_error", "unauthorized", "quota"):
            raise CommandError(f"{failing}: {exc.message}", exc.exit_code, exc.code) from None
        raise


class LineProgress:
    """One progress line on stderr: rewritten in place on a terminal, else printed every few seconds."""

    def __init__(self, render: Callable[[Any], str], *, every_s: float = PLAIN_EVERY_S) -> None:
        self.render = render
        self.every_s = every_s
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._last_text = ""
        self._width = 0

    def __call__(self, p: Any) -> None:
        text = self.render(p)
        if self.tty:
            pad = " " * max(0, self._width - len(text))
            sys.stderr.write("\r" + text + pad)
            sys.stderr.flush()
            self._width = len(text)
            self._last_text = text
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._last_text = text
            note(text)

    def final(self, p: Any) -> None:
        if p is None:
            return
        text = self.render(p)
        if self.tty:
            self(p)
            sys.stderr.write("\n")
            sys.stderr.flush()
        elif text != self._last_text:
            note(text)


# ----------------------------------------------------------------- verify
def _render(p: Any) -> str:
    parts = [f"verify: {p.checked}/{p.total} checked", f"matched {p.matched}"]
    if p.mismatched:
        parts.append(f"mismatched {p.mismatched}")
    if p.missing:
        parts.append(f"missing {p.missing}")
    parts.append(f"{p.requests} requests")
    if p.rate_limited:
        parts.append(f"429s {p.rate_limited}")
    if p.eta_s is not None and p.checked < p.total:
        parts.append(f"ETA {duration(p.eta_s)}")
    if p.state not in ("running", "done"):
        parts.append(p.state)
    return " · ".join(parts)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from console.migration.verify import DEFAULT_SAMPLE

    parser = sub.add_parser(
        "verify",
        help="read the run's users back from Clerk and compare them with the export",
        description="Read the users of a run back from Clerk (100 per request, paced) and compare them with "
        "the export: external id, primary email, verification, names, password set, created_at. "
        "Exit 0 all match, 1 mismatches or missing users, 2 refused.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sample", type=whole_number(0), default=None, metavar="N",
                       help=f"check N random created rows plus every existed row (default {DEFAULT_SAMPLE})")
    which.add_argument("--all", action="store_true", help="check every created and existed row")
    which.add_argument("--sign-in", metavar="EMAIL", default=None,
                       help="ask Clerk whether a password (read without echo, or one line of stdin) is this user's "
                       "(exit 0 verified, 1 not, 2 no such user in this run)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="the sample's random seed (default: a random one, printed)")
    parser.add_argument("--rate", type=positive_float, default=None, metavar="R",
                        help="requests per second (default: 90%% of the instance's limit)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.migration.jobs import JobSpec
    from console.migration.verify import DEFAULT_SAMPLE

    if args.sign_in is not None:  # sign-in proof (issue 13 §5): console/commands/sign_in.py
        from console.commands.sign_in import run_sign_in

        return run_sign_in(args)
    if args.seed is not None and args.all:
        raise CommandError("--seed goes with a sample, not with --all", 2)
    journal = open_run_or_exit(args.run)
    try:
        settings = key_settings()
        # before anything is printed: the key, the run's instance, the export and its accounts file
        refuse_blocked(journal, settings, "verify")
        sample = None if args.all else (DEFAULT_SAMPLE if args.sample is None else args.sample)
        seed = args.seed
        if sample is not None and seed is None:
            seed = random.SystemRandom().randrange(1, 2**31)
        counts = journal.counts()
        if sample is None:
            note(f"clerk-migrate: verifying every user of the run ({counts['created']} created, "
                 f"{counts['existed']} existed)")
        else:
            note(f"clerk-migrate: verifying a sample of {min(sample, counts['created'])} created rows "
                 f"(seed {seed}) and the {counts['existed']} existed row(s)")
        spec = JobSpec("verify", str(journal.run_dir), {"sample": sample, "all": sample is None, "seed": seed,
                                                       "rate": args.rate})
        progress = LineProgress(_render)
        result, last = drive(spec, settings, journal, progress, "verify", "verify could not finish")
        progress.final(last)
        report = result.summary
        if args.json:
            emit_json(report)
        else:
            print(human_report(report))
        if result.message:
            note(f"clerk-migrate: {result.message}")
        return result.exit_code
    finally:
        journal.close()


def human_report(r: dict[str, Any]) -> str:
    """The verify --json object for a terminal."""
    what = "every row" if r["sample"] is None else f"sample of {r['sample']} created rows (seed {r['seed']}) + existed rows"
    short = r["clerk_total"] is not None and r["clerk_total"] < r["expected_total"]
    report_path = r.get("report")
    lines = [
        f"verify ({what}): checked {r['checked']}, matched {r['matched']}, "
        f"mismatched {r['mismatched_users']} user(s) / {r['mismatched_fields']} field(s), missing {r['missing_count']}",
        f"  Clerk holds {r['clerk_total'] if r['clerk_total'] is not None else '?'} users; this run expects at least "
        f"{r['expected_total']} (created + existed{', less undone' if r['undone'] else ''})"
        + ("  <- fewer than expected" if short else ""),
        f"  {r['requests']} requests, {r['duration_s']} s" + (f", {r['rate_limited']} rate-limited"
                                                             if r["rate_limited"] else ""),
    ]
    for m in r["mismatched"][:SHOWN]:
        lines.append(f"  mismatch  row {m['row']} ({m['external_id']}, {m['clerk_user_id']}): {m['field']}: "
                     f"expected {m['expected']!r}, Clerk has {m['found']!r}")
    if r["mismatched_fields"] > SHOWN:
        lines.append(f"  … {r['mismatched_fields'] - SHOWN} more mismatched field(s): see --json or {report_path}")
    for m in r["missing"][:SHOWN]:
        held = f"; external id now held by {m['held_by']}" if m.get("held_by") else ""
        lines.append(f"  missing   row {m['row']} ({m['external_id']}): no Clerk user {m['clerk_user_id']}{held}")
    if r["missing_count"] > SHOWN:
        lines.append(f"  … {r['missing_count'] - SHOWN} more missing user(s): see --json or {report_path}")
    if report_path:
        lines.append(f"  results: {report_path}")
    if r["ok"]:
        lines.append("  all checked users match")
    return "\n".join(lines)
