"""`build_patch(report) -> Patch`: the mechanical Auth.js -> Clerk rewrites as a unified diff.

Each rewrite is made only where the code maps one to one; everything else stays, with file, line
and why, in `Patch.left` (and the patch never touches it):

- `<SessionProvider>` -> `<ClerkProvider>` in pages/_app (`{...pageProps}`); in the App Router the
  root layout gets `<ClerkProvider>` around `<html>` and a SessionProvider wrapper becomes `<>...</>`.
- `useSession()` -> `useUser()` / `useAuth()` when every use of its result maps: `data.user.name` ->
  `user?.fullName`, `.email` -> `user?.primaryEmailAddress?.emailAddress`, `.image` -> `user?.imageUrl`,
  `data` / `data.user` as a condition -> `isSignedIn`, `status === "authenticated"` -> `isSignedIn`,
  `"loading"` -> `!isLoaded`, `"unauthenticated"` -> `(isLoaded && !isSignedIn)`.
- `getServerSession(...)` / v5 `auth()` -> `auth()` (`userId`) or `currentUser()` (the profile) in the
  App Router; `getAuth(req)` in Pages Router API routes and getServerSideProps (no profile there).
- `onClick={() => signIn()}` / `onClick={signOut}` buttons and one-call server-action forms ->
  `<SignInButton>` / `<SignOutButton>` around the button.
- The middleware/proxy file -> `clerkMiddleware()` + `createRouteMatcher()` protecting the routes of
  Auth.js's `config.matcher` (renamed to proxy.ts on Next.js >= 16).
- The `[...nextauth]` route and the Auth.js config module(s), deleted once nothing left imports them.
- package.json: `@clerk/nextjs` added; next-auth and adapters removed once nothing imports them.
- .env.example: Clerk's two key names added (Auth.js names with empty values removed with next-auth).

Every changed code file must parse without errors in tree-sitter, or its rewrites are dropped.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from console.appscan import advice, manifest, syntax
from console.appscan.edits import Edit, FileEdits, clerk, remove_lines, unified_diff
from console.appscan.jsscan import FileInfo, bindings, bound_name, matcher_literals, options_declarations
from console.appscan.model import AppScanReport, Finding, ProjectIndex
from console.appscan.modules import FileSyntax, ModuleGraph, is_authjs_spec
from console.appscan.syntax import FUNCTION_TYPES, line, string_value

USER_FIELDS = {
    "name": "user?.fullName",
    "email": "user?.primaryEmailAddress?.emailAddress",
    "image": "user?.imageUrl",
}
AUTHJS_ONLY_PROPS = ("session", "basePath", "refetchInterval", "refetchOnWindowFocus", "refetchWhenOffline")


@dataclass(frozen=True)
class FilePatch:
    path: str  # relative to the scanned folder, "/" separators
    action: str  # "modify" | "create" | "delete"
    diff: str  # this file's part of the unified diff (git headers included)
    changes: tuple[str, ...]  # what it changes, one line each

    def as_json(self) -> dict:
        return {"path": self.path, "action": self.action, "changes": list(self.changes), "diff": self.diff}


@dataclass(frozen=True)
class Left:
    """A touch point the patch does not rewrite: the checklist keeps it."""

    file: str
    line: int
    construct: str
    why: str

    def as_json(self) -> dict:
        return {"file": self.file, "line": self.line, "construct": self.construct, "why": self.why}


@dataclass
class Patch:
    files: list[FilePatch] = field(default_factory=list)
    left: list[Left] = field(default_factory=list)
    rewritten: int = 0  # findings the patch takes care of

    def text(self) -> str:
        return "".join(f.diff for f in self.files)

    @property
    def empty(self) -> bool:
        return not self.files

    def write(self, path: Path, *, force: bool = False) -> None:
        """Write the diff with mode 0600; refuses an existing file unless `force` (FileExistsError)."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, self.text().encode("utf-8"))
        finally:
            os.close(fd)

    def as_json(self) -> dict:
        return {
            "files": [f.as_json() for f in self.files],
            "left": [x.as_json() for x in self.left],
            "rewritten": self.rewritten,
        }


# --- planning --------------------------------------------------------------------------------


class _Plan:
    def __init__(self, report: AppScanReport, index: ProjectIndex, frozen: set[str]) -> None:
        self.report = report
        self.index = index
        self.graph: ModuleGraph = index.graph
        self.frozen = frozen  # files whose rewrites produced unparseable code: not touched
        self.files: dict[str, FileEdits] = {}
        self.handled: set[tuple[str, int, str]] = set()  # (file, line, construct) of findings taken care of
        self.why: dict[tuple[str, int], str] = {}  # (file, line) -> why a site stays
        self.deleted: dict[str, str] = {}  # rel -> why it goes
        self.created: dict[str, tuple[str, list[str]]] = {}  # rel -> (text, changes)
        self.other: dict[str, tuple[str, str, list[str]]] = {}  # rel -> (old, new, changes) for non-code
        self.versions = report.versions
        self.root_layout_wrapped: set[str] = set()  # project dirs whose root layout gets ClerkProvider

    def edits(self, rel: str) -> FileEdits:
        if rel not in self.files:
            self.files[rel] = FileEdits(self.index.files[rel])
        return self.files[rel]

    def stay(self, rel: str, node_or_line, why: str) -> None:
        at = node_or_line if isinstance(node_or_line, int) else line(node_or_line)
        self.why.setdefault((rel, at), why)

    def done(self, rel: str, at: int, *constructs: str) -> None:
        for c in constructs:
            self.handled.add((rel, at, c))


def build_patch(report: AppScanReport) -> Patch:
    """The mechanical rewrites for a scanned app (see the module doc). Never raises on odd code:
    a rewrite that does not parse is dropped and its touch points are left."""
    index = report.project
    if index is None:
        raise ValueError("the report carries no parsed project (scan_app builds it)")
    frozen: set[str] = set()
    for _ in range(4):
        plan = _make_plan(report, index, frozen)
        bad = _unparseable(plan)
        if not bad:
            return _to_patch(plan)
        frozen |= bad
    return _to_patch(plan)


