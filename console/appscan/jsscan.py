"""Auth.js touch points in one JavaScript/TypeScript file, read from its syntax tree.

A construct is reported where its *local* name is used: `import { useSession as useNA } from
"next-auth/react"` finds `useNA()`, `import * as NA` finds `NA.useSession()`, a name imported
from a file of the app is followed to what that file exports (re-exports under new names and
`export *` included, see modules.py), and Clerk's own `useSession` from `@clerk/nextjs` is never
flagged. Calls, JSX elements, member expressions and comparisons come from tree-sitter queries
(syntax.py), so a name in a comment or a string is never a use and a definition is never a call.

Lines: an import or export-from statement is reported at the line of its `import`/`export`
keyword (the start of a multi-line import), with the names it brings listed in `authjs`; every
call/JSX use is reported at its own line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from console.appscan import advice, syntax
from console.appscan.advice import Where
from console.appscan.model import Finding, ProtectedRoute
from console.appscan.modules import (
    NEXT_AUTH_ROLES,
    FileSyntax,
    ImportStmt,
    ModuleGraph,
    is_authjs_spec,
    is_clerk_spec,
    is_package_spec,
)
from console.appscan.syntax import Source, line, string_value

# names distinctive enough to flag even when not imported straight from next-auth
# (a local wrapper or re-export), unless they come from another package
DISTINCTIVE = {
    "getServerSession": "getServerSession",
    "unstable_getServerSession": "getServerSession",
    "SessionProvider": "SessionProvider",
    "useSession": "useSession",
}
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
OPTIONS_TYPES = ("NextAuthOptions", "AuthOptions", "NextAuthConfig")
OPTIONS_NAMES = ("authOptions", "authConfig", "nextAuthOptions")
SESSION_GETTERS = ("getServerSession", "auth", "getSession")
_HAS_REQ = re.compile(r"\b(req|request)\b|\.req\b")
_SIGN_PAGE = re.compile(r"^(sign[-_]?in|signin|log[-_]?in|sign[-_]?up|signup|register)$", re.I)


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
    core3: bool = True  # @clerk/nextjs Core 3 (<Show>) for this app, else Core 2 (<SignedIn>)
    middleware_file: str = ""  # "proxy.ts" / "middleware.ts" / "" (unknown Next.js version)

    @property
    def where(self) -> Where:
        return Where(self.router, self.client, self.kind)


@dataclass
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    routes: list[ProtectedRoute] = field(default_factory=list)
    clerk: list[tuple[str, int]] = field(default_factory=list)  # (name imported from @clerk/*, line)
    session_claims_user_id: list[int] = field(default_factory=list)  # lines reading sessionClaims.userId


@dataclass
class Bindings:
    """The Auth.js names of one file: local name -> (role, module it came from)."""

    locals: dict[str, tuple[str, str]] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # `* as NA` -> spec
    foreign: set[str] = field(default_factory=set)  # names from other packages


def bindings(fs: FileSyntax, graph: ModuleGraph) -> Bindings:
    out = Bindings()
    for stmt in fs.imports:
        if stmt.kind not in ("import", "require"):
            continue
        for spec in stmt.specifiers:
            if spec.imported == "*":
                if is_authjs_spec(stmt.spec):
                    out.namespaces[spec.local] = stmt.spec
                continue
            hit = graph.binding_role(fs.rel, spec.local)
            if hit:
                out.locals[spec.local] = (hit[0], hit[1])
            elif is_package_spec(stmt.spec) and not is_authjs_spec(stmt.spec):
                out.foreign.add(spec.local)
    for local, role in fs.local_roles.items():
        out.locals.setdefault(local, (role, ""))
    for local in fs.aliases:
        hit = graph.binding_role(fs.rel, local)
        if hit:
            out.locals.setdefault(local, hit)
    for name, role in DISTINCTIVE.items():
        if name not in out.locals and name not in out.foreign:
            out.locals[name] = (role, "")
    return out


class _Collector:
    def __init__(self, source: Source, info: FileInfo) -> None:
        self.source = source
        self.info = info
        self.result = FileResult()

    def add(self, node_or_line, construct: str, authjs: str, clerk: str, howto: str, step: str,
            *, context: str | None = None, routes: tuple[str, ...] = ()) -> None:
        at = node_or_line if isinstance(node_or_line, int) else line(node_or_line)
        self.result.findings.append(
            Finding(self.info.rel, at, construct, authjs, clerk, howto, step, self.info.router,
                    context or self.info.kind, routes)
        )


def scan_file(fs: FileSyntax, info: FileInfo, graph: ModuleGraph,
              calls: list[tuple[int, dict[str, list[Node]]]] | None = None) -> FileResult:
    """`calls`: the calls query's matches when they were run; None looks up only the calls
    of the file's Auth.js names (the only ones the detectors below read), in the same order."""
    source = fs.source
    out = _Collector(source, info)
    binds = bindings(fs, graph)
    if calls is None:
        calls = syntax.calls_named(source, binds.locals)

    for stmt in fs.imports:
        if is_clerk_spec(stmt.spec):
            for spec in stmt.specifiers:
                out.result.clerk.append((spec.imported if spec.imported not in ("default", "*") else spec.local,
                                         stmt.line))
        elif is_authjs_spec(stmt.spec):
            _import_finding(out, stmt)
        elif stmt.kind == "export":
            _config_reexport(out, stmt, graph)

    text = source.text
    live = {role for name, (role, _) in binds.locals.items() if name in text}
    _uses(out, binds, calls)
    if live & {"SessionProvider", "signIn", "signOut"}:
        _jsx(out, binds)
    _definitions(out, fs)
    if info.middleware:
        _middleware_exports(out, fs, graph)
    _nextauth_route(out, fs)
    # the member/pair query only where something it finds can be: a session/token read, env
    # names, sessionClaims, `pages:` options, a middleware's matcher, a useSession status
    wanted = (live & {"getServerSession", "auth", "getSession", "getToken", "useSession"}
              or "process.env" in text or "sessionClaims" in text or "pages" in text or info.middleware
              or ".user" in text or ".sub" in text)
    members = syntax.captures(source, "members") if wanted else []
    _pairs(out, members, info)
    _foreign_keys(out, binds, calls, members)
    _conditional_ui(out, binds, members)
    _env_refs(out, members)
    _sign_in_page(out, fs)
    if info.middleware and out.result.findings:
        _matcher(out, members)
    out.result.findings.sort(key=lambda f: (f.line, f.construct))
    return out.result


