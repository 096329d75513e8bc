"""`scan_app(path)`: walk a Next.js project and report its Auth.js touch points."""

from __future__ import annotations

import gc
import posixpath
import re
from contextlib import contextmanager
from pathlib import Path

from console.appscan import advice, jsscan, manifest, syntax, userids
from console.appscan.jsscan import FileInfo, FileResult
from console.appscan.model import (
    DONE,
    NOT_APPLICABLE,
    STEPS,
    TODO,
    AppScanReport,
    ChecklistItem,
    Finding,
    ProjectIndex,
    Skipped,
)
from console.appscan.modules import ModuleGraph, add_calls, is_authjs_spec, is_clerk_spec, summarize
from console.appscan.tsconfig import TsConfigs
from console.appscan.userids import UserIdScan
from console.appscan.versions import AppVersions
from console.appscan.walk import DEFAULT_MAX_BYTES, read_text, walk

_APP_SERVER_FILES = {"page", "layout", "template", "default", "not-found", "loading"}
_CODE_EXT = re.compile(r"\.(?:[cm]?[jt]sx?)$")
CLERK_ENV = ("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY")


class AppScanError(Exception):
    """The path cannot be scanned (missing, not a folder); one line."""


def scan_app(path: Path, *, max_file_bytes: int = DEFAULT_MAX_BYTES) -> AppScanReport:
    with _gc_paused():
        return _scan_app(path, max_file_bytes)


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while a scan builds its index. A scan allocates a few
    hundred thousand small objects (nodes, statements, findings) that all stay alive, so the
    collector's full passes find nothing and cost 0.4-0.9 s of a 3,000-file scan; reference
    counting still frees what dies. The collector is switched back on afterwards (unless the
    caller had it off); two scans in threads leave it on once both have ended."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _scan_app(path: Path, max_file_bytes: int) -> AppScanReport:
    root = Path(path)
    if not root.exists():
        raise AppScanError(f"{path}: no such directory")
    if not root.is_dir():
        raise AppScanError(f"{path}: not a directory")

    candidates, pruned, bad_dirs = walk(root)
    skipped = [Skipped(d, "unreadable folder") for d in bad_dirs]
    texts: dict[str, str] = {}
    for cand in candidates:
        text, reason = read_text(cand.path, max_file_bytes)
        if text is None:
            skipped.append(Skipped(cand.rel, reason or "unreadable"))
        else:
            texts[cand.rel] = text
    kinds = {c.rel: c.kind for c in candidates}
    project_dirs = sorted(
        {posixpath.dirname(rel) for rel, kind in kinds.items() if kind == "package"} | {""},
        key=len,
        reverse=True,
    )

    findings: list[Finding] = []
    evidence: dict[str, list[str]] = {key: [] for key, _ in STEPS}
    clerk_names: dict[str, list[str]] = {}
    routes = []
    auth_env: dict[str, None] = {}
    next_auth_version: str | None = None
    clerk_installed = False
    clerk_env: dict[str, list[str]] = {name: [] for name in CLERK_ENV}

    # package.json first: whether @clerk/nextjs is there changes the advice
    deps_by_file = {
        rel: manifest.package_dependencies(text) for rel, text in texts.items() if kinds[rel] == "package"
    }
    for rel, deps in deps_by_file.items():
        for dep in deps:
            if dep.name == manifest.CLERK_PACKAGE:
                clerk_installed = True
                evidence["install"].append(f"{rel}:{dep.line} @clerk/nextjs {dep.spec}")
    for rel, deps in deps_by_file.items():
        for dep in deps:
            if dep.name == manifest.CLERK_PACKAGE:
                continue
            if dep.name == "next-auth" and next_auth_version is None:
                next_auth_version = dep.spec
            clerk, howto = advice.dependency(dep.name, clerk_installed)
            findings.append(
                Finding(rel, dep.line, "dependency", f"{dep.name} {dep.spec} ({dep.section})", clerk, howto,
                        "install", None, "package.json")
            )
    app_versions = _versions(texts, kinds)

    for rel, text in texts.items():
        if kinds[rel] != "env":
            continue
        name = posixpath.basename(rel)
        for var, line in manifest.env_names(text):
            if var in clerk_env and not manifest.is_example_env(name):
                clerk_env[var].append(rel)
                evidence["env"].append(f"{var} named in {rel}")
            if var.startswith(("NEXTAUTH_", "AUTH_")):
                auth_env[var] = None
                clerk, howto = advice.env_name(var)
                findings.append(Finding(rel, line, "env_name", var, clerk, howto, "env", None, "env file"))

    router = _router(texts, kinds, project_dirs)
    index = _parse_project(root, texts, kinds, project_dirs)

    core3 = app_versions.core3
    mw_file = app_versions.middleware_file if app_versions.proxy_named is not None else ""
    for rel in sorted(index.files):
        fs = index.files[rel]
        info = _file_info(rel, fs.source, project_dirs, router)
        info.core3 = core3
        info.middleware_file = mw_file
        index.infos[rel] = info
        if not _worth_scanning(fs, info, index.graph):
            continue
        # the whole calls query where it already ran; else the detectors look up the names they follow
        calls = index.calls.get(rel)
        result: FileResult = jsscan.scan_file(fs, info, index.graph, calls)
        findings.extend(result.findings)
        routes.extend(result.routes)
        for name, line in result.clerk:
            clerk_names.setdefault(name, []).append(f"{rel}:{line}")
        for line in result.session_claims_user_id:
            evidence["foreign_keys"].append(f"{rel}:{line} sessionClaims.userId")

    user_ids = UserIdScan()
    for rel, text in texts.items():
        if kinds[rel] == "schema":
            (userids.scan_prisma if rel.endswith(".prisma") else userids.scan_sql)(rel, text, user_ids)
        elif kinds[rel] == "code" and "drizzle-orm" in text:
            userids.scan_drizzle(rel, text, user_ids)

    findings.sort(key=lambda f: (f.file, f.line, f.construct))
    report = AppScanReport(
        path=str(root),
        router=router,
        findings=findings,
        checklist=[],
        files_scanned=len(texts),
        files_skipped=len(skipped),
        skipped=skipped,
        dirs_pruned=pruned,
        protected_routes=routes,
        clerk_installed=clerk_installed,
        next_auth_version=next_auth_version,
        auth_env_names=sorted(auth_env),
        versions=app_versions,
        user_ids=user_ids,
        files_parsed=len(index.files),
    )
    report.checklist = _checklist(report, evidence, clerk_names, clerk_env)
    report.advice = advice.app_advice(report)
    report.project = index
    return report


