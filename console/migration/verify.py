"""Verify: read the imported users back from Clerk and compare them with the export.

    report = await verify_run(journal, settings, sample=300, seed=None, on_progress=cb)
    report = await verify_run(journal, settings, sample=None)      # every row (--all)

What is compared, per user, with what was sent (the export row through
`to_payload`, with the journal's fix for that row, under the run's policies):
external id, primary email (case-insensitive; the fixed address when the row
had a fix), verification state (`verified`, or `unverified` for a reserved
address), first and last name, username (when one was sent), password set or
not (`password_enabled` vs a digest or password in the body), and `created_at`
(when one was sent; Clerk's milliseconds vs the export's time, within 1 s).

The export file stays the source: its sha256 must still be the journal's.
The journal is read in keyset pages and the export streamed alongside it (a
merge in row order, in a worker thread), so memory stays flat for any size.
Users are read 100 per request by Clerk id (`users_by_ids`) through one
RequestBudget for the run's instance; a key for another instance is refused
before any request. Users that are missing are looked up by external id (one
request per batch that has any) to tell whether another Clerk user holds it now.

`--sample N`: N created rows drawn with `random.Random(seed).sample` over the
created rows in row order (reproducible: the seed is reported), plus every
`existed` row. `sample=None` checks every created and existed row. Rows whose
user `undo` deleted are left out (and out of the expected total).

Results: the report (`VerifyReport.as_json()`, the `verify --json` object),
`DIR/verify.json` (0600), the journal tables `verify_runs` (one row per
verification) and `verify_results` (every mismatch and missing user of it), and
`journal.get_meta("verify_last")`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from console.clerk.models import UserCore
from console.migration.feed import (
    PROCESS_MIN_ROWS,
    ExportFeed,
    ExportProcess,
    FeedChanged,
    RunSource,
    process_available,
)
from console.migration.journal import RowRecord, RunJournal
from console.migration.undo import undone_count, undone_filter

DEFAULT_SAMPLE = 300
BATCH = 100  # ids per read (Clerk's maximum per filter)
DEFAULT_CONCURRENCY = 16
LISTED_MAX = 10_000  # mismatch / missing entries kept in the report (all are in verify_results)
CREATED_AT_TOLERANCE_MS = 1000
REPORT_NAME = "verify.json"
JOURNAL_PAGE = 500

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS verify_runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        ended_at REAL,
        mode TEXT NOT NULL,
        sample INTEGER,
        seed INTEGER,
        checked INTEGER NOT NULL DEFAULT 0,
        matched INTEGER NOT NULL DEFAULT 0,
        mismatched_users INTEGER NOT NULL DEFAULT 0,
        mismatched_fields INTEGER NOT NULL DEFAULT 0,
        missing INTEGER NOT NULL DEFAULT 0,
        clerk_total INTEGER,
        expected_total INTEGER,
        requests INTEGER NOT NULL DEFAULT 0,
        complete INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS verify_results (
        verify_id INTEGER NOT NULL,
        row_no INTEGER NOT NULL,
        external_id TEXT,
        clerk_user_id TEXT,
        status TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('mismatch', 'missing')),
        field TEXT,
        expected TEXT,
        found TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS verify_results_by_run ON verify_results(verify_id, row_no)",
)


# ----------------------------------------------------------------------------- records
class Expected(NamedTuple):
    """What Clerk should hold for one row (no password or digest: only whether one was sent)."""

    row_no: int
    status: str
    external_id: str | None
    clerk_user_id: str
    email: str | None
    verified: bool | None  # None: no email sent
    first_name: str | None
    last_name: str | None
    username: str | None
    password: bool
    created_at: str | None
    problem: str | None = None  # the row no longer makes a create body (export or fix)


@dataclass(frozen=True, slots=True)
class VerifyProgress:
    total: int  # users to check
    checked: int = 0
    matched: int = 0
    mismatched: int = 0  # users with at least one field that differs
    missing: int = 0
    requests: int = 0
    rate_limited: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    state: str = "running"  # reading, running, counting, done, stopped
    message: str = ""


@dataclass
class VerifyReport:
    checked: int
    matched: int
    mismatched: list[dict[str, Any]]  # one per field: row, external_id, clerk_user_id, status, field, expected, found
    missing: list[dict[str, Any]]  # row, external_id, clerk_user_id, status, held_by
    clerk_total: int | None
    expected_total: int
    seed: int | None
    sample: int | None  # None: --all
    mismatched_users: int = 0
    mismatched_fields: int = 0
    missing_count: int = 0
    truncated: bool = False  # more entries than LISTED_MAX (all are in verify_results)
    existed_checked: int = 0
    undone: int = 0
    complete: bool = True
    requests: int = 0
    rate_limited: int = 0
    duration_s: float = 0.0
    verify_id: int | None = None
    report_path: str | None = None
    message: str | None = None
    export_process_rss_mb: float | None = None  # the export process's peak RSS (not in as_json)

    @property
    def total_short(self) -> bool:
        return self.clerk_total is not None and self.clerk_total < self.expected_total

    @property
    def ok(self) -> bool:
        return self.complete and not self.mismatched_fields and not self.missing_count and not self.total_short

    @property
    def exit_code(self) -> int:
        if not self.complete:
            return 130
        return 0 if self.ok else 1

    def as_json(self) -> dict[str, Any]:
        """The `verify --json` object of cli-contract.md (plus the figures behind it)."""
        return {
            "checked": self.checked,
            "matched": self.matched,
            "mismatched": self.mismatched,
            "missing": self.missing,
            "clerk_total": self.clerk_total,
            "expected_total": self.expected_total,
            "seed": self.seed,
            "sample": self.sample,
            "mode": "all" if self.sample is None else "sample",
            "mismatched_users": self.mismatched_users,
            "mismatched_fields": self.mismatched_fields,
            "missing_count": self.missing_count,
            "truncated": self.truncated,
            "existed_checked": self.existed_checked,
            "undone": self.undone,
            "complete": self.complete,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "duration_s": self.duration_s,
            "ok": self.ok,
            "report": self.report_path,
            "message": self.message,
        }


ProgressCallback = Callable[[VerifyProgress], None]


# ----------------------------------------------------------------------------- comparing
def _norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ms(iso: str) -> int | None:
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def expected_from(rec: "RowRecord | PageRow", body: dict[str, Any] | None, problem: str | None = None) -> Expected:
    body = body or {}
    emails = body.get("email_address") or []
    statuses = body.get("email_address_identification_status") or []
    email = emails[0] if emails else None
    verified = None if email is None else not (statuses and statuses[0] == "reserved")
    return Expected(
        row_no=rec.row_no,
        status=rec.status,
        external_id=body.get("external_id", rec.external_id),
        clerk_user_id=rec.clerk_user_id or "",
        email=email,
        verified=verified,
        first_name=body.get("first_name"),
        last_name=body.get("last_name"),
        username=body.get("username"),
        password=bool(body.get("password_digest") or body.get("password")),
        created_at=body.get("created_at"),
        problem=problem,
    )


def compare(exp: Expected, user: Any) -> list[tuple[str, Any, Any]]:
    """(field, expected, found) for every field that differs."""
    out: list[tuple[str, Any, Any]] = []
    if exp.problem:
        out.append(("export", exp.problem, None))
    if (user.external_id or None) != (exp.external_id or None):
        out.append(("external_id", exp.external_id, user.external_id))
    primary = user.primary_email
    found_email = primary.email_address if primary is not None else None
    if (exp.email or "").strip().lower() != (found_email or "").strip().lower():
        out.append(("email", exp.email, found_email))
    elif exp.email is not None and primary is not None:
        status = primary.verification.status if primary.verification is not None else None
        found_verified = "verified" if status == "verified" else "unverified"
        want = "verified" if exp.verified else "unverified"
        if found_verified != want:
            out.append(("email_verified", want, f"{found_verified} ({status or 'no verification'})"))
    for name in ("first_name", "last_name"):
        want, got = _norm(getattr(exp, name)), _norm(getattr(user, name))
        if want != got:
            out.append((name, want, got))
    if exp.username is not None and (_norm(exp.username) or "").lower() != (_norm(user.username) or "").lower():
        out.append(("username", exp.username, user.username))
    if bool(user.password_enabled) != exp.password:
        out.append(("password", "set" if exp.password else "not set", "set" if user.password_enabled else "not set"))
    if exp.created_at:
        want_ms = _ms(exp.created_at)
        if want_ms is not None and (user.created_at is None or abs(user.created_at - want_ms) > CREATED_AT_TOLERANCE_MS):
            out.append(("created_at", exp.created_at, _iso(user.created_at)))
    return out


def expected_page(feed: Any, page: "Sequence[RowRecord | PageRow]") -> list[Expected]:
    """What Clerk should hold for each row of a journal page: the body the feed builds (the
    export's row, its fix, the run's policies and the instance's rules: what was sent, the
    run marker aside), or the problem when the row makes no body now. Runs in a thread."""
    out: list[Expected] = []
    for row in feed.take(page, marker=False):
        if row.body is None:
            problem = row.problem[1] if row.problem else "no body"
            out.append(expected_from(row.rec, None, f"the row makes no create body now: {problem}"))
        else:  # a rule that would refuse it now: compared as it went (what Clerk holds)
            out.append(expected_from(row.rec, row.body))
    return out


# ----------------------------------------------------------------------------- selection
class PageRow(NamedTuple):
    """What verify reads of a journal row (the feed's and Expected's fields: a RowRecord's,
    without the columns verify does not use)."""

    row_no: int
    external_id: str | None
    status: str
    clerk_user_id: str | None
    fingerprint: bytes | None
    fix: dict[str, Any] | None


def _page_reader(journal: RunJournal) -> Callable[[int, int], list[PageRow]]:
    """(after row, limit) -> the next created/existed rows, in row order: the table read by
    row number (`+status`: not through the status index, which would sort every page)."""
    conn = journal.connection
    columns = {r[1] for r in conn.execute("PRAGMA table_info(rows)")}
    sql = ("SELECT row_no, external_id, status, clerk_user_id, "
           f"{'fingerprint' if 'fingerprint' in columns else 'NULL'}, fix_json FROM rows"
           " WHERE row_no > ? AND +status IN ('created', 'existed') ORDER BY row_no LIMIT ?")
    loads = json.loads

    def page(after: int, limit: int) -> list[PageRow]:
        return [PageRow(row_no, ext, status, clerk_id, fp, loads(fix) if fix else None)
                for row_no, ext, status, clerk_id, fp, fix in conn.execute(sql, (after, limit))]

    return page


def _selected_pages(
    journal: RunJournal, chosen: set[int] | None, page: int = JOURNAL_PAGE
) -> Iterator[list[PageRow]]:
    """Pages of rows to check, row order: every existed row, and the created rows whose
    position (0-based, among created rows not undone, in row order) is in `chosen`
    (all of them when chosen is None)."""
    undone = undone_filter(journal)
    read = _page_reader(journal)
    position = 0
    last = 0
    while True:
        rows = read(last, page)
        if not rows:
            return
        last = rows[-1].row_no
        gone = undone([r.row_no for r in rows if r.status == "created"])
        out: list[PageRow] = []
        for r in rows:
            if not r.clerk_user_id:
                continue
            if r.status == "created":
                if r.row_no in gone:
                    continue
                pick = chosen is None or position in chosen
                position += 1
                if not pick:
                    continue
            out.append(r)
        if out:
            yield out


class _ReadOnly:
    """A journal's read-only connection where verify's page reads want a RunJournal."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection


