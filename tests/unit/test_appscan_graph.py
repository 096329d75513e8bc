"""Imports followed across files (re-exports under new names, export *, chains), tsconfig paths /
baseUrl / extends, the version decisions, and integer user ids from schema files."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.appscan import scan_app
from console.appscan.tsconfig import load_jsonc
from console.appscan.versions import AppVersions, parse_spec


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def found(report, construct=None):
    return sorted((f.file, f.line, f.construct) for f in report.findings if construct in (None, f.construct))


def test_reexport_under_a_new_name_through_two_files(tmp_path):
    report = scan_app(write(tmp_path, {
        "lib/auth-client.ts": 'export { useSession as useMe, signOut as leave } from "next-auth/react";\n',
        "lib/index.ts": 'export * from "./auth-client";\n',
        # this file says neither auth nor session: only the import graph finds it
        "components/menu.tsx": (
            '"use client";\n'
            'import { useMe as me, leave } from "../lib";\n'
            "export function Menu() { const { data } = me(); return <button onClick={leave}>x</button> }\n"
        ),
    }))
    assert ("components/menu.tsx", 3, "useSession") in found(report)
    assert ("components/menu.tsx", 3, "signOut") in found(report)
    assert ("lib/auth-client.ts", 1, "import") in found(report)


def test_tsconfig_paths_baseurl_and_extends(tmp_path):
    report = scan_app(write(tmp_path, {
        "package.json": '{"dependencies": {"next": "16.0.0", "next-auth": "beta"}}',
        "tsconfig.base.json": '{\n  // shared\n  "compilerOptions": {"baseUrl": "src", "paths": {"#auth/*": ["server/auth/*"],},},\n}\n',
        "tsconfig.json": '{"extends": "./tsconfig.base.json", "compilerOptions": {"strict": true}}',
        "src/server/auth/config.ts": 'import NextAuth from "next-auth";\nexport const { auth, signIn } = NextAuth({});\n',
        "src/app/page.tsx": 'import { auth } from "#auth/config";\nexport default async function P() { const s = await auth(); return s ? 1 : 0 }\n',
        "src/app/other/page.tsx": 'import { auth } from "server/auth/config";\nexport default async function Q() { await auth() }\n',
    }))
    assert ("src/app/page.tsx", 2, "auth") in found(report)  # via paths (declared in the extended file)
    assert ("src/app/other/page.tsx", 2, "auth") in found(report)  # via baseUrl
    assert report.versions.middleware_file == "proxy.ts"


def test_load_jsonc():
    assert load_jsonc('{"a": "x // y", /* c */ "b": [1, 2,], // d\n}') == {"a": "x // y", "b": [1, 2]}


@pytest.mark.parametrize("spec,expected", [
    ("^15.1.0", (15, 1, 0)), ("~14.2", (14, 2, 0)), (">=13", (13, 0, 0)), ("5.0.0-beta.25", (5, 0, 0)),
    ("latest", (16, 0, 0)), ("workspace:*", None), ("npm:next@15.3.1", (15, 3, 1)),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec, newest=(16, 0, 0)) == expected


def test_version_decisions():
    new = AppVersions(next_spec="^16.0.0")
    assert new.core3 and new.proxy_named and new.clerk_spec_to_add.startswith("^7")
    mid = AppVersions(next_spec="15.2.3")
    assert mid.core3 and mid.middleware_file == "middleware.ts"
    old = AppVersions(next_spec="14.2.30")
    assert not old.core3 and old.clerk_spec_to_add.startswith("^6") and old.next_too_old_for_clerk() is None
    too_old = AppVersions(next_spec="14.2.5")
    assert "14.2.25" in too_old.next_too_old_for_clerk()
    pinned = AppVersions(next_spec="16.0.0", clerk_spec="^6.9.0")
    assert not pinned.core3  # the installed @clerk/nextjs decides
    assert AppVersions(next_auth_spec="beta").next_auth_major == 5


def test_advice_follows_the_versions(tmp_path):
    core3 = scan_app(write(tmp_path / "a", {"package.json": '{"dependencies": {"next": "16.1.0", "next-auth": "^4"}}'}))
    ui = {a.key: a for a in core3.advice}["signed_in_ui"]
    assert '<Show when="signed-in">' in ui.detail and "Core 3" in ui.applies_to
    assert {a.key: a for a in core3.advice}["middleware_file"].title.endswith("proxy.ts")
    core2 = scan_app(write(tmp_path / "b", {"package.json": '{"dependencies": {"next": "14.2.30", "next-auth": "^4"}}'}))
    ui2 = {a.key: a for a in core2.advice}["signed_in_ui"]
    assert "<SignedIn>" in ui2.detail and "Core 2" in ui2.applies_to
    assert "middleware.ts" in {a.key: a for a in core2.advice}["middleware_file"].title
    assert core2.as_json()["versions"]["clerk_core"] == 2


def test_integer_user_ids_from_prisma_drizzle_and_sql(tmp_path):
    prisma = scan_app(write(tmp_path / "p", {
        "prisma/schema.prisma": "model User {\n  id    Int    @id @default(autoincrement())\n  email String\n}\n",
    }))
    assert prisma.user_ids.integer and prisma.user_ids.evidence == ["prisma/schema.prisma:2 model User id Int"]
    assert "integer_user_ids" in {a.key for a in prisma.advice}
    drizzle = scan_app(write(tmp_path / "d", {
        "src/db/schema.ts": (
            'import { pgTable, serial, integer, text } from "drizzle-orm/pg-core";\n'
            'export const users = pgTable("users", {\n  id: serial("id").primaryKey(),\n  name: text("name"),\n});\n'
            'export const accounts = pgTable("accounts", {\n  userId: integer("userId").notNull(),\n});\n'
        ),
    }))
    assert drizzle.user_ids.integer and len(drizzle.user_ids.evidence) == 2
    sql = scan_app(write(tmp_path / "s", {
        "migrations/001.sql": (
            "CREATE TABLE users (\n  id SERIAL,\n  name VARCHAR(255),\n  PRIMARY KEY (id)\n);\n"
            'CREATE TABLE accounts (\n  id SERIAL,\n  "userId" INTEGER NOT NULL\n);\n'
        ),
    }))
    assert sql.user_ids.integer and sql.user_ids.evidence[0].startswith("migrations/001.sql:2 users.id SERIAL")
    text_ids = scan_app(write(tmp_path / "t", {
        "prisma/schema.prisma": 'model User {\n  id String @id @default(cuid())\n}\n',
    }))
    assert not text_ids.user_ids.integer and "integer_user_ids" not in {a.key for a in text_ids.advice}
