"""What the console shows about a run: a plain read of its folder, done in a
thread (each call opens its own read-only connection, as docs/engine.md asks).

Nothing here imports Textual and nothing here decides a rule of the migration:
the state of the run, its figures and what they mean come from the engine's
`RunStatus` (console/migration/status.py: the journal, the heartbeat, the lock;
`RunFigures`), the failure groups from `RunJournal.failures_by_code`, the
policies from `run_policies`. The rail's marks are `status.step_mark`, the
Import plan's resume check `blockers.resume_problem`, the Failures detail's body
`feed.sent_body`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.migration.blockers import resume_problem  # noqa: F401 - the Import and Sync plans' check
from console.migration.journal import CodeCount, RowRecord, RunInfo, RunJournal, is_run_folder
from console.migration.status import MAP_NAME, RunFigures, RunStatus, read_status
from console.source.model import Policies

__all__ = ["FolderHoldings", "MAP_NAME", "RowPage", "RunView", "duration", "read_failed_page", "read_folder",
           "read_rows", "read_run", "resume_problem", "set_row_fix"]


@dataclass
class RunView:
    """The run folder read once: its RunStatus (state, pid, controller, the figures), its
    info, its failure groups and policies. The live job is ConsoleState.job."""

    run_dir: Path
    info: RunInfo
    status: RunStatus
    failures: list[CodeCount] = field(default_factory=list)
    policies: Policies | None = None  # the policies the run was made with (run_policies)

    @property
    def figures(self) -> RunFigures:
        assert self.status.figures is not None
        return self.status.figures

    # the figures the panes show, as the engine reads them
    counts = property(lambda self: self.figures.counts)
    rows = property(lambda self: self.figures.rows)
    importable = property(lambda self: self.figures.importable)
    to_send = property(lambda self: self.figures.to_send)
    in_clerk = property(lambda self: self.figures.in_clerk)
    failed = property(lambda self: self.figures.failed)
    retryable = property(lambda self: self.figures.retryable)
    sessions = property(lambda self: self.figures.sessions)
    verify_last = property(lambda self: self.figures.verify_last)
    undone = property(lambda self: self.figures.undone)
    map_written = property(lambda self: self.figures.map_written)
    import_finished = property(lambda self: self.figures.import_finished)

    @property
    def busy_elsewhere(self) -> bool:
        """A session works on the run (a worker, or a foreground `import` in a terminal)."""
        return self.status.active


def read_run(run_dir: Path) -> RunView | None:
    """The run folder as a RunView, or None when `run_dir` holds no run."""
    if not is_run_folder(run_dir):
        return None
    from console.migration.run import run_policies

    with RunJournal.open(run_dir, readonly=True) as journal:
        return RunView(
            run_dir=Path(run_dir),
            info=journal.info,
            status=read_status(run_dir, details=False, journal=journal),
            failures=journal.failures_by_code("failed"),
            policies=run_policies(journal),
        )


@dataclass(frozen=True)
class RowPage:
    """One page of the Failures table: the rows, whether more follow (`more`) and whether
    rows come before them (`earlier`)."""

    rows: list[RowRecord]
    total: int
    more: bool
    earlier: bool = False


def read_failed_page(
    run_dir: Path, *, code: str | None, search: str | None, after_row: int | None, size: int,
    before_row: int | None = None, last: bool = False,
) -> RowPage:
    """Failed rows of one code (every code when None), a keyset page (never OFFSET): the
    page after `after_row` (the first page: None), or the page before `before_row`, or the
    `last` page. A page backwards that reaches the first row is the first page (full)."""
    search = search or None
    with RunJournal.open(run_dir, readonly=True) as journal:
        def page_from(after: int | None) -> tuple[list[RowRecord], bool, bool]:
            rows = journal.rows(status="failed", code=code, search=search, after_row=after, limit=size + 1)
            earlier = after is not None and bool(rows) and bool(
                journal.rows(status="failed", code=code, search=search, before_row=rows[0].row_no, descending=True,
                             limit=1))
            return rows[:size], len(rows) > size, earlier

        if last or before_row is not None:
            back = journal.rows(status="failed", code=code, search=search, before_row=before_row, descending=True,
                                limit=size + 1)
            if len(back) > size:
                rows, earlier = back[:size][::-1], True
                more = before_row is not None and bool(
                    journal.rows(status="failed", code=code, search=search, after_row=rows[-1].row_no, limit=1))
            else:  # back at the start: the first page
                rows, more, earlier = page_from(None)
        else:
            rows, more, earlier = page_from(after_row)
        total = journal.count_rows(status="failed", code=code, search=search)
    return RowPage(rows, total, more, earlier)


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


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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
