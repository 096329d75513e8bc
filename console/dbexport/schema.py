"""Which Auth.js schema a database holds, found from its tables and columns.

The backends (SQLite, PostgreSQL, MySQL/MariaDB) list every table (schema-qualified
where the database has schemas) and read the columns of those whose names could be
an Auth.js users or accounts table (any name ending in ``user``/``users`` or
``account``/``accounts``, in any case, plus the tables named by ``--users-table`` /
``--accounts-table``) with a coarse type kind. This module picks the users and
accounts tables and the columns to read, or says exactly what it looked for.

Layouts covered (every official adapter that keeps users in SQL):
- Prisma (and Kysely's documented schema): ``"User"``/``"Account"``, camelCase.
- Drizzle: ``"user"``/``"account"``; create-t3-app prefixes them through
  ``pgTableCreator``/``mysqlTableCreator``/``sqliteTableCreator``: ``project1_user``.
- pg adapter: ``users``/``accounts`` (``"emailVerified"``, ``"userId"``).
- TypeORM adapter: ``UserEntity``/``AccountEntity`` (TypeORM 0.3 names a table after
  the first argument of ``@Entity("UserEntity", { name: "users" })``), or
  ``users``/``accounts`` where the app names them.
- Supabase adapter: ``next_auth.users``/``next_auth.accounts``. Supabase's own
  ``auth.users`` (GoTrue) is never the Auth.js table.
- Older adapters (NextAuth v3 TypeORM and friends): snake_case ``email_verified``,
  ``user_id``, ``provider_id``.

A users table fits when it has ``id``, ``email`` and ``emailVerified`` (or
``email_verified``). Exactly one fitting table is taken; two or more are refused
with the list and the flag that chooses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from console.dbexport.errors import DbExportError

# Coarse column kinds the backends map their types to. "any": SQLite column
# declared without a type (anything goes).
Kind = Literal["text", "time", "number", "bool", "binary", "other", "any"]

# a users/accounts table name: any prefix (create-t3-app's "project1_"), then
# user(s)/account(s), then TypeORM's entity-class suffix ("UserEntity")
_USER_SUFFIX = re.compile(r"(?i)(users?)(_?entity)?$")
_ACCOUNT_SUFFIX = re.compile(r"(?i)(accounts?)(_?entity)?$")

# logical name -> column names tried, in order (exact match first, then ignoring case)
USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "email": ("email",),
    "emailVerified": ("emailVerified", "email_verified"),
    "name": ("name",),
    "image": ("image",),
    "createdAt": ("createdAt", "created_at"),
    "password": (
        "password", "passwordHash", "password_hash", "hashedPassword", "hashed_password",
        "passwordDigest", "password_digest", "encrypted_password", "encryptedPassword",
    ),
}
REQUIRED_USER_COLUMNS = ("id", "email", "emailVerified")
ACCOUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "userId": ("userId", "user_id"),
    "provider": ("provider", "provider_id"),  # provider_id: NextAuth v3 (the provider's name)
    "type": ("type", "provider_type"),
}
REQUIRED_ACCOUNT_COLUMNS = ("userId", "provider")
# Account rows that are not an OAuth connection (Auth.js types "email",
# "credentials", "webauthn"): their provider is not exported.
NON_OAUTH_ACCOUNT_TYPES = ("email", "credentials", "webauthn")

# which kinds each exported column accepts; anything else is refused up front
ACCEPTED_KINDS: dict[str, tuple[str, ...]] = {
    "email": ("text", "any"),
    "emailVerified": ("time", "text", "number", "any"),
    "createdAt": ("time", "text", "number", "any"),
    "password": ("text", "binary", "any"),
}

LABELS = {
    "prisma": "Prisma adapter (or Kysely: same tables)",
    "drizzle": "Drizzle adapter",
    "pg": "pg adapter (or TypeORM: users/accounts tables)",
    "typeorm": "TypeORM adapter",
    "supabase": "Supabase adapter (next_auth schema)",
    "custom": "Auth.js tables",
}


def is_candidate_name(name: str) -> bool:
    """A table whose columns the backends read: it could be a users or accounts table."""
    return bool(_USER_SUFFIX.search(name) or _ACCOUNT_SUFFIX.search(name))


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as the database declares it
    kind: Kind
    collation: str | None = None  # MySQL: joining text columns of two collations needs a cast


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    schema: str | None = None  # PostgreSQL namespace / MySQL database
    schema_shown: bool = True  # False for the connection's own schema (public, the URL's database)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema and self.schema_shown else self.name

    def find(self, candidates: tuple[str, ...]) -> Column | None:
        by_name = {c.name: c for c in self.columns}
        for cand in candidates:
            if cand in by_name:
                return by_name[cand]
        folded = {c.name.casefold(): c for c in self.columns}
        for cand in candidates:
            if cand.casefold() in folded:
                return folded[cand.casefold()]
        return None


@dataclass
class DetectedSchema:
    label: str  # "prisma" | "drizzle" | "pg" | "supabase" | "custom"
    naming: str  # "camelCase" | "snake_case"
    users: Table
    accounts: Table | None
    user_columns: dict[str, Column]  # logical -> column (only those present)
    account_columns: dict[str, Column] = field(default_factory=dict)
    join_as_text: bool = False  # users.id and accounts.userId have different kinds
    notices: list[str] = field(default_factory=list)

    @property
    def password_column(self) -> str | None:
        col = self.user_columns.get("password")
        return col.name if col else None

    @property
    def has_created_at(self) -> bool:
        return "createdAt" in self.user_columns

    def describe(self) -> str:
        accounts = f'"{self.accounts.qualified}"' if self.accounts else "no accounts table"
        parts = [
            f'{LABELS.get(self.label, self.label)}: users in "{self.users.qualified}", '
            f"providers from {accounts}, {self.naming} columns",
            f'password column "{self.password_column}"' if self.password_column else "no password column",
        ]
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.label,
            "naming": self.naming,
            "tables": {
                "users": self.users.qualified,
                "accounts": self.accounts.qualified if self.accounts else None,
            },
            "columns": {k: c.name for k, c in self.user_columns.items()},
            "password_column": self.password_column,
        }


def _missing(table: Table, required: tuple[str, ...], spec: dict[str, tuple[str, ...]]) -> list[str]:
    return ["/".join(spec[r]) for r in required if table.find(spec[r]) is None]


def is_supabase_auth_users(t: Table) -> bool:
    """Supabase Auth's (GoTrue's) own auth.users: never the Auth.js table."""
    return (
        (t.schema or "").casefold() == "auth"
        and t.name.casefold() == "users"
        and any(t.find((c,)) for c in ("aud", "instance_id", "encrypted_password"))
    )


def _check_kind(table: Table, logical: str, col: Column) -> None:
    accepted = ACCEPTED_KINDS.get(logical)
    if accepted and col.kind not in accepted:
        expected = {
            "email": "a text column",
            "emailVerified": "a timestamp (or text/epoch number) column",
            "createdAt": "a timestamp (or text/epoch number) column",
            "password": "a text column (the password digest)",
        }[logical]
        raise DbExportError(
            f'column "{col.name}" of table "{table.qualified}" has type {col.type or "?"} '
            f"({col.kind}); expected {expected}: this does not look like an Auth.js {logical} column, "
            "export refused"
        )


def _listed(tables: list[Table], limit: int = 15) -> str:
    names = sorted(t.qualified for t in tables)
    out = ", ".join(names[:limit]) or "none"
    if len(names) > limit:
        out += f", … ({len(names)} tables)"
    return out


def _quoted_list(tables: list[Table]) -> str:
    return ", ".join(f'"{t.qualified}"' for t in tables)


def split_table_spec(spec: str) -> tuple[str | None, str]:
    """``schema.table`` -> (schema, table); ``table`` -> (None, table). Quotes
    (``"next_auth"."users"``, backticks) are allowed around either part."""
    spec = spec.strip()
    m = re.fullmatch(r'\s*(?:("[^"]+"|`[^`]+`|[^."`]+)\s*\.\s*)?("[^"]+"|`[^`]+`|[^"`]+)\s*', spec)
    if not m:
        return None, spec
    schema, name = m.group(1), m.group(2)

    def unq(x: str | None) -> str | None:
        if x and x[0] in "\"`" and x[-1] == x[0]:
            return x[1:-1]
        return x.strip() if x else x

    return unq(schema), unq(name) or spec


def resolve_table(tables: list[Table], spec: str, *, flag: str, where: str) -> Table:
    """The table `spec` names (``name`` or ``schema.name``; exact case first)."""
    schema, name = split_table_spec(spec)
    whole = [t for t in tables if t.name == spec.strip()]  # a table whose own name holds a dot
    if whole and schema is not None:
        schema, name = None, spec.strip()
    for fold in (False, True):
        def same(a: str | None, b: str | None) -> bool:
            if a is None or b is None:
                return a == b
            return a.casefold() == b.casefold() if fold else a == b

        found = [t for t in tables if same(t.name, name) and (schema is None or same(t.schema, schema))]
        if len(found) > 1 and schema is None:
            own = [t for t in found if not t.schema_shown]
            if len(own) == 1:
                found = own
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise DbExportError(
                f'{flag} "{spec}" names {len(found)} tables in {where}: {_quoted_list(found)}; '
                f"write it schema-qualified, e.g. {flag} {found[0].schema}.{found[0].name}"
            )
    looked = [t for t in tables if is_candidate_name(t.name)]
    raise DbExportError(
        f'{flag} "{spec}": no such table in {where}; tables found: {_listed(looked or tables)}'
    )


def _partner_names(users_name: str) -> tuple[str, ...]:
    """Account table names that go with a users table name, best first:
    User -> Account, user -> account, users -> accounts, project1_user -> project1_account."""
    m = _USER_SUFFIX.search(users_name)
    if not m:
        return ()
    prefix, suffix, entity = users_name[: m.start()], m.group(1), m.group(2) or ""
    plural = suffix.endswith(("s", "S"))
    word = "accounts" if plural else "account"
    if suffix.isupper() and len(suffix) > 1:
        word = word.upper()
    elif suffix[0].isupper():
        word = word.capitalize()
    other = "account" if plural else "accounts"
    return (prefix + word + entity, prefix + other + entity)


def _label(users: Table) -> str:
    if (users.schema or "").casefold() == "next_auth":
        return "supabase"
    if users.name == "User":
        return "prisma"
    m = _USER_SUFFIX.search(users.name)
    if not m:
        return "custom"
    if m.group(2):
        return "typeorm"
    return "pg" if m.group(1).casefold() == "users" else "drizzle"


def detect_schema(
    tables: list[Table] | dict[str, Table],
    *,
    where: str,
    users_table: str | None = None,
    accounts_table: str | None = None,
) -> DetectedSchema:
    """Pick the users/accounts tables among `tables`. `where` names the database in
    messages (masked URL). `users_table` / `accounts_table`: the operator's choice
    (``name`` or ``schema.name``), else found by name and columns."""
    if isinstance(tables, dict):
        tables = list(tables.values())
    notices: list[str] = []

    # ------------------------------------------------------------------ users
    if users_table:
        users = resolve_table(tables, users_table, flag="--users-table", where=where)
        if is_supabase_auth_users(users):
            raise DbExportError(
                f'"{users.qualified}" is Supabase Auth\'s own users table, not Auth.js\'s: the Supabase '
                "adapter keeps its users in next_auth.users (--users-table next_auth.users)"
            )
        missing = _missing(users, REQUIRED_USER_COLUMNS, USER_COLUMNS)
        if missing:
            raise DbExportError(
                f'--users-table "{users.qualified}" in {where} lacks {", ".join(missing)}: '
                "not an Auth.js users table"
            )
    else:
        misfits: list[str] = []
        fits: list[Table] = []
        for t in tables:
            if not _USER_SUFFIX.search(t.name):
                continue
            if is_supabase_auth_users(t):
                misfits.append(f'"{t.qualified}" is Supabase Auth\'s own table, never Auth.js\'s')
                continue
            missing = _missing(t, REQUIRED_USER_COLUMNS, USER_COLUMNS)
            if missing:
                misfits.append(f'"{t.qualified}" lacks {", ".join(missing)}')
            else:
                fits.append(t)
        if not fits:
            why = f" ({'; '.join(misfits)})" if misfits else ""
            raise DbExportError(
                f'no Auth.js users table in {where}: looked for a table named "User", "user", "users" '
                "(or <prefix>_user, <prefix>user, in any schema) with columns id, email, emailVerified "
                f"or email_verified{why}; tables found: {_listed(tables)}"
            )
        if len(fits) > 1:
            raise DbExportError(
                f"{len(fits)} tables in {where} fit as the Auth.js users table: {_quoted_list(fits)}; "
                f"choose one with --users-table (e.g. --users-table {fits[0].qualified})"
            )
        users = fits[0]
        for m in misfits:
            if "Supabase Auth" in m:
                notices.append(f"{m.split(' is ')[0]} skipped: Supabase Auth's own users, not Auth.js's")

    user_columns = {k: c for k, spec in USER_COLUMNS.items() if (c := users.find(spec)) is not None}
    for logical, col in user_columns.items():
        _check_kind(users, logical, col)
    for optional in ("name", "image"):
        if optional not in user_columns:
            notices.append(f'table "{users.qualified}" has no {optional} column: exported as null')

    # --------------------------------------------------------------- accounts
    accounts: Table | None = None
    if accounts_table:
        accounts = resolve_table(tables, accounts_table, flag="--accounts-table", where=where)
        missing = _missing(accounts, REQUIRED_ACCOUNT_COLUMNS, ACCOUNT_COLUMNS)
        if missing:
            raise DbExportError(
                f'--accounts-table "{accounts.qualified}" in {where} lacks {", ".join(missing)} '
                "(looked for columns userId/user_id and provider/provider_id)"
            )
    else:
        same_schema = [t for t in tables if t.schema == users.schema and _ACCOUNT_SUFFIX.search(t.name)]
        partners: list[Table] = []
        for pname in _partner_names(users.name):
            exact = [t for t in same_schema if t.name == pname]
            folded = [t for t in same_schema if t.name.casefold() == pname.casefold() and t not in exact]
            partners += [t for t in exact + folded if t not in partners]
        partner_fits = [t for t in partners if not _missing(t, REQUIRED_ACCOUNT_COLUMNS, ACCOUNT_COLUMNS)]
        if partner_fits:
            accounts = partner_fits[0]
        elif partners:
            why = "; ".join(
                f'"{t.qualified}" lacks {", ".join(_missing(t, REQUIRED_ACCOUNT_COLUMNS, ACCOUNT_COLUMNS))}'
                for t in partners
            )
            raise DbExportError(
                f"no usable Auth.js accounts table in {where}: {why} "
                "(looked for columns userId/user_id and provider/provider_id; "
                "--accounts-table chooses another)"
            )
        else:
            others = [
                t for t in same_schema if not _missing(t, REQUIRED_ACCOUNT_COLUMNS, ACCOUNT_COLUMNS)
            ]
            if len(others) == 1:
                accounts = others[0]
            elif len(others) > 1:
                raise DbExportError(
                    f"{len(others)} tables in {where} fit as the Auth.js accounts table of "
                    f'"{users.qualified}": {_quoted_list(others)}; choose one with --accounts-table '
                    f"(e.g. --accounts-table {others[0].qualified})"
                )
    account_columns: dict[str, Column] = {}
    if accounts is None:
        wanted = ", ".join(f'"{n}"' for n in _partner_names(users.name)) or '"accounts"'
        notices.append(
            f"no accounts table ({wanted}) beside \"{users.qualified}\" in {where}: "
            "every user is exported with providers []"
        )
    else:
        account_columns = {
            k: c for k, spec in ACCOUNT_COLUMNS.items() if (c := accounts.find(spec)) is not None
        }

    naming = "snake_case" if user_columns["emailVerified"].name == "email_verified" else "camelCase"
    join_as_text = bool(accounts) and (
        user_columns["id"].kind != account_columns["userId"].kind
        or (
            user_columns["id"].collation is not None
            and account_columns["userId"].collation is not None
            and user_columns["id"].collation != account_columns["userId"].collation
        )
    )
    return DetectedSchema(
        label=_label(users),
        naming=naming,
        users=users,
        accounts=accounts,
        user_columns=user_columns,
        account_columns=account_columns,
        join_as_text=join_as_text,
        notices=notices,
    )
