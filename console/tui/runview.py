"""What the console shows about a run: a plain read of the journal and of what
works on it now (RunStatus), and which of the last four steps is done, open or
blocked.

Nothing here imports Textual (the state module reads it) and nothing here
decides a rule of the migration: counts and groups come from the journal
(`RunJournal.counts`, `failures_by_code`, `count_retryable`), the pace from the
request budget, the guards from `console.migration.run`. Reads happen in
whatever thread calls `read_run` (the console calls it from thread workers);
each call opens its own read-only connection, as docs/engine.md asks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from console.migration.journal import CodeCount, RowRecord, RunInfo, RunJournal, is_run_folder
from console.source.model import Policies

if TYPE_CHECKING:
    from console.settings import Settings
    from console.tui.state import ConsoleState, StepStatus

MAP_NAME = "id-map.csv"  # the id map's default file name in the run folder
SECRET_FIELDS = frozenset({"password", "password_digest"})


@dataclass
class RunView:
    """The run as the journal tells it, and what works on it now (RunStatus: the
    worker's heartbeat and the lock). A plain read: the live job is ConsoleState.job."""

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
    status: Any = None  # console.migration.status.RunStatus: running / paused / dead / …, pid, controller

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
    def import_finished(self) -> bool:
        """Every importable row settled (created, existed or failed)."""
        return self.info.rows_loaded and self.to_send == 0 and self.sessions > 0

    @property
    def busy_elsewhere(self) -> bool:
        """A session works on the run (a worker, or a foreground `import` in a terminal)."""
        return self.status is not None and self.status.active


def read_run(run_dir: Path) -> RunView | None:
    """The run folder's journal as a RunView, or None when `run_dir` holds no run."""
    if not is_run_folder(run_dir):
        return None
    from console.migration.run import run_policies
    from console.migration.undo import undone_count
    from console.migration.verify import last_report

    from console.migration.status import read_status

    with RunJournal.open(run_dir, readonly=True) as journal:
        sessions = journal.sessions()
        status = read_status(run_dir, details=False, journal=journal)
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
            status=status,
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
    """The operator's overrides for one row (journal.set_fix checks the fields), taken
    under the run's lock: never while a retry (in this console, another one, or the CLI)
    sends the rows. RunRefused (code busy) names who holds the run."""
    from console.migration.run import run_lock

    with run_lock(run_dir, "fix"), RunJournal.open(run_dir) as journal:
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

    run: RunView | None = state.run
    job = state.job
    live = job is not None and job.active
    if step == "import":
        if live and job.kind in ("import", "retry"):
            if job.phase == "preparing":
                return StepStatus("open", "writing the journal…" if job.preparing_rows else "checking…")
            p = job.snapshot
            total = getattr(p, "total", 0)
            # in steps of 10%: the rail re-renders when its words change
            done = f"{100 * p.done // total // 10 * 10}%" if total else "starting"
            return StepStatus("open", f"{job.kind} {done}")
        if run is not None:
            if not run.info.rows_loaded:
                return StepStatus("open", "journal not loaded")
            if run.status is not None and run.status.state == "dead":
                return StepStatus("open", "resume: a session died")
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
    if live and job.kind in ("import", "retry"):
        failed = getattr(job.snapshot, "failed", None)
        failed = run.failed if failed is None and run is not None else failed or 0
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
        if live and job.kind == "verify":
            return StepStatus("open", "verifying…")
        if run.undone:
            # the users this run created are (partly) gone: an earlier verification says nothing now
            return StepStatus("blocked", f"{run.undone:,} undone")
        last = run.verify_last
        if last is not None:
            if not last.get("complete", True):
                return StepStatus("open", "stopped early")
            if last.get("ok"):
                return StepStatus("done", f"{last.get('checked', 0):,} match")
            return StepStatus("open", "differences found")
        return StepStatus("open", "read users back")
    if step == "finish":
        if live and job.kind == "undo":
            return StepStatus("open", "undoing…")
        if run.undone:
            return StepStatus("done", f"{run.undone:,} undone")
        if run.map_written or state.map_written:
            return StepStatus("done", "map written")
        return StepStatus("open", "id map, SQL, app")
    return StepStatus("blocked", "")


# -- a plain console's run folder, before the typed word (issue 15 item 1) -------------
@dataclass(frozen=True)
class FolderHoldings:
    """What the folder named in Import holds: `free` (nothing there yet), `run` (a run of
    the loaded export: a resume), `other_export` (a run of another export), `not_a_run`
    (a file, or a folder of other files). `reason`: the engine's words for a refusal."""

    path: Path
    what: str
    view: RunView | None = None
    reason: str = ""


def read_folder(path: Path, export: Path | None) -> FolderHoldings:
    """Look at a folder before anything is written there (reads the export's sha256 for a run)."""
    from console.migration.run import RunRefused, check_same_export

    path = Path(path)
    if not path.exists():
        return FolderHoldings(path, "free")
    if not path.is_dir():
        return FolderHoldings(path, "not_a_run", reason=f"{path} is a file, not a folder: choose a new folder")
    if not is_run_folder(path):
        if any(path.iterdir()):
            return FolderHoldings(path, "not_a_run",
                                  reason=f"{path} holds other files and no run journal: choose a new folder")
        return FolderHoldings(path, "free")
    view = read_run(path)
    if export is not None:
        with RunJournal.open(path, readonly=True) as journal:
            try:
                check_same_export(journal, export)
            except RunRefused as exc:
                words = (f"this folder belongs to another export ({journal.info.export_path}): choose a new "
                         "folder, or open that run" if exc.code == "export_changed" else exc.message)
                return FolderHoldings(path, "other_export", view, words)
    return FolderHoldings(path, "run", view)
