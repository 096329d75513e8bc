"""The journal's side of a sync: its tables, the adoption of a plan, and the reads.

    ensure_tables(journal)                    # sync_runs, sync_items, sync_stale, sync_prints
    sync_id = adopt(journal, plan, removed="keep")   # one transaction: the journal follows the plan's export
    syncs(journal); last_sync(journal); unfinished_sync(journal)
    sync_items(journal, sync_id, kind=..., state=..., limit=100, after=None)
    sync_summary(journal, sync_id)            # the sync --json object of one sync

See sync.py (the session) and docs/sync.md.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from console.migration.errors import MigrationError
from console.migration.journal import RunJournal

LISTED_MAX = 100  # failures listed in a summary (all are in sync_items)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sync_runs (
        id              INTEGER PRIMARY KEY,
        started_at      REAL NOT NULL,
        ended_at        REAL,
        state           TEXT NOT NULL CHECK (state IN ('applying', 'done')),
        export_path     TEXT NOT NULL,
        export_sha256   TEXT NOT NULL,
        export_size     INTEGER,
        export_format   TEXT,
        export_shape    TEXT,
        accounts_path   TEXT,
        accounts_sha256 TEXT,
        previous_path   TEXT,
        previous_sha256 TEXT,
        removed         TEXT NOT NULL,
        planned_json    TEXT NOT NULL,
        requests        INTEGER NOT NULL DEFAULT 0,
        rate_limited    INTEGER NOT NULL DEFAULT 0,
        summary_json    TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS sync_items (
        sync_id       INTEGER NOT NULL,
        pos           INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        row_no        INTEGER,
        old_row       INTEGER,
        external_id   TEXT,
        email         TEXT,
        old_email     TEXT,
        status        TEXT,
        clerk_user_id TEXT,
        fp            BLOB,
        pw            BLOB,
        pw_state      TEXT,
        state         TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        uncertain     INTEGER NOT NULL DEFAULT 0,
        requests      INTEGER NOT NULL DEFAULT 0,
        fields        TEXT,
        code          TEXT,
        message       TEXT,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (sync_id, pos)
    )""",
    "CREATE INDEX IF NOT EXISTS sync_items_by_state ON sync_items(sync_id, kind, state, pos)",
    "CREATE INDEX IF NOT EXISTS sync_items_by_ext ON sync_items(external_id)",
    """CREATE TABLE IF NOT EXISTS sync_prints (
        external_id TEXT PRIMARY KEY,
        fp          BLOB,
        pw          BLOB
    )""",
    """CREATE TABLE IF NOT EXISTS sync_stale (
        external_id TEXT PRIMARY KEY,
        sync_id     INTEGER NOT NULL,
        since       REAL NOT NULL
    )""",
)
OWN_TABLES = frozenset({"sync_runs", "sync_items", "sync_prints", "sync_stale"})


class SyncRefused(MigrationError):
    """The sync cannot start (or go on): one line, exit 2."""

    exit_code = 2

    def __init__(self, message: str, code: str = "sync_refused") -> None:
        super().__init__(message, 2, code)


# ----------------------------------------------------------------------------- the journal's sync tables
def ensure_tables(journal: RunJournal) -> None:
    if all(_has_table(journal.connection, t) for t in OWN_TABLES):
        return
    with journal.transaction() as conn:
        for statement in _SCHEMA:
            conn.execute(statement)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


@dataclass(frozen=True)
class SyncRecord:
    """One sync of a run (a row of `sync_runs`)."""

    id: int
    state: str  # applying | done
    started_at: float
    ended_at: float | None
    export_path: str
    export_sha256: str
    removed: str
    planned: dict[str, Any]
    requests: int
    rate_limited: int
    summary: dict[str, Any] | None
    previous_path: str | None = None
    accounts_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def syncs(journal: RunJournal) -> list[SyncRecord]:
    """Every sync of the run, oldest first (empty when none ran)."""
    if not _has_table(journal.connection, "sync_runs"):
        return []
    cur = journal.connection.execute(
        "SELECT id, state, started_at, ended_at, export_path, export_sha256, removed, planned_json, requests,"
        " rate_limited, summary_json, previous_path, accounts_path FROM sync_runs ORDER BY id")
    return [SyncRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7] or "{}"), r[8], r[9],
                       json.loads(r[10]) if r[10] else None, r[11], r[12]) for r in cur.fetchall()]