# what a file that can hold a touch point must say (a word in a comment is not enough: only
# these names, or a module specifier that names an Auth.js module of the app, get a file parsed)
_BASE_RELEVANT = (
    r"next-auth|@auth/|@next-auth/|NextAuth|@clerk/|getServerSession|useSession|SessionProvider"
    r"|process\.env(?:\.|\[\s*[\"'])(?:NEXTAUTH|AUTH)_|sessionClaims|authOptions|authConfig"
)
_SIGN_PATH = re.compile(r"/(?:sign[-_]?in|signin|log[-_]?in|sign[-_]?up|signup|register)(?:/|\.|$)", re.I)


def _parse_project(root: Path, texts: dict[str, str], kinds: dict[str, str], project_dirs: list[str]) -> ProjectIndex:
    """Parse the code files that can matter, following imports until nothing new can.

    A file is parsed when it mentions auth/session/token/@clerk/ (every Auth.js import does), is
    a middleware/proxy or `[...nextauth]` file, or mentions the file name of a module that
    exports an Auth.js name (a re-export under a new name: its importers need not say "auth")."""
    code = {rel for rel, kind in kinds.items() if kind == "code" and rel in texts}
    tsconfigs = TsConfigs(root, {rel: t for rel, t in texts.items() if kinds[rel] == "tsconfig"})
    index = ProjectIndex(root=root, texts=texts, kinds=kinds, project_dirs=project_dirs)
    index.calls = _AllCalls(index.files)
    index.graph = ModuleGraph(index.files, code, tsconfigs, lambda rel: _project_dir(rel, project_dirs))
    pattern = re.compile(_BASE_RELEVANT)
    pending = sorted(
        rel for rel in code
        if pattern.search(texts[rel]) or "[...nextauth]" in rel or _is_middleware_path(rel, project_dirs)
        or _SIGN_PATH.search("/" + rel)
    )
    stems_seen: set[str] = set()
    while pending:
        for rel in pending:
            source = syntax.parse(rel, texts[rel])
            fs = summarize(source)
            index.files[rel] = fs
            if syntax.needs_all_calls(source):  # require() / import() / NS.name(): the query as it is
                add_calls(fs, index.calls[rel])
        index.graph._resolved.clear()
        stems = set()
        for rel in index.files:
            if index.graph.exported_roles(rel):
                stems.add(_module_stem(rel))
        new = sorted(stems - stems_seen - {""})
        stems_seen |= stems
        if not new:
            break
        # a module specifier ending with the stem: "./auth", "@/lib/auth", "../lib", "auth"
        more = re.compile(r"""["'`][^"'`\n]*(?<![\w$-])(?:""" + "|".join(map(re.escape, new))
                          + r""")(?:\.[cm]?[jt]sx?)?(?:/index(?:\.[cm]?[jt]sx?)?)?["'`]""")
        pending = sorted(rel for rel in code if rel not in index.files and more.search(texts[rel]))
    return index