def _export_side(emit: Callable[[Any], None], run_dir: str, source: RunSource, chosen: set[int] | None,
                 page: int) -> None:
    """(in the ExportProcess child) The journal's pages read on a read-only connection of its own,
    each page's Expected rows emitted as plain tuples; "ready" first, once the export is open."""
    from console.migration.journal import journal_path

    conn = RunJournal._connect_ro(journal_path(run_dir))
    try:
        feed = ExportFeed(source)
        emit("ready")
        try:
            for rows in _selected_pages(_ReadOnly(conn), chosen, page):  # type: ignore[arg-type]
                emit([tuple(e) for e in expected_page(feed, rows)])
        finally:
            feed.close()
    finally:
        conn.close()


def _next_expected(stream: ExportProcess) -> list[Expected] | None:
    got = stream.next()
    return None if got is None else list(map(Expected._make, got))


# ----------------------------------------------------------------------------- storing
def _ensure_tables(journal: RunJournal) -> None:
    with journal.transaction() as conn:  # a full disk or a read-only folder: JournalUnwritable (one line)
        for statement in _SCHEMA:
            conn.execute(statement)


def _tx(journal: RunJournal, sql: str, params: Sequence[Any] | Sequence[Sequence[Any]], many: bool = False) -> int:
    with journal.transaction() as conn:
        cur = conn.executemany(sql, params) if many else conn.execute(sql, params)
        return int(cur.lastrowid or 0)


