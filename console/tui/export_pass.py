"""A pass over a big export (Load's checks, Readiness's) in a process of its own
(feed.ExportProcess, the other core), for the console: in a thread here the CPU-bound
reader shares the GIL with every key (issue 17: a reopened 1M-row run's Failures page keys
took 90-270 ms behind Load's re-read, 290-986 ms behind Readiness's pass)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError
from console.migration.feed import ExportProcess, process_available


class Cancelled(Exception):
    """A newer pass (or the console closing) replaced this one."""


def in_a_process(path: Path, from_bytes: int) -> bool:
    """Whether the pass over `path` goes to a process: a file of at least `from_bytes`."""
    try:
        size = path.stat().st_size if path.is_file() else -1
    except OSError:
        size = -1
    return process_available() and 0 <= size and from_bytes <= size


def run_pass(function: Callable[..., None], args: tuple, on_progress: Callable[..., None] | None,
             cancelled: Callable[[], bool]) -> Any:
    """`function(emit, *args)` (validate_export_emitting, check_export_emitting) in a process;
    blocking (a worker thread), on its frames, about ten a second: ("progress", rows, read,
    size) said through `on_progress`, the answer returned. Cancelled: the child is killed."""
    with ExportProcess(function, *args) as child:
        while True:
            if cancelled():
                raise Cancelled
            frame = child.next()
            if frame is None:
                raise MigrationError(f"{args[0]}: the process reading the export ended without its answer", 2,
                                     "export_process")
            if frame[0] != "progress":
                return frame[1]
            if on_progress is not None:
                on_progress(*frame[1:])
