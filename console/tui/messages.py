"""Typed messages from the console's workers to the app, which owns every
state change. Workers run in threads or tasks; they post these and never
touch widgets or `ConsoleState` themselves."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class LoadDetected(Message):
    """The reader opened the file and recognised its format and shape."""

    def __init__(self, generation: int, fmt: str, shape: str, columns: list[str], size_bytes: int) -> None:
        super().__init__()
        self.generation = generation
        self.format = fmt
        self.shape = shape
        self.columns = columns
        self.size_bytes = size_bytes


class LoadProgress(Message):
    """Rows read so far. A newer one replaces an older one still queued, so a
    slow screen never works through a backlog of stale figures."""

    def __init__(self, generation: int, rows: int, bytes_read: int, size_bytes: int, elapsed_s: float) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.bytes_read = bytes_read
        self.size_bytes = size_bytes
        self.elapsed_s = elapsed_s

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgress)


class ProgressMessage(Message):
    """A worker's latest progress snapshot. A newer one of the same kind
    replaces an older one still queued, so a slow screen never works through
    a backlog of stale figures."""

    def __init__(self, progress: Any) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self)


class LoadFinished(Message):
    def __init__(self, generation: int, report: Any, index: Any, elapsed_s: float, instance_kind: str | None) -> None:
        super().__init__()
        self.generation = generation
        self.report = report
        self.index = index
        self.elapsed_s = elapsed_s
        self.instance_kind = instance_kind


class LoadFailed(Message):
    """The file cannot be read as an export: `error` is the reader's one line."""

    def __init__(self, generation: int, error: str, needs_mapping: bool = False, columns: list[str] | None = None) -> None:
        super().__init__()
        self.generation = generation
        self.error = error
        self.needs_mapping = needs_mapping
        self.columns = columns or []


class DetailPage(Message):
    """One page of the Review detail table, computed off the event loop.
    `every_code`: the filter matched nothing under the chosen code, so the page
    holds its matches under every code."""

    def __init__(self, query: tuple, issues: list, total: int, every_code: bool = False) -> None:
        super().__init__()
        self.query = query
        self.issues = issues
        self.total = total
        self.every_code = every_code


class ReadinessChecked(Message):
    """The preflight of the loaded export against the instance's settings (issue 13):
    a Readiness, or the one line saying why the settings could not be read."""

    def __init__(self, generation: int, readiness: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.generation = generation
        self.readiness = readiness
        self.error = error


# -- intents: what a pane asks the app to do (the app owns every change) ---------------
class StartJob(Message):
    """Start a job on the run in a worker: `kind` (import, retry, verify, undo, ...) and the
    job's options (JSON values, added to the console's own for that kind). `run_dir`: an
    import's folder when the console has none yet; `confirmed_production`: the typed word."""

    def __init__(self, kind: str, options: dict[str, Any] | None = None, *, run_dir: Any = None,
                 confirmed_production: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.options = dict(options or {})
        self.run_dir = run_dir
        self.confirmed_production = confirmed_production


class JobCommand(Message):
    """pause, resume, stop (safely) or take (control of the job, on purpose)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class PauseJob(JobCommand):
    def __init__(self) -> None:
        super().__init__("pause")


class ResumeJob(JobCommand):
    def __init__(self) -> None:
        super().__init__("resume")


class StopJob(JobCommand):
    def __init__(self) -> None:
        super().__init__("stop")


class TakeControl(JobCommand):
    def __init__(self) -> None:
        super().__init__("take")


class ReadRun(Message):
    """Read the run folder again (the journal, the worker's heartbeat, the lock)."""
