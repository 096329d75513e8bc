"""What the console shows about a run: a plain snapshot of the journal, the live
session's figures, and which of the last four steps is done, open or blocked.

Nothing here imports Textual (the state module reads it) and nothing here
decides a rule of the migration: counts and groups come from the journal
(`RunJournal.counts`, `failures_by_code`, `count_retryable`), the pace from the
request budget, the guards from `console.migration.run`. Reads happen in
whatever thread calls `read_run` (the console calls it from thread workers);
each call opens its own read-only connection, as docs/engine.md asks.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal

from console.migration.journal import CodeCount, RowRecord, RunInfo, RunJournal, is_run_folder
from console.migration.progress import Progress
from console.source.model import Policies

if TYPE_CHECKING:
    from console.settings import Settings
    from console.tui.state import ConsoleState, StepStatus

SessionState = Literal["idle", "preparing", "running", "stopping"]
MAP_NAME = "id-map.csv"  # the id map's default file name in the run folder
RATE_HISTORY = 240  # samples of the created/s sparkline (one a second: four minutes)
SECRET_FIELDS = frozenset({"password", "password_digest"})


@dataclass
class RunView:
    """The run as the journal tells it, plus the session the console is running."""

    run_dir: Path
    info: RunInfo
    counts: dict[str, int]
    failures: list[CodeCount] = field(default_factory=list)
    retryable: int = 0
    sessions: int = 0
    last_outcome: str | None = None  # the last session's outcome ("done", "stopped", …)
    verify_last: dict[str, Any] | None = None  # the last verification's summary (journal meta)
    undone: int = 0  # users of this run that undo deleted
    map_written: bool = False  # DIR/id-map.csv (the Finish step's default name) exists
    policies: Policies | None = None  # the policies the run was made with (run_policies)
    # the live session (set by the console's session controller)
    session: SessionState = "idle"
    kind: str | None = None  # "import" | "retry"
    progress: Progress | None = None
    preparing_rows: int = 0  # rows written to a new journal while it is created
    rate_history: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_HISTORY))
    last_second: int = -1
    result_code: int | None = None  # the last session's exit code (cli-contract.md)
    result_message: str | None = None
    # later steps keep their own figures here (verify summary, files written)
    extras: dict[str, Any] = field(default_factory=dict)

    # -- figures, all from the journal's counts ---------------------------------
    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def importable(self) -> int:
        return self.rows - self.counts.get("refused", 0)

    @property
    def to_send(self) -> int:
        """Rows still needing a session: pending, and creating (looked up first)."""
        return self.counts.get("pending", 0) + self.counts.get("creating", 0)

    @property
    def in_clerk(self) -> int:
        return self.counts.get("created", 0) + self.counts.get("existed", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def running(self) -> bool:
        return self.session != "idle"

    @property
    def import_finished(self) -> bool:
        """Every importable row settled (created, existed or failed)."""
        return self.info.rows_loaded and self.to_send == 0 and self.sessions > 0

    def take_progress(self, progress: Progress) -> None:
        """Keep the latest snapshot, and one created/s sample per second of the session."""
        self.progress = progress
        second = int(progress.elapsed_s)
        if second != self.last_second:
            self.last_second = second
            self.rate_history.append(progress.rate_now)

    def refreshed(self, fresh: "RunView") -> "RunView":
        """The journal's new figures with this view's live session kept."""
        return dataclasses.replace(
            fresh,
            session=self.session,
            kind=self.kind,
            progress=self.progress,
            preparing_rows=self.preparing_rows,
            rate_history=self.rate_history,
            last_second=self.last_second,
            result_code=self.result_code,
            result_message=self.result_message,
            extras=self.extras,
        )


def read_run(run_dir: Path) -> RunView | None:
    """The run folder's journal as a RunView, or None when `run_dir` holds no run."""
    if not is_run_folder(run_dir):
        return None
    from console.migration.run import run_policies
    from console.migration.undo import undone_count
    from console.migration.verify import last_report

    with RunJournal.open(run_dir, readonly=True) as journal:
        sessions = journal.sessions()
        return RunView(
            run_dir=Path(run_dir),
            info=journal.info,
            counts=journal.counts(),
            failures=journal.failures_by_code("failed"),
            retryable=journal.count_retryable(),
            sessions=len(sessions),
            last_outcome=sessions[-1].get("outcome") if sessions else None,
            verify_last=last_report(journal),
            undone=undone_count(journal),
            map_written=(Path(run_dir) / MAP_NAME).is_file(),
            policies=run_policies(journal),
        )


@dataclass(frozen=True)
class RowPage:
    """One page of the Failures table: the rows, and whether more follow."""

    rows: list[RowRecord]
    total: int
    more: bool


