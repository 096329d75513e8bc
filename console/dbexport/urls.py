"""Database URLs: which engine, where, and how to show one without its password.

Accepted forms:
- ``sqlite:///path/to/dev.db`` (absolute ``/path/to/dev.db``; when that does not
  exist but ``path/to/dev.db`` relative to the working directory does, that one),
  ``sqlite:////abs/dev.db`` (SQLAlchemy's absolute form), ``sqlite:relative.db``,
  and Prisma's ``file:./dev.db``.
- ``postgresql://…`` / ``postgres://…`` (libpq URIs; ``postgresql+psycopg://`` and
  other SQLAlchemy driver suffixes are accepted and dropped).

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
_PASSWORD_PARAM = re.compile(r"(?i)((?:^|[?&\s])password\s*=\s*)('[^']*'|[^&\s]*)")


@dataclass(frozen=True)
class DatabaseURL:
    kind: Literal["sqlite", "postgresql"]
    raw: str = field(repr=False)
    masked: str
    sqlite_path: Path | None = None
    conninfo: str | None = field(default=None, repr=False)  # for psycopg (password included)
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

    if "://" not in url:
        if url.endswith((".db", ".sqlite", ".sqlite3")):
            hint = f" (for a SQLite file, write sqlite:///{Path(url).resolve()})"
        else:
            hint = ""
        raise DbExportError(
            f"cannot tell which database {masked!r} is: expected sqlite:///path/to/dev.db "
            f"or postgresql://user@host/db{hint}"
        )
    raise DbExportError(
        f"unsupported database URL scheme {scheme!r} in {masked!r}: "
        "expected sqlite:///path/to/dev.db or postgresql://user@host/db"
    )
