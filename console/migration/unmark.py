"""Unmark: remove the run marker from the users this run created, after the migration.

Every create carried `private_metadata.clerk_migrate = {"run": <run id>}` (see
marker.py): it is what lets undo and a resume tell this run's users from users
that were there before. Once the migration is accepted, the operator may strip
it: one `PATCH /v1/users/{id}/metadata` per user with
`{"private_metadata": {"clerk_migrate": null}}` (Clerk deep-merges; a key set
to null is removed; the user's other private keys stay as they are).

    plan = unmark_plan(journal, settings, rate=None)    # count, requests, time at the pace (no request)
    result = await Unmarker(journal, settings, on_progress=cb).run()

- Which users: rows `created` by this run, less the users `undo` deleted, less
  rows a schema-1 journal created (no marker to remove), less those already
  done by an earlier unmark of this run.
- Paced by one RequestBudget for the run's instance (every request of the
  session), 16 in flight at most; a key for another instance is refused first.
- Resumable: each outcome is committed to the journal table `unmark_rows`
  (row_no, clerk_user_id, outcome done | gone | failed, code, message, at) before
  it is counted; running it again skips `done`/`gone` rows and retries `failed`
  ones. A 404 means the user is gone (counted `gone`). A 401 stops (exit 2).
- After it, undo can no longer tell this run's users in Clerk: it keeps every
  one of them (the plan says so).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from console.migration.errors import first_line
from console.migration.jobs import PANEL_INTERVAL_S, BaseJob, JobResult, register_job
from console.migration.journal import RowRecord, RunJournal
from console.migration.marker import strip_body
from console.migration.undo import undone_filter

UNMARK_TABLE = "unmark_rows"
DEFAULT_CONCURRENCY = 16
PAGE = 500
LISTED_MAX = 1000

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {UNMARK_TABLE} (
    row_no        INTEGER PRIMARY KEY,
    clerk_user_id TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('done', 'gone', 'failed')),
    code          TEXT,
    message       TEXT,
    at            REAL NOT NULL
)
"""


def _has_table(journal: RunJournal) -> bool:
    return journal.connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (UNMARK_TABLE,)
    ).fetchone() is not None


def unmarked_count(journal: RunJournal) -> int:
    """Users whose marker an unmark of this run removed (or found gone)."""
    if not _has_table(journal):
        return 0
    return journal.connection.execute(
        f"SELECT COUNT(*) FROM {UNMARK_TABLE} WHERE outcome IN ('done', 'gone')"
    ).fetchone()[0]


def _done_filter(journal: RunJournal) -> Callable[[list[int]], set[int]]:
    if not _has_table(journal):
        return lambda row_nos: set()
    conn = journal.connection

    def done(row_nos: list[int]) -> set[int]:
        out: set[int] = set()
        for i in range(0, len(row_nos), 500):
            part = row_nos[i : i + 500]
            q = (f"SELECT row_no FROM {UNMARK_TABLE} WHERE outcome IN ('done', 'gone')"
                 f" AND row_no IN ({', '.join('?' * len(part))})")
            out.update(r[0] for r in conn.execute(q, part))
        return out

    return done


def _pages(journal: RunJournal) -> Iterator[list[RowRecord]]:
    """Pages of created rows still to unmark: not undone, not unmarked (schema 1), not done."""
    undone = undone_filter(journal)
    done = _done_filter(journal)
    last: int | None = None
    while True:
        rows = journal.rows(status="created", limit=PAGE, after_row=last)
        if not rows:
            return
        last = rows[-1].row_no
        nos = [r.row_no for r in rows]
        skip = undone(nos) | done(nos)
        todo = [r for r in rows if r.row_no not in skip and r.clerk_user_id and not r.unmarked]
        if todo:
            yield todo


def _count_todo(journal: RunJournal) -> tuple[int, int]:
    """(users to unmark, rows created before markers existed)."""
    todo = sum(len(p) for p in _pages(journal))
    legacy = journal.connection.execute(
        "SELECT COUNT(*) FROM rows WHERE status = 'created' AND unmarked = 1"
    ).fetchone()[0]
    return todo, legacy


@dataclass(frozen=True)
class UnmarkPlan:
    to_unmark: int  # users whose marker this session removes (one PATCH each)
    already_done: int  # by an earlier unmark of this run
    legacy: int  # rows created before run markers existed: nothing to remove
    undone: int  # users undo deleted
    pace: float  # requests per second of the run's budget
    eta_s: float  # to_unmark / pace
    run_id: str | None
    instance: str | None
    key_masked: str
    base_url: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UnmarkProgress:
    total: int
    done: int = 0
    gone: int = 0
    failed: int = 0
    in_flight: int = 0
    requests: int = 0
    rate_limited: int = 0
    pace: float = 0.0
    elapsed_s: float = 0.0
    state: str = "running"  # running, stopping, done, stopped
    message: str = ""

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.gone - self.failed)


