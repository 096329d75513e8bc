"""Jobs: one protocol for every long piece of work on a run folder.

    job = make_job(JobSpec("import", run_dir, {"rate": 90}), settings)
    result = await job.run()          # JobResult(exit_code, message, stop_reason, summary)
    job.snapshot()                    # the latest typed progress snapshot (replaced, never queued)
    job.pause(); job.resume(); job.stop()   # thread-safe

The CLI, the console and the worker (worker.py) drive every job the same way.
Import, retry, verify and undo are jobs today, as adapters over the engine's
public API (`Importer`, `verify_run`, `Undoer`); a job opens its own journal
in `run()` and closes it at the end, so a job is described completely by its
`JobSpec` (kind + JSON options) and the settings (the key), which is what lets
a worker process run it.

`run()` never raises for the operator: a guard, a changed export, an
unreadable file or a refusal from Clerk come back as a JobResult with exit code
2, `stop_reason="refused"` and `summary={"error": code}`; only a bug raises.

Adding a job (sync, unmark, ...): one class deriving from `BaseJob` with a
`kind`, an `Options` dataclass and `_run()`, decorated with `@register_job`;
its snapshot class (a dataclass) is registered by the same decorator so that
snapshots cross the process boundary (`snapshot_to_json` / `snapshot_from_json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from console.migration.errors import MigrationError, as_migration_error
from console.migration.progress import Progress

EXIT_STOPPED = 130


# ----------------------------------------------------------------------------- results and specs
@dataclass(frozen=True)
class JobResult:
    exit_code: int  # cli-contract.md: 0 done, 1 some failed / mismatched, 2 refused, 130 stopped
    message: str | None = None  # one line for the operator (None: nothing to add)
    stop_reason: str | None = None  # None, "stopped", "refused", "unauthorized", "quota", ...
    summary: dict[str, Any] = field(default_factory=dict)  # the command's --json object
    kind: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JobResult":
        return cls(
            exit_code=int(data.get("exit_code", 70)),
            message=data.get("message"),
            stop_reason=data.get("stop_reason"),
            summary=dict(data.get("summary") or {}),
            kind=str(data.get("kind") or ""),
        )


@dataclass(frozen=True)
class JobSpec:
    """What to run: the job's kind, its run folder and its options (JSON values only).
    Never the key: that travels apart (the settings), and never in argv."""

    kind: str
    run_dir: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_dir": self.run_dir, "options": self.options}

    @classmethod
    def from_json(cls, data: Any) -> "JobSpec":
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or not isinstance(data.get("run_dir"), str):
            raise MigrationError("a job spec needs a kind and a run folder", 2, "bad_spec")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise MigrationError("a job spec's options must be an object", 2, "bad_spec")
        return cls(data["kind"], data["run_dir"], options)


# ----------------------------------------------------------------------------- snapshots across processes
SNAPSHOT_TYPES: dict[str, type] = {}


def register_snapshot(tag: str, cls: type) -> type:
    """A dataclass snapshot type that may cross a process boundary under `tag`."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    known = SNAPSHOT_TYPES.get(tag)
    if known is not None and known is not cls:
        raise ValueError(f"snapshot tag {tag!r} is taken by {known.__name__}")
    SNAPSHOT_TYPES[tag] = cls
    return cls


def _tag_of(snapshot: Any) -> str:
    for tag, cls in SNAPSHOT_TYPES.items():
        if type(snapshot) is cls:
            return tag
    raise TypeError(f"{type(snapshot).__name__} is not a registered snapshot type")


