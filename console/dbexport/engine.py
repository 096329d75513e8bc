"""export-db: an Auth.js database -> a Prisma-shaped export file.

Each row written: ``id`` (string), ``name``, ``email``, ``emailVerified`` (ISO
8601 or null), ``image``, ``createdAt`` (only when the users table has one),
``password`` (only when a password column exists and the user has one), and
``providers`` (sorted distinct OAuth provider names from the accounts table).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.dbexport.backends import ROW_FIELDS, Source, open_source
from console.dbexport.errors import DbExportError, ExportCancelled
from console.dbexport.schema import DetectedSchema, detect_schema
from console.dbexport.urls import DatabaseURL, parse_database_url
from console.dbexport.values import to_text, to_timestamp
from console.dbexport.writer import AtomicExportWriter, format_for

ProgressFn = Callable[[int, int], None]  # (rows written, total rows)
NoticeFn = Callable[[str], None]
PROGRESS_INTERVAL_S = 0.1  # on_progress at most ~10 times a second (plus the last call)
_EXAMPLES = 3


@dataclass
class ExportSummary:
    out: Path
    rows: int
    format: str
    database: str  # masked URL
    schema: DetectedSchema
    duration_s: float
    with_password: int = 0
    with_providers: int = 0
    # per field: how many values were not what the column should hold (exported as-is)
    odd_values: dict[str, int] = field(default_factory=dict)
    odd_examples: dict[str, list[str]] = field(default_factory=dict)  # field -> a few user ids
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        detected = self.schema.as_dict()
        return {
            "out": str(self.out),
            "rows": self.rows,
            "format": self.format,
            "database": self.database,
            "schema": detected["schema"],
            "naming": detected["naming"],
            "tables": detected["tables"],
            "columns": detected["columns"],
            "password_column": detected["password_column"],
            "with_password": self.with_password,
            "with_providers": self.with_providers,
            "odd_values": dict(self.odd_values),
            "warnings": list(self.warnings),
            "duration_s": round(self.duration_s, 3),
        }


def _connect(url: str | DatabaseURL, connect_timeout: float) -> tuple[DatabaseURL, Source]:
    db = url if isinstance(url, DatabaseURL) else parse_database_url(url)
    return db, open_source(db, connect_timeout=connect_timeout)


def _detect(source: Source, users_table: str | None, accounts_table: str | None) -> DetectedSchema:
    extra = [t for t in (users_table, accounts_table) if t]
    return detect_schema(
        source.tables(extra), where=source.where, users_table=users_table, accounts_table=accounts_table,
    )


def inspect_database(
    url: str | DatabaseURL,
    *,
    users_table: str | None = None,
    accounts_table: str | None = None,
    connect_timeout: float = 10.0,
) -> DetectedSchema:
    """Connect, detect the Auth.js schema, disconnect (the TUI's preview)."""
    db, source = _connect(url, connect_timeout)
    try:
        return _detect(source, users_table, accounts_table)
    finally:
        source.close()


def export_database(
    url: str | DatabaseURL,
    out: str | Path,
    *,
    fmt: str | None = None,
    users_table: str | None = None,
    accounts_table: str | None = None,
    on_progress: ProgressFn | None = None,
    on_notice: NoticeFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    connect_timeout: float = 10.0,
) -> ExportSummary:
    """Export the users of the Auth.js database at `url` to `out`.

    `users_table` / `accounts_table` (``name`` or ``schema.name``) choose the
    tables; without them they are found by name and columns, and two fitting
    candidates are refused with the list.

    Raises DbExportError (one line, password masked) on anything the operator
    must fix; ExportCancelled when `should_stop()` turns true. Either way no
    file is left at `out` (an earlier file there is kept as it was).
    """
    started = time.perf_counter()
    out = Path(out)
    fmt_ = format_for(out, fmt)
    db = url if isinstance(url, DatabaseURL) else parse_database_url(url)
    if db.sqlite_path is not None and out.resolve() == Path(db.sqlite_path).resolve():
        raise DbExportError(f"--out {out} is the database itself: choose another file")
    notice = on_notice or (lambda _m: None)
    _, source = _connect(db, connect_timeout)
    writer: AtomicExportWriter | None = None
    try:
        schema = _detect(source, users_table, accounts_table)
        notice(f"found the {schema.describe()}")
        for n in schema.notices:
            notice(n)
        total = source.count(schema)
        writer = AtomicExportWriter(out, fmt_)
        summary = ExportSummary(
            out=out.resolve(), rows=0, format=fmt_, database=db.masked, schema=schema, duration_s=0.0,
            warnings=list(schema.notices),
        )
        _copy_rows(source, schema, writer, summary, total, on_progress, should_stop)
        writer.commit()
        writer = None
    finally:
        if writer is not None:
            writer.abort()
        source.close()
    for fld, count in summary.odd_values.items():
        examples = ", ".join(summary.odd_examples.get(fld, []))
        what = "a date" if fld in ("emailVerified", "createdAt") else "text"
        msg = (
            f"{fld}: {count} value(s) are not {what}; exported as they are, "
            f"`validate` will flag them (e.g. user id {examples})"
        )
        summary.warnings.append(msg)
        notice(msg)
    summary.duration_s = time.perf_counter() - started
    return summary


def _copy_rows(
    source: Source,
    schema: DetectedSchema,
    writer: AtomicExportWriter,
    summary: ExportSummary,
    total: int,
    on_progress: ProgressFn | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    has_created = schema.has_created_at
    has_password = schema.password_column is not None
    users_table = schema.users.qualified
    odd = summary.odd_values
    examples = summary.odd_examples
    assert ROW_FIELDS == ("id", "name", "email", "emailVerified", "image", "createdAt", "password")

    def flag(fld: str, uid: str | None) -> None:
        odd[fld] = odd.get(fld, 0) + 1
        ex = examples.setdefault(fld, [])
        if len(ex) < _EXAMPLES:
            ex.append(str(uid))

    last = 0.0
    if on_progress:
        on_progress(0, total)
    for batch in source.batches(schema):
        if should_stop and should_stop():
            raise ExportCancelled(f"export cancelled after {writer.rows} rows; nothing written")
        for uid_raw, name, email, verified, image, created, password, providers in batch:
            uid = to_text(uid_raw)
            if email is not None and not isinstance(email, str):
                flag("email", uid)
            ev, ok = to_timestamp(verified)
            if not ok:
                flag("emailVerified", uid)
            rec: dict[str, Any] = {
                "id": uid,
                "name": to_text(name),
                "email": to_text(email),
                "emailVerified": ev,
                "image": to_text(image),
            }
            if has_created:
                ca, ok = to_timestamp(created)
                if not ok:
                    flag("createdAt", uid)
                rec["createdAt"] = ca
            if has_password and password is not None:
                if isinstance(password, (bytes, bytearray, memoryview)):
                    try:
                        password = bytes(password).decode("utf-8")
                    except UnicodeDecodeError:
                        raise DbExportError(
                            f'the {schema.password_column} of user id {uid} in "{users_table}" is binary '
                            "data, not a text digest: export refused"
                        ) from None
                elif not isinstance(password, str):
                    password = to_text(password)
                if password:
                    rec["password"] = password
                    summary.with_password += 1
            provs = sorted({p for p in (providers or ()) if p})
            if provs:
                summary.with_providers += 1
            rec["providers"] = provs
            writer.write(rec)
        summary.rows = writer.rows
        now = time.monotonic()
        if on_progress and now - last >= PROGRESS_INTERVAL_S:
            last = now
            on_progress(writer.rows, max(total, writer.rows))
    summary.rows = writer.rows
    if on_progress:
        on_progress(writer.rows, max(total, writer.rows))
