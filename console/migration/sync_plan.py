"""The sync plan: what a later export changes, worked out before anything is sent.

    plan = plan_sync(journal, "users-T1.json", accounts=None)   # no request; a thread (it reads the file)
    plan.counts                         # {"new": 61, "changed": 100, "unchanged": 1799, "removed": 40, ...}
    plan.rows(kind="changed", limit=50, after=None)   # one page of PlanRow, in plan order (keyset on .pos)
    plan.row(pos)                       # one PlanRow with its field changes (FieldChange: field, old, new, note)
    await plan.read_clerk(client)       # optional: the changed users read back (100 per request), so that
                                        #   every field change shows Clerk's value before -> the export's after
    plan.close()                        # deletes the plan's scratch database

How a row of the new export is matched: by external id (the identity; row numbers
change between exports). The first row of the new export with an external id
matches the journal's row for it (its non-refused row, else its first one). Then,
with the journal's status and the row fingerprints (fingerprint.py: a keyed hash
of every field that goes to Clerk, stored per row at load):

| kind | when | what the sync does |
| --- | --- | --- |
| new | no journal row has the id, or it was refused, or its create failed and the row changed | created as the import does |
| changed | a Clerk user exists (created/existed) and the fingerprint differs, or the user is behind its row (`sync_stale`: an earlier sync's update not done) | updated (PATCH, email addresses) |
| unchanged | a Clerk user exists and the fingerprint is the same | nothing |
| refused | the new export's checks refuse the row | nothing (a Clerk user, if any, is left as it is) |
| failed | its create failed before and the row did not change | nothing (`retry` is for those) |
| removed | the journal's row had a Clerk user and no row of the new export has its id | listed; kept, banned or deleted (`--removed`) |
| dropped | the journal's row had no Clerk user (refused, failed) and is gone | forgotten |
| busy | the journal's row is still pending or creating | the sync refuses: the import is not finished |

The plan lives in a scratch SQLite database (0600, in the run folder, deleted by
`close()`), with the journal attached read-only: each chunk of 2,000 rows is matched
to its journal rows by one indexed look-up and the classification is SQL over the
scratch table, so memory stays flat at any size. It holds the new export's values
of the rows that are not unchanged (for display: names, emails, metadata; password
digests only masked), never in the journal. What the journal keeps of a sync (its
own `sync_…` tables) is external ids, emails, fingerprints and outcomes.

The old values: the journal holds the email it sent; every other field is read back
from Clerk (`read_clerk`), since the journal keeps no names or metadata. A password
digest cannot be read back: whether it changed is known from a keyed print of the
password fields the sync keeps per row (`sync_prints`), from the first sync of a run
on; on that first sync it is "not known" and the digest of a changed row is sent.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError
from console.migration.feed import verdict as _feed_verdict
from console.migration.journal import RunJournal
from console.migration.preflight import present_of_user

PLAN_CHUNK = 2000  # export rows per insert (and per look-up of the journal's fingerprints)
READ_BATCH = 100  # user ids per read (Clerk's maximum per filter)
KINDS: tuple[str, ...] = ("new", "changed", "unchanged", "refused", "failed", "removed", "dropped", "busy")
ACTIVE_KINDS: frozenset[str] = frozenset({"new", "changed", "removed"})  # the kinds that may send requests
SHOWN_MAX = 200  # characters of one value shown in a plan row
MASK = "••••"
PRINTS_TABLE = "sync_prints"  # the journal table of password prints (sync.py owns it)
STALE_TABLE = "sync_stale"  # external ids whose Clerk user is behind the journal's row (sync.py owns it)

ProgressCallback = Callable[[int, int, int], None]  # (rows read, bytes read, size in bytes)


class SyncPlanError(MigrationError):
    """The plan cannot be made (unreadable export, no fingerprints, ...): one line."""

    def __init__(self, message: str, code: str = "sync_refused") -> None:
        super().__init__(message, 2, code)


class PlanStopped(Exception):
    """plan_sync was asked to stop (stop event) before it finished."""


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of one row: the value Clerk holds (or the journal, for the email) and
    the one the new export gives. `old` None with a `note`: the old value is not known."""

    field: str
    old: str | None
    new: str | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new, "note": self.note}


