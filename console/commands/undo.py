"""`clerk-migrate undo --run DIR [--yes] [--json]`: delete the users this run
created, and only those. Resumable: run it again to continue.

Before deleting it reads those users back and says how many signed in since
the import, and keeps every user whose copy in Clerk does not carry this run's
marker (say how many, and why), then asks (type `yes`) on a terminal, or needs
--yes. Exit 0 every
user deleted (or already gone), 1 some not deleted, 2 refused (not a run
folder, newer journal, another instance's key, no terminal and no --yes, not
confirmed, the key refused by Clerk), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from console.commands.common import CommandError, emit_json, note, positive_float, progress_line


def add_parser(sub: argparse._SubParsersAction) -> None:

    parser = sub.add_parser(
        "undo",
        help="delete the users this run created (and only those)",
        description="Delete from Clerk exactly the users this run created (never users that were already there). "
        "Paced by the instance's budget and resumable. Exit 0 all deleted, 1 some not deleted, 2 refused.",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder")
    parser.add_argument("--yes", action="store_true", help="do not ask: delete them")
    parser.add_argument("--unmarked", action="store_true",
                        help="also delete users an older clerk-migrate created before run markers existed "
                        "(on the journal's word: nothing in Clerk can confirm them)")
    parser.add_argument("--rate", type=positive_float, default=None, metavar="R",
                        help="requests per second (default: 90%% of the instance's limit)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--detach", action="store_true",
                        help="after the preview and the confirmation, delete in a background worker")
    parser.set_defaults(func=run)


def _render(p: Any) -> str:
    if p.state == "reading":
        return f"undo: reading the users back: {p.message}"
    parts = [f"undo: {p.deleted + p.gone}/{p.total} deleted"]
    if p.gone:
        parts.append(f"{p.gone} already gone")
    return progress_line(p, parts)


def preview_text(pv: Any) -> str:
    lines = [
        f"This run's journal has {pv.to_delete} created user(s) still to delete in the {pv.instance or '?'} instance "
        f"({pv.key_masked}, {pv.base_url}):",
        f"  {pv.present} in Clerk with this run's marker (run {pv.run_id}): these are deleted; {pv.gone} already gone",
        *([f"  {pv.removed} of them were removed from the export by a sync (kept or banned there): they are this "
           "run's users too"] if pv.removed else []),
        f"  {pv.signed_in} of them have signed in since the import"
        + (": deleting them signs them out and loses what they did since" if pv.signed_in else ""),
    ]
    for ex in pv.signed_in_examples[:5]:
        where = f"row {ex['row']}" if ex.get("row") is not None else "removed by a sync:"
        lines.append(f"    {where} {ex['email'] or ex['external_id']} ({ex['clerk_user_id']}), "
                     f"last sign-in {ex['last_sign_in_at']}")
    if pv.kept:
        legacy = (f"; {pv.unmarked} of them were created before run markers existed (an older clerk-migrate): "
                  "--unmarked deletes those on the journal's word") if pv.unmarked else ""
        lines.append(f"  {pv.kept} user(s) kept: their copy in Clerk does not carry this run's marker, so this run "
                     f"did not create them (or the marker was removed){legacy}")
        for ex in pv.kept_examples[:5]:
            other = f"marker of run {ex['marker_run']}" if ex.get("marker_run") else "no marker"
            where = f"row {ex['row']}" if ex.get("row") is not None else "removed by a sync"
            lines.append(f"    {where} {ex['external_id']} ({ex['clerk_user_id']}): {other}")
    lines.append(f"  {pv.existed_kept} user(s) that were already there are kept (never deleted)")
    if pv.already_undone:
        lines.append(f"  {pv.already_undone} user(s) were deleted by an earlier undo of this run")
    if pv.unsettled:
        lines.append(f"  warning: {pv.unsettled} row(s) are still `creating` (an import was interrupted): their "
                     "users may exist; run the import again to settle them, then undo again")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from console.clerk.errors import ClerkError
    from console.commands.common import run_stoppable
    from console.commands.verify import LineProgress, drive, key_settings, open_run_or_exit, refuse_blocked
    from console.migration.errors import as_migration_error
    from console.migration.jobs import JobSpec
    from console.migration.run import confirm_instance_now, key_is_the_runs
    from console.migration.undo import undo_left, undo_preview

    journal = open_run_or_exit(args.run)
    try:
        settings = key_settings()
        refuse_blocked(journal, settings, "undo")  # a key, the run's instance
        interactive = sys.stdin.isatty()
        if not args.yes and not interactive:
            raise CommandError("undo deletes users: pass --yes (there is no terminal to ask on)", 2)
        counts = journal.counts()
        left = undo_left(journal)  # created rows not undone, and users a sync removed from the export
        if left == 0 and not key_is_the_runs(journal, settings):
            confirm_instance_now(journal, settings)  # nothing to delete, but another key: whose instance is it?
        if left == 0:
            message = "nothing to undo: this run has no created user left to delete"
            if args.json:
                emit_json({"run": str(journal.run_dir), "to_delete": 0, "deleted": 0, "gone": 0, "failed": 0,
                           "remaining": 0, "existed_kept": counts["existed"], "message": message})
            else:
                print(message)
            return 0
        stop = threading.Event()
        progress = LineProgress(_render)
        last: list[Any] = []

        def on_progress(p: Any) -> None:
            last[:] = [p]
            progress(p)

        try:  # reads only: the users back, who signed in since (the engine's undo_preview)
            preview = run_stoppable(
                lambda: undo_preview(journal, settings, rate=args.rate, on_progress=on_progress,
                                     include_unmarked=args.unmarked),
                stop.set, stopping="stopping undo: finishing the requests in flight",
                interrupted="interrupted before anything was deleted")
        except ClerkError as exc:
            raise CommandError(f"undo could not read the users back: {as_migration_error(exc).message}", 2) from None
        if stop.is_set():
            raise CommandError("interrupted before anything was deleted", 130)
        if progress.tty and last:
            sys.stderr.write("\n")
        note(preview_text(preview))
        if preview.present == 0:
            message = (f"nothing to delete: no user of this run's journal carries its marker in Clerk "
                       f"({preview.gone} already gone, {preview.kept} kept)")
            if args.json:
                emit_json({"run": str(journal.run_dir), "to_delete": preview.to_delete, "deleted": 0,
                           "gone": preview.gone, "failed": 0, "remaining": 0, "kept": preview.kept,
                           "existed_kept": preview.existed_kept, "message": message})
            else:
                print(message)
            return 0
        if not args.yes:
            sys.stderr.write(f"Type yes to delete these {preview.present} user(s): ")
            sys.stderr.flush()
            answer = sys.stdin.readline().strip()
            if answer != "yes":
                raise CommandError("not confirmed: nothing was deleted", 2)
        if args.detach:  # the worker deletes (commands/detach.py)
            from console.commands.detach import detach

            return detach(journal, settings, args, kind="undo", rate=args.rate, unmarked=args.unmarked)
        spec = JobSpec("undo", str(journal.run_dir), {"rate": args.rate, "unmarked": args.unmarked})
        result, final = drive(spec, settings, journal, progress, "undo", "undo stopped")
        progress.final(final)
        r = result.summary
        if args.json:
            emit_json({**r, "signed_in_before": preview.signed_in})
        else:
            print(f"undo: {r['deleted']} deleted, {r['gone']} already gone, {r['failed']} failed, "
                  f"{r['remaining']} left; {r['existed_kept']} pre-existing user(s) kept, {r['kept']} kept "
                  f"without this run's marker; {r['requests']} requests, {r['duration_s']} s")
            for item in r["not_deleted"][:20]:
                where = f"row {item['row']}" if item.get("row") is not None else "removed by a sync"
                print(f"  not deleted: {where} ({item['external_id']}, {item['clerk_user_id']}): "
                      f"{item['code']}: {item['message']}")
        if result.message:
            note(f"clerk-migrate: {result.message}")
        return result.exit_code
    finally:
        journal.close()