def snapshot_to_json(snapshot: Any) -> dict[str, Any]:
    """{"kind": tag, **fields}: JSON values only (tuples become lists)."""
    out: dict[str, Any] = {"kind": _tag_of(snapshot)}
    for f in dataclasses.fields(snapshot):
        value = getattr(snapshot, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def snapshot_from_json(data: dict[str, Any]) -> Any:
    """The typed snapshot back; unknown fields (a newer worker) are ignored, missing ones
    take their defaults. ValueError for an unknown kind."""
    cls = SNAPSHOT_TYPES.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"unknown snapshot kind {data.get('kind')!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, list) and "tuple" in str(f.type):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


register_snapshot("progress", Progress)


# ----------------------------------------------------------------------------- the protocol
@runtime_checkable
class Job(Protocol):
    kind: str
    can_pause: bool

    async def run(self) -> JobResult: ...

    def snapshot(self) -> Any | None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None: ...


SnapshotCallback = Callable[[Any], None]


class _StoppedBeforeStart(Exception):
    pass


class BaseJob:
    """The plumbing every job shares: options, the requested controls (kept until the
    engine object exists, then handed to it), the refusal -> JobResult mapping."""

    kind: ClassVar[str] = ""
    writes: ClassVar[bool] = True  # writes to Clerk: runs under the run lock, in a worker when detached
    can_pause: ClassVar[bool] = False
    Options: ClassVar[type] = object
    snapshot_type: ClassVar[type | None] = None
    snapshot_tag: ClassVar[str] = ""

    def __init__(
        self,
        run_dir: str | Path,
        settings: Any,
        options: Any = None,
        *,
        on_snapshot: SnapshotCallback | None = None,
        engine: dict[str, Any] | None = None,
        journal: Any = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.given_journal = journal  # an open RunJournal of run_dir to use (the caller closes it)
        self.settings = settings
        if options is None:
            options = self.Options()
        elif isinstance(options, dict):
            options = self.options_from_json(options)
        self.options = options
        self.on_snapshot = on_snapshot
        self.engine = dict(engine or {})  # keywords for the engine object (tests: client=, budget=, ...)
        self._lock = threading.Lock()
        self._want_pause = False
        self._want_stop = False
        self._snapshot: Any = None
        self.started_at: float | None = None

    # -- options -----------------------------------------------------------------
    @classmethod
    def options_from_json(cls, data: dict[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls.Options)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise MigrationError(f"{cls.kind}: unknown option(s) {', '.join(unknown)}", 2, "bad_spec")
        return cls.Options(**data)

    def spec(self) -> JobSpec:
        return JobSpec(self.kind, str(self.run_dir), dataclasses.asdict(self.options))

    # -- controls (any thread) ---------------------------------------------------
    def pause(self) -> None:
        if not self.can_pause:
            raise MigrationError(f"a {self.kind} cannot be paused (stop it instead)", 2, "cannot_pause")
        with self._lock:
            self._want_pause = True
            target = self._target()
        if target is not None:
            target.pause()

    def resume(self) -> None:
        if not self.can_pause:
            return
        with self._lock:
            self._want_pause = False
            target = self._target()
        if target is not None:
            target.resume()

    def stop(self) -> None:
        with self._lock:
            self._want_stop = True
        self._stop_target()

    @property
    def stop_requested(self) -> bool:
        return self._want_stop

    @property
    def pause_requested(self) -> bool:
        return self._want_pause

    def _target(self) -> Any:
        """The engine object that pauses/resumes (None before it exists)."""
        return None

    def _stop_target(self) -> None:
        """Hand a stop to the engine object, if any."""

    # -- snapshots ---------------------------------------------------------------
    def snapshot(self) -> Any | None:
        return self._snapshot

    def _publish(self, snapshot: Any) -> None:
        self._snapshot = snapshot
        if self.on_snapshot is not None:
            try:
                self.on_snapshot(snapshot)
            except Exception:  # noqa: BLE001 - a display never breaks a job
                pass

    # -- the journal ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def opened(self, opener: Callable[[], Any] | None = None) -> AsyncIterator[Any]:
        """The job's journal: the one given to make_job (left open for its owner), else its own,
        opened in a thread (`opener`, default open_run: checked in full) and closed at the end."""
        if self.given_journal is not None:
            yield self.given_journal
            return
        if opener is None:
            from console.migration.run import open_run

            def opener() -> Any:
                return open_run(self.run_dir)

        journal = await asyncio.to_thread(opener)
        try:
            yield journal
        finally:
            journal.close()

    # -- running -----------------------------------------------------------------
    async def run(self) -> JobResult:
        """The whole job; a refusal comes back as a JobResult (exit 2), never raised."""
        self.started_at = time.time()
        try:
            return await self._run()
        except _StoppedBeforeStart:
            return JobResult(EXIT_STOPPED, f"stopped before the {self.kind} started: nothing was sent", "stopped",
                             {"run": str(self.run_dir)}, self.kind)
        except Exception as exc:
            err = as_migration_error(exc)
            if err is None:
                raise
            return JobResult(err.exit_code, err.message, "refused", {"run": str(self.run_dir), "error": err.code},
                             self.kind)

    async def _run(self) -> JobResult:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    async def preflight(cls, run_dir: Path, settings: Any, options: Any) -> None:
        """What must hold before a worker is started for this job (raises MigrationError);
        the job checks it again when it runs. Default: nothing."""


JOBS: dict[str, type[BaseJob]] = {}


def register_job(cls: type[BaseJob]) -> type[BaseJob]:
    """Make `cls` startable by kind (the CLI, the console and the worker look it up here)."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    if cls.snapshot_type is not None and cls.snapshot_tag:
        register_snapshot(cls.snapshot_tag, cls.snapshot_type)
    JOBS[cls.kind] = cls
    return cls


def job_class(kind: str) -> type[BaseJob]:
    cls = JOBS.get(kind)
    if cls is None:
        raise MigrationError(f"no such job: {kind!r} (known: {', '.join(sorted(JOBS))})", 2, "bad_spec")
    return cls


def make_job(spec: JobSpec, settings: Any, *, on_snapshot: SnapshotCallback | None = None,
             engine: dict[str, Any] | None = None, journal: Any = None) -> BaseJob:
    """The job of `spec`. `journal`: an open RunJournal of the run that the job uses instead of
    opening its own (a face that checked the run first: the CLI); the caller closes it."""
    cls = job_class(spec.kind)
    return cls(spec.run_dir, settings, cls.options_from_json(spec.options), on_snapshot=on_snapshot, engine=engine,
               journal=journal)


# ----------------------------------------------------------------------------- import / retry
TUNING = frozenset({"backoff_base_s", "backoff_cap_s", "lookup_wait_s", "progress_interval_s", "dev_user_cap"})


@dataclass
class ImportOptions:
    rate: float | None = None
    concurrency: int = 64
    max_attempts: int = 6
    timeout: float = 30.0
    confirmed_production: bool = False
    headroom: float | None = None  # share of the instance's limit (default 0.9)
    instance_limit: int | None = None  # requests per 10 s, when Clerk raised the instance's limit
    # a new run: the export to load (None: the run's own, checked unchanged)
    export: str | None = None
    policies: dict[str, Any] | None = None
    fmt: str | None = None
    mapping: dict[str, str] | None = None
    accounts: str | None = None  # the Auth.js accounts export read with it (a new run records it)
    # engine knobs (tests shorten them); only the names in TUNING
    tuning: dict[str, float] = field(default_factory=dict)


@dataclass
class RetryOptions(ImportOptions):
    codes: list[str] | None = None
    row_nos: list[int] | None = None


PANEL_INTERVAL_S = 0.25  # the live panel's rate: snapshots more often than this are never seen


@register_job
class ImportJob(BaseJob):
    """Send the run's pending rows (the Importer). A new run folder is created and
    loaded first when `export` is given."""

    kind = "import"
    can_pause = True
    Options = ImportOptions
    snapshot_type = Progress
    snapshot_tag = "progress"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._importer: Any = None
        self._snapshot = Progress(total=0, state="starting")

    def _target(self) -> Any:
        return self._importer

    def _stop_target(self) -> None:
        with self._lock:
            importer = self._importer
        if importer is not None:
            importer.stop()

    def _open(self) -> Any:
        """The journal (in a thread: a new run's load reads the whole export)."""
        from console.migration.run import prepare_run

        o = self.options
        last = [0.0]

        def on_load(rows: int, _read: int, _size: int) -> None:
            if self._want_stop:
                raise _StoppedBeforeStart
            now = time.monotonic()
            if now - last[0] >= PANEL_INTERVAL_S:
                last[0] = now
                self._publish(Progress(total=0, state="loading", message=f"reading the export: {rows} rows"))

        # the choices given (a new run fills the rest from the defaults, a resume from its own)
        policies = dict(o.policies) if o.policies else None
        return prepare_run(
            self.run_dir, o.export, self.settings, policies=policies, fmt=o.fmt, mapping=o.mapping,
            confirmed_production=o.confirmed_production, on_load_progress=on_load,
            run_settings={"rate": o.rate, "concurrency": o.concurrency, "max_attempts": o.max_attempts},
            accounts=o.accounts,
        )

    async def _run(self) -> JobResult:
        from console.migration.importer import Importer

        async with self.opened(self._open) as journal:
            o = self.options
            tuning = {k: v for k, v in (o.tuning or {}).items() if k in TUNING}
            tuning.setdefault("progress_interval_s", PANEL_INTERVAL_S)
            importer = Importer(
                journal, self.settings, rate=o.rate, concurrency=o.concurrency, max_attempts=o.max_attempts,
                timeout=o.timeout, confirmed_production=o.confirmed_production, on_progress=self._publish,
                headroom=o.headroom, instance_limit=o.instance_limit,
                kind=self.kind, **tuning, **self.engine,
            )
            with self._lock:
                self._importer = importer
                if self._want_pause:
                    importer.pause()
                if self._want_stop:
                    importer.stop()
            try:
                result = await self._send(importer)
            finally:
                self._snapshot = importer.progress
            return JobResult(result.exit_code, result.message, result.stop_reason, result.summary, self.kind)

    async def _send(self, importer: Any) -> Any:
        return await importer.run()

    @staticmethod
    def selection(options: Any) -> tuple[list[str] | None, list[int] | None]:
        """The failed rows a retry resets (codes, row numbers); an import resets none."""
        return None, None

    @classmethod
    async def preflight(cls, run_dir: Path, settings: Any, options: Any) -> None:
        """Before a worker starts: blockers.run_blockers (the key's guards, the same instance,
        the export and its accounts file, the Development instance's room: one count)."""
        from console.migration.blockers import run_blockers
        from console.migration.run import open_run

        journal = open_run(run_dir, readonly=True)
        try:
            dev_cap = int((options.tuning or {}).get("dev_user_cap", 0)) or None
            codes, row_nos = cls.selection(options)
            pre = await run_blockers(journal, settings, kind=cls.kind, confirmed_production=options.confirmed_production,
                                     codes=codes, row_nos=row_nos, check_settings=False, dev_cap=dev_cap)
        finally:
            journal.close()
        pre.raise_first()


@register_job
class RetryJob(ImportJob):
    """Failed rows (these rows, these codes, or every retryable one) back to pending, then
    send them. The run was confirmed for Production when import created it."""

    kind = "retry"
    Options = RetryOptions

    def _open(self) -> Any:
        from console.migration.run import open_run

        return open_run(self.run_dir)

    async def _send(self, importer: Any) -> Any:
        o = self.options
        return await importer.retry(codes=o.codes, row_nos=o.row_nos)

    @staticmethod
    def selection(options: Any) -> tuple[list[str] | None, list[int] | None]:
        return options.codes, options.row_nos


# ----------------------------------------------------------------------------- verify
def _verify_progress() -> type:
    from console.migration.verify import VerifyProgress

    return VerifyProgress


def _undo_progress() -> type:
    from console.migration.undo import UndoProgress

    return UndoProgress


@dataclass
class VerifyOptions:
    sample: int | None = None  # None with all=False: the engine's default sample
    all: bool = False
    seed: int | None = None
    rate: float | None = None
    timeout: float = 30.0


@register_job
class VerifyJob(BaseJob):
    """Read the run's users back from Clerk and compare them with the export (verify_run)."""

    kind = "verify"
    writes = False  # reads Clerk; writes only its own tables in the journal
    Options = VerifyOptions
    snapshot_type = _verify_progress()
    snapshot_tag = "verify_progress"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._stop_event = threading.Event()

    def _stop_target(self) -> None:
        self._stop_event.set()

    async def _run(self) -> JobResult:
        from console.migration.verify import DEFAULT_SAMPLE, verify_run

        o = self.options
        async with self.opened() as journal:
            sample = None if o.all else (DEFAULT_SAMPLE if o.sample is None else o.sample)
            report = await verify_run(journal, self.settings, sample=sample, seed=o.seed, rate=o.rate,
                                      timeout=o.timeout, on_progress=self._publish, stop=self._stop_event,
                                      progress_interval_s=PANEL_INTERVAL_S, **self.engine)
        return JobResult(report.exit_code, report.message, None if report.complete else "stopped",
                         {"run": str(self.run_dir), **report.as_json()}, self.kind)


# ----------------------------------------------------------------------------- undo
@dataclass
class UndoOptions:
    rate: float | None = None
    timeout: float = 30.0
    unmarked: bool = False  # also rows an older clerk-migrate created before run markers existed


@register_job
class UndoJob(BaseJob):
    """Delete the users this run created (Undoer.run). The preview and the operator's
    confirmation come before the job (the faces ask); the job deletes."""

    kind = "undo"
    Options = UndoOptions
    snapshot_type = _undo_progress()
    snapshot_tag = "undo_progress"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._undoer: Any = None

    def _stop_target(self) -> None:
        with self._lock:
            undoer = self._undoer
        if undoer is not None:
            undoer.stop()

    async def _run(self) -> JobResult:
        from console.migration.run import run_lock
        from console.migration.undo import Undoer

        async with self.opened() as journal:
            o = self.options
            undoer = Undoer(journal, self.settings, rate=o.rate, timeout=o.timeout, on_progress=self._publish,
                            progress_interval_s=PANEL_INTERVAL_S, include_unmarked=o.unmarked, **self.engine)
            with self._lock:
                self._undoer = undoer
                if self._want_stop:
                    undoer.stop()
            with run_lock(self.run_dir, "undo"):
                result = await undoer.run()
        return JobResult(result.exit_code, result.message, result.stop_reason,
                         {"run": str(self.run_dir), **result.as_dict()}, self.kind)


__all__ = [
    "BaseJob",
    "EXIT_STOPPED",
    "ImportJob",
    "ImportOptions",
    "JOBS",
    "Job",
    "JobResult",
    "JobSpec",
    "RetryJob",
    "RetryOptions",
    "SNAPSHOT_TYPES",
    "UndoJob",
    "UndoOptions",
    "VerifyJob",
    "VerifyOptions",
    "job_class",
    "make_job",
    "register_job",
    "register_snapshot",
    "snapshot_from_json",
    "snapshot_to_json",
]

# sync (issue 14), unmark and link (retry --link-existing) register their jobs themselves; importing them here makes them
# startable by kind everywhere (the worker, the CLI, the console)
from console.migration import sync as _sync  # noqa: E402,F401
from console.migration import unmark as _unmark  # noqa: E402,F401
from console.migration import link as _link  # noqa: E402,F401