def last_sync(journal: RunJournal) -> SyncRecord | None:
    found = syncs(journal)
    return found[-1] if found else None


def unfinished_sync(journal: RunJournal) -> SyncRecord | None:
    last = last_sync(journal)
    return last if last is not None and last.state == "applying" else None


@dataclass(frozen=True, slots=True)
class SyncItem:
    """One row of a sync's plan as the journal keeps it (no names, no digests)."""

    sync_id: int
    pos: int
    kind: str
    row: int | None
    old_row: int | None
    external_id: str | None
    email: str | None
    old_email: str | None
    status: str | None
    clerk_user_id: str | None
    state: str
    attempts: int
    requests: int
    fields: tuple[str, ...]
    code: str | None
    message: str | None

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fields"] = list(self.fields)
        return d


_ITEM_COLUMNS = ("sync_id, pos, kind, row_no, old_row, external_id, email, old_email, status, clerk_user_id, state,"
                 " attempts, requests, fields, code, message")


def sync_items(journal: RunJournal, sync_id: int, *, kind: str | Sequence[str] | None = None,
               state: str | Sequence[str] | None = None, limit: int = 100, after: int | None = None) -> list[SyncItem]:
    """One page of a sync's rows in plan order (keyset: `after` = the last pos seen)."""
    if not _has_table(journal.connection, "sync_items"):
        return []
    clauses, params = ["sync_id = ?"], [int(sync_id)]
    for name, value in (("kind", kind), ("state", state)):
        if value is not None:
            values = [value] if isinstance(value, str) else list(value)
            clauses.append(f"{name} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if after is not None:
        clauses.append("pos > ?")
        params.append(int(after))
    params.append(int(limit))
    cur = journal.connection.execute(
        f"SELECT {_ITEM_COLUMNS} FROM sync_items WHERE {' AND '.join(clauses)} ORDER BY pos LIMIT ?", params)
    return [SyncItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                     tuple(f for f in (r[13] or "").split(",") if f), r[14], r[15]) for r in cur.fetchall()]


# ----------------------------------------------------------------------------- the adoption
def _row_tables(conn: sqlite3.Connection) -> list[str]:
    """Other parts' tables keyed by the journal's row number (undo_rows, unmark_rows,
    verify_results, ...): renumbered with the rows."""
    out = []
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if name in ("rows",) or name in OWN_TABLES or name.startswith("sqlite_"):
            continue
        if "row_no" in {r[1] for r in conn.execute(f"PRAGMA table_info({name})")}:
            out.append(name)
    return out


ROWS_VERSION = "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), COALESCE(SUM(row_no), 0) FROM rows"
_FIRST_CODE = "CASE WHEN i.refusal_codes IS NULL THEN NULL ELSE substr(i.refusal_codes, 1, instr(i.refusal_codes || ',', ',') - 1) END"


