"""The run journal: one SQLite file per run folder that says, for every export
row, what happened to it in Clerk.

Layout of a run folder (mode 0700; every file 0600)::

    DIR/journal.sqlite      (+ journal.sqlite-wal, journal.sqlite-shm while open)

Durability. The journal runs in WAL mode with ``synchronous=NORMAL`` by
default: a committed transaction survives the process being killed (kill -9,
a lost SSH session, a crash) because it is in the WAL file in the OS page
cache; it may be lost only if the whole machine loses power or the kernel
crashes before the next checkpoint. Pass ``synchronous="FULL"`` to make every
commit an fsync (survives power loss, costs one fsync per row transition).

What the journal never holds: the secret key (only its fingerprint and masked
form), a password, a password digest, or any row data other than the external
id and email. The export file stays the source of row data; its sha256 is
stored and checked on resume.

One `RunJournal` object is one SQLite connection: use it from one thread. A
second thread (a console screen reading while an import writes) opens its
own `RunJournal.open(dir)`; WAL lets readers and the writer run together.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from console.migration.errors import MigrationError

SCHEMA_VERSION = 1
JOURNAL_NAME = "journal.sqlite"

Status = Literal["pending", "creating", "created", "existed", "failed", "refused"]
STATUSES: tuple[str, ...] = ("pending", "creating", "created", "existed", "failed", "refused")
TERMINAL: frozenset[str] = frozenset({"created", "existed", "failed", "refused"})
DONE_IN_CLERK: frozenset[str] = frozenset({"created", "existed"})

# Failure codes that may go away without the operator changing anything; the
# default selection of `retry` (plus every failed row that has a fix).
RETRYABLE_CODES: frozenset[str] = frozenset({"unknown_outcome", "internal_error", "server_error"})

# What the operator may override per row (SourceUser field names). Never a
# password, digest or hasher (secrets), never the external id (the key every
# lookup and the undo rely on).
FIXABLE_FIELDS: frozenset[str] = frozenset(
    {"email", "email_verified", "first_name", "last_name", "username", "created_at"}
)

LOAD_BATCH = 5000

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS run (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version   INTEGER NOT NULL,
    export_path      TEXT NOT NULL,
    export_sha256    TEXT,
    export_size      INTEGER,
    export_format    TEXT,
    export_shape     TEXT,
    mapping_json     TEXT,
    instance_kind    TEXT,
    base_url         TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL,
    key_masked       TEXT NOT NULL,
    policies_json    TEXT NOT NULL,
    settings_json    TEXT NOT NULL,
    rows_loaded      INTEGER NOT NULL DEFAULT 0,
    file_issues_json TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rows (
    row_no        INTEGER PRIMARY KEY,
    external_id   TEXT,
    email         TEXT,
    export_email  TEXT,
    status        TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    clerk_user_id TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    uncertain     INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_param   TEXT,
    error_message TEXT,
    refusal_codes TEXT,
    warning_codes TEXT,
    fix_json      TEXT,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_by_status ON rows(status, row_no);
CREATE INDEX IF NOT EXISTS rows_by_external_id ON rows(external_id);
CREATE INDEX IF NOT EXISTS rows_by_code ON rows(error_code, row_no);
CREATE TABLE IF NOT EXISTS sessions (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    ended_at     REAL,
    requests     INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL DEFAULT 0,
    existed      INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    outcome      TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
"""


class JournalError(MigrationError):
    """The run folder or its journal cannot be used; str(e) is one line."""


class NotARunFolder(JournalError):
    pass


class NewerJournal(JournalError):
    pass


