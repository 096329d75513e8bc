"""What the console's screens share: one plain object, owned by the app.

Screens read it and ask the app to change it; workers never touch it from
their threads (they post messages, and the handler on the event loop writes
here). Nothing in this module imports Textual, so it can be tested and reused
as is. The business rules themselves (what a row's issues are, whether the
Development cap applies) come from the engine's `ValidationReport`; this file
only decides which step of the console is done, open or blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from console.settings import SecretKey, Settings
from console.source.model import Issue, Policies

if TYPE_CHECKING:  # the reader lands in console.source; only its shape is needed here
    from console.source import ValidationReport

StepId = Literal["setup", "load", "review", "import", "failures", "verify", "sync", "finish"]
StepMark = Literal["done", "open", "blocked"]

STEP_ORDER: tuple[StepId, ...] = ("setup", "load", "review", "import", "failures", "verify", "sync", "finish")
STEP_TITLES: dict[StepId, str] = {
    "setup": "Setup",
    "load": "Load",
    "review": "Review",
    "import": "Import",
    "failures": "Failures",
    "verify": "Verify",
    "sync": "Sync",  # a later export, for the cut-over (issue 14 §2)
    "finish": "Finish",
}

from console.settings import DEV_USER_CAP  # noqa: E402 - the one number (the engine corrects it: migration/devcap.py)


@dataclass(frozen=True)
class KeyChoice:
    """A key the operator may pick without pasting it (the demo offers two)."""

    label: str
    key: SecretKey


@dataclass
class LiveCheck:
    status: Literal["idle", "checking", "ok", "failed", "unavailable"] = "idle"
    user_count: int | None = None
    latency_ms: float | None = None
    message: str = ""


@dataclass
class LoadState:
    # "missing": a reopened run's export is no longer where its journal says
    status: Literal["idle", "detecting", "needs_mapping", "loading", "loaded", "failed", "missing"] = "idle"
    path: Path | None = None
    format: str | None = None
    shape: str | None = None
    columns: list[str] = field(default_factory=list)
    size_bytes: int = 0
    rows: int = 0
    bytes_read: int = 0
    elapsed_s: float = 0.0
    mapping: dict[str, str] | None = None
    accounts: Path | None = None  # the Auth.js accounts file read beside the export (OAuth providers)
    error: str | None = None

    @property
    def mb_per_s(self) -> float:
        return self.bytes_read / 1e6 / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class StepStatus:
    mark: StepMark
    reason: str = ""  # why it is blocked, or what is left to do; short (the rail is narrow)


class IssueIndex:
    """Positions of a report's issues by code and by row, built once (in the
    load worker's thread) so that paging and row detail never rescan the list."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        self.by_code: dict[str, list[int]] = {}
        self.by_row: dict[int, list[int]] = {}
        for position, issue in enumerate(issues):
            self.by_code.setdefault(issue.code, []).append(position)
            self.by_row.setdefault(issue.row, []).append(position)

    def example(self, code: str) -> Issue | None:
        positions = self.by_code.get(code)
        return self.issues[positions[0]] if positions else None

    def page(self, code: str | None, text: str = "", page: int = 0, size: int = 200) -> tuple[list[Issue], int]:
        """One page of the issues behind `code` (all codes when None) whose row
        number is `text`, or whose external id, email, name, field or message
        contains it; and how many match."""
        positions = self.by_code.get(code, []) if code else range(len(self.issues))
        needle = text.strip().lower()
        start, stop = page * size, (page + 1) * size
        if not needle:
            total = len(positions)
            return [self.issues[p] for p in positions[start:stop]], total
        hits: list[Issue] = []
        total = 0
        for p in positions:
            issue = self.issues[p]
            if (
                needle in (issue.external_id or "").lower()
                or needle in (getattr(issue, "email", None) or "").lower()
                or needle in (getattr(issue, "name", None) or "").lower()
                or needle in issue.message.lower()
                or needle in issue.field.lower()
                or needle == str(issue.row)
            ):
                if start <= total < stop:
                    hits.append(issue)
                total += 1
        return hits, total

    def of_row(self, row: int) -> list[Issue]:
        return [self.issues[p] for p in self.by_row.get(row, [])]