def adopt(journal: RunJournal, plan: Any, *, removed: str) -> int:
    """Make the plan the journal's, in one transaction (see the module doc): returns the
    new sync's id. The plan's scratch database is attached for the time of it."""
    ensure_tables(journal)
    info = journal.info
    facts = plan.facts
    conn = journal.connection
    conn.execute("ATTACH DATABASE ? AS plan", (str(plan.path),))
    try:
        now = time.time()
        with journal.transaction() as c:
            version = list(c.execute(ROWS_VERSION).fetchone())
            if version != list(facts.get("rows_version") or []):
                raise SyncRefused(f"{journal.run_dir}: the journal changed since the plan was made (another session "
                                  "wrote to it): make the plan again", "plan_stale")
            cur = c.execute(
                "INSERT INTO sync_runs (started_at, state, export_path, export_sha256, export_size, export_format,"
                " export_shape, accounts_path, accounts_sha256, previous_path, previous_sha256, removed, planned_json)"
                " VALUES (?, 'applying', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, facts["export_path"], facts["export_sha256"], facts.get("export_size"),
                 facts.get("export_format"), facts.get("export_shape"), facts.get("accounts_path"),
                 facts.get("accounts_sha256"), info.export_path, info.export_sha256, removed,
                 json.dumps(plan.summary())),
            )
            sync_id = int(cur.lastrowid)
            gone = "SELECT old_row FROM plan.items WHERE row_no IS NULL"
            moved = "SELECT old_row FROM plan.items WHERE row_no IS NOT NULL AND old_row IS NOT NULL AND old_row != row_no"
            for table in _row_tables(c):
                c.execute(f"DELETE FROM {table} WHERE row_no IN ({gone})")
                c.execute(f"UPDATE {table} SET row_no = -row_no WHERE row_no IN ({moved})")
                c.execute(f"UPDATE {table} SET row_no = i.row_no FROM plan.items i"
                          f" WHERE {table}.row_no < 0 AND i.old_row = -{table}.row_no AND i.row_no IS NOT NULL")
            c.execute(
                "INSERT INTO sync_items (sync_id, pos, kind, row_no, old_row, external_id, email, old_email, status,"
                " clerk_user_id, fp, pw, pw_state, state, code, message, updated_at)"
                " SELECT ?, pos, kind, row_no, old_row, external_id, email, old_email, status, clerk_user_id, fp, pw,"
                " pw_state, CASE WHEN kind IN ('changed', 'new') THEN 'todo'"
                " WHEN kind = 'removed' THEN CASE WHEN ? = 'keep' THEN 'kept' ELSE 'todo' END ELSE 'n/a' END,"
                " CASE WHEN kind = 'refused' THEN refusal_codes END, CASE WHEN kind = 'refused' THEN message END, ?"
                " FROM plan.items WHERE kind != 'unchanged'",
                (sync_id, removed, now),
            )
            c.execute(f"DELETE FROM rows WHERE row_no IN ({gone})")
            # renumbering moves every row in the table's b-tree: the engine's indexes on `rows`
            # are dropped and made again from their own definitions (faster than keeping them
            # up to date row by row), all inside this transaction
            indexes = c.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rows'"
                                " AND sql IS NOT NULL").fetchall()
            for name, _sql in indexes:
                c.execute(f'DROP INDEX "{name}"')
            c.execute(f"UPDATE rows SET row_no = -row_no WHERE row_no IN ({moved})")
            c.execute("UPDATE rows SET row_no = i.row_no FROM plan.items i"
                      " WHERE rows.row_no < 0 AND i.old_row = -rows.row_no AND i.row_no IS NOT NULL")
            for _name, sql in indexes:
                c.execute(sql)
            left = c.execute("SELECT COUNT(*) FROM rows WHERE row_no < 0").fetchone()[0]
            if left:  # pragma: no cover - the plan maps every journal row: rolled back
                raise SyncRefused(f"{journal.run_dir}: {left} journal row(s) have no place in the new export "
                                  "(a bug): nothing was changed", "internal_error")
            # the journal's rows follow the new export (its fingerprints: verify and the importer
            # check them); the Clerk users that are behind it are listed in sync_stale until
            # their update is done (the next plan sees them changed whatever the fingerprints)
            c.execute(
                "UPDATE rows SET fingerprint = i.fp, export_email = i.email, warning_codes = i.warning_codes,"
                " updated_at = ? FROM plan.items i WHERE i.kind IN ('changed', 'refused') AND i.old_row IS NOT NULL"
                " AND i.status IN ('created', 'existed') AND rows.row_no = i.row_no",
                (now,),
            )
            c.execute(
                "INSERT INTO sync_stale (external_id, sync_id, since) SELECT external_id, ?, ? FROM plan.items"
                " WHERE external_id IS NOT NULL AND status IN ('created', 'existed') AND kind IN ('changed', 'refused')"
                " ON CONFLICT(external_id) DO UPDATE SET sync_id = excluded.sync_id",
                (sync_id, now),
            )
            c.execute("DELETE FROM sync_stale WHERE external_id IN"
                      " (SELECT external_id FROM plan.items WHERE row_no IS NULL AND external_id IS NOT NULL)")
            # rows refused (or failed) before and importable now: created by this sync
            c.execute(
                "UPDATE rows SET status = 'pending', fingerprint = i.fp, export_email = i.email,"
                " email = CASE WHEN json_extract(rows.fix_json, '$.email') IS NOT NULL THEN rows.email ELSE i.email END,"
                " error_code = NULL, error_param = NULL, error_message = NULL, refusal_codes = NULL,"
                " warning_codes = i.warning_codes, updated_at = ?"
                " FROM plan.items i WHERE i.kind = 'new' AND i.old_row IS NOT NULL AND rows.row_no = i.row_no",
                (now,),
            )
            # rows with no Clerk user that the new export refuses: refused with its codes
            c.execute(
                "UPDATE rows SET status = 'refused', fingerprint = i.fp, email = i.email, export_email = i.email,"
                f" refusal_codes = i.refusal_codes, warning_codes = i.warning_codes, error_code = {_FIRST_CODE},"
                " error_param = NULL, error_message = i.message, updated_at = ?"
                " FROM plan.items i WHERE i.kind = 'refused' AND i.status IN ('refused', 'failed')"
                " AND rows.row_no = i.row_no",
                (now,),
            )
            c.execute(
                "INSERT INTO rows (row_no, external_id, email, export_email, status, refusal_codes, warning_codes,"
                " error_code, error_message, updated_at, fingerprint)"
                " SELECT i.row_no, i.external_id, i.email, i.email, CASE WHEN i.kind = 'new' THEN 'pending' ELSE 'refused' END,"
                f" i.refusal_codes, i.warning_codes, {_FIRST_CODE}, i.message, ?, i.fp"
                " FROM plan.items i WHERE i.old_row IS NULL AND i.row_no IS NOT NULL",
                (now,),
            )
            c.execute(
                "INSERT INTO sync_prints (external_id, fp, pw) SELECT external_id, fp, pw FROM plan.items"
                " WHERE kind IN ('unchanged', 'new') AND pw_valid = 0 AND external_id IS NOT NULL AND pw IS NOT NULL"
                " ON CONFLICT(external_id) DO UPDATE SET fp = excluded.fp, pw = excluded.pw"
            )
            settings = dict(info.settings or {})
            if facts.get("accounts_path"):  # the run's accounts file follows the export (see check_accounts)
                settings["accounts"] = {"path": facts["accounts_path"], "sha256": facts.get("accounts_sha256")}
            c.execute(
                "UPDATE run SET export_path = ?, export_sha256 = ?, export_size = ?, export_format = ?,"
                " export_shape = ?, file_issues_json = ?, settings_json = ?, rows_total = (SELECT COUNT(*) FROM rows),"
                " updated_at = ? WHERE id = 1",
                (facts["export_path"], facts["export_sha256"], facts.get("export_size"), facts.get("export_format"),
                 facts.get("export_shape"), json.dumps(facts.get("file_issues") or []),
                 json.dumps(settings, sort_keys=True), _now_iso()),
            )
            counts = plan.counts
            c.execute(
                "INSERT INTO events (at, kind, message) VALUES (?, 'sync', ?)",
                (now, f"sync {sync_id}: the journal now follows {facts['export_path']} "
                      f"({plan.rows_in_export} rows): {counts['new']} new, {counts['changed']} changed, "
                      f"{counts['unchanged']} unchanged, {counts['removed']} removed ({removed}), "
                      f"{counts['refused']} refused, {counts['dropped']} dropped"),
            )
    finally:
        conn.execute("DETACH DATABASE plan")
    journal.reload_info()  # the run's export changed
    return sync_id