@dataclass(frozen=True, slots=True)
class PlanRow:
    pos: int  # the plan's own order: the new export's row number, then the removed rows after it
    kind: str
    row: int | None  # row in the new export (None: gone from it)
    old_row: int | None  # the journal's row before the sync (None: a row the run never had)
    external_id: str | None
    email: str | None  # the new export's
    old_email: str | None  # the journal's (the address sent to Clerk)
    status: str | None  # the journal's status before the sync
    clerk_user_id: str | None
    codes: tuple[str, ...] = ()  # refusal codes of the new export's checks
    message: str | None = None  # the first refusal's message
    password: str = ""  # changed | unchanged | unknown | "" (no password either side)
    fields: tuple[FieldChange, ...] = field(default=())  # filled by row() / read_clerk

    def as_dict(self) -> dict[str, Any]:
        return {
            "pos": self.pos,
            "kind": self.kind,
            "row": self.row,
            "old_row": self.old_row,
            "external_id": self.external_id,
            "email": self.email,
            "old_email": self.old_email,
            "status": self.status,
            "clerk_user_id": self.clerk_user_id,
            "codes": list(self.codes),
            "message": self.message,
            "password": self.password,
            "fields": [f.as_dict() for f in self.fields],
        }


# ----------------------------------------------------------------------------- what a row asks of Clerk
def password_print(key: bytes, user: Any) -> bytes:
    """A keyed print of the row's password fields alone (plaintext, digest, hasher): tells
    whether a changed row's password changed without keeping the digest. Same run key
    as the row fingerprint, its own domain (the "sync-password" prefix); each field
    length-prefixed, None apart from empty."""
    from console.migration.fingerprint import keyed_sha256

    return keyed_sha256(bytes(key))(_password_parts(user))[:16]


def _password_parts(user: Any) -> bytes:
    """What password_print hashes."""
    parts = [b"sync-password/1"]
    for value in (getattr(user, "password", None), getattr(user, "password_digest", None),
                  getattr(user, "password_hasher", None)):
        if value is None:
            parts.append(b"-")
        else:
            data = str(value).encode("utf-8")
            parts.append(b"%d:" % len(data) + data)
    return b"\x00".join(parts)


def wanted(body: dict[str, Any]) -> dict[str, Any]:
    """What Clerk should hold for a row, from its create body (to_payload): the fields a
    sync compares and updates. `password`: "digest <hasher>", "plaintext" or None."""
    emails = body.get("email_address") or []
    statuses = body.get("email_address_identification_status") or []
    email = emails[0] if emails else None
    password = None
    if body.get("password_digest"):
        password = f"digest {body.get('password_hasher') or '?'}"
    elif body.get("password"):
        password = "plaintext"
    phones = body.get("phone_number") or []
    return {
        "email": email,
        "email_verified": None if email is None else not (statuses and statuses[0] == "reserved"),
        "first_name": body.get("first_name"),
        "last_name": body.get("last_name"),
        "username": body.get("username"),
        "phone_number": phones[0] if phones else None,
        "password": password,
        "public_metadata": body.get("public_metadata") or {},
        "private_metadata": body.get("private_metadata") or {},
        "unsafe_metadata": body.get("unsafe_metadata") or {},
        "created_at": body.get("created_at"),
    }


def held(user: Any) -> dict[str, Any]:
    """The same fields as Clerk's copy of a user holds them (the run marker left out of
    private_metadata: it is the tool's, not the app's)."""
    from console.migration.marker import MARKER_KEY

    primary = getattr(user, "primary_email", None)
    email = primary.email_address if primary is not None else None
    verified = None
    if primary is not None:
        status = primary.verification.status if primary.verification is not None else None
        verified = status == "verified"
    private = dict(user.private_metadata or {})
    private.pop(MARKER_KEY, None)
    return {
        "email": email,
        "email_verified": verified,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "phone_number": None,  # the client's User model does not read phone numbers
        "password": "set" if user.password_enabled else None,
        "public_metadata": dict(user.public_metadata or {}),
        "private_metadata": private,
        "unsafe_metadata": dict(user.unsafe_metadata or {}),
        "created_at": _iso_ms(user.created_at),
    }


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import datetime, timezone

    dt = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    from datetime import datetime, timezone

    try:
        dt = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def same(name: str, want: Any, have: Any) -> bool:
    """Whether Clerk's value `have` already is the wanted one (Clerk's own normalisation:
    emails and usernames case-insensitive, empty text = none, times within 1 s)."""
    if name in ("email", "username"):
        return (_norm(want) or "").lower() == (_norm(have) or "").lower()
    if name in ("first_name", "last_name", "phone_number"):
        return _norm(want) == _norm(have)
    if name == "created_at":
        if not want:
            return True  # nothing asked
        a, b = _ms(want), _ms(have)
        return a is not None and b is not None and abs(a - b) <= 1000
    if name.endswith("_metadata"):
        return (want or {}) == (have or {})
    return want == have


COMPARED = ("email", "email_verified", "first_name", "last_name", "username", "public_metadata",
            "private_metadata", "unsafe_metadata", "created_at")


