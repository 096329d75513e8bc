"""The importer: sends the journal's pending rows to Clerk, paced, concurrent,
journaled, and settles every row exactly once.

Pipeline (one asyncio loop):

    feeder ──> queue ──> N workers ──> journal          (created / failed)
                 ^           │
                 │           └──> lookups ──> journal   (unknown outcome, identifier exists)
                 └──── resend (backoff) <──┘

- The feeder pages through the journal's pending rows (keyset on row_no) and
  reads the export alongside in a worker thread (both in row order: a merge,
  constant memory) through the feed (feed.py: the row's fingerprint checked,
  its fix, `to_payload`, the instance's rules, the run marker) and hands the
  bodies to the workers. Bodies, which may hold password digests, live
  only in memory.
- A worker commits `creating` for its row (one small WAL transaction, no
  fsync) and only then sends the create, through the client and its shared
  RequestBudget (which paces every request and handles 429s). The outcome is
  committed before any counter moves.
- Unknown outcomes (5xx, timeout, dropped connection) and
  `form_identifier_exists` go to the lookup stage, which batches up to 100
  external ids per request. Found -> `created` when Clerk's copy carries this
  run's marker (private_metadata.clerk_migrate.run, see marker.py), else
  `existed` (it was there before the run, or another run made it); an
  unknown outcome not found -> pending again and resent after a capped
  exponential backoff with jitter, at most `max_attempts` sends per session,
  then `failed unknown_outcome`.
- Before anything is sent, a session looks up the rows whose create may
  have reached Clerk (left `creating`, or pending/failed after a send whose
  answer was lost) and adopts those whose user carries the run's marker;
  after a damaged journal (`import --reconcile`) every row not `created`.
- 401 or 403 user_quota_exceeded: stop taking rows, finish what is in flight,
  leave the rest pending. `stop()` does the same on request.

Workers in use follow Little's law (pace x observed latency x 1.5), capped by
`concurrency`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from console.clerk.client import LOOKUP_BATCH, ClerkClient
from console.clerk.errors import (
    AuthenticationError,
    ClerkAPIError,
    ClerkError,
    IdentifierExists,
    QuotaExceeded,
    RateLimited,
    UnknownOutcome,
)
from console.clerk.limiter import RequestBudget
from console.migration.journal import JournalError, RunJournal
from console.migration.devcap import dev_room, effective_cap, learn_from_quota
from console.migration.feed import ExportFeed, FeedChanged, RunSource
from console.migration.marker import carries_marker
from console.migration.preflight import BodyRules, UnknownFieldExplainer
from console.migration.progress import Progress
from console.migration.run import (
    RunRefused,
    backfill_fingerprints,
    check_key_guards,
    check_same_export,
    check_same_instance,
    confirm_instance,
    run_lock,
    run_policies,
)
from console.migration.summary import run_summary
from console.settings import Settings
from console.source.model import Policies

DEFAULT_CONCURRENCY = 64
DEFAULT_MAX_ATTEMPTS = 6
FEED_PAGE = 500
RATE_WINDOW_S = 10.0
LAST_ERRORS = 8
MAX_LOOKUP_FAILURES = 3  # each already retried inside the client with backoff

ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ImportResult:
    summary: dict[str, Any]
    exit_code: int  # 0 done, 1 some failed, 2 stopped by 401/quota/changed export/journal, 130 stopped
    stop_reason: str | None  # None | "stopped" | "unauthorized" | "quota" | "export_changed" | "lookup_failed" | "journal"
    message: str | None = None
    adopted: int = 0  # rows found created by this run (its marker in Clerk) that the journal did not say so


@dataclass(eq=False)
class _Item:
    row_no: int
    external_id: str | None
    email: str | None
    body: dict[str, Any]
    uncertain: bool
    sends: int = 0  # creates sent for this row in this session
    conflict: ClerkError | None = None  # the 422 form_identifier_exists being settled
    first_sent_at: float = 0.0  # wall clock of this session's first send


class _Slots:
    """Send slots: at most `limit` holders, none while paused; wakes one waiter per
    freed slot (no thundering herd), everyone when the run stops."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.active = 0
        self.paused = False
        self.closed = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> bool:
        while not self.closed and (self.paused or self.active >= self.limit):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()
        if self.closed:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        self._wake(1)

    def set_limit(self, limit: int) -> None:
        grew = limit > self.limit
        self.limit = max(1, limit)
        if grew:
            self._wake(limit)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self._wake(self.limit)

    def close(self) -> None:
        self.closed = True
        self._wake(len(self._waiters))

    def _wake(self, n: int) -> None:
        while n > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                n -= 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class Importer:
    """One import (or retry) session over a run journal. See docs/engine.md."""

    def __init__(
        self,
        journal: RunJournal,
        settings: Settings,
        *,
        policies: Policies | None = None,
        rate: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        confirmed_production: bool = False,
        on_progress: ProgressCallback | None = None,
        client: ClerkClient | None = None,
        budget: RequestBudget | None = None,
        timeout: float = 30.0,
        dev_user_cap: int | None = None,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        lookup_wait_s: float = 0.2,
        progress_interval_s: float = 0.1,
        kind: str = "import",
        rng: random.Random | None = None,
        reconcile: bool = False,
        headroom: float | None = None,
        instance_limit: int | None = None,
    ) -> None:
        self.journal = journal
        self.headroom = headroom  # share of the instance's limit to use (default 0.9; 1.0 = all of it)
        self.instance_limit = instance_limit  # requests per 10 s when Clerk raised the instance's limit
        self.reconcile_all = reconcile  # look every row not created up (also when the journal asks for it)
        self._unknown_field = UnknownFieldExplainer(settings, BodyRules.of_run(journal.info))
        self.instance: Any = None  # GET /v1/instance's answer of this session (None when not answered)
        self.settings = settings
        self.policies = policies or run_policies(journal)
        self.rate = rate
        self.max_concurrency = max(1, int(concurrency))
        self.max_attempts = max(1, int(max_attempts))
        self.confirmed_production = confirmed_production
        self.on_progress = on_progress
        self._client = client
        self._own_client = client is None
        self._budget = budget if budget is not None else (client.budget if client is not None else None)
        self.timeout = timeout
        self.dev_user_cap = dev_user_cap  # None: Clerk's last word, the run's --dev-cap, else DEV_USER_CAP (devcap.py)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.lookup_wait_s = lookup_wait_s
        self.progress_interval_s = progress_interval_s
        self.kind = kind
        self._rng = rng or random.Random()

        # thread-safe controls (set from any thread, applied on the loop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._req_lock = threading.Lock()
        self._requested_stop = False
        self._requested_pause = False

        self._progress = Progress(total=0, state="idle")
        self._reset_state()

    def _reset_state(self) -> None:
        self._counts: dict[str, int] = {}
        self._stopping = False
        self._stop_reason: str | None = None
        self._stop_message: str | None = None
        self._paused = False
        self._in_flight = 0
        self._outstanding = 0
        self._feeder_done = False
        self._lookups: list[tuple[_Item, str]] = []
        self._lookup_failures = 0  # consecutive lookup batches that failed (after the client's retries)
        self._timers: dict[asyncio.TimerHandle, int] = {}
        self._retries = 0
        self._session_created = 0
        self._session_existed = 0
        self._session_failed = 0
        self._limit = 1
        self._last_errors: deque[str] = deque(maxlen=LAST_ERRORS)
        self._rate_samples: deque[tuple[float, int]] = deque()
        self._state = "starting"
        self._started = time.monotonic()
        self._base_requests = 0
        self._base_rate_limited = 0
        self._adopted = 0
        self._journal_error: JournalError | None = None
        self._changed_rows: list[int] = []  # rows found changed in the export (export_changed)
        self._source: RunSource | None = None
        # made by _run for its session (a control before that only records the wish)
        self._slots: _Slots | None = None
        self._lookup_event: asyncio.Event | None = None
        self._done_event: asyncio.Event | None = None
        self._session_id: int | None = None
        self._latency: tuple[float | None, float | None] = (None, None)

    # ------------------------------------------------------------ controls
    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and threading.get_ident() != self._loop_thread:
            try:
                loop.call_soon_threadsafe(fn)
                return
            except RuntimeError:  # loop closed meanwhile
                return
        fn()

    def pause(self) -> None:
        """Stop taking new rows; in-flight requests finish. Thread-safe."""
        with self._req_lock:
            self._requested_pause = True
        self._on_loop(self._apply_controls)

    def resume(self) -> None:
        with self._req_lock:
            self._requested_pause = False
        self._on_loop(self._apply_controls)

    def stop(self) -> None:
        """Stop sending, let in-flight requests finish, leave the rest pending. Thread-safe."""
        with self._req_lock:
            self._requested_stop = True
        self._on_loop(self._apply_controls)

    @property
    def paused(self) -> bool:
        return self._requested_pause

    @property
    def progress(self) -> Progress:
        return self._progress

    def _apply_controls(self) -> None:
        with self._req_lock:
            stop, pause = self._requested_stop, self._requested_pause
        if stop and not self._stopping:
            self._begin_stop("stopped", "stopped by the operator")
        if pause != self._paused:
            self._paused = pause
            self._state = "paused" if pause else "running"
            self._wake()

    # ------------------------------------------------------------ entry points
    async def retry(self, *, codes: Sequence[str] | None = None, row_nos: Sequence[int] | None = None) -> ImportResult:
        """Failed rows (the given ones, or those with the given codes, or every retryable
        one) back to pending, then run. The Production confirmation is not asked again:
        the run was confirmed when import created it."""
        self.confirmed_production = True
        check_key_guards(self.settings, confirmed_production=True)
        check_same_instance(self.journal, self.settings)
        with run_lock(self.journal.run_dir, self.kind):
            self.journal.reset_for_retry(codes=codes, row_nos=row_nos)
            return await self._run()

    async def run(self) -> ImportResult:
        """One session; RunRefused if a guard says no or another session holds the run."""
        with run_lock(self.journal.run_dir, self.kind):
            return await self._run()

    async def _run(self) -> ImportResult:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._reset_state()
        self._slots = _Slots(self.max_concurrency)
        self._done_event = asyncio.Event()
        self._lookup_event = asyncio.Event()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._space = asyncio.Event()

        check_key_guards(self.settings, confirmed_production=self.confirmed_production)
        check_same_instance(self.journal, self.settings)
        if not self.journal.info.rows_loaded:
            raise RunRefused(f"{self.journal.run_dir}: the export was not fully loaded; run import again", code="not_loaded")
        self.run_id = self.journal.info.run_id
        if not self.run_id:  # pragma: no cover - every schema-2 journal has one (the upgrade gives it)
            raise RunRefused(f"{self.journal.run_dir}: the journal has no run id; open it with this version first",
                             code="no_run_id")
        _ = self.journal.info  # read on this thread; check_same_export only hashes the file
        export_path = await asyncio.to_thread(check_same_export, self.journal)
        if self.journal.rows_without_fingerprint():  # a schema-1 journal: computed once, sha256 checked
            await asyncio.to_thread(backfill_fingerprints, self.journal, export_path)
        # how this run turns rows into bodies (the fingerprint key checked here: RunRefused when missing)
        self._source = dataclasses.replace(RunSource.of(self.journal, export_path=export_path), policies=self.policies)

        client = self._client
        if client is None:
            key = self.settings.secret_key
            assert key is not None
            budget = self._budget or RequestBudget.for_instance(
                key.instance_kind, rate=self.rate, limit=self.instance_limit,
                **({"headroom": self.headroom} if self.headroom is not None else {}))
            self._budget = budget
            # a connection per create in flight (--concurrency) and the lookups' own: the client's
            # default pool of 100 held 1,000/s at 150 ms to 564/s
            client = ClerkClient(key, self.settings.base_url, budget, timeout=self.timeout,
                                 max_connections=max(100, self.max_concurrency + 16))
            self._client = client
        budget = client.budget
        self._budget = budget
        self._base_requests = budget.requests
        self._base_rate_limited = budget.rate_limited
        self._counts = self.journal.counts()
        self._apply_controls()
        session = None
        ticker = None
        try:
            self.instance = await confirm_instance(self.journal, self.settings, client)
            if (self.settings.secret_key and self.settings.secret_key.instance_kind == "development"):
                await self._dev_cap_guard(client)
            session = self.journal.start_session(self.kind)
            self.journal.add_event(self.kind, f"{self.kind} started: {self._to_send()} row(s) to settle")
            self._started = time.monotonic()
            self._session_id = session
            self._state = "paused" if self._paused else "running"
            ticker = asyncio.create_task(self._tick())
            if not self._stopping:
                await self._reconcile(client)
            if not self._stopping:
                await self._send_pending(client)
        finally:
            if ticker is not None:
                ticker.cancel()
                try:
                    await ticker
                except (asyncio.CancelledError, Exception):
                    pass
            self._cancel_resends()
            if self._own_client:
                await client.aclose()
                self._client = None
            if session is not None:
                try:
                    self._close_session(session)
                except JournalError as exc:  # the session's figures only: the rows are recorded
                    self._journal_failed(exc)
        result = self._result()
        with self._req_lock:
            self._requested_stop = False  # a stop ends this session, not the next one
        self._state = "stopped" if result.stop_reason else "done"
        self._publish(final=True)
        return result

    # ------------------------------------------------------------ guards
    def _to_send(self) -> int:
        return self._counts.get("pending", 0) + self._counts.get("creating", 0)

    async def _dev_cap_guard(self, client: ClerkClient) -> None:
        to_send = self._to_send()
        if to_send == 0:
            return
        room = await dev_room(client, to_send, effective_cap(self.journal, self.dev_user_cap))  # devcap.py: the one rule
        refusal = room.refusal()
        if refusal is not None:
            self.journal.add_event("refused", refusal.message)
            raise refusal

    # ------------------------------------------------------------ rows an earlier session may have created
    async def _reconcile(self, client: ClerkClient) -> None:
        """Before anything is sent, look up (100 external ids per request) the rows whose
        create may have reached Clerk: left `creating` (kill -9, lost answer, stopped during a
        lookup), or pending/failed after a send whose outcome stayed unknown. Clerk's copy
        decides: its user carries this run's marker -> `created` (adopted when the journal
        said otherwise), no user -> a `creating` row goes back to pending, a user without the
        marker -> a `creating` row is `existed` (it was there before). With `reconcile=True`
        or after a damaged journal (meta `reconcile_needed`), every row not created is looked
        up (existed and failed ones too)."""
        needed = self.journal.get_meta("reconcile_needed")
        full = self.reconcile_all or bool(needed)
        if not full and not self.journal.count_reconcile_candidates(full=False):
            return
        self._state = "reconciling"
        last = None
        adopted: list[int] = []
        looked = 0
        while not self._stopping:
            page = self.journal.reconcile_candidates(full=full, after_row=last, limit=LOOKUP_BATCH)
            if not page:
                break
            last = page[-1].row_no
            try:
                by_ext = await client.users_by_external_ids([r.external_id for r in page if r.external_id])
                no_ext = [r.email for r in page if not r.external_id and r.email]
                by_email = await client.users_by_emails(no_ext) if no_ext else {}
            except AuthenticationError as exc:
                self._begin_stop("unauthorized", f"Clerk refused the key: {exc}")
                break
            except ClerkError as exc:
                # lookups already retried inside the client: the rows stay as they are for the next run
                self._note_error(f"lookup failed: {exc}")
                self._begin_stop("lookup_failed", f"cannot look up the rows whose outcome is not known: {exc}")
                break
            looked += len(page)
            by_status: dict[str, list[tuple]] = {}
            for r in page:
                user = by_ext.get(r.external_id) if r.external_id else by_email.get((r.email or "").lower())
                ours = user is not None and carries_marker(user, self.run_id)
                if r.status == "creating":
                    if user is None:
                        outcome: tuple | None = ("pending", r.row_no, True)
                    else:
                        outcome = ("created" if ours else "existed", r.row_no, user.id)
                elif ours:
                    outcome = ("created", r.row_no, user.id)  # type: ignore[union-attr]
                    adopted.append(r.row_no)
                else:
                    outcome = None  # not in Clerk, or not ours: as the journal says
                if outcome is not None:
                    by_status.setdefault(r.status, []).append(outcome)
            for status, outcomes in by_status.items():
                self._commit(outcomes, from_status=status)
        if adopted:
            self._adopted += len(adopted)
            shown = ", ".join(map(str, adopted[:10])) + ("…" if len(adopted) > 10 else "")
            self._note_error(f"adopted {len(adopted)} row(s) created by this run (its marker in Clerk): rows {shown}")
            self._add_event("adopted", f"{len(adopted)} row(s) the journal did not show as created carry this run's "
                            f"marker in Clerk: now created (rows {shown})")
        if full and not self._stopping and self._journal_error is None:
            try:
                self.journal.delete_meta("reconcile_needed")
                self._add_event("reconcile", f"full reconcile: {looked} row(s) looked up, {len(adopted)} adopted")
                self.journal.save_state(force=True)
            except JournalError as exc:
                self._journal_failed(exc)
        self._state = "paused" if self._paused else "running"

    # ------------------------------------------------------------ the pipeline
    async def _send_pending(self, client: ClerkClient) -> None:
        self._queue = asyncio.Queue()
        self._feeder_done = False
        tasks = [asyncio.create_task(self._feed(), name="feeder")]
        tasks.append(asyncio.create_task(self._lookup_loop(client), name="lookups"))
        tasks += [asyncio.create_task(self._worker(i, client), name=f"worker-{i}") for i in range(self.max_concurrency)]
        self._update_limit()
        self._check_done()
        try:
            done_wait = asyncio.create_task(self._done_event.wait())
            # a task that dies unexpectedly must not hang the run
            pending = set(tasks) | {done_wait}
            while not self._done_event.is_set():
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in finished:
                    if t is not done_wait and not t.cancelled() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _check_done(self) -> None:
        if self._stopping:
            if self._in_flight == 0 and not self._lookups and not self._lookup_busy:
                self._done_event.set()
        elif self._feeder_done and self._outstanding == 0:
            self._done_event.set()

    def _wake(self) -> None:
        if self._slots is not None:
            self._slots.set_paused(self._paused)
            if self._stopping:
                self._slots.close()
        if self._stopping:
            if self._lookup_event is not None:
                self._lookup_event.set()
            if self._done_event is not None:
                self._check_done()

    def _begin_stop(self, reason: str, message: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._stop_reason = reason
        self._stop_message = message
        self._state = "stopping"
        try:
            self.journal.add_event("stop", message)
        except Exception:
            pass
        self._cancel_resends()
        # rows waiting in the queue were never marked creating: they stay pending
        while True:
            try:
                self._queue.get_nowait()
                self._outstanding -= 1
            except (asyncio.QueueEmpty, AttributeError):
                break
        self._wake()

    def _cancel_resends(self) -> None:
        timers, self._timers = self._timers, {}
        for handle, holds in timers.items():
            handle.cancel()
            self._outstanding -= holds

    async def _feed(self) -> None:
        high = max(8, 2 * self.max_concurrency)
        feed: ExportFeed | None = None
        last: int | None = None
        try:
            while not self._stopping:
                page = self.journal.rows(status="pending", after_row=last, limit=FEED_PAGE)
                if not page:
                    break
                last = page[-1].row_no
                try:
                    if feed is None:
                        assert self._source is not None
                        feed = await asyncio.to_thread(ExportFeed, self._source, require_importable=True)
                    items = await asyncio.to_thread(feed.take, page)
                except FeedChanged as exc:
                    self._changed_rows = exc.rows
                    self._begin_stop("export_changed", f"the export changed under the run: {exc}")
                    break
                except Exception as exc:  # ExportError: truncated or rewritten while the run reads it
                    self._begin_stop("export_changed", f"the export cannot be read any more: {_one_line(exc)}")
                    break
                for row in items:
                    if self._stopping:
                        break
                    rec, body = row.rec, row.body
                    if row.problem is not None or body is None:  # never sent: fails with its reason
                        code, text = row.problem or ("payload_invalid", "invalid body")
                        self._commit([("failed", rec.row_no, code, None, text)], from_status="pending")
                        continue
                    while self._queue.qsize() >= high and not self._stopping:
                        self._space.clear()
                        await self._space.wait()
                    if self._stopping:
                        break
                    self._outstanding += 1
                    self._queue.put_nowait(
                        _Item(rec.row_no, rec.external_id, rec.email, body, rec.uncertain)
                    )
        finally:
            if feed is not None:
                try:
                    feed.close()
                except ValueError:  # cancelled while a page was being read in its thread: it ends with it
                    pass
            self._feeder_done = True
            self._check_done()

    async def _worker(self, idx: int, client: ClerkClient) -> None:
        while not self._stopping:
            item = await self._queue.get()
            self._space.set()
            # a send slot: at most `limit` creates in flight, none while paused
            if not await self._slots.acquire():
                self._finish_item()  # stopping: never marked creating, stays pending
                return
            try:
                await self._send(item, client)
            finally:
                self._slots.release()

    async def _send(self, item: _Item, client: ClerkClient) -> None:
        # committed before the request leaves: a crash from here on leaves `creating`,
        # which the next session looks up before sending anything
        try:
            self.journal.mark_creating([item.row_no])
        except JournalError as exc:  # never send what the journal could not record
            self._journal_failed(exc)
            self._finish_item()
            return
        self._move("pending", "creating")
        item.sends += 1
        if not item.first_sent_at:
            item.first_sent_at = time.time()
        if item.sends > 1:
            self._retries += 1
        self._in_flight += 1
        try:
            try:
                user = await client.create_user(item.body)
            except IdentifierExists as exc:
                item.conflict = exc
                # remember Clerk's answer in the journal before settling it by lookup
                try:
                    self.journal.record([("note", item.row_no, exc.code, exc.param_name, _clerk_message(exc))])
                except JournalError as jexc:  # the row stays creating: looked up next session
                    self._journal_failed(jexc)
                    self._finish_item()
                else:
                    self._queue_lookup(item, "exists")
            except QuotaExceeded as exc:
                self._commit([("pending", item.row_no, item.uncertain)], from_status="creating")
                self._finish_item()
                try:
                    limit = learn_from_quota(self.journal, exc)  # Clerk's own number wins from now on
                except JournalError as jexc:
                    self._journal_failed(jexc)
                    limit = None
                said = f": Clerk says it holds at most {limit} users" if limit else ""
                self._begin_stop("quota", f"the instance's user quota is reached ({_clerk_message(exc)}){said}; "
                                 "the rest stays pending")
            except AuthenticationError as exc:
                self._commit([("pending", item.row_no, item.uncertain)], from_status="creating")
                self._finish_item()
                self._begin_stop("unauthorized", f"Clerk refused the key ({exc.code}): the rest stays pending")
            except RateLimited:  # pragma: no cover - the client resends 429s itself
                self._commit([("pending", item.row_no, item.uncertain)], from_status="creating")
                self._requeue(item, 1.0)
            except UnknownOutcome as exc:
                item.uncertain = True
                try:
                    self.journal.mark_uncertain([item.row_no])
                except JournalError as jexc:  # the row stays creating: looked up next session
                    self._journal_failed(jexc)
                    self._finish_item()
                else:
                    self._note_error(f"row {item.row_no}: {exc.code}: no answer, looking it up")
                    self._queue_lookup(item, "unknown")
            except ClerkAPIError as exc:
                param, message = exc.param_name, _clerk_message(exc)
                if exc.code == "form_param_unknown" and not param:  # a field the instance does not accept
                    param, message = await self._unknown_field.explain(item.body, message)
                self._fail(item, exc.code, param, message)
            except ClerkError as exc:
                self._fail(item, exc.code or "internal_error", exc.param_name, _clerk_message(exc))
            else:
                self._commit([("created", item.row_no, user.id)], from_status="creating")
                self._finish_item()
        except asyncio.CancelledError:  # pragma: no cover - workers are cancelled only when idle
            raise
        except Exception as exc:  # a bug must not lose the row: it stays creating (looked up next run)
            self._fail(item, "internal_error", None, f"{type(exc).__name__}: {_one_line(exc)}")
        finally:
            self._in_flight -= 1
            self._check_done()

    def _fail(self, item: _Item, code: str, param: str | None, message: str) -> None:
        self._commit([("failed", item.row_no, code, param, message)], from_status="creating")
        self._note_error(f"row {item.row_no}: {code}{f' ({param})' if param else ''}: {message}")
        self._finish_item()

    def _finish_item(self) -> None:
        self._outstanding -= 1
        self._check_done()

    def _requeue(self, item: _Item, delay: float) -> None:
        if self._stopping:
            self._finish_item()
            return
        self._schedule(delay, 1, lambda: self._queue.put_nowait(item))

    def _schedule(self, delay: float, holds: int, fn: Callable[[], None]) -> None:
        """Run fn later on the loop; the timer holds `holds` outstanding items, released
        (left pending / creating in the journal) if the run stops first."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.pop(handle, None)
            if self._stopping:
                for _ in range(holds):
                    self._finish_item()
                return
            fn()

        handle = loop.call_later(delay, fire)
        self._timers[handle] = holds

    def _backoff(self, sends: int) -> float:
        delay = min(self.backoff_cap_s, self.backoff_base_s * (2 ** max(0, sends - 1)))
        return delay * self._rng.uniform(0.5, 1.0)

    # ------------------------------------------------------------ lookups
    _lookup_busy = False

    def _queue_lookup(self, item: _Item, purpose: str) -> None:
        self._lookups.append((item, purpose))
        self._lookup_event.set()

    async def _lookup_loop(self, client: ClerkClient) -> None:
        while True:
            if not self._lookups:
                self._lookup_event.clear()
                await self._lookup_event.wait()
                continue
            # gather a batch for up to lookup_wait_s: unknown outcomes tend to come together
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.lookup_wait_s
            while len(self._lookups) < LOOKUP_BATCH and not self._stopping and not self._feeder_done_and_idle():
                left = deadline - loop.time()
                if left <= 0:
                    break
                self._lookup_event.clear()
                try:
                    await asyncio.wait_for(self._lookup_event.wait(), left)
                except asyncio.TimeoutError:
                    break
            batch, self._lookups = self._lookups[:LOOKUP_BATCH], self._lookups[LOOKUP_BATCH:]
            self._lookup_busy = True
            try:
                await self._settle(batch, client)
            finally:
                self._lookup_busy = False
                self._check_done()

    def _feeder_done_and_idle(self) -> bool:
        return self._feeder_done and self._in_flight == 0

    async def _settle(self, batch: list[tuple[_Item, str]], client: ClerkClient) -> None:
        try:
            ext_ids = [it.external_id for it, _ in batch if it.external_id]
            by_ext = await client.users_by_external_ids(ext_ids) if ext_ids else {}
            need_email = [
                it.email
                for it, purpose in batch
                if it.email and (not it.external_id or (purpose == "exists" and it.external_id not in by_ext))
            ]
            by_email = await client.users_by_emails(need_email) if need_email else {}
        except AuthenticationError as exc:
            # rows stay creating: the next session looks them up
            for _ in batch:
                self._finish_item()
            self._begin_stop("unauthorized", f"Clerk refused the key ({exc.code}): the rest stays pending")
            return
        except ClerkError as exc:
            self._note_error(f"lookup failed: {exc}")
            self._lookup_failures += 1
            if not self._stopping and self._lookup_failures >= MAX_LOOKUP_FAILURES:
                self._begin_stop(
                    "lookup_failed",
                    f"Clerk did not answer {self._lookup_failures} lookups in a row ({exc}); "
                    "the rows in doubt stay in the journal and are looked up first next time",
                )
            if self._stopping:
                for _ in batch:
                    self._finish_item()  # left creating: looked up by the next session
                return
            # the client already retried; try again later, the rows stay creating meanwhile
            def again() -> None:
                for it, purpose in batch:
                    self._queue_lookup(it, purpose)

            self._schedule(self._backoff(2), len(batch), again)
            return

        self._lookup_failures = 0
        outcomes: list[tuple] = []
        finished: list[_Item] = []
        resend: list[_Item] = []
        for item, purpose in batch:
            user = by_ext.get(item.external_id) if item.external_id else by_email.get((item.email or "").lower())
            if purpose == "unknown":
                if user is not None:
                    # ours only when Clerk's copy carries this run's marker: else it was there before
                    # (our create, if it arrived at all, was refused as a duplicate)
                    outcomes.append(("created" if carries_marker(user, self.run_id) else "existed", item.row_no, user.id))
                    finished.append(item)
                elif item.sends >= self.max_attempts or self._stopping:
                    if self._stopping:
                        outcomes.append(("pending", item.row_no, True))
                    else:
                        outcomes.append(
                            (
                                "failed",
                                item.row_no,
                                "unknown_outcome",
                                None,
                                f"no answer from Clerk after {item.sends} attempt(s) and no user with this external id",
                            )
                        )
                        self._note_error(f"row {item.row_no}: unknown_outcome after {item.sends} attempt(s)")
                    finished.append(item)
                else:
                    outcomes.append(("pending", item.row_no, True))
                    resend.append(item)
            else:  # identifier exists
                if user is not None and item.external_id and user.external_id == item.external_id:
                    # an earlier send of ours whose answer was lost made it (our marker), or not
                    outcomes.append(("created" if carries_marker(user, self.run_id) else "existed", item.row_no, user.id))
                    finished.append(item)
                    continue
                holder = by_email.get((item.email or "").lower()) if item.email else None
                if holder is not None:
                    message = (
                        f"the email {item.email} belongs to Clerk user {holder.id}"
                        f" (external_id {holder.external_id!r}), not to this row"
                    )
                    outcomes.append(("failed", item.row_no, "form_identifier_exists", "email_address", message))
                else:
                    exc = item.conflict
                    outcomes.append(
                        (
                            "failed",
                            item.row_no,
                            "form_identifier_exists",
                            exc.param_name if exc else None,
                            _clerk_message(exc) if exc else "an identifier of this row is taken",
                        )
                    )
                self._note_error(f"row {item.row_no}: {outcomes[-1][2]}: {outcomes[-1][4]}")
                finished.append(item)
        self._commit(outcomes, from_status="creating")
        for item in finished:
            self._finish_item()
        for item in resend:
            self._requeue(item, self._backoff(item.sends))

    # ------------------------------------------------------------ journal + counters
    def _commit(self, outcomes: list[tuple], *, from_status: str) -> None:
        """Write outcomes (one transaction), then move the counters: never the other way."""
        if not outcomes:
            return
        try:
            self.journal.record(outcomes)
        except JournalError as exc:  # nothing recorded: the rows stay as the journal had them
            self._journal_failed(exc)
            return
        for item in outcomes:
            kind = item[0]
            self._move(from_status, kind)
            if kind == "created":
                self._session_created += 1
            elif kind == "existed":
                self._session_existed += 1
            elif kind == "failed":
                self._session_failed += 1

    def _move(self, src: str, dst: str) -> None:
        if src == dst:
            return
        self._counts[src] = self._counts.get(src, 0) - 1
        self._counts[dst] = self._counts.get(dst, 0) + 1

    def _note_error(self, text: str) -> None:
        self._last_errors.append(text[:200])

    def _add_event(self, kind: str, message: str) -> None:
        try:
            self.journal.add_event(kind, message)
        except JournalError as exc:
            self._journal_failed(exc)

    def _journal_failed(self, exc: JournalError) -> None:
        """The journal cannot be written (disk full, read-only, I/O): stop sending. What was
        not recorded was not counted; rows left creating are looked up next session."""
        if self._journal_error is None:
            self._journal_error = exc
        self._note_error(str(exc))
        if self._stopping:  # already stopping for another reason: this one is what the operator must see
            self._stop_reason, self._stop_message = "journal", str(self._journal_error)
        self._begin_stop("journal", str(self._journal_error))

    # ------------------------------------------------------------ progress
    async def _tick(self) -> None:
        last_limit = 0.0
        last_flush = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last_limit >= 0.5:
                self._update_limit()
                last_limit = now
            if now - last_flush >= 1.0 and self._session_id is not None:
                self._flush_session()
                last_flush = now
            self._publish()
            await asyncio.sleep(self.progress_interval_s)

    def _update_limit(self) -> None:
        client, budget = self._client, self._budget
        if client is None or budget is None:
            self._limit = self.max_concurrency
            return
        _p50, p95 = client.latency_quantiles()
        wanted = budget.recommended_concurrency(p95, self.max_concurrency)
        wanted = max(1, min(self.max_concurrency, wanted + 1))
        if wanted != self._limit:
            self._limit = wanted
            if self._slots is not None:
                self._slots.set_limit(wanted)

    def _snapshot(self) -> Progress:
        now = time.monotonic()
        elapsed = max(0.0, now - self._started)
        created = self._counts.get("created", 0)
        done_session = self._session_created + self._session_existed
        self._rate_samples.append((now, done_session))
        while self._rate_samples and now - self._rate_samples[0][0] > RATE_WINDOW_S:
            self._rate_samples.popleft()
        t0, c0 = self._rate_samples[0]
        span = now - t0
        rate_now = (done_session - c0) / span if span >= 0.5 else 0.0
        rate_overall = done_session / elapsed if elapsed > 0.5 else 0.0
        pending = self._counts.get("pending", 0)
        creating = self._counts.get("creating", 0)
        left = pending + creating
        eta = left / rate_now if rate_now > 0 else None
        if self._client is not None:
            self._latency = self._client.latency_quantiles()
        q50, q95 = self._latency
        p50 = q50 * 1000.0 if q50 is not None else None
        p95 = q95 * 1000.0 if q95 is not None else None
        budget = self._budget
        total = sum(self._counts.get(s, 0) for s in ("pending", "creating", "created", "existed", "failed"))
        return Progress(
            total=total,
            created=created,
            existed=self._counts.get("existed", 0),
            failed=self._counts.get("failed", 0),
            pending=pending,
            creating=creating,
            refused=self._counts.get("refused", 0),
            retries=self._retries,
            rate_limited=(budget.rate_limited - self._base_rate_limited) if budget else 0,
            requests=(budget.requests - self._base_requests) if budget else 0,
            paused_for_s=budget.paused_for if budget else 0.0,
            pace=budget.sustained_rate if budget else 0.0,
            rate_now=rate_now,
            rate_overall=rate_overall,
            eta_s=eta,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            elapsed_s=elapsed,
            state=self._state,
            last_errors=tuple(self._last_errors),
            in_flight=max(0, self._in_flight - (budget.waiting if budget is not None else 0)),
            concurrency=self._limit,
            reconciling=len(self._lookups),
            stop_reason=self._stop_reason,
            message=self._stop_message or "",
            cap=budget.cap_reason if budget is not None else None,
            capped_to=budget.capped_to if budget is not None else None,
            adopted=self._adopted,
        )

    def _publish(self, final: bool = False) -> None:
        self._progress = self._snapshot()
        if self.on_progress is not None:
            try:
                self.on_progress(self._progress)
            except Exception:  # a display must never break the import
                pass

    def _session_figures(self) -> dict[str, int]:
        budget = self._budget
        return {
            "requests": (budget.requests - self._base_requests) if budget else 0,
            "rate_limited": (budget.rate_limited - self._base_rate_limited) if budget else 0,
            "created": self._session_created,
            "existed": self._session_existed,
            "failed": self._session_failed,
        }

    def _flush_session(self) -> None:
        try:
            self.journal.update_session(self._session_id, **self._session_figures())
            self.journal.note_counts(self._counts)  # shown if the journal is ever found to have lost commits
            self.journal.save_state()
        except Exception:
            pass

    def _close_session(self, session: int) -> None:
        outcome = self._stop_reason or "done"
        self.journal.update_session(session, end=True, outcome=outcome, **self._session_figures())
        self.journal.note_counts(self._counts)
        figures = self._session_figures()
        self.journal.add_event(
            "end",
            f"{self.kind} {outcome}: {figures['created']} created, {figures['existed']} existed, "
            f"{figures['failed']} failed, {figures['requests']} requests, {figures['rate_limited']} rate limited",
        )

    def _result(self) -> ImportResult:
        try:
            summary = run_summary(self.journal)
        except (JournalError, sqlite3.Error):  # the journal cannot even be read: the session's own figures
            summary = {"run": str(self.journal.run_dir), **{k: self._counts.get(k, 0) for k in
                       ("created", "existed", "failed", "refused", "pending", "creating")},
                       **self._session_figures()}
        reason = self._stop_reason
        if reason == "stopped":
            code = 130
        elif reason is not None:
            code = 2
        elif summary["failed"] or summary["pending"]:
            code = 1
        else:
            code = 0
        message = self._stop_message
        if self._adopted:
            note = (f"{self._adopted} row(s) were found created by this run (its marker in Clerk) although the "
                    "journal did not say so: now created")
            message = f"{message}; {note}" if message else note
        summary["adopted"] = self._adopted
        if self._changed_rows:
            summary["changed_rows"] = self._changed_rows[:1000]
        return ImportResult(summary=summary, exit_code=code, stop_reason=reason, message=message,
                            adopted=self._adopted)


def _clerk_message(exc: ClerkError | None) -> str:
    if exc is None:
        return ""
    return (exc.long_message or exc.message or exc.code or "").strip()[:500]