def run_accounts(journal: RunJournal) -> str | None:
    """The accounts file the run reads its export with (None: none): `import --accounts`
    records it in the run's settings, a sync's adoption replaces it (feed.run_accounts)."""
    from console.migration.feed import run_accounts as recorded

    return recorded(journal.info)[0]


def check_accounts(journal: RunJournal, accounts: str | None) -> None:
    """A sync reads the new export as the run reads its own: with an accounts file exactly
    when the run has one (the OAuth providers are part of every row's fingerprint, and the
    importer creates the new rows from the run's export and accounts)."""
    recorded = run_accounts(journal)
    if accounts and not recorded:
        raise SyncRefused(
            f"{journal.run_dir}: this run reads its export without an accounts file (its import had no --accounts), "
            "so its rows are created and fingerprinted without one: run the sync without --accounts",
            "accounts_not_in_run")
    if recorded and not accounts:
        raise SyncRefused(
            f"{journal.run_dir}: this run reads its export with an accounts file ({recorded}): pass --accounts with "
            "the accounts export taken with the new export", "accounts_missing")


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- the figures of a sync
def sync_summary(journal: RunJournal, sync_id: int) -> dict[str, Any]:
    """The sync --json object of one sync, from the journal (its tables are the truth)."""
    conn = journal.connection
    rec = next((s for s in syncs(journal) if s.id == sync_id), None)
    if rec is None:
        raise SyncRefused(f"{journal.run_dir}: no sync {sync_id} in this run", "no_such_sync")
    by: dict[tuple[str, str], int] = {}
    for kind, state, n in conn.execute(
            "SELECT kind, state, COUNT(*) FROM sync_items WHERE sync_id = ? GROUP BY kind, state", (sync_id,)):
        by[(kind, state)] = n
    latest = last_sync(journal)
    new_status: dict[str, int] = {}
    if latest is not None and latest.id == sync_id:  # row numbers are this sync's: the rows say the rest
        for status, n in conn.execute(
                "SELECT r.status, COUNT(*) FROM sync_items i JOIN rows r ON r.row_no = i.row_no"
                " WHERE i.sync_id = ? AND i.kind = 'new' GROUP BY r.status", (sync_id,)):
            new_status[status] = n
    else:
        new_status = {"created": by.get(("new", "done"), 0), "failed": by.get(("new", "failed"), 0)}

    def n(kind: str, *states: str) -> int:
        return sum(v for (k, s), v in by.items() if k == kind and (not states or s in states))

    planned = rec.planned
    created = new_status.get("created", 0)
    existed = new_status.get("existed", 0)
    new_failed = new_status.get("failed", 0)
    new_left = new_status.get("pending", 0) + new_status.get("creating", 0)
    failures = []
    for item in sync_items(journal, sync_id, state="failed", limit=LISTED_MAX):
        failures.append({"row": item.row, "old_row": item.old_row, "external_id": item.external_id,
                         "kind": item.kind, "code": item.code, "message": item.message})
    if latest is not None and latest.id == sync_id and len(failures) < LISTED_MAX:
        for r in conn.execute(
                "SELECT r.row_no, r.external_id, r.error_code, r.error_message FROM sync_items i JOIN rows r"
                " ON r.row_no = i.row_no WHERE i.sync_id = ? AND i.kind = 'new' AND r.status = 'failed'"
                " AND i.state != 'failed' ORDER BY r.row_no LIMIT ?", (sync_id, LISTED_MAX - len(failures))):
            failures.append({"row": r[0], "old_row": None, "external_id": r[1], "kind": "new", "code": r[2],
                             "message": r[3]})
    updated = n("changed", "done")
    removed_left = n("removed", "todo", "sending")
    left = new_left + n("changed", "todo", "sending") + removed_left
    requests = rec.requests
    changed_rows = conn.execute("SELECT COALESCE(SUM(requests), 0) FROM sync_items WHERE sync_id = ? AND kind = 'changed'"
                                " AND state = 'done'", (sync_id,)).fetchone()[0]
    return {
        "run": str(journal.run_dir),
        "sync": sync_id,
        "state": rec.state,
        "export": rec.export_path,
        "sha256": rec.export_sha256,
        "previous_export": rec.previous_path,
        "dry_run": False,
        "created": created,
        "existed": existed,
        "updated": updated,
        "unchanged": int(planned.get("unchanged", 0)),
        "removed": n("removed"),
        "removed_policy": rec.removed,
        "kept": n("removed", "kept"),
        "banned": n("removed", "banned"),
        "deleted": n("removed", "deleted"),
        "gone": n("removed", "gone"),
        "failed": n("changed", "failed") + n("removed", "failed") + new_failed,
        "refused": n("refused"),
        "dropped": n("dropped"),
        "left": left,
        "requests": requests,
        "rate_limited": rec.rate_limited,
        "update_requests_per_row": round(changed_rows / updated, 3) if updated else None,
        "planned": planned,
        "failures": failures,
    }