@dataclass(frozen=True)
class RunInfo:
    """The run table: what this run is about. No secret in here."""

    export_path: str
    base_url: str
    key_fingerprint: str
    key_masked: str
    instance_kind: str | None
    policies: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] | None = None
    export_sha256: str | None = None
    export_size: int | None = None
    export_format: str | None = None
    export_shape: str | None = None
    rows_loaded: bool = False
    file_issues: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class RowRecord:
    row_no: int
    external_id: str | None
    email: str | None  # the address sent to Clerk: the fix's when the operator set one
    export_email: str | None  # the address the export holds
    status: str
    clerk_user_id: str | None
    attempts: int
    uncertain: bool  # a create was sent whose answer never came (kill, 5xx, timeout)
    error_code: str | None
    error_param: str | None
    error_message: str | None
    refusal_codes: tuple[str, ...]
    warning_codes: tuple[str, ...]
    fix: dict[str, Any] | None
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["refusal_codes"] = list(self.refusal_codes)
        d["warning_codes"] = list(self.warning_codes)
        return d


@dataclass(frozen=True, slots=True)
class CodeCount:
    """One group of the failure breakdown."""

    code: str
    count: int
    param: str | None  # the most common param of the group
    example: str | None  # one message of the group
    retryable: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "count": self.count,
            "param": self.param,
            "example": self.example,
            "retryable": self.retryable,
        }


@dataclass(frozen=True, slots=True)
class NewRow:
    """One row as loaded from the export (first run)."""

    row_no: int
    external_id: str | None
    email: str | None
    status: str  # pending | refused
    refusal_codes: tuple[str, ...] = ()
    warning_codes: tuple[str, ...] = ()
    refusal_message: str | None = None


_ROW_COLUMNS = (
    "row_no, external_id, email, export_email, status, clerk_user_id, attempts, uncertain, "
    "error_code, error_param, error_message, refusal_codes, warning_codes, fix_json, updated_at"
)


def _split_codes(value: str | None) -> tuple[str, ...]:
    return tuple(c for c in (value or "").split(",") if c)


def _row_from(r: Sequence[Any]) -> RowRecord:
    return RowRecord(
        row_no=r[0],
        external_id=r[1],
        email=r[2],
        export_email=r[3],
        status=r[4],
        clerk_user_id=r[5],
        attempts=r[6],
        uncertain=bool(r[7]),
        error_code=r[8],
        error_param=r[9],
        error_message=r[10],
        refusal_codes=_split_codes(r[11]),
        warning_codes=_split_codes(r[12]),
        fix=json.loads(r[13]) if r[13] else None,
        updated_at=r[14],
    )


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def journal_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / JOURNAL_NAME


