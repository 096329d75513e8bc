"""Auth.js touch points in one JavaScript/TypeScript file.

Line-based regexes over `jstext.code_view()` (comments blanked), with a little
bookkeeping: imports are parsed (also multi-line ones, `as` renames, `* as`,
`require`), and a construct is reported where its *local* name is used, so
`import { useSession as useNA } from "next-auth/react"` still finds `useNA(`,
while Clerk's own `useSession` from `@clerk/nextjs` is never flagged.

Lines: an import or export-from statement is reported at the line of its
`import`/`export` keyword (the start of a multi-line import), with the names it
brings listed in `authjs`; every call/JSX use is reported at its own line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from console.appscan import advice
from console.appscan.advice import Where
from console.appscan.jstext import LineIndex, code_view, matching_close, string_literals
from console.appscan.model import Finding, ProtectedRoute

ID = r"[A-Za-z_$][\w$]*"

# imported name -> role, for imports from next-auth modules
NEXT_AUTH_ROLES = {
    "useSession": "useSession",
    "SessionProvider": "SessionProvider",
    "getServerSession": "getServerSession",
    "unstable_getServerSession": "getServerSession",
    "getSession": "getSession",
    "getToken": "getToken",
    "signIn": "signIn",
    "signOut": "signOut",
    "withAuth": "withAuth",
    "getCsrfToken": "getCsrfToken",
    "getProviders": "getProviders",
}
# names distinctive enough to flag even when not imported straight from next-auth
# (a local wrapper or re-export), unless they come from another package
DISTINCTIVE = {
    "getServerSession": "getServerSession",
    "unstable_getServerSession": "getServerSession",
    "SessionProvider": "SessionProvider",
    "useSession": "useSession",
}
# names exported by a v5 `NextAuth(...)` destructuring -> role
CONFIG_ROLES = {"auth": "auth", "signIn": "signIn", "signOut": "signOut", "handlers": "handlers"}

ROLE_STEP = {
    "useSession": "client",
    "getSession": "client",
    "SessionProvider": "provider",
    "getServerSession": "server",
    "auth": "server",
    "getToken": "server",
    "handlers": "server",
    "NextAuth": "server",
    "signIn": "pages",
    "signOut": "pages",
    "getCsrfToken": "pages",
    "getProviders": "pages",
    "withAuth": "middleware",
}


def is_authjs_spec(spec: str) -> bool:
    return (
        spec == "next-auth"
        or spec.startswith("next-auth/")
        or spec.startswith("@auth/")
        or spec.startswith("@next-auth/")
    )


def is_package_spec(spec: str) -> bool:
    """A bare package import (not relative, not an `@/` or `~/` alias)."""
    return not spec.startswith((".", "/", "@/", "~/", "#"))


@dataclass
class ImportStmt:
    spec: str
    start: int
    end: int
    kind: str  # "import" | "export" | "require" | "dynamic"
    default: str | None = None
    namespace: str | None = None
    named: dict[str, str] = field(default_factory=dict)  # local (or exported) name -> imported name

    def names_text(self) -> str:
        parts = []
        if self.default:
            parts.append(self.default)
        if self.namespace:
            parts.append(f"* as {self.namespace}")
        if self.named:
            inner = ", ".join(imp if imp == loc else f"{imp} as {loc}" for loc, imp in self.named.items())
            parts.append("{ " + inner + " }")
        return ", ".join(parts)

    def describe(self) -> str:
        names = self.names_text()
        if self.kind == "require":
            return f'require("{self.spec}")' + (f" ({names})" if names else "")
        if self.kind == "dynamic":
            return f'import("{self.spec}")'
        word = "export" if self.kind == "export" else "import"
        return f'{word} {names} from "{self.spec}"' if names else f'{word} "{self.spec}"'


_IMPORT = re.compile(
    r"import(?<![\w$.]import)\s+(?:type\s+)?(?P<clause>[\w$\s,{}*]*?)\s*(?<![\w$])from\s*(?P<q>[\"'])(?P<spec>[^\"'\n]+)(?P=q)"
)
_EXPORT_FROM = re.compile(
    r"export(?<![\w$.]export)\s+(?:type\s+)?(?P<clause>\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?)\s*from\s*(?P<q>[\"'])(?P<spec>[^\"'\n]+)(?P=q)"
)
_REQUIRE = re.compile(
    r"(?<![\w$.])(?:const|let|var)\s+(?P<lhs>\{[^}]*\}|[\w$]+)\s*=\s*require\(\s*(?P<q>[\"'])(?P<spec>[^\"'\n]+)(?P=q)\s*\)"
)
_DYNAMIC = re.compile(r"(?<![\w$.])(?:import|require)\(\s*(?P<q>[\"'])(?P<spec>[^\"'\n]+)(?P=q)\s*\)")


def _named(inner: str, sep: str) -> dict[str, str]:
    """`a, b as c, type d` -> {a: a, c: b, d: d}; sep is "as" (imports) or ":" (destructuring)."""
    out: dict[str, str] = {}
    for part in inner.split(","):
        part = part.strip()
        if part.startswith("type "):
            part = part[5:].strip()
        if not part:
            continue
        if sep == "as":
            m = re.fullmatch(rf"({ID}|default)\s+as\s+({ID})", part)
        else:
            m = re.fullmatch(rf"({ID})\s*:\s*({ID})", part)
        if m:
            out[m.group(2)] = m.group(1)
        elif re.fullmatch(ID, part):
            out[part] = part
    return out


def parse_imports(code: str) -> list[ImportStmt]:
    found: list[ImportStmt] = []
    taken: list[tuple[int, int]] = []
    for m in _IMPORT.finditer(code):
        stmt = ImportStmt(m.group("spec"), m.start(), m.end(), "import")
        clause = m.group("clause")
        brace = re.search(r"\{([^}]*)\}", clause)
        if brace:
            stmt.named = _named(brace.group(1), "as")
            clause = clause[: brace.start()] + clause[brace.end() :]
        ns = re.search(rf"\*\s*as\s+({ID})", clause)
        if ns:
            stmt.namespace = ns.group(1)
            clause = clause[: ns.start()] + clause[ns.end() :]
        default = re.search(ID, clause)
        if default:
            stmt.default = default.group(0)
        found.append(stmt)
        taken.append((m.start(), m.end()))
    for m in _EXPORT_FROM.finditer(code):
        stmt = ImportStmt(m.group("spec"), m.start(), m.end(), "export")
        clause = m.group("clause")
        if clause.startswith("{"):
            stmt.named = _named(clause[1:-1], "as")  # exported name -> imported name
        else:
            stmt.namespace = "*"
        found.append(stmt)
        taken.append((m.start(), m.end()))
    for m in _REQUIRE.finditer(code):
        stmt = ImportStmt(m.group("spec"), m.start(), m.end(), "require")
        lhs = m.group("lhs")
        if lhs.startswith("{"):
            stmt.named = _named(lhs[1:-1], ":")
        else:
            stmt.default = lhs
        found.append(stmt)
        taken.append((m.start(), m.end()))
    for m in _DYNAMIC.finditer(code):
        if any(a <= m.start() < b for a, b in taken):
            continue
        found.append(ImportStmt(m.group("spec"), m.start(), m.end(), "dynamic"))
    found.sort(key=lambda s: s.start)
    return found


_DIRECTIVE = re.compile(r"""\A(?:\s|;|//[^\n]*|/\*.*?\*/)*(["'])use (client|server)\1""", re.S)


def directive(code: str) -> str | None:
    m = _DIRECTIVE.match(code)
    return m.group(2) if m else None


_V5_CONFIG = re.compile(r"(?<![\w$.])export\s+const\s*\{(?P<names>[^=]*?)\}\s*=\s*NextAuth\s*\(", re.S)


def v5_config_exports(code: str) -> tuple[int, dict[str, str]] | None:
    """(offset, exported name -> role) for `export const { auth, ... } = NextAuth(`."""
    m = _V5_CONFIG.search(code)
    if not m:
        return None
    roles: dict[str, str] = {}
    names = m.group("names")
    # nested `handlers: { GET, POST }`
    for nested in re.finditer(rf"({ID})\s*:\s*\{{([^}}]*)\}}", names):
        for exported in _named(nested.group(2), ":"):
            roles[exported] = CONFIG_ROLES.get(nested.group(1), nested.group(1))
    flat = re.sub(rf"{ID}\s*:\s*\{{[^}}]*\}}", "", names)
    for exported, key in _named(flat, ":").items():
        roles[exported] = CONFIG_ROLES.get(key, key)
    return m.start(), roles


_OPTIONS_DEF = re.compile(
    rf"(?<![\w$.])(?:const|let|var)\s+(?P<name>{ID})\s*(?::\s*(?P<type>NextAuthOptions|AuthOptions|NextAuthConfig)\b[^=]*)?="
)


def options_defs(code: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    if not re.search(r"authOptions|authConfig|AuthOptions|NextAuthConfig", code):
        return out
    for m in _OPTIONS_DEF.finditer(code):
        if m.group("type") or m.group("name") in ("authOptions", "authConfig", "nextAuthOptions"):
            out.append((m.start(), m.group("name")))
    return out


@dataclass
class FileInfo:
    """What the scanner knows about a file before its detectors run."""

    rel: str
    router: str | None  # "app" | "pages" | None
    kind: str  # "client component", "server component", "route handler", "API route", "page", ...
    client: bool
    middleware: bool
    route: str | None = None  # URL route of a page file ("/login"), else None
    project_dir: str = ""  # the package.json folder this file belongs to ("" = scanned root)

    @property
    def where(self) -> Where:
        return Where(self.router, self.client, self.kind)


@dataclass
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    routes: list[ProtectedRoute] = field(default_factory=list)
    clerk: list[tuple[str, int]] = field(default_factory=list)  # (name imported from @clerk/*, line)
    session_claims_user_id: list[int] = field(default_factory=list)  # lines reading sessionClaims.userId


# (spec) -> exported name -> role for the file's v5 Auth.js config, or None
ConfigResolver = Callable[[str], "dict[str, str] | None"]

_SIGN_PAGE = re.compile(r"^(sign[-_]?in|sign[-_]?up|log[-_]?in|register)$", re.I)


class _Collector:
    def __init__(self, info: FileInfo, code: str, index: LineIndex) -> None:
        self.info = info
        self.code = code
        self.index = index
        self.result = FileResult()
        self._seen: set[tuple[int, str]] = set()

    def add(self, offset_or_line: int, construct: str, authjs: str, clerk: str, howto: str, step: str,
            *, line: int | None = None, routes: tuple[str, ...] = (), context: str | None = None) -> None:
        ln = line if line is not None else self.index.line(offset_or_line)
        if (ln, construct) in self._seen:
            return
        self._seen.add((ln, construct))
        self.result.findings.append(
            Finding(
                file=self.info.rel,
                line=ln,
                construct=construct,
                authjs=authjs,
                clerk=clerk,
                howto=howto,
                step=step,
                router=self.info.router,
                context=context or self.info.kind,
                routes=routes,
            )
        )


def scan_file(text: str, info: FileInfo, resolve_config: ConfigResolver) -> FileResult:
    code = code_view(text)
    index = LineIndex(code)
    out = _Collector(info, code, index)
    imports = parse_imports(code)
    spans = [(s.start, s.end) for s in imports]

    def in_import(offset: int) -> bool:
        return any(a <= offset < b for a, b in spans)

    locals_: dict[str, tuple[str, str]] = {}  # local name -> (role, source spec)
    namespaces: dict[str, str] = {}  # namespace local -> spec
    foreign: set[str] = set()  # names imported from some other package

    for stmt in imports:
        if stmt.spec.startswith("@clerk/"):
            ln = index.line(stmt.start)
            for loc, imp in stmt.named.items():
                out.result.clerk.append((imp, ln))
            if stmt.default:
                out.result.clerk.append((stmt.default, ln))
        if is_authjs_spec(stmt.spec):
            _import_finding(out, stmt, info)
            if stmt.kind == "export":
                continue
            for loc, imp in stmt.named.items():
                role = NEXT_AUTH_ROLES.get(imp)
                if role:
                    locals_[loc] = (role, stmt.spec)
            if stmt.default:
                if stmt.spec == "next-auth":
                    locals_[stmt.default] = ("NextAuth", stmt.spec)
                elif stmt.spec == "next-auth/middleware":
                    locals_[stmt.default] = ("withAuth", stmt.spec)
            if stmt.namespace:
                namespaces[stmt.namespace] = stmt.spec
            continue
        config = resolve_config(stmt.spec)
        if config is not None:
            if stmt.kind == "export":
                _config_reexport(out, stmt, config, info)
                continue
            for loc, imp in stmt.named.items():
                role = config.get(imp)
                if role:
                    locals_[loc] = (role, stmt.spec)
            continue
        if is_package_spec(stmt.spec):
            foreign.update(stmt.named)
            if stmt.default:
                foreign.add(stmt.default)

    for name, role in DISTINCTIVE.items():
        if name not in locals_ and name not in foreign:
            locals_[name] = (role, "")

    _uses(out, code, locals_, namespaces, in_import, info)
    _definitions(out, code, info)
    if info.middleware:
        _middleware_exports(out, code, locals_, info)
    _nextauth_route(out, code, info)
    _sign_in_options(out, code)
    _foreign_keys(out, code, locals_)
    _conditional_ui(out, code, locals_)
    _env_refs(out, code)
    _sign_in_page(out, code, info)
    for m in re.finditer(r"sessionClaims\s*\??\.\s*userId\b", code):
        out.result.session_claims_user_id.append(index.line(m.start()))
    if info.middleware and out.result.findings:
        _matcher(out, code, info)
    out.result.findings.sort(key=lambda f: (f.line, f.construct))
    return out.result


def _import_finding(out: _Collector, stmt: ImportStmt, info: FileInfo) -> None:
    if stmt.kind == "export" and stmt.spec == "next-auth/middleware":
        clerk, howto = advice.middleware([])
        out.add(stmt.start, "middleware", stmt.describe(), clerk, howto, "middleware")
        return
    clerk, howto, step = advice.import_module(stmt.spec)
    roles = {NEXT_AUTH_ROLES.get(imp) for imp in stmt.named.values()} - {None}
    if stmt.spec in ("next-auth/react", "next-auth/client") and roles:
        if roles == {"SessionProvider"}:
            step = "provider"
        elif roles <= {"signIn", "signOut", "getCsrfToken", "getProviders"}:
            step = "pages"
    out.add(stmt.start, "import", stmt.describe(), clerk, howto, step)


def _config_reexport(out: _Collector, stmt: ImportStmt, config: dict[str, str], info: FileInfo) -> None:
    """`export { auth as middleware } from "@/auth"` and friends."""
    for exported, imported in stmt.named.items():
        role = config.get(imported)
        if role == "auth" and (info.middleware or exported in ("middleware", "proxy")):
            clerk, howto = advice.middleware([])
            out.add(stmt.start, "middleware", stmt.describe(), clerk, howto, "middleware")
        elif role == "handlers" or imported in ("GET", "POST"):
            clerk, howto = advice.nextauth_route()
            out.add(stmt.start, "nextauth_route", stmt.describe(), clerk, howto, "server")


def _call_args(code: str, open_paren: int) -> str:
    end = matching_close(code, open_paren)
    return code[open_paren : min(end, open_paren + 300)]


_CALL_OPEN = re.compile(r"\s*\(")
_HAS_REQ = re.compile(r"\b(req|request)\b|\.req\b")


def _uses(out, code, locals_, namespaces, in_import, info: FileInfo) -> None:
    where = info.where
    for local, (role, spec) in locals_.items():
        if local not in code:
            continue
        esc = re.escape(local)
        source = f" ({spec})" if spec else ""
        for m in re.finditer(rf"{esc}(?![\w$])", code):  # literal first: fast
            at = m.start()
            prev = code[at - 1] if at else ""
            if prev.isalnum() or prev in "_$." or in_import(at):
                continue
            if prev == "<":
                if role != "SessionProvider" or m.end() >= len(code) or code[m.end()] not in " \t\r\n>/":
                    continue
                _role_finding(out, at - 1, role, f"<{local}>{source}", where, has_req=False)
                continue
            call = _CALL_OPEN.match(code, m.end())
            if not call or _is_definition(code, at, call.end() - 1):
                continue
            args = _call_args(code, call.end() - 1)
            _role_finding(out, at, role, f"{local}(){source}", where, has_req=bool(_HAS_REQ.search(args)))
        if role in ("signIn", "signOut"):
            for m in re.finditer(rf"\{{\s*{esc}\s*\}}", code):
                if in_import(m.start()):
                    continue
                _role_finding(out, m.start(), role, f"{local}{source}", where, has_req=False)
    for ns, spec in namespaces.items():
        for m in re.finditer(rf"(?<![\w$.]){re.escape(ns)}\s*\.\s*({ID})\s*\(", code):
            role = NEXT_AUTH_ROLES.get(m.group(1))
            if role:
                args = _call_args(code, m.end() - 1)
                _role_finding(out, m.start(), role, f"{ns}.{m.group(1)}() ({spec})", where, bool(_HAS_REQ.search(args)))


def _is_definition(code: str, start: int, open_paren: int) -> bool:
    """`function getServerSession(`, or a method `signIn({ user }) {` in a callbacks object."""
    if re.search(r"\bfunction\s*\*?\s*$", code[max(0, start - 30) : start]):
        return True
    close = matching_close(code, open_paren)
    return bool(re.match(r"\s*(?::[^;{}=()]*)?\{", code[close : close + 80]))


def _role_finding(out: _Collector, offset: int, role: str, text: str, where: Where, has_req: bool) -> None:
    info = out.info
    step = ROLE_STEP.get(role, "server")
    context = None
    if info.router == "pages" and info.kind == "page" and role in ("getServerSession", "getSession", "getToken", "auth"):
        if "getServerSideProps" in out.code[:offset]:
            context = "getServerSideProps"
    if role in ("withAuth",) or (role == "auth" and info.middleware):
        clerk, howto = advice.middleware([])
        out.add(offset, "middleware", text, clerk, howto, "middleware")
    elif role == "SessionProvider":
        out.add(offset, "SessionProvider", text, *advice.session_provider(where), step)
    elif role == "getServerSession":
        out.add(offset, "getServerSession", text, *advice.server_session(role, where, has_req), step, context=context)
    elif role == "auth":
        out.add(offset, "auth", text, *advice.server_session("auth", where, has_req), step, context=context)
    elif role == "getSession":
        if has_req or (not where.client and where.router in ("app", "pages")):
            out.add(offset, "getSession", text, *advice.server_session(role, where, has_req), "server", context=context)
        else:
            out.add(offset, "getSession", text, *advice.client_get_session(), step)
    elif role == "getToken":
        out.add(offset, "getToken", text, *advice.get_token(where, has_req), step, context=context)
    elif role == "useSession":
        out.add(offset, "useSession", text, *advice.use_session(), step)
    elif role == "signIn":
        out.add(offset, "signIn", text, *advice.sign_in(where), step)
    elif role == "signOut":
        out.add(offset, "signOut", text, *advice.sign_out(where), step)
    elif role in ("getCsrfToken", "getProviders"):
        out.add(offset, role, text, *advice.csrf_or_providers(role), step)
    elif role in ("NextAuth", "handlers"):
        if "[...nextauth]" in info.rel:
            return  # the route handler finding covers it
        if role == "NextAuth":
            return  # a v5 config is reported by _definitions; a v4 handler by its route
        out.add(offset, "nextauth_route", text, *advice.nextauth_route(), "server")


def _definitions(out: _Collector, code: str, info: FileInfo) -> None:
    v5 = v5_config_exports(code)
    if v5:
        offset, roles = v5
        names = ", ".join(sorted(roles))
        out.add(offset, "auth_config", f"export const {{ {names} }} = NextAuth(...) (Auth.js v5 config)",
                *advice.auth_config("Auth.js config"), "server", context="auth config")
    for offset, name in options_defs(code):
        out.add(offset, "auth_config", f"{name} (NextAuth options)", *advice.auth_config(f"{name} object"),
                "server", context="auth config")


def _middleware_exports(out: _Collector, code: str, locals_: dict, info: FileInfo) -> None:
    for local, (role, spec) in locals_.items():
        if role not in ("auth", "withAuth"):
            continue
        esc = re.escape(local)
        pattern = rf"(?<![\w$.])export\s+default\s+{esc}\b(?!\s*\()|(?<![\w$.])export\s*\{{\s*{esc}(?:\s+as\s+(?:middleware|default|proxy))?\s*\}}"
        for m in re.finditer(pattern, code):
            clerk, howto = advice.middleware([])
            out.add(m.start(), "middleware", re.sub(r"\s+", " ", m.group(0)) + (f" ({spec})" if spec else ""),
                    clerk, howto, "middleware")


def _nextauth_route(out: _Collector, code: str, info: FileInfo) -> None:
    if "[...nextauth]" not in info.rel:
        return
    # the handler itself: `export default NextAuth(...)`, `export const { GET, POST } = handlers`,
    # `export { handler as GET, ... }`; else `NextAuth(`; else the first export; else line 1
    m = None
    for pattern in (
        r"(?<![\w$.])export\s+default\b",
        r"(?<![\w$.])export\b[^;]*?\bGET\b",
        r"(?<![\w$.])NextAuth\s*\(",
        r"(?<![\w$.])export\b",
    ):
        m = re.search(pattern, code)
        if m:
            break
    line = out.index.line(m.start()) if m else 1
    clerk, howto = advice.nextauth_route()
    kind = "App Router route handler" if info.router == "app" else "Pages Router API route"
    out.add(0, "nextauth_route", f"[...nextauth] {kind}", clerk, howto, "server", line=line)


def _sign_in_options(out: _Collector, code: str) -> None:
    """`pages: { signIn: "/login", newUser: ... }` in NextAuth options or withAuth."""
    if "pages" not in code:
        return
    for m in re.finditer(r"(?<![\w$.])pages\s*:\s*\{", code):
        end = matching_close(code, m.end() - 1)
        body = code[m.end() : end]
        for key in re.finditer(r"(?<![\w$.])(signIn|newUser)\s*:\s*([\"'`])([^\"'`\n]+)\2", body):
            route = key.group(3)
            offset = m.end() + key.start()
            clerk, howto = advice.sign_in_page(route, sign_up=key.group(1) == "newUser")
            out.add(offset, "sign_in_page", f"pages.{key.group(1)}: \"{route}\" (custom Auth.js page)",
                    clerk, howto, "pages", routes=(route,))


def _foreign_keys(out: _Collector, code: str, locals_: dict) -> None:
    if not re.search(r"\.\s*(?:user|sub)\b", code):
        return
    session_names = {"session"}
    token_names = {"token"}
    by_role: dict[str, list[str]] = {}
    for local, (role, _spec) in locals_.items():
        by_role.setdefault(role, []).append(local)
    getters = [re.escape(n) for r in ("getServerSession", "auth", "getSession") for n in by_role.get(r, [])]
    if getters:
        alt = "|".join(getters)
        for m in re.finditer(rf"(?:const|let|var)\s+({ID})\s*=\s*(?:await\s+)?(?:{alt})\s*\(", code):
            session_names.add(m.group(1))
    hooks = [re.escape(n) for n in by_role.get("useSession", [])]
    if hooks:
        for m in re.finditer(rf"(?:const|let|var)\s*\{{([^}}]*)\}}\s*=\s*(?:{'|'.join(hooks)})\s*\(", code):
            inner = m.group(1)
            renamed = re.search(rf"\bdata\s*:\s*({ID})", inner)
            if renamed:
                session_names.add(renamed.group(1))
            elif re.search(r"\bdata\b", inner):
                session_names.add("data")
    tokens = [re.escape(n) for n in by_role.get("getToken", [])]
    if tokens:
        for m in re.finditer(rf"(?:const|let|var)\s+({ID})\s*=\s*(?:await\s+)?(?:{'|'.join(tokens)})\s*\(", code):
            token_names.add(m.group(1))
    s_alt = "|".join(re.escape(n) for n in sorted(session_names))
    t_alt = "|".join(re.escape(n) for n in sorted(token_names))
    pattern = rf"(?<![\w$.])(?:(?:{s_alt})\s*\??\.\s*user\s*\??\.\s*id|(?:{t_alt})\s*\??\.\s*sub)\b(?!\s*[\w$])"
    for m in re.finditer(pattern, code):
        expr = re.sub(r"\s+", "", m.group(0))
        out.add(m.start(), "foreign_key", expr, *advice.foreign_key(expr), "foreign_keys")


def _conditional_ui(out: _Collector, code: str, locals_: dict) -> None:
    if "status" not in code or not any(role == "useSession" for role, _ in locals_.values()):
        return
    pattern = r"""(?<![\w$.])status\s*[!=]==?\s*(["'])(authenticated|unauthenticated|loading)\1|(["'])(authenticated|unauthenticated)\3\s*[!=]==?\s*status\b"""
    for m in re.finditer(pattern, code):
        out.add(m.start(), "conditional_ui", re.sub(r"\s+", " ", m.group(0)), *advice.conditional_ui(), "signed_in")


def _env_refs(out: _Collector, code: str) -> None:
    if "process" not in code:
        return
    for m in re.finditer(r"process\.env(?:\.|\[\s*[\"'])((?:NEXTAUTH|AUTH)_[A-Z0-9_]+)", code):
        name = m.group(1)
        out.add(m.start(), "env_name", f"process.env.{name}", *advice.env_name(name), "env", context="code")


def _sign_in_page(out: _Collector, code: str, info: FileInfo) -> None:
    if not info.route:
        return
    segments = [s for s in info.route.strip("/").split("/") if s]
    words = [re.sub(r"^\[+\.*|\]+$", "", s) for s in segments]
    hit = next((w for w in words if _SIGN_PAGE.match(w)), None)
    if not hit:
        return
    sign_up = bool(re.match(r"sign[-_]?up|register", hit, re.I))
    clerk_names = {name for name, _ in out.result.clerk}
    if clerk_names & {"SignIn", "SignUp"}:
        return  # already Clerk's component: counted as done by the checklist
    m = re.search(r"(?<![\w$.])export\s+default\b", code)
    line = out.index.line(m.start()) if m else 1
    clerk, howto = advice.sign_in_page(info.route, sign_up)
    label = "sign-up" if sign_up else "sign-in"
    out.add(0, "sign_in_page", f"custom {label} page {info.route}", clerk, howto, "pages", line=line,
            routes=(info.route,))


def _matcher(out: _Collector, code: str, info: FileInfo) -> None:
    m = re.search(r"(?<![\w$.])matcher\s*:\s*", code)
    if not m:
        return
    start = m.end()
    if start < len(code) and code[start] in "[{":
        end = matching_close(code, start)
    else:
        nl = code.find("\n", start)
        end = len(code) if nl < 0 else nl
    literals = string_literals(code, start, end)
    routes = tuple(lit.value for lit in literals if lit.value.startswith("/"))
    if not routes:
        return
    negative = any("(?!" in r for r in routes)
    clerk, howto = advice.matcher(list(routes), negative)
    out.add(m.start(), "middleware_matcher", "config.matcher: " + ", ".join(routes), clerk, howto, "middleware",
            routes=routes)
    for lit in literals:
        if lit.value.startswith("/"):
            out.result.routes.append(ProtectedRoute(lit.value, info.rel, out.index.line(lit.offset)))
    # the middleware finding(s) carry the routes too, so each says what to recreate
    clerk_mw, howto_mw = advice.middleware([r for r in routes if "(?!" not in r])
    out.result.findings = [
        Finding(f.file, f.line, f.construct, f.authjs, clerk_mw, howto_mw, f.step, f.router, f.context, routes)
        if f.construct == "middleware" else f
        for f in out.result.findings
    ]