def _make_plan(report: AppScanReport, index: ProjectIndex, frozen: set[str]) -> _Plan:
    plan = _Plan(report, index, frozen)
    for rel in sorted(index.files):
        if rel in frozen or "\ufffd" in rel:
            continue
        info: FileInfo | None = index.infos.get(rel)
        if info is None:
            continue
        fs = index.files[rel]
        binds = bindings(fs, plan.graph)
        if info.middleware:
            _middleware(plan, fs, info, binds)
            continue
        _session_provider(plan, fs, info, binds)
        _use_session(plan, fs, info, binds)
        _server_session(plan, fs, info, binds)
        _sign_buttons(plan, fs, info, binds)
    _clerk_entry_points(plan)
    _root_layouts(plan)
    _drop_unused_imports(plan)
    _deletions(plan)
    _package_json(plan)
    _env_example(plan)
    return plan


# --- <SessionProvider> ----------------------------------------------------------------------

def _root_layout(index: ProjectIndex, project_dir: str) -> str | None:
    for base in ("app", "src/app"):
        for ext in (".tsx", ".jsx", ".js", ".ts"):
            rel = posixpath.join(project_dir, base, "layout" + ext) if project_dir else f"{base}/layout{ext}"
            if rel in index.texts:
                return rel
    return None


def _has_clerk_provider(index: ProjectIndex, rel: str) -> bool:
    fs = index.files.get(rel)
    if fs is None:
        return "ClerkProvider" in index.texts.get(rel, "")
    return any(s.imported == "ClerkProvider" for st in fs.imports if st.spec.startswith("@clerk/") for s in st.specifiers)


def _jsx_elements(fs: FileSyntax, name: str) -> list[Node]:
    out = []
    if name.encode("utf-8") not in fs.source.data:
        return out  # no element can have that name: the JSX query need not walk the tree
    for _, caps in syntax.captures(fs.source, "jsx"):
        if "jsxname" in caps and fs.source.text_of(caps["jsxname"][0]) == name:
            open_node = caps["jsxopen"][0]
            out.append(open_node.parent if open_node.type == "jsx_opening_element" else open_node)
    return out


def _session_provider(plan: _Plan, fs: FileSyntax, info: FileInfo, binds) -> None:
    locals_ = [loc for loc, (role, _) in binds.locals.items() if role == "SessionProvider"]
    source = fs.source
    for local in locals_:
        elements = _jsx_elements(fs, local)
        if not elements:
            continue
        refs = [n for n in syntax.identifiers(source, {local}) if not _in_import(n)]
        jsx_refs = [n for n in refs if n.parent is not None and n.parent.type in (
            "jsx_opening_element", "jsx_closing_element", "jsx_self_closing_element")]
        if len(jsx_refs) != len(refs):
            for el in elements:
                plan.stay(fs.rel, el, f"{local} is also used outside JSX: rewrite by hand")
            continue
        root_layout = _root_layout(plan.index, info.project_dir)
        app_router = info.router == "app" or (info.router is None and plan.report.router in ("app", "both")
                                               and root_layout is not None)
        for el in elements:
            if el.type != "jsx_element":
                plan.stay(fs.rel, el, f"a self-closing <{local} /> has nothing to wrap")
                continue
            opening = el.child_by_field_name("open_tag")
            closing = el.child_by_field_name("close_tag")
            fe = plan.edits(fs.rel)
            if app_router and root_layout and fs.rel != root_layout:
                fe.add(opening.start_byte, opening.end_byte, "<>")
                fe.add(closing.start_byte, closing.end_byte, "</>")
                plan.root_layout_wrapped.add(info.project_dir)
                fe.changes.append(f"line {line(el)}: <{local}> -> <>...</> (<ClerkProvider> wraps the root layout)")
            else:
                props = " {...pageProps}" if info.router == "pages" and "pageProps" in source.text else ""
                kept = [a for a in opening.named_children if a.type in ("jsx_attribute", "jsx_expression")
                        and source.text_of(a).split("=")[0].strip() not in AUTHJS_ONLY_PROPS
                        and not source.text_of(a).startswith("{...")]
                attrs = "".join(" " + source.text_of(a) for a in kept)
                fe.add(opening.start_byte, opening.end_byte, f"<{clerk('ClerkProvider')}{props}{attrs}>")
                fe.add(closing.start_byte, closing.end_byte, f"</{clerk('ClerkProvider')}>")
                fe.changes.append(f"line {line(el)}: <{local}> -> <ClerkProvider{props}>")
            plan.done(fs.rel, line(el), "SessionProvider")


def _in_import(node: Node) -> bool:
    cur = node.parent
    while cur is not None:
        if cur.type in ("import_statement", "import_specifier", "import_clause", "export_specifier"):
            return True
        if cur.type in ("program", "statement_block"):
            return False
        cur = cur.parent
    return False


def _clerk_entry_points(plan: _Plan) -> None:
    """Clerk's server helpers need clerkMiddleware() running and its components a <ClerkProvider>:
    an App Router app the patch touches gets both when it has neither (Clerk's quickstart)."""
    if not plan.files and not plan.created and not plan.other:
        return
    project = posixpath.dirname(plan.versions.package_json) if plan.versions and plan.versions.package_json else ""
    if plan.report.router in ("app", "both") and _root_layout(plan.index, project):
        plan.root_layout_wrapped.add(project)
    has_mw = any(info.middleware and info.project_dir == project for info in plan.index.infos.values()) or any(
        _is_mw_name(rel, project) for rel in plan.index.texts)
    if not has_mw:
        src = posixpath.join(project, "src") if project else "src"
        uses_src = any(rel.startswith(src + "/app/") or rel.startswith(src + "/pages/") for rel in plan.index.texts)
        proxy = plan.versions.proxy_named if plan.versions else None
        name = "proxy.ts" if proxy else "middleware.ts"
        folder = src if uses_src else project
        rel = posixpath.join(folder, name) if folder else name
        plan.created[rel] = (_open_middleware(name), ["clerkMiddleware() on every route (Clerk's auth() needs it; Auth.js had no middleware)"])


def _is_mw_name(rel: str, project: str) -> bool:
    rest = rel[len(project) + 1 :] if project else rel
    if rest.startswith("src/"):
        rest = rest[4:]
    return "/" not in rest and rest.rsplit(".", 1)[0] in ("middleware", "proxy") and rest.endswith(
        (".ts", ".js", ".mjs", ".tsx", ".jsx"))


