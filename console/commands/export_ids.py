"""`clerk-migrate export-ids --run DIR --out FILE.csv [--sql FILE.sql --fk TABLE.COLUMN … --dialect D] [--raw] [--json]`:
the old id -> Clerk id map, and optionally the SQL that rewrites the app's
foreign-key columns. Needs no key and no network: it reads the journal only.
The map and the SQL change together or not at all (outputs.write_outputs), and
the command says which rows are left out of the map and why.
"""

from __future__ import annotations

import argparse
import sys

from console.commands.common import CommandError, emit_json, note


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export-ids",
        help="write the Auth.js id -> Clerk id map (CSV), and SQL that rewrites foreign keys",
        description="Write external_id,clerk_user_id,email for every user of the run (created or already there), "
        "and with --sql a script that rewrites the named foreign-key columns to Clerk ids in one checked "
        "transaction. Also prints the session-token claim that keeps the old ids instead.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="where to write the id map")
    parser.add_argument("--sql", metavar="FILE.sql", default=None, help="also write the foreign-key rewrite script")
    parser.add_argument("--fk", action="append", default=[], metavar="TABLE.COLUMN",
                        help="a column holding Auth.js user ids (TABLE.COLUMN or SCHEMA.TABLE.COLUMN, "
                        "exact spelling); repeatable")
    parser.add_argument("--dialect", choices=("postgresql", "mysql", "sqlite"), default="postgresql",
                        help="the SQL dialect (default postgresql)")
    parser.add_argument("--raw", action="store_true",
                        help="write the map's cells exactly (for a program); by default a cell that starts like a "
                        "spreadsheet formula (= + - @) gets a leading ' so a spreadsheet shows it as text")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def _refuse_clobbering(journal, out: str, sql: str | None) -> None:
    """Never write the map or the script over the run's journal or its export."""
    import os
    from pathlib import Path

    from console.migration.journal import journal_path

    jp = journal_path(journal.run_dir)
    protected = {os.path.realpath(str(jp) + suffix): "the run's journal" for suffix in ("", "-wal", "-shm")}
    protected[os.path.realpath(journal.info.export_path)] = "the run's export"
    targets = [("--out", out)] + ([("--sql", sql)] if sql else [])
    for flag, path in targets:
        what = protected.get(os.path.realpath(path))
        if what:
            raise CommandError(f"{flag} {path}: that is {what}; give another file name", 2)
    if sql and os.path.realpath(sql) == os.path.realpath(out):
        raise CommandError(f"--out and --sql are the same file ({Path(out)}); give two names", 2)


def run(args: argparse.Namespace) -> int:
    from console.migration.outputs import (
        app_code_steps,
        left_out,
        parse_fk,
        session_claim_snippet,
        write_outputs,
    )
    from console.migration.run import open_run

    fks = [parse_fk(text, args.dialect) for text in args.fk]  # FkError: one line, exit 2 (cli.main)
    if fks and not args.sql:
        raise CommandError("--fk needs --sql FILE.sql (where to write the rewrite script)", 2)
    if args.sql and not fks:
        raise CommandError("--sql needs at least one --fk TABLE.COLUMN (the columns that hold Auth.js user ids)", 2)
    journal = open_run(args.run, readonly=True)  # read only: export-ids writes nothing into the run folder
    try:
        _refuse_clobbering(journal, args.out, args.sql)
        counts = journal.counts()
        ids, sql, finished = write_outputs(journal, args.out, args.sql, fks, args.dialect, raw=args.raw)
        if finished:
            note(f"clerk-migrate: finished an export-ids that was interrupted: {', '.join(finished)} renamed into place")
        missing = left_out(journal)
        not_in_clerk = counts["pending"] + counts["creating"] + counts["failed"]
        claim = session_claim_snippet()
        if args.json:
            emit_json({
                "run": str(journal.run_dir),
                "out": str(args.out),
                "rows": ids.rows,
                "created": ids.created,
                "existed": ids.existed,
                "skipped": len(ids.skipped),
                "escaped": ids.escaped,
                "not_in_clerk": not_in_clerk,
                "left_out": missing.as_dict(),
                "sql": sql.as_dict() if sql else None,
                "session_claim": claim.as_dict(),
                "app_code": [s.as_dict() for s in app_code_steps()],
            })
        else:
            print(f"wrote {ids.rows} ids to {args.out} ({ids.created} created, {ids.existed} already there)")
            print(f"  left out of the map: {missing.text()}")
            if sql:
                print(f"wrote the {sql.dialect} rewrite of {', '.join(sql.columns)} to {sql.path}")
                print(f"  run it with: {sql.run_with}")
            print(claim.text(), file=sys.stderr)
        if ids.escaped:
            note(f"clerk-migrate: {ids.escaped} cell(s) start like a spreadsheet formula (= + - @): written with a "
                 "leading ' (--raw writes them as they are)")
        if ids.skipped:
            note(f"clerk-migrate: {len(ids.skipped)} row(s) with a Clerk user but no external id are not in the map "
                 f"(rows {', '.join(map(str, ids.skipped[:10]))}{'…' if len(ids.skipped) > 10 else ''})")
        if not_in_clerk:
            note(f"clerk-migrate: {not_in_clerk} row(s) of the export are not in Clerk yet (pending or failed): "
                 "their ids are not in the map, and the SQL refuses to run while a column holds one of them")
        return 0
    finally:
        journal.close()
