"""Database URLs: which engine, where, and how to show one without its password.

Accepted forms:
- ``sqlite:///path/to/dev.db`` (absolute ``/path/to/dev.db``; when that does not
  exist but ``path/to/dev.db`` relative to the working directory does, that one),
  ``sqlite:////abs/dev.db`` (SQLAlchemy's absolute form), ``sqlite:relative.db``,
  and Prisma's ``file:./dev.db``.
- ``postgresql://…`` / ``postgres://…`` (libpq URIs; ``postgresql+psycopg://`` and
  other SQLAlchemy driver suffixes are accepted and dropped).
- ``mysql://user[:password]@host[:port]/db`` and ``mariadb://…`` (``mysql+pymysql://``
  too), or a unix socket: ``mysql://user@localhost/db?socket=/run/mysqld/mysqld.sock``
  (Prisma's form; ``unix_socket=`` works too) or the socket path percent-encoded as the
  host (``mysql://user@%2Frun%2Fmysqld%2Fmysqld.sock/db``). TLS from ``ssl-mode`` /
  ``sslmode`` (DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY), Prisma's
  ``sslaccept=strict|accept_invalid_certs`` and ``sslcert=`` (a CA file), or ``ssl-ca=``.

The password never leaves this module in clear: `DatabaseURL.masked` is what
messages show, and `DatabaseURL.scrub(text)` removes the password from any text
(an error message from a driver, for instance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from console.dbexport.errors import DbExportError

MASK = "***"
_PG_SCHEMES = ("postgresql", "postgres")
_MYSQL_SCHEMES = ("mysql", "mariadb")
_SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
_PASSWORD_PARAM = re.compile(r"(?i)((?:^|[?&\s])password\s*=\s*)('[^']*'|[^&\s]*)")


@dataclass(frozen=True)
class DatabaseURL:
    kind: Literal["sqlite", "postgresql", "mysql"]
    raw: str = field(repr=False)
    masked: str
    sqlite_path: Path | None = None
    conninfo: str | None = field(default=None, repr=False)  # for psycopg (password included)
    mysql: "MySQLParams | None" = field(default=None, repr=False)  # for PyMySQL (password included)
    _secrets: tuple[str, ...] = field(default=(), repr=False)

    def __str__(self) -> str:  # never the raw URL
        return self.masked

    def scrub(self, text: str) -> str:
        """`text` with every form of this URL's password replaced by ***."""
        return scrub_secrets(text, self._secrets)

    @property
    def has_password(self) -> bool:
        return bool(self._secrets)

    @property
    def label(self) -> str:
        """Short description for messages: the masked URL."""
        return self.masked


@dataclass(frozen=True)
class MySQLParams:
    """What PyMySQL needs, read from a mysql:// / mariadb:// URL."""

    host: str = "localhost"
    port: int = 3306
    user: str = ""
    password: str | None = field(default=None, repr=False)
    database: str = ""
    unix_socket: str | None = None
    ssl_mode: str = "DISABLED"  # one of _SSL_MODES
    ssl_ca: str | None = None
    connect_timeout: float | None = None

    @property
    def where(self) -> str:
        return f"socket {self.unix_socket}" if self.unix_socket else f"{self.host}:{self.port}"


def scrub_secrets(text: str, secrets: tuple[str, ...]) -> str:
    out = str(text)
    # longest first, so that "p%40ss" is replaced before "p"
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, out)


def mask_url(url: str) -> str:
    """The URL with its password (userinfo or ?password=) replaced by ***.
    Works on anything, even a URL this module would refuse."""
    return scrub_secrets(url, _url_secrets(url))


def _url_secrets(url: str) -> tuple[str, ...]:
    secrets: list[str] = []
    # userinfo: scheme://user:PASSWORD@host — found by hand, because urlsplit
    # gives up on some malformed netlocs (a bad port, brackets) we still want masked.
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://([^/?#]*)@", url)
    if m and ":" in m.group(1):
        raw_pw = m.group(1).split(":", 1)[1]
        secrets += [raw_pw, unquote(raw_pw), quote(unquote(raw_pw), safe="")]
    query = url.split("?", 1)[1] if "?" in url else ""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() == "password":
            secrets += [value, quote(value, safe="")]
    for m2 in re.finditer(r"(?i)password=([^&#]*)", query):
        secrets.append(m2.group(1))
    return tuple(s for s in secrets if s)