def _root_layouts(plan: _Plan) -> None:
    for project_dir in sorted(plan.root_layout_wrapped):
        rel = _root_layout(plan.index, project_dir)
        if rel is None or _has_clerk_provider(plan.index, rel) or rel in plan.frozen:
            continue
        fs = plan.index.files.get(rel)
        if fs is None:
            from console.appscan.modules import add_calls, summarize  # a layout that mentions no auth word

            source = syntax.parse(rel, plan.index.texts[rel])
            fs = summarize(source)
            add_calls(fs, syntax.captures(source, "calls"))
            plan.index.files[rel] = fs
        html = [el for el in _jsx_elements(fs, "html") if el.type == "jsx_element"]
        if len(html) != 1:
            plan.stay(rel, 1, "the root layout has no single <html> element to wrap in <ClerkProvider>")
            continue
        el = html[0]
        data = fs.source.data
        line_start = data.rfind(b"\n", 0, el.start_byte) + 1
        indent = data[line_start : el.start_byte].decode()
        if indent.strip():
            indent = ""
        body = fs.source.text_of(el).replace("\n", "\n  ")
        fe = plan.edits(rel)
        fe.add(el.start_byte, el.end_byte,
               f"<{clerk('ClerkProvider')}>\n{indent}  {body}\n{indent}</{clerk('ClerkProvider')}>")
        fe.changes.append(f"line {line(el)}: <ClerkProvider> around <html> (Clerk's root provider)")


# --- useSession() --------------------------------------------------------------------------------

def _scope(node: Node) -> Node:
    cur = node.parent
    while cur is not None:
        if cur.type in FUNCTION_TYPES:
            return cur
        cur = cur.parent
    return node.tree.root_node if hasattr(node, "tree") else node


def _enclosing_function(node: Node) -> Node | None:
    return syntax.walk_up(node, FUNCTION_TYPES)


def _uses_in(source, scope: Node, name: str, skip: Node) -> list[Node]:
    out = []
    for n in syntax.identifiers(source, {name}):
        if n.start_byte < scope.start_byte or n.end_byte > scope.end_byte:
            continue
        if skip.start_byte <= n.start_byte and n.end_byte <= skip.end_byte:
            continue
        out.append(n)
    return out


def _bool_context(expr: Node) -> bool:
    parent = expr.parent
    if parent is None:
        return False
    if parent.type == "unary_expression" and parent.child_by_field_name("operator") is not None and \
            parent.child_by_field_name("operator").type == "!":
        return True
    if parent.type == "binary_expression":
        op = parent.child_by_field_name("operator")
        if op is not None and op.type in ("&&", "||") and parent.child_by_field_name("left") == expr:
            return True
    if parent.type == "ternary_expression" and parent.child_by_field_name("condition") == expr:
        return True
    if parent.type == "parenthesized_expression" and parent.parent is not None and parent.parent.type in (
            "if_statement", "while_statement"):
        return True
    return False


def _member_chain(ident: Node, source) -> tuple[Node, list[str]]:
    """The outermost member expression starting at `ident` and its property names:
    `session?.user?.name` -> (that node, ["user", "name"])."""
    node = ident
    props: list[str] = []
    while node.parent is not None and node.parent.type == "member_expression" and \
            node.parent.child_by_field_name("object") == node:
        node = node.parent
        props.append(source.text_of(node.child_by_field_name("property")))
    return node, props


def _map_session_use(source, ident: Node, signed_in: str, profile: bool) -> tuple[Node, str, str] | str:
    """(node to replace, replacement, kind) for one use of a session value, or why it does not map.
    kind: "bool" (needs the signed-in flag) or "user" (needs the profile)."""
    expr, props = _member_chain(ident, source)
    if props == [] or props == ["user"]:
        if _bool_context(expr):
            return expr, signed_in, "bool"
        return f"`{source.text_of(expr)}` is used as a value (passed on or stored), not as a condition"
    if len(props) == 2 and props[0] == "user" and props[1] in USER_FIELDS:
        if not profile:
            return "the profile is not on getAuth(req) (Pages Router): fetch it with clerkClient.users.getUser()"
        return expr, USER_FIELDS[props[1]], "user"
    if len(props) >= 2 and props[0] == "user" and props[1] == "id":
        return (f"`{source.text_of(expr)}` is the Auth.js user id (a foreign key): use sessionClaims.userId with "
                "the session claim, or rewrite the FK columns")
    return f"`{source.text_of(expr)}` has no Clerk equivalent one to one"


def _conflicts(source, scope: Node, names: set[str], skip: list[Node]) -> set[str]:
    found = set()
    for n in syntax.identifiers(source, names):
        if n.start_byte < scope.start_byte or n.end_byte > scope.end_byte:
            continue
        if any(s.start_byte <= n.start_byte and n.end_byte <= s.end_byte for s in skip):
            continue
        found.add(source.text_of(n))
    return found


