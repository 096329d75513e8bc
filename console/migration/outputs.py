"""What the operator takes away after an import: the id map, the foreign-key
SQL, the session-token claim, and the app-code checklist.

    write_id_map(journal, path)                       -> IdMapResult   (CSV external_id,clerk_user_id,email)
    write_fk_sql(journal, path, fks, dialect)         -> FkSqlResult   (one transaction, count-checked)
    parse_fk("public.Post.authorId", dialect)         -> FkColumn      (FkError when malformed)
    session_claim_snippet()                           -> SessionClaim  (the other option: keep the old ids)
    app_code_steps()                                  -> list[AppCodeStep]

Everything streams from the journal (constant memory, any number of rows).
Rows this run created or found already there (`created`, `existed`) are in the
map, less the users a later `undo` deleted; `left_out(journal)` says which rows
are not, and why (failed, refused, still pending, undone, no external id).

Files. Each is written to a temporary file beside it (`.NAME.clerk-migrate-PID-….tmp`,
0600), fsynced, then renamed over the destination. `write_outputs` writes the map
and the SQL as a pair: both temporaries complete first, then an intent record
(`.CSVNAME.clerk-migrate-pair.json` beside the map) names both renames, then both
renames, then the record goes. A kill before the record changes neither file; a
kill after it leaves the record, and the next `export-ids` to that map finishes
both renames before anything else: both change, or neither. Temporaries of a
killed export-ids (their process gone) are removed by the next one.

CSV cells that start like a spreadsheet formula (`=`, `+`, `-`, `@`, tab, CR)
are written with a leading `'` (console/source/report.py's rule, the same as
the validation report), unless `raw=True` (for a program that reads the map).

The SQL scripts are all or nothing. Each loads the map into a temporary table,
then checks before changing anything: the map loaded completely, every named
column holds only ids of the map (old ones, or Clerk ids of the map: a second
run is a no-op), and (PostgreSQL, MySQL) the column can hold a Clerk id. Each
UPDATE is followed by a check that it changed exactly the rows counted just
before it. A failed check aborts the transaction, so nothing is changed:

- PostgreSQL: one `DO` block that `RAISE`s (the transaction is then aborted;
  the final COMMIT becomes a ROLLBACK even in a client that goes on after errors).
- SQLite: `RAISE(ROLLBACK, …)` in temporary triggers on a temporary checks
  table; every UPDATE is also guarded by "all checks recorded", so a client that
  goes on after an error (sqlite3 without -bail) cannot commit a partial rewrite.
- MySQL / MariaDB: named CHECK constraints on a temporary checks table (enforced
  since MySQL 8.0.16 / MariaDB 10.2; the constraint's name says what failed),
  a scalar subquery that fails on older servers, and every UPDATE guarded by a
  session flag set only when every check passed.

Identifiers are always quoted (double quotes for PostgreSQL and SQLite,
backticks for MySQL, embedded quote characters doubled); values are string
literals with quotes doubled (PostgreSQL: E'' with doubled backslashes when a
value holds one; MySQL: a hex literal for anything but plain printable ASCII,
so neither backslash escapes nor the client's own parsing can change a value).
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NamedTuple

from console.migration.errors import MigrationError
from console.migration.journal import RunJournal
from console.migration.undo import undone_count, undone_filter
from console.source.report import _cell as spreadsheet_cell  # the validation report's CSV-injection rule

Dialect = Literal["postgresql", "mysql", "sqlite"]
DIALECTS: tuple[str, ...] = ("postgresql", "mysql", "sqlite")
CSV_HEADER = ("external_id", "clerk_user_id", "email")
MAP_TABLE = "clerk_migrate_id_map"
INSERT_CHUNK = {"postgresql": 1000, "mysql": 1000, "sqlite": 500}
# the longest identifier each server keeps as given (PostgreSQL truncates past 63 bytes)
MAX_IDENT = {"postgresql": 63, "mysql": 64, "sqlite": 1000}


class FkError(MigrationError, ValueError):
    """A --fk name that is not TABLE.COLUMN or SCHEMA.TABLE.COLUMN; str() is one line."""


class OutputError(MigrationError):
    """A file cannot be written, or a value cannot go in the script; str() is one line."""


# ----------------------------------------------------------------------------- names
@dataclass(frozen=True, slots=True)
class FkColumn:
    """A column that holds Auth.js user ids, to be rewritten to Clerk ids."""

    table: str
    column: str
    schema: str | None = None

    @property
    def name(self) -> str:
        """As given: schema.table.column."""
        return ".".join(p for p in (self.schema, self.table, self.column) if p is not None)

    def quoted_table(self, dialect: str) -> str:
        parts = [self.schema, self.table] if self.schema is not None else [self.table]
        return ".".join(quote_ident(p, dialect) for p in parts)

    def quoted(self, dialect: str) -> str:
        return f"{self.quoted_table(dialect)}.{quote_ident(self.column, dialect)}"


def _bad_char(text: str) -> str | None:
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in "\u2028\u2029":
            return f"U+{ord(ch):04X}"
    return None


def parse_fk(text: str, dialect: str = "postgresql") -> FkColumn:
    """TABLE.COLUMN or SCHEMA.TABLE.COLUMN, exactly as the database spells the
    names (they are quoted, so case counts: Prisma's `Post.authorId`). Raises FkError."""
    if dialect not in DIALECTS:
        raise FkError(f"unknown SQL dialect {dialect!r} (expected {', '.join(DIALECTS)})")
    shown = repr(text)
    if not isinstance(text, str) or not text:
        raise FkError("--fk '': expected TABLE.COLUMN or SCHEMA.TABLE.COLUMN, e.g. Account.userId")
    bad = _bad_char(text)
    if bad:
        raise FkError(f"--fk {shown}: holds a control character ({bad}); expected TABLE.COLUMN or SCHEMA.TABLE.COLUMN")
    parts = text.split(".")
    if len(parts) not in (2, 3):
        raise FkError(
            f"--fk {shown}: expected TABLE.COLUMN or SCHEMA.TABLE.COLUMN (found {len(parts)} dot-separated "
            "part(s)), e.g. Account.userId or public.Account.userId"
        )
    for part in parts:
        if not part:
            raise FkError(f"--fk {shown}: an empty name between dots; expected TABLE.COLUMN or SCHEMA.TABLE.COLUMN")
        if part != part.strip():
            raise FkError(f"--fk {shown}: {part!r} starts or ends with a space; give the names exactly")
        limit = MAX_IDENT[dialect]
        size = len(part.encode("utf-8")) if dialect == "postgresql" else len(part)
        if size > limit:
            raise FkError(f"--fk {shown}: {part[:20]!r}… is longer than {dialect} keeps a name ({limit})")
    if len(parts) == 3:
        return FkColumn(schema=parts[0], table=parts[1], column=parts[2])
    return FkColumn(table=parts[0], column=parts[1])


def quote_ident(name: str, dialect: str) -> str:
    if _bad_char(name) or not name:
        raise OutputError(f"cannot use {name!r} as a SQL name")
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


_MYSQL_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"'", "\\"}


