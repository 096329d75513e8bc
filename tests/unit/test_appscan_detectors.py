"""The detectors on small hand-written files: renames, namespaces, comments, regexes,
middleware shapes, monorepos."""

from __future__ import annotations

from pathlib import Path

from console.appscan import DONE, scan_app
from console.appscan import syntax
from console.appscan.manifest import env_names, package_dependencies


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def found(report, construct=None):
    return sorted((f.file, f.line, f.construct) for f in report.findings if construct in (None, f.construct))


def test_comments_strings_and_regexes_are_never_uses(tmp_path):
    """What the hand-written lexer had to get right, now the syntax tree's job: a name in a
    comment, a string, a template or a regex literal is not a call; the call after them is."""
    text = (
        '"use client";\n'
        'import { useSession } from "next-auth/react";\n'
        "// useSession() in a line comment\n"
        "const u = \"http://x useSession()\"; const t = `useSession() ${u}`;\n"
        "const r = /\\/\\/useSession()/; /* useSession() */\n"
        "export function A() { const s = useSession(); return null }\n"
    )
    report = scan_app(write(tmp_path, {"components/a.tsx": text}))
    assert found(report) == [("components/a.tsx", 2, "import"), ("components/a.tsx", 6, "useSession")]
    source = syntax.parse("components/a.tsx", text)
    assert not source.root.has_error and syntax.directive(source) == "client"


def test_renamed_namespace_dynamic_and_commented(tmp_path):
    report = scan_app(write(tmp_path, {
        "components/a.tsx": (
            '"use client";\n'
            'import { useSession as useNA } from "next-auth/react";\n'
            "/* useSession() in a block comment\n"
            "   getServerSession() too */\n"
            "export function A() { const s = useNA(); return null }\n"
        ),
        "components/b.tsx": (
            "// leading comment\n"
            '"use client";\n'
            'import * as NA from "next-auth/react";\n'
            "export function B() { NA.signOut(); const { data } = NA.useSession(); return null }\n"
            'export async function lazy() { const m = await import("next-auth/react"); }\n'
        ),
    }))
    assert found(report) == [
        ("components/a.tsx", 2, "import"),
        ("components/a.tsx", 5, "useSession"),
        ("components/b.tsx", 3, "import"),
        ("components/b.tsx", 4, "signOut"),
        ("components/b.tsx", 4, "useSession"),
        ("components/b.tsx", 5, "import"),
    ]
    assert all(f.context == "client component" for f in report.findings)


def test_definitions_are_not_calls_and_wrappers_are_found(tmp_path):
    report = scan_app(write(tmp_path, {
        "lib/session.ts": (
            'import { unstable_getServerSession } from "next-auth/next";\n'
            "export async function getServerSession(req, res) {\n"
            "  return unstable_getServerSession(req, res, options);\n"
            "}\n"
        ),
        "pages/api/me.ts": (
            'import { getServerSession } from "../../lib/session";\n'
            "export default async function h(req, res) { const s = await getServerSession(req, res) }\n"
        ),
        "pages/index.tsx": (
            'import { getServerSession } from "@clerk/not-real";\n'  # another package: not ours to flag
            "export default function I() { getServerSession(); return null }\n"
        ),
    }))
    assert found(report, "getServerSession") == [
        ("lib/session.ts", 3, "getServerSession"),
        ("pages/api/me.ts", 2, "getServerSession"),
    ]
    shared = [f for f in report.findings if f.file == "lib/session.ts" and f.construct == "getServerSession"][0]
    assert shared.router is None and "getAuth(req)" in shared.clerk  # called with req, res


def test_middleware_shapes_and_negative_matcher(tmp_path):
    one = scan_app(write(tmp_path / "one", {
        "middleware.ts": (
            'import { withAuth } from "next-auth/middleware";\n'
            "export default withAuth;\n"
            'export const config = { matcher: "/admin/:path*" };\n'
        ),
    }))
    assert found(one) == [
        ("middleware.ts", 1, "import"),
        ("middleware.ts", 2, "middleware"),
        ("middleware.ts", 3, "middleware_matcher"),
    ]
    assert [r.route for r in one.protected_routes] == ["/admin/:path*"]

    two = scan_app(write(tmp_path / "two", {
        "auth.ts": 'import NextAuth from "next-auth";\nexport const {\n  auth,\n  handlers,\n} = NextAuth({});\n',
        "src/middleware.ts": (
            'import { auth } from "@/auth";\n'
            "export default auth((req) => {\n"
            "  if (!req.auth) return Response.redirect(new URL('/login', req.url));\n"
            "});\n"
            "export const config = {\n"
            '  matcher: ["/((?!api|_next/static|_next/image|favicon.ico).*)"],\n'
            "};\n"
        ),
    }))
    assert ("auth.ts", 2, "auth_config") in found(two)
    assert ("src/middleware.ts", 2, "middleware") in found(two)
    matcher = [f for f in two.findings if f.construct == "middleware_matcher"][0]
    assert matcher.line == 6 and "everything except" in matcher.howto