def _use_session(plan: _Plan, fs: FileSyntax, info: FileInfo, binds) -> None:
    source = fs.source
    hooks = {loc for loc, (role, _) in binds.locals.items() if role == "useSession"}
    if not hooks:
        return
    for _, caps in syntax.calls_named(source, hooks):
        if "callee" not in caps or source.text_of(caps["callee"][0]) not in hooks:
            continue
        call = caps["call"][0]
        at = line(call)
        args = call.child_by_field_name("arguments")
        if args is not None and args.named_child_count:
            plan.stay(fs.rel, call, "useSession({ required, onUnauthenticated }) options have no one-to-one hook")
            continue
        name = bound_name(call)
        declarator = name.parent if name is not None else None
        decl = declarator.parent if declarator is not None else None
        if name is None or decl is None or sum(c.type == "variable_declarator" for c in decl.named_children) != 1:
            plan.stay(fs.rel, call, "the result of useSession() is not destructured into const { data, status }")
            continue
        data_name = status_name = None
        ok = True
        if name.type == "object_pattern":
            for prop in name.named_children:
                if prop.type == "shorthand_property_identifier_pattern" and source.text_of(prop) in ("data", "status"):
                    if source.text_of(prop) == "data":
                        data_name = "data"
                    else:
                        status_name = "status"
                elif prop.type == "pair_pattern" and source.text_of(prop.child_by_field_name("key")) in ("data", "status") \
                        and prop.child_by_field_name("value").type == "identifier":
                    value = source.text_of(prop.child_by_field_name("value"))
                    if source.text_of(prop.child_by_field_name("key")) == "data":
                        data_name = value
                    else:
                        status_name = value
                else:
                    ok = False
        else:
            ok = False
        if not ok:
            plan.stay(fs.rel, call, f"`{source.text_of(name)}` takes more than data/status from useSession() "
                                    "(update() has no Clerk equivalent)")
            continue
        scope = _enclosing_function(call) or source.root
        replaced: list[tuple[Node, str]] = []
        needs: set[str] = set()
        why = None
        for var in filter(None, [data_name]):
            for ident in _uses_in(source, scope, var, declarator):
                hit = _map_session_use(source, ident, "isSignedIn", True)
                if isinstance(hit, str):
                    why = hit
                    break
                node, text, kind = hit
                replaced.append((node, text))
                needs.add("isSignedIn" if kind == "bool" else "user")
            if why:
                break
        handled_ui: list[int] = []
        if not why and status_name:
            for ident in _uses_in(source, scope, status_name, declarator):
                parent = ident.parent
                value = None
                if parent is not None and parent.type == "binary_expression":
                    op = source.text_of(parent.child_by_field_name("operator"))
                    other = parent.child_by_field_name("right") if parent.child_by_field_name("left") == ident \
                        else parent.child_by_field_name("left")
                    value = string_value(source, other)
                if value not in ("authenticated", "unauthenticated", "loading") or op not in ("===", "==", "!==", "!="):
                    why = f"`{source.text_of(parent or ident)}`: status is used other than compared with a state"
                    break
                negate = op in ("!==", "!=")
                expr = {"authenticated": "isSignedIn", "loading": "!isLoaded",
                        "unauthenticated": "(isLoaded && !isSignedIn)"}[value]
                if negate:
                    expr = {"isSignedIn": "!isSignedIn", "!isLoaded": "isLoaded"}.get(expr, f"!{expr}")
                replaced.append((parent, expr))
                needs.update({"isSignedIn"} if value == "authenticated" else
                             {"isLoaded"} if value == "loading" else {"isLoaded", "isSignedIn"})
                handled_ui.append(line(parent))
        if why:
            plan.stay(fs.rel, call, why)
            continue
        names = sorted(needs)
        clash = _conflicts(source, scope, set(names), [n for n, _ in replaced] + [declarator])
        if clash:
            plan.stay(fs.rel, call, "the component already has " + ", ".join(sorted(clash)) + ": rename by hand")
            continue
        fe = plan.edits(fs.rel)
        if any(fe.overlaps(n.start_byte, n.end_byte) for n, _ in replaced):
            plan.stay(fs.rel, call, "overlaps another rewrite")
            continue
        hook = "useUser" if "user" in needs else "useAuth"
        pattern = "{ " + ", ".join(names) + " }" if names else "{}"
        fe.add(declarator.start_byte, declarator.end_byte, f"{pattern} = {clerk(hook)}()")
        for node, text in replaced:
            fe.add(node.start_byte, node.end_byte, text)
        fe.changes.append(f"line {at}: useSession() -> {hook}() ({', '.join(names) or 'nothing read'})")
        plan.done(fs.rel, at, "useSession")
        for ui_line in handled_ui:
            plan.done(fs.rel, ui_line, "conditional_ui")


# --- getServerSession() / auth() ------------------------------------------------------------------

def _server_session(plan: _Plan, fs: FileSyntax, info: FileInfo, binds) -> None:
    source = fs.source
    getters = {loc: role for loc, (role, _) in binds.locals.items() if role in ("getServerSession", "auth")}
    if not getters:
        return
    for _, caps in syntax.calls_named(source, getters):
        if "callee" not in caps:
            continue
        local = source.text_of(caps["callee"][0])
        role = getters.get(local)
        if role is None:
            continue
        call = caps["call"][0]
        at = line(call)
        construct = "getServerSession" if role == "getServerSession" else "auth"
        args = call.child_by_field_name("arguments")
        arg_nodes = [a for a in (args.named_children if args is not None else []) if a.type != "comment"]
        pages = info.router == "pages" or (info.router is None and len(arg_nodes) >= 2)
        if pages:
            if len(arg_nodes) < 2 or (role == "auth" and len(arg_nodes) != 2):
                plan.stay(fs.rel, call, "a Pages Router session read without (req, res): rewrite with getAuth(req) by hand")
                continue
            req_text = source.text_of(arg_nodes[0])
        else:
            if role == "auth" and arg_nodes:
                plan.stay(fs.rel, call, "auth(handler) wraps a route handler or middleware: rewrite it with "
                                        "auth() from @clerk/nextjs/server by hand")
                continue
            if role == "getServerSession" and len(arg_nodes) > 1:
                plan.stay(fs.rel, call, "getServerSession(req, res, ...) outside the Pages Router: use getAuth(req)")
                continue
            req_text = ""
        name = bound_name(call)
        await_node = call.parent if call.parent is not None and call.parent.type == "await_expression" else None
        declarator = name.parent if name is not None else None
        decl = declarator.parent if declarator is not None else None
        if name is None or name.type != "identifier" or await_node is None or decl is None or \
                sum(c.type == "variable_declarator" for c in decl.named_children) != 1:
            plan.stay(fs.rel, call, "the session is not read as `const session = await ...`")
            continue
        var = source.text_of(name)
        scope = _enclosing_function(call) or source.root
        replaced: list[tuple[Node, str, str]] = []
        why = None
        for ident in _uses_in(source, scope, var, declarator):
            hit = _map_session_use(source, ident, "\x01", not pages)
            if isinstance(hit, str):
                why = hit
                break
            replaced.append(hit)
        if why:
            plan.stay(fs.rel, call, why)
            continue
        profile = any(kind == "user" for _, _, kind in replaced)
        flag = "user" if profile else "userId"
        clash = _conflicts(source, scope, {flag}, [n for n, _, _ in replaced] + [declarator])
        if clash:
            plan.stay(fs.rel, call, f"`{flag}` is already a name there: rewrite by hand")
            continue
        fe = plan.edits(fs.rel)
        if pages:
            new_decl, what = f"{{ userId }} = {clerk('getAuth')}({req_text})", f"getAuth({req_text})"
        elif profile:
            new_decl, what = f"user = await {clerk('currentUser')}()", "currentUser()"
        else:
            new_decl, what = f"{{ userId }} = await {clerk('auth')}()", "auth() (userId)"
        fe.add(declarator.start_byte, declarator.end_byte, new_decl)
        for node, text, _ in replaced:
            fe.add(node.start_byte, node.end_byte, flag if text == "\x01" else text)
        fe.changes.append(f"line {at}: {local}() -> {what}")
        plan.done(fs.rel, at, construct)


