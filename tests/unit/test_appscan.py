"""scan_app on the three fixture apps: each construct at its exact line, the
router told apart, the checklist, and what is (never) read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from console.appscan import DONE, NOT_APPLICABLE, TODO, AppScanError, scan_app

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"


def keys(report):
    return {(f.file, f.line, f.construct) for f in report.findings}


def one(report, file, line, construct):
    matches = [f for f in report.findings if (f.file, f.line, f.construct) == (file, line, construct)]
    assert len(matches) == 1, (file, line, construct, keys(report))
    return matches[0]


@pytest.fixture(scope="module")
def app_router():
    return scan_app(APPS / "app-router")


@pytest.fixture(scope="module")
def pages_router():
    return scan_app(APPS / "pages-router")


@pytest.fixture(scope="module")
def half():
    return scan_app(APPS / "half-migrated")


# --- App Router (Auth.js v5) -------------------------------------------------------------

APP_ROUTER_EXPECTED = {
    (".env.example", 1, "env_name"),
    (".env.example", 2, "env_name"),
    (".env.example", 3, "env_name"),
    (".env.local", 2, "env_name"),
    (".env.local", 3, "env_name"),
    (".env.local", 4, "env_name"),
    ("app/api/auth/[...nextauth]/route.ts", 3, "nextauth_route"),
    ("app/api/notes/route.ts", 1, "import"),
    ("app/api/notes/route.ts", 5, "env_name"),
    ("app/api/notes/route.ts", 5, "getToken"),
    ("app/api/notes/route.ts", 7, "foreign_key"),
    ("app/dashboard/page.tsx", 5, "auth"),
    ("app/dashboard/page.tsx", 7, "foreign_key"),
    ("app/login/page.tsx", 3, "sign_in_page"),
    ("app/login/page.tsx", 8, "signIn"),
    ("app/providers.tsx", 3, "import"),
    ("app/providers.tsx", 7, "SessionProvider"),
    ("auth.ts", 1, "import"),
    ("auth.ts", 2, "import"),
    ("auth.ts", 3, "import"),
    ("auth.ts", 6, "auth_config"),
    ("auth.ts", 11, "foreign_key"),
    ("components/user-menu.tsx", 4, "import"),
    ("components/user-menu.tsx", 11, "useSession"),
    ("components/user-menu.tsx", 12, "conditional_ui"),
    ("components/user-menu.tsx", 13, "conditional_ui"),
    ("components/user-menu.tsx", 15, "signOut"),
    ("components/user-menu.tsx", 20, "signIn"),
    ("middleware.ts", 2, "middleware"),
    ("middleware.ts", 5, "middleware_matcher"),
    ("package.json", 9, "dependency"),
    ("package.json", 10, "dependency"),
}


def test_app_router_every_construct_at_its_line(app_router):
    assert keys(app_router) == APP_ROUTER_EXPECTED
    assert app_router.router == "app"
    assert app_router.files_scanned == 12 and app_router.files_skipped == 0
    assert app_router.next_auth_version == "5.0.0-beta.25"
    assert not app_router.clerk_installed


def test_app_router_v5_config_and_its_auth_uses(app_router):
    config = one(app_router, "auth.ts", 6, "auth_config")
    assert "auth, handlers, signIn, signOut" in config.authjs
    use = one(app_router, "app/dashboard/page.tsx", 5, "auth")
    assert (use.router, use.context) == ("app", "server component")
    assert "auth() / currentUser()" in use.clerk and "@clerk/nextjs/server" in use.clerk
    # signIn from the config, resolved through a relative import, in a server action
    sign_in = one(app_router, "app/login/page.tsx", 8, "signIn")
    assert "redirectToSignIn" in sign_in.clerk
    route = one(app_router, "app/api/auth/[...nextauth]/route.ts", 3, "nextauth_route")
    assert route.router == "app" and route.context == "route handler"


def test_app_router_client_component_and_multiline_import(app_router):
    provider = one(app_router, "app/providers.tsx", 7, "SessionProvider")
    assert (provider.router, provider.context, provider.clerk) == ("app", "client component", "<ClerkProvider>")
    assert "app/layout.tsx" in provider.howto
    # a multi-line import is reported at its `import` line, with the names it brings
    imp = one(app_router, "components/user-menu.tsx", 4, "import")
    assert imp.authjs == 'import { signIn, signOut, useSession } from "next-auth/react"'
    assert "useAuth() / useUser()" in one(app_router, "components/user-menu.tsx", 11, "useSession").clerk
    assert "<SignOutButton>" in one(app_router, "components/user-menu.tsx", 15, "signOut").clerk
    assert "<SignInButton>" in one(app_router, "components/user-menu.tsx", 20, "signIn").clerk
    # the commented-out import on line 3 is not a touch point
    assert not [f for f in app_router.findings if f.file == "components/user-menu.tsx" and f.line == 3]


def test_app_router_middleware_routes(app_router):
    assert [(r.route, r.file, r.line) for r in app_router.protected_routes] == [
        ("/dashboard/:path*", "middleware.ts", 6),
        ("/notes/:path*", "middleware.ts", 7),
    ]
    mw = one(app_router, "middleware.ts", 2, "middleware")
    assert mw.routes == ("/dashboard/:path*", "/notes/:path*")
    assert 'createRouteMatcher(["/dashboard/:path*", "/notes/:path*"])' in mw.howto
    assert "auth.protect()" in mw.howto


def test_app_router_token_sub_and_get_token(app_router):
    tok = one(app_router, "app/api/notes/route.ts", 5, "getToken")
    assert tok.context == "route handler" and "auth()" in tok.clerk
    fk = one(app_router, "app/api/notes/route.ts", 7, "foreign_key")
    assert fk.authjs == "token.sub"
    assert '{"userId": "{{user.external_id || user.id}}"}' in fk.howto
    assert one(app_router, "app/dashboard/page.tsx", 7, "foreign_key").authjs == "session?.user?.id"


# --- Pages Router (Auth.js v4) -----------------------------------------------------------

PAGES_ROUTER_EXPECTED = {
    (".env.local", 1, "env_name"),
    (".env.local", 2, "env_name"),
    (".env.local", 8, "env_name"),
    ("components/Header.jsx", 1, "import"),
    ("components/Header.jsx", 4, "useSession"),
    ("components/Header.jsx", 5, "conditional_ui"),
    ("components/Header.jsx", 6, "signIn"),
    ("components/Header.jsx", 11, "signOut"),
    ("lib/token.js", 3, "import"),
    ("lib/token.js", 6, "getToken"),
    ("lib/token.js", 7, "foreign_key"),
    ("middleware.js", 1, "middleware"),
    ("middleware.js", 3, "middleware_matcher"),
    # line 5 is @types/react since the adapter went (the fixture now type-checks: JWT sessions)
    ("package.json", 7, "dependency"),
    ("pages/_app.tsx", 2, "import"),
    ("pages/_app.tsx", 9, "SessionProvider"),
    ("pages/api/auth/[...nextauth].ts", 1, "import"),
    ("pages/api/auth/[...nextauth].ts", 2, "import"),
    ("pages/api/auth/[...nextauth].ts", 5, "auth_config"),
    ("pages/api/auth/[...nextauth].ts", 14, "sign_in_page"),
    ("pages/api/auth/[...nextauth].ts", 18, "foreign_key"),
    ("pages/api/auth/[...nextauth].ts", 24, "nextauth_route"),
    ("pages/api/notes.ts", 2, "import"),
    ("pages/api/notes.ts", 7, "getServerSession"),
    ("pages/api/notes.ts", 9, "foreign_key"),
    ("pages/auth/signin.tsx", 1, "import"),
    ("pages/auth/signin.tsx", 4, "sign_in_page"),
    ("pages/auth/signin.tsx", 8, "signIn"),
    ("pages/auth/signin.tsx", 17, "getProviders"),
    ("pages/dashboard.tsx", 2, "import"),
    ("pages/dashboard.tsx", 10, "getServerSession"),
}


def test_pages_router_every_construct_at_its_line(pages_router):
    assert keys(pages_router) == PAGES_ROUTER_EXPECTED
    assert pages_router.router == "pages"
    assert pages_router.next_auth_version == "^4.24.7"


def test_pages_router_server_reads_become_get_auth(pages_router):
    api = one(pages_router, "pages/api/notes.ts", 7, "getServerSession")
    assert (api.router, api.context) == ("pages", "API route")
    assert api.clerk == "getAuth(req) from @clerk/nextjs/server"
    ssp = one(pages_router, "pages/dashboard.tsx", 10, "getServerSession")
    assert ssp.context == "getServerSideProps" and "getAuth(req)" in ssp.clerk
    assert "getAuth(req)" in one(pages_router, "lib/token.js", 6, "getToken").clerk


def test_pages_router_provider_client_and_pages(pages_router):
    provider = one(pages_router, "pages/_app.tsx", 9, "SessionProvider")
    assert provider.router == "pages" and "pages/_app" in provider.howto
    # a component outside pages/ that calls hooks is client code
    sign_in = one(pages_router, "components/Header.jsx", 6, "signIn")
    assert sign_in.context == "client component" and "<SignInButton>" in sign_in.clerk
    # `onClick={signOut}` (a reference, not a call) is found too
    assert one(pages_router, "components/Header.jsx", 11, "signOut").authjs.startswith("signOut")
    page = one(pages_router, "pages/auth/signin.tsx", 4, "sign_in_page")
    assert page.routes == ("/auth/signin",) and "<SignIn/>" in page.clerk
    option = one(pages_router, "pages/api/auth/[...nextauth].ts", 14, "sign_in_page")
    assert option.routes == ("/auth/signin",)


def test_pages_router_middleware_and_require(pages_router):
    mw = one(pages_router, "middleware.js", 1, "middleware")
    assert mw.authjs == 'export { default } from "next-auth/middleware"'
    assert [(r.route, r.line) for r in pages_router.protected_routes] == [
        ("/dashboard/:path*", 3),
        ("/notes/:path*", 3),
    ]
    assert one(pages_router, "lib/token.js", 3, "import").authjs == 'require("next-auth/jwt") ({ getToken })'
    assert one(pages_router, "lib/token.js", 7, "foreign_key").authjs == "token?.sub"


def test_env_names_only_and_multiline_values_stepped_over(pages_router):
    assert pages_router.auth_env_names == ["NEXTAUTH_DEBUG", "NEXTAUTH_SECRET", "NEXTAUTH_URL"]
    # a line inside a quoted multi-line value is never read as a name
    assert "AUTH_LOOKS_LIKE_A_NAME" not in json.dumps(pages_router.as_json())


# --- half-migrated -----------------------------------------------------------------------

HALF_EXPECTED = {
    (".env.local", 2, "env_name"),
    (".env.local", 3, "env_name"),
    ("package.json", 7, "dependency"),
    ("src/app/dashboard/page.tsx", 1, "import"),
    ("src/app/dashboard/page.tsx", 6, "getServerSession"),
    ("src/app/dashboard/page.tsx", 8, "foreign_key"),
    ("src/lib/auth.ts", 1, "import"),
    ("src/lib/auth.ts", 2, "import"),
    ("src/lib/auth.ts", 4, "auth_config"),
    ("src/middleware.ts", 1, "import"),
    ("src/middleware.ts", 3, "middleware"),
    ("src/middleware.ts", 8, "middleware_matcher"),
}


def test_half_migrated_findings(half):
    assert keys(half) == HALF_EXPECTED
    assert half.router == "app"  # src/app counts
    assert half.clerk_installed
    gss = one(half, "src/app/dashboard/page.tsx", 6, "getServerSession")
    assert gss.clerk == "auth() / currentUser() from @clerk/nextjs/server"
    assert one(half, "package.json", 7, "dependency").howto.startswith("@clerk/nextjs is installed")
    assert [r.route for r in half.protected_routes] == ["/dashboard/:path*", "/settings/:path*", "/api/private/:path*"]


def test_half_migrated_checklist(half):
    status = {item.key: item.status for item in half.checklist}
    assert status == {
        "install": DONE,
        "env": TODO,
        "provider": DONE,
        "middleware": TODO,
        "server": TODO,
        "client": DONE,
        "pages": DONE,
        "signed_in": DONE,
        "foreign_keys": TODO,
    }
    items = {item.key: item for item in half.checklist}
    assert items["install"].evidence == ["package.json:5 @clerk/nextjs ^6.9.0"]
    assert items["env"].evidence == ["CLERK_SECRET_KEY named in .env.local"]
    assert "missing: NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY" in items["env"].detail
    assert "src/layout.tsx" not in items["provider"].evidence
    assert items["provider"].evidence == ["src/app/layout.tsx:1 imports ClerkProvider"]
    assert "rewrite src/middleware.ts" in items["middleware"].detail
    assert items["middleware"].findings == 3


def test_clerk_own_use_session_is_not_flagged(half):
    assert not [f for f in half.findings if f.file.startswith(("src/components/", "src/app/sign-in", "src/app/layout"))]


def test_not_applicable_when_nothing_to_do(tmp_path):
    (tmp_path / "package.json").write_text('{"dependencies": {"@clerk/nextjs": "^6"}}')
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "page.tsx").write_text("export default function P() { return null }\n")
    report = scan_app(tmp_path)
    status = {item.key: item.status for item in report.checklist}
    assert status["install"] == DONE
    assert status["provider"] == TODO and status["middleware"] == TODO and status["env"] == TODO
    assert {status[k] for k in ("server", "client", "pages", "signed_in", "foreign_keys")} == {NOT_APPLICABLE}
    assert report.findings == []


# --- what is read, what is skipped --------------------------------------------------------

def test_env_values_never_in_the_report():
    for app in ("app-router", "pages-router", "half-migrated"):
        dumped = json.dumps(scan_app(APPS / app).as_json())
        assert "VALUE-" not in dumped, app
        assert "sk_test_" not in dumped, app


def test_skipped_files_counted_and_pruned_dirs_not_walked(tmp_path):
    root = tmp_path / "app"
    shutil.copytree(APPS / "half-migrated", root)
    (root / "src" / "huge.ts").write_text("// " + "x" * 1_000_000 + "\nimport { useSession } from 'next-auth/react'\n")
    (root / "src" / "blob.js").write_bytes(b"useSession(\x00\x01\x02")
    (root / "src" / "latin1.tsx").write_bytes(b"const s = '\xe9\xe9\xe9';\n")
    (root / "src" / "logo.png").write_bytes(b"\x89PNG\x00")  # not a candidate: neither read nor counted
    for pruned in ("node_modules/next-auth", ".next/server", "dist", "build", "out", ".git", "coverage", ".turbo", ".vercel"):
        d = root / pruned
        d.mkdir(parents=True)
        (d / "index.js").write_text('import { getServerSession } from "next-auth/next";\ngetServerSession();\n')
    (root / "node_modules" / "next-auth" / "package.json").write_text('{"dependencies": {"next-auth": "4"}}')

    report = scan_app(root)
    assert report.files_skipped == 3
    assert sorted((s.file, s.reason) for s in report.skipped) == [
        ("src/blob.js", "binary"),
        ("src/huge.ts", "too large"),
        ("src/latin1.tsx", "undecodable"),
    ]
    assert report.files_scanned == 10  # as before (+ tsconfig.json, src/lib/db.ts): nothing from the pruned folders
    assert report.dirs_pruned == 9
    assert keys(report) == HALF_EXPECTED


def test_size_cap_is_a_parameter(tmp_path):
    (tmp_path / "a.ts").write_text("x".ljust(200))
    report = scan_app(tmp_path, max_file_bytes=100)
    assert [(s.file, s.reason) for s in report.skipped] == [("a.ts", "too large")]


@pytest.mark.parametrize("make", ["missing", "file"])
def test_bad_path(tmp_path, make):
    path = tmp_path / "x"
    if make == "file":
        path.write_text("")
    with pytest.raises(AppScanError) as err:
        scan_app(path)
    assert "\n" not in str(err.value)


def test_as_json_shape(half):
    data = half.as_json()
    assert set(data) >= {
        "path", "router", "files_scanned", "files_skipped", "skipped", "clerk_installed",
        "next_auth_version", "auth_env_names", "protected_routes", "findings", "checklist",
    }
    assert set(data["findings"][0]) == {
        "file", "line", "construct", "authjs", "clerk", "howto", "step", "router", "context", "routes",
    }
    assert set(data["checklist"][0]) == {"key", "title", "status", "detail", "findings", "evidence"}
    assert [item["key"] for item in data["checklist"]] == [
        "install", "env", "provider", "middleware", "server", "client", "pages", "signed_in", "foreign_keys",
    ]
    json.dumps(data)
