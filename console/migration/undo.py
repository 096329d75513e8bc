"""Undo: delete exactly the Clerk users this run created.

Only rows the journal marks `created`, and of those only the users whose copy
in Clerk carries this run's marker (`private_metadata.clerk_migrate.run`, see
marker.py): every user is read back (100 per request) before it is deleted,
and one without the marker is kept and counted (`kept`), whatever the journal
says. `existed` rows (the user was there before) and users the run never saw
are never touched. Rows a schema-1 journal recorded as created (before run
markers existed, `unmarked`) are kept too unless `include_unmarked=True`.

    preview = await undo_preview(journal, settings)        # reads them back: who signed in since
    undoer = Undoer(journal, settings, on_progress=cb)     # cb(UndoProgress), ~10/s and at the end
    result = await undoer.run()                            # undoer.stop() from any thread
    # or: result = await undo_run(journal, settings, on_progress=cb)

Users a sync removed from the export (its `--removed keep` or `ban`) left the journal's
`rows` for `sync_items` (kind removed): those this run created are undo's too. They are
read back and deleted on the same rule (this run's marker in Clerk), their outcomes kept in
`undo_removed` (keyed by Clerk user id: they have no row number any more).

Resumable: each outcome is committed to the journal's `undo_rows` table
(row_no, clerk_user_id, outcome deleted | gone | failed, code, message) before
it is counted; a second run skips rows already `deleted`/`gone` and tries the
`failed` ones again. A user found absent (by the batched read before each 100
deletes, or a 404 on the delete) was already deleted: counted as `gone`.
Every request goes through one RequestBudget for the run's instance; a key for
another instance is refused before any request (`check_same_instance`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from console.migration.errors import first_line
from console.migration.journal import RowRecord, RunJournal
from console.migration.marker import carries_marker

UNDO_TABLE = "undo_rows"
REMOVED_TABLE = "undo_removed"  # users a sync took out of `rows`: no row number (the sync's renumbering skips it)
DONE_OUTCOMES = ("deleted", "gone")
LOOKUP_PAGE = 100
DEFAULT_CONCURRENCY = 16
LISTED_MAX = 1000  # not-deleted rows listed in a result (all are in undo_rows)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {UNDO_TABLE} (
    row_no        INTEGER PRIMARY KEY,
    clerk_user_id TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('deleted', 'gone', 'failed')),
    code          TEXT,
    message       TEXT,
    signed_in     INTEGER NOT NULL DEFAULT 0,
    at            REAL NOT NULL
)
"""


_REMOVED_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {REMOVED_TABLE} (
    clerk_user_id TEXT PRIMARY KEY,
    sync_id       INTEGER,
    external_id   TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN ('deleted', 'gone', 'failed')),
    code          TEXT,
    message       TEXT,
    signed_in     INTEGER NOT NULL DEFAULT 0,
    at            REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class UndoTarget:
    """A user undo may delete: a journal row `created` (row_no), or a user this run created
    that a sync removed from `rows` (row_no None, sync_id: the sync that removed it)."""

    row_no: int | None
    clerk_user_id: str
    external_id: str | None
    email: str | None
    unmarked: bool = False  # created before run markers existed (a schema-1 journal)
    sync_id: int | None = None

    @classmethod
    def of_row(cls, rec: RowRecord) -> "UndoTarget":
        return cls(rec.row_no, rec.clerk_user_id or "", rec.external_id, rec.email, rec.unmarked)

    def entry(self) -> dict[str, Any]:
        return {"row": self.row_no, "external_id": self.external_id, "clerk_user_id": self.clerk_user_id,
                **({"removed_by_sync": self.sync_id} if self.row_no is None else {})}


# ----------------------------------------------------------------------------- the table
def _has_table(journal: RunJournal, name: str = UNDO_TABLE) -> bool:
    return journal.connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone() is not None


def _ensure_table(journal: RunJournal) -> None:
    with journal.transaction() as conn:
        conn.execute(_SCHEMA)
        conn.execute(_REMOVED_SCHEMA)