class _AllCalls(dict):
    """rel -> the calls query's matches over the whole file, run the first time they are asked
    for (`index.calls[rel]`: the files that can hold require()/import()/NS.name()); `.get`
    answers only what already ran. The detectors and the patch look up their names instead
    (syntax.calls_named)."""

    def __init__(self, files: dict) -> None:
        super().__init__()
        self._files = files

    def __missing__(self, rel: str):
        found = self[rel] = syntax.captures(self._files[rel].source, "calls")
        return found


def _module_stem(rel: str) -> str:
    stem = _strip_ext(rel)
    return posixpath.basename(stem)


def _is_middleware_path(rel: str, project_dirs: list[str]) -> bool:
    router, parts = _router_parts(rel, _project_dir(rel, project_dirs))
    return router is None and len(parts) == 1 and _CODE_EXT.sub("", parts[0]) in ("middleware", "proxy")


def _worth_scanning(fs, info: FileInfo, graph: ModuleGraph) -> bool:
    if info.middleware or info.route or "[...nextauth]" in fs.rel or fs.nextauth_calls:
        return True
    for stmt in fs.imports:
        if is_authjs_spec(stmt.spec) or is_clerk_spec(stmt.spec):
            return True
    if fs.local_roles:
        return True
    text = fs.source.text
    if any(name in text for name in jsscan.DISTINCTIVE) or "process.env" in text or "sessionClaims" in text:
        return True
    if "pages" in text and ("signIn" in text or "newUser" in text):
        return True
    if "authOptions" in text or "authConfig" in text:
        return True
    return any(graph.binding_role(fs.rel, s.local) for stmt in fs.imports for s in stmt.specifiers
               if stmt.kind in ("import", "require") and s.imported != "*")


def _versions(texts: dict[str, str], kinds: dict[str, str]) -> AppVersions:
    """next / next-auth / @clerk/nextjs specs from the package.json that declares `next`
    (the one with next-auth first, then the shallowest)."""
    best: tuple[tuple[int, int], str, dict] | None = None
    for rel, text in texts.items():
        if kinds[rel] != "package":
            continue
        deps = manifest.all_dependencies(text)
        if "next" not in deps and "next-auth" not in deps:
            continue
        rank = (0 if "next-auth" in deps else 1, rel.count("/"))
        if best is None or rank < best[0]:
            best = (rank, rel, deps)
    if best is None:
        return AppVersions()
    _, rel, deps = best
    return AppVersions(deps.get("next"), deps.get("next-auth"), deps.get(manifest.CLERK_PACKAGE), rel)


def _strip_ext(rel: str) -> str:
    stem = _CODE_EXT.sub("", rel)
    return stem[: -len("/index")] if stem.endswith("/index") else stem


def _project_dir(rel: str, project_dirs: list[str]) -> str:
    for d in project_dirs:  # longest first
        if d == "" or rel.startswith(d + "/"):
            return d
    return ""


def _router_parts(rel: str, project_dir: str) -> tuple[str | None, list[str]]:
    rest = rel[len(project_dir) + 1 :] if project_dir else rel
    parts = rest.split("/")
    if parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in ("app", "pages"):
        return parts[0], parts[1:]
    return None, parts


def _file_info(rel: str, source, project_dirs: list[str], app_router: str) -> FileInfo:
    project_dir = _project_dir(rel, project_dirs)
    router, parts = _router_parts(rel, project_dir)
    direc = syntax.directive(source)
    stem = _CODE_EXT.sub("", parts[-1])
    route = None
    middleware = router is None and len(parts) == 1 and stem in ("middleware", "proxy")
    if router == "app":
        if direc == "client":
            kind = "client component"
        elif direc == "server":
            kind = "server actions"
        elif stem == "route":
            kind = "route handler"
        elif stem in _APP_SERVER_FILES:
            kind = "server component"
        else:
            kind = "server code"
        if stem == "page":
            segs = [p for p in parts[:-1] if not (p.startswith("(") and p.endswith(")")) and not p.startswith("@")]
            route = "/" + "/".join(segs)
        client = direc == "client"
    elif router == "pages":
        if parts[0] == "api":
            kind = "API route"
        elif stem == "_app":
            kind = "custom App"
        elif stem == "_document":
            kind = "custom Document"
        else:
            kind = "page"
            segs = parts[:-1] + ([] if stem == "index" else [stem])
            route = "/" + "/".join(segs)
        client = kind in ("page", "custom App")
    else:
        # outside app/ and pages/: a component is client code if it says so, calls hooks
        # (a `useX(` call in the syntax tree), or (Pages Router only) renders JSX
        calls_hook = syntax.calls_a_hook(source)
        client = not middleware and (
            direc == "client"
            or direc is None
            and (calls_hook or app_router == "pages" and rel.endswith((".jsx", ".tsx")))
        )
        if middleware:
            kind = "middleware"
        elif client:
            kind = "client component"
        elif direc == "server":
            kind = "server actions"
        else:
            kind = "shared module"
    return FileInfo(rel, router, kind, client, middleware, route, project_dir)


