"""Noticing a run folder that changes under the console.

Two consoles (or a console and the CLI) on one run: a fix saved in one, a retry
started or finished in the other, a worker that died. The console looks at the
run folder's files every second, on its own event loop: the journal and its
write-ahead log (every commit moves them), the worker's heartbeat and socket,
and the run lock (its text is rewritten by every session that takes it). When
any of them moved, the app reads the run again (journal, heartbeat, lock) in a
thread. Looking costs five `stat` calls a second, made with aiofiles so the
event loop never waits on the file system (a run folder on a slow or network
disk included); the worker's log is read the same way when a worker is lost.
"""

from __future__ import annotations

from pathlib import Path

import aiofiles
import aiofiles.os

from console.migration.journal import JOURNAL_NAME
from console.migration.status import HEARTBEAT_NAME, LOCK_NAME, LOG_NAME, SOCKET_NAME

WATCHED = (JOURNAL_NAME, JOURNAL_NAME + "-wal", HEARTBEAT_NAME, SOCKET_NAME, LOCK_NAME)
Signature = tuple[tuple[int, int] | None, ...]


async def folder_signature(run_dir: Path) -> Signature:
    """(mtime_ns, size) of each watched file, None where it is missing."""
    out: list[tuple[int, int] | None] = []
    for name in WATCHED:
        try:
            st = await aiofiles.os.stat(run_dir / name)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


async def log_tail(run_dir: Path, lines: int = 3, max_bytes: int = 8192) -> list[str]:
    """The last lines of the worker's log (DIR/worker.log, 0600), for a worker that went away."""
    path = run_dir / LOG_NAME
    try:
        size = (await aiofiles.os.stat(path)).st_size
        async with aiofiles.open(path, "rb") as fh:
            await fh.seek(max(0, size - max_bytes))
            data = await fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace").splitlines()
    return [line for line in text if line.strip()][-lines:]


class FolderWatch:
    """Tells the app when the run folder moved since the last look."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self.last: Signature | None = None

    async def changed(self, run_dir: Path | None) -> bool:
        if run_dir is None:
            self.run_dir = self.last = None
            return False
        signature = await folder_signature(run_dir)
        if run_dir != self.run_dir:
            self.run_dir, self.last = run_dir, signature
            return False
        moved = signature != self.last
        self.last = signature
        return moved


__all__ = ["FolderWatch", "folder_signature", "log_tail"]