def undone_filter(journal: RunJournal) -> Callable[[Sequence[int]], set[int]]:
    """A function row_nos -> those whose user an undo deleted (or found gone).
    Cheap when no undo ever ran (no table: always the empty set)."""
    if not _has_table(journal):
        return lambda row_nos: set()
    conn = journal.connection

    def undone(row_nos: Sequence[int]) -> set[int]:
        out: set[int] = set()
        ids = list(row_nos)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = (f"SELECT row_no FROM {UNDO_TABLE} WHERE outcome IN ('deleted', 'gone')"
                 f" AND row_no IN ({', '.join('?' * len(part))})")
            out.update(r[0] for r in conn.execute(q, part))
        return out

    return undone


def undone_count(journal: RunJournal) -> int:
    if not _has_table(journal):
        return 0
    return journal.connection.execute(
        f"SELECT COUNT(*) FROM {UNDO_TABLE} WHERE outcome IN ('deleted', 'gone')"
    ).fetchone()[0]


def _record(journal: RunJournal,
            items: Sequence[tuple[UndoTarget, str, str | None, str | None, bool]]) -> None:
    """Outcomes (target, deleted | gone | failed, code, message, signed in), one transaction."""
    if not items:
        return
    now = time.time()
    rows = [(t.row_no, t.clerk_user_id, outcome, code, msg, 1 if signed else 0, now)
            for t, outcome, code, msg, signed in items if t.row_no is not None]
    removed = [(t.clerk_user_id, t.sync_id, t.external_id, outcome, code, msg, 1 if signed else 0, now)
               for t, outcome, code, msg, signed in items if t.row_no is None]
    with journal.transaction() as conn:
        if rows:
            conn.executemany(
                f"INSERT INTO {UNDO_TABLE} (row_no, clerk_user_id, outcome, code, message, signed_in, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(row_no) DO UPDATE SET clerk_user_id = excluded.clerk_user_id,"
                " outcome = excluded.outcome, code = excluded.code, message = excluded.message,"
                " signed_in = MAX(signed_in, excluded.signed_in), at = excluded.at",
                rows,
            )
        if removed:
            conn.executemany(
                f"INSERT INTO {REMOVED_TABLE} (clerk_user_id, sync_id, external_id, outcome, code, message, signed_in,"
                " at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(clerk_user_id) DO UPDATE SET"
                " outcome = excluded.outcome, code = excluded.code, message = excluded.message,"
                " signed_in = MAX(signed_in, excluded.signed_in), at = excluded.at",
                removed,
            )


def _pages_to_undo(journal: RunJournal, page: int = LOOKUP_PAGE) -> Iterator[list[UndoTarget]]:
    """Pages of users to delete, constant memory: `created` rows whose user is not deleted
    yet (row order), then the users a sync removed from `rows` (removed_left)."""
    undone = undone_filter(journal)
    last: int | None = None
    while True:
        rows = journal.rows(status="created", limit=page, after_row=last)
        if not rows:
            break
        last = rows[-1].row_no
        gone = undone([r.row_no for r in rows])
        todo = [UndoTarget.of_row(r) for r in rows if r.row_no not in gone and r.clerk_user_id]
        if todo:
            yield todo
    removed = removed_left(journal)
    for i in range(0, len(removed), page):
        yield removed[i:i + page]


_REMOVED_CREATED = (
    # a user this run created that a sync took out of `rows` (kept, banned, or a ban/delete not done),
    # whose Clerk id no journal row holds again (a row that came back is undone as that row)
    "SELECT i.clerk_user_id, MAX(i.sync_id), i.external_id, i.email FROM sync_items i"
    " WHERE i.kind = 'removed' AND i.status = 'created' AND i.clerk_user_id IS NOT NULL"
    " AND i.state NOT IN ('deleted', 'gone')"
    " AND NOT EXISTS (SELECT 1 FROM rows r WHERE r.clerk_user_id = i.clerk_user_id)"
    " GROUP BY i.clerk_user_id ORDER BY MAX(i.sync_id), MIN(i.pos)"
)


def removed_created(journal: RunJournal) -> list[UndoTarget]:
    """Every user this run created that a sync removed from `rows` and did not delete."""
    if not _has_table(journal, "sync_items"):
        return []
    return [UndoTarget(None, uid, ext, email, False, sync_id)
            for uid, sync_id, ext, email in journal.connection.execute(_REMOVED_CREATED)]


