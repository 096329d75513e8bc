"""The one error type of the database export."""

from __future__ import annotations


class DbExportError(Exception):
    """Export refused or failed. `str(e)` is ONE line meant for the operator,
    naming what failed (URL with its password masked, table, column, row id).
    The command exits 2 on it."""

    def __init__(self, message: str) -> None:
        message = " ".join(str(message).split())  # one line, whatever the driver said
        super().__init__(message)
        self.message = message


class ExportCancelled(DbExportError):
    """The caller asked the export to stop; nothing was written."""
