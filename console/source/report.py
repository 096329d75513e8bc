"""Validating a whole export: the report the review step, `validate` and the
import's pre-flight share."""

from __future__ import annotations

import csv
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from console.source.checks import DEV_USER_CAP, dev_cap_blocker
from console.source.model import EMAIL_STATUSES, VERIFIED_POLICY_RISK, Issue, Policies
from console.source.readers import open_export

InstanceKind = Literal["development", "production"]
REPORT_COLUMNS = ("row", "external_id", "field", "code", "severity", "message")


@dataclass
class ValidationReport:
    path: Path
    format: str
    shape: str
    sha256: str = ""
    rows: int = 0
    importable: int = 0
    refused: int = 0
    warned: int = 0  # importable rows with at least one warning
    issues: list[Issue] = field(default_factory=list)  # row-0 issues first, then file order
    by_code: dict[tuple[str, str], int] = field(default_factory=dict)  # (code, severity) -> count
    unverified: int = 0  # rows with an email the export does not mark verified
    unverified_with_oauth: int = 0  # … of which have OAuth accounts
    blockers: list[Issue] = field(default_factory=list)  # run-level (dev_instance_cap)
    columns: list[str] = field(default_factory=list)
    size_bytes: int = 0
    instance_kind: str | None = None
    duration_s: float = 0.0
    # (added last: the fields above keep their positions)
    # importable rows by how their email goes to Clerk (model.EMAIL_STATUSES):
    # verified_by_date, verified_by_oauth, verified_by_policy, reserved; and
    # `refused`: rows refused by the policy `refuse` (not importable)
    email_verification: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EMAIL_STATUSES, 0))
    policies: Policies = field(default_factory=Policies)
    accounts: dict[str, Any] | None = None  # the accounts file: path, sha256, rows, users, …

    @property
    def exit_code(self) -> int:
        """validate's exit code: 0 every row importable and no blocker, else 1."""
        return 1 if (self.refused or self.blockers) else 0

    def counts_by_code(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (code, severity), count in sorted(self.by_code.items()):
            out.setdefault(code, {})[severity] = count
        return out

    def header_json(self) -> dict[str, Any]:
        """Everything of as_json() but the issues list."""
        return {
            "path": str(self.path),
            "format": self.format,
            "shape": self.shape,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "rows": self.rows,
            "importable": self.importable,
            "refused": self.refused,
            "warned": self.warned,
            "unverified": self.unverified,
            "unverified_with_oauth": self.unverified_with_oauth,
            "email_verification": dict(self.email_verification, policy=self.policies.unverified_email),
            "accounts": self.accounts,
            "instance": self.instance_kind,
            "by_code": self.counts_by_code(),
            "blockers": [issue.as_dict() for issue in self.blockers],
        }

    def as_json(self) -> dict[str, Any]:
        """The `validate --json` object of cli-contract.md."""
        out = self.header_json()
        out["issues"] = [issue.as_dict() for issue in self.issues]
        return out

    @property
    def accounts_sha256(self) -> str | None:
        return self.accounts["sha256"] if self.accounts else None

    def email_lines(self) -> list[str]:
        """How the importable rows' emails go to Clerk, in words (one line, and
        the risk line under the `verified` policy)."""
        ev = self.email_verification
        lines = [
            f"emails: {ev['verified_by_date']:,} verified (emailVerified date), "
            f"{ev['verified_by_oauth']:,} verified (OAuth account), {ev['reserved']:,} reserved "
            f"(verified on first sign-in), {ev['verified_by_policy']:,} verified by policy"
            + (f", {ev['refused']:,} refused by policy" if ev["refused"] else "")
            + f"; policy: {self.policies.unverified_email}"
        ]
        if self.policies.unverified_email == "verified":
            lines.append(VERIFIED_POLICY_RISK)
        return lines

    def summary_rows(self) -> list[tuple[str, str, int]]:
        """(code, severity, count), errors first, biggest first."""
        return sorted(
            ((code, sev, n) for (code, sev), n in self.by_code.items()),
            key=lambda t: (t[1] != "error", -t[2], t[0]),
        )


def validate_export(
    path: str | Path,
    *,
    policies: Policies = Policies(),
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    instance_kind: InstanceKind | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    accounts: str | Path | Any | None = None,
) -> ValidationReport:
    """Read and check a whole export; raises ExportError for unreadable input.
    `accounts`: an Auth.js accounts export (or an AccountsIndex) whose OAuth
    providers join the users by id.

    on_progress(rows, bytes_read, size_bytes) is called at most ~10 times a
    second, and once at the end."""
    started = time.perf_counter()
    reader = open_export(path, fmt=fmt, mapping=mapping, accounts=accounts)
    report = ValidationReport(
        path=reader.path,
        format=reader.format,
        shape=reader.shape,
        columns=list(reader.columns),
        size_bytes=reader.size_bytes,
        instance_kind=instance_kind,
        policies=policies,
        accounts=reader.accounts.summary() if reader.accounts is not None else None,
    )
    row_issues: list[Issue] = []
    by_code: dict[tuple[str, str], int] = {}
    # The issues list can grow to hundreds of thousands of objects, which the
    # cyclic GC would rescan again and again (~15% of a 1M-row run). Rows make
    # no reference cycles, so reference counting frees everything meanwhile.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        rows, importable, warned = _consume(reader, policies, row_issues, by_code, on_progress,
                                            report.email_verification)
    finally:
        if gc_was_enabled:
            gc.enable()

    report.rows = rows
    report.importable = importable
    report.refused = rows - importable
    report.warned = warned
    report.sha256 = reader.sha256
    stats = reader.stats
    report.unverified = stats.unverified
    report.unverified_with_oauth = stats.unverified_with_oauth
    if instance_kind == "development" and importable > DEV_USER_CAP:
        report.blockers.append(dev_cap_blocker(importable))
    head = report.blockers + reader.file_issues
    for issue in head:
        key = (issue.code, issue.severity)
        by_code[key] = by_code.get(key, 0) + 1
    report.by_code = by_code
    report.issues = head + row_issues if head else row_issues
    report.duration_s = time.perf_counter() - started
    if on_progress is not None:
        on_progress(rows, reader.bytes_read, reader.size_bytes)
    return report