def shown(name: str, value: Any) -> str | None:
    """A value as the plan shows it: text cut at SHOWN_MAX, metadata as compact JSON."""
    if value is None:
        return None
    if name == "email_verified":
        return "verified" if value else "unverified (reserved)"
    if isinstance(value, (dict, list)):
        if not value:
            return "{}"
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def changes(want: dict[str, Any], have: dict[str, Any] | None, *, old_email: str | None,
            password: str) -> list[FieldChange]:
    """The field changes of a changed row: against Clerk's copy (`have`) when it was read,
    else only what is known without it (the journal's email, the password print)."""
    out: list[FieldChange] = []
    if have is None:
        # without Clerk's copy only the email (the journal's) is known before; the rest is
        # compared with Clerk's copy when the row is sent (or by read_clerk)
        if not same("email", want["email"], old_email):
            out.append(FieldChange("email", old_email, want["email"]))
        out.append(FieldChange("other fields", None, None,
                               "names, username, metadata and verification: compared with Clerk's copy, "
                               "read back before the row is sent (a dry run reads it to show them)"))
    else:
        for name in COMPARED:
            if not same(name, want.get(name), have.get(name)):
                out.append(FieldChange(name, shown(name, have.get(name)), shown(name, want.get(name))))
    pw_new = want.get("password")
    if password == "changed" or (password == "unknown" and pw_new):
        note = ("the password fields changed (a digest is never shown)" if password == "changed" else
                "not known whether the password changed (no print of it yet: the first sync of this run); "
                "the export's is sent")
        old = None if have is None else ("set" if have.get("password") else "not set")
        out.append(FieldChange("password", old, f"{pw_new} {MASK}" if pw_new else "none", note))
    if want.get("phone_number") and have is not None:
        out.append(FieldChange("phone_number", None, shown("phone_number", want["phone_number"]),
                               "phone numbers are listed, not compared or sent by the sync"))
    return out


# ----------------------------------------------------------------------------- the refusal rule of the load
def verdict(checked: Any, run_id: str, rules: Any = None,
            plaintext_policy: str = "refuse") -> tuple[bool, tuple[str, ...], tuple[str, ...], str | None]:
    """(importable, refusal codes, warning codes, first refusal message) of a checked row,
    as the import's load decides them (console/migration/run.py `_load_rows`): the checks,
    the instance's settings the run was checked against (`BodyRules.of_run`, issue 13),
    then the run marker's room in the metadata."""
    refusal = None
    if rules is not None and checked.importable:
        refusal = rules.refusal(present_of_user(checked.user, plaintext_policy))
    return _feed_verdict(checked, run_id, refusal)


# ----------------------------------------------------------------------------- the scratch database
_PLAN_SCHEMA = """
CREATE TABLE items (
    pos           INTEGER PRIMARY KEY,
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
    pw_valid      INTEGER NOT NULL DEFAULT 0,
    has_pw        INTEGER NOT NULL DEFAULT 0,
    importable    INTEGER,
    refusal_codes TEXT,
    warning_codes TEXT,
    message       TEXT,
    detail        TEXT,
    clerk         TEXT
);
CREATE TABLE facts (key TEXT PRIMARY KEY, value TEXT);
"""


def _scratch_path(run_dir: Path) -> Path:
    name = f".sync-plan-{os.getpid()}-{secrets.token_hex(4)}.sqlite"
    if os.access(run_dir, os.W_OK):
        return run_dir / name
    import tempfile

    return Path(tempfile.mkdtemp(prefix="clerk-migrate-sync-")) / name