def _import_finding(out: _Collector, stmt: ImportStmt) -> None:
    if stmt.kind == "export" and stmt.spec == "next-auth/middleware":
        clerk, howto = advice.middleware([], out.info.middleware_file)
        out.add(stmt.line, "middleware", stmt.describe(), clerk, howto, "middleware")
        return
    clerk, howto, step = advice.import_module(stmt.spec)
    roles = {NEXT_AUTH_ROLES.get(s.imported) for s in stmt.specifiers} - {None}
    if stmt.spec in ("next-auth/react", "next-auth/client") and roles:
        if roles == {"SessionProvider"}:
            step = "provider"
        elif roles <= {"signIn", "signOut", "getCsrfToken", "getProviders"}:
            step = "pages"
    out.add(stmt.line, "import", stmt.describe(), clerk, howto, step)


def _config_reexport(out: _Collector, stmt: ImportStmt, graph: ModuleGraph) -> None:
    """`export { auth as middleware } from "@/auth"` and friends."""
    target = graph.resolve(stmt.spec, out.info.rel)
    if target is None:
        return
    for spec in stmt.specifiers:
        hit = graph.export_role(target, spec.imported)
        role = hit[0] if hit else None
        if role == "auth" and (out.info.middleware or spec.local in ("middleware", "proxy")):
            clerk, howto = advice.middleware([], out.info.middleware_file)
            out.add(stmt.line, "middleware", stmt.describe(), clerk, howto, "middleware")
        elif role == "handlers" or (role and spec.imported in ("GET", "POST")):
            clerk, howto = advice.nextauth_route()
            out.add(stmt.line, "nextauth_route", stmt.describe(), clerk, howto, "server")
        elif role and not out.info.middleware:
            # a re-export of an Auth.js name (possibly renamed): its users are found through it
            clerk, howto, step = advice.import_module("next-auth/react" if role in ROLE_STEP else "next-auth")
            out.add(stmt.line, "import", stmt.describe() + f" (re-exports Auth.js {role})", clerk, howto,
                    ROLE_STEP.get(role, step))


def _has_req(source: Source, call: Node) -> bool:
    args = call.child_by_field_name("arguments")
    return bool(args is not None and _HAS_REQ.search(source.text_of(args)[:300]))


