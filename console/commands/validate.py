"""`clerk-migrate validate EXPORT [--json] [--report FILE.csv] [--format …] [--accounts FILE]
[--map TARGET=COLUMN …] [--unverified oauth|reserved|verified|refuse] [--plaintext send|refuse]
[--instance development|production]`

Reads and checks an export; writes nothing but the optional report. A summary
by code and severity goes to stderr (a table on a terminal), the contract's
JSON object to stdout with --json, every issue as a CSV row with --report.
Exit 0: every row importable; 1: some rows refused (or a run-level blocker);
2: unreadable input (one line: file, row or byte offset, what was expected).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import IO

from console.commands.common import EXIT_REFUSED, CommandError, note
from console.source import (
    FIELDS,
    FORMATS,
    UNVERIFIED_POLICIES,
    VERIFIED_POLICY_RISK,
    ExportError,
    Policies,
    ValidationReport,
    parse_mapping,
    validate_export,
    write_report_csv,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="read and check an export; nothing is sent",
        description=(
            "Read an Auth.js export (JSON array, NDJSON, CSV or mongoexport output) and say which rows "
            "will import, which will import with a change, and which will not. Nothing is sent to Clerk."
        ),
    )
    p.add_argument("export", metavar="EXPORT", help="the export file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--report", metavar="FILE.csv", help="write every issue as a CSV row")
    p.add_argument("--format", choices=FORMATS, help="override the detected format")
    p.add_argument(
        "--accounts",
        metavar="FILE",
        help="the Auth.js accounts export (JSON, NDJSON, CSV or mongoexport): joins each user's OAuth "
        "providers by userId",
    )
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="TARGET=COLUMN",
        help=f"read TARGET from COLUMN (fields: {', '.join(FIELDS)}; or public_metadata.KEY, "
        "private_metadata.KEY, unsafe_metadata.KEY, nested as KEY.SUBKEY, for a custom column); repeatable",
    )
    p.add_argument(
        "--unverified",
        choices=UNVERIFIED_POLICIES,
        default="oauth",
        help="emails without an emailVerified date: oauth (default) imports them verified when the user "
        "has an OAuth account, else reserved (verified on first sign-in); reserved reserves them all; "
        f"verified imports them all verified ({VERIFIED_POLICY_RISK}); refuse refuses the rows",
    )
    p.add_argument(
        "--plaintext",
        choices=("send", "refuse"),
        default="refuse",
        help="plaintext passwords: refuse the row (default) or send as a password without checks",
    )
    p.add_argument(
        "--instance",
        choices=("development", "production"),
        help="the target instance kind (a Development instance holds at most 100 users)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        mapping = parse_mapping(args.map)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_REFUSED) from None
    policies = Policies(unverified_email=args.unverified, plaintext_password=args.plaintext)
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        report = validate_export(
            args.export,
            policies=policies,
            fmt=args.format,
            mapping=mapping or None,
            instance_kind=args.instance,
            on_progress=progress,
            accounts=args.accounts,
        )
    except ExportError as exc:
        if progress:
            progress.clear()
        raise CommandError(str(exc), EXIT_REFUSED) from None
    except ValueError as exc:  # a bad --map field
        raise CommandError(str(exc), EXIT_REFUSED) from None
    except OSError as exc:  # the file went away or the disk failed mid-read
        if progress:
            progress.clear()
        raise CommandError(f"{args.export}: cannot read: {exc.strerror or exc}", EXIT_REFUSED) from None
    if progress:
        progress.clear()
    if args.report:
        try:
            write_report_csv(report, args.report)
        except OSError as exc:
            raise CommandError(f"{args.report}: cannot write the report: {exc.strerror or exc}", EXIT_REFUSED) from None
    if sys.stderr.isatty():
        _summary_table(report, policies)
    else:
        for line in summary_lines(report, policies):
            note(line)
    if args.report:
        note(f"validate: {len(report.issues):,} issues written to {args.report}")
    if args.json:
        write_json(report, sys.stdout)
    return report.exit_code


def write_json(report: ValidationReport, out: IO[str]) -> None:
    """The --json object, streamed: a million-issue list is never built twice."""
    head = report.header_json()
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    out.write(', "issues": [')
    dumps = json.dumps
    first = True
    for issue in report.issues:
        out.write(("" if first else ", ") + dumps(issue.as_dict(), ensure_ascii=False))
        first = False
    out.write("]}\n")
    out.flush()


def summary_lines(report: ValidationReport, policies: Policies) -> list[str]:
    lines = [
        f"validate: {report.path}: {report.format}, {report.shape} shape, {report.rows:,} rows "
        f"in {report.duration_s:.1f} s",
        f"validate: {report.importable:,} importable ({report.warned:,} with a change), "
        f"{report.refused:,} refused",
    ]
    for code, severity, count in report.summary_rows():
        lines.append(f"  {severity:<8} {code:<22} {count:>10,}")
    if report.accounts:
        acc = report.accounts
        lines.append(
            f"validate: accounts {acc['path']}: {acc['rows']:,} rows, {acc['users']:,} users with an OAuth "
            f"account; not joined: {acc['not_oauth']:,} of type email/credentials/webauthn, "
            f"{acc['incomplete']:,} without a userId or provider"
        )
    if report.unverified:
        lines.append(
            f"validate: {report.unverified:,} emails have no emailVerified date "
            f"({report.unverified_with_oauth:,} of them OAuth users)"
        )
    lines.extend(f"validate: {line}" for line in report.email_lines())
    for issue in report.issues:
        if issue.row != 0:
            break
        kind = "blocker" if issue.severity == "error" else "note"
        lines.append(f"{kind}: {issue.message}")
    return lines


def _summary_table(report: ValidationReport, policies: Policies) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(stderr=True)
    head, counts, *rest = summary_lines(report, policies)
    console.print(Text(head))
    console.print(Text(counts, style="bold"))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("severity")
    table.add_column("code")
    table.add_column("count", justify="right")
    for code, severity, count in report.summary_rows():
        style = "red" if severity == "error" else "yellow"
        table.add_row(Text(severity, style=style), Text(code), Text(f"{count:,}"))
    if report.by_code:
        console.print(table)
    for line in rest:
        if not line.startswith("  "):
            console.print(Text(line))


class _Progress:
    """A one-line progress counter on a terminal's stderr."""

    def __init__(self) -> None:
        self.shown = False
        self.last = 0.0

    def __call__(self, rows: int, bytes_read: int, size: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.25:
            return
        self.last = now
        pct = 100 * bytes_read / size if size else 100
        sys.stderr.write(f"\rvalidate: {rows:,} rows, {pct:.0f}%   ")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
            self.shown = False
