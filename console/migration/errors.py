"""One error base for the engine: what the operator reads, and the exit code.

`MigrationError(message, exit_code=2, code=...)`: `message` is one line for the
operator (never a secret, never a traceback), `exit_code` follows
cli-contract.md (2 refused), `code` is a stable word for the faces and tests
(`busy`, `export_changed`, `unauthorized`, ...). The CLI catches it once and
prints `clerk-migrate: <message>`; the console explains it once.

Every engine error the operator can meet derives from it: `RunRefused` (run.py),
`JournalError` and its kinds (journal.py), `PreflightError`, `SyncRefused`,
`SyncPlanError`, `FingerprintKeyError`, `OutputError` / `FkError` (outputs.py),
`NoSuchUser`, the worker client's `NotRunning` / `NotController` / `WorkerLost`,
and the CLI's own `CommandError`. Errors raised by the layers below the engine
(`console.source.ExportError`, the Clerk client's `ClerkError`s)
cannot import the engine (the layering goes the other way), so
`as_migration_error(exc)` maps them here, in one place, with what SQLite says
about the run folder (full, read-only, locked, I/O) when it escapes a journal
call. `explain(exc)` is the one place a face turns any error into what it shows.

This module imports nothing from the project at import time: every engine
module may import it.
"""

from __future__ import annotations

import re

EXIT_REFUSED = 2


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class MigrationError(Exception):
    """An engine error meant for the operator: one line, an exit code, a code."""

    exit_code: int = EXIT_REFUSED
    code: str = ""  # "" -> the class name in snake case (journal_error, not_a_run_folder, ...)

    def __init__(self, message: str, exit_code: int | None = None, code: str | None = None) -> None:
        message = " ".join(str(message).split()) or type(self).__name__
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
        if code is not None:
            self.code = code
        elif not type(self).code:
            self.code = _snake(type(self).__name__)

    def __str__(self) -> str:
        return self.message


def _one_line(exc: BaseException) -> str:
    text = " ".join((getattr(exc, "message", None) or str(exc) or type(exc).__name__).split())
    return text[:500]


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An error's first line for a row's or a session's record: its `message` (Clerk's errors, MigrationError)
    or its text, else its type's name; at most `limit` characters."""
    text = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def as_migration_error(exc: BaseException) -> MigrationError | None:
    """The engine's view of an error that should reach the operator, or None for a
    bug (let it show as an internal error). The one mapping of the lower layers'
    errors: unreadable export, Clerk's answers, the run folder's file system."""
    if isinstance(exc, MigrationError):
        return exc
    try:
        from console.source import ExportError
    except ImportError:  # pragma: no cover - the reader is not there
        ExportError = ()  # type: ignore[assignment]  # noqa: N806
    if ExportError and isinstance(exc, ExportError):
        return MigrationError(_one_line(exc), EXIT_REFUSED, "export_unreadable")
    try:
        from console.clerk import errors as clerk
    except ImportError:  # pragma: no cover
        clerk = None  # type: ignore[assignment]
    if clerk is not None and isinstance(exc, clerk.ClerkError):
        if isinstance(exc, clerk.AuthenticationError):
            return MigrationError(f"Clerk refused the key: {_one_line(exc)}", EXIT_REFUSED, "unauthorized")
        if isinstance(exc, clerk.QuotaExceeded):
            return MigrationError(f"the instance is full: {_one_line(exc)}", EXIT_REFUSED, "quota")
        status = getattr(exc, "status", None)
        where = f"Clerk answered {status}" if status else "Clerk could not be reached"
        return MigrationError(f"{where}: {_one_line(exc)}", EXIT_REFUSED, "clerk_error")
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return MigrationError(f"{exc.filename}: {exc.strerror or _one_line(exc)}", EXIT_REFUSED, "io_error")
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        text = _one_line(exc).lower()
        for words, code in _SQLITE_CONDITIONS:
            if any(w in text for w in words):
                return MigrationError(f"the run's journal cannot be used: {_one_line(exc)}", EXIT_REFUSED, code)
    return None


# what SQLite says about the run folder, not about our SQL (those stay bugs)
_SQLITE_CONDITIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("database or disk is full",), "journal_full"),
    (("readonly database", "read-only"), "journal_read_only"),
    (("database is locked", "database table is locked"), "busy"),
    (("disk i/o error", "unable to open database file"), "journal_io"),
)


def explain(exc: BaseException) -> MigrationError:
    """What a face shows for any error of a job or a command: the operator's MigrationError,
    or, for a bug, one line naming it as an internal error (code "internal_error", exit 70).
    The console's one error handler and the CLI's `main` both go through here."""
    err = as_migration_error(exc)
    if err is not None:
        return err
    return MigrationError(f"internal error: {type(exc).__name__}: {_one_line(exc)}", 70, "internal_error")


__all__ = ["EXIT_REFUSED", "MigrationError", "as_migration_error", "explain"]
