"""Sync: bring Clerk in line with a later export of the same app (issue 14).

    syncer = Syncer(journal, settings, "users-T1.json", removed="keep", on_progress=cb)
    result = await syncer.run()       # SyncResult(summary, exit_code, stop_reason, message)
    syncer.pause(); syncer.resume(); syncer.stop()      # thread-safe

One sync, in order, under the run's lock and one RequestBudget:

1. The plan (sync_plan.py, no request): every row of the new export matched to the
   journal by external id and classified by its fingerprint: new, changed,
   unchanged, refused, failed, removed, dropped.
2. The journal adopts the new export, in ONE transaction: its rows are renumbered
   to the new export's row numbers (external id is the identity), rows gone from it
   leave `rows` for `sync_items` (removed / dropped), new rows are inserted
   `pending` with their fingerprint, every matched row takes the new export's
   fingerprint, and the run's export becomes the new one (path, sha256, format). From
   then on status, retry, verify, export-ids and the next sync all read the newest
   export. The Clerk users that are behind their row (an update to do, or one that
   failed) are listed in `sync_stale` until their update is done. Other parts' tables keyed by row number
   (undo_rows, unmark_rows, verify_results) are renumbered in the same transaction.
   The plan itself is kept in `sync_items` (no names, no digests: external ids,
   emails, fingerprints, outcomes).
3. Removed users: kept (default: nothing sent), banned, or deleted (only those whose
   Clerk copy carries this run's marker), read back 100 per request first.
4. Changed users: read back (100 per request), compared field by field with what the
   new export asks (names, username, metadata, created_at, the email and its
   verification; the password through a keyed print of it), and only what differs
   is sent: `PATCH /v1/users/{id}`; a new email is added (`POST /v1/email_addresses`,
   primary, verified or not as the verification rule says), then the old one deleted.
   At most `user_limit` writes per user per `user_window_s` (Clerk: ~10 per 10 s).
   A lost answer is never resent blindly: the user is read again, and only what is
   still different is sent again. A row whose update is done leaves `sync_stale` and
   gets its new email and password print in the journal; a failed one stays behind,
   so verify reports it and the next sync sends it again.
5. New rows: created by the Importer itself (the same create path: `creating`
   before the send, lookups after lost answers, the run marker), on the same client.

Crash-safety: the adoption is one transaction; after it, `sync_runs.state` is
`applying` until the sync ends. Re-running the same command (same export) resumes:
changed rows still `todo`/`sending` are read back and finished, rows the importer
left `creating` are looked up. A different export is refused until the unfinished
sync is finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError
from console.migration.jobs import PANEL_INTERVAL_S, TUNING, BaseJob, JobResult, register_job
from console.migration.journal import JournalError, RunJournal
from console.migration.sync_journal import (  # the journal's side; re-exported: one import for the faces
    OWN_TABLES,
    SyncItem,
    SyncRecord,
    SyncRefused,
    adopt,
    check_accounts,
    ensure_tables,
    last_sync,
    run_accounts,
    sync_items,
    sync_summary,
    syncs,
    unfinished_sync,
)

REMOVED_POLICIES = ("keep", "ban", "delete")
USER_LIMIT = 5  # writes per user per window: half of Clerk's ~10 per 10 s, room for the live app
USER_WINDOW_S = 10.0
PAGE = 100  # users read back per request
DEFAULT_CONCURRENCY = 32
DEFAULT_MAX_ATTEMPTS = 6
LAST_ERRORS = 8
ITEM_STATES = ("todo", "sending", "done", "failed", "kept", "banned", "deleted", "gone", "n/a")


# ----------------------------------------------------------------------------- snapshots and results
@dataclass(frozen=True, slots=True)
class SyncProgress:
    phase: str = "starting"  # starting, planning, adopting, removing, updating, creating, done, stopped
    state: str = "running"  # running, paused, stopping, done, stopped
    sync_id: int | None = None
    planned_new: int = 0
    planned_changed: int = 0
    planned_removed: int = 0
    unchanged: int = 0
    refused: int = 0
    created: int = 0
    existed: int = 0
    updated: int = 0
    removed_done: int = 0  # removed rows settled (kept, banned, deleted, gone)
    failed: int = 0
    left: int = 0  # rows still to send (new, changed, removed with an action)
    requests: int = 0
    rate_limited: int = 0
    pace: float = 0.0
    paused_for_s: float = 0.0
    in_flight: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    rows_read: int = 0  # planning: export rows read
    bytes_read: int = 0
    size_bytes: int = 0
    last_errors: tuple[str, ...] = field(default=())
    stop_reason: str | None = None
    message: str = ""


@dataclass(frozen=True)
class SyncResult:
    summary: dict[str, Any]
    exit_code: int  # 0 done, 1 some failed, 2 refused / stopped by 401 or quota, 130 stopped
    stop_reason: str | None = None
    message: str | None = None


ProgressCallback = Callable[[SyncProgress], None]


# ----------------------------------------------------------------------------- per-user pace
class UserPace:
    """At most `limit` writes per user per `window_s` (sliding): Clerk limits updates of one
    user to about 10 per 10 s and answers 429 past it; staying under leaves room for the
    app's own updates of that user."""

    def __init__(self, limit: int = USER_LIMIT, window_s: float = USER_WINDOW_S) -> None:
        self.limit = max(1, int(limit))
        self.window_s = float(window_s)
        self._sent: dict[str, deque[float]] = {}
        self.waited_s = 0.0

    async def acquire(self, user_id: str) -> None:
        q = self._sent.setdefault(user_id, deque())
        while True:
            now = time.monotonic()
            while q and now - q[0] >= self.window_s:
                q.popleft()
            if len(q) < self.limit:
                q.append(now)
                return
            wait = q[0] + self.window_s - now
            self.waited_s += wait
            await asyncio.sleep(wait)

    def answered(self, user_id: str) -> None:
        """The write just acquired for this user got its answer (or none): its time becomes
        now, which is never before Clerk counted it (a write waits for the budget between
        `acquire` and the wire)."""
        q = self._sent.get(user_id)
        if q:
            q[-1] = max(q[-1], time.monotonic())

    def forget(self, user_id: str) -> None:
        self._sent.pop(user_id, None)