# --- signIn() / signOut() buttons -------------------------------------------------------------

def _simple_sign_call(source, node: Node, locals_: dict[str, str]) -> str | None:
    """The role when `node` is `signIn()`, `signIn("github")`, `signOut()` (awaited or not)."""
    if node.type == "await_expression" and node.named_children:
        node = node.named_children[0]
    if node.type != "call_expression":
        return None
    role = locals_.get(source.text_of(node.child_by_field_name("function")))
    if role is None:
        return None
    args = [a for a in node.child_by_field_name("arguments").named_children if a.type != "comment"]
    if not args or (role == "signIn" and len(args) == 1 and args[0].type == "string"):
        return role
    return None


def _sign_buttons(plan: _Plan, fs: FileSyntax, info: FileInfo, binds) -> None:
    source = fs.source
    locals_ = {loc: role for loc, (role, _) in binds.locals.items() if role in ("signIn", "signOut")}
    if not locals_:
        return
    done_nodes: list[Node] = []
    for _, caps in syntax.captures(source, "jsx"):
        if "jsxname" not in caps:
            continue
        open_node = caps["jsxopen"][0]
        element = open_node.parent if open_node.type == "jsx_opening_element" else open_node
        tag = source.text_of(caps["jsxname"][0])
        for attr in open_node.named_children:
            if attr.type != "jsx_attribute" or not attr.named_children:
                continue
            key = source.text_of(attr.named_children[0])
            value = attr.named_children[-1] if len(attr.named_children) > 1 else None
            if value is None or value.type != "jsx_expression" or not value.named_children:
                continue
            inner = value.named_children[0]
            role = None
            form = False
            if key == "onClick":
                if inner.type == "identifier" and locals_.get(source.text_of(inner)) == "signOut":
                    role = "signOut"
                elif inner.type == "arrow_function":
                    body = inner.child_by_field_name("body")
                    role = _simple_sign_call(source, body, locals_) if body is not None else None
            elif key == "action" and tag == "form" and inner.type in ("arrow_function", "function_expression"):
                body = inner.child_by_field_name("body")
                stmts = [s for s in (body.named_children if body is not None and body.type == "statement_block" else [])
                         if s.type != "comment"]
                if stmts and string_value(source, stmts[0].named_children[0] if stmts[0].named_children else None) == "use server":
                    stmts = stmts[1:]
                if len(stmts) == 1 and stmts[0].type == "expression_statement":
                    role = _simple_sign_call(source, stmts[0].named_children[0], locals_)
                    form = role is not None
            if role is None:
                continue
            component = "SignInButton" if role == "signIn" else "SignOutButton"
            fe = plan.edits(fs.rel)
            data = source.data
            if form:
                children = [c for c in element.named_children if c.type not in (
                    "jsx_opening_element", "jsx_closing_element") and not (
                    c.type == "jsx_text" and not source.text_of(c).strip())]
                if element.type != "jsx_element" or len(children) != 1 or children[0].type not in (
                        "jsx_element", "jsx_self_closing_element"):
                    plan.stay(fs.rel, attr, f"the {role}() form does not hold exactly one button")
                    continue
                child = children[0]
                # <form action={...}> ... <button/> ... </form> -> <SignInButton> ... <button/> ... </SignInButton>
                pieces = [
                    Edit(element.start_byte, element.child_by_field_name("open_tag").end_byte, f"<{clerk(component)}>"),
                    Edit(element.child_by_field_name("close_tag").start_byte, element.end_byte, f"</{clerk(component)}>"),
                ]
                inside = (child.start_byte, child.end_byte)
            else:
                start = attr.start_byte
                while start > 0 and data[start - 1 : start] in (b" ", b"\t", b"\n", b"\r"):
                    start -= 1
                pieces = [
                    Edit(element.start_byte, element.start_byte, f"<{clerk(component)}>"),
                    Edit(start, attr.end_byte, ""),
                    Edit(element.end_byte, element.end_byte, f"</{clerk(component)}>"),
                ]
                inside = (element.start_byte, element.end_byte)
            if any(fe.overlaps(p.start, p.end) for p in pieces if p.end > p.start) or any(
                    d.start_byte < element.end_byte and element.start_byte < d.end_byte for d in done_nodes):
                plan.stay(fs.rel, attr, "overlaps another rewrite")
                continue
            fe.edits.extend(pieces)
            done_nodes.append(element)
            call_line = line(attr)
            fe.changes.append(f"line {line(element)}: {role}() {'form' if form else 'button'} -> <{component}>")
            for ln in range(line(element), element.end_point[0] + 2):
                plan.done(fs.rel, ln, role)
            plan.done(fs.rel, call_line, role)
            del inside


# --- middleware / proxy --------------------------------------------------------------------------

_SIMPLE_AUTHORIZED = re.compile(r"^\{?callbacks:\{authorized:(?:async)?\(\{token\}\)=>!!token,?\},?(pages:\{[^{}]*\},?)?\}?$")