def removed_left(journal: RunJournal) -> list[UndoTarget]:
    """removed_created less those an undo deleted (or found gone) already."""
    found = removed_created(journal)
    if not found or not _has_table(journal, REMOVED_TABLE):
        return found
    done = {uid for (uid,) in journal.connection.execute(
        f"SELECT clerk_user_id FROM {REMOVED_TABLE} WHERE outcome IN ('deleted', 'gone')")}
    return [t for t in found if t.clerk_user_id not in done]


def undo_left(journal: RunJournal) -> int:
    """Users an undo of this run would still read back and delete (if they carry its marker):
    created rows not undone, and the users a sync removed from `rows` (removed_left)."""
    return max(0, journal.counts()["created"] - undone_count(journal)) + len(removed_left(journal))


def removed_undone_count(journal: RunJournal) -> int:
    """Users a sync had removed from `rows` that an undo deleted (or found gone)."""
    if not _has_table(journal, REMOVED_TABLE):
        return 0
    return journal.connection.execute(
        f"SELECT COUNT(*) FROM {REMOVED_TABLE} WHERE outcome IN ('deleted', 'gone')").fetchone()[0]


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")




# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class UndoPreview:
    to_delete: int  # created rows whose user is not deleted yet
    present: int  # of those, users Clerk still has that carry this run's marker: what undo deletes
    gone: int  # already absent from Clerk
    signed_in: int  # present users with last_sign_in_at set: they used the account since the import
    signed_in_examples: list[dict[str, Any]]  # up to 10: row, external_id, clerk_user_id, email, last_sign_in_at
    already_undone: int  # deleted (or found gone) by an earlier undo of this run
    existed_kept: int  # rows whose user was there before: never deleted
    unsettled: int  # rows still `creating` (an import was interrupted): their users may exist
    requests: int
    instance: str | None
    key_masked: str
    base_url: str
    kept: int = 0  # users Clerk has without this run's marker: not created by this run, never deleted
    kept_examples: list[dict[str, Any]] = field(default_factory=list)  # up to 10: row, external_id, clerk_user_id, marker_run
    unmarked: int = 0  # of the kept, rows created before run markers existed (deleted only with include_unmarked)
    run_id: str | None = None
    removed: int = 0  # of to_delete, users a sync removed from the export (kept or banned there)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UndoProgress:
    total: int  # users to delete in this session
    deleted: int = 0
    gone: int = 0
    failed: int = 0
    in_flight: int = 0
    requests: int = 0
    rate_limited: int = 0
    pace: float = 0.0
    elapsed_s: float = 0.0
    state: str = "running"  # reading, running, stopping, done, stopped
    message: str = ""
    kept: int = 0  # read back without this run's marker: not deleted

    @property
    def done(self) -> int:
        return self.deleted + self.gone

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.deleted - self.gone - self.failed - self.kept)


@dataclass(frozen=True)
class UndoResult:
    to_delete: int  # users this session set out to delete
    deleted: int
    gone: int  # already absent (404 / not found by the read): counted as deleted
    failed: int
    remaining: int  # not tried (stopped)
    signed_in: int  # of the users deleted, how many had signed in
    already_undone: int  # done by earlier sessions
    existed_kept: int
    not_deleted: list[dict[str, Any]] = field(default_factory=list)  # row, external_id, clerk_user_id, code, message
    kept: int = 0  # journaled created, but Clerk's copy lacks this run's marker: kept (not created by this run)
    kept_rows: list[dict[str, Any]] = field(default_factory=list)  # up to LISTED_MAX: row, external_id, clerk_user_id, marker_run
    requests: int = 0
    rate_limited: int = 0
    duration_s: float = 0.0
    exit_code: int = 0  # 0 all deleted, 1 some not deleted, 2 stopped by 401, 130 stopped
    stop_reason: str | None = None  # None | "stopped" | "unauthorized"
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[UndoProgress], None]


