"""Which Auth.js schema a database holds, found from its tables and columns.

The backends (SQLite, PostgreSQL) list the tables and their columns with a
coarse type kind; this module picks the users and accounts tables and the
columns to read, or says exactly what it looked for.

Adapters covered (all Auth.js/NextAuth adapters that keep users in SQL):
- Prisma (and Kysely, same names): ``"User"``/``"Account"``, camelCase columns.
- Drizzle: ``"user"``/``"account"``, camelCase columns.
- pg adapter: ``users``/``accounts``, ``"emailVerified"``, ``"userId"``.
- Older adapters (NextAuth v3 TypeORM and friends): ``users``/``accounts`` with
  snake_case ``email_verified``, ``user_id``, ``provider_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from console.dbexport.errors import DbExportError

# Coarse column kinds the backends map their types to. "any": SQLite column
# declared without a type (anything goes).
Kind = Literal["text", "time", "number", "bool", "binary", "other", "any"]

USER_TABLES = ("User", "user", "users")
ACCOUNT_TABLES = ("Account", "account", "accounts")

# logical name -> column names tried, in order (exact match first, then ignoring case)
USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "email": ("email",),
    "emailVerified": ("emailVerified", "email_verified"),
    "name": ("name",),
    "image": ("image",),
    "createdAt": ("createdAt", "created_at"),
    "password": ("password", "passwordHash", "hashedPassword", "password_hash", "hashed_password"),
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
    "pg": "pg adapter (users/accounts tables)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as the database declares it
    kind: Kind


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    schema: str | None = None  # PostgreSQL namespace

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema and self.schema != "public" else self.name

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
    label: str  # "prisma" | "drizzle" | "pg"
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


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _candidates(tables: dict[str, Table], wanted: tuple[str, ...]) -> list[Table]:
    found = [tables[n] for n in wanted if n in tables]
    seen = {t.name for t in found}
    folded = {w.casefold() for w in wanted}
    found += [t for n, t in sorted(tables.items()) if n not in seen and n.casefold() in folded]
    return found


def _missing(table: Table, required: tuple[str, ...], spec: dict[str, tuple[str, ...]]) -> list[str]:
    return ["/".join(spec[r]) for r in required if table.find(spec[r]) is None]


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


def detect_schema(tables: dict[str, Table], *, where: str) -> DetectedSchema:
    """Pick the users/accounts tables among `tables` (name -> Table).
    `where` names the database in messages (masked URL)."""
    user_cands = _candidates(tables, USER_TABLES)
    misfits: list[str] = []
    users: Table | None = None
    for t in user_cands:
        missing = _missing(t, REQUIRED_USER_COLUMNS, USER_COLUMNS)
        if missing:
            misfits.append(f'"{t.qualified}" lacks {", ".join(missing)}')
        else:
            users = t
            break
    if users is None:
        listed = ", ".join(sorted(tables)[:15]) or "none"
        if len(tables) > 15:
            listed += f", … ({len(tables)} tables)"
        why = f" ({'; '.join(misfits)})" if misfits else ""
        raise DbExportError(
            f"no Auth.js users table in {where}: looked for a table {_quoted(USER_TABLES)} with columns "
            f"id, email, emailVerified or email_verified{why}; tables found: {listed}"
        )

    user_columns = {k: c for k, spec in USER_COLUMNS.items() if (c := users.find(spec)) is not None}
    for logical, col in user_columns.items():
        _check_kind(users, logical, col)

    notices: list[str] = []
    for optional in ("name", "image"):
        if optional not in user_columns:
            notices.append(f'table "{users.qualified}" has no {optional} column: exported as null')

    # accounts: the partner of the users table first (User->Account, users->accounts)
    partner = ACCOUNT_TABLES[USER_TABLES.index(users.name)] if users.name in USER_TABLES else None
    acc_cands = _candidates(tables, ACCOUNT_TABLES)
    if partner and partner in tables:
        acc_cands.sort(key=lambda t: t.name != partner)
    accounts: Table | None = None
    acc_misfits: list[str] = []
    for t in acc_cands:
        missing = _missing(t, REQUIRED_ACCOUNT_COLUMNS, ACCOUNT_COLUMNS)
        if missing:
            acc_misfits.append(f'"{t.qualified}" lacks {", ".join(missing)}')
        else:
            accounts = t
            break
    account_columns: dict[str, Column] = {}
    if accounts is None and acc_misfits:
        raise DbExportError(
            f"no usable Auth.js accounts table in {where}: {'; '.join(acc_misfits)} "
            f"(looked for columns userId/user_id and provider/provider_id)"
        )
    if accounts is None:
        notices.append(
            f"no accounts table ({_quoted(ACCOUNT_TABLES)}) in {where}: every user is exported with providers []"
        )
    else:
        account_columns = {
            k: c for k, spec in ACCOUNT_COLUMNS.items() if (c := accounts.find(spec)) is not None
        }

    if users.name.casefold() == "user":
        label = "prisma" if users.name == "User" else "drizzle"
    else:
        label = "pg"
    naming = "snake_case" if user_columns["emailVerified"].name == "email_verified" else "camelCase"
    join_as_text = bool(accounts) and user_columns["id"].kind != account_columns["userId"].kind
    return DetectedSchema(
        label=label,
        naming=naming,
        users=users,
        accounts=accounts,
        user_columns=user_columns,
        account_columns=account_columns,
        join_as_text=join_as_text,
        notices=notices,
    )