def quote_literal(value: str, dialect: str) -> str:
    """A string literal that means exactly `value` whatever the server's settings."""
    if "\x00" in value:
        raise OutputError(f"{value[:40]!r}: a NUL character cannot go in a SQL value")
    if dialect == "mysql":
        if all(ch in _MYSQL_SAFE for ch in value):
            return "'" + value + "'"
        return "_utf8mb4 X'" + value.encode("utf-8").hex().upper() + "'"
    if dialect == "postgresql" and "\\" in value:
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + value.replace("'", "''") + "'"


# ----------------------------------------------------------------------------- the map
@dataclass(frozen=True, slots=True)
class MapRow:
    row_no: int
    external_id: str
    clerk_user_id: str
    email: str | None
    status: str


class _Pair(NamedTuple):
    row_no: int
    external_id: str | None
    clerk_user_id: str | None
    email: str | None
    status: str


def iter_id_map(journal: RunJournal, *, skipped: list[int] | None = None) -> Iterator[MapRow]:
    """Rows with a Clerk user (created or existed), row order, less the users undo
    deleted; rows without an external id or a Clerk id go to `skipped`."""
    undone = undone_filter(journal)
    page: list[Any] = []

    def flush() -> Iterator[MapRow]:
        gone = undone([r.row_no for r in page])
        for r in page:
            if r.row_no in gone:
                continue
            if not r.external_id or not r.clerk_user_id:
                if skipped is not None:
                    skipped.append(r.row_no)
                continue
            yield MapRow(r.row_no, r.external_id, r.clerk_user_id, r.email, r.status)

    # the five columns the map needs, straight from SQL in keyset pages: building a whole
    # RowRecord per row was 70 % of export-ids' time at 1,000,000 rows (py-spy)
    conn = journal.connection
    last = -1
    while True:
        rows = conn.execute(
            "SELECT row_no, external_id, clerk_user_id, email, status FROM rows"
            " WHERE status IN ('created', 'existed') AND row_no > ? ORDER BY row_no LIMIT 1000",
            (last,),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        page = [_Pair(*r) for r in rows]
        yield from flush()


@dataclass(frozen=True)
class IdMapResult:
    path: Path
    rows: int
    created: int
    existed: int
    skipped: list[int] = field(default_factory=list)  # row numbers without an external id / Clerk id
    escaped: int = 0  # cells written with a leading ' (they start like a spreadsheet formula)

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "rows": self.rows, "created": self.created, "existed": self.existed,
                "skipped": len(self.skipped), "escaped": self.escaped}


# ----------------------------------------------------------------------------- left out of the map
LEFT_OUT_KINDS = ("failed", "refused", "pending", "undone", "no_external_id")


@dataclass(frozen=True)
class LeftOut:
    """Rows of the export that are not in the map, and why: `failed` (Clerk refused them, or
    their outcome stayed unknown), `refused` (the export's checks refused them: never sent),
    `pending` (not sent yet, or in flight), `undone` (undo deleted the user), `no_external_id`
    (in Clerk, but without an id to map from). `examples`: up to 10 rows, row order."""

    counts: dict[str, int]
    examples: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "total": self.total, "examples": self.examples}

    def text(self) -> str:
        """One line: '3 failed, 20 refused, 1 pending (e.g. row 12 ck…: form_identifier_exists)'."""
        parts = [f"{n} {kind.replace('_', ' ')}" for kind, n in self.counts.items() if n]
        if not parts:
            return "none"
        shown = "; ".join(f"row {e['row']} {e['external_id'] or ''} {e['status']}: {e['reason'] or ''}".strip()
                          for e in self.examples[:3])
        return ", ".join(parts) + (f" (e.g. {shown})" if shown else "")