@dataclass(frozen=True)
class UnmarkResult:
    to_unmark: int
    done: int
    gone: int
    failed: int
    remaining: int
    already_done: int
    not_unmarked: list[dict[str, Any]] = field(default_factory=list)  # row, external_id, clerk_user_id, code, message
    requests: int = 0
    rate_limited: int = 0
    duration_s: float = 0.0
    exit_code: int = 0  # 0 all done, 1 some failed, 2 stopped by 401, 130 stopped
    stop_reason: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[UnmarkProgress], None]




class Unmarker:
    """One unmark session over a run journal; `stop()` from any thread."""

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
    ) -> None:
        self.journal = journal
        self.settings = settings
        self.rate = rate
        self.concurrency = max(1, int(concurrency))
        self.on_progress = on_progress
        self._client = client
        self.timeout = timeout
        self.progress_interval_s = progress_interval_s
        self._stop = threading.Event()
        self._last_emit = 0.0
        self._progress = UnmarkProgress(total=0, state="idle")

    def stop(self) -> None:
        self._stop.set()

    @property
    def progress(self) -> UnmarkProgress:
        return self._progress

    def _budget(self) -> Any:
        from console.clerk.limiter import RequestBudget

        if self._client is not None:
            return self._client.budget
        key = self.settings.secret_key
        return RequestBudget.for_instance(self.journal.info.instance_kind or key.instance_kind, rate=self.rate)

    def plan(self) -> UnmarkPlan:
        """What run() will do, from the journal only (no request)."""
        from console.migration.undo import undone_count

        todo, legacy = _count_todo(self.journal)
        pace = float(self._budget().sustained_rate) or 1.0  # a --rate above the instance's limit is capped
        info = self.journal.info
        return UnmarkPlan(
            to_unmark=todo, already_done=unmarked_count(self.journal), legacy=legacy,
            undone=undone_count(self.journal), pace=round(pace, 1), eta_s=round(todo / pace, 1),
            run_id=info.run_id, instance=info.instance_kind, key_masked=info.key_masked, base_url=info.base_url,
        )

    def _emit(self, progress: UnmarkProgress, *, force: bool = False) -> None:
        self._progress = progress
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_emit >= self.progress_interval_s:
            self._last_emit = now
            try:
                self.on_progress(progress)
            except Exception:  # noqa: BLE001 - a display bug never stops the session
                pass

    def _record(self, items: list[tuple[int, str, str, str | None, str | None]]) -> None:
        now = time.time()
        with self.journal.transaction() as conn:
            conn.executemany(
                f"INSERT INTO {UNMARK_TABLE} (row_no, clerk_user_id, outcome, code, message, at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(row_no) DO UPDATE SET clerk_user_id = excluded.clerk_user_id, outcome = excluded.outcome,"
                " code = excluded.code, message = excluded.message, at = excluded.at",
                [(r, uid, outcome, code, msg, now) for r, uid, outcome, code, msg in items],
            )

    async def run(self) -> UnmarkResult:
        from console.clerk.client import ClerkClient
        from console.clerk.errors import AuthenticationError, ClerkError, NotFound
        from console.migration.run import check_same_instance, confirm_instance, run_lock

        check_same_instance(self.journal, self.settings)
        with run_lock(self.journal.run_dir, "unmark"):
            with self.journal.transaction() as conn:
                conn.execute(_SCHEMA)
            own = self._client is None
            client = self._client or ClerkClient(self.settings.secret_key, self.settings.base_url, self._budget(),
                                                 timeout=self.timeout)
            try:
                await confirm_instance(self.journal, self.settings, client)
                return await self._run(client, AuthenticationError, ClerkError, NotFound)
            finally:
                if own:
                    await client.aclose()

    async def _run(self, client: Any, AuthenticationError: type, ClerkError: type, NotFound: type) -> UnmarkResult:  # noqa: N803
        budget = client.budget
        base_requests, base_limited = budget.requests, budget.rate_limited
        already = unmarked_count(self.journal)
        total, _ = _count_todo(self.journal)
        started = time.monotonic()
        st = {"done": 0, "gone": 0, "failed": 0, "in_flight": 0}
        not_unmarked: list[dict[str, Any]] = []
        stop_reason: list[str] = []
        errors: list[BaseException] = []
        body = strip_body()
        self.journal.add_event("unmark", f"unmark started: {total} user(s) whose run marker to remove")

        def snapshot(state: str = "running", message: str = "") -> UnmarkProgress:
            return UnmarkProgress(
                total=total, done=st["done"], gone=st["gone"], failed=st["failed"], in_flight=st["in_flight"],
                requests=budget.requests - base_requests, rate_limited=budget.rate_limited - base_limited,
                pace=budget.current_rate, elapsed_s=time.monotonic() - started,
                state=("stopping" if self._stop.is_set() and state == "running" else state), message=message,
            )

        queue: asyncio.Queue[RowRecord | None] = asyncio.Queue(maxsize=self.concurrency * 2)

        async def worker() -> None:
            while True:
                rec = await queue.get()
                if rec is None:
                    return
                if self._stop.is_set() or errors:
                    continue
                st["in_flight"] += 1
                try:
                    try:
                        await client.update_user_metadata(rec.clerk_user_id, **body)
                    except NotFound:
                        st["gone"] += 1
                        self._record([(rec.row_no, rec.clerk_user_id, "gone", None, None)])
                    except AuthenticationError as exc:
                        if not stop_reason:
                            stop_reason.append(first_line(exc))
                        self._stop.set()
                    except ClerkError as exc:
                        st["failed"] += 1
                        code = getattr(exc, "code", None) or type(exc).__name__
                        self._record([(rec.row_no, rec.clerk_user_id, "failed", code, first_line(exc))])
                        if len(not_unmarked) < LISTED_MAX:
                            not_unmarked.append({"row": rec.row_no, "external_id": rec.external_id,
                                                 "clerk_user_id": rec.clerk_user_id, "code": code,
                                                 "message": first_line(exc)})
                    else:
                        st["done"] += 1
                        self._record([(rec.row_no, rec.clerk_user_id, "done", None, None)])
                except Exception as exc:  # noqa: BLE001 - the journal cannot be written: stop
                    errors.append(exc)
                    self._stop.set()
                finally:
                    st["in_flight"] -= 1
                self._emit(snapshot())

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        try:
            for page in _pages(self.journal):
                for rec in page:
                    if self._stop.is_set() or errors:
                        break
                    await queue.put(rec)
                if self._stop.is_set() or errors:
                    break
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if errors:
            raise errors[0]
        remaining = max(0, total - st["done"] - st["gone"] - st["failed"])
        if stop_reason:
            exit_code, reason = 2, "unauthorized"
            message = f"Clerk refused the key ({stop_reason[0]}): nothing more was changed; run unmark again with a valid key"
        elif remaining and self._stop.is_set():
            exit_code, reason = 130, "stopped"
            message = f"stopped: {remaining} user(s) left; run unmark again to continue"
        elif st["failed"]:
            exit_code, reason = 1, None
            message = f"{st['failed']} user(s) still carry the marker; run unmark again to retry them"
        else:
            exit_code, reason, message = 0, None, None
        self.journal.add_event("unmark", f"unmark: {st['done']} done, {st['gone']} gone, {st['failed']} failed, "
                               f"{remaining} left")
        self.journal.set_meta("unmark_last", {"at": time.time(), "done": st["done"], "gone": st["gone"],
                                              "failed": st["failed"], "remaining": remaining, "exit_code": exit_code})
        self._emit(snapshot("stopped" if reason else "done", message or ""), force=True)
        return UnmarkResult(
            to_unmark=total, done=st["done"], gone=st["gone"], failed=st["failed"], remaining=remaining,
            already_done=already, not_unmarked=not_unmarked, requests=budget.requests - base_requests,
            rate_limited=budget.rate_limited - base_limited, duration_s=round(time.monotonic() - started, 3),
            exit_code=exit_code, stop_reason=reason, message=message,
        )


