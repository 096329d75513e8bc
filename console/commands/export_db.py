"""`clerk-migrate export-db [--db URL] --out FILE [--users-table T] [--accounts-table T]
[--format ndjson|json] [--json]`

Exports the users of an Auth.js database (SQLite, PostgreSQL, MySQL or MariaDB)
to a file that `validate`/`import` read. Exit 0 on success, 2 when refused or
unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from console.commands.common import EXIT_REFUSED, CommandError, emit_json, note

ENV_URL = "AUTHJS_DATABASE_URL"
PROGRESS_EVERY_S = 1.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-db",
        help="export users straight from the Auth.js database (SQLite, PostgreSQL, MySQL/MariaDB)",
        description=(
            "Export users (with their OAuth providers and password digest) from an Auth.js "
            "database to a file that `validate` and `import` read. The database is only read."
        ),
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help=f"sqlite:///path/to/dev.db, postgresql://user@host/db or mysql://user@host:3306/db "
        f"(mariadb:// too; default: ${ENV_URL}; prefer the variable: a password on the command line "
        "is visible to other users)",
    )
    p.add_argument(
        "--users-table",
        metavar="T",
        help="the Auth.js users table (name or schema.name, e.g. next_auth.users, myapp_user) when "
        "more than one fits or the name is unusual",
    )
    p.add_argument(
        "--accounts-table",
        metavar="T",
        help="the Auth.js accounts table (name or schema.name); default: the users table's partner",
    )
    p.add_argument("--out", metavar="FILE", required=True, help="the export file to write (replaced atomically)")
    p.add_argument(
        "--format",
        choices=("ndjson", "json"),
        help="ndjson (one user per line, the default) or json (an array); default from the extension: .json -> json",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(func=run)


class _Progress:
    def __init__(self) -> None:
        self.last = 0.0
        self.shown = -1

    def __call__(self, rows: int, total: int) -> None:
        now = time.monotonic()
        if rows == self.shown or (rows and rows < total and now - self.last < PROGRESS_EVERY_S):
            return
        self.shown = rows
        if rows == 0 and total:
            note(f"export-db: reading {total:,} users")
        elif rows:
            note(f"export-db: {rows:,}/{total:,} rows")
        self.last = now


def run(args: argparse.Namespace) -> int:
    from console.dbexport import DbExportError, export_database, mask_url, parse_database_url

    url = args.db or os.environ.get(ENV_URL, "")
    if not url.strip():
        raise CommandError(f"no database URL: pass --db URL or set {ENV_URL}", EXIT_REFUSED)
    try:
        db = parse_database_url(url)
    except DbExportError as exc:
        raise CommandError(exc.message, EXIT_REFUSED) from None
    try:
        summary = export_database(
            db,
            args.out,
            fmt=args.format,
            users_table=args.users_table,
            accounts_table=args.accounts_table,
            on_progress=_Progress(),
            on_notice=lambda m: note(f"export-db: {m}"),
        )
    except DbExportError as exc:
        raise CommandError(db.scrub(exc.message), EXIT_REFUSED) from None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a bug: still one line, still no password
        if os.environ.get("CLERK_MIGRATE_DEBUG"):
            raise
        msg = db.scrub(" ".join(f"{type(exc).__name__}: {exc}".split()))
        raise CommandError(
            f"export from {mask_url(url)} failed: internal error: {msg} (set CLERK_MIGRATE_DEBUG=1 for details)",
            70,
        ) from None
    note(
        f"export-db: wrote {summary.rows:,} users to {summary.out} ({summary.format}, "
        f"{summary.with_password:,} with a password, {summary.with_providers:,} with OAuth providers) "
        f"in {summary.duration_s:.1f} s"
    )
    if args.db and db.has_password:
        note(f"export-db: note: a password in --db is visible to other local users; prefer {ENV_URL}")
    if args.json:
        emit_json(summary.as_json())
    sys.stderr.flush()
    return 0