def _middleware(plan: _Plan, fs: FileSyntax, info: FileInfo, binds) -> None:
    findings = [f for f in plan.report.findings if f.file == fs.rel]
    mw = [f for f in findings if f.construct == "middleware"]
    if not mw:
        return
    source = fs.source
    why = None
    protect = True
    kinds = set()
    for stmt in fs.imports:
        if stmt.kind == "export" and stmt.spec == "next-auth/middleware":
            kinds.add("v4")
    for _, caps in syntax.calls_named(source, binds.locals):
        if "callee" not in caps:
            continue
        hit = binds.locals.get(source.text_of(caps["callee"][0]))
        if not hit:
            continue
        call = caps["call"][0]
        args = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]
        if hit[0] == "withAuth":
            kinds.add("v4")
            text = re.sub(r"\s+", "", "".join(source.text_of(a) for a in args))
            if args and not _SIMPLE_AUTHORIZED.match(text):
                why = "withAuth(...) holds its own logic (a middleware function or callbacks): rewrite by hand"
        elif hit[0] == "auth":
            why = "auth((req) => ...) runs its own middleware logic: rewrite it inside clerkMiddleware() by hand"
    if any(f.authjs.endswith(("(@/auth)", '"@/auth"')) or "auth" in f.authjs for f in mw) and "v4" not in kinds:
        kinds.add("v5")
        authorized = _v5_authorized(plan, fs)
        if authorized == "none":
            protect = False
        elif authorized != "simple":
            why = ("Auth.js v5's middleware protects what callbacks.authorized decides, and that callback holds "
                   "logic: rewrite it with createRouteMatcher + auth.protect() by hand")
    if any(f.construct == "middleware_matcher" and any("(?!" in r for r in f.routes) for f in findings):
        why = why or "the matcher protects everything except some paths: list the public routes by hand"
    routes = [r.route for r in plan.report.protected_routes if r.file == fs.rel]
    if protect and not routes:
        why = why or "no config.matcher: Auth.js protected every route; choose what Clerk protects by hand"
    leftovers = _non_auth_code(fs)
    if leftovers:
        why = why or f"the file also holds other code ({leftovers}): rewrite by hand"
    if why:
        for f in mw:
            plan.stay(fs.rel, f.line, why)
        return
    proxy = plan.versions.proxy_named if plan.versions else None
    stem = posixpath.basename(fs.rel).rsplit(".", 1)
    ext = "." + stem[1] if len(stem) > 1 else ".ts"
    folder = posixpath.dirname(fs.rel)
    name = ("proxy" if proxy else "middleware") if proxy is not None else stem[0]
    new_rel = posixpath.join(folder, name + ext) if folder else name + ext
    if protect:
        text = advice.route_matcher_code(routes, name + ext).split("\n", 1)[1]
        what = "clerkMiddleware() protecting " + ", ".join(advice.clerk_route(r) for r in routes)
    else:
        text = _open_middleware(name + ext)
        what = "clerkMiddleware() (Auth.js's middleware protected nothing: no callbacks.authorized)"
    quote_style = '"'
    text = text.replace('"', quote_style)
    changes = [f"{fs.rel} -> {what}"]
    if new_rel != fs.rel:
        plan.deleted[fs.rel] = f"Next.js {plan.versions.next_spec}: the file is now {new_rel}"
        plan.created[new_rel] = (text, changes)
    else:
        plan.other[fs.rel] = (source.text, text, changes)
    for f in findings:
        plan.done(fs.rel, f.line, f.construct)


def _open_middleware(file_name: str) -> str:
    full = advice.route_matcher_code(["/x"], file_name).split("\n", 1)[1]
    full = full.replace(', createRouteMatcher', "")
    full = re.sub(r"const isProtectedRoute = .*?\n\n", "", full)
    return re.sub(r"clerkMiddleware\(async \(auth, req\) => \{\n.*?\n\}\);", "clerkMiddleware();", full, flags=re.S)


def _non_auth_code(fs: FileSyntax) -> str:
    """What a middleware file holds besides the Auth.js middleware and its config."""
    source = fs.source
    for child in source.root.named_children:
        text = source.text_of(child)
        if child.type in ("comment", "import_statement"):
            continue
        if child.type == "export_statement":
            if re.match(r"export\s+const\s+config\b", text) or "middleware" in text or "default" in text \
                    or re.search(r"\bauth\b|withAuth", text):
                continue
        if child.type == "expression_statement" and string_value(source, child.named_children[0] if child.named_children else None):
            continue
        return text.split("\n", 1)[0][:60]
    return ""


def _v5_authorized(plan: _Plan, fs: FileSyntax) -> str:
    """"none" (no callbacks.authorized: v5 middleware protects nothing), "simple" (`!!auth`), or "logic"."""
    configs = [rel for rel, other in plan.index.files.items() if other.nextauth_calls]
    texts = []
    for rel in configs:
        texts.append(plan.index.texts[rel])
        other = plan.index.files[rel]
        for stmt in other.imports:  # t3: the config object lives in a sibling module
            target = plan.graph.resolve(stmt.spec, rel)
            if target:
                texts.append(plan.index.texts.get(target, ""))
    joined = "\n".join(texts)
    m = re.search(r"\bauthorized\b", joined)
    if not m:
        return "none"
    tail = re.sub(r"\s+", "", joined[m.start() : m.start() + 200])
    if re.match(r"authorized(?::(?:async)?\(\{auth\}\)=>|\(\{auth\}\)\{return)!!auth", tail):
        return "simple"
    return "logic"


# --- imports left unused, deleted modules -------------------------------------------------------

def _drop_unused_imports(plan: _Plan) -> None:
    for rel, fe in list(plan.files.items()):
        fs = fe.fs
        source = fs.source
        for stmt in fs.imports:
            if stmt.kind != "import":
                continue
            authjs = is_authjs_spec(stmt.spec)
            target = None if authjs else plan.graph.resolve(stmt.spec, rel)
            if not authjs and target is None:
                continue
            for spec in stmt.specifiers:
                if not authjs and not _auth_binding(plan, rel, spec.local, target):
                    continue
                if not _used_after(fe, spec.local):
                    fe.removed.add(id(spec))


def _auth_binding(plan: _Plan, rel: str, local: str, target: str | None) -> bool:
    """A name imported from the app's own Auth.js module (a role, or its options object)."""
    if plan.graph.binding_role(rel, local):
        return True
    if target is None:
        return False
    tfs = plan.index.files.get(target)
    return bool(tfs and (tfs.nextauth_calls or options_declarations(tfs)))


def _used_after(fe: FileEdits, local: str) -> bool:
    for n in syntax.identifiers(fe.fs.source, {local}):
        if _in_import(n):
            continue
        if any(e.start <= n.start_byte and n.end_byte <= e.end for e in fe.edits):
            continue
        return True
    # a use the rewrites themselves write (`<SignInButton>` keeps nothing of Auth.js, but a kept
    # attribute may still name it)
    return any(re.search(rf"(?<![\w$]){re.escape(local)}(?![\w$])", e.text) for e in fe.edits)


def _remaining_imports(plan: _Plan, rel: str):
    fs = plan.index.files[rel]
    fe = plan.files.get(rel)
    for stmt in fs.imports:
        if stmt.kind == "import" and stmt.specifiers and fe is not None and all(id(s) in fe.removed for s in stmt.specifiers):
            continue
        if rel in plan.other:  # rewritten whole (middleware)
            continue
        yield stmt