# ----------------------------------------------------------------------------- one changed row
@dataclass
class _Update:
    pos: int
    row_no: int
    external_id: str | None
    clerk_user_id: str
    old_email: str | None
    fp: bytes
    pw: bytes | None
    pw_state: str
    attempts: int
    status: str | None
    earlier_emails: tuple[str, ...] = ()  # addresses earlier syncs planned for this row (left behind by a failure)
    requests: int = 0
    fields: list[str] = field(default_factory=list)
    deferred: int = 0


BLIND = frozenset({"password", "legal_accepted_at"})  # PATCH fields Clerk's copy does not show back
_FIELD_OF_OP = {"email": "email", "delete_email": "email", "email_verified": "email_verified"}


class _Deferred(Exception):
    """The new email is held by another row of this sync that is moving away from it."""


class _Failed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _one_line(exc: BaseException) -> str:
    text = (getattr(exc, "long_message", None) or getattr(exc, "message", None) or str(exc) or
            type(exc).__name__).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# ----------------------------------------------------------------------------- the syncer
class Syncer:
    """One sync session over a run journal. See the module doc and docs/sync.md."""

    def __init__(
        self,
        journal: RunJournal,
        settings: Any,
        export: str | Path,
        *,
        accounts: str | Path | None = None,
        fmt: str | None = None,
        removed: str = "keep",
        confirmed: bool = False,
        plan: Any = None,
        rate: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float = 30.0,
        on_progress: ProgressCallback | None = None,
        client: Any = None,
        budget: Any = None,
        user_limit: int = USER_LIMIT,
        user_window_s: float = USER_WINDOW_S,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 10.0,
        progress_interval_s: float = 0.1,
        importer_tuning: dict[str, Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if removed not in REMOVED_POLICIES:
            raise ValueError(f"removed must be one of {', '.join(REMOVED_POLICIES)}")
        self.journal = journal
        self.settings = settings
        self.export = Path(export)
        self.accounts = str(Path(accounts).resolve()) if accounts else None
        self.fmt = fmt
        self.removed = removed
        self.confirmed = confirmed
        self.plan = plan
        self.rate = rate
        self.concurrency = max(1, int(concurrency))
        self.max_attempts = max(1, int(max_attempts))
        self.timeout = timeout
        self.on_progress = on_progress
        self._client = client
        self._own_client = client is None
        self._budget = budget if budget is not None else (client.budget if client is not None else None)
        self.pace = UserPace(user_limit, user_window_s)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.progress_interval_s = progress_interval_s
        self.importer_tuning = dict(importer_tuning or {})
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._want_stop = False
        self._want_pause = False
        self._importer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._progress = SyncProgress()
        self._reset()

    def _reset(self) -> None:
        self._phase = "starting"
        self._stopping = False
        self._stop_reason: str | None = None
        self._stop_message: str | None = None
        self._paused = False
        self._errors: deque[str] = deque(maxlen=LAST_ERRORS)
        self._started = time.monotonic()
        self._base_requests = 0
        self._base_rate_limited = 0
        self._in_flight = 0
        self._plan_read = (0, 0, 0)
        self._planned: dict[str, Any] = {}
        self._done = {"updated": 0, "removed": 0, "failed": 0, "created": 0, "existed": 0, "create_failed": 0}
        self._phase_requests: dict[str, int] = {}
        self._phase_seconds: dict[str, float] = {}
        self._sync_id: int | None = None
        self._deferred: list[tuple[_Update, Any]] = []
        self._journal_error: JournalError | None = None
        self._unpaused: asyncio.Event | None = None  # made on the session's loop (run)
        self._create_progress: Any = None  # the importer's latest Progress while it creates the new rows
        self._create_base = (0, 0, 0)  # the journal's created, existed, failed before those creates
        self._to_create: int | None = None  # rows to create, known once the plan is adopted

    # ------------------------------------------------------------ controls (any thread)
    def stop(self) -> None:
        with self._lock:
            self._want_stop = True
            importer = self._importer
        if importer is not None:
            importer.stop()
        self._on_loop(self._apply)

    def pause(self) -> None:
        with self._lock:
            self._want_pause = True
            importer = self._importer
        if importer is not None:
            importer.pause()
        self._on_loop(self._apply)

    def resume(self) -> None:
        with self._lock:
            self._want_pause = False
            importer = self._importer
        if importer is not None:
            importer.resume()
        self._on_loop(self._apply)

    @property
    def progress(self) -> SyncProgress:
        return self._progress

    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn)
                return
            except RuntimeError:
                return
        fn()

    def _apply(self) -> None:
        with self._lock:
            stop, pause = self._want_stop, self._want_pause
        if stop and not self._stopping:
            self._begin_stop("stopped", "stopped by the operator: run the same command to resume")
        self._paused = pause
        event = self._unpaused
        if event is not None:
            if pause:
                event.clear()
            else:
                event.set()

    def _begin_stop(self, reason: str, message: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._stop_reason = reason
        self._stop_message = message
        event = self._unpaused
        if event is not None:
            event.set()
        with self._lock:
            importer = self._importer
        if importer is not None:
            importer.stop()

    async def _hold(self) -> bool:
        """Wait while paused; False when stopping."""
        if self._paused and not self._stopping and self._unpaused is not None:
            await self._unpaused.wait()
        return not self._stopping

    # ------------------------------------------------------------ entry point
    async def run(self) -> SyncResult:
        """One session: plan + adopt (or resume an unfinished sync of the same export), then
        removals, updates, creates. Raises SyncRefused / RunRefused / JournalError when it
        cannot start; once the journal adopted the plan, problems end the session with a
        result (exit 2) and the next run resumes."""
        from console.migration.run import run_lock

        self._loop = asyncio.get_running_loop()
        self._reset()
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._row_slots = asyncio.Semaphore(self.concurrency)
        self._apply()
        with run_lock(self.journal.run_dir, "sync", for_job=True):
            return await self._run()

    async def _run(self) -> SyncResult:
        from console.migration.run import check_key_guards, check_same_instance, file_sha256

        check_key_guards(self.settings, confirmed_production=self.confirmed)
        check_same_instance(self.journal, self.settings)
        ensure_tables(self.journal)
        self._make_client()
        ticker = asyncio.create_task(self._tick())
        try:
            current = unfinished_sync(self.journal)
            if current is not None:
                sha = await asyncio.to_thread(file_sha256, self.export)
                if sha != current.export_sha256:
                    raise SyncRefused(
                        f"{self.journal.run_dir}: sync {current.id} of {current.export_path} is not finished: run "
                        f"`clerk-migrate sync --run {self.journal.run_dir} {current.export_path}` again to finish it "
                        "before a sync of another export", "sync_unfinished")
                if current.removed != self.removed:
                    raise SyncRefused(
                        f"{self.journal.run_dir}: sync {current.id} was started with --removed {current.removed}: "
                        "resume it with the same choice", "sync_unfinished")
                self._sync_id = current.id
                self._planned = current.planned
                self.accounts = current.accounts_path  # the users are read as the sync planned them
                await self._confirm_instance()
                self.journal.add_event("sync", f"sync {current.id} resumed")
            else:
                check_accounts(self.journal, self.accounts)
                await self._plan_and_adopt()
            if self._stopping:
                return self._result(self._summary())
            return await self._apply_plan()
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            if self._own_client and self._client is not None:
                await self._client.aclose()
                self._client = None
            self._publish()

    def _make_client(self) -> None:
        """The session's one client and RequestBudget (no request yet)."""
        from console.clerk.client import ClerkClient
        from console.clerk.limiter import RequestBudget

        if self._client is None:
            key = self.settings.secret_key
            budget = self._budget or RequestBudget.for_instance(self.journal.info.instance_kind or key.instance_kind,
                                                                rate=self.rate)
            self._client = ClerkClient(key, self.settings.base_url, budget, timeout=self.timeout)
        self._budget = self._client.budget
        self._base_requests = self._budget.requests
        self._base_rate_limited = self._budget.rate_limited

    async def _confirm_instance(self) -> None:
        """One GET /v1/instance before anything is written (the engine's rule: the instance
        itself, not the key, says it is the run's; a rotated key of it is fine)."""
        from console.migration.run import confirm_instance

        await confirm_instance(self.journal, self.settings, self._client)

    async def _plan_and_adopt(self) -> None:
        from console.migration.sync_plan import PlanStopped, SyncPlanError, plan_sync, remove_stale_scratch
        from console.migration.undo import undone_count

        journal = self.journal
        if undone_count(journal):
            raise SyncRefused(f"{journal.run_dir}: an undo deleted users of this run: a sync needs them in Clerk; "
                              "start a new run folder", "undone")
        counts = journal.counts()
        busy = counts["pending"] + counts["creating"]
        if busy:
            raise SyncRefused(
                f"{journal.run_dir}: the import is not finished ({busy} row(s) pending or in flight): run "
                "`clerk-migrate import` (or `retry`) again to finish it, then sync", "import_unfinished")
        plan = self.plan
        own_plan = plan is None
        if own_plan:
            self._phase = "planning"
            remove_stale_scratch(journal.run_dir)
            stop = threading.Event()

            def on_read(rows: int, read: int, size: int) -> None:
                self._plan_read = (rows, read, size)
                if self._stopping:
                    stop.set()

            try:
                plan = await asyncio.to_thread(plan_sync, journal, self.export, accounts=self.accounts, fmt=self.fmt,
                                               on_progress=on_read, stop=stop)
            except PlanStopped:
                return
            except SyncPlanError as exc:
                raise SyncRefused(exc.message, exc.code) from None
        try:
            self._planned = plan.summary()
            if plan.busy:  # pragma: no cover - refused above
                raise SyncRefused(f"{journal.run_dir}: {plan.busy} row(s) are still being imported", "import_unfinished")
            if self.removed in ("ban", "delete") and plan.counts["removed"] and not self.confirmed:
                raise SyncRefused(f"{plan.counts['removed']} user(s) are gone from the new export: --removed "
                                  f"{self.removed} needs --yes", "removed_unconfirmed")
            if self._stopping:
                return
            active = plan.counts["new"] + plan.counts["changed"] + (plan.counts["removed"] if self.removed != "keep"
                                                                    else 0)
            from console.migration.run import key_is_the_runs

            if active or not key_is_the_runs(journal, self.settings):
                await self._confirm_instance()  # before the journal changes: refused for another instance
            self._phase = "adopting"
            self._sync_id = await asyncio.to_thread(adopt, journal, plan, removed=self.removed)
        finally:
            if own_plan:
                plan.close()

    # ------------------------------------------------------------ applying
    async def _apply_plan(self) -> SyncResult:
        client = self._client
        self._started = time.monotonic()
        session = self.journal.start_session("sync")
        counts = self.journal.counts()
        self._to_create = counts["pending"] + counts["creating"]
        creates_from: int | None = None  # the importer records the creates' requests in its own session
        try:
            for phase, name, step in (("removing", "removals", self._removals), ("updating", "updates", self._updates),
                                      ("creating", "creates", self._creates)):
                if self._stopping:
                    break
                self._phase = phase
                mark, began = self._budget.requests, time.monotonic()
                if name == "creates":
                    creates_from = mark
                await step(client)
                self._phase_requests[name] = self._budget.requests - mark
                self._phase_seconds[name] = round(time.monotonic() - began, 3)
        finally:
            own = (self._budget.requests if creates_from is None else creates_from) - self._base_requests
            try:
                self.journal.update_session(session, end=True, outcome=self._stop_reason or "done", requests=own,
                                            rate_limited=self._budget.rate_limited - self._base_rate_limited,
                                            failed=self._done["failed"])
            except JournalError as exc:
                self._journal_failed(exc)
        return self._finish()

    # ------------------------------------------------------------ removals
    async def _removals(self, client: Any) -> None:
        from console.clerk.errors import AuthenticationError, ClerkAPIError, ClerkError, NotFound
        from console.migration.marker import carries_marker

        if self.removed == "keep":
            return
        run_id = self.journal.info.run_id
        last = None
        while not self._stopping:
            page = sync_items(self.journal, self._sync_id, kind="removed", state=("todo", "sending"), limit=PAGE,
                              after=last)
            if not page:
                return
            last = page[-1].pos
            if not await self._hold():
                return
            try:
                found = await client.users_by_ids([i.clerk_user_id for i in page if i.clerk_user_id])
            except AuthenticationError as exc:
                self._begin_stop("unauthorized", f"Clerk refused the key ({exc.code}): run the same command to resume")
                return
            except ClerkError as exc:
                self._begin_stop("lookup_failed", f"cannot read the removed users back: {_one_line(exc)}")
                return
            sem = asyncio.Semaphore(self.concurrency)

            async def one(item: SyncItem) -> None:
                async with sem:
                    if self._stopping:
                        return
                    user = found.get(item.clerk_user_id or "")
                    if user is None:
                        self._settle_removed(item, "gone", None, "not in Clerk any more")
                        return
                    if self.removed == "delete" and not carries_marker(user, run_id):
                        why = ("it was in Clerk before the run" if item.status == "existed" else
                               "its copy in Clerk does not carry this run's marker")
                        self._settle_removed(item, "kept", "not_marked", f"not deleted: {why}")
                        return
                    self._in_flight += 1
                    try:
                        await self.pace.acquire(user.id)
                        try:
                            if self.removed == "delete":
                                await client.delete_user(user.id)
                            else:
                                await client.ban_user(user.id)
                        finally:
                            self.pace.answered(user.id)
                        self._settle_removed(item, "deleted" if self.removed == "delete" else "banned", None, None)
                    except NotFound:
                        self._settle_removed(item, "gone", None, "not in Clerk any more")
                    except AuthenticationError as exc:
                        self._begin_stop("unauthorized", f"Clerk refused the key ({exc.code}): run the same command "
                                         "to resume")
                    except (ClerkAPIError, ClerkError) as exc:
                        self._settle_removed(item, "failed", exc.code or "clerk_error", _one_line(exc))
                    finally:
                        self._in_flight -= 1
                        self.pace.forget(user.id)

            await asyncio.gather(*(one(i) for i in page))

    def _settle_removed(self, item: SyncItem, state: str, code: str | None, message: str | None) -> None:
        try:
            with self.journal.transaction() as c:
                c.execute("UPDATE sync_items SET state = ?, code = ?, message = ?, attempts = attempts + 1,"
                          " updated_at = ? WHERE sync_id = ? AND pos = ?",
                          (state, code, message, time.time(), item.sync_id, item.pos))
        except JournalError as exc:
            self._journal_failed(exc)
            return
        if state == "failed":
            self._done["failed"] += 1
            self._note(f"row {item.old_row} ({item.external_id}) removed: {code}: {message}")
        else:
            self._done["removed"] += 1

    # ------------------------------------------------------------ updates
    async def _updates(self, client: Any) -> None:
        from console.migration.feed import ExportFeed, FeedChanged, RunSource, Wanted
        from console.migration.fingerprint import run_key

        # the run's export (the new one since the adoption) as the feed reads it; each row is
        # compared with the fingerprint the plan gave its item (sync_items.fp)
        source = dataclasses.replace(RunSource.of(self.journal, fingerprints=False), key=run_key(self.journal.run_dir))
        feed: ExportFeed | None = None
        running: set[asyncio.Task[None]] = set()
        last = None
        try:
            while not self._stopping:
                while len(running) >= self.concurrency and not self._stopping:
                    _done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for t in _done:
                        if t.exception() is not None:
                            raise t.exception()  # type: ignore[misc]
                if self._stopping or not await self._hold():
                    break
                page = self._update_page(last)
                if not page:
                    break
                last = page[-1].pos
                fixes = self._fixes([u.row_no for u in page])
                wanted = [Wanted(u.row_no, u.external_id, u.fp or None, fixes.get(u.row_no)) for u in page]
                try:
                    if feed is None:
                        feed = await asyncio.to_thread(ExportFeed, source, rewind=True)
                    rows = {r.rec.row_no: r for r in await asyncio.to_thread(feed.take, wanted, marker=False)}
                except FeedChanged as exc:
                    self._begin_stop("export_changed", f"{exc.message}: it changed under the sync")
                    break
                try:
                    self._mark_sending(page)
                except JournalError as exc:
                    self._journal_failed(exc)
                    break
                found = await self._read(client, [u.clerk_user_id for u in page])
                if found is None:
                    break
                for upd in page:
                    task = asyncio.create_task(self._update_one(upd, rows[upd.row_no], found.get(upd.clerk_user_id),
                                                                client))
                    running.add(task)
            if running:
                await asyncio.gather(*running)
                running = set()
            # rows whose new email another row of this sync held: once more, now that those moved
            deferred, self._deferred = self._deferred, []
            if deferred and not self._stopping:
                found = await self._read(client, [u.clerk_user_id for u, _ in deferred])
                if found is not None:
                    await asyncio.gather(*(self._update_one(u, row, found.get(u.clerk_user_id), client,
                                                            last_try=True) for u, row in deferred))
        finally:
            for t in running:
                t.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            if feed is not None:
                await asyncio.to_thread(feed.close)

    def _update_page(self, after: int | None) -> list[_Update]:
        conn = self.journal.connection
        cur = conn.execute(
            "SELECT pos, row_no, external_id, clerk_user_id, old_email, fp, pw, pw_state, attempts, status FROM sync_items"
            " WHERE sync_id = ? AND kind = 'changed' AND state IN ('todo', 'sending') AND pos > ? ORDER BY pos LIMIT ?",
            (self._sync_id, -1 if after is None else after, PAGE))
        page = [_Update(r[0], r[1], r[2], r[3], r[4], bytes(r[5]) if r[5] is not None else b"",
                        bytes(r[6]) if r[6] is not None else None, r[7] or "unknown", r[8], r[9])
                for r in cur.fetchall()]
        exts = [u.external_id for u in page if u.external_id]
        earlier: dict[str, set[str]] = {}
        for part in range(0, len(exts), 500):
            sub = exts[part:part + 500]
            for ext, email, old in conn.execute(
                f"SELECT external_id, email, old_email FROM sync_items WHERE sync_id < ? AND kind = 'changed'"
                f" AND external_id IN ({','.join('?' * len(sub))})", (self._sync_id, *sub)):
                for address in (email, old):
                    if address:
                        earlier.setdefault(ext, set()).add(address.lower())
        for u in page:
            u.earlier_emails = tuple(sorted(earlier.get(u.external_id or "", ())))
        return page

    def _fixes(self, row_nos: Sequence[int]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        ids = list(row_nos)
        for part in range(0, len(ids), 500):
            sub = ids[part:part + 500]
            for row_no, fix in self.journal.connection.execute(
                f"SELECT row_no, fix_json FROM rows WHERE fix_json IS NOT NULL AND row_no IN ({','.join('?' * len(sub))})",
                sub):
                out[row_no] = json.loads(fix)
        return out

    def _mark_sending(self, page: Sequence[_Update]) -> None:
        now = time.time()
        with self.journal.transaction() as c:
            c.executemany("UPDATE sync_items SET state = 'sending', attempts = attempts + 1, updated_at = ?"
                          " WHERE sync_id = ? AND pos = ?", [(now, self._sync_id, u.pos) for u in page])
        for u in page:
            u.attempts += 1

    async def _read(self, client: Any, user_ids: Sequence[str]) -> dict[str, Any] | None:
        from console.clerk.errors import AuthenticationError, ClerkError

        try:
            return await client.users_by_ids(list(user_ids))
        except AuthenticationError as exc:
            self._begin_stop("unauthorized", f"Clerk refused the key ({exc.code}): run the same command to resume")
        except ClerkError as exc:
            self._begin_stop("lookup_failed", f"cannot read the changed users back: {_one_line(exc)}; run the same "
                             "command to resume")
        return None

    async def _update_one(self, upd: _Update, row: Any, user: Any, client: Any, *, last_try: bool = False) -> None:
        async with self._row_slots:  # at most `concurrency` rows in flight
            await self._update_row(upd, row, user, client, last_try)

    async def _update_row(self, upd: _Update, row: Any, user: Any, client: Any, last_try: bool) -> None:
        """Bring Clerk's copy `user` to what the feed's `row` (the new export's row with its
        fix, the run's policies and the instance's rules; no run marker) asks."""
        from console.clerk.errors import (
            AuthenticationError,
            ClerkAPIError,
            ClerkError,
            IdentifierExists,
            NotFound,
            UnknownOutcome,
        )

        if self._stopping:
            return  # stays `sending`: the next session reads it again
        if row.problem is not None or row.body is None:  # no valid body, or the instance's rules refuse it
            code, message = row.problem or ("payload_invalid", "no body")
            self._settle_update(upd, "failed", code, message)
            return
        body = row.body
        landed_password = False
        sends = 0
        self._in_flight += 1
        try:
            while True:
                if user is None:
                    raise _Failed("user_missing", f"Clerk user {upd.clerk_user_id} is not there any more (deleted in "
                                  "Clerk?): nothing sent; the row keeps its old fingerprint")
                ops, patch_fields = self._ops(upd, body, user, landed_password)
                if not upd.fields:  # what differed from Clerk's copy when the row was first read
                    for name, _call in ops:
                        for f in (patch_fields if name == "patch" else (_FIELD_OF_OP[name],)):
                            if f not in upd.fields:
                                upd.fields.append(f)
                if not ops:
                    self._settle_update(upd, "done", None, None)
                    return
                if sends >= self.max_attempts:
                    raise _Failed("unknown_outcome", f"no answer from Clerk after {sends} write(s); Clerk's copy "
                                  "still differs: run the same command (or the next sync) to try again")
                current = ""
                try:
                    for name, call in ops:
                        if self._stopping:
                            return  # stays `sending`: the next session reads it again
                        current = name
                        await self.pace.acquire(user.id)
                        sends += 1
                        upd.requests += 1
                        try:
                            await call()
                        finally:
                            self.pace.answered(user.id)
                        if name == "patch":
                            landed_password = landed_password or bool(BLIND & set(patch_fields))
                    # every write answered: what Clerk holds now is the export's
                    self._settle_update(upd, "done", None, None)
                    return
                except UnknownOutcome as exc:
                    # never resent blindly: read the user again, send only what still differs
                    self._note(f"row {upd.row_no}: {exc.code}: no answer to {current}, reading the user again")
                    self._mark_uncertain(upd)
                    await asyncio.sleep(self._backoff(sends))
                    user = await self._get(client, upd.clerk_user_id)
                    upd.requests += 1
                    if user is not None and current == "patch" and BLIND & set(patch_fields):
                        # a PATCH is all or nothing: its other fields in Clerk now -> its password (and
                        # legal_accepted_at, which cannot be read back either) went too
                        _again, still = self._ops(upd, body, user, True)
                        visible = set(patch_fields) - BLIND
                        landed_password = bool(visible) and not (set(still) & visible)
                except IdentifierExists as exc:
                    if exc.param_name in (None, "email_address") and (await self._email_holder(upd, body, user, client,
                                                                                                 last_try)):
                        user = await self._get(client, upd.clerk_user_id)
                        upd.requests += 1
                        continue
                    raise _Failed(exc.code or "form_identifier_exists", _one_line(exc)) from None
        except _Deferred:
            self._deferred.append((upd, row))
        except _Failed as exc:
            self._settle_update(upd, "failed", exc.code, exc.message)
        except NotFound:
            self._settle_update(upd, "failed", "user_missing", f"Clerk user {upd.clerk_user_id} is not there any "
                                "more (deleted in Clerk?)")
        except AuthenticationError as exc:
            self._begin_stop("unauthorized", f"Clerk refused the key ({exc.code}): run the same command to resume")
        except ClerkAPIError as exc:
            self._settle_update(upd, "failed", exc.code or "clerk_error", _one_line(exc))
        except ClerkError as exc:
            self._settle_update(upd, "failed", exc.code or "clerk_error", _one_line(exc))
        finally:
            self._in_flight -= 1

    async def _get(self, client: Any, user_id: str) -> Any:
        from console.clerk.errors import NotFound

        try:
            return await client.get_user(user_id)
        except NotFound:
            return None

    async def _email_holder(self, upd: _Update, body: dict[str, Any], user: Any, client: Any, last_try: bool) -> bool:
        """The new address is taken: True to go on (it is this user's after all); raises
        _Deferred when another row of this sync holds it and moves away from it (tried again
        after the others), _Failed naming the holder otherwise."""
        emails = body.get("email_address") or []
        address = emails[0] if emails else ""
        holders = await client.users_by_emails([address])
        upd.requests += 1
        holder = holders.get(address.lower())
        if holder is None or holder.id == user.id:
            return True  # freed meanwhile, or ours (an earlier answer was lost): read again
        moving = self.journal.connection.execute(
            "SELECT 1 FROM sync_items WHERE sync_id = ? AND kind = 'changed' AND clerk_user_id = ?"
            " AND state IN ('todo', 'sending') AND lower(COALESCE(email, '')) != ?",
            (self._sync_id, holder.id, address.lower())).fetchone()
        if moving and not last_try:
            raise _Deferred()
        raise _Failed("email_taken", f"the email {address} belongs to Clerk user {holder.id} (external_id "
                      f"{holder.external_id!r}), not to this row: nothing changed for it")

    def _ops(self, upd: _Update, body: dict[str, Any], user: Any, landed_password: bool
             ) -> tuple[list[tuple[str, Callable[[], Any]]], list[str]]:
        """The writes that make Clerk's copy `user` what `body` asks, in order: PATCH the
        user, add / verify / make primary the new email, delete the old one."""
        from console.migration.marker import MARKER_KEY
        from console.migration.sync_plan import held, same, wanted

        client = self._client
        want = wanted(body)
        have = held(user)
        patch: dict[str, Any] = {}
        names: list[str] = []
        for name in ("first_name", "last_name", "username"):
            if not same(name, want[name], have[name]):
                patch[name] = want[name]
                names.append(name)
        for name in ("public_metadata", "unsafe_metadata"):
            if not same(name, want[name], have[name]):
                patch[name] = want[name]
                names.append(name)
        if not same("private_metadata", want["private_metadata"], have["private_metadata"]):
            private = dict(want["private_metadata"])
            marker = (user.private_metadata or {}).get(MARKER_KEY)
            if marker is not None:
                private[MARKER_KEY] = marker  # the run's marker stays (PATCH replaces the object whole)
            patch["private_metadata"] = private
            names.append("private_metadata")
        if want["created_at"] and not same("created_at", want["created_at"], have["created_at"]):
            patch["created_at"] = want["created_at"]
            names.append("created_at")
        # legal_accepted_at cannot be read back (the client's User has no such field): sent with
        # every changed row that maps one, once
        if not landed_password and body.get("legal_accepted_at"):
            patch["legal_accepted_at"] = body["legal_accepted_at"]
            names.append("legal_accepted_at")
        # a digest cannot be read back: sent when its print changed, when no print says (the run's
        # first sync), or when Clerk's user has no password at all
        if not landed_password and (upd.pw_state != "unchanged" or not user.password_enabled):
            if body.get("password_digest") and body.get("password_hasher"):
                patch["password_digest"] = body["password_digest"]
                patch["password_hasher"] = body["password_hasher"]
                names.append("password")
            elif body.get("password"):
                patch["password"] = body["password"]
                patch["skip_password_checks"] = True
                names.append("password")
        ops: list[tuple[str, Callable[[], Any]]] = []
        if patch:
            ops.append(("patch", lambda p=dict(patch): client.patch_user(user.id, p)))
        email = want["email"]
        if email:
            verified = bool(want["email_verified"])
            target = next((a for a in user.email_addresses if a.email_address.lower() == email.lower()), None)
            if target is None:
                ops.append(("email", lambda: client.create_email_address(user.id, email, verified=verified,
                                                                          primary=True)))
            else:
                is_verified = target.verification is not None and target.verification.status == "verified"
                changes: dict[str, bool] = {}
                if is_verified != verified:
                    changes["verified"] = verified
                if user.primary_email_address_id != target.id:
                    changes["primary"] = True
                if changes:
                    name = "email" if "primary" in changes else "email_verified"
                    ops.append((name, lambda t=target.id, ch=changes: client.update_email_address(t, **ch)))
            old = {e.lower() for e in ((upd.old_email,) if upd.old_email else ())} | set(upd.earlier_emails)
            for a in user.email_addresses:
                low = a.email_address.lower()
                if low != email.lower() and low in old:
                    ops.append(("delete_email", lambda i=a.id: client.delete_email_address(i)))
        return ops, names

    def _mark_uncertain(self, upd: _Update) -> None:
        try:
            with self.journal.transaction() as c:
                c.execute("UPDATE sync_items SET uncertain = 1, updated_at = ? WHERE sync_id = ? AND pos = ?",
                          (time.time(), self._sync_id, upd.pos))
        except JournalError as exc:
            self._journal_failed(exc)

    def _settle_update(self, upd: _Update, state: str, code: str | None, message: str | None) -> None:
        """One transaction: the item's outcome and, when done, the journal row's new
        fingerprint and email and the row's password print."""
        now = time.time()
        fields = ",".join(upd.fields) or None
        try:
            with self.journal.transaction() as c:
                c.execute("UPDATE sync_items SET state = ?, code = ?, message = ?, fields = COALESCE(?, fields),"
                          " requests = requests + ?, updated_at = ? WHERE sync_id = ? AND pos = ?",
                          (state, code, message, fields, upd.requests, now, self._sync_id, upd.pos))
                if state == "done":
                    c.execute(
                        "UPDATE rows SET fingerprint = ?, export_email = (SELECT email FROM sync_items WHERE sync_id = ?"
                        " AND pos = ?), email = CASE WHEN json_extract(fix_json, '$.email') IS NOT NULL THEN email"
                        " ELSE (SELECT email FROM sync_items WHERE sync_id = ? AND pos = ?) END, updated_at = ?"
                        " WHERE row_no = ?",
                        (upd.fp, self._sync_id, upd.pos, self._sync_id, upd.pos, now, upd.row_no))
                    if upd.external_id:
                        c.execute("DELETE FROM sync_stale WHERE external_id = ?", (upd.external_id,))
                    if upd.external_id and upd.pw is not None:
                        c.execute("INSERT INTO sync_prints (external_id, fp, pw) VALUES (?, ?, ?) ON CONFLICT(external_id)"
                                  " DO UPDATE SET fp = excluded.fp, pw = excluded.pw", (upd.external_id, upd.fp, upd.pw))
        except JournalError as exc:
            self._journal_failed(exc)
            return
        if state == "done":
            self._done["updated"] += 1
        else:
            self._done["failed"] += 1
            self._note(f"row {upd.row_no} ({upd.external_id}): {code}: {message}")
        upd.requests = 0

    def _backoff(self, sends: int) -> float:
        delay = min(self.backoff_cap_s, self.backoff_base_s * (2 ** max(0, sends - 1)))
        return delay * self._rng.uniform(0.5, 1.0)

    # ------------------------------------------------------------ creates
    async def _creates(self, client: Any) -> None:
        from console.migration.importer import Importer

        counts = self.journal.counts()
        if not (counts["pending"] or counts["creating"]):
            return
        # the importer's snapshots count the whole journal: this session's creates are the difference
        self._create_base = (counts["created"], counts["existed"], counts["failed"])
        tuning = {k: v for k, v in self.importer_tuning.items() if k in TUNING}
        importer = Importer(self.journal, self.settings, client=client, kind="sync-create", rate=self.rate,
                            concurrency=max(self.concurrency, 8), max_attempts=self.max_attempts,
                            timeout=self.timeout, confirmed_production=True, on_progress=self._on_create, **tuning)
        with self._lock:
            self._importer = importer
            if self._want_pause:
                importer.pause()
            if self._want_stop:
                importer.stop()
        try:
            result = await importer.run()
        except MigrationError as exc:  # a guard of the importer (Development cap, ...)
            self._begin_stop(getattr(exc, "code", "") or "refused", exc.message)
            return
        finally:
            with self._lock:
                self._importer = None
        if result.stop_reason is not None and not self._stopping:
            self._begin_stop(result.stop_reason, result.message or result.stop_reason)

    def _on_create(self, p: Any) -> None:
        self._create_progress = p

    # ------------------------------------------------------------ the end
    def _finish(self) -> SyncResult:
        summary = self._summary()
        done = self._stop_reason is None and summary["left"] == 0
        try:
            with self.journal.transaction() as c:
                c.execute("UPDATE sync_items SET state = CASE r.status WHEN 'created' THEN 'done' WHEN 'existed' THEN"
                          " 'done' WHEN 'failed' THEN 'failed' ELSE sync_items.state END,"
                          " code = CASE WHEN r.status = 'failed' THEN r.error_code ELSE sync_items.code END,"
                          " message = CASE WHEN r.status = 'failed' THEN r.error_message ELSE sync_items.message END,"
                          " clerk_user_id = COALESCE(r.clerk_user_id, sync_items.clerk_user_id)"
                          " FROM rows r WHERE sync_items.sync_id = ? AND sync_items.kind = 'new'"
                          " AND sync_items.state = 'todo' AND r.row_no = sync_items.row_no", (self._sync_id,))
                c.execute("UPDATE sync_runs SET requests = requests + ?, rate_limited = rate_limited + ?,"
                          " summary_json = ?, state = ?, ended_at = ? WHERE id = ?",
                          (summary["session_requests"], summary["session_rate_limited"], json.dumps(summary),
                           "done" if done else "applying", time.time(), self._sync_id))
            summary = self._summary()
            self.journal.set_meta("sync_last", {k: summary[k] for k in (
                "sync", "export", "created", "updated", "unchanged", "removed", "failed", "requests", "left")})
            self.journal.add_event("sync", f"sync {self._sync_id} {'done' if done else 'stopped'}: "
                                   f"{summary['created']} created, {summary['updated']} updated, "
                                   f"{summary['removed']} removed ({self.removed}), {summary['failed']} failed, "
                                   f"{summary['requests']} requests")
        except JournalError as exc:
            self._journal_failed(exc)
        self._phase = "done" if done else "stopped"
        return self._result(summary)

    def _result(self, summary: dict[str, Any]) -> SyncResult:
        reason = self._stop_reason
        if reason == "stopped":
            code = 130
        elif reason is not None:
            code = 2
        elif summary.get("failed") or summary.get("left"):
            code = 1
        else:
            code = 0
        return SyncResult(summary=summary, exit_code=code, stop_reason=reason, message=self._stop_message)

    def _summary(self) -> dict[str, Any]:
        budget = self._budget
        session_requests = (budget.requests - self._base_requests) if budget is not None else 0
        session_rate_limited = (budget.rate_limited - self._base_rate_limited) if budget is not None else 0
        out = sync_summary(self.journal, self._sync_id) if self._sync_id is not None else {
            "run": str(self.journal.run_dir), "sync": None, "export": str(self.export), "dry_run": False,
            "created": 0, "existed": 0, "updated": 0, "unchanged": self._planned.get("unchanged", 0), "removed": 0,
            "kept": 0, "banned": 0, "deleted": 0, "gone": 0, "failed": 0, "refused": 0, "left": 0, "requests": 0,
            "rate_limited": 0, "planned": self._planned, "failures": []}
        out["session_requests"] = session_requests
        out["session_rate_limited"] = session_rate_limited
        out["requests_by_phase"] = dict(self._phase_requests)
        out["seconds_by_phase"] = dict(self._phase_seconds)
        out["duration_s"] = round(time.monotonic() - self._started, 2)
        if self._stop_reason:
            out["stop_reason"] = self._stop_reason
        return out

    # ------------------------------------------------------------ progress
    async def _tick(self) -> None:
        while True:
            self._publish()
            await asyncio.sleep(self.progress_interval_s)

    def _publish(self) -> None:
        budget = self._budget
        planned = self._planned or {}
        created = self._create_progress
        removed_total = planned.get("removed", 0) if self.removed != "keep" else 0
        changed = planned.get("changed", 0)
        new = planned.get("new", 0)
        base = self._create_base
        c_created = max(0, created.created - base[0]) if created is not None else 0
        c_existed = max(0, created.existed - base[1]) if created is not None else 0
        c_failed = max(0, created.failed - base[2]) if created is not None else 0
        new_left = created.pending + created.creating if created is not None else (new if self._to_create is None else self._to_create)
        elapsed = time.monotonic() - self._started
        removed_done = self._done["removed"] if self.removed != "keep" else planned.get("removed", 0)
        left = new_left + max(0, changed - self._done["updated"] - self._done["failed"]) + max(
            0, removed_total - removed_done)
        requests = (budget.requests - self._base_requests) if budget is not None else 0
        done_rows = self._done["updated"] + self._done["removed"] + c_created + c_existed
        eta = left * elapsed / done_rows if done_rows and elapsed > 1 and self._phase not in ("planning", "adopting") else None
        rows, read, size = self._plan_read
        state = "stopping" if self._stopping else ("paused" if self._paused else "running")
        if self._phase in ("done", "stopped"):
            state = self._phase
        self._progress = SyncProgress(
            phase=self._phase, state=state, sync_id=self._sync_id, planned_new=new, planned_changed=changed,
            planned_removed=planned.get("removed", 0), unchanged=planned.get("unchanged", 0),
            refused=planned.get("refused", 0), created=c_created, existed=c_existed,
            updated=self._done["updated"], removed_done=removed_done,
            failed=self._done["failed"] + c_failed, left=left, requests=requests,
            rate_limited=(budget.rate_limited - self._base_rate_limited) if budget is not None else 0,
            pace=budget.current_rate if budget is not None else 0.0,
            paused_for_s=budget.paused_for if budget is not None else 0.0,
            in_flight=self._in_flight + (created.in_flight if created is not None else 0),
            elapsed_s=elapsed, eta_s=eta, rows_read=rows, bytes_read=read, size_bytes=size,
            last_errors=tuple(self._errors) + (tuple(created.last_errors) if created is not None else ()),
            stop_reason=self._stop_reason, message=self._stop_message or "")
        if self.on_progress is not None:
            try:
                self.on_progress(self._progress)
            except Exception:  # noqa: BLE001 - a display never breaks the sync
                pass

    def _note(self, text: str) -> None:
        self._errors.append(text[:200])

    def _journal_failed(self, exc: JournalError) -> None:
        if self._journal_error is None:
            self._journal_error = exc
        self._note(str(exc))
        self._begin_stop("journal", str(exc))


# ----------------------------------------------------------------------------- the job
@dataclass
class SyncOptions:
    export: str = ""
    accounts: str | None = None
    fmt: str | None = None
    removed: str = "keep"
    confirmed: bool = False  # --yes: a Production instance, and --removed ban/delete
    rate: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = 30.0
    tuning: dict[str, float] = field(default_factory=dict)  # TUNING names (the importer's) and the sync's own


SYNC_TUNING = frozenset({"user_limit", "user_window_s", "backoff_base_s", "backoff_cap_s"})


@register_job
class SyncJob(BaseJob):
    """Bring Clerk in line with a later export (Syncer): plan, adopt, then removals,
    updates and creates. Resumable like the import."""

    kind = "sync"
    can_pause = True
    Options = SyncOptions
    snapshot_type = SyncProgress
    snapshot_tag = "sync_progress"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._syncer: Syncer | None = None
        self._snapshot = SyncProgress()

    def _target(self) -> Any:
        return self._syncer

    def _stop_target(self) -> None:
        with self._lock:
            syncer = self._syncer
        if syncer is not None:
            syncer.stop()

    async def _run(self) -> JobResult:
        o = self.options
        async with self.opened() as journal:
            tuning = dict(o.tuning or {})
            own = {k: v for k, v in tuning.items() if k in SYNC_TUNING}
            importer = {k: v for k, v in tuning.items() if k in TUNING}
            importer.setdefault("progress_interval_s", PANEL_INTERVAL_S)
            syncer = Syncer(journal, self.settings, o.export, accounts=o.accounts, fmt=o.fmt, removed=o.removed,
                            confirmed=o.confirmed, rate=o.rate, concurrency=o.concurrency,
                            max_attempts=o.max_attempts, timeout=o.timeout, on_progress=self._publish,
                            progress_interval_s=PANEL_INTERVAL_S, importer_tuning=importer, **own, **self.engine)
            with self._lock:
                self._syncer = syncer
                if self._want_pause:
                    syncer.pause()
                if self._want_stop:
                    syncer.stop()
            try:
                result = await syncer.run()
            finally:
                self._snapshot = syncer.progress
            return JobResult(result.exit_code, result.message, result.stop_reason, result.summary, self.kind)

    @classmethod
    async def preflight(cls, run_dir: Path, settings: Any, options: Any) -> None:
        """Before a worker starts: blockers.run_blockers for a sync (the key's guards, the same
        instance, --yes for ban/delete, the accounts file as the run reads its export, no
        unfinished sync of another export); the rest is checked when it runs."""
        from console.migration.blockers import run_blockers
        from console.migration.run import open_run

        if options.removed not in REMOVED_POLICIES:
            raise SyncRefused(f"--removed must be one of {', '.join(REMOVED_POLICIES)}", "bad_option")
        journal = open_run(run_dir, readonly=True)
        try:
            pre = await run_blockers(journal, settings, kind="sync", confirmed_production=options.confirmed,
                                     check_settings=False, sync_export=options.export, sync_accounts=options.accounts,
                                     removed=options.removed)
        finally:
            journal.close()
        pre.raise_first()


__all__ = [
    "OWN_TABLES",
    "REMOVED_POLICIES",
    "SyncItem",
    "SyncJob",
    "SyncOptions",
    "SyncProgress",
    "SyncRecord",
    "SyncRefused",
    "SyncResult",
    "Syncer",
    "UserPace",
    "adopt",
    "check_accounts",
    "ensure_tables",
    "last_sync",
    "run_accounts",
    "sync_items",
    "sync_summary",
    "syncs",
    "unfinished_sync",
]