def left_out(journal: RunJournal, *, examples: int = 10) -> LeftOut:
    """Which rows the id map (and the SQL) leave out, and why."""
    counts = journal.counts()
    no_ext = journal.connection.execute(
        "SELECT COUNT(*) FROM rows WHERE status IN ('created', 'existed') AND (external_id IS NULL OR external_id = '')"
    ).fetchone()[0]
    kinds = {
        "failed": counts["failed"],
        "refused": counts["refused"],
        "pending": counts["pending"] + counts["creating"],
        "undone": undone_count(journal),
        "no_external_id": no_ext,
    }
    shown = []
    for rec in journal.rows(status=("failed", "refused", "pending", "creating"), limit=examples):
        reason = rec.error_code or (",".join(rec.refusal_codes) if rec.refusal_codes else None)
        if rec.status in ("pending", "creating"):
            reason = "not in Clerk yet (run the import again)" if not reason else reason
        shown.append({"row": rec.row_no, "external_id": rec.external_id, "status": rec.status, "reason": reason,
                      "message": rec.error_message})
    return LeftOut(kinds, shown)


TMP_TAG = "clerk-migrate"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{TMP_TAG}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries an earlier export-ids left beside `path` when it was killed:
    ours whose process is gone, and those of older versions (`.NAME.XXXXXXXX.tmp`)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    ours = re.compile(rf"^\.{re.escape(path.name)}\.{TMP_TAG}-(\d+)-[0-9a-f]+\.tmp$")
    legacy = re.compile(rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp$")
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = ours.match(entry.name)
        if (m and not _pid_alive(int(m.group(1)))) or (not m and legacy.match(entry.name)):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path if str(path) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _AtomicText:
    """A 0600 file written beside its destination (fsynced), renamed over it at the end;
    with commit=False the rename is left to the caller (`tmp` then holds the file)."""

    def __init__(self, path: str | os.PathLike[str], *, newline: str | None = None, commit: bool = True) -> None:
        self.path = Path(path)
        self.newline = newline
        self.commit = commit
        self.tmp: Path | None = None
        self._fh: Any = None

    def __enter__(self) -> Any:
        if self.path.exists() and self.path.is_dir():
            raise OutputError(f"{self.path}: is a folder; give a file name")
        clean_stale_temps(self.path)
        self.tmp = _tmp_name(self.path)
        try:
            fd = os.open(self.tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError as exc:
            self.tmp = None
            raise OutputError(f"{self.path}: cannot write there ({exc.strerror or exc})") from None
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline=self.newline)
        return self._fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._fh is not None and self.tmp is not None
        ok = False
        try:
            if exc_type is None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            if exc_type is None and self.commit:
                os.replace(self.tmp, self.path)
                _fsync_dir(self.path.parent)
            ok = exc_type is None
        except OSError as e:
            raise OutputError(f"{self.path}: cannot write it ({e.strerror or e})") from None
        finally:
            if not ok or self.commit:
                if not ok:
                    self.discard()
                else:
                    self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def write_id_map(journal: RunJournal, path: str | os.PathLike[str], *, raw: bool = False,
                 _commit: bool = True, _holder: list[Any] | None = None) -> IdMapResult:
    """CSV `external_id,clerk_user_id,email` for every row with a Clerk user, streamed,
    written atomically (0600: it holds email addresses). Cells that start like a formula get
    a leading ' unless raw=True."""
    skipped: list[int] = []
    rows = created = existed = escaped = 0
    out = _AtomicText(path, newline="", commit=_commit)
    with out as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for m in iter_id_map(journal, skipped=skipped):
            cells = (m.external_id, m.clerk_user_id, m.email or "")
            if not raw:
                safe = tuple(spreadsheet_cell(c) for c in cells)
                escaped += sum(1 for a, b in zip(cells, safe) if a != b)
                cells = safe
            writer.writerow(cells)
            rows += 1
            if m.status == "created":
                created += 1
            else:
                existed += 1
    if _holder is not None:
        _holder.append(out)
    return IdMapResult(Path(path), rows, created, existed, skipped, escaped)


# ----------------------------------------------------------------------------- the SQL
@dataclass(frozen=True)
class FkSqlResult:
    path: Path
    dialect: str
    rows: int  # ids in the map
    columns: list[str]  # the FK columns, as given
    run_with: str  # how to run it

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "dialect": self.dialect, "rows": self.rows, "columns": self.columns,
                "run_with": self.run_with}


RUN_WITH = {
    "postgresql": "psql -v ON_ERROR_STOP=1 -d \"$DATABASE_URL\" -f {path}",
    "mysql": "mysql --database=DBNAME < {path}   (never with --force)",
    "sqlite": "sqlite3 -bail app.db < {path}",
}


def _chunks(rows: Iterable[MapRow], size: int) -> Iterator[list[MapRow]]:
    chunk: list[MapRow] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _header(dialect: str, fks: Sequence[FkColumn], source: str, missing: LeftOut | None = None) -> list[str]:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    cols = ", ".join(fk.quoted(dialect) for fk in fks)
    left = []
    if missing is not None and missing.total:
        left = [
            f"-- Left out of the map (not in Clerk, or no id to map): {_comment(missing.text())}.",
            "-- A column holding one of their ids makes this script abort before it changes anything.",
        ]
    return [
        f"-- clerk-migrate export-ids ({dialect}), {when}",
        f"-- run: {_comment(source)}",
        f"-- Rewrites Auth.js user ids to Clerk user ids in: {_comment(cols)}",
        *left,
        f"-- Run it with:  {RUN_WITH[dialect].format(path='THIS_FILE.sql')}",
        "-- All or nothing, in one transaction: it aborts and changes nothing when a row of these",
        "-- columns holds an id that is not in the map, or an UPDATE does not change exactly the",
        "-- rows counted just before it. Running it a second time changes nothing.",
        "-- Stop the app (or put it in maintenance) while it runs: new rows with old ids would be missed.",
        "",
    ]