def remove_stale_scratch(run_dir: Path) -> int:
    """Scratch plans left by a process that died (kill -9): removed. Returns how many."""
    n = 0
    for path in Path(run_dir).glob(".sync-plan-*.sqlite*"):
        try:
            pid = int(path.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            path.unlink()
            n += 1
        except OSError:
            pass
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _has_table(conn: sqlite3.Connection, schema: str, name: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


# ----------------------------------------------------------------------------- making the plan
def plan_sync(
    journal: RunJournal,
    export: str | os.PathLike[str],
    *,
    accounts: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    path: str | os.PathLike[str] | None = None,
) -> "SyncPlan":
    """Read the new export once and classify every row against the journal (no request).
    Blocking (file I/O and SQL): run it in a thread. Raises SyncPlanError (one line:
    unreadable export, a run without fingerprints, ...), PlanStopped."""
    from console.migration.fingerprint import FingerprintKeyError, run_key
    from console.migration.run import run_policies
    from console.source import ExportError, open_export

    info = journal.info
    if not info.rows_loaded:
        raise SyncPlanError(f"{journal.run_dir}: the run's export was never fully loaded: run the import first",
                            "not_loaded")
    missing = journal.connection.execute(
        "SELECT COUNT(*) FROM rows WHERE fingerprint IS NULL AND status != 'refused'").fetchone()[0]
    if missing:
        raise SyncPlanError(
            f"{journal.run_dir}: {missing} row(s) of this run have no fingerprint (loaded before fingerprints "
            "existed): run `clerk-migrate import` once with the run's export, which computes them, then sync",
            "no_fingerprints")
    try:
        key = run_key(journal.run_dir)
    except FingerprintKeyError as exc:
        raise SyncPlanError(str(exc), "fingerprint_key") from None
    try:
        reader = open_export(Path(export), fmt=fmt, mapping=info.mapping, accounts=accounts)
    except ExportError as exc:
        raise SyncPlanError(str(exc), "export_unreadable") from None
    policies = run_policies(journal)
    run_id = info.run_id or ""
    db_path = Path(path) if path else _scratch_path(journal.run_dir)
    fd = os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.close(fd)
    conn = _connect(db_path)
    plan: SyncPlan | None = None
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # scratch: a crash throws it away
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("PRAGMA cache_size = -32000")  # 32 MB at most
        conn.executescript(_PLAN_SCHEMA)
        _attach_journal(conn, journal.path)
        prints = _has_table(conn, "j", PRINTS_TABLE) and _has_table(conn, "j", STALE_TABLE)
        # what the journal's rows were when the plan was made: adopting it checks they still are
        version = list(conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), COALESCE(SUM(row_no), 0) FROM j.rows").fetchone())
        started = time.monotonic()
        size = int(reader.size_bytes or 0)
        rows, last_row, matched = _stream(conn, reader, policies, info, key, run_id, on_progress, stop, size, prints)
        if on_progress is not None:
            on_progress(rows, size, size)
        _removed(conn, last_row)
        facts = {
            "export_path": str(Path(export).resolve()),
            "export_sha256": reader.sha256,
            "export_size": size,
            "export_format": reader.format,
            "export_shape": reader.shape,
            "file_issues": [i.as_dict() for i in reader.file_issues],
            "accounts_path": str(Path(accounts).resolve()) if accounts else None,
            "accounts_sha256": reader.accounts_sha256,
            "run_dir": str(journal.run_dir),
            "run_id": run_id,
            "planned_s": round(time.monotonic() - started, 3),
            "prints": prints,
            "rows_version": version,
            "rows_in_export": rows,
            "matched": matched,  # rows matched in order (the merge), rows looked up by external id
        }
        conn.executemany("INSERT INTO facts (key, value) VALUES (?, ?)",
                         [(k, json.dumps(v, default=str)) for k, v in facts.items()])
        conn.execute("DETACH DATABASE j")
        plan = SyncPlan(db_path, conn)
        return plan
    except ExportError as exc:
        raise SyncPlanError(str(exc), "export_unreadable") from None
    finally:
        if plan is None:
            conn.close()
            _unlink(db_path)


def _connect(path: Path) -> sqlite3.Connection:
    """The scratch database, opened with URI filenames on (so that ATTACH can say mode=ro)."""
    from urllib.parse import quote

    return sqlite3.connect(f"file:{quote(str(path))}", uri=True, isolation_level=None, check_same_thread=False)


def _attach_journal(conn: sqlite3.Connection, path: Path) -> None:
    """The journal, read-only, as schema `j` (a URI so that nothing can write to it)."""
    from urllib.parse import quote

    conn.execute("ATTACH DATABASE ? AS j", (f"file:{quote(str(path))}?mode=ro",))


def _unlink(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(str(path) + suffix)
        except OSError:
            pass


def _count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


class _JournalRows:
    """The journal's row of each external id of the new export: its non-refused row, else its
    first (what one look-up by the journal's index gives), found by a merge in row order (the
    new export mostly keeps the old one's order): the journal's rows around the place a chunk
    of the export is expected at are read by row number, one range per chunk, and only the ids
    not found there (new rows, rows moved far, ids the journal holds more than once) are looked
    up one by one in the index. `offset` follows the export: journal row - export row of the
    last row found in the range."""

    MARGIN = 200  # journal rows read before and after a chunk's expected place

    def __init__(self, conn: sqlite3.Connection, prints: bool) -> None:
        self._conn = conn
        extra = (f"(SELECT p.pw FROM j.{PRINTS_TABLE} p WHERE p.external_id = r.external_id),"
                 f" EXISTS (SELECT 1 FROM j.{STALE_TABLE} s WHERE s.external_id = r.external_id)" if prints
                 else "NULL, 0")
        self._columns = f"r.external_id, r.fingerprint, r.status, r.row_no, r.clerk_user_id, r.email, {extra}"
        # ids of several journal rows (the load's duplicate_id refusals): always looked up, so
        # that the rule above picks among all of them
        self._several = {ext for (ext,) in conn.execute(
            "SELECT external_id FROM j.rows WHERE external_id IS NOT NULL GROUP BY external_id HAVING COUNT(*) > 1")}
        self._offset = 0
        self.in_range = 0  # figures: rows found by the merge, rows looked up
        self.looked_up = 0

    @staticmethod
    def _prior(r: Sequence[Any]) -> tuple[Any, ...]:
        # (journal fingerprint, status, row, Clerk user id, email, password print, stale)
        return (bytes(r[1]) if r[1] is not None else None, r[2], r[3], r[4], r[5],
                bytes(r[6]) if r[6] is not None else None, bool(r[7]))

    def match(self, rows: Sequence[tuple[int, str]]) -> dict[str, tuple[Any, ...]]:
        """{external id: the journal's row} for (export row, external id) pairs in row order."""
        known: dict[str, tuple[Any, ...]] = {}
        if not rows:
            return known
        conn, several, prior = self._conn, self._several, self._prior
        lo = rows[0][0] + self._offset - self.MARGIN
        hi = rows[-1][0] + self._offset + self.MARGIN
        near: dict[str, Sequence[Any]] = {}
        for r in conn.execute(f"SELECT {self._columns} FROM j.rows r WHERE r.row_no BETWEEN ? AND ?", (lo, hi)):
            if r[0] is not None and r[0] not in several:
                near[r[0]] = r
        missing: list[str] = []
        for row, ext in rows:
            r = near.get(ext)
            if r is None:
                if ext not in known:
                    missing.append(ext)
                continue
            known[ext] = prior(r)
        self.in_range += len(rows) - len(missing)
        self.looked_up += len(missing)
        missing = list(dict.fromkeys(missing))
        for part in range(0, len(missing), 900):
            sub = missing[part:part + 900]
            for r in conn.execute(
                f"SELECT {self._columns} FROM j.rows r WHERE r.external_id IN ({','.join('?' * len(sub))})"
                " ORDER BY r.row_no", sub,
            ):
                ext = r[0]
                if ext not in known or (known[ext][1] == "refused" and r[2] != "refused"):
                    known[ext] = prior(r)
        for row, ext in reversed(rows):  # the next chunk is expected where this one ends
            found = known.get(ext)
            if found is not None:
                self._offset = found[2] - row
                break
        return known


_ITEM_COLUMNS = ("pos, kind, row_no, old_row, external_id, email, old_email, status, clerk_user_id, fp, pw, pw_state,"
                 " pw_valid, has_pw, importable, refusal_codes, warning_codes, message, detail")
_ITEM_INSERT = (f"INSERT INTO items ({_ITEM_COLUMNS})"
                " VALUES (?1, ?2, ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)")
# most rows: unchanged, at their old row number, the journal's email, no refusal, no detail. The
# same columns with fewer values bound (binding None or bytes costs the sqlite3 module an adapter
# look-up: the blobs go as bytearray, the NULLs are written in the statement)
_UNCHANGED_INSERT = (f"INSERT INTO items ({_ITEM_COLUMNS})"
                     " VALUES (?1, 'unchanged', ?1, ?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, NULL, ?11, NULL, NULL)")


def _stream(conn: sqlite3.Connection, reader: Any, policies: Any, info: Any, key: bytes, run_id: str,
            on_progress: ProgressCallback | None, stop: threading.Event | None, size: int,
            prints: bool = False) -> tuple[int, int, dict[str, int]]:
    """The new export into `items`, PLAN_CHUNK rows per insert, each row matched to its
    journal row and classified (the module doc's table) while the chunk is at hand. The new
    values of a row are kept (`detail`) only when the row is not plainly unchanged: its
    fingerprint is not the journal's, or the journal's row has no Clerk user.
    Returns (rows read, the last row number, how the rows were matched)."""
    from console.migration.feed import RunSource
    from console.migration.fingerprint import keyed_sha256, row_fingerprint
    from console.migration.preflight import BodyRules

    rules = BodyRules.of_run(info)
    source = RunSource(export_path=Path(reader.path), policies=policies, rules=rules, run_id=run_id)
    plaintext = policies.plaintext_password
    journal = _JournalRows(conn, prints)
    chunk: list[tuple[Any, bool, tuple[str, ...], tuple[str, ...], str | None, bytes]] = []
    last_report = 0.0
    rows = 0
    last_row = 0
    hmac_sha256 = keyed_sha256(key)
    no_password = password_print(key, None)
    # one journal row, one claimant: an importable row (the checks refuse a repeated id), else the
    # first row of the new export with that id; the others are rows the run never had. Held as a
    # bitmap of journal rows claimed, plus the claims of rows that are not importable (a later
    # importable row of the same id takes theirs: only after a row the checks could not read)
    top = conn.execute("SELECT COALESCE(MAX(row_no), 0) FROM j.rows").fetchone()[0]
    claimed = bytearray(max(0, int(top)) + 1)
    weak: dict[int, int] = {}
    undone: list[int] = []

    def flush() -> None:
        known = journal.match([(c[0].user.row, c[0].user.external_id) for c in chunk
                               if c[0].user.external_id is not None])
        out: list[tuple[Any, ...]] = []
        unchanged: list[tuple[Any, ...]] = []
        for checked, ok, codes, warns, message, fp in chunk:
            user = checked.user
            row = user.row
            prior = known.get(user.external_id) if user.external_id is not None else None
            if prior is not None:
                old = prior[2]
                if claimed[old]:
                    if not ok:
                        prior = None  # an earlier or an importable row holds it
                    elif old in weak:
                        undone.append(weak.pop(old))  # this importable row takes it
                else:
                    claimed[old] = 1
                    if not ok:
                        weak[old] = row
            plain = (ok and prior is not None and prior[1] in ("created", "existed") and prior[0] == fp
                     and not prior[6])
            detail = None if plain else _detail(user, source, ok)
            # the password's print: not needed for an unchanged row whose print is kept already
            if not ok or (plain and prior is not None and prior[5] is not None):
                pw = None
            elif user.password_digest or user.password or user.password_hasher:
                pw = hmac_sha256(_password_parts(user))[:16]
            else:
                pw = no_password
            has_pw = 1 if (user.password_digest or user.password) else 0
            if prior is None:
                kind = "new" if ok else "refused"
                old_row = status = clerk_id = old_email = None
                pw_state, pw_valid = "unknown", 0
            else:
                jfp, status, old_row, clerk_id, old_email, p_pw, stale = prior
                if status in ("pending", "creating"):
                    kind = "busy"
                elif not ok:
                    kind = "refused"
                elif status in ("created", "existed"):
                    kind = "unchanged" if fp == jfp and not stale else "changed"
                elif status == "failed":
                    kind = "failed" if fp == jfp else "new"
                else:
                    kind = "new"
                if p_pw is None:
                    pw_state, pw_valid = "unknown", 0
                elif pw is None or p_pw == pw:
                    pw_state, pw_valid = "unchanged", 1
                else:
                    pw_state, pw_valid = "changed", 0
            email = user.email
            if kind == "unchanged" and old_row == row and old_email == email:  # importable: no codes, no detail
                unchanged.append((row, user.external_id, email, status, clerk_id, bytearray(fp),
                                  None if pw is None else bytearray(pw), pw_state, pw_valid, has_pw,
                                  ",".join(warns) or None))
            else:
                out.append((row, kind, old_row, user.external_id, email, old_email, status, clerk_id, bytearray(fp),
                            None if pw is None else bytearray(pw), pw_state, pw_valid, has_pw, 1 if ok else 0,
                            ",".join(codes) or None, ",".join(warns) or None, message, detail))
        conn.execute("BEGIN")
        conn.executemany(_UNCHANGED_INSERT, unchanged)
        conn.executemany(_ITEM_INSERT, out)
        conn.execute("COMMIT")
        chunk.clear()

    for checked in reader.rows(policies):
        ok, codes, warns, message = verdict(checked, run_id, rules, plaintext)
        chunk.append((checked, ok, codes, warns, message, row_fingerprint(key, checked.user)))
        rows += 1
        last_row = checked.user.row
        if len(chunk) >= PLAN_CHUNK:
            if stop is not None and stop.is_set():
                raise PlanStopped()
            flush()
        if on_progress is not None:
            now = time.monotonic()
            if now - last_report >= 0.1:
                last_report = now
                on_progress(rows, reader.bytes_read, size)
    if chunk:
        flush()
    if undone:  # rows that are not importable, whose journal row a later importable row took
        conn.execute("BEGIN")
        conn.executemany("UPDATE items SET kind = 'refused', old_row = NULL, status = NULL, clerk_user_id = NULL,"
                         " old_email = NULL, pw_state = 'unknown', pw_valid = 0 WHERE pos = ?", [(r,) for r in undone])
        conn.execute("COMMIT")
    return rows, last_row, {"in_order": journal.in_range, "looked_up": journal.looked_up}


def _detail(user: Any, source: Any, importable: bool) -> str:
    """The new values of one row, as the plan shows them (a digest only masked): the body the
    feed builds (feed.py), as the instance takes it (fields it turned off left out)."""
    from console.migration.feed import build_body

    if importable:
        body, problem = build_body(user, source, marker=False)
        if body is None:
            return json.dumps({"problem": problem[1] if problem else "no body"})
        try:
            want = wanted(body)
        except Exception as exc:  # noqa: BLE001 - shown as the row's problem
            return json.dumps({"problem": " ".join(str(exc).split())[:300]})
    else:
        want = {"email": user.email, "first_name": user.first_name, "last_name": user.last_name,
                "username": user.username}
    return json.dumps(want, ensure_ascii=False, default=str)


def _removed(conn: sqlite3.Connection, last_row: int) -> None:
    """The journal's rows no row of the new export claimed (removed, dropped, busy), after the
    export's rows (pos = the last row + the journal's row), and the plan's indexes."""
    conn.execute("BEGIN")
    conn.execute("CREATE INDEX items_by_old ON items(old_row)")
    conn.execute(
        """
        INSERT INTO items (pos, kind, row_no, old_row, external_id, email, old_email, status, clerk_user_id, fp)
        SELECT ? + r.row_no,
               CASE WHEN r.status IN ('created', 'existed') THEN 'removed'
                    WHEN r.status IN ('pending', 'creating') THEN 'busy' ELSE 'dropped' END,
               NULL, r.row_no, r.external_id, NULL, r.email, r.status, r.clerk_user_id, r.fingerprint
        FROM j.rows r
        WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.old_row = r.row_no)
        ORDER BY r.row_no
        """,
        (last_row,),
    )
    conn.execute("CREATE INDEX items_by_kind ON items(kind, pos)")
    conn.execute("COMMIT")


# ----------------------------------------------------------------------------- the plan object
class SyncPlan:
    """A plan made by `plan_sync`: its counts, its rows page by page, and the facts of the
    new export. Thread-safe for reads (one lock around the scratch connection)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        facts = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM facts")}
        self.facts: dict[str, Any] = facts
        self.export_path: str = facts["export_path"]
        self.export_sha256: str = facts["export_sha256"]
        self.counts: dict[str, int] = {k: 0 for k in KINDS}
        for kind, n in conn.execute("SELECT kind, COUNT(*) FROM items GROUP BY kind"):
            self.counts[kind] = n
        self.rows_in_export: int = int(facts["rows_in_export"])
        self.read_back = False  # read_clerk ran
        self.requests = 0  # requests read_clerk made

    # -- figures ------------------------------------------------------------------
    @property
    def busy(self) -> int:
        return self.counts.get("busy", 0)

    @property
    def to_send(self) -> int:
        """Rows that may send requests: new, changed, removed (removed only with ban/delete)."""
        return sum(self.counts.get(k, 0) for k in ACTIVE_KINDS)

    def summary(self) -> dict[str, Any]:
        """The plan's figures (the `planned` part of sync --json)."""
        return {
            "export": self.export_path,
            "sha256": self.export_sha256,
            "rows": self.rows_in_export,
            **{k: self.counts.get(k, 0) for k in KINDS},
            "password_unknown": self.count_where("kind = 'changed' AND pw_state = 'unknown' AND has_pw = 1"),
            "planned_s": self.facts.get("planned_s"),
        }

    def count_where(self, where: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM items WHERE {where}", params).fetchone()[0]

    # -- rows -----------------------------------------------------------------------
    _COLUMNS = ("pos, kind, row_no, old_row, external_id, email, old_email, status, clerk_user_id, refusal_codes,"
                " message, pw_state, detail, clerk, importable")

    def rows(self, *, kind: str | Sequence[str] | None = None, limit: int = 100, after: int | None = None,
             search: str | None = None, with_fields: bool = False) -> list[PlanRow]:
        """One page in plan order (new export's rows, then the rows gone from it). Page with
        `after` = the last `pos` seen. `kind` a kind or a list; None: every kind but
        unchanged. `search`: part of the external id or email."""
        clauses, params = [], []
        if kind is None:
            clauses.append("kind != 'unchanged'")
        else:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if after is not None:
            clauses.append("pos > ?")
            params.append(int(after))
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append("(external_id LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' OR old_email LIKE ? ESCAPE '\\')")
            params.extend([like, like, like])
        params.append(int(limit))
        with self._lock:
            cur = self._conn.execute(
                f"SELECT {self._COLUMNS} FROM items WHERE {' AND '.join(clauses)} ORDER BY pos LIMIT ?", params)
            found = cur.fetchall()
        return [self._row(r, with_fields) for r in found]

    def row(self, pos: int) -> PlanRow | None:
        """One row with its field changes."""
        with self._lock:
            r = self._conn.execute(f"SELECT {self._COLUMNS} FROM items WHERE pos = ?", (int(pos),)).fetchone()
        return self._row(r, True) if r else None

    def iter_rows(self, *, kind: str | Sequence[str] | None = None, with_fields: bool = False,
                  batch: int = 500) -> Iterable[PlanRow]:
        last = None
        while True:
            page = self.rows(kind=kind, limit=batch, after=last, with_fields=with_fields)
            if not page:
                return
            yield from page
            last = page[-1].pos

    def _row(self, r: Sequence[Any], with_fields: bool) -> PlanRow:
        (pos, kind, row_no, old_row, ext, email, old_email, status, clerk_id, codes, message, pw_state, detail,
         clerk, importable) = r
        want = json.loads(detail) if detail else None
        password = ""
        if kind == "changed":
            has_pw = bool(want and want.get("password"))
            password = pw_state if (pw_state != "unknown" or has_pw) else ""
        fields: tuple[FieldChange, ...] = ()
        if with_fields:
            fields = tuple(self._fields(kind, want, json.loads(clerk) if clerk else None, old_email, password))
        return PlanRow(pos=pos, kind=kind, row=row_no, old_row=old_row, external_id=ext, email=email,
                       old_email=old_email, status=status, clerk_user_id=clerk_id,
                       codes=tuple(c for c in (codes or "").split(",") if c), message=message,
                       password=password, fields=fields)

    @staticmethod
    def _fields(kind: str, want: dict[str, Any] | None, have: dict[str, Any] | None, old_email: str | None,
                password: str) -> list[FieldChange]:
        if want is None:
            return []
        if "problem" in want:
            return [FieldChange("export", None, want["problem"], "the row makes no create body")]
        if kind == "changed":
            if have is not None and have.get("missing"):
                return [FieldChange("user", "missing in Clerk", None, "the user is not in Clerk any more")]
            return changes(want, have, old_email=old_email, password=password)
        if kind in ("new", "refused"):
            out = []
            for name in ("email", "email_verified", "first_name", "last_name", "username", "public_metadata",
                         "private_metadata", "unsafe_metadata"):
                if name in want and want[name] not in (None, {}, ""):
                    out.append(FieldChange(name, None, shown(name, want[name])))
            if want.get("password"):
                out.append(FieldChange("password", None, f"{want['password']} {MASK}"))
            return out
        return []

    # -- Clerk's copy of the changed rows ---------------------------------------------
    async def read_clerk(self, client: Any, *, on_progress: Callable[[int, int], None] | None = None,
                         stop: threading.Event | None = None) -> int:
        """Read the changed rows' users back (100 per request) so that their field changes
        show Clerk's values. Returns the requests made. Raises the client's errors."""
        total = self.count_where("kind = 'changed' AND clerk_user_id IS NOT NULL")
        done = 0
        last = -1
        requests = 0
        while True:
            if stop is not None and stop.is_set():
                break
            with self._lock:
                page = self._conn.execute(
                    "SELECT pos, clerk_user_id FROM items WHERE kind = 'changed' AND clerk_user_id IS NOT NULL"
                    " AND pos > ? ORDER BY pos LIMIT ?", (last, READ_BATCH)).fetchall()
            if not page:
                break
            last = page[-1][0]
            found = await client.users_by_ids([uid for _, uid in page])
            requests += 1
            out = []
            for pos, uid in page:
                user = found.get(uid)
                out.append((json.dumps(held(user), default=str) if user is not None else '{"missing": true}', pos))
            with self._lock:
                self._conn.execute("BEGIN")
                self._conn.executemany("UPDATE items SET clerk = ? WHERE pos = ?", out)
                self._conn.execute("COMMIT")
            done += len(page)
            if on_progress is not None:
                on_progress(done, total)
        self.read_back = True
        self.requests += requests
        return requests

    # -- lifetime -------------------------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The scratch database (the sync attaches it to the journal to adopt the plan)."""
        return self._conn

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:  # pragma: no cover
                pass
        _unlink(self.path)
        parent = self.path.parent
        if parent.name.startswith("clerk-migrate-sync-"):
            try:
                parent.rmdir()
            except OSError:
                pass

    def __enter__(self) -> "SyncPlan":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "ACTIVE_KINDS",
    "FieldChange",
    "KINDS",
    "PlanRow",
    "PlanStopped",
    "SyncPlan",
    "SyncPlanError",
    "changes",
    "held",
    "password_print",
    "plan_sync",
    "remove_stale_scratch",
    "same",
    "verdict",
    "wanted",
]