def _consume(reader, policies: Policies, row_issues: list[Issue],
             by_code: dict[tuple[str, str], int],
             on_progress: Callable[[int, int, int], None] | None,
             emails: dict[str, int]) -> tuple[int, int, int]:
    extend = row_issues.extend
    rows = importable = warned = 0
    size = reader.size_bytes
    last = time.monotonic()
    for checked in reader.rows(policies):
        rows += 1
        issues = checked.issues
        status = checked.user.email_status
        if issues:
            refused = False
            for issue in issues:
                key = (issue.code, issue.severity)
                by_code[key] = by_code.get(key, 0) + 1
                if issue.severity == "error":
                    refused = True
            extend(issues)
            if not refused:
                importable += 1
                warned += 1
                if status is not None:
                    emails[status] += 1
            elif status == "refused":
                emails[status] += 1
        else:
            importable += 1
            if status is not None:
                emails[status] += 1
        if on_progress is not None and not rows & 1023:
            now = time.monotonic()
            if now - last >= 0.1:
                last = now
                on_progress(rows, reader.bytes_read, size)
    return rows, importable, warned


def validate_export_emitting(emit: Callable[[Any], None], path: str, policies: Policies, mapping: dict[str, str] | None,
                            instance_kind: InstanceKind | None, accounts: str | None) -> None:
    """validate_export for a process of its own (feed.ExportProcess, the console's Load of a
    big export): emits ("progress", rows, bytes_read, size_bytes) as validate_export says it,
    then ("report", report). The process ends after it: no cyclic collection meanwhile."""
    gc.disable()
    report = validate_export(path, policies=policies, mapping=mapping, instance_kind=instance_kind,
                             accounts=accounts,
                             on_progress=lambda rows, read, size: emit(("progress", rows, read, size)))
    emit(("report", report))


def write_report_csv(report: ValidationReport, out: str | Path) -> Path:
    """Every issue as a CSV row: row,external_id,field,code,severity,message.
    Written 0600 like every other output (it names users and their emails)."""
    out = Path(out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(
            (i.row, _cell(i.external_id or ""), i.field, i.code, i.severity, _cell(i.message))
            for i in report.issues
        )
    return out


_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """The report is opened in spreadsheets: a cell from export data that
    starts like a formula is prefixed with ' so it stays text (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_LEADS) else value