def _comment(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def _values(rows: list[MapRow], dialect: str) -> str:
    return ",\n".join(
        f"({quote_literal(r.external_id, dialect)}, {quote_literal(r.clerk_user_id, dialect)})" for r in rows
    )


def _pg_script(rows: Iterable[MapRow], fks: Sequence[FkColumn], count: list[int]) -> Iterator[str]:
    d = "postgresql"
    yield "BEGIN;\n"
    yield "SET CONSTRAINTS ALL DEFERRED;  -- only DEFERRABLE constraints are affected\n"
    yield (f"CREATE TEMPORARY TABLE {MAP_TABLE} (old_id text PRIMARY KEY, clerk_user_id text NOT NULL UNIQUE)"
           " ON COMMIT DROP;\n")
    for chunk in _chunks(rows, INSERT_CHUNK[d]):
        count[0] += len(chunk)
        yield f"INSERT INTO {MAP_TABLE} (old_id, clerk_user_id) VALUES\n{_values(chunk, d)};\n"
    yield f"ANALYZE {MAP_TABLE};\n"
    lit = lambda s: quote_literal(s, d)  # noqa: E731
    body: list[str] = [
        "DECLARE",
        "  n_map bigint;",
        "  max_len integer;",
        "  col_type text;",
        "  col_mod integer;",
        "  unmapped bigint;",
        "  expected bigint;",
        "  updated bigint;",
        "BEGIN",
        f"  SELECT count(*), coalesce(max(length(clerk_user_id)), 0) INTO n_map, max_len FROM {MAP_TABLE};",
        f"  IF n_map <> {count[0]} THEN",
        f"    RAISE EXCEPTION '%', {lit('clerk-migrate: the id map loaded ')} || n_map || "
        f"{lit(f' ids, the script holds {count[0]}: nothing was changed')};",
        "  END IF;",
    ]
    for fk in fks:
        table, col = fk.quoted_table(d), quote_ident(fk.column, d)
        name = fk.quoted(d)
        body += [
            f"  -- {_comment(name)}: can it hold a Clerk id, and is every id in the map?",
            f"  IF to_regclass({lit(table)}) IS NULL THEN",
            f"    RAISE EXCEPTION '%', {lit(f'clerk-migrate: no table {table}: nothing was changed')};",
            "  END IF;",
            "  col_type := NULL;",
            "  SELECT format_type(a.atttypid, NULL), a.atttypmod INTO col_type, col_mod FROM pg_attribute a",
            f"   WHERE a.attrelid = to_regclass({lit(table)}) AND a.attname = {lit(fk.column)}"
            " AND a.attnum > 0 AND NOT a.attisdropped;",
            "  IF col_type IS NULL THEN",
            f"    RAISE EXCEPTION '%', {lit(f'clerk-migrate: no column {name}: nothing was changed')};",
            "  END IF;",
            "  IF col_type NOT IN ('text', 'character varying', 'citext') THEN",
            f"    RAISE EXCEPTION '%', {lit(f'clerk-migrate: {name} is ')} || col_type || "
            f"{lit(f'; Clerk user ids are text (user_…): change its type first (ALTER TABLE {table} ALTER COLUMN {col} TYPE text, and the column it references): nothing was changed')};",
            "  END IF;",
            "  IF col_type = 'character varying' AND col_mod > 4 AND col_mod - 4 < max_len THEN",
            f"    RAISE EXCEPTION '%', {lit(f'clerk-migrate: {name} is varchar(')} || (col_mod - 4) || "
            f"{lit('), too short for Clerk user ids of ')} || max_len || {lit(' characters: widen it first: nothing was changed')};",
            "  END IF;",
            f"  SELECT count(*) INTO unmapped FROM {table} AS t WHERE t.{col} IS NOT NULL",
            f"    AND NOT EXISTS (SELECT 1 FROM {MAP_TABLE} m WHERE m.old_id = t.{col}::text)",
            f"    AND NOT EXISTS (SELECT 1 FROM {MAP_TABLE} m WHERE m.clerk_user_id = t.{col}::text);",
            "  IF unmapped <> 0 THEN",
            f"    RAISE EXCEPTION '%', {lit('clerk-migrate: ')} || unmapped || "
            f"{lit(f' row(s) of {name} hold an id that is not in the map (a user that was not imported, or was refused or failed): import or remove them first: nothing was changed')};",
            "  END IF;",
        ]
    for fk in fks:
        table, col = fk.quoted_table(d), quote_ident(fk.column, d)
        name = fk.quoted(d)
        body += [
            f"  -- rewrite {_comment(name)}",
            f"  SELECT count(*) INTO expected FROM {table} AS t",
            f"    WHERE EXISTS (SELECT 1 FROM {MAP_TABLE} m WHERE m.old_id = t.{col}::text);",
            f"  UPDATE {table} AS t SET {col} = m.clerk_user_id FROM {MAP_TABLE} m WHERE m.old_id = t.{col}::text;",
            "  GET DIAGNOSTICS updated = ROW_COUNT;",
            "  IF updated <> expected THEN",
            f"    RAISE EXCEPTION '%', {lit(f'clerk-migrate: {name}: the UPDATE changed ')} || updated || "
            f"{lit(' row(s), ')} || expected || {lit(' were counted: nothing was changed')};",
            "  END IF;",
            f"  RAISE NOTICE '%', {lit('clerk-migrate: ')} || updated || {lit(f' row(s) of {name} rewritten')};",
        ]
    body.append("END")
    text = "\n".join(body)
    tag = "$clerk_migrate$"
    i = 0
    while tag in text:
        i += 1
        tag = f"$clerk_migrate_{i}$"
    yield f"DO {tag}\n{text}\n{tag};\n"
    yield "COMMIT;\n"


def _sqlite_script(rows: Iterable[MapRow], fks: Sequence[FkColumn], count: list[int]) -> Iterator[str]:
    d = "sqlite"
    lit = lambda s: quote_literal(s, d)  # noqa: E731
    yield "BEGIN IMMEDIATE;\n"
    yield "PRAGMA defer_foreign_keys = ON;  -- foreign keys (when enforced) are checked at COMMIT\n"
    yield f"CREATE TEMP TABLE {MAP_TABLE} (old_id TEXT PRIMARY KEY, clerk_user_id TEXT NOT NULL UNIQUE);\n"
    for chunk in _chunks(rows, INSERT_CHUNK[d]):
        count[0] += len(chunk)
        yield f"INSERT INTO {MAP_TABLE} (old_id, clerk_user_id) VALUES\n{_values(chunk, d)};\n"
    yield "CREATE TEMP TABLE clerk_migrate_checks (step TEXT NOT NULL, n INTEGER NOT NULL);\n"
    yield "CREATE TEMP TABLE clerk_migrate_expected (step TEXT NOT NULL, n INTEGER NOT NULL);\n"

    def trigger(step: str, condition: str, message: str) -> str:
        name = quote_ident(f"clerk_migrate_{step.replace(':', '_')}", d)
        return (f"CREATE TEMP TRIGGER {name} BEFORE INSERT ON clerk_migrate_checks\n"
                f"  WHEN NEW.step = {lit(step)} AND {condition}\n"
                f"  BEGIN SELECT RAISE(ROLLBACK, {lit(message)}); END;\n")

    yield trigger("map", f"NEW.n <> {count[0]}",
                  f"clerk-migrate: the id map did not load completely ({count[0]} ids expected): nothing was changed")
    for i, fk in enumerate(fks, 1):
        name = fk.quoted(d)
        yield trigger(f"unmapped:{i}", "NEW.n <> 0",
                      f"clerk-migrate: rows of {name} hold an id that is not in the map (a user that was not "
                      "imported, or was refused or failed): import or remove them first: nothing was changed")
        yield trigger(f"updated:{i}", "NEW.n <> 0",
                      f"clerk-migrate: {name}: the UPDATE did not change exactly the rows counted before it: "
                      "nothing was changed")
    yield f"INSERT INTO clerk_migrate_checks (step, n) SELECT 'map', COUNT(*) FROM {MAP_TABLE};\n"
    for i, fk in enumerate(fks, 1):
        table, col = fk.quoted_table(d), quote_ident(fk.column, d)
        ref = f"{quote_ident(fk.table, d)}.{col}"
        yield (f"INSERT INTO clerk_migrate_checks (step, n) SELECT 'unmapped:{i}', COUNT(*) FROM {table}\n"
               f"  WHERE {ref} IS NOT NULL\n"
               f"    AND CAST({ref} AS TEXT) NOT IN (SELECT old_id FROM {MAP_TABLE})\n"
               f"    AND CAST({ref} AS TEXT) NOT IN (SELECT clerk_user_id FROM {MAP_TABLE});\n")
    # every check recorded (a failed one rolled everything back, tables included)
    ready = f"(SELECT COUNT(*) FROM clerk_migrate_checks) = {1 + len(fks)}"
    for i, fk in enumerate(fks, 1):
        table, col = fk.quoted_table(d), quote_ident(fk.column, d)
        ref = f"{quote_ident(fk.table, d)}.{col}"
        yield (f"INSERT INTO clerk_migrate_expected (step, n) SELECT 'updated:{i}', COUNT(*) FROM {table}\n"
               f"  WHERE CAST({ref} AS TEXT) IN (SELECT old_id FROM {MAP_TABLE});\n")
        yield (f"UPDATE {table} SET {col} = (SELECT m.clerk_user_id FROM {MAP_TABLE} AS m"
               f" WHERE m.old_id = CAST({ref} AS TEXT))\n"
               f"  WHERE CAST({ref} AS TEXT) IN (SELECT old_id FROM {MAP_TABLE}) AND {ready};\n")
        yield (f"INSERT INTO clerk_migrate_checks (step, n) SELECT 'updated:{i}', changes() -"
               f" (SELECT n FROM clerk_migrate_expected WHERE step = 'updated:{i}');\n")
        ready = f"(SELECT COUNT(*) FROM clerk_migrate_checks) = {1 + len(fks) + i}"
    yield "DROP TABLE clerk_migrate_checks;\n"
    yield "DROP TABLE clerk_migrate_expected;\n"
    yield f"DROP TABLE {MAP_TABLE};\n"
    yield "COMMIT;\n"


def _mysql_script(rows: Iterable[MapRow], fks: Sequence[FkColumn], count: list[int]) -> Iterator[str]:
    d = "mysql"
    lit = lambda s: quote_literal(s, d)  # noqa: E731
    coll = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    yield "SET @clerk_migrate_ok := 0;\n"
    yield "START TRANSACTION;\n"
    yield (f"CREATE TEMPORARY TABLE {MAP_TABLE} (old_id VARCHAR(768) {coll} NOT NULL PRIMARY KEY,"
           f" clerk_user_id VARCHAR(255) {coll} NOT NULL, UNIQUE KEY (clerk_user_id));\n")
    for chunk in _chunks(rows, INSERT_CHUNK[d]):
        count[0] += len(chunk)
        yield f"INSERT INTO {MAP_TABLE} (old_id, clerk_user_id) VALUES\n{_values(chunk, d)};\n"
    n = count[0]
    yield (
        "CREATE TEMPORARY TABLE clerk_migrate_checks (\n"
        "  step VARCHAR(300) NOT NULL,\n"
        "  map_rows BIGINT NULL, column_ok BIGINT NULL, unmapped BIGINT NULL, update_diff BIGINT NULL,\n"
        f"  CONSTRAINT clerk_migrate_id_map_not_fully_loaded CHECK (map_rows IS NULL OR map_rows = {n}),\n"
        "  CONSTRAINT clerk_migrate_column_missing_or_not_text_or_too_short CHECK (column_ok IS NULL OR column_ok = 1),\n"
        "  CONSTRAINT clerk_migrate_rows_hold_ids_not_in_the_map CHECK (unmapped IS NULL OR unmapped = 0),\n"
        "  CONSTRAINT clerk_migrate_update_count_differs CHECK (update_diff IS NULL OR update_diff = 0)\n"
        ");\n"
    )
    # for servers that do not enforce CHECK (MySQL < 8.0.16): a scalar subquery of 2 rows fails
    yield "CREATE TEMPORARY TABLE clerk_migrate_two_rows (n INT NOT NULL);\n"
    yield "INSERT INTO clerk_migrate_two_rows (n) VALUES (1), (2);\n"
    fail_if = (lambda cond: f"SELECT (SELECT n FROM clerk_migrate_two_rows WHERE {cond}) INTO @clerk_migrate_fail;\n")
    yield f"SELECT COUNT(*), COALESCE(MAX(CHAR_LENGTH(clerk_user_id)), 0) INTO @clerk_n, @clerk_max_len FROM {MAP_TABLE};\n"
    yield "INSERT INTO clerk_migrate_checks (step, map_rows) VALUES ('id map', @clerk_n);\n"
    yield fail_if(f"@clerk_n <> {n}")
    for fk in fks:
        table, col = fk.quoted_table(d), quote_ident(fk.column, d)
        name = fk.quoted(d)
        conv = f"CONVERT(t.{col} USING utf8mb4) COLLATE utf8mb4_bin"
        schema = lit(fk.schema) if fk.schema is not None else "DATABASE()"
        yield f"-- {_comment(name)}\n"
        yield ("SELECT COUNT(*) INTO @clerk_col_ok FROM information_schema.COLUMNS\n"
               f"  WHERE TABLE_SCHEMA = {schema} AND TABLE_NAME = {lit(fk.table)} AND COLUMN_NAME = {lit(fk.column)}\n"
               "    AND DATA_TYPE IN ('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext')\n"
               "    AND (CHARACTER_MAXIMUM_LENGTH IS NULL OR CHARACTER_MAXIMUM_LENGTH >= @clerk_max_len);\n")
        yield f"INSERT INTO clerk_migrate_checks (step, column_ok) VALUES ({lit(name)}, @clerk_col_ok);\n"
        yield fail_if("@clerk_col_ok <> 1")
        yield f"SELECT COUNT(*) INTO @clerk_total FROM {table} AS t WHERE t.{col} IS NOT NULL;\n"
        yield f"SELECT COUNT(*) INTO @clerk_old FROM {table} AS t JOIN {MAP_TABLE} AS m ON m.old_id = {conv};\n"
        yield f"SELECT COUNT(*) INTO @clerk_new FROM {table} AS t JOIN {MAP_TABLE} AS m ON m.clerk_user_id = {conv};\n"
        yield (f"INSERT INTO clerk_migrate_checks (step, unmapped) VALUES ({lit(name)},"
               " @clerk_total - @clerk_old - @clerk_new);\n")
        yield fail_if("@clerk_total - @clerk_old - @clerk_new <> 0")
    yield (
        "SET @clerk_migrate_ok := (SELECT COUNT(*) FROM clerk_migrate_checks WHERE"
        f" (map_rows IS NOT NULL AND map_rows = {n}) OR column_ok = 1 OR unmapped = 0) = {1 + 2 * len(fks)};\n"
    )
    for fk in fks:
        table, col = fk.quoted_table(d), quote_ident(fk.column, d)
        name = fk.quoted(d)
        conv = f"CONVERT(t.{col} USING utf8mb4) COLLATE utf8mb4_bin"
        yield f"-- rewrite {_comment(name)}\n"
        yield (f"SELECT COUNT(*) INTO @clerk_expected FROM {table} AS t JOIN {MAP_TABLE} AS m ON m.old_id = {conv}"
               " WHERE @clerk_migrate_ok = 1;\n")
        yield (f"UPDATE {table} AS t JOIN {MAP_TABLE} AS m ON m.old_id = {conv}\n"
               f"  SET t.{col} = m.clerk_user_id WHERE @clerk_migrate_ok = 1;\n")
        yield "SET @clerk_updated := ROW_COUNT();\n"
        yield (f"INSERT INTO clerk_migrate_checks (step, update_diff) VALUES ({lit(name)},"
               " @clerk_updated - @clerk_expected);\n")
        yield fail_if("@clerk_updated <> @clerk_expected")
    yield "DROP TEMPORARY TABLE clerk_migrate_two_rows;\n"
    yield "DROP TEMPORARY TABLE clerk_migrate_checks;\n"
    yield f"DROP TEMPORARY TABLE {MAP_TABLE};\n"
    yield "COMMIT;\n"


_SCRIPTS = {"postgresql": _pg_script, "sqlite": _sqlite_script, "mysql": _mysql_script}


def fk_sql(rows: Iterable[MapRow], fks: Sequence[FkColumn], dialect: str, *, source: str = "",
           count: list[int] | None = None, missing: LeftOut | None = None) -> Iterator[str]:
    """The script as text pieces (streamed). `count[0]` ends as the number of ids written."""
    if dialect not in DIALECTS:
        raise OutputError(f"unknown SQL dialect {dialect!r} (expected {', '.join(DIALECTS)})")
    if not fks:
        raise OutputError("no column to rewrite: give --fk TABLE.COLUMN at least once")
    seen: set[tuple[str | None, str, str]] = set()
    unique: list[FkColumn] = []
    for fk in fks:
        k = (fk.schema, fk.table, fk.column)
        if k not in seen:
            seen.add(k)
            unique.append(fk)
    counter = count if count is not None else [0]
    yield "\n".join(_header(dialect, unique, source, missing))
    yield from _SCRIPTS[dialect](rows, unique, counter)


def write_fk_sql(
    journal: RunJournal, path: str | os.PathLike[str], fks: Sequence[FkColumn | str], dialect: str = "postgresql"
) -> FkSqlResult:
    """The foreign-key rewrite script for `dialect`, streamed from the journal into
    `path` (0600, atomic). `fks`: FkColumn or "TABLE.COLUMN" / "SCHEMA.TABLE.COLUMN"
    (FkError when malformed)."""
    return _write_fk_sql(journal, path, fks, dialect)


def _write_fk_sql(journal: RunJournal, path: str | os.PathLike[str], fks: Sequence[FkColumn | str], dialect: str,
                  *, _commit: bool = True, _holder: list[Any] | None = None) -> FkSqlResult:
    cols = [fk if isinstance(fk, FkColumn) else parse_fk(fk, dialect) for fk in fks]
    count = [0]
    missing = left_out(journal)
    out = _AtomicText(path, commit=_commit)
    with out as fh:
        for piece in fk_sql(iter_id_map(journal), cols, dialect, source=str(journal.run_dir), count=count,
                            missing=missing):
            fh.write(piece)
    if _holder is not None:
        _holder.append(out)
    return FkSqlResult(Path(path), dialect, count[0], [c.name for c in cols],
                       RUN_WITH[dialect].format(path=str(path)))


# ----------------------------------------------------------------------------- the pair, both or neither
def pair_record(csv_path: str | os.PathLike[str]) -> Path:
    p = Path(csv_path)
    return p.with_name(f".{p.name}.{TMP_TAG}-pair.json")


def finish_interrupted_pair(csv_path: str | os.PathLike[str]) -> list[str]:
    """A pair whose renames a kill interrupted (its intent record is there): finish them.
    Returns the destinations renamed now."""
    record = pair_record(csv_path)
    clean_stale_temps(record)  # a record killed before its rename: its pair never started renaming
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        data = {"renames": []}
    done = []
    for tmp, dst in data.get("renames") or []:
        if os.path.exists(tmp):
            try:
                os.replace(tmp, dst)
                done.append(dst)
            except OSError as exc:
                raise OutputError(f"{dst}: cannot finish the interrupted export-ids ({exc.strerror or exc})") from None
    for dst in {os.path.dirname(d) for d in done}:
        _fsync_dir(Path(dst))
    try:
        record.unlink()
    except FileNotFoundError:
        pass
    return done


def write_outputs(
    journal: RunJournal,
    csv_path: str | os.PathLike[str],
    sql_path: str | os.PathLike[str] | None = None,
    fks: Sequence[FkColumn | str] = (),
    dialect: str = "postgresql",
    *,
    raw: bool = False,
) -> tuple[IdMapResult, FkSqlResult | None, list[str]]:
    """The id map, and with `sql_path` the foreign-key SQL, as a pair that changes together
    (see the module doc). Returns (map, sql or None, destinations an interrupted earlier pair
    finished first)."""
    finished = finish_interrupted_pair(csv_path)
    if sql_path is None:
        return write_id_map(journal, csv_path, raw=raw), None, finished
    held: list[_AtomicText] = []
    try:
        ids = write_id_map(journal, csv_path, raw=raw, _commit=False, _holder=held)
        sql = _write_fk_sql(journal, sql_path, fks, dialect, _commit=False, _holder=held)
        renames = [[str(t.tmp), str(t.path)] for t in held]
        record = pair_record(csv_path)
        tmp_record = _tmp_name(record)
        try:
            fd = os.open(tmp_record, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"renames": renames, "at": time.time(), "pid": os.getpid()}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_record, record)
            _fsync_dir(record.parent)
        except OSError as exc:
            raise OutputError(f"{record}: cannot write it ({exc.strerror or exc})") from None
        # from here both renames happen, now or (after a kill) at the next export-ids
        for tmp, dst in renames:
            os.replace(tmp, dst)
        for t in held:
            t.tmp = None
        for folder in {Path(dst).parent for _, dst in renames}:
            _fsync_dir(folder)
        record.unlink()
    except BaseException:
        if not pair_record(csv_path).exists():
            for t in held:
                t.discard()
        raise
    return ids, sql, finished