def read_failed_page(
    run_dir: Path, *, code: str | None, search: str | None, after_row: int | None, size: int
) -> RowPage:
    """Failed rows of one code (every code when None), a keyset page after `after_row`."""
    with RunJournal.open(run_dir, readonly=True) as journal:
        rows = journal.rows(status="failed", code=code, search=search or None, after_row=after_row, limit=size + 1)
        total = journal.count_rows(status="failed", code=code, search=search or None)
    return RowPage(rows[:size], total, len(rows) > size)


def read_rows(run_dir: Path, row_nos: list[int]) -> list[RowRecord]:
    """The current records of the given rows (a page the operator is looking at)."""
    with RunJournal.open(run_dir, readonly=True) as journal:
        out = []
        for row_no in row_nos:
            rec = journal.get_row(row_no)
            if rec is not None:
                out.append(rec)
        return out


def set_row_fix(run_dir: Path, row_no: int, fields: dict[str, Any] | None) -> RowRecord:
    """The operator's overrides for one row (journal.set_fix checks the fields)."""
    with RunJournal.open(run_dir) as journal:
        return journal.set_fix(row_no, fields)


def sent_body(run_dir: Path, row_no: int) -> dict[str, Any] | None:
    """The create body the importer sends for this row, secrets masked: the engine's
    (`console.migration.feed.sent_body`, the one place bodies are made). Kept here until the
    Failures detail calls the engine directly."""
    from console.migration.feed import sent_body as engine_sent_body

    return engine_sent_body(run_dir, row_no)


def mask_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """The body with every password and digest replaced by a word about it (the engine's)."""
    from console.migration.feed import mask_secrets as engine_mask_secrets

    return engine_mask_secrets(body)


def pace_of(kind: str | None, rate: float | None = None) -> float:
    """Requests per second the run's budget aims at (docs/clerk-client.md)."""
    from console.clerk.limiter import RequestBudget

    return RequestBudget.for_instance(kind, rate=rate).target_rate


def resume_problem(view: RunView, settings: "Settings") -> str | None:
    """Why the current key cannot carry this run on (None when it can): the
    engine's own checks, without the Production confirmation (asked apart)."""
    from console.migration.run import RunRefused, check_key_guards, check_same_instance

    if settings.secret_key is None:
        return f"this run was made with {view.info.key_masked}: choose or paste that key in Setup"
    try:
        check_key_guards(settings, confirmed_production=True)
        # check_same_instance reads only the journal's info and run_dir
        check_same_instance(SimpleNamespace(info=view.info, run_dir=view.run_dir), settings)  # type: ignore[arg-type]
    except RunRefused as exc:
        return exc.message
    return None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# -- the rail's marks for the four steps of part 2 ------------------------------
def part2_step_status(state: "ConsoleState", step: str) -> "StepStatus":
    from console.tui.state import StepStatus

    run: RunView | None = getattr(state, "run", None)
    if step == "import":
        if run is not None:
            if run.running:
                p = run.progress
                if run.session == "preparing":
                    return StepStatus("open", "writing the journal…")
                # in steps of 10%: the rail re-renders when its words change
                done = f"{100 * p.done // p.total // 10 * 10}%" if p and p.total else "starting"
                return StepStatus("open", f"{run.kind or 'import'} {done}")
            if not run.info.rows_loaded:
                return StepStatus("open", "journal not loaded")
            if run.to_send:
                return StepStatus("open", f"{run.to_send:,} to send")
            if run.sessions:
                if run.undone:
                    return StepStatus("done", f"{run.undone:,} undone")
                return StepStatus("done", f"{run.in_clerk:,} in Clerk")
        blockers = state.import_blockers()
        if blockers:
            return StepStatus("blocked", blockers[0][0])
        return StepStatus("open", "ready")
    if run is not None and run.running:
        failed = run.progress.failed if run.progress is not None else run.failed
        if step == "failures" and failed:
            return StepStatus("open", f"{failed:,} so far")
        return StepStatus("blocked", "after the import")
    if run is None or not run.sessions:
        return StepStatus("blocked", "after an import")
    if step == "failures":
        if run.failed:
            return StepStatus("open", f"{run.failed:,} failed")
        if run.to_send:
            return StepStatus("open", "none yet")
        return StepStatus("done", "none")
    if not run.import_finished:
        return StepStatus("blocked", "after the import")
    if step == "verify":
        last = run.verify_last
        if last is not None:
            if not last.get("complete", True):
                return StepStatus("open", "stopped early")
            if last.get("ok"):
                return StepStatus("done", f"{last.get('checked', 0):,} match")
            return StepStatus("open", "differences found")
        return StepStatus("open", "read users back")
    if step == "finish":
        if run.undone:
            return StepStatus("done", f"{run.undone:,} undone")
        written = run.extras.get("finish") or ("map written" if run.map_written else None)
        if written:
            return StepStatus("done", str(written))
        return StepStatus("open", "id map, SQL, app")
    return StepStatus("blocked", "")
