"""Reading an Auth.js database: SQLite (stdlib, read-only URI), PostgreSQL
(psycopg 3, read-only REPEATABLE READ transaction, server-side cursor) and
MySQL/MariaDB (PyMySQL, read-only session and consistent-snapshot transaction,
unbuffered SSCursor).

Each runs ONE query for the export: the users table LEFT JOINed to the accounts
table grouped by user (array_agg / group_concat of the distinct provider
names), so there is no query per user. Only provider names are read from the
accounts table: never tokens; sessions and verification tokens are not read.

`tables(extra)` lists every table (schema-qualified where the database has
schemas) and reads the columns of those whose name could be an Auth.js table
(schema.is_candidate_name) or is in `extra` (names given by --users-table /
--accounts-table).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import quote

from console.dbexport.errors import DbExportError
from console.dbexport.schema import (
    NON_OAUTH_ACCOUNT_TYPES,
    Column,
    DetectedSchema,
    Table,
    is_candidate_name,
    split_table_spec,
)
from console.dbexport.urls import DatabaseURL

# the order of the exported columns in every row a backend yields
ROW_FIELDS = ("id", "name", "email", "emailVerified", "image", "createdAt", "password")
BATCH = 5000
_PROVIDER_SEP = "\x1f"


class Source(Protocol):
    where: str

    def tables(self, extra: Iterable[str] = ()) -> list[Table]: ...
    def count(self, schema: DetectedSchema) -> int: ...
    def batches(self, schema: DetectedSchema) -> Iterator[list[tuple[Any, ...]]]: ...
    def close(self) -> None: ...


def _wanted(extra: Iterable[str]) -> set[str]:
    """Table names (casefolded) given by --users-table / --accounts-table, schema dropped;
    the whole text too, for a table whose own name holds a dot."""
    out: set[str] = set()
    for e in extra:
        out.add(split_table_spec(e)[1].casefold())
        out.add(e.strip().casefold())
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------- SQLite

def _sqlite_kind(declared: str) -> str:
    t = (declared or "").upper()
    if not t:
        return "any"
    if "BOOL" in t:
        return "bool"
    if "DATE" in t or "TIME" in t:
        return "time"
    if "INT" in t:
        return "number"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "text"
    if "BLOB" in t:
        return "binary"
    if any(k in t for k in ("REAL", "FLOA", "DOUB", "DEC", "NUM")):
        return "number"
    return "any"  # SQLite accepts any declared type name and stores anything


def _sq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteSource:
    def __init__(self, url: DatabaseURL) -> None:
        assert url.sqlite_path is not None
        self.path = Path(url.sqlite_path)
        self.where = f"SQLite database {self.path}"
        if not self.path.exists():
            raise DbExportError(f"no SQLite database at {self.path} (from {url.masked})")
        if self.path.is_dir():
            raise DbExportError(f"{self.path} is a folder, not a SQLite database file")
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise DbExportError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if head and head != b"SQLite format 3\x00":
            raise DbExportError(f"{self.path} is not a SQLite database (no SQLite header)")
        uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise DbExportError(f"cannot open {self.path} read-only: {_one_line(exc)}") from None

    def _run(self, what: str, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise DbExportError(f"{self.where}: {what} failed: {_one_line(exc)}") from None

    def tables(self, extra: Iterable[str] = ()) -> list[Table]:
        names = [
            r[0]
            for r in self._run(
                "listing tables",
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
        ]
        wanted = _wanted(extra)
        out: list[Table] = []
        for name in names:
            cols: tuple[Column, ...] = ()
            if is_candidate_name(name) or name.casefold() in wanted:
                rows = self._run(
                    f'reading the columns of "{name}"', "SELECT name, type FROM pragma_table_info(?)", (name,)
                ).fetchall()
                cols = tuple(Column(n, t or "", _sqlite_kind(t)) for n, t in rows)  # type: ignore[arg-type]
            out.append(Table(name, cols))
        return out

    def _query(self, s: DetectedSchema) -> str:
        def col(logical: str) -> str:
            c = s.user_columns.get(logical)
            return f"u.{_sq(c.name)}" if c else "NULL"

        select = ", ".join(col(f) for f in ROW_FIELDS)
        users = _sq(s.users.name)
        if s.accounts is None:
            return f"SELECT {select}, NULL FROM {users} AS u ORDER BY {col('id')}"
        a = s.account_columns
        uid, prov = _sq(a["userId"].name), _sq(a["provider"].name)
        where = f"{prov} IS NOT NULL AND CAST({prov} AS TEXT) <> ''"
        if "type" in a:
            types = ", ".join(f"'{t}'" for t in NON_OAUTH_ACCOUNT_TYPES)
            typ = _sq(a["type"].name)
            where += f" AND ({typ} IS NULL OR lower(CAST({typ} AS TEXT)) NOT IN ({types}))"
        if s.join_as_text:
            uid_expr, id_expr = f"CAST({uid} AS TEXT)", f"CAST({col('id')} AS TEXT)"
        else:
            uid_expr, id_expr = uid, col("id")
        return (
            f"SELECT {select}, p.providers FROM {users} AS u LEFT JOIN ("
            f" SELECT uid, group_concat(prov, char(31)) AS providers FROM ("
            f"  SELECT DISTINCT {uid_expr} AS uid, CAST({prov} AS TEXT) AS prov"
            f"  FROM {_sq(s.accounts.name)} WHERE {where}"
            f" ) GROUP BY uid"
            f") AS p ON p.uid = {id_expr} ORDER BY {col('id')}"
        )

    def count(self, schema: DetectedSchema) -> int:
        return int(self._run("counting users", f"SELECT count(*) FROM {_sq(schema.users.name)}").fetchone()[0])

    def batches(self, schema: DetectedSchema) -> Iterator[list[tuple[Any, ...]]]:
        cur = self._run(f'reading "{schema.users.name}"', self._query(schema))
        while True:
            try:
                rows = cur.fetchmany(BATCH)
            except sqlite3.Error as exc:
                raise DbExportError(f'{self.where}: reading "{schema.users.name}" failed: {_one_line(exc)}') from None
            if not rows:
                return
            yield [
                r[:-1] + ((r[-1].split(_PROVIDER_SEP) if r[-1] else []),)
                for r in rows
            ]

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


# ------------------------------------------------------------------ PostgreSQL

def _pg_kind(category: str, typname: str) -> str:
    if typname == "bytea":
        return "binary"
    return {"S": "text", "D": "time", "N": "number", "B": "bool"}.get(category, "other")


class PostgresSource:
    def __init__(self, url: DatabaseURL, *, connect_timeout: float = 10.0) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self._psycopg = psycopg
        self.url = url
        self.where = f"PostgreSQL database {url.masked}"
        assert url.conninfo is not None
        try:
            params = conninfo_to_dict(url.conninfo)
        except psycopg.Error as exc:
            raise DbExportError(f"cannot read PostgreSQL URL {url.masked}: {url.scrub(_one_line(exc))}") from None
        extra: dict[str, Any] = {"application_name": "clerk-migrate export-db"}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = max(1, int(connect_timeout))
        try:
            self.conn = psycopg.connect(url.conninfo, autocommit=False, **extra)
        except psycopg.Error as exc:
            raise DbExportError(f"cannot connect to {url.masked}: {url.scrub(_one_line(exc))}") from None
        except Exception as exc:  # e.g. a host name that cannot be resolved raised differently
            raise DbExportError(f"cannot connect to {url.masked}: {url.scrub(_one_line(exc))}") from None
        try:
            # one snapshot for the count and the export; writes refused by the server
            self.conn.read_only = True
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        except psycopg.Error as exc:
            self.close()
            raise DbExportError(f"{self.where}: cannot start a read-only transaction: {url.scrub(_one_line(exc))}") from None

    def _fail(self, what: str, exc: BaseException) -> DbExportError:
        return DbExportError(f"{self.where}: {what} failed: {self.url.scrub(_one_line(exc))}")

    def _fetchall(self, what: str, query: Any, params: tuple = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except self._psycopg.Error as exc:
            raise self._fail(what, exc) from None

    def tables(self, extra: Iterable[str] = ()) -> list[Table]:
        rows = self._fetchall(
            "listing tables",
            """
            SELECT c.oid, n.nspname, c.relname, n.nspname = current_schema()
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%%'
            ORDER BY coalesce(array_position(current_schemas(false), n.nspname::text), 1000000),
                     n.nspname, c.relname
            """,
        )
        wanted = _wanted(extra)
        oids = [oid for oid, _, name, _ in rows if is_candidate_name(name) or name.casefold() in wanted]
        columns: dict[int, list[Column]] = {}
        if oids:
            for oid, name, typ, cat, typname in self._fetchall(
                "reading the columns of the tables that look like Auth.js tables",
                """
                SELECT a.attrelid::int8, a.attname, format_type(a.atttypid, a.atttypmod), bt.typcategory, bt.typname
                FROM pg_attribute a
                JOIN pg_type t ON t.oid = a.atttypid
                JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attrelid, a.attnum
                """,
                ([int(o) for o in oids],),
            ):
                columns.setdefault(int(oid), []).append(Column(name, typ, _pg_kind(str(cat), typname)))  # type: ignore[arg-type]
        return [
            Table(name, tuple(columns.get(int(oid), ())), schema=nsp, schema_shown=not own)
            for oid, nsp, name, own in rows
        ]

    def _query(self, s: DetectedSchema) -> Any:
        from psycopg import sql

        def ident(t: Table) -> sql.Composable:
            return sql.Identifier(t.schema, t.name) if t.schema else sql.Identifier(t.name)

        def col(logical: str) -> sql.Composable:
            c = s.user_columns.get(logical)
            return sql.SQL("u.{}").format(sql.Identifier(c.name)) if c else sql.SQL("NULL")

        def out_col(logical: str) -> sql.Composable:
            # timestamps are read as ISO text (DateStyle set below) and parsed in
            # Python: 'infinity' or a BC date then comes out as-is and is flagged,
            # where the driver's datetime loader would fail the whole export
            c = s.user_columns.get(logical)
            if c is not None and c.kind == "time":
                return sql.SQL("{}::text").format(col(logical))
            return col(logical)

        select = sql.SQL(", ").join(out_col(f) for f in ROW_FIELDS)
        if s.accounts is None:
            return sql.SQL("SELECT {}, NULL FROM {} AS u ORDER BY {}").format(select, ident(s.users), col("id"))
        a = s.account_columns
        uid, prov = sql.Identifier(a["userId"].name), sql.Identifier(a["provider"].name)
        where = sql.SQL("{p} IS NOT NULL AND {p}::text <> ''").format(p=prov)
        if "type" in a:
            where = sql.SQL("{} AND ({t} IS NULL OR lower({t}::text) <> ALL(%s))").format(
                where, t=sql.Identifier(a["type"].name)
            )
        if s.join_as_text:
            uid_expr = sql.SQL("{}::text").format(uid)
            id_expr = sql.SQL("{}::text").format(col("id"))
        else:
            uid_expr, id_expr = uid, col("id")
        return sql.SQL(
            "SELECT {select}, p.providers FROM {users} AS u LEFT JOIN ("
            " SELECT {uid_expr} AS uid, array_agg(DISTINCT {prov}::text) AS providers"
            " FROM {accounts} WHERE {where} GROUP BY 1"
            ") AS p ON p.uid = {id_expr} ORDER BY {id}"
        ).format(
            select=select,
            users=ident(s.users),
            uid_expr=uid_expr,
            prov=prov,
            accounts=ident(s.accounts),
            where=where,
            id_expr=id_expr,
            id=col("id"),
        )

    def _params(self, s: DetectedSchema) -> tuple:
        return (list(NON_OAUTH_ACCOUNT_TYPES),) if s.accounts is not None and "type" in s.account_columns else ()

    def count(self, schema: DetectedSchema) -> int:
        from psycopg import sql

        t = schema.users
        name = sql.Identifier(t.schema, t.name) if t.schema else sql.Identifier(t.name)
        rows = self._fetchall(f'counting "{t.qualified}"', sql.SQL("SELECT count(*) FROM {}").format(name))
        return int(rows[0][0])

    def batches(self, schema: DetectedSchema) -> Iterator[list[tuple[Any, ...]]]:
        what = f'reading "{schema.users.qualified}"'
        try:
            with self.conn.cursor() as setup:
                setup.execute("SET LOCAL DateStyle = 'ISO, YMD'")
                setup.execute("SET LOCAL TimeZone = 'UTC'")
            cur = self.conn.cursor(name="clerk_migrate_export_db")  # server-side: streams
            cur.itersize = BATCH
            cur.execute(self._query(schema), self._params(schema))
        except self._psycopg.Error as exc:
            raise self._fail(what, exc) from None
        try:
            while True:
                try:
                    rows = cur.fetchmany(BATCH)
                except self._psycopg.Error as exc:
                    raise self._fail(what, exc) from None
                if not rows:
                    return
                yield rows
        finally:
            try:
                cur.close()
            except self._psycopg.Error:
                pass

    def close(self) -> None:
        try:
            if not self.conn.closed:
                self.conn.rollback()  # read-only: nothing to keep
            self.conn.close()
        except Exception:
            pass


# -------------------------------------------------------------- MySQL / MariaDB

_MY_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
_MY_TIME = {"datetime", "timestamp", "date"}
_MY_NUMBER = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
              "float", "double", "real", "year"}
_MY_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


def _my_kind(data_type: str, column_type: str) -> str:
    t, full = (data_type or "").lower(), (column_type or "").lower()
    if t == "tinyint" and full.startswith("tinyint(1)") or t in ("bit", "bool", "boolean"):
        return "bool"
    if t in _MY_TEXT:
        return "text"
    if t in _MY_TIME:
        return "time"
    if t in _MY_NUMBER:
        return "number"
    if t in _MY_BINARY:
        return "binary"
    return "other"  # json, time, geometry, …


def _bq(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _my_error(exc: BaseException) -> str:
    """PyMySQL errors carry (code, message): one line, the message first."""
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return f"{' '.join(str(args[1]).split())} (MySQL error {args[0]})"
    return _one_line(exc)


class MySQLSource:
    """MySQL / MariaDB through PyMySQL. The session is read-only (SET SESSION
    TRANSACTION READ ONLY) and the whole export runs in one START TRANSACTION
    READ ONLY, WITH CONSISTENT SNAPSHOT (the count and the rows see the same
    data); the rows stream from an unbuffered SSCursor, BATCH at a time."""

    def __init__(self, url: DatabaseURL, *, connect_timeout: float = 10.0) -> None:
        import pymysql

        self._pymysql = pymysql
        self.url = url
        my = url.mysql
        assert my is not None
        self.what = "MariaDB" if url.masked.startswith("mariadb") else "MySQL"
        self.where = f"{self.what} database {url.masked}"
        self._stream: Any = None
        ssl_ctx = None
        if my.ssl_mode not in ("DISABLED",):
            import ssl

            if my.ssl_mode in ("VERIFY_CA", "VERIFY_IDENTITY"):
                try:
                    ssl_ctx = ssl.create_default_context(cafile=my.ssl_ca)
                except (OSError, ssl.SSLError) as exc:
                    raise DbExportError(f"cannot read the CA file {my.ssl_ca}: {_one_line(exc)}") from None
                ssl_ctx.check_hostname = my.ssl_mode == "VERIFY_IDENTITY"
            else:  # PREFERRED / REQUIRED: encrypted, certificate not checked (as the mysql client does)
                ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ssl_ctx.check_hostname = False
                ssl_ctx.verify_mode = ssl.CERT_NONE
        timeout = my.connect_timeout if my.connect_timeout else connect_timeout

        def connect(ssl_arg: Any) -> Any:
            return pymysql.connect(
                host=my.host,
                port=my.port,
                user=my.user or None,
                password=my.password or "",
                database=my.database,
                unix_socket=my.unix_socket,
                charset="utf8mb4",
                connect_timeout=max(1, int(timeout)),
                autocommit=False,
                ssl=ssl_arg,
                program_name="clerk-migrate export-db",
            )

        try:
            try:
                self.conn = connect(ssl_ctx)
            except pymysql.err.OperationalError as exc:
                if my.ssl_mode != "PREFERRED" or not exc.args or exc.args[0] != 2026:
                    raise
                self.conn = connect(None)  # PREFERRED: plain when the server has no TLS
        except pymysql.MySQLError as exc:
            raise DbExportError(f"cannot connect to {url.masked}: {url.scrub(_my_error(exc))}") from None
        except Exception as exc:  # a socket path that is not a socket, a TLS failure, …
            raise DbExportError(f"cannot connect to {url.masked}: {url.scrub(_one_line(exc))}") from None
        if my.ssl_mode in ("REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY") and not self._encrypted():
            self.close()
            raise DbExportError(
                f"{self.where}: the server does not offer TLS, and the URL asks for ssl-mode {my.ssl_mode}"
            )
        try:
            with self.conn.cursor() as cur:
                # every transaction of this session is read-only, the one below included
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("SET time_zone = '+00:00'")  # TIMESTAMP columns come out in UTC
                cur.execute("SET SESSION group_concat_max_len = 1048576")
                cur.execute("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT")
        except pymysql.MySQLError as exc:
            self.close()
            raise DbExportError(
                f"{self.where}: cannot start a read-only transaction: {url.scrub(_my_error(exc))}"
            ) from None

    def _encrypted(self) -> bool:
        import ssl

        return isinstance(getattr(self.conn, "_sock", None), ssl.SSLSocket)

    def _fail(self, what: str, exc: BaseException) -> DbExportError:
        return DbExportError(f"{self.where}: {what} failed: {self.url.scrub(_my_error(exc))}")

    def _fetchall(self, what: str, query: str, params: tuple | None = None) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall())
        except self._pymysql.MySQLError as exc:
            raise self._fail(what, exc) from None

    def tables(self, extra: Iterable[str] = ()) -> list[Table]:
        rows = self._fetchall(
            "listing tables",
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        )
        # --users-table otherdb.user: a table of another database on the same server
        others = sorted({sch for sch, _ in map(split_table_spec, extra) if sch})
        if others:
            rows += self._fetchall(
                "listing tables",
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                f"WHERE TABLE_SCHEMA IN ({', '.join(['%s'] * len(others))}) AND TABLE_SCHEMA <> DATABASE() "
                "ORDER BY TABLE_SCHEMA, TABLE_NAME",
                tuple(others),
            )
        own = self._fetchall("reading the database name", "SELECT DATABASE()")[0][0]
        wanted = _wanted(extra)
        picked = [(sch, name) for sch, name in rows if is_candidate_name(name) or name.casefold() in wanted]
        columns: dict[tuple[str, str], list[Column]] = {}
        if picked:
            cond = " OR ".join(["(TABLE_SCHEMA = %s AND TABLE_NAME = %s)"] * len(picked))
            for sch, tname, cname, dtype, ctype, coll in self._fetchall(
                "reading the columns of the tables that look like Auth.js tables",
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLLATION_NAME "
                f"FROM information_schema.COLUMNS WHERE {cond} ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
                tuple(x for pair in picked for x in pair),
            ):
                columns.setdefault((sch, tname), []).append(
                    Column(cname, str(ctype), _my_kind(str(dtype), str(ctype)), collation=coll)  # type: ignore[arg-type]
                )
        return [
            Table(name, tuple(columns.get((sch, name), ())), schema=sch, schema_shown=sch != own)
            for sch, name in rows
        ]

    @staticmethod
    def _ident(t: Table) -> str:
        return f"{_bq(t.schema)}.{_bq(t.name)}" if t.schema else _bq(t.name)

    def _query(self, s: DetectedSchema) -> str:
        def col(logical: str) -> str:
            c = s.user_columns.get(logical)
            return f"u.{_bq(c.name)}" if c else "NULL"

        select = ", ".join(col(f) for f in ROW_FIELDS)
        users = self._ident(s.users)
        if s.accounts is None:
            return f"SELECT {select}, NULL FROM {users} AS u ORDER BY {col('id')}"
        a = s.account_columns
        uid, prov = _bq(a["userId"].name), _bq(a["provider"].name)
        where = f"{prov} IS NOT NULL AND CAST({prov} AS CHAR) <> ''"
        if "type" in a:
            typ = _bq(a["type"].name)
            types = ", ".join(f"'{t}'" for t in NON_OAUTH_ACCOUNT_TYPES)  # constants: no parameters, no % parsing
            where += f" AND ({typ} IS NULL OR LOWER(CAST({typ} AS CHAR)) NOT IN ({types}))"
        if s.join_as_text:
            # different types or collations: compare the bytes of the text forms
            uid_expr = f"CAST(CONVERT(CAST({uid} AS CHAR) USING utf8mb4) AS BINARY)"
            id_expr = f"CAST(CONVERT(CAST({col('id')} AS CHAR) USING utf8mb4) AS BINARY)"
        else:
            uid_expr, id_expr = uid, col("id")
        return (
            f"SELECT {select}, p.providers FROM {users} AS u LEFT JOIN ("
            f" SELECT {uid_expr} AS uid,"
            f" GROUP_CONCAT(DISTINCT CAST({prov} AS CHAR) SEPARATOR '{_PROVIDER_SEP}') AS providers"
            f" FROM {self._ident(s.accounts)} WHERE {where} GROUP BY 1"
            f") AS p ON p.uid = {id_expr} ORDER BY {col('id')}"
        )

    def count(self, schema: DetectedSchema) -> int:
        t = schema.users
        rows = self._fetchall(f'counting "{t.qualified}"', f"SELECT COUNT(*) FROM {self._ident(t)}")
        return int(rows[0][0])

    def batches(self, schema: DetectedSchema) -> Iterator[list[tuple[Any, ...]]]:
        import pymysql.cursors

        what = f'reading "{schema.users.qualified}"'
        query = self._query(schema)
        try:
            cur = self.conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows stream from the server
            self._stream = cur
            cur.execute(query)  # no parameters: identifiers are quoted, a % in one stays a %
        except self._pymysql.MySQLError as exc:
            raise self._fail(what, exc) from None
        done = False
        try:
            while True:
                try:
                    rows = cur.fetchmany(BATCH)
                except self._pymysql.MySQLError as exc:
                    raise self._fail(what, exc) from None
                if not rows:
                    done = True
                    return
                yield [
                    r[:-1] + ((_my_text(r[-1]).split(_PROVIDER_SEP) if r[-1] else []),)
                    for r in rows
                ]
        finally:
            if done:
                try:
                    cur.close()
                except Exception:
                    pass
                self._stream = None

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is None:
            return
        if self._stream is not None:
            # an unfinished unbuffered result: closing the cursor would read every
            # remaining row first; drop the connection instead (nothing to keep)
            for result in (getattr(self._stream, "_result", None), getattr(conn, "_result", None)):
                if result is not None:
                    result.unbuffered_active = False  # nothing left to read: the socket goes
            try:
                conn._force_close()
            except Exception:
                pass
            self._stream = None
            return
        try:
            if conn.open:
                conn.rollback()  # read-only: nothing to keep
            conn.close()
        except Exception:
            try:
                conn._force_close()
            except Exception:
                pass


def _my_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def open_source(url: DatabaseURL, *, connect_timeout: float = 10.0) -> Source:
    if url.kind == "sqlite":
        return SQLiteSource(url)
    if url.kind == "mysql":
        return MySQLSource(url, connect_timeout=connect_timeout)
    return PostgresSource(url, connect_timeout=connect_timeout)