def _router(texts: dict[str, str], kinds: dict[str, str], project_dirs: list[str]) -> str:
    seen = set()
    for rel in texts:
        if kinds[rel] == "code":
            router, _ = _router_parts(rel, _project_dir(rel, project_dirs))
            if router:
                seen.add(router)
    if seen == {"app", "pages"}:
        return "both"
    return seen.pop() if seen else "unknown"


def _first(names: dict[str, list[str]], *wanted: str) -> list[str]:
    return [f"{loc} imports {name}" for name in wanted for loc in names.get(name, [])[:3]]


def _checklist(report: AppScanReport, evidence: dict[str, list[str]], clerk: dict[str, list[str]],
               clerk_env: dict[str, list[str]]) -> list[ChecklistItem]:
    grouped = report.by_step()
    items = []
    for key, title in STEPS:
        found = grouped.get(key, [])
        ev = list(evidence.get(key, []))
        left = f"{len(found)} Auth.js touch point(s) left" if found else ""
        if key == "install":
            status = DONE if report.clerk_installed else TODO
            detail = "@clerk/nextjs is in package.json" if report.clerk_installed else "npm install @clerk/nextjs"
            if found:
                detail += "; uninstall the Auth.js packages after the cut-over"
        elif key == "env":
            have = [n for n in CLERK_ENV if clerk_env[n]]
            missing = [n for n in CLERK_ENV if not clerk_env[n]]
            status = TODO if missing else DONE
            detail = ("missing: " + ", ".join(missing) + " (add to .env.local)") if missing else "both Clerk keys are named"
            if have and missing:
                detail = ", ".join(f"{n} named in {clerk_env[n][0]}" for n in have) + "; " + detail
            if found:
                detail += "; Auth.js names to remove after the cut-over: " + ", ".join(report.auth_env_names or ["(in code)"])
        elif key == "provider":
            ev += _first(clerk, "ClerkProvider")
            has = bool(clerk.get("ClerkProvider"))
            status = DONE if has and not found else TODO
            detail = "; ".join(filter(None, ["<ClerkProvider> is in place" if has else "add <ClerkProvider> at the root", left]))
        elif key == "middleware":
            ev += _first(clerk, "clerkMiddleware")
            has = bool(clerk.get("clerkMiddleware"))
            status = DONE if has and not found else TODO
            routes = [r.route for r in report.protected_routes]
            detail = "; ".join(filter(None, [
                "clerkMiddleware() is in place" if has else
                ("rewrite " + ", ".join(sorted({f.file for f in found})) + " with clerkMiddleware()") if found else
                "add middleware.ts with clerkMiddleware()",
                ("protect: " + ", ".join(routes)) if routes else "",
                left,
            ]))
        else:
            names = {
                "server": ("auth", "currentUser", "getAuth", "clerkClient"),
                "client": ("useAuth", "useUser"),
                "pages": ("SignIn", "SignUp", "SignInButton", "SignUpButton", "SignOutButton", "UserButton"),
                "signed_in": ("SignedIn", "SignedOut", "Protect"),
                "foreign_keys": (),
            }[key]
            ev += _first(clerk, *names)
            if found:
                status, detail = TODO, left
            elif ev:
                status, detail = DONE, "already uses Clerk's " + ", ".join(
                    sorted({e.rsplit(" ", 1)[-1] for e in ev})
                )
            else:
                status = NOT_APPLICABLE
                detail = {
                    "server": "no server-side session reads found",
                    "client": "no client-side session hooks found",
                    "pages": "no custom sign-in/up pages or signIn()/signOut() calls: the Account Portal covers it",
                    "signed_in": "no session-status conditionals found",
                    "foreign_keys": "no session.user.id / token.sub uses found",
                }[key]
        items.append(ChecklistItem(key, title, status, detail, len(found), ev))
    return items