def _deletions(plan: _Plan) -> None:
    """The [...nextauth] route, then Auth.js config modules nothing imports any more."""
    index = plan.index
    candidates = set()
    for rel, fs in index.files.items():
        if rel in plan.frozen:
            continue
        if "[...nextauth]" in rel:
            candidates.add(rel)
        elif fs.nextauth_calls or options_declarations(fs):
            info = index.infos.get(rel)
            if info is not None and (info.route or info.middleware or info.kind in ("route handler", "API route")):
                continue
            candidates.add(rel)
    changed = True
    while changed:
        changed = False
        for rel in sorted(candidates - set(plan.deleted)):
            importers = [
                (other, stmt) for other, stmt in plan.graph.importers(rel)
                if other not in plan.deleted and other != rel
                and any(stmt is s for s in _remaining_imports(plan, other))
            ]
            if importers:
                who = ", ".join(sorted({f"{o}:{s.line}" for o, s in importers})[:4])
                for f in plan.report.findings:
                    if f.file == rel and f.construct in ("auth_config", "nextauth_route"):
                        plan.stay(rel, f.line, f"still imported by {who}")
                continue
            plan.deleted[rel] = ("the Auth.js route: Clerk serves sign-in and its callbacks"
                                 if "[...nextauth]" in rel else "the Auth.js config: nothing imports it any more")
            plan.files.pop(rel, None)
            changed = True
    for rel in plan.deleted:
        for f in plan.report.findings:
            if f.file == rel:
                plan.done(rel, f.line, f.construct)


# --- package.json, .env.example -----------------------------------------------------------------

def _still_imported(plan: _Plan) -> dict[str, list[str]]:
    """Auth.js package -> files that still import it after the patch."""
    out: dict[str, list[str]] = {}
    for rel in plan.index.files:
        if rel in plan.deleted or rel in plan.other:
            continue
        for stmt in _remaining_imports(plan, rel):
            if is_authjs_spec(stmt.spec):
                pkg = "/".join(stmt.spec.split("/")[:2]) if stmt.spec.startswith("@") else stmt.spec.split("/")[0]
                out.setdefault(pkg, []).append(f"{rel}:{stmt.line}")
    return out


def _package_json(plan: _Plan) -> None:
    v = plan.versions
    rel = v.package_json if v and v.package_json else ("package.json" if "package.json" in plan.index.texts else None)
    if rel is None:
        return
    text = plan.index.texts[rel]
    try:
        data = json.loads(text)
    except ValueError:
        plan.stay(rel, 1, "package.json is not valid JSON")
        return
    still = _still_imported(plan)
    new = text
    changes = []
    deps = {d.name: d for d in manifest.package_dependencies(text)}
    for name, dep in deps.items():
        if name == manifest.CLERK_PACKAGE:
            continue
        users = still.get(name, [])
        if users:
            plan.stay(rel, dep.line, f"{name} is still imported by " + ", ".join(users[:4]))
            continue
        new = _remove_key(new, dep.section, name)
        changes.append(f"remove {name} ({dep.section})")
        plan.done(rel, dep.line, "dependency")
    if manifest.CLERK_PACKAGE not in deps:
        spec = v.clerk_spec_to_add if v else "^7.9.17"
        new = _add_key(new, "dependencies", manifest.CLERK_PACKAGE, spec)
        changes.append(f"add @clerk/nextjs {spec}")
    if new != text:
        json.loads(new)  # the edit keeps valid JSON
        plan.other[rel] = (text, new, changes)
    plan.removed_packages = [c for c in changes if c.startswith("remove next-auth")]


def _remove_key(text: str, section: str, name: str) -> str:
    sec = re.search(r'"%s"\s*:\s*\{' % re.escape(section), text)
    if not sec:
        return text
    m = re.compile(r'\n([ \t]*)"%s"\s*:\s*"[^"\n]*"\s*(,?)[ \t]*(?=\n)' % re.escape(name)).search(text, sec.end())
    if not m:
        return text
    start, end = m.start(), m.end()
    if not m.group(2):  # the last entry: the one before loses its comma
        before = text.rfind(",", sec.end(), start)
        between = text[before + 1 : start] if before >= 0 else ""
        if before >= 0 and not between.strip():
            text = text[:before] + text[before + 1 :]
            start -= 1
            end -= 1
    return text[:start] + text[end:]


def _add_key(text: str, section: str, name: str, spec: str) -> str:
    sec = re.search(r'"%s"\s*:\s*\{' % re.escape(section), text)
    if not sec:
        top = text.index("{")
        return text[: top + 1] + f'\n  "{section}": {{\n    "{name}": "{spec}"\n  }},' + text[top + 1 :]
    close = text.find("}", sec.end())
    body = text[sec.end() : close]
    entries = list(re.finditer(r'\n([ \t]*)"([^"]+)"\s*:', body))
    if not entries:
        indent = "    "
        return text[: sec.end()] + f'\n{indent}"{name}": "{spec}"\n  ' + text[close:]
    for e in entries:
        if e.group(2).lower() > name.lower():
            at = sec.end() + e.start()
            return text[:at] + f'\n{e.group(1)}"{name}": "{spec}",' + text[at:]
    last = entries[-1]
    tail = re.search(r'"\s*(,?)', body[last.end():])
    line_end = body.find("\n", last.end())
    line_end = len(body.rstrip()) if line_end < 0 else line_end
    at = sec.end() + line_end
    prefix = "" if body[last.end() : line_end].rstrip().endswith(",") else ","
    return text[:at] + f'{prefix}\n{last.group(1)}"{name}": "{spec}"' + text[at:]


_EMPTY_VALUE = re.compile(r"""^\s*(?:export\s+)?((?:NEXTAUTH|AUTH)_[A-Z0-9_]*)\s*=\s*(?:""|''|)\s*$""")