def is_run_folder(run_dir: str | os.PathLike[str]) -> bool:
    return journal_path(run_dir).is_file()


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class RunJournal:
    """The SQLite store of one run. Construct with `create` or `open`."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, *, readonly: bool = False) -> None:
        self.run_dir = run_dir
        self.path = journal_path(run_dir)
        self._conn = conn
        self.readonly = readonly
        self._info: RunInfo | None = None

    # ------------------------------------------------------------------ open
    @classmethod
    def _connect(cls, path: Path, *, readonly: bool, synchronous: str) -> sqlite3.Connection:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - a filesystem without shared memory
                raise JournalError(f"{path}: SQLite could not switch the journal to WAL mode (got {mode})")
            if synchronous.upper() not in {"NORMAL", "FULL"}:
                raise ValueError("synchronous must be NORMAL or FULL")
            conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        return conn

    @classmethod
    def create(
        cls, run_dir: str | os.PathLike[str], info: RunInfo, *, synchronous: str = "NORMAL"
    ) -> "RunJournal":
        """A new run folder (0700) with a new journal (0600). Refuses an existing journal."""
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise NotARunFolder(f"{run_dir}: exists and is not a folder")
        path = journal_path(run_dir)
        if path.exists():
            raise JournalError(f"{run_dir}: already holds a run journal")
        try:
            _private_dir(run_dir)
            _private_file(path)
        except OSError as exc:
            raise JournalError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})") from None
        conn = cls._connect(path, readonly=False, synchronous=synchronous)
        journal = cls(run_dir, conn)
        now = _now_iso()
        with journal._tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(
                "INSERT INTO run (id, schema_version, export_path, export_sha256, export_size, export_format,"
                " export_shape, mapping_json, instance_kind, base_url, key_fingerprint, key_masked,"
                " policies_json, settings_json, rows_loaded, file_issues_json, created_at, updated_at)"
                " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (
                    SCHEMA_VERSION,
                    info.export_path,
                    info.export_sha256,
                    info.export_size,
                    info.export_format,
                    info.export_shape,
                    json.dumps(info.mapping) if info.mapping is not None else None,
                    info.instance_kind,
                    info.base_url,
                    info.key_fingerprint,
                    info.key_masked,
                    json.dumps(info.policies, sort_keys=True),
                    json.dumps(info.settings, sort_keys=True),
                    json.dumps(info.file_issues),
                    now,
                    now,
                ),
            )
        journal._secure_files()
        return journal

    @classmethod
    def open(
        cls, run_dir: str | os.PathLike[str], *, readonly: bool = False, synchronous: str = "NORMAL"
    ) -> "RunJournal":
        """Open an existing run folder. Raises NotARunFolder or NewerJournal (exit 2 for the CLI)."""
        run_dir = Path(run_dir)
        path = journal_path(run_dir)
        if not run_dir.is_dir():
            raise NotARunFolder(f"{run_dir}: no such run folder")
        if not path.is_file():
            raise NotARunFolder(f"{run_dir}: not a run folder (no {JOURNAL_NAME} in it)")
        try:
            conn = cls._connect(path, readonly=readonly, synchronous=synchronous)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise NotARunFolder(f"{path}: not a run journal ({exc})") from None
        if version > SCHEMA_VERSION:
            conn.close()
            raise NewerJournal(
                f"{path}: written by a newer clerk-migrate (journal schema {version}, this version reads "
                f"up to {SCHEMA_VERSION}); use the newer version"
            )
        try:
            has_run = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='run'").fetchone()
            if not has_run or version < 1:
                raise NotARunFolder(f"{path}: not a run journal")
            row = conn.execute("SELECT schema_version FROM run WHERE id = 1").fetchone()
            if row is None:
                raise NotARunFolder(f"{path}: the journal has no run record")
            if row[0] > SCHEMA_VERSION:
                raise NewerJournal(
                    f"{path}: written by a newer clerk-migrate (journal schema {row[0]}); use the newer version"
                )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise NotARunFolder(f"{path}: not a run journal ({exc})") from None
        except JournalError:
            conn.close()
            raise
        journal = cls(run_dir, conn, readonly=readonly)
        if not readonly:
            journal._secure_files()
        return journal

    def _secure_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            try:
                if p.exists() and stat.S_IMODE(p.stat().st_mode) != 0o600:
                    os.chmod(p, 0o600)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error:  # pragma: no cover
            pass

    def __enter__(self) -> "RunJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """For other parts that keep their own tables in the journal (name them
        `<part>_…`, e.g. `verify_results`); the engine's tables are run, rows,
        sessions, events, meta."""
        return self._conn

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            if exc_type is None:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")

    def _tx(self) -> "RunJournal._Tx":
        return RunJournal._Tx(self._conn)

    # ------------------------------------------------------------------ run
    @property
    def info(self) -> RunInfo:
        if self._info is None:
            self._info = self._read_info()
        return self._info

    def _read_info(self) -> RunInfo:
        r = self._conn.execute(
            "SELECT export_path, base_url, key_fingerprint, key_masked, instance_kind, policies_json,"
            " settings_json, mapping_json, export_sha256, export_size, export_format, export_shape,"
            " rows_loaded, file_issues_json, schema_version, created_at, updated_at FROM run WHERE id = 1"
        ).fetchone()
        return RunInfo(
            export_path=r[0],
            base_url=r[1],
            key_fingerprint=r[2],
            key_masked=r[3],
            instance_kind=r[4],
            policies=json.loads(r[5] or "{}"),
            settings=json.loads(r[6] or "{}"),
            mapping=json.loads(r[7]) if r[7] else None,
            export_sha256=r[8],
            export_size=r[9],
            export_format=r[10],
            export_shape=r[11],
            rows_loaded=bool(r[12]),
            file_issues=json.loads(r[13] or "[]"),
            schema_version=r[14],
            created_at=r[15],
            updated_at=r[16],
        )

    def update_run(self, **fields: Any) -> None:
        """Change run-table fields (export_path, settings, …). JSON fields take Python values."""
        allowed = {
            "export_path": "export_path",
            "export_sha256": "export_sha256",
            "export_size": "export_size",
            "export_format": "export_format",
            "export_shape": "export_shape",
            "settings": "settings_json",
            "policies": "policies_json",
            "mapping": "mapping_json",
            "file_issues": "file_issues_json",
            "base_url": "base_url",
        }
        sets, params = [], []
        for name, value in fields.items():
            column = allowed.get(name)
            if column is None:
                raise ValueError(f"not a run field: {name}")
            if column.endswith("_json"):
                value = json.dumps(value, sort_keys=True) if value is not None else None
            sets.append(f"{column} = ?")
            params.append(value)
        if not sets:
            return
        sets.append("updated_at = ?")
        params.append(_now_iso())
        with self._tx() as c:
            c.execute(f"UPDATE run SET {', '.join(sets)} WHERE id = 1", params)
        self._info = None

    # ------------------------------------------------------------------ loading (first run)
    def clear_rows(self) -> None:
        """Drop the rows of an interrupted load (only while `rows_loaded` is false)."""
        if self.info.rows_loaded:
            raise JournalError("refusing to clear the rows of a loaded run")
        with self._tx() as c:
            c.execute("DELETE FROM rows")

    def add_rows(self, rows: Iterable[NewRow]) -> int:
        """Insert one batch of loaded rows in one transaction."""
        now = time.time()
        params = [
            (
                r.row_no,
                r.external_id,
                r.email,
                r.email,
                r.status,
                ",".join(r.refusal_codes) or None,
                ",".join(r.warning_codes) or None,
                r.refusal_codes[0] if r.refusal_codes else None,
                r.refusal_message,
                now,
            )
            for r in rows
        ]
        if not params:
            return 0
        with self._tx() as c:
            c.executemany(
                "INSERT INTO rows (row_no, external_id, email, export_email, status, refusal_codes,"
                " warning_codes, error_code, error_message, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
        return len(params)

    def finish_load(
        self,
        *,
        sha256: str,
        size: int | None,
        fmt: str | None,
        shape: str | None,
        file_issues: list[dict[str, Any]] | None = None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE run SET export_sha256 = ?, export_size = ?, export_format = ?, export_shape = ?,"
                " file_issues_json = ?, rows_loaded = 1, updated_at = ? WHERE id = 1",
                (sha256, size, fmt, shape, json.dumps(file_issues or []), _now_iso()),
            )
        self._info = None

    # ------------------------------------------------------------------ reads
    def counts(self) -> dict[str, int]:
        """Rows per status, every status present (zeros included)."""
        out = {s: 0 for s in STATUSES}
        for status, n in self._conn.execute("SELECT status, COUNT(*) FROM rows GROUP BY status"):
            out[status] = n
        return out

    def total_rows(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM rows").fetchone()[0]

    def failures_by_code(self, status: str = "failed") -> list[CodeCount]:
        """Rows of a status grouped by code (error code for failed, refusal code for refused),
        largest group first."""
        groups = self._conn.execute(
            "SELECT COALESCE(error_code, 'unknown'), COUNT(*), MAX(error_message) FROM rows"
            " WHERE status = ? GROUP BY COALESCE(error_code, 'unknown') ORDER BY COUNT(*) DESC, 1",
            (status,),
        ).fetchall()
        out = []
        for code, n, example in groups:
            param = self._conn.execute(
                "SELECT error_param FROM rows WHERE status = ? AND COALESCE(error_code, 'unknown') = ?"
                " GROUP BY error_param ORDER BY COUNT(*) DESC LIMIT 1",
                (status, code),
            ).fetchone()
            out.append(
                CodeCount(
                    code=code,
                    count=n,
                    param=param[0] if param else None,
                    example=example,
                    retryable=status == "failed" and code in RETRYABLE_CODES,
                )
            )
        return out

    def refusals_by_code(self) -> dict[str, int]:
        """Refused rows per refusal code (a row refused for two reasons counts under both)."""
        out: dict[str, int] = {}
        for (codes,) in self._conn.execute("SELECT refusal_codes FROM rows WHERE status = 'refused'"):
            for code in _split_codes(codes) or ("unknown",):
                out[code] = out.get(code, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def _where(
        self,
        status: str | Sequence[str] | None,
        code: str | Sequence[str] | None,
        search: str | None,
        after_row: int | None = None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if code is not None:
            codes = [code] if isinstance(code, str) else list(code)
            clauses.append(f"error_code IN ({', '.join('?' * len(codes))})")
            params.extend(codes)
        if search:
            text = search.strip()
            like = f"%{_like_escape(text)}%"
            cond = "(external_id LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' OR clerk_user_id = ?"
            params.extend([like, like, text])
            if text.isdigit():
                cond += " OR row_no = ?"
                params.append(int(text))
            cond += ")"
            clauses.append(cond)
        if after_row is not None:
            clauses.append("row_no > ?")
            params.append(after_row)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def rows(
        self,
        *,
        status: str | Sequence[str] | None = None,
        code: str | Sequence[str] | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
        after_row: int | None = None,
    ) -> list[RowRecord]:
        """One page of rows in row order. Filters combine with AND; `search` matches a part
        of the external id or email, an exact Clerk user id, or an exact row number.
        Page with `offset` (small tables) or `after_row` = the last row_no seen (keyset, any size)."""
        where, params = self._where(status, code, search, after_row)
        params.extend([int(limit), int(offset)])
        cur = self._conn.execute(f"SELECT {_ROW_COLUMNS} FROM rows{where} ORDER BY row_no LIMIT ? OFFSET ?", params)
        return [_row_from(r) for r in cur.fetchall()]

    def count_rows(
        self,
        *,
        status: str | Sequence[str] | None = None,
        code: str | Sequence[str] | None = None,
        search: str | None = None,
    ) -> int:
        where, params = self._where(status, code, search)
        return self._conn.execute(f"SELECT COUNT(*) FROM rows{where}", params).fetchone()[0]

    def iter_rows(
        self,
        *,
        status: str | Sequence[str] | None = None,
        code: str | Sequence[str] | None = None,
        batch: int = 1000,
    ) -> Iterator[RowRecord]:
        """Every matching row in row order, read in keyset pages (constant memory)."""
        last: int | None = None
        while True:
            page = self.rows(status=status, code=code, limit=batch, after_row=last)
            if not page:
                return
            yield from page
            last = page[-1].row_no

    def get_row(self, row_no: int) -> RowRecord | None:
        r = self._conn.execute(f"SELECT {_ROW_COLUMNS} FROM rows WHERE row_no = ?", (row_no,)).fetchone()
        return _row_from(r) if r else None

    def row_by_external_id(self, external_id: str) -> RowRecord | None:
        r = self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE external_id = ? ORDER BY status != 'refused', row_no LIMIT 1",
            (external_id,),
        ).fetchone()
        return _row_from(r) if r else None

    def row_nos(self, *, status: str | Sequence[str], after_row: int | None = None, limit: int = 1000) -> list[int]:
        where, params = self._where(status, None, None, after_row)
        params.append(int(limit))
        return [r[0] for r in self._conn.execute(f"SELECT row_no FROM rows{where} ORDER BY row_no LIMIT ?", params)]

    # ------------------------------------------------------------------ operator actions
    def set_fix(self, row_no: int, fields: dict[str, Any] | None) -> RowRecord:
        """Set (replace) the operator's overrides for one row; None or {} clears them.
        Allowed on pending and failed rows; keys from FIXABLE_FIELDS."""
        fields = dict(fields or {})
        unknown = sorted(set(fields) - FIXABLE_FIELDS)
        if unknown:
            raise ValueError(
                f"row {row_no}: cannot override {', '.join(unknown)} (allowed: {', '.join(sorted(FIXABLE_FIELDS))})"
            )
        for name, value in fields.items():
            if name == "email_verified":
                if value is not None and not isinstance(value, bool):
                    raise ValueError(f"row {row_no}: email_verified must be true, false or null")
            elif value is not None and not isinstance(value, str):
                raise ValueError(f"row {row_no}: {name} must be text")
        row = self.get_row(row_no)
        if row is None:
            raise ValueError(f"no row {row_no} in this run")
        if row.status not in {"pending", "failed"}:
            raise ValueError(f"row {row_no} is {row.status}: only pending or failed rows can be fixed")
        fix_json = json.dumps(fields, sort_keys=True) if fields else None
        with self._tx() as c:
            c.execute(
                "UPDATE rows SET fix_json = ?, email = CASE WHEN ? THEN ? ELSE export_email END, updated_at = ?"
                " WHERE row_no = ? AND status IN ('pending', 'failed')",
                (fix_json, "email" in fields, fields.get("email"), time.time(), row_no),
            )
        return self.get_row(row_no)  # type: ignore[return-value]

    def retry_selection(
        self, *, codes: Sequence[str] | None = None, row_nos: Sequence[int] | None = None
    ) -> tuple[str, list[Any]]:
        if row_nos:
            ids = [int(r) for r in row_nos]
            return f"status = 'failed' AND row_no IN ({', '.join('?' * len(ids))})", ids
        if codes:
            return f"status = 'failed' AND error_code IN ({', '.join('?' * len(codes))})", list(codes)
        retryable = sorted(RETRYABLE_CODES)
        return (
            f"status = 'failed' AND (error_code IN ({', '.join('?' * len(retryable))}) OR fix_json IS NOT NULL)",
            retryable,
        )

    def count_retryable(self, *, codes: Sequence[str] | None = None, row_nos: Sequence[int] | None = None) -> int:
        where, params = self.retry_selection(codes=codes, row_nos=row_nos)
        return self._conn.execute(f"SELECT COUNT(*) FROM rows WHERE {where}", params).fetchone()[0]

    def reset_for_retry(self, *, codes: Sequence[str] | None = None, row_nos: Sequence[int] | None = None) -> int:
        """Failed rows back to pending: the given row numbers, else those with the given codes,
        else every retryable one (codes in RETRYABLE_CODES, or rows with a fix). Returns how many."""
        where, params = self.retry_selection(codes=codes, row_nos=row_nos)
        with self._tx() as c:
            cur = c.execute(
                "UPDATE rows SET status = 'pending', error_code = NULL, error_param = NULL,"
                f" error_message = NULL, updated_at = ? WHERE {where}",
                [time.time(), *params],
            )
            n = cur.rowcount
        if n:
            self.add_event("retry", f"{n} failed row(s) reset to pending")
        return n

    # ------------------------------------------------------------------ engine transitions
    # Each is one committed transaction, so the importer counts an outcome only
    # once it is durable.
    def mark_creating(self, row_nos: Sequence[int]) -> None:
        """pending -> creating (attempts + 1), committed before the creates are sent."""
        now = time.time()
        with self._tx() as c:
            c.executemany(
                "UPDATE rows SET status = 'creating', attempts = attempts + 1, updated_at = ?"
                " WHERE row_no = ? AND status = 'pending'",
                [(now, r) for r in row_nos],
            )

    def mark_uncertain(self, row_nos: Sequence[int]) -> None:
        """A create's answer never came: the row stays creating until a lookup settles it."""
        now = time.time()
        with self._tx() as c:
            c.executemany(
                "UPDATE rows SET uncertain = 1, updated_at = ? WHERE row_no = ?", [(now, r) for r in row_nos]
            )

    def record(self, outcomes: Sequence[tuple]) -> None:
        """Write several outcomes in one transaction. Each item is one of
        ("created", row_no, clerk_user_id) | ("existed", row_no, clerk_user_id) |
        ("failed", row_no, code, param, message) | ("pending", row_no, uncertain: bool) |
        ("note", row_no, code, param, message) (status unchanged)."""
        now = time.time()
        with self._tx() as c:
            for item in outcomes:
                kind, row_no = item[0], item[1]
                if kind in ("created", "existed"):
                    c.execute(
                        "UPDATE rows SET status = ?, clerk_user_id = ?, error_code = NULL, error_param = NULL,"
                        " error_message = NULL, updated_at = ? WHERE row_no = ?",
                        (kind, item[2], now, row_no),
                    )
                elif kind == "failed":
                    c.execute(
                        "UPDATE rows SET status = 'failed', error_code = ?, error_param = ?, error_message = ?,"
                        " updated_at = ? WHERE row_no = ?",
                        (item[2], item[3], item[4], now, row_no),
                    )
                elif kind == "note":  # Clerk's answer kept while a lookup settles the row
                    c.execute(
                        "UPDATE rows SET error_code = ?, error_param = ?, error_message = ?, updated_at = ?"
                        " WHERE row_no = ?",
                        (item[2], item[3], item[4], now, row_no),
                    )
                elif kind == "pending":
                    c.execute(
                        "UPDATE rows SET status = 'pending', uncertain = MAX(uncertain, ?), error_code = NULL,"
                        " error_param = NULL, error_message = NULL, updated_at = ? WHERE row_no = ?",
                        (1 if item[2] else 0, now, row_no),
                    )
                else:
                    raise ValueError(f"unknown outcome {kind!r}")

    # ------------------------------------------------------------------ sessions, events, meta
    def start_session(self, kind: str) -> int:
        with self._tx() as c:
            cur = c.execute("INSERT INTO sessions (kind, started_at) VALUES (?, ?)", (kind, time.time()))
            return int(cur.lastrowid)

    def update_session(self, session_id: int, *, end: bool = False, outcome: str | None = None, **figures: int) -> None:
        sets = [f"{k} = ?" for k in figures if k in {"requests", "rate_limited", "created", "existed", "failed"}]
        params: list[Any] = [figures[k] for k in figures if k in {"requests", "rate_limited", "created", "existed", "failed"}]
        sets.append("ended_at = ?")
        params.append(time.time())
        if outcome is not None:
            sets.append("outcome = ?")
            params.append(outcome)
        params.append(session_id)
        with self._tx() as c:
            c.execute(f"UPDATE sessions SET {', '.join(sets)} WHERE id = ?", params)

    def sessions(self) -> list[dict[str, Any]]:
        cur = self._conn.execute(
            "SELECT id, kind, started_at, ended_at, requests, rate_limited, created, existed, failed, outcome"
            " FROM sessions ORDER BY id"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def add_event(self, kind: str, message: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO events (at, kind, message) VALUES (?, ?, ?)", (time.time(), kind, message))

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        cur = self._conn.execute("SELECT at, kind, message FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return [{"at": a, "kind": k, "message": m} for a, k, m in cur.fetchall()][::-1]

    def get_meta(self, key: str, default: Any = None) -> Any:
        r = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(r[0]) if r and r[0] is not None else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