# ----------------------------------------------------------------------------- the other option
@dataclass(frozen=True)
class SessionClaim:
    """Keep the old ids: Clerk puts the external id in the session token."""

    claim: dict[str, str]
    where: str
    read_app_router: str
    read_pages_router: str
    notes: tuple[str, ...]

    @property
    def claim_json(self) -> str:
        import json

        return json.dumps(self.claim)

    def as_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "claim_json": self.claim_json,
            "where": self.where,
            "read_app_router": self.read_app_router,
            "read_pages_router": self.read_pages_router,
            "notes": list(self.notes),
        }

    def text(self) -> str:
        lines = [
            "Or keep the old ids: add this claim to the session token",
            f"  ({self.where}):",
            f"    {self.claim_json}",
            "  and read it in the app (App Router):",
            *("    " + line for line in self.read_app_router.splitlines()),
            "  (Pages Router):",
            *("    " + line for line in self.read_pages_router.splitlines()),
        ]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def session_claim_snippet() -> SessionClaim:
    return SessionClaim(
        claim={"userId": "{{user.external_id || user.id}}"},
        where="Clerk Dashboard > Sessions > Customize session token",
        read_app_router=(
            "import { auth } from '@clerk/nextjs/server'\n"
            "const { sessionClaims } = await auth()\n"
            "const userId = sessionClaims?.userId as string  // the Auth.js id for imported users"
        ),
        read_pages_router=(
            "import { getAuth } from '@clerk/nextjs/server'\n"
            "const { sessionClaims } = getAuth(req)\n"
            "const userId = sessionClaims?.userId as string"
        ),
        notes=(
            "auth().userId stays Clerk's own id (user_…); sessionClaims.userId is the Auth.js id for imported "
            "users, and Clerk's id for users who sign up later (user.id), so new rows use Clerk ids.",
            "With this option the foreign keys stay as they are: skip the SQL rewrite.",
        ),
    )


