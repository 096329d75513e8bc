"""Export users straight from an Auth.js database (SQLite, PostgreSQL, MySQL or
MariaDB) into a
Prisma-shaped export file that `validate`/`import` read. Headless: no textual.

    from console.dbexport import export_database, inspect_database, DbExportError, mask_url
"""

from console.dbexport.engine import ExportSummary, export_database, inspect_database
from console.dbexport.errors import DbExportError, ExportCancelled
from console.dbexport.schema import DetectedSchema
from console.dbexport.urls import DatabaseURL, mask_url, parse_database_url

__all__ = [
    "DatabaseURL",
    "DbExportError",
    "DetectedSchema",
    "ExportCancelled",
    "ExportSummary",
    "export_database",
    "inspect_database",
    "mask_url",
    "parse_database_url",
]
