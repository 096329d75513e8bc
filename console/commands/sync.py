"""`clerk-migrate sync --run DIR NEW_EXPORT`: bring Clerk in line with a later export.

The plan comes first (on stderr, or the whole plan with --dry-run): how many rows
are new, changed, unchanged, removed, refused; then the sync sends only what the
plan needs. Re-running the same command resumes. --json prints one object on
stdout: {"created", "updated", "unchanged", "removed", "failed", "requests", ...}.
Exit 0 all done, 1 some failed, 2 refused, 130 interrupted (as import).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from console.commands.common import CommandError, emit_json, note, positive_float, progress_line, positive_int, run_stoppable

PLAN_SHOWN = 2000  # rows listed by a human --dry-run (all of them with --json)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sync",
        help="bring Clerk in line with a later export: create new rows, update changed ones, list removed ones",
        description="Compare NEW_EXPORT with what the run imported (by external id, with the run's mapping and "
        "policies) and send only the difference: new rows created as the import does, changed rows updated "
        "(PATCH, email addresses), removed rows listed (kept, or with --yes banned or deleted). The journal then "
        "follows the new export. Re-running the same command resumes. Exit 0 done, 1 some failed, 2 refused, "
        "130 interrupted.",
    )
    parser.add_argument("export", metavar="NEW_EXPORT", help="the later export (JSON, NDJSON, CSV, mongoexport)")
    parser.add_argument("--run", required=True, metavar="DIR", help="the run folder of the import")
    parser.add_argument("--accounts", metavar="FILE", default=None,
                        help="the Auth.js accounts export taken with NEW_EXPORT (OAuth providers, joined by userId)")
    parser.add_argument("--removed", choices=("keep", "ban", "delete"), default="keep",
                        help="users gone from the new export: keep them (default), ban them, or delete them "
                        "(only users this run created); ban and delete need --yes")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (every row, before -> after) and change nothing")
    parser.add_argument("--yes", action="store_true",
                        help="confirm a Production (sk_live_) instance, and --removed ban/delete")
    parser.add_argument("--format", default=None, metavar="FORMAT",
                        help="NEW_EXPORT's format, one the tool reads (json, ndjson, csv, ...; default: detected)")
    parser.add_argument("--rate", type=positive_float, default=None, metavar="R",
                        help="requests per second (default: 90%% of the instance's limit)")
    parser.add_argument("--concurrency", type=positive_int, default=32, metavar="N",
                        help="rows in flight at once (default 32)")
    parser.add_argument("--timeout", type=positive_float, default=30.0, metavar="S",
                        help="seconds to wait for an answer (default 30)")
    parser.add_argument("--max-attempts", type=positive_int, default=6, metavar="N",
                        help="sends of a row whose answer is lost (default 6)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--detach", action="store_true",
                        help="check, then run in a background worker that outlives the terminal and return at once")
    parser.set_defaults(func=run)


# ----------------------------------------------------------------- rendering
def plan_text(plan: Any, *, removed: str, limit: int = PLAN_SHOWN) -> str:
    """The plan for a terminal: counts, then every row that is not unchanged."""
    c = plan.counts
    action = {"keep": "kept", "ban": "banned", "delete": "deleted if this run created them"}[removed]
    lines = [
        f"sync plan: {plan.export_path} ({plan.rows_in_export} rows, sha256 {plan.export_sha256[:12]}…)",
        f"  new {c['new']} · changed {c['changed']} · unchanged {c['unchanged']} · removed {c['removed']} "
        f"({action}) · refused {c['refused']} · failed earlier {c['failed']} · dropped {c['dropped']}",
    ]
    unknown = plan.summary().get("password_unknown") or 0
    if unknown:
        lines.append(f"  {unknown} changed row(s) have a password whose change cannot be told (the run's first sync "
                     "keeps no print of it yet): their digest is sent")
    if c["changed"] and not plan.read_back:
        lines.append("  the old values of names and metadata are read from Clerk when the rows are sent "
                     "(a dry run with the key reads them to show them)")
    shown = 0
    for row in plan.iter_rows(with_fields=True):
        if shown >= limit:
            lines.append(f"  … {sum(v for k, v in c.items() if k != 'unchanged') - shown} more (--json lists all)")
            break
        shown += 1
        where = f"row {row.row}" if row.row is not None else f"was row {row.old_row}"
        moved = f" (was {row.old_row})" if row.row is not None and row.old_row not in (None, row.row) else ""
        head = f"  {row.kind:<8} {where}{moved} {row.external_id or '-'} {row.email or row.old_email or ''}".rstrip()
        if row.kind == "refused":
            head += f": {', '.join(row.codes)}" + (f" ({row.message})" if row.message else "")
            if row.clerk_user_id:
                head += f"; Clerk user {row.clerk_user_id} left as it is"
        if row.kind == "removed":
            head += f": Clerk user {row.clerk_user_id}"
        lines.append(head)
        for f in row.fields:
            if row.kind == "changed":
                text = f"      {f.field}: {_v(f.old)} -> {_v(f.new)}"
            else:
                text = f"      {f.field}: {_v(f.new)}"
            if f.note:
                text += f"  ({f.note})"
            lines.append(text)
    return "\n".join(lines)


def _v(value: str | None) -> str:
    return "?" if value is None else (value if value else '""')


def human_summary(s: dict[str, Any]) -> str:
    lines = [
        f"sync {s.get('sync')} of run {s['run']}: {s['export']}",
        f"  created {s['created']}, updated {s['updated']}, unchanged {s['unchanged']}, removed {s['removed']}"
        f" (kept {s.get('kept', 0)}, banned {s.get('banned', 0)}, deleted {s.get('deleted', 0)}, "
        f"already gone {s.get('gone', 0)}), failed {s['failed']}, refused {s.get('refused', 0)}",
        f"  requests {s['requests']}, rate limited {s.get('rate_limited', 0)}, {s.get('duration_s', 0)} s"
        + (f", {s['left']} row(s) left: run the same command to resume" if s.get("left") else ""),
    ]
    for f in (s.get("failures") or [])[:20]:
        lines.append(f"  failed {f['kind']} row {f['row'] or f['old_row']} {f['external_id']}: {f['code']}: "
                     f"{f['message']}")
    return "\n".join(lines)


def _render(p: Any) -> str:
    if p.phase == "planning":
        pct = f" ({100.0 * p.bytes_read / p.size_bytes:.0f}%)" if p.size_bytes else ""
        return f"sync: reading the new export: {p.rows_read} rows{pct}"
    if p.phase == "adopting":
        return "sync: the journal adopts the new export"
    parts = [f"sync {p.phase}"]
    if p.planned_new:
        parts.append(f"created {p.created + p.existed}/{p.planned_new}")
    if p.planned_changed:
        parts.append(f"updated {p.updated}/{p.planned_changed}")
    if p.planned_removed:
        parts.append(f"removed {p.removed_done}/{p.planned_removed}")
    return progress_line(p, parts)


# ----------------------------------------------------------------- the command
def run(args: argparse.Namespace) -> int:
    from console.commands.import_ import load_key_settings
    from console.migration.run import open_run
    from console.source import FORMATS

    if args.format is not None and args.format not in FORMATS:
        raise CommandError(f"--format {args.format!r}: expected one of {', '.join(FORMATS)}", 2)
    settings = load_key_settings()
    journal = open_run(args.run, readonly=args.dry_run)  # a refusal: one line, exit 2 (cli.main)
    try:
        if args.dry_run:
            return dry_run(journal, settings, args)
        if args.removed in ("ban", "delete") and not args.yes:
            raise CommandError(f"--removed {args.removed} changes users in Clerk: pass --yes to confirm "
                               "(see the plan first with --dry-run)", 2)
        if args.detach:  # SyncJob.preflight (blockers.run_blockers) before the worker starts
            from console.commands.detach import detach

            return detach(journal, settings, args, kind="sync", export=str(args.export), accounts=args.accounts,
                          fmt=args.format, removed=args.removed, confirmed=args.yes)
        _refuse_blocked(journal, settings, args)
        return _sync(journal, settings, args)
    finally:
        journal.close()


def _refuse_blocked(journal: Any, settings: Any, args: argparse.Namespace) -> None:
    """blockers.run_blockers for a sync (no request): the key, the run's instance, another
    session, --yes for ban/delete, the accounts file as the run reads its export, no unfinished
    sync of another export."""
    import asyncio

    from console.migration.blockers import run_blockers

    pre = asyncio.run(run_blockers(journal, settings, kind="sync", confirmed_production=args.yes,
                                   check_settings=False, sync_export=str(args.export), sync_accounts=args.accounts,
                                   removed=args.removed))
    pre.raise_first()


def _sync(journal: Any, settings: Any, args: argparse.Namespace) -> int:
    """The sync job on this run in the foreground (common.drive_job), its progress on stderr."""
    from console.commands.common import drive_job
    from console.commands.verify import LineProgress
    from console.migration.jobs import JobSpec

    progress = LineProgress(_render)
    planned = [False]

    def on_progress(p: Any) -> None:
        if p.phase not in ("starting", "planning") and not planned[0] and p.sync_id is not None:
            planned[0] = True
            if progress.tty:
                sys.stderr.write("\n")
            note(f"clerk-migrate: sync {p.sync_id}: new {p.planned_new} · changed {p.planned_changed} · "
                 f"unchanged {p.unchanged} · removed {p.planned_removed} ({args.removed}) · refused {p.refused}")
        progress(p)

    spec = JobSpec("sync", str(journal.run_dir), {
        "export": str(args.export), "accounts": args.accounts, "fmt": args.format, "removed": args.removed,
        "confirmed": args.yes, "rate": args.rate, "concurrency": args.concurrency,
        "max_attempts": args.max_attempts, "timeout": args.timeout})
    result, last = drive_job(spec, settings, journal=journal, on_snapshot=on_progress)
    progress.final(last)
    if args.json:
        emit_json(result.summary)
    else:
        print(human_summary(result.summary))
    if result.message:
        note(f"clerk-migrate: {result.message}")
    if result.exit_code == 130:
        note("clerk-migrate: interrupted: run the same command to resume")
    return result.exit_code


def dry_run(journal: Any, settings: Any, args: argparse.Namespace) -> int:
    """The plan, and nothing written: not to Clerk, not to the journal (a scratch file in
    the run folder holds the plan while it is printed, then goes)."""
    import asyncio

    from console.migration.sync import check_accounts, unfinished_sync
    from console.migration.sync_plan import PlanStopped, plan_sync

    check_accounts(journal, args.accounts)  # SyncRefused: one line, exit 2 (cli.main)
    current = unfinished_sync(journal)
    if current is not None:
        note(f"clerk-migrate: note: sync {current.id} of {current.export_path} is not finished; a sync of "
             f"{args.export} waits for it (the plan below is against the journal as it is now)")
    stop = threading.Event()
    try:
        plan = run_stoppable(lambda: asyncio.to_thread(plan_sync, journal, args.export, accounts=args.accounts,
                                                       fmt=args.format, stop=stop),
                             stop.set, stopping="stopping", interrupted="interrupted: nothing was written")
    except PlanStopped:
        raise CommandError("interrupted: nothing was written", 130) from None
    with plan:
        reads = 0
        why_not = _read_back(journal, settings, plan)
        if why_not:
            note(f"clerk-migrate: note: Clerk's copy of the changed users was not read ({why_not}): their old "
                 "names and metadata are not shown")
        reads = plan.requests
        c = plan.counts
        estimate = _estimate(plan, args.removed)
        if args.json:
            emit_json({
                "run": str(journal.run_dir), "dry_run": True, "export": plan.export_path,
                "sha256": plan.export_sha256,
                "created": c["new"], "updated": c["changed"], "unchanged": c["unchanged"], "removed": c["removed"],
                "removed_policy": args.removed, "failed": 0, "refused": c["refused"], "dropped": c["dropped"],
                "requests": reads, "estimated_requests": estimate, "planned": plan.summary(),
                "read_back": plan.read_back,
                "rows": [r.as_dict() for r in plan.iter_rows(with_fields=True)],
            })
        else:
            print(plan_text(plan, removed=args.removed))
            print(f"dry run: nothing was changed; the sync would send about {estimate} request(s)"
                  + (f" ({reads} read(s) made to show the old values)" if reads else ""))
        if c["busy"]:
            note(f"clerk-migrate: {c['busy']} row(s) of the import are still pending: finish the import before the sync")
    return 0


def _read_back(journal: Any, settings: Any, plan: Any) -> str | None:
    """Read the changed users from Clerk (reads only) when the key is there and is the run's;
    else say why not."""
    import asyncio

    from console.clerk.errors import ClerkError
    from console.migration.run import RunRefused, check_same_instance

    if not plan.counts["changed"]:
        return None
    if settings.secret_key is None:
        return "no secret key"
    try:
        check_same_instance(journal, settings)
    except RunRefused as exc:
        return exc.message

    async def read() -> None:
        from console.clerk.client import ClerkClient
        from console.clerk.limiter import RequestBudget

        key = settings.secret_key
        client = ClerkClient(key, settings.base_url, RequestBudget.for_instance(key.instance_kind), timeout=30.0)
        try:
            await plan.read_clerk(client)
        finally:
            await client.aclose()

    try:
        asyncio.run(read())
    except ClerkError as exc:
        return f"Clerk answered: {exc}"
    return None


def _estimate(plan: Any, removed: str) -> int:
    """Requests the sync would send: 1 create per new row; per changed row its PATCH and
    email writes (known once Clerk's copy was read, else 1 PATCH + 2 email writes when the
    email changed), + 1 read per 100 changed users; ban/delete 1 per removed user + reads."""
    import math

    c = plan.counts
    total = c["new"]
    changed = 0
    for row in plan.iter_rows(kind="changed", with_fields=True):
        names = {f.field for f in row.fields}
        patch = names & {"first_name", "last_name", "username", "public_metadata", "private_metadata",
                         "unsafe_metadata", "created_at", "password", "other fields"}
        changed += (1 if patch else 0) + (2 if "email" in names else (1 if "email_verified" in names else 0))
    total += changed + math.ceil(c["changed"] / 100)
    if removed != "keep" and c["removed"]:
        total += c["removed"] + math.ceil(c["removed"] / 100)
    if total:  # GET /v1/instance before the first write, and the importer's own before the creates
        total += 1 + (1 if c["new"] else 0)
    return total