@dataclass(frozen=True, slots=True)
class AppCodeStep:
    auth_js: str
    clerk: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"auth_js": self.auth_js, "clerk": self.clerk, "note": self.note}


def app_code_steps() -> list[AppCodeStep]:
    """The Auth.js -> Clerk replacements in the app (Clerk's migration guide)."""
    return [
        AppCodeStep("environment", "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY and CLERK_SECRET_KEY in .env.local",
                    "remove NEXTAUTH_SECRET / NEXTAUTH_URL once nothing reads them"),
        AppCodeStep("<SessionProvider>", "<ClerkProvider> in the root layout (or _app)"),
        AppCodeStep("Auth.js middleware (export { auth as middleware } / withAuth)",
                    "clerkMiddleware() in proxy.ts (Next.js >= 16) or middleware.ts (Next.js <= 15)",
                    "every route is public until you protect it (createRouteMatcher + auth.protect())"),
        AppCodeStep("getServerSession() / auth() from Auth.js",
                    "auth() / currentUser() from @clerk/nextjs/server (App Router); getAuth(req) (Pages Router)"),
        AppCodeStep("useSession()", "useAuth() / useUser()"),
        AppCodeStep("sign-in / sign-up pages, signIn() / signOut()",
                    "the Account Portal with <SignInButton> / <SignUpButton>, or <SignIn /> / <SignUp />, "
                    "or useSignIn() / useSignUp(); <SignOutButton> or useClerk().signOut()"),
        AppCodeStep("conditional UI on the session",
                    '<Show when="signed-in"> / <Show when="signed-out"> (@clerk/nextjs 7, Core 3)',
                    "<SignedIn> / <SignedOut> only on @clerk/nextjs 6 (Next.js < 15.2.3): Core 3 throws on them"),
        AppCodeStep("user ids in your tables",
                    "rewrite them with export-ids --sql, or keep them and read sessionClaims.userId",
                    "auth().userId is always Clerk's id"),
        AppCodeStep("the [...nextauth] route and the Auth.js adapter tables",
                    "remove them once every user signs in through Clerk"),
    ]


__all__ = [
    "AppCodeStep",
    "CSV_HEADER",
    "DIALECTS",
    "FkColumn",
    "FkError",
    "FkSqlResult",
    "IdMapResult",
    "LeftOut",
    "MapRow",
    "OutputError",
    "clean_stale_temps",
    "finish_interrupted_pair",
    "left_out",
    "write_outputs",
    "SessionClaim",
    "app_code_steps",
    "fk_sql",
    "iter_id_map",
    "parse_fk",
    "quote_ident",
    "quote_literal",
    "session_claim_snippet",
    "write_fk_sql",
    "write_id_map",
]
