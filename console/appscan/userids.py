"""Are the app's user ids integers? Read from the schema files in the app, when there are any.

Auth.js's pg adapter creates `users.id SERIAL` and `"userId" INTEGER` columns; Prisma and Drizzle
schemas can do the same (`id Int @id @default(autoincrement())`, `serial("id")`). Keeping the old
ids as Clerk's `external_id` works for imported users, but a user who signs up after the cut-over
has only a Clerk id (`user_...`), which does not fit an integer column: the advice says so.

Sources, in this order: `*.prisma` files, Drizzle table definitions in the app's code (files that
import `drizzle-orm/*-core`), and SQL files (migrations). Each hit is evidence `file:line text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_INT_TYPES = r"(?:SERIAL|BIGSERIAL|SMALLSERIAL|INTEGER|INT|INT4|INT8|BIGINT|SMALLINT|MEDIUMINT)"

_PRISMA_MODEL = re.compile(r"^\s*model\s+(\w+)\s*\{(.*?)^\s*\}", re.S | re.M)
_PRISMA_ID = re.compile(r"^[ \t]*id\s+(Int|BigInt)\b[^\n]*@id", re.M)
_PRISMA_USERID = re.compile(r"^[ \t]*userId\s+(Int|BigInt)\b", re.M)

_DRIZZLE_TABLE = re.compile(
    r"""(?:pgTable|mysqlTable|sqliteTable|createTable|\w+Table)\s*\(\s*(["'`])([\w.]*?)\1\s*,""")
_DRIZZLE_ID = re.compile(r"""\bid\s*:\s*(?:\w+\s*\.\s*)?(serial|bigserial|smallserial|integer|int|bigint|smallint|mediumint)\s*\(""")
_DRIZZLE_USERID = re.compile(r"""\buserId\s*:\s*(?:\w+\s*\.\s*)?(integer|int|bigint|serial)\s*\(""")

_SQL_TABLE = re.compile(
    r"""CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:[\w"`]+\.)?[`"]?(\w+)[`"]?\s*\((.*?)\)\s*;""", re.I | re.S)
_SQL_ID = re.compile(rf"""^[ \t]*[`"]?id[`"]?\s+{_INT_TYPES}\b""", re.I | re.M)
_SQL_USERID = re.compile(rf"""^[ \t]*[`"]?(?:userId|user_id)[`"]?\s+{_INT_TYPES}\b""", re.I | re.M)


def _is_user_table(name: str) -> bool:
    low = name.lower()
    return low in ("user", "users") or low.endswith(("_user", "_users")) or low.endswith(".users")


@dataclass
class UserIdScan:
    integer: bool = False
    evidence: list[str] = field(default_factory=list)  # "file:line what"

    def as_json(self) -> dict:
        return {"type": "integer" if self.integer else "unknown", "evidence": list(self.evidence)}


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def scan_prisma(rel: str, text: str, out: UserIdScan) -> None:
    for model in _PRISMA_MODEL.finditer(text):
        body_at = model.start(2)
        body = model.group(2)
        if _is_user_table(model.group(1)):
            m = _PRISMA_ID.search(body)
            if m:
                out.integer = True
                out.evidence.append(f"{rel}:{_line(text, body_at + m.start())} model {model.group(1)} id {m.group(1)}")
        m = _PRISMA_USERID.search(body)
        if m and model.group(1).lower() in ("account", "accounts", "session", "sessions"):
            out.integer = True
            out.evidence.append(f"{rel}:{_line(text, body_at + m.start())} model {model.group(1)} userId {m.group(1)}")


def scan_drizzle(rel: str, text: str, out: UserIdScan) -> None:
    if "drizzle-orm" not in text:
        return
    tables = list(_DRIZZLE_TABLE.finditer(text))
    for i, table in enumerate(tables):
        end = tables[i + 1].start() if i + 1 < len(tables) else len(text)
        body = text[table.end() : end]
        name = table.group(2)
        if _is_user_table(name):
            m = _DRIZZLE_ID.search(body)
            if m:
                out.integer = True
                out.evidence.append(f"{rel}:{_line(text, table.end() + m.start())} table {name} id {m.group(1)}()")
        m = _DRIZZLE_USERID.search(body)
        if m:
            out.integer = True
            out.evidence.append(f"{rel}:{_line(text, table.end() + m.start())} table {name} userId {m.group(1)}()")


def scan_sql(rel: str, text: str, out: UserIdScan) -> None:
    if not re.search(r"create\s+table", text, re.I):
        return
    for table in _SQL_TABLE.finditer(text):
        name, body, at = table.group(1), table.group(2), table.start(2)
        if _is_user_table(name):
            m = _SQL_ID.search(body)
            if m:
                out.integer = True
                out.evidence.append(f"{rel}:{_line(text, at + m.start())} {name}.{m.group(0).strip()}")
        m = _SQL_USERID.search(body)
        if m:
            out.integer = True
            out.evidence.append(f"{rel}:{_line(text, at + m.start())} {name}.{m.group(0).strip()}")
