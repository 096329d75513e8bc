"""Reading and checking Auth.js exports (see docs/source.md).

    from console.source import open_export, validate_export, to_payload, ExportError, ValidationReport
"""

from console.source.accounts import AccountsIndex, open_accounts
from console.source.checks import DEV_USER_CAP, RowChecker, email_is_valid, phone_e164
from console.source.model import (
    EMAIL_STATUSES,
    UNVERIFIED_POLICIES,
    UNVERIFIED_POLICY_WORDS,
    VERIFIED_POLICY_RISK,
    CheckedRow,
    Issue,
    Policies,
    SourceUser,
    email_status,
)
from console.source.payload import to_payload
from console.source.readers import FORMATS, ExportError, ExportReader, open_export
from console.source.report import ValidationReport, validate_export, write_report_csv
from console.source.shapes import FIELDS, MAP_TARGETS, META_FIELDS, check_mapping, parse_mapping

__all__ = [
    "DEV_USER_CAP",
    "EMAIL_STATUSES",
    "FIELDS",
    "FORMATS",
    "MAP_TARGETS",
    "META_FIELDS",
    "UNVERIFIED_POLICIES",
    "UNVERIFIED_POLICY_WORDS",
    "VERIFIED_POLICY_RISK",
    "AccountsIndex",
    "CheckedRow",
    "ExportError",
    "ExportReader",
    "Issue",
    "Policies",
    "RowChecker",
    "SourceUser",
    "ValidationReport",
    "check_mapping",
    "email_is_valid",
    "email_status",
    "open_accounts",
    "open_export",
    "parse_mapping",
    "phone_e164",
    "to_payload",
    "validate_export",
    "write_report_csv",
]