def parse_database_url(url: str, *, cwd: Path | None = None) -> DatabaseURL:
    """Parse `url`; raises DbExportError (message without the password)."""
    url = (url or "").strip()
    secrets = _url_secrets(url)
    masked = scrub_secrets(url, secrets)
    if not url:
        raise DbExportError("empty database URL")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    base_scheme = scheme.split("+", 1)[0]
    cwd = cwd or Path.cwd()

    if base_scheme in ("sqlite", "file"):
        rest = url.split(":", 1)[1]
        rest = rest.split("?", 1)[0]  # sqlite:///x.db?mode=… / file:./dev.db?connection_limit=1
        if rest.startswith("//"):
            rest = rest[2:]  # authority (empty) removed: "/path" or "//abs" left
            if rest.startswith("//"):
                candidates = [Path(unquote(rest[1:]))]  # sqlite:////abs/dev.db
            elif rest.startswith("/"):
                # sqlite:///path/to/dev.db: absolute as written; SQLAlchemy reads
                # it relative, so fall back to that when only that exists.
                candidates = [Path(unquote(rest)), cwd / unquote(rest[1:])]
            else:
                raise DbExportError(
                    f"cannot read SQLite URL {masked!r}: expected sqlite:///path/to/file.db"
                )
        else:
            candidates = [cwd / unquote(rest)] if not rest.startswith("/") else [Path(unquote(rest))]
        if not rest or str(candidates[0]) in ("", "/", "."):
            raise DbExportError(f"SQLite URL {masked!r} names no file")
        path = next((p for p in candidates if p.exists()), candidates[0])
        return DatabaseURL("sqlite", url, masked, sqlite_path=path, _secrets=secrets)

    if base_scheme in _PG_SCHEMES:
        # libpq takes postgresql:// and postgres://; drop a SQLAlchemy "+driver".
        conninfo = "postgresql" + url[len(scheme):]
        try:
            parts = urlsplit(conninfo)
            _ = parts.port  # raises ValueError on a bad port
        except ValueError as exc:
            raise DbExportError(
                f"cannot read PostgreSQL URL {masked!r}: {scrub_secrets(str(exc), secrets)}"
            ) from None
        masked_pg = scrub_secrets(urlunsplit(parts), secrets)
        return DatabaseURL("postgresql", url, masked_pg, conninfo=conninfo, _secrets=secrets)

    if base_scheme in _MYSQL_SCHEMES:
        return _parse_mysql(url, scheme, base_scheme, secrets)

    if "://" not in url:
        if url.endswith((".db", ".sqlite", ".sqlite3")):
            hint = f" (for a SQLite file, write sqlite:///{Path(url).resolve()})"
        else:
            hint = ""
        raise DbExportError(
            f"cannot tell which database {masked!r} is: expected sqlite:///path/to/dev.db "
            f", postgresql://user@host/db or mysql://user@host/db{hint}"
        )
    raise DbExportError(
        f"unsupported database URL scheme {scheme!r} in {masked!r}: "
        "expected sqlite:///path/to/dev.db, postgresql://user@host/db or mysql://user@host/db"
    )


def _parse_mysql(url: str, scheme: str, base_scheme: str, secrets: tuple[str, ...]) -> DatabaseURL:
    masked = scrub_secrets(url, secrets)
    what = "MariaDB" if base_scheme == "mariadb" else "MySQL"

    def bad(why: str) -> DbExportError:
        return DbExportError(f"cannot read {what} URL {masked!r}: {scrub_secrets(why, secrets)}")

    rest = url[len(scheme):]
    if not rest.startswith("://"):
        raise bad(f"expected {base_scheme}://user@host:3306/database")
    try:
        parts = urlsplit(base_scheme + rest)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    user = unquote(parts.username or "")
    password = unquote(parts.password) if parts.password is not None else None
    host = unquote(parts.hostname or "") if parts.netloc else ""
    # urlsplit lower-cases the host: keep a percent-encoded socket path as written
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    if netloc_host.startswith("%2F") or netloc_host.startswith("%2f"):
        host = unquote(netloc_host.split(":", 1)[0] if not netloc_host.startswith("[") else netloc_host)
    database = unquote(parts.path.lstrip("/"))
    if "/" in database:
        raise bad(f"the path names more than a database: {database!r}")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        params[key.lower().replace("-", "_")] = value
    if "password" in params:
        password = params["password"]
    if "user" in params:
        user = params["user"]
    unix_socket = params.get("socket") or params.get("unix_socket") or None
    if host.startswith("/"):
        unix_socket, host = host, "localhost"
    if not database:
        raise bad(f"no database named: expected {base_scheme}://user@host:3306/DATABASE")
    if not host and not unix_socket:
        host = "localhost"
    ssl_mode = "DISABLED"
    ssl_ca = params.get("ssl_ca") or params.get("sslca") or params.get("sslcert") or None
    mode = params.get("ssl_mode") or params.get("sslmode")
    if mode:
        mode = mode.upper().replace("-", "_")
        aliases = {"DISABLE": "DISABLED", "PREFER": "PREFERRED", "REQUIRE": "REQUIRED",
                   "VERIFY_FULL": "VERIFY_IDENTITY"}
        mode = aliases.get(mode, mode)
        if mode not in _SSL_MODES:
            raise bad(f"ssl-mode {mode!r}: expected one of {', '.join(_SSL_MODES)}")
        ssl_mode = mode
    accept = (params.get("sslaccept") or "").lower()
    if accept:  # Prisma: strict (verify) or accept_invalid_certs
        ssl_mode = "VERIFY_IDENTITY" if accept == "strict" else "REQUIRED"
    ssl_param = params.get("ssl")
    if ssl_param is not None and ssl_param.strip().lower() not in ("", "false", "0"):
        # mysql2 / PlanetScale form: ssl={"rejectUnauthorized":true}
        ssl_mode = "REQUIRED" if "false" in ssl_param.replace(" ", "").lower() else "VERIFY_IDENTITY"
    if ssl_ca and ssl_mode in ("DISABLED", "PREFERRED"):
        ssl_mode = "VERIFY_CA"
    timeout = None
    if params.get("connect_timeout"):
        try:
            timeout = float(params["connect_timeout"])
        except ValueError:
            raise bad(f"connect_timeout {params['connect_timeout']!r} is not a number") from None
    my = MySQLParams(
        host=host, port=port or 3306, user=user, password=password, database=database,
        unix_socket=unix_socket, ssl_mode=ssl_mode, ssl_ca=ssl_ca, connect_timeout=timeout,
    )
    all_secrets = secrets + ((password, quote(password, safe="")) if password else ())
    auth = f"{quote(user, safe='')}{':' + MASK if password else ''}@" if user or password else ""
    if unix_socket:
        shown = f"{base_scheme}://{auth}localhost/{quote(database, safe='')}?socket={unix_socket}"
    else:
        h = f"[{host}]" if ":" in host else host
        shown = f"{base_scheme}://{auth}{h}:{my.port}/{quote(database, safe='')}"
    return DatabaseURL("mysql", url, shown, mysql=my, _secrets=tuple(s for s in all_secrets if s))