def test_clerk_middleware_is_done_and_its_matcher_is_not_a_finding(tmp_path):
    report = scan_app(write(tmp_path, {
        "middleware.ts": (
            'import { clerkMiddleware, createRouteMatcher } from "@clerk/nextjs/server";\n'
            'const isProtected = createRouteMatcher(["/dashboard(.*)"]);\n'
            "export default clerkMiddleware(async (auth, req) => { if (isProtected(req)) await auth.protect() });\n"
            'export const config = { matcher: ["/((?!_next).*)"] };\n'
        ),
    }))
    assert report.findings == [] and report.protected_routes == []
    assert {i.key: i.status for i in report.checklist}["middleware"] == DONE


def test_monorepo_alias_resolves_inside_its_package(tmp_path):
    report = scan_app(write(tmp_path, {
        "package.json": '{"private": true}',
        "apps/web/package.json": '{"dependencies": {"next-auth": "beta"}}',
        "apps/web/src/auth.ts": 'import NextAuth from "next-auth";\nexport const { auth } = NextAuth({});\n',
        "apps/web/src/app/page.tsx": 'import { auth } from "@/auth";\nexport default async function P() { await auth() }\n',
        "apps/docs/package.json": "{}",
        "apps/docs/pages/index.tsx": "export default function D() { return null }\n",
    }))
    assert report.router == "both"
    use = [f for f in report.findings if f.construct == "auth"][0]
    assert (use.file, use.line, use.router) == ("apps/web/src/app/page.tsx", 2, "app")
    assert ("apps/web/package.json", 1, "dependency") in found(report)


def test_package_json_lines_and_broken_json():
    text = '{\n  "devDependencies": {\n    "@auth/core": "0.37"\n  },\n  "dependencies": {\n    "next-auth": "4"\n  }\n}\n'
    assert [(d.name, d.section, d.line) for d in package_dependencies(text)] == [
        ("next-auth", "dependencies", 6),
        ("@auth/core", "devDependencies", 3),
    ]
    broken = '{\n  "dependencies": {\n    "next-auth": "4",\n  }\n'  # trailing comma
    assert [(d.name, d.line) for d in package_dependencies(broken)] == [("next-auth", 3)]


def test_env_parser_returns_names_only():
    text = (
        "# comment\n"
        "export NEXTAUTH_URL=http://x\n"
        'KEY="line one\n'
        "AUTH_NOT_A_NAME=inside\n"
        'end"\n'
        "AUTH_SECRET = 'single'\n"
        "BROKEN LINE\n"
        "EMPTY=\n"
    )
    assert env_names(text) == [("NEXTAUTH_URL", 2), ("KEY", 3), ("AUTH_SECRET", 6), ("EMPTY", 8)]


def test_symlinked_dir_loop_is_not_followed(tmp_path):
    write(tmp_path, {"app/page.tsx": 'import { useSession } from "next-auth/react";\n'})
    (tmp_path / "app" / "loop").symlink_to(tmp_path, target_is_directory=True)
    report = scan_app(tmp_path)
    assert found(report) == [("app/page.tsx", 1, "import")]


def test_proxy_file_object_matchers_and_session_claims_done(tmp_path):
    report = scan_app(write(tmp_path, {
        "src/proxy.ts": (
            'export { default } from "next-auth/middleware";\n'
            "export const config = {\n"
            "  matcher: [\n"
            '    { source: "/account/:path*" },\n'
            "    '/billing',\n"
            "  ],\n"
            "};\n"
        ),
        "app/api/me/route.ts": (
            'import { auth } from "@clerk/nextjs/server";\n'
            "export async function GET() { const { sessionClaims } = await auth(); return Response.json(sessionClaims?.userId) }\n"
        ),
    }))
    assert [(r.route, r.file, r.line) for r in report.protected_routes] == [
        ("/account/:path*", "src/proxy.ts", 4),
        ("/billing", "src/proxy.ts", 5),
    ]
    items = {i.key: i for i in report.checklist}
    assert items["foreign_keys"].status == DONE
    assert items["foreign_keys"].evidence == ["app/api/me/route.ts:2 sessionClaims.userId"]
    assert items["server"].status == DONE


def test_odd_file_names_and_crlf(tmp_path, capsys):
    import os

    from console.cli import main

    name = os.fsdecode(b"bad-\xff-name.ts")
    (tmp_path / name).write_text('import { useSession } from "next-auth/react";\r\n\r\nuseSession();\r\n')
    report = scan_app(tmp_path)
    assert [(f.line, f.construct) for f in report.findings] == [(1, "import"), (3, "useSession")]
    assert report.findings[0].file == "bad-\ufffd-name.ts"
    assert main(["scan-app", str(tmp_path), "--json"]) == 0
    assert "bad-\ufffd-name.ts" in capsys.readouterr().out
