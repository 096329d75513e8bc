"""Scan a Next.js app's code for Auth.js touch points and say what replaces each in Clerk.

Headless (no textual): `scan_app(path) -> AppScanReport` is what both the
`scan-app` command and the console's Finish screen call.
"""

from console.appscan.model import (
    DONE,
    Advice,
    NOT_APPLICABLE,
    STEPS,
    TODO,
    AppScanReport,
    ChecklistItem,
    Finding,
    ProtectedRoute,
    Skipped,
)
from console.appscan.scanner import AppScanError, scan_app

__all__ = [
    "Advice",
    "AppScanError",
    "AppScanReport",
    "ChecklistItem",
    "DONE",
    "Finding",
    "NOT_APPLICABLE",
    "ProtectedRoute",
    "STEPS",
    "Skipped",
    "TODO",
    "scan_app",
]