def _uses(out: _Collector, binds: Bindings, calls) -> None:
    source = out.source
    where = out.info.where
    for _, caps in calls:
        if "callee" in caps:
            name = source.text_of(caps["callee"][0])
            hit = binds.locals.get(name)
            if not hit:
                continue
            role, spec = hit
            call = caps["call"][0]
            suffix = f" ({spec})" if spec else ""
            _role_finding(out, call, role, f"{name}(){suffix}", where, _has_req(source, call))
        elif "mcall" in caps:
            ns = source.text_of(caps["obj"][0])
            spec = binds.namespaces.get(ns)
            if spec is None:
                continue
            prop = source.text_of(caps["prop"][0])
            role = NEXT_AUTH_ROLES.get(prop)
            if role:
                call = caps["mcall"][0]
                _role_finding(out, call, role, f"{ns}.{prop}() ({spec})", where, _has_req(source, call))


def _jsx(out: _Collector, binds: Bindings) -> None:
    source = out.source
    for _, caps in syntax.captures(source, "jsx"):
        if "jsxname" in caps:
            name = source.text_of(caps["jsxname"][0])
            hit = binds.locals.get(name)
            if hit and hit[0] == "SessionProvider":
                suffix = f" ({hit[1]})" if hit[1] else ""
                _role_finding(out, caps["jsxopen"][0], "SessionProvider", f"<{name}>{suffix}", out.info.where, False)
        elif "jsxref" in caps:
            node = caps["jsxref"][0]
            name = source.text_of(node)
            hit = binds.locals.get(name)
            if hit and hit[0] in ("signIn", "signOut"):
                suffix = f" ({hit[1]})" if hit[1] else ""
                _role_finding(out, node.parent or node, hit[0], f"{name}{suffix}", out.info.where, False)


def _role_finding(out: _Collector, node: Node, role: str, text: str, where: Where, has_req: bool) -> None:
    info = out.info
    step = ROLE_STEP.get(role, "server")
    context = None
    if info.router == "pages" and info.kind == "page" and role in ("getServerSession", "getSession", "getToken", "auth"):
        if b"getServerSideProps" in out.source.data[: node.start_byte]:
            context = "getServerSideProps"
    if role == "withAuth" or (role == "auth" and info.middleware):
        clerk, howto = advice.middleware([], out.info.middleware_file)
        out.add(node, "middleware", text, clerk, howto, "middleware")
    elif role == "SessionProvider":
        out.add(node, "SessionProvider", text, *advice.session_provider(where), step)
    elif role == "getServerSession":
        out.add(node, "getServerSession", text, *advice.server_session(role, where, has_req), step, context=context)
    elif role == "auth":
        out.add(node, "auth", text, *advice.server_session("auth", where, has_req), step, context=context)
    elif role == "getSession":
        if has_req or (not where.client and where.router in ("app", "pages")):
            out.add(node, "getSession", text, *advice.server_session(role, where, has_req), "server", context=context)
        else:
            out.add(node, "getSession", text, *advice.client_get_session(), step)
    elif role == "getToken":
        out.add(node, "getToken", text, *advice.get_token(where, has_req), step, context=context)
    elif role == "useSession":
        out.add(node, "useSession", text, *advice.use_session(), step)
    elif role == "signIn":
        out.add(node, "signIn", text, *advice.sign_in(where), step)
    elif role == "signOut":
        out.add(node, "signOut", text, *advice.sign_out(where), step)
    elif role in ("getCsrfToken", "getProviders"):
        out.add(node, role, text, *advice.csrf_or_providers(role), step)
    # NextAuth(...) and handlers: the config (auth_config) and the route (nextauth_route) cover them


def options_declarations(fs: FileSyntax) -> list[tuple[Node, str]]:
    """Top-level `const authOptions: NextAuthOptions = {...}` (also `satisfies NextAuthConfig`,
    and the usual names) -> (declarator, name)."""
    source = fs.source
    found = []
    for child in source.root.named_children:
        decl = child
        if child.type == "export_statement":
            decl = child.child_by_field_name("declaration")
        if decl is None or decl.type not in ("lexical_declaration", "variable_declaration"):
            continue
        for declarator in decl.named_children:
            if declarator.type != "variable_declarator":
                continue
            name = declarator.child_by_field_name("name")
            if name is None or name.type != "identifier":
                continue
            typ = declarator.child_by_field_name("type")
            value = declarator.child_by_field_name("value")
            type_text = source.text_of(typ)
            satisfies = value is not None and value.type == "satisfies_expression" and any(
                t in source.text_of(value.named_children[-1]) for t in OPTIONS_TYPES)
            named = source.text_of(name) in OPTIONS_NAMES and value is not None and value.type in (
                "object", "satisfies_expression", "as_expression")
            if any(re.search(rf"\b{t}\b", type_text) for t in OPTIONS_TYPES) or satisfies or named:
                found.append((declarator, source.text_of(name)))
    return found