def _write_json(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, indent=1, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def last_report(journal: RunJournal) -> dict[str, Any] | None:
    """The summary of the last verification of this run (None when none ran)."""
    return journal.get_meta("verify_last")


# ----------------------------------------------------------------------------- the engine
async def verify_run(
    journal: RunJournal,
    settings: Any,
    *,
    sample: int | None = DEFAULT_SAMPLE,
    seed: int | None = None,
    on_progress: ProgressCallback | None = None,
    rate: float | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    client: Any = None,
    stop: threading.Event | None = None,
    timeout: float = 30.0,
    progress_interval_s: float = 0.1,
    store: bool = True,
    export_process: bool | None = None,
) -> VerifyReport:
    """Read the run's users back and compare them with the export. `sample=None`
    checks every created/existed row; `sample=N` N random created rows (seeded;
    a random seed when None, reported) plus every existed row. `export_process`: the export
    read, checked and turned into bodies in a process of its own (feed.ExportProcess), so that
    it runs beside the comparison instead of sharing its GIL; None: when there are at least
    feed.PROCESS_MIN_ROWS users to check. Raises RunRefused
    (other instance, export missing or changed) and the client's errors
    (AuthenticationError…). `stop.set()` (any thread) ends it early: the report
    then has `complete=False` (exit code 130)."""
    from console.clerk.client import ClerkClient
    from console.clerk.limiter import RequestBudget
    from console.migration.run import RunRefused, check_same_export, check_same_instance, confirm_instance

    if sample is not None and sample < 0:
        raise ValueError("sample must be 0 or more")
    check_same_instance(journal, settings)
    export_path = check_same_export(journal)
    stop = stop or threading.Event()
    started_wall, started = time.time(), time.monotonic()

    counts = journal.counts()
    undone = undone_count(journal)
    created_left = max(0, counts["created"] - undone)
    expected_total = created_left + counts["existed"]
    chosen: set[int] | None = None
    if sample is not None:
        if seed is None:
            seed = random.SystemRandom().randrange(1, 2**31)
        chosen = set(random.Random(seed).sample(range(created_left), min(sample, created_left)))
        total = len(chosen) + counts["existed"]
    else:
        seed = None
        total = expected_total

    own = client is None
    if own:
        key = settings.secret_key
        budget = RequestBudget.for_instance(journal.info.instance_kind or key.instance_kind, rate=rate)
        client = ClerkClient(key, settings.base_url, budget, timeout=timeout)
    budget = client.budget
    base_requests, base_limited = budget.requests, budget.rate_limited
    try:
        await confirm_instance(journal, settings, client)
    except BaseException:
        if own:
            await client.aclose()
        raise

    verify_id: int | None = None
    if store:
        _ensure_tables(journal)
        verify_id = _tx(journal, "INSERT INTO verify_runs (started_at, mode, sample, seed) VALUES (?, ?, ?, ?)",
                        (started_wall, "all" if sample is None else "sample", sample, seed))

    st = {"checked": 0, "matched": 0, "mm_users": 0, "mm_fields": 0, "missing": 0, "existed": 0}
    mismatched: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    truncated = [False]
    last_emit = [0.0]

    def snapshot(state: str = "running", message: str = "") -> VerifyProgress:
        elapsed = time.monotonic() - started
        checked = st["checked"]
        eta = (elapsed / checked) * (total - checked) if checked and total > checked else None
        return VerifyProgress(
            total=total, checked=checked, matched=st["matched"], mismatched=st["mm_users"], missing=st["missing"],
            requests=budget.requests - base_requests, rate_limited=budget.rate_limited - base_limited,
            elapsed_s=elapsed, eta_s=eta, state=state, message=message,
        )

    def emit(state: str = "running", message: str = "", force: bool = False) -> None:
        if on_progress is None:
            return
        now = time.monotonic()
        if force or now - last_emit[0] >= progress_interval_s:
            last_emit[0] = now
            try:
                on_progress(snapshot(state, message))
            except Exception:  # noqa: BLE001 - a display bug never stops a verification
                pass

    def keep(entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        if len(entries) < LISTED_MAX:
            entries.append(entry)
        else:
            truncated[0] = True

    async def check_batch(batch: list[Expected]) -> None:
        found = await client.users_by_ids([e.clerk_user_id for e in batch], model=UserCore)  # what compare() reads
        absent = [e for e in batch if e.clerk_user_id not in found]
        held: dict[str, Any] = {}
        if absent:
            held = await client.users_by_external_ids([e.external_id for e in absent if e.external_id])
        rows: list[tuple[Any, ...]] = []
        for e in batch:
            st["checked"] += 1
            if e.status == "existed":
                st["existed"] += 1
            base = {"row": e.row_no, "external_id": e.external_id, "clerk_user_id": e.clerk_user_id,
                    "status": e.status}
            user = found.get(e.clerk_user_id)
            if user is None:
                other = held.get(e.external_id) if e.external_id else None
                st["missing"] += 1
                keep(missing, {**base, "held_by": other.id if other is not None else None})
                rows.append((verify_id, e.row_no, e.external_id, e.clerk_user_id, e.status, "missing", None, None,
                             other.id if other is not None else None))
                continue
            diffs = compare(e, user)
            if not diffs:
                st["matched"] += 1
                continue
            st["mm_users"] += 1
            st["mm_fields"] += len(diffs)
            for name, want, got in diffs:
                keep(mismatched, {**base, "field": name, "expected": want, "found": got})
                rows.append((verify_id, e.row_no, e.external_id, e.clerk_user_id, e.status, "mismatch", name,
                             None if want is None else str(want), None if got is None else str(got)))
        if rows and store:
            _tx(journal, "INSERT INTO verify_results (verify_id, row_no, external_id, clerk_user_id, status, kind,"
                " field, expected, found) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows, many=True)
        emit()

    queue: asyncio.Queue[list[Expected] | None] = asyncio.Queue(maxsize=max(2, concurrency * 2))
    errors: list[BaseException] = []

    async def worker() -> None:
        while True:
            batch = await queue.get()
            if batch is None:
                return
            if errors or stop.is_set():
                continue
            try:
                await check_batch(batch)
            except Exception as exc:  # noqa: BLE001 - the first error ends the verification
                errors.append(exc)

    feed: ExportFeed | None = None
    stream: ExportProcess | None = None
    if export_process is None:
        export_process = total >= PROCESS_MIN_ROWS and process_available()
    clerk_total: int | None = None
    message: str | None = None
    workers: list[asyncio.Task[None]] = []
    try:
        workers = [asyncio.create_task(worker()) for _ in range(max(1, int(concurrency)))]
        try:
            source = RunSource.of(journal, export_path=export_path)
            pages: Iterator[list[PageRow]] | None = None
            if export_process:  # the export's side (reading, checks, fingerprints, bodies) on another core
                stream = ExportProcess(_export_side, str(journal.run_dir), source, chosen, JOURNAL_PAGE)
                await asyncio.to_thread(stream.next)  # its feed opened: the same errors as a thread's
            else:
                feed = await asyncio.to_thread(ExportFeed, source)
                pages = _selected_pages(journal, chosen)
            emit("reading", force=True)
            pending: list[Expected] = []
            while True:
                try:
                    if pages is not None:
                        page = next(pages, None)
                        if page is None or stop.is_set() or errors:
                            break
                        pending.extend(await asyncio.to_thread(expected_page, feed, page))
                    else:
                        if stop.is_set() or errors:
                            break
                        got = await asyncio.to_thread(_next_expected, stream)
                        if got is None:
                            break
                        pending.extend(got)
                except FeedChanged as exc:
                    raise RunRefused(f"{export_path}: {exc}: the export changed since the import",
                                     code="export_changed") from None
                while len(pending) >= BATCH:
                    await queue.put(pending[:BATCH])
                    pending = pending[BATCH:]
            if pending and not stop.is_set() and not errors:
                await queue.put(pending)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if feed is not None:
                await asyncio.to_thread(feed.close)
            if stream is not None:
                await asyncio.to_thread(stream.close)
        if errors:
            raise errors[0]
        complete = not stop.is_set()
        if complete:
            emit("counting", force=True)
            clerk_total = await client.count_users()
        else:
            message = f"stopped after {st['checked']} of {total} users"
        requests = budget.requests - base_requests
        limited = budget.rate_limited - base_limited
    except BaseException:
        if store and verify_id is not None:
            try:
                _tx(journal, "UPDATE verify_runs SET ended_at = ?, complete = 0 WHERE id = ?", (time.time(), verify_id))
            except Exception:  # noqa: BLE001
                pass
        raise
    finally:
        if own:
            await client.aclose()

    report = VerifyReport(
        checked=st["checked"], matched=st["matched"], mismatched=mismatched, missing=missing,
        clerk_total=clerk_total, expected_total=expected_total, seed=seed, sample=sample,
        mismatched_users=st["mm_users"], mismatched_fields=st["mm_fields"], missing_count=st["missing"],
        truncated=truncated[0], existed_checked=st["existed"], undone=undone, complete=complete,
        requests=requests, rate_limited=limited, duration_s=round(time.monotonic() - started, 3),
        verify_id=verify_id, message=message,
        export_process_rss_mb=stream.child_peak_rss_mb if stream is not None else None,
    )
    if report.complete and report.total_short and not report.message:
        report.message = (f"Clerk holds {clerk_total} users, fewer than the {expected_total} this run created "
                          "or found: some are missing")
    if store:
        path = journal.run_dir / REPORT_NAME
        report.report_path = str(path)
        _tx(journal, "UPDATE verify_runs SET ended_at = ?, checked = ?, matched = ?, mismatched_users = ?,"
            " mismatched_fields = ?, missing = ?, clerk_total = ?, expected_total = ?, requests = ?, complete = ?,"
            " exit_code = ? WHERE id = ?",
            (time.time(), report.checked, report.matched, report.mismatched_users, report.mismatched_fields,
             report.missing_count, clerk_total, expected_total, report.requests, 1 if complete else 0,
             report.exit_code, verify_id))
        summary = {k: v for k, v in report.as_json().items() if k not in ("mismatched", "missing")}
        summary.update({"verify_id": verify_id, "at": started_wall, "exit_code": report.exit_code})
        journal.set_meta("verify_last", summary)
        journal.add_event(
            "verify",
            f"verify ({'all' if sample is None else f'sample {sample}, seed {seed}'}): {report.checked} checked, "
            f"{report.matched} matched, {report.mismatched_users} mismatched, {report.missing_count} missing; "
            f"Clerk total {clerk_total}, expected {expected_total}",
        )
        _write_json(path, {**report.as_json(), "verify_id": verify_id, "at": started_wall,
                           "run": str(journal.run_dir), "exit_code": report.exit_code})
    emit("done" if complete else "stopped", report.message or "", force=True)
    return report


__all__ = [
    "DEFAULT_SAMPLE",
    "Expected",
    "VerifyProgress",
    "VerifyReport",
    "compare",
    "expected_from",
    "last_report",
    "verify_run",
]