def _env_example(plan: _Plan) -> None:
    v = plan.versions
    project = posixpath.dirname(v.package_json) if v and v.package_json else ""
    rel = posixpath.join(project, ".env.example") if project else ".env.example"
    for name in (".env.example", ".env.local.example", ".env.sample", ".env.template"):
        cand = posixpath.join(project, name) if project else name
        if cand in plan.index.texts:
            rel = cand
            break
    removed_next_auth = bool(getattr(plan, "removed_packages", None))
    keys = ["NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY"]
    if rel not in plan.index.texts:
        if (plan.index.root / rel).exists():
            return  # present but unreadable/skipped: not touched
        text = "# Clerk (the values are on the Dashboard's API keys page; put them in .env.local)\n" + \
               "".join(f"{k}=\n" for k in keys)
        plan.created[rel] = (text, ["Clerk's key names (no values)"])
        return
    old = plan.index.texts[rel]
    names = {n for n, _ in manifest.env_names(old)}
    lines = old.splitlines(keepends=True)
    changes = []
    out = []
    for n, ln in enumerate(lines, 1):
        m = _EMPTY_VALUE.match(ln)
        if removed_next_auth and m:
            changes.append(f"remove {m.group(1)} (line {n})")
            plan.done(rel, n, "env_name")
            continue
        out.append(ln)
    missing = [k for k in keys if k not in names]
    if missing:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append("# Clerk (the values are on the Dashboard's API keys page; put them in .env.local)\n")
        out.extend(f"{k}=\n" for k in missing)
        changes.append("add " + ", ".join(missing))
    new = "".join(out)
    if new != old:
        plan.other[rel] = (old, new, changes)


# --- output -------------------------------------------------------------------------------------

def _render_all(plan: _Plan) -> dict[str, tuple[str, str, list[str]]]:
    out = {}
    for rel, fe in sorted(plan.files.items()):
        if rel in plan.deleted or rel in plan.other or not (fe.edits or fe.removed):
            continue
        still = _bound_names(fe)
        new = fe.render(still)
        if new != fe.fs.source.text:
            changes = list(fe.changes)
            dropped = [s for st in fe.fs.imports for s in st.specifiers if id(s) in fe.removed]
            if dropped:
                changes.append("imports: drop " + ", ".join(sorted({s.local for s in dropped})))
            out[rel] = (fe.fs.source.text, new, changes)
    return out


def _bound_names(fe: FileEdits) -> set[str]:
    fs = fe.fs
    names = set(fs.declared)
    for stmt in fs.imports:
        for s in stmt.specifiers:
            if id(s) not in fe.removed and stmt.kind in ("import", "require"):
                names.add(s.local)
    return names


def _unparseable(plan: _Plan) -> set[str]:
    bad = set()
    for rel, (_, new, _) in _render_all(plan).items():
        if not syntax.parses_cleanly(rel, new):
            bad.add(rel)
    for rel, (text, _) in plan.created.items():
        if rel.endswith((".ts", ".tsx", ".js", ".jsx")) and not syntax.parses_cleanly(rel, text):
            bad.add(rel)
    return bad


_GENERIC_WHY = {
    "foreign_key": "the Auth.js user id: a decision (session claim sessionClaims.userId, or rewrite the FK columns "
                   "with export-ids --sql), not a rewrite",
    "env_name": "env files keep values: the patch never writes them (remove the name by hand after the cut-over)",
    "auth_config": "still needed by code the patch leaves",
    "nextauth_route": "still needed by code the patch leaves",
    "sign_in_page": "a custom page: render <SignIn/> / <SignUp/> there, or use the Account Portal",
    "conditional_ui": "goes with the useSession() call it reads",
    "getToken": "reads the Auth.js JWT: read userId/sessionClaims from auth() or getAuth(req) by hand",
    "getSession": "no one-to-one replacement: useAuth()/useUser() on the client, getAuth(req) on the server",
    "getProviders": "<SignIn/> lists the enabled connections: drop it with the custom page",
    "getCsrfToken": "Clerk's components handle CSRF: drop it with the custom form",
    "import": "some names it brings are still used",
    "dependency": "still imported",
    "middleware_matcher": "goes with the middleware",
    "signIn": "not a plain button or one-call form: use <SignInButton> / redirectToSignIn() by hand",
    "signOut": "not a plain button or one-call form: use <SignOutButton> / useClerk().signOut() by hand",
}


def _import_left_why(plan: _Plan, f: Finding) -> str | None:
    fs = plan.index.files.get(f.file)
    if fs is None:
        return None
    fe = plan.files.get(f.file)
    for stmt in fs.imports:
        if stmt.line == f.line and is_authjs_spec(stmt.spec):
            kept = [s.local for s in stmt.specifiers if fe is None or id(s) not in fe.removed]
            if kept:
                return "still used here: " + ", ".join(kept)
            return "a side-effect or dynamic import: remove by hand"
    return None


def _to_patch(plan: _Plan) -> Patch:
    patch = Patch()
    rendered = _render_all(plan)
    for rel, (old, new, changes) in plan.other.items():
        rendered[rel] = (old, new, changes)
    entries: list[tuple[str, str | None, str | None, list[str], str]] = []
    for rel, (old, new, changes) in rendered.items():
        entries.append((rel, old, new, changes, "modify"))
    for rel, why in plan.deleted.items():
        entries.append((rel, plan.index.texts[rel], None, [why], "delete"))
    for rel, (text, changes) in plan.created.items():
        entries.append((rel, None, text, changes, "create"))
    for rel, old, new, changes, action in sorted(entries, key=lambda e: (e[0], e[4] != "delete")):
        diff = unified_diff(rel, old, new)
        if diff:
            patch.files.append(FilePatch(rel, action, diff, tuple(changes)))
    # what the patch rewrote: imports whose Auth.js names all went
    for rel, fe in plan.files.items():
        if rel in plan.deleted or rel not in rendered:
            continue
        for stmt in fe.fs.imports:
            if is_authjs_spec(stmt.spec) and stmt.specifiers and all(id(s) in fe.removed for s in stmt.specifiers):
                plan.done(rel, stmt.line, "import")
    for f in plan.report.findings:
        if (f.file, f.line, f.construct) in plan.handled:
            patch.rewritten += 1
            continue
        why = plan.why.get((f.file, f.line)) or _GENERIC_WHY.get(f.construct, "not rewritten mechanically")
        if f.file in plan.frozen:
            why = "the rewrite of this file did not parse: left for a hand edit"
        if f.construct == "dependency":
            why = plan.why.get((f.file, f.line), "still imported")
        if f.construct == "import":
            why = _import_left_why(plan, f) or why
        if f.construct == "env_name" and f.context == "code":
            why = "the app's code reads it: remove it with the code that needs it"
        patch.left.append(Left(f.file, f.line, f.construct, why))
    return patch
