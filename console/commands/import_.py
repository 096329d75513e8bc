"""`clerk-migrate import EXPORT --run DIR`: the headless face of the importer.

Re-running the same command resumes the run. Progress goes to stderr (a live
line on a terminal, a plain line every few seconds otherwise); with --json the
summary object is the only thing on stdout. Ctrl-C stops sending, waits for
the requests in flight and exits 130 (a second Ctrl-C quits at once; the
journal stays consistent either way).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from console.commands.common import (
    EXIT_INTERRUPTED,
    CommandError,
    duration,
    emit_json,
    note,
    positive_float,
    positive_int,
)
from console.migration.progress import Progress

PLAIN_EVERY_S = 5.0


# ----------------------------------------------------------------- shared options
def add_export_options(parser: argparse.ArgumentParser) -> None:
    """How to read the export, as `validate` takes them (given only on the first run;
    a resume reuses the run's own unless they differ, which is refused)."""
    parser.add_argument("--format", choices=("json", "ndjson", "csv"), default=None, help="the export's format (default: detected)")
    parser.add_argument(
        "--map",
        action="append",
        default=None,
        metavar="FIELD=COLUMN",
        help="read FIELD (e.g. email) from the export's COLUMN; repeatable",
    )
    parser.add_argument(
        "--unverified",
        choices=("oauth", "reserved", "verified", "refuse"),
        default=None,
        help="emails without an emailVerified date: oauth (default: verified when the user has an OAuth account, else reserved), reserved, verified (risky), or refuse the row",
    )
    parser.add_argument(
        "--plaintext",
        choices=("send", "refuse"),
        default=None,
        help="a value that looks like a plaintext password: refuse the row (default) or send it",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=positive_float, default=None, metavar="R", help="requests per second (default: 90%% of the instance's limit)")
    parser.add_argument("--concurrency", type=positive_int, default=64, metavar="N", help="most requests in flight (default 64)")
    parser.add_argument("--headroom", type=_share, default=None, metavar="H",
                        help="share of the instance's limit to use when --rate is not given (default 0.9; 1.0 = all of "
                        "it, less a 0.25 s guard for the network's jitter: 97.6%%)")
    parser.add_argument("--instance-limit", type=positive_int, default=None, metavar="N",
                        help="the instance's limit in requests per 10 s when Clerk raised it (default: 1000 Production, "
                        "100 Development); give --concurrency >= pace x latency x 1.5 with it")
    parser.add_argument("--timeout", type=positive_float, default=30.0, metavar="S", help="seconds to wait for an answer (default 30)")
    parser.add_argument("--max-attempts", type=positive_int, default=6, metavar="N", help="sends of a row whose answer is lost (default 6)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    parser.add_argument("--detach", action="store_true",
                        help="check, then run in a background worker that outlives the terminal and return at once")


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share above 0 and at most 1")
    return value


def policies_from_args(args: argparse.Namespace) -> dict[str, str] | None:
    """The policy choices given on the command line (None: none). Only those: a new run takes
    the defaults for the rest, a resume its own (run.choose_policies), so `--plaintext send`
    on the resume of a run made with another --unverified default is compared on --plaintext
    alone."""
    choices = {}
    if args.unverified is not None:
        choices["unverified_email"] = args.unverified
    if args.plaintext is not None:
        choices["plaintext_password"] = args.plaintext
    return choices or None


def mapping_from_args(args: argparse.Namespace) -> dict[str, str] | None:
    if not args.map:
        return None
    mapping: dict[str, str] = {}
    for item in args.map:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise CommandError(f"--map {item!r}: expected FIELD=COLUMN, e.g. email=user_email", 2)
        mapping[field.strip()] = column.strip()
    return mapping


def load_key_settings():
    from console.settings import load_settings

    settings = load_settings()
    for line in settings.notes:
        note(f"clerk-migrate: note: {line}")
    return settings


# ----------------------------------------------------------------- progress on stderr
def format_progress(p: Progress) -> str:
    """One line, most important first (a terminal cuts the end, never wraps)."""
    parts = [f"{p.created + p.existed}/{p.total}", f"created {p.created}"]
    if p.existed:
        parts.append(f"existed {p.existed}")
    if p.failed:
        parts.append(f"failed {p.failed}")
    parts.append(f"pending {p.pending + p.creating}")
    parts.append(f"{p.rate_now:.1f}/s (avg {p.rate_overall:.1f})")
    if p.eta_s is not None and p.pending + p.creating:
        parts.append(f"ETA {duration(p.eta_s)}")
    if p.paused_for_s > 0:
        parts.append(f"429: waiting {p.paused_for_s:.1f}s")
    if p.state not in ("running", "done"):
        parts.append(p.state)
    parts.append(f"in flight {p.in_flight}")
    if p.latency_p50_ms is not None:
        parts.append(f"p50/p95 {p.latency_p50_ms:.0f}/{p.latency_p95_ms or 0:.0f} ms")
    parts.append(f"pace {p.pace:.1f}/s" + (" (capped)" if p.capped_to is not None else ""))
    if p.rate_limited:
        parts.append(f"429s {p.rate_limited}")
    if p.retries:
        parts.append(f"resends {p.retries}")
    return " · ".join(parts)


class StderrProgress:
    """A live line on a terminal (rich), else a plain line every few seconds."""

    def __init__(self, *, every_s: float = PLAIN_EVERY_S) -> None:
        self.tty = sys.stderr.isatty()
        self.every_s = every_s
        self._last = 0.0
        self._live = None
        self._last_text = ""
        self._cap_said = False

    def __enter__(self) -> "StderrProgress":
        if self.tty:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            self._Text = Text
            self._live = Live(Text(""), console=Console(stderr=True), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __call__(self, p: Progress) -> None:
        if p.cap and not self._cap_said:  # once: a --rate the instance caps
            self._cap_said = True
            if self._live is not None:
                self._live.console.print(f"clerk-migrate: note: {p.cap}", markup=False, highlight=False)
            else:
                note(f"clerk-migrate: note: {p.cap}")
        text = format_progress(p)
        if self._live is not None:
            self._live.update(self._Text(text, no_wrap=True, overflow="ellipsis"))
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._last_text = text
            note(text)

    def final(self, p: Progress | None) -> None:
        if p is None:
            return
        text = format_progress(p)
        if self._live is not None:
            self._live.update(self._Text(text, no_wrap=True, overflow="ellipsis"))
        elif text != self._last_text:
            note(text)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None


def load_progress(rows: int, read: int, size: int) -> None:
    pct = f" ({100.0 * read / size:.0f}%)" if size else ""
    note(f"reading the export: {rows} rows{pct}")


def report(result: Any, *, as_json: bool) -> int:
    summary = result.summary
    if as_json:
        emit_json(summary)
    else:
        print(human_summary(summary))
    if result.message:
        note(f"clerk-migrate: {result.message}")
    if result.exit_code == EXIT_INTERRUPTED:
        note("clerk-migrate: interrupted: run the same command to resume")
    elif result.exit_code == 1 and summary.get("failed"):
        note(
            f"clerk-migrate: {summary['failed']} row(s) failed: see `clerk-migrate status --run {summary['run']}`, "
            f"then `clerk-migrate retry --run {summary['run']}`"
        )
    return result.exit_code


def human_summary(s: dict[str, Any]) -> str:
    lines = [
        f"run {s['run']} ({s['instance']} instance)",
        f"  rows {s['rows']}: importable {s['importable']}, refused {s['refused']}",
        f"  created {s['created']}, existed {s['existed']}, failed {s['failed']}, pending {s['pending']}",
        f"  requests {s['requests']}, rate limited {s['rate_limited']}, {s['duration_s']} s, "
        f"{s['created_per_s']} created/s",
    ]
    for group in s.get("failures") or []:
        param = f" ({group['param']})" if group.get("param") else ""
        retry = " [retryable]" if group.get("retryable") else ""
        lines.append(f"  failed {group['count']:>6}  {group['code']}{param}{retry}: {group.get('example') or ''}")
    for code, n in (s.get("refusals") or {}).items():
        lines.append(f"  refused {n:>5}  {code}")
    from console.migration.preflight import refusal_line

    settings_line = refusal_line(s.get("refusals") or {})
    if settings_line:
        lines.append(f"  {settings_line}")
    return "\n".join(lines)


# ----------------------------------------------------------------- the command
def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="import the export's users into Clerk; re-running the same command resumes",
        description="Import the export's users into the Clerk instance of CLERK_SECRET_KEY, journaled in --run DIR. "
        "Re-running the same command resumes the run. Exit 0 all importable rows created or already there, "
        "1 some failed, 2 refused, 130 interrupted.",
    )
    parser.add_argument("export", metavar="EXPORT", help="the Auth.js users export (JSON, NDJSON or CSV)")
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder (created on the first run)")
    parser.add_argument("--yes", action="store_true", help="confirm an import into a Production (sk_live_) instance")
    parser.add_argument("--dev-cap", type=positive_int, default=None, metavar="N",
                        help="the users a Development instance holds (default 100, Clerk's documented cap; Clerk's "
                        "own quota answer corrects it)")
    parser.add_argument("--legal", metavar="skip|column:NAME", default=None,
                        help="when the instance requires legal consent: skip (skip_legal_checks) or column:NAME "
                        "(legal_accepted_at from the export's column NAME); see `clerk-migrate preflight`")
    parser.add_argument("--accounts", metavar="FILE", default=None,
                        help="the Auth.js accounts export (OAuth providers, joined by userId): recorded in the run "
                        "(path and sha256) and read with the export by every later step; a resume checks it")
    parser.add_argument("--reconcile", action="store_true",
                        help="resume a run whose journal lost commits (or check every row): look every row that is "
                        "not created up in Clerk and adopt the users that carry this run's marker")
    add_run_options(parser)
    add_export_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.commands import preflight as pf
    from console.migration.journal import is_run_folder
    from console.migration.run import prepare_run

    settings = load_key_settings()
    policies = policies_from_args(args)
    mapping = mapping_from_args(args)
    new_run = not is_run_folder(args.run)
    rules_setting: dict[str, Any] = {}
    read = None
    if new_run:  # the instance's settings decide what is sent and refused (issue 13, console/migration/preflight.py)
        mapping, rules_setting, read = pf.rules_for_new_run(settings, args.legal, mapping, confirmed_production=args.yes)
    elif mapping is not None and args.legal:
        mapping = pf.resume_mapping(mapping, args.legal)
    # a refusal of the load (guards, busy, changed export or accounts, unreadable input) reaches
    # cli.main as a MigrationError (or an ExportError it maps): one line, exit 2
    journal = prepare_run(
        args.run,
        args.export,
        settings,
        policies=policies,
        fmt=args.format,
        mapping=mapping,
        confirmed_production=args.yes,
        on_load_progress=_throttled(load_progress),
        run_settings={"rate": args.rate, "concurrency": args.concurrency, "max_attempts": args.max_attempts,
                      **({"dev_cap": args.dev_cap} if args.dev_cap else {}), **rules_setting},
        reconcile=args.reconcile,
        accounts=args.accounts,
    )
    try:
        if args.dev_cap and journal.info.settings.get("dev_cap") != args.dev_cap:  # a resume with another --dev-cap
            journal.update_run(settings={**journal.info.settings, "dev_cap": args.dev_cap})
        if journal.lost_commits:
            note(f"clerk-migrate: the journal had lost commits ({journal.lost_commits}); every row not created is "
                 "looked up in Clerk first, and the users that carry this run's marker are adopted back")
        # every blocker before any write (blockers.py); the Development room is counted by the
        # session itself (foreground) or by --detach's check before its worker starts
        pf.settle_run(journal, settings, args.legal, read, kind="import", confirmed_production=args.yes)
        pf.say_plan(journal)
        if args.detach:  # the worker takes it from here (commands/detach.py)
            from console.commands.detach import detach

            return detach(journal, settings, args, kind="import", confirmed_production=args.yes)
        return run_importer(journal, settings, args, confirmed_production=args.yes, kind="import")
    finally:
        journal.close()


def job_options(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The import/retry job options of add_run_options' flags (JSON values)."""
    return {"rate": args.rate, "concurrency": args.concurrency, "max_attempts": args.max_attempts,
            "timeout": args.timeout, "headroom": args.headroom, "instance_limit": args.instance_limit, **extra}


def run_importer(journal: Any, settings: Any, args: argparse.Namespace, *, confirmed_production: bool, kind: str,
                 codes: list[str] | None = None, row_nos: list[int] | None = None) -> int:
    """The import (or retry) job on this checked run, in the foreground, its progress on stderr."""
    from console.commands.common import drive_job
    from console.migration.jobs import JobSpec

    extra: dict[str, Any] = {"confirmed_production": confirmed_production}
    if kind == "retry":
        extra.update(codes=codes, row_nos=row_nos)
    spec = JobSpec(kind, str(journal.run_dir), job_options(args, **extra))
    with StderrProgress() as progress:
        result, last = drive_job(spec, settings, journal=journal, on_snapshot=progress)
        progress.final(last)
    return report(result, as_json=args.json)


def _throttled(fn: Callable[[int, int, int], None], every_s: float = PLAIN_EVERY_S) -> Callable[[int, int, int], None]:
    last = [time.monotonic()]

    def call(rows: int, read: int, size: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            fn(rows, read, size)

    return call