def _definitions(out: _Collector, fs: FileSyntax) -> None:
    for call in fs.nextauth_calls:
        if call.v5:
            names = ", ".join(sorted(call.roles))
            out.add(call.line, "auth_config", f"export const {{ {names} }} = NextAuth(...) (Auth.js v5 config)",
                    *advice.auth_config("Auth.js config"), "server", context="auth config")
    for declarator, name in options_declarations(fs):
        out.add(declarator, "auth_config", f"{name} (NextAuth options)", *advice.auth_config(f"{name} object"),
                "server", context="auth config")


def _middleware_exports(out: _Collector, fs: FileSyntax, graph: ModuleGraph) -> None:
    """`export default withAuth`, `export { auth as middleware }`, `export const middleware = auth`."""
    for exported, ref in fs.exports.items():
        if ref.kind != "local" or exported not in ("default", "middleware", "proxy"):
            continue
        hit = graph.binding_role(fs.rel, ref.name)
        if hit and hit[0] in ("auth", "withAuth") and ref.node is not None:
            text = re.sub(r"\s+", " ", out.source.text_of(ref.node)).rstrip(";")
            clerk, howto = advice.middleware([], out.info.middleware_file)
            out.add(ref.node, "middleware", text + (f" ({hit[1]})" if hit[1] else ""), clerk, howto, "middleware")


def _nextauth_route(out: _Collector, fs: FileSyntax) -> None:
    if "[...nextauth]" not in out.info.rel:
        return
    # the handler itself: `export default NextAuth(...)`, `export const { GET, POST } = handlers`,
    # `export { handler as GET, ... }`; else `NextAuth(`; else the first export; else line 1
    source = fs.source
    exports = [c for c in source.root.named_children if c.type == "export_statement"]
    node = next((c for c in exports if any(k.type == "default" for k in c.children)), None)
    if node is None:
        node = next((c for c in exports if re.search(r"\bGET\b", source.text_of(c))), None)
    at = line(node) if node is not None else None
    if at is None and fs.nextauth_calls:
        at = fs.nextauth_calls[0].line
    if at is None:
        at = line(exports[0]) if exports else 1
    clerk, howto = advice.nextauth_route()
    kind = "App Router route handler" if out.info.router == "app" else "Pages Router API route"
    out.add(at, "nextauth_route", f"[...nextauth] {kind}", clerk, howto, "server")


def _pairs(out: _Collector, members, info: FileInfo) -> None:
    """`pages: { signIn: "/login", newUser: ... }` in NextAuth options or withAuth."""
    source = out.source
    for _, caps in members:
        if "pkey" not in caps or source.text_of(caps["pkey"][0]) != "pages":
            continue
        value = caps["pvalue"][0]
        if value.type != "object":
            continue
        for pair in value.named_children:
            if pair.type != "pair":
                continue
            key = source.text_of(pair.child_by_field_name("key"))
            route = string_value(source, pair.child_by_field_name("value"))
            if key in ("signIn", "newUser") and route:
                clerk, howto = advice.sign_in_page(route, sign_up=key == "newUser")
                out.add(pair, "sign_in_page", f'pages.{key}: "{route}" (custom Auth.js page)', clerk, howto,
                        "pages", routes=(route,))


def bound_name(call: Node) -> Node | None:
    """The variable a call's result is bound to: `const x = [await] f()` -> the `x` node
    (an identifier or an object pattern)."""
    node = call
    if node.parent is not None and node.parent.type == "await_expression":
        node = node.parent
    parent = node.parent
    if parent is not None and parent.type == "variable_declarator" and parent.child_by_field_name("value") == node:
        return parent.child_by_field_name("name")
    return None


