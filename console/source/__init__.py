"""Reading and checking Auth.js exports (see docs/source.md).

    from console.source import open_export, validate_export, to_payload, ExportError, ValidationReport
"""

from console.source.checks import DEV_USER_CAP, RowChecker, email_is_valid
from console.source.model import CheckedRow, Issue, Policies, SourceUser
from console.source.payload import to_payload
from console.source.readers import FORMATS, ExportError, ExportReader, open_export
from console.source.report import ValidationReport, validate_export, write_report_csv
from console.source.shapes import FIELDS, parse_mapping

__all__ = [
    "DEV_USER_CAP",
    "FIELDS",
    "FORMATS",
    "CheckedRow",
    "ExportError",
    "ExportReader",
    "Issue",
    "Policies",
    "RowChecker",
    "SourceUser",
    "ValidationReport",
    "email_is_valid",
    "open_export",
    "parse_mapping",
    "to_payload",
    "validate_export",
    "write_report_csv",
]