# ----------------------------------------------------------------------------- the engine
class Undoer:
    """One undo session over a run journal. Use it from one event loop; `stop()`
    may be called from any thread."""

    def __init__(
        self,
        journal: RunJournal,
        settings: Any,
        *,
        rate: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: ProgressCallback | None = None,
        client: Any = None,
        timeout: float = 30.0,
        progress_interval_s: float = 0.1,
        include_unmarked: bool = False,
    ) -> None:
        self.journal = journal
        self.settings = settings
        self.include_unmarked = include_unmarked  # also rows a schema-1 journal created (no marker to check)
        self.rate = rate
        self.concurrency = max(1, int(concurrency))
        self.on_progress = on_progress
        self._client = client
        self.timeout = timeout
        self.progress_interval_s = progress_interval_s
        self._stop = threading.Event()
        self._progress = UndoProgress(total=0, state="idle")
        self._last_emit = 0.0

    # --------------------------------------------------------------- controls
    def stop(self) -> None:
        """Stop deleting: the deletes in flight finish, the rest stays for the next run."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def progress(self) -> UndoProgress:
        return self._progress

    # --------------------------------------------------------------- plumbing
    def _check(self) -> None:
        from console.migration.run import check_same_instance

        check_same_instance(self.journal, self.settings)

    def _make_client(self):
        from console.clerk.client import ClerkClient
        from console.clerk.limiter import RequestBudget

        if self._client is not None:
            return self._client, False
        key = self.settings.secret_key
        kind = self.journal.info.instance_kind or key.instance_kind
        budget = RequestBudget.for_instance(kind, rate=self.rate)
        return ClerkClient(key, self.settings.base_url, budget, timeout=self.timeout), True

    def _emit(self, progress: UndoProgress, *, force: bool = False) -> None:
        self._progress = progress
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_emit >= self.progress_interval_s:
            self._last_emit = now
            try:
                self.on_progress(progress)
            except Exception:  # a display bug never stops an undo
                pass

    def _ours(self, rec: UndoTarget, user: Any) -> bool:
        """Delete this user? Only when Clerk's copy carries this run's marker (or, asked for,
        a row created before markers existed)."""
        if carries_marker(user, self.journal.info.run_id):
            return True
        return bool(rec.unmarked and self.include_unmarked)

    @staticmethod
    def _kept_entry(rec: UndoTarget, user: Any) -> dict[str, Any]:
        from console.migration.marker import run_of

        return {**rec.entry(), "marker_run": run_of(user), "unmarked": rec.unmarked}

    # --------------------------------------------------------------- preview
    async def preview(self) -> UndoPreview:
        """Read back the users this run created and not yet deleted (100 per request):
        how many are still there and how many signed in since the import."""
        from console.migration.run import confirm_instance

        self._check()
        client, own = self._make_client()
        counts = self.journal.counts()
        reading = undo_left(self.journal)
        start_requests = client.budget.requests
        present = gone = signed = to_delete = kept = unmarked = removed = 0
        examples: list[dict[str, Any]] = []
        kept_examples: list[dict[str, Any]] = []
        try:
            await confirm_instance(self.journal, self.settings, client)
            # 1,000 rows per call: the client sends their 10 reads concurrently (paced by the budget)
            for page in _pages_to_undo(self.journal, page=1000):
                to_delete += len(page)
                removed += sum(1 for t in page if t.row_no is None)
                found = await client.users_by_ids([r.clerk_user_id for r in page])
                for rec in page:
                    user = found.get(rec.clerk_user_id)
                    if user is None:
                        gone += 1
                        continue
                    if not self._ours(rec, user):
                        kept += 1
                        unmarked += 1 if rec.unmarked else 0
                        if len(kept_examples) < 10:
                            kept_examples.append(self._kept_entry(rec, user))
                        continue
                    present += 1
                    if user.last_sign_in_at is not None:
                        signed += 1
                        if len(examples) < 10:
                            examples.append({
                                "row": rec.row_no, "external_id": rec.external_id, "clerk_user_id": rec.clerk_user_id,
                                "email": rec.email, "last_sign_in_at": _iso_ms(user.last_sign_in_at),
                            })
                self._emit(UndoProgress(total=reading, deleted=0, gone=0, state="reading",
                                        message=f"read {present + gone + kept} of {reading}"))
        finally:
            requests = client.budget.requests - start_requests
            if own:
                await client.aclose()
        info = self.journal.info
        return UndoPreview(
            to_delete=to_delete, present=present, gone=gone, signed_in=signed, signed_in_examples=examples,
            already_undone=undone_count(self.journal) + removed_undone_count(self.journal),
            existed_kept=counts["existed"], unsettled=counts["creating"],
            requests=requests, instance=info.instance_kind, key_masked=info.key_masked, base_url=info.base_url,
            kept=kept, kept_examples=kept_examples, unmarked=unmarked, run_id=info.run_id, removed=removed,
        )

    # --------------------------------------------------------------- run
    async def run(self) -> UndoResult:
        from console.clerk.errors import AuthenticationError, ClerkError, NotFound

        from console.migration.run import confirm_instance

        self._check()
        _ensure_table(self.journal)
        client, own = self._make_client()
        try:
            await confirm_instance(self.journal, self.settings, client)
        except BaseException:
            if own:
                await client.aclose()
            raise
        budget = client.budget
        base_requests, base_limited = budget.requests, budget.rate_limited
        counts = self.journal.counts()
        already = undone_count(self.journal) + removed_undone_count(self.journal)
        total = undo_left(self.journal)
        started = time.monotonic()
        state = {"deleted": 0, "gone": 0, "failed": 0, "signed": 0, "in_flight": 0, "kept": 0}
        not_deleted: list[dict[str, Any]] = []
        kept_rows: list[dict[str, Any]] = []
        stop_reason: list[str] = []
        auth_message: list[str] = []
        errors: list[BaseException] = []
        queue: asyncio.Queue[tuple[UndoTarget, bool] | None] = asyncio.Queue(maxsize=self.concurrency * 2 + LOOKUP_PAGE)
        self.journal.add_event("undo", f"undo started: {total} user(s) this run created to delete")

        def snapshot(st: str = "running", message: str = "") -> UndoProgress:
            return UndoProgress(
                total=total, deleted=state["deleted"], gone=state["gone"], failed=state["failed"], kept=state["kept"],
                in_flight=state["in_flight"], requests=budget.requests - base_requests,
                rate_limited=budget.rate_limited - base_limited, pace=budget.current_rate,
                elapsed_s=time.monotonic() - started,
                state=("stopping" if self._stop.is_set() and st == "running" else st), message=message,
            )

        def fail(rec: UndoTarget, code: str, message: str) -> None:
            state["failed"] += 1
            _record(self.journal, [(rec, "failed", code, message, False)])
            if len(not_deleted) < LISTED_MAX:
                not_deleted.append({**rec.entry(), "code": code, "message": message})

        async def worker() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if self._stop.is_set() or errors:
                    continue
                rec, signed_in = item
                state["in_flight"] += 1
                try:
                    try:
                        await client.delete_user(rec.clerk_user_id)
                    except NotFound:
                        state["gone"] += 1
                        _record(self.journal, [(rec, "gone", None, None, signed_in)])
                    except AuthenticationError as exc:
                        if not stop_reason:
                            stop_reason.append("unauthorized")
                            auth_message.append(first_line(exc))
                        self._stop.set()
                        fail(rec, exc.code or "unauthorized", first_line(exc))
                    except ClerkError as exc:  # any other answer: this row stays to do
                        fail(rec, exc.code or type(exc).__name__, first_line(exc))
                    else:
                        state["deleted"] += 1
                        if signed_in:
                            state["signed"] += 1
                        _record(self.journal, [(rec, "deleted", None, None, signed_in)])
                except Exception as exc:  # noqa: BLE001 - the journal cannot be written: stop
                    errors.append(exc)
                    self._stop.set()
                finally:
                    state["in_flight"] -= 1
                self._emit(snapshot())

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        error: BaseException | None = None
        try:
            for page in _pages_to_undo(self.journal):
                if self._stop.is_set():
                    break
                try:
                    found = await client.users_by_ids([r.clerk_user_id for r in page])
                except AuthenticationError as exc:
                    if not stop_reason:
                        stop_reason.append("unauthorized")
                        auth_message.append(first_line(exc))
                    self._stop.set()
                    break
                except ClerkError as exc:
                    # no delete without reading the user first (its run marker decides): these rows stay to do
                    for rec in page:
                        fail(rec, "read_failed", f"could not read the user back to check its run marker: {first_line(exc)}")
                    self._emit(snapshot(message=f"read failed ({first_line(exc)}): those users stay for the next run"))
                    continue
                gone_now = []
                for rec in page:
                    user = found.get(rec.clerk_user_id)
                    if user is None:
                        gone_now.append((rec, "gone", None, None, False))
                        continue
                    if not self._ours(rec, user):  # not created by this run (Clerk's copy says so): kept
                        state["kept"] += 1
                        if len(kept_rows) < LISTED_MAX:
                            kept_rows.append(self._kept_entry(rec, user))
                        continue
                    signed_in = user.last_sign_in_at is not None
                    await queue.put((rec, signed_in))
                if gone_now:
                    _record(self.journal, gone_now)
                    state["gone"] += len(gone_now)
                self._emit(snapshot())
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        except BaseException as exc:  # noqa: BLE001
            error = exc
            self._stop.set()
        finally:
            for task in workers:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            requests = budget.requests - base_requests
            limited = budget.rate_limited - base_limited
            if own:
                await client.aclose()
        if error is None and errors:
            error = errors[0]
        if error is not None:
            raise error
        duration = time.monotonic() - started
        done = state["deleted"] + state["gone"]
        remaining = max(0, total - done - state["failed"] - state["kept"])
        if stop_reason and stop_reason[0] == "unauthorized":
            exit_code, reason = 2, "unauthorized"
            message = (f"Clerk refused the key ({auth_message[0] if auth_message else '401'}): "
                       "nothing more was deleted; run undo again with a valid key for this instance")
        elif remaining and self._stop.is_set():
            exit_code, reason = 130, "stopped"
            message = f"stopped: {remaining} user(s) left to delete; run undo again to continue"
        elif state["failed"] or remaining:
            exit_code, reason = 1, None
            message = f"{state['failed'] + remaining} user(s) not deleted; run undo again to retry them"
        else:
            exit_code, reason, message = 0, None, None
        if state["kept"]:
            why = (f"{state['kept']} user(s) kept: the journal says this run created them, but their copy in Clerk "
                   "does not carry this run's marker (not created by this run, or the marker was removed)")
            message = f"{message}; {why}" if message else why
        self.journal.add_event(
            "undo", f"undo: {state['deleted']} deleted, {state['gone']} already gone, {state['failed']} failed,"
            f" {state['kept']} kept (no marker of this run), {remaining} left"
        )
        self.journal.set_meta("undo_last", {
            "at": time.time(), "deleted": state["deleted"], "gone": state["gone"], "failed": state["failed"],
            "remaining": remaining, "exit_code": exit_code,
        })
        final = snapshot("stopped" if reason else "done", message or "")
        self._emit(final, force=True)
        return UndoResult(
            to_delete=total, deleted=state["deleted"], gone=state["gone"], failed=state["failed"],
            remaining=remaining, signed_in=state["signed"], already_undone=already,
            existed_kept=counts["existed"], not_deleted=not_deleted, kept=state["kept"], kept_rows=kept_rows,
            requests=requests, rate_limited=limited,
            duration_s=round(duration, 3), exit_code=exit_code, stop_reason=reason, message=message,
        )


async def undo_preview(journal: RunJournal, settings: Any, **kw: Any) -> UndoPreview:
    """See Undoer.preview; keywords as Undoer (rate, client, timeout, on_progress)."""
    return await Undoer(journal, settings, **kw).preview()


async def undo_run(journal: RunJournal, settings: Any, **kw: Any) -> UndoResult:
    """See Undoer.run; keywords as Undoer (rate, concurrency, on_progress, client, timeout)."""
    return await Undoer(journal, settings, **kw).run()


__all__ = [
    "REMOVED_TABLE",
    "UNDO_TABLE",
    "UndoPreview",
    "UndoProgress",
    "UndoResult",
    "UndoTarget",
    "Undoer",
    "removed_created",
    "removed_left",
    "removed_undone_count",
    "undo_left",
    "undo_preview",
    "undo_run",
    "undone_count",
    "undone_filter",
]