@dataclass
class ConsoleState:
    settings: Settings
    key_choices: list[KeyChoice] = field(default_factory=list)
    run_dir: Path | None = None
    suggested_export: Path | None = None
    demo: bool = False
    url_label: str | None = None  # shown instead of the base URL (fixed text for snapshots)
    live: LiveCheck = field(default_factory=LiveCheck)
    load: LoadState = field(default_factory=LoadState)
    report: ValidationReport | None = None
    report_instance_kind: str | None = None  # the instance kind the report's blockers were computed for
    previous_counts: dict[str, int] | None = None  # before the last policy change, to show its effect
    issue_index: IssueIndex | None = None
    policies: Policies = field(default_factory=Policies)
    review_confirmed: bool = False
    current: StepId = "setup"
    notes: list[str] = field(default_factory=list)
    run: Any = None  # part 2: the run folder's journal view (console/tui/runview.py RunView), None before a run
    job: Any = None  # the job working on the run, as its worker reports it (console/tui/jobs.py JobView)
    results: dict[str, Any] = field(default_factory=dict)  # the last JobResult of each kind seen here
    map_written: bool = False  # the id map was written from this console (to any path)
    folder_holds: Any = None  # plain console: what the Import step's run folder holds (FolderHoldings)
    run_export: Path | None = None  # a reopened run's export, as its journal names it
    # issue 13: the export against the instance's own settings (console/migration/preflight.py)
    readiness: Any = None  # the preflight's Readiness for the loaded report
    readiness_status: Literal["idle", "checking", "done", "failed"] = "idle"
    readiness_error: str = ""
    legal: str | None = None  # the legal-consent policy chosen in Review: "skip" | "column:NAME" | None

    # -- what the steps need -------------------------------------------------
    @property
    def instance_kind(self) -> str | None:
        return self.settings.instance_kind

    @property
    def has_key(self) -> bool:
        return self.settings.secret_key is not None and self.instance_kind is not None

    def set_key(self, key: SecretKey, source: str) -> None:
        self.settings = self.settings.with_key(key, source)  # type: ignore[arg-type]
        self.live = LiveCheck()

    def set_allow_dev_import(self, allow: bool) -> None:
        self.settings = replace(self.settings, allow_dev_import=allow)

    def report_counts(self) -> dict[str, int] | None:
        r = self.report
        if r is None:
            return None
        return {
            "rows": r.rows,
            "importable": r.importable,
            "refused": r.refused,
            "warned": r.warned,
            "unverified": r.unverified,
            "unverified_with_oauth": r.unverified_with_oauth,
        }

    def report_is_stale(self) -> bool:
        """The key changed since the report's blockers were computed."""
        return self.report is not None and self.report_instance_kind != self.instance_kind

    def import_blockers(self) -> list[tuple[str, str]]:
        """Why an import cannot start yet, as (a few words for the rail, the
        full sentence), in the order the operator fixes them. The rules come
        from the settings and the engine's report; this only gathers them."""
        reasons: list[tuple[str, str]] = []
        if not self.has_key:
            reasons.append(("no key yet", "no key: choose or paste one in Setup"))
        elif self.live.status == "failed":
            reasons.append(("live check failed", f"the live check failed: {self.live.message}"))
        if self.report is None:
            reasons.append(("no export yet", "no export loaded: open one in Load"))
            return reasons
        if self.has_key:  # the key's guards, as the engine asks them (Development without the flag, ...)
            from console.migration.blockers import local_blockers

            for guard in local_blockers(None, self.settings, kind="import", confirmed_production=True):
                words = guard.message + ("; or turn on the switch in Setup" if guard.code == "dev_not_allowed" else "")
                reasons.append((guard.short, words))
        for blocker in self.report.blockers:
            short = "over the dev cap" if "cap" in blocker.code else blocker.code.replace("_", " ")
            reasons.append((short, blocker.message))
        if self.report.importable == 0:
            reasons.append(("nothing importable", "no row of the export can be imported"))
        if self.readiness_status == "failed":
            reasons.append(("settings unreadable", f"the instance's settings cannot be read: {self.readiness_error}"))
        elif self.readiness is not None and any(b["code"] == "legal_policy_missing" for b in self.readiness.blockers):
            reasons.append(("legal consent", "the instance requires legal consent: choose how in Review "
                            "(Readiness tab): skip the legal checks, or a column with the date each user accepted"))
        return reasons

    def step_status(self, step: StepId) -> StepStatus:
        if step == "setup":
            if not self.has_key:
                return StepStatus("open", "choose a key")
            if self.live.status == "failed":
                return StepStatus("blocked", "live check failed")
            return StepStatus("done", self.instance_kind or "")
        if step == "load":
            if self.load.status == "loaded" and self.report is not None:
                return StepStatus("done", f"{self.report.rows:,} rows")
            if self.load.status == "failed":
                return StepStatus("open", "unreadable file")
            if self.load.status == "missing":
                return StepStatus("open", "export not found")
            if self.load.status in ("detecting", "loading"):
                return StepStatus("open", "loading…")
            if self.load.status == "needs_mapping":
                return StepStatus("open", "map the columns")
            return StepStatus("open", "open an export")
        if step == "review":
            if self.report is None:
                return StepStatus("blocked", "export not found" if self.load.status == "missing" else "load an export")
            if self.review_confirmed:
                return StepStatus("done", f"{self.report.importable:,} importable")
            return StepStatus("open", "check the issues")
        if step == "sync":  # status.step_mark does not know Sync yet (console/tui/sync_step.py)
            from console.tui.sync_step import sync_step_status

            return sync_step_status(self)
        # Import, Failures, Verify, Finish: the engine's rules (status.step_mark) on the run's
        # figures, its state, and the job working on it
        from console.migration.status import step_mark

        run = self.run
        mark = step_mark(step, run.figures if run is not None else None,
                         state=run.status.state if run is not None else None, live=self.job,
                         import_blockers=self.import_blockers() if step == "import" else (),
                         map_written=self.map_written)
        return StepStatus(mark.mark, mark.reason)  # type: ignore[arg-type]

    def statuses(self) -> dict[StepId, StepStatus]:
        return {step: self.step_status(step) for step in STEP_ORDER}


def counts_delta(before: dict[str, Any] | None, after: dict[str, Any] | None, key: str) -> int | None:
    if not before or not after or key not in before or key not in after:
        return None
    return int(after[key]) - int(before[key])