def _foreign_keys(out: _Collector, binds: Bindings, calls, members) -> None:
    source = out.source
    session_names = {"session"}
    token_names = {"token"}
    for _, caps in calls:
        if "callee" not in caps:
            continue
        hit = binds.locals.get(source.text_of(caps["callee"][0]))
        if not hit:
            continue
        name = bound_name(caps["call"][0])
        if name is None:
            continue
        if hit[0] in SESSION_GETTERS and name.type == "identifier":
            session_names.add(source.text_of(name))
        elif hit[0] == "getToken" and name.type == "identifier":
            token_names.add(source.text_of(name))
        elif hit[0] == "useSession" and name.type == "object_pattern":
            for prop in name.named_children:
                if prop.type == "pair_pattern" and source.text_of(prop.child_by_field_name("key")) == "data":
                    value = prop.child_by_field_name("value")
                    if value is not None and value.type == "identifier":
                        session_names.add(source.text_of(value))
                elif prop.type == "shorthand_property_identifier_pattern" and source.text_of(prop) == "data":
                    session_names.add("data")
    for _, caps in members:
        if "mprop" not in caps:
            continue
        member = caps["member"][0]
        prop = source.text_of(caps["mprop"][0])
        obj = member.child_by_field_name("object")
        if obj is None:
            continue
        if prop == "id" and obj.type == "member_expression":
            inner = obj.child_by_field_name("object")
            if (source.text_of(obj.child_by_field_name("property")) == "user" and inner is not None
                    and inner.type == "identifier" and source.text_of(inner) in session_names):
                expr = re.sub(r"\s+", "", source.text_of(member))
                out.add(member, "foreign_key", expr, *advice.foreign_key(expr), "foreign_keys")
        elif prop == "sub" and obj.type == "identifier" and source.text_of(obj) in token_names:
            expr = re.sub(r"\s+", "", source.text_of(member))
            out.add(member, "foreign_key", expr, *advice.foreign_key(expr), "foreign_keys")
        elif prop == "userId" and re.search(r"(^|\.)sessionClaims\??$", re.sub(r"\s+", "", source.text_of(obj))):
            out.result.session_claims_user_id.append(line(member))


def _conditional_ui(out: _Collector, binds: Bindings, members) -> None:
    if not any(role == "useSession" for role, _ in binds.locals.values()):
        return
    source = out.source
    for _, caps in members:
        if "cmp" in caps and source.text_of(caps["cmpid"][0]) == "status":
            cmp = caps["cmp"][0]
            op = cmp.child_by_field_name("operator")
            if op is None or source.text_of(op) not in ("===", "==", "!==", "!="):
                continue
            out.add(cmp, "conditional_ui", re.sub(r"\s+", " ", source.text_of(cmp)), *advice.conditional_ui(out.info.core3),
                    "signed_in")


def _env_refs(out: _Collector, members) -> None:
    source = out.source
    for _, caps in members:
        if "env" in caps:
            name, node = source.text_of(caps["envname"][0]), caps["env"][0]
        elif "envsub" in caps:
            name, node = source.text_of(caps["envkey"][0]), caps["envsub"][0]
        else:
            continue
        out.add(node, "env_name", f"process.env.{name}", *advice.env_name(name), "env", context="code")


def _sign_in_page(out: _Collector, fs: FileSyntax) -> None:
    info = out.info
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
    ref = fs.exports.get("default")
    at = line(ref.node) if ref is not None and ref.node is not None else 1
    if ref is not None and ref.kind == "expr" and ref.node is not None and ref.node.parent is not None:
        at = line(ref.node.parent)
    clerk, howto = advice.sign_in_page(info.route, sign_up)
    label = "sign-up" if sign_up else "sign-in"
    out.add(at, "sign_in_page", f"custom {label} page {info.route}", clerk, howto, "pages", routes=(info.route,))


def matcher_literals(source: Source, value: Node) -> list[tuple[str, Node]]:
    """The literal strings of a `matcher:` value (a string, an array, `{ source: "..." }` objects)."""
    found: list[tuple[str, Node]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if node.type in ("string", "template_string"):
            text = string_value(source, node)
            if text is not None:
                found.append((text, node))
            continue
        stack.extend(reversed(node.named_children))
    return found


def _matcher(out: _Collector, members) -> None:
    source = out.source
    for _, caps in members:
        if "pkey" not in caps or source.text_of(caps["pkey"][0]) != "matcher":
            continue
        pair = caps["pair"][0]
        literals = [(v, n) for v, n in matcher_literals(source, caps["pvalue"][0]) if v.startswith("/")]
        routes = tuple(v for v, _ in literals)
        if not routes:
            return
        negative = any("(?!" in r for r in routes)
        clerk, howto = advice.matcher(list(routes), negative)
        out.add(pair, "middleware_matcher", "config.matcher: " + ", ".join(routes), clerk, howto, "middleware",
                routes=routes)
        for value, node in literals:
            out.result.routes.append(ProtectedRoute(value, out.info.rel, line(node)))
        # the middleware finding(s) carry the routes too, so each says what to recreate
        clerk_mw, howto_mw = advice.middleware([r for r in routes if "(?!" not in r], out.info.middleware_file)
        out.result.findings = [
            Finding(f.file, f.line, f.construct, f.authjs, clerk_mw, howto_mw, f.step, f.router, f.context, routes)
            if f.construct == "middleware" else f
            for f in out.result.findings
        ]
        return
