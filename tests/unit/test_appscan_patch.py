"""`scan-app PATH --patch FILE.diff` on the four fixture apps people start from: the patch applies
with `git apply` on a clean tree (a real git repo), every changed file parses in tree-sitter, the
rewritten categories hold no Auth.js construct afterwards (what stays is in `Patch.left`), and the
file is written 0600 and never overwritten without --force. tsc: test_appscan_typecheck.py."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from console.appscan import scan_app, syntax
from console.appscan.modules import is_authjs_spec
from console.appscan.patch import build_patch
from console.cli import main

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
PATCH_APPS = ["nextauth-example", "pages-router", "t3-app", "half-migrated"]
# constructs the patch rewrites: after `git apply`, each left in a file must be in Patch.left
REWRITTEN = {"SessionProvider", "useSession", "getServerSession", "auth", "signIn", "signOut", "middleware",
             "conditional_ui", "nextauth_route"}

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)


def git_copy(app: str, dest: Path) -> Path:
    work = dest / app
    shutil.copytree(APPS / app, work)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "the app before the patch")):
        assert git(work, *args).returncode == 0
    return work


def apply_patch(app: str, tmp_path: Path) -> tuple[Path, Path, dict]:
    """Copy the app into a git repo, write the patch with the CLI, `git apply` it."""
    work = git_copy(app, tmp_path)
    diff = tmp_path / f"{app}.diff"
    assert main(["scan-app", str(work), "--patch", str(diff), "--json"]) == 0
    return work, diff, {}


@pytest.fixture(scope="module")
def patched(tmp_path_factory):
    """app -> (patched work tree, the patch object built before applying, CLI JSON)."""
    out = {}
    for app in PATCH_APPS:
        base = tmp_path_factory.mktemp(app)
        work = git_copy(app, base)
        patch = build_patch(scan_app(work))
        diff = base / "p.diff"
        patch.write(diff)
        check = git(work, "apply", "--check", str(diff))
        assert check.returncode == 0, (app, check.stderr)
        assert git(work, "apply", str(diff)).returncode == 0
        out[app] = (work, patch)
    return out


@pytest.mark.parametrize("app", PATCH_APPS)
def test_patch_applies_and_every_changed_file_parses(patched, app):
    work, patch = patched[app]
    assert patch.files, app
    status = git(work, "status", "--porcelain").stdout.splitlines()
    changed = {line[3:].strip('"') for line in status}
    expected = {f.path for f in patch.files}
    assert {p.rstrip("/") for p in changed} <= expected | {str(Path(p).parent) + "/" for p in expected} | expected
    for f in patch.files:
        if f.action == "delete":
            assert not (work / f.path).exists()
            continue
        text = (work / f.path).read_text()
        if f.path.endswith((".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")):
            assert syntax.parses_cleanly(f.path, text), f.path
        if f.path.endswith("package.json"):
            json.loads(text)


@pytest.mark.parametrize("app", PATCH_APPS)
def test_no_authjs_left_in_the_rewritten_categories(patched, app):
    work, patch = patched[app]
    left = {(x.file, x.construct) for x in patch.left}
    touched = {f.path for f in patch.files if f.action != "delete"}
    after = scan_app(work)
    for f in after.findings:
        if f.file in touched and f.construct in REWRITTEN:
            assert (f.file, f.construct) in left, (app, f.file, f.line, f.construct, f.authjs)
    # an import statement the patch rewrote names no Auth.js module unless Patch.left says why
    for f in after.findings:
        if f.construct == "import" and f.file in touched:
            assert any(x.file == f.file and x.construct == "import" for x in patch.left), (app, f)
    # package.json keeps next-auth only when something still imports it, and says who
    pkg = json.loads((work / "package.json").read_text())["dependencies"]
    assert "@clerk/nextjs" in pkg
    still = [x for x in patch.left if x.construct == "dependency" and "next-auth is still imported" in x.why]
    assert ("next-auth" in pkg) == bool(still)


def test_t3_app_goes_to_clerk_and_drops_the_auth_module(patched):
    work, patch = patched["t3-app"]
    actions = {f.path: f.action for f in patch.files}
    assert actions["src/server/auth/index.ts"] == "delete"
    assert actions["src/server/auth/config.ts"] == "delete"
    assert actions["src/app/api/auth/[...nextauth]/route.ts"] == "delete"
    assert actions["src/middleware.ts"] == "create"  # next ^15.2.3: middleware.ts, in src/
    page = (work / "src/app/page.tsx").read_text()
    assert 'import { currentUser } from "@clerk/nextjs/server";' in page
    assert "const user = await currentUser();" in page and "user?.fullName" in page
    assert "~/server/auth" not in page
    layout = (work / "src/app/layout.tsx").read_text()
    assert "<ClerkProvider>" in layout and 'from "@clerk/nextjs"' in layout
    pkg = json.loads((work / "package.json").read_text())["dependencies"]
    assert pkg["@clerk/nextjs"] == "^7.9.17" and "@auth/drizzle-adapter" not in pkg
    # the schema's AdapterAccount type keeps next-auth; the patch says so instead of breaking it
    assert "next-auth" in pkg
    assert any(x.file == "src/server/db/schema.ts" and x.construct == "import" for x in patch.left)


def test_pages_router_rewrites(patched):
    work, patch = patched["pages-router"]
    app = (work / "pages/_app.tsx").read_text()
    assert "<ClerkProvider {...pageProps}>" in app and "SessionProvider" not in app
    header = (work / "components/Header.jsx").read_text()
    assert "useUser()" in header and "<SignInButton><button>Sign in</button></SignInButton>" in header
    assert "{user?.primaryEmailAddress?.emailAddress}" in header and "next-auth" not in header
    mw = (work / "middleware.js").read_text()  # next 14: middleware, not proxy
    assert 'createRouteMatcher(["/dashboard(.*)", "/notes(.*)"])' in mw and "next-auth" not in mw
    assert json.loads((work / "package.json").read_text())["dependencies"]["@clerk/nextjs"] == "^6.39.8"
    why = {(x.file, x.line): x.why for x in patch.left}
    assert "foreign key" in why[("pages/api/notes.ts", 7)]
    assert "getAuth(req)" in why[("pages/dashboard.tsx", 10)]


def test_nextauth_example_keeps_what_has_logic(patched):
    work, patch = patched["nextauth-example"]
    left = {(x.file, x.construct): x.why for x in patch.left}
    assert "callbacks.authorized" in left[("middleware.ts", "middleware")]
    assert "auth(handler)" in left[("app/api/protected/route.ts", "auth")]
    whys = [x.why for x in patch.left if (x.file, x.construct) == ("components/client-example.tsx", "useSession")]
    assert any("update()" in w for w in whys) and any("used as a value" in w for w in whys)
    assert (work / "middleware.ts").read_text() == (APPS / "nextauth-example/middleware.ts").read_text()
    user_button = (work / "components/user-button.tsx").read_text()
    assert "await currentUser()" in user_button and "if (!user) return <SignIn />" in user_button
    forms = (work / "components/auth-components.tsx").read_text()
    assert "<SignOutButton>" in forms and "await signIn(provider)" in forms  # signIn(provider) stays
    # "auth" is a bare tsconfig path alias (`"auth": ["./auth"]`): followed to auth.ts
    assert (work / "app/api/auth/[...nextauth]/route.ts").exists() is False


def test_half_migrated_middleware_and_foreign_key(patched):
    work, patch = patched["half-migrated"]
    mw = (work / "src/middleware.ts").read_text()
    assert 'createRouteMatcher(["/dashboard(.*)", "/settings(.*)", "/api/private(.*)"])' in mw
    assert (work / "src/app/dashboard/page.tsx").read_text() == (APPS / "half-migrated/src/app/dashboard/page.tsx").read_text()


def test_cli_writes_0600_and_refuses_to_overwrite(tmp_path, capsys):
    work = git_copy("pages-router", tmp_path)
    diff = tmp_path / "out.diff"
    assert main(["scan-app", str(work), "--patch", str(diff)]) == 0
    out, _ = capsys.readouterr()
    assert stat.S_IMODE(diff.stat().st_mode) == 0o600
    assert "Patch:" in out and "Left for a hand edit" in out
    first = diff.read_text()
    assert main(["scan-app", str(work), "--patch", str(diff)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--force" in err
    assert diff.read_text() == first
    diff.write_text("old")
    assert main(["scan-app", str(work), "--patch", str(diff), "--force", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert diff.read_text() == first and stat.S_IMODE(diff.stat().st_mode) == 0o600
    assert data["patch"]["file"] == str(diff)
    assert {f["path"] for f in data["patch"]["files"]} >= {"pages/_app.tsx", "middleware.js", "package.json"}
    assert all("diff" not in f for f in data["patch"]["files"])
    assert any(x["file"] == "pages/api/notes.ts" for x in data["patch"]["left"])


def test_patch_never_touches_env_values_or_left_sites(tmp_path):
    work = git_copy("app-router", tmp_path)
    patch = build_patch(scan_app(work))
    text = patch.text()
    assert "VALUE-" not in text and ".env.local" not in {f.path for f in patch.files}
    left_lines = {(x.file, x.line) for x in patch.left if x.construct in ("foreign_key", "getToken")}
    assert ("app/api/notes/route.ts", 5) in left_lines
    assert "app/api/notes/route.ts" not in {f.path for f in patch.files}
    diff = tmp_path / "p.diff"
    patch.write(diff)
    assert git(work, "apply", "--check", str(diff)).returncode == 0


def test_a_file_whose_rewrite_would_not_parse_is_left_alone(tmp_path, monkeypatch):
    work = git_copy("pages-router", tmp_path)
    from console.appscan import patch as patch_mod

    real = patch_mod.syntax.parses_cleanly
    monkeypatch.setattr(patch_mod.syntax, "parses_cleanly",
                        lambda rel, text: False if rel == "components/Header.jsx" else real(rel, text))
    patch = build_patch(scan_app(work))
    assert "components/Header.jsx" not in {f.path for f in patch.files}
    assert any(x.file == "components/Header.jsx" and "did not parse" in x.why for x in patch.left)


def test_authjs_specs():
    assert is_authjs_spec("next-auth/react") and is_authjs_spec("@auth/drizzle-adapter")
    assert not is_authjs_spec("next-auth-helpers") and not is_authjs_spec("@clerk/nextjs")