def unmark_plan(journal: RunJournal, settings: Any, **kw: Any) -> UnmarkPlan:
    return Unmarker(journal, settings, **kw).plan()


async def unmark_run(journal: RunJournal, settings: Any, **kw: Any) -> UnmarkResult:
    return await Unmarker(journal, settings, **kw).run()


# ----------------------------------------------------------------------------- the job
@dataclass
class UnmarkOptions:
    rate: float | None = None
    timeout: float = 30.0


@register_job
class UnmarkJob(BaseJob):
    """Remove the run markers (Unmarker.run). The plan and the operator's confirmation come
    before the job (the faces ask); the job changes the users."""

    kind = "unmark"
    Options = UnmarkOptions
    snapshot_type = UnmarkProgress
    snapshot_tag = "unmark_progress"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._unmarker: Unmarker | None = None

    def _stop_target(self) -> None:
        with self._lock:
            unmarker = self._unmarker
        if unmarker is not None:
            unmarker.stop()

    async def _run(self) -> JobResult:
        async with self.opened() as journal:
            o = self.options
            unmarker = Unmarker(journal, self.settings, rate=o.rate, timeout=o.timeout, on_progress=self._publish,
                                progress_interval_s=PANEL_INTERVAL_S, **self.engine)
            with self._lock:
                self._unmarker = unmarker
                if self._want_stop:
                    unmarker.stop()
            result = await unmarker.run()
        return JobResult(result.exit_code, result.message, result.stop_reason,
                         {"run": str(self.run_dir), **result.as_dict()}, self.kind)


__all__ = ["UNMARK_TABLE", "UnmarkJob", "UnmarkOptions", "UnmarkPlan", "UnmarkProgress", "UnmarkResult", "Unmarker",
           "unmark_plan", "unmark_run", "unmarked_count"]
