"""Imports, exports and the Auth.js roles of names, followed across the app's files.

`FileSyntax` is what one file declares at its top level (from the syntax tree): its import and
export statements, `require()`s, the names a v5 `NextAuth(...)` call binds, and plain aliases
(`const auth = cache(uncachedAuth)`, `export const middleware = auth`). `ModuleGraph` resolves
module specifiers to files (relative paths, tsconfig/jsconfig `paths` and `baseUrl`, then the
`@/` and `~/` conventions) and answers "what Auth.js role does this name have here?", following
re-exports under new names (`export { useSession as useAuthSession } from "next-auth/react"`),
`export *`, and chains of them through several files.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from tree_sitter import Node

from console.appscan.syntax import Source, line, string_value
from console.appscan.tsconfig import TsConfigs

# imported name -> role, for names imported from next-auth modules
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
# names a v5 `NextAuth(...)` destructuring binds -> role
CONFIG_ROLES = {"auth": "auth", "signIn": "signIn", "signOut": "signOut", "handlers": "handlers"}
# wrappers that return the function they are given (React's request cache)
PASS_THROUGH = {"cache", "React.cache"}
CODE_EXTS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


def is_authjs_spec(spec: str) -> bool:
    return spec == "next-auth" or spec.startswith(("next-auth/", "@auth/", "@next-auth/"))


def is_clerk_spec(spec: str) -> bool:
    return spec == "@clerk/nextjs" or spec.startswith("@clerk/")


def is_package_spec(spec: str) -> bool:
    """A bare package import (not relative, not an `@/` or `~/` alias)."""
    return not spec.startswith((".", "/", "@/", "~/", "#"))


def authjs_role(spec: str, imported: str) -> str | None:
    if imported == "default" and spec == "next-auth":
        return "NextAuth"
    if imported == "default" and spec == "next-auth/middleware":
        return "withAuth"
    return NEXT_AUTH_ROLES.get(imported)


@dataclass
class Specifier:
    local: str
    imported: str  # "default", "*" (namespace) or the exported name
    node: Node | None = None  # the import_specifier / identifier node (the patch removes it)
    type_only: bool = False


@dataclass
class ImportStmt:
    spec: str
    line: int
    kind: str  # "import" | "export" | "require" | "dynamic"
    node: Node  # the whole statement (import/export), or the require()/import() call
    start_byte: int = 0
    specifiers: list[Specifier] = field(default_factory=list)
    type_only: bool = False  # `import type ...`
    star: bool = False  # `export * from`

    @property
    def default(self) -> str | None:
        return next((s.local for s in self.specifiers if s.imported == "default" and self.kind != "export"), None)

    @property
    def namespace(self) -> str | None:
        return next((s.local for s in self.specifiers if s.imported == "*"), None)

    @property
    def named(self) -> dict[str, str]:
        return {s.local: s.imported for s in self.specifiers if s.imported not in ("*",) and not (
            s.imported == "default" and self.kind != "export" and s.node is not None and s.node.type == "identifier")}

    def names_text(self) -> str:
        parts = []
        if self.default:
            parts.append(self.default)
        if self.namespace:
            parts.append(f"* as {self.namespace}")
        named = {k: v for k, v in self.named.items() if not (v == "default" and k == self.default)}
        if named:
            inner = ", ".join(imp if imp == loc else f"{imp} as {loc}" for loc, imp in named.items())
            parts.append("{ " + inner + " }")
        return ", ".join(parts)

    def describe(self) -> str:
        names = self.names_text()
        if self.kind == "require":
            return f'require("{self.spec}")' + (f" ({names})" if names else "")
        if self.kind == "dynamic":
            return f'import("{self.spec}")'
        word = "export" if self.kind == "export" else "import"
        if self.star and not names:
            return f'export * from "{self.spec}"'
        return f'{word} {names} from "{self.spec}"' if names else f'{word} "{self.spec}"'


@dataclass
class ExportRef:
    kind: str  # "local" (a top-level name of this file) | "from" (re-exported from spec) | "expr"
    name: str = ""  # local name, or the imported name for "from"
    spec: str = ""
    node: Node | None = None


@dataclass
class NextAuthCall:
    """`export const { auth, handlers, ... } = NextAuth(config)` (v5) or `const h = NextAuth(opts)` (v4)."""

    node: Node  # the declaration
    line: int
    roles: dict[str, str]  # local name -> role
    exported: bool
    v5: bool


@dataclass
class FileSyntax:
    source: Source
    imports: list[ImportStmt] = field(default_factory=list)
    exports: dict[str, ExportRef] = field(default_factory=dict)
    star_exports: list[ImportStmt] = field(default_factory=list)
    local_roles: dict[str, str] = field(default_factory=dict)  # from NextAuth(...) destructuring
    aliases: dict[str, str] = field(default_factory=dict)  # local -> the local it stands for
    nextauth_calls: list[NextAuthCall] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)  # top-level names declared here (not imported)

    @property
    def rel(self) -> str:
        return self.source.rel

    def import_of(self, local: str) -> tuple[ImportStmt, Specifier] | None:
        for stmt in self.imports:
            if stmt.kind in ("import", "require"):
                for s in stmt.specifiers:
                    if s.local == local:
                        return stmt, s
        return None


def summarize(source: Source) -> FileSyntax:
    """The top-level imports, exports and NextAuth bindings of one parsed file."""
    fs = FileSyntax(source)
    for child in source.root.named_children:
        if child.type == "import_statement":
            stmt = _import_statement(source, child)
            if stmt:
                fs.imports.append(stmt)
        elif child.type == "export_statement":
            _export_statement(fs, child)
        elif child.type in ("lexical_declaration", "variable_declaration"):
            _declaration(fs, child, exported=False)
        elif child.type in ("function_declaration", "generator_function_declaration", "class_declaration"):
            name = child.child_by_field_name("name")
            if name is not None:
                fs.declared.add(source.text_of(name))
    return fs


def add_calls(fs: FileSyntax, calls: list[tuple[int, dict[str, list[Node]]]]) -> None:
    """`require("x")` and `import("x")` anywhere in the file (from the calls query)."""
    source = fs.source
    for _, caps in calls:
        if "dynimport" in caps:
            spec = string_value(source, caps["dynspec"][0])
            if spec:
                node = caps["dynimport"][0]
                fs.imports.append(ImportStmt(spec, line(node), "dynamic", node, node.start_byte))
        elif "callee" in caps and source.text_of(caps["callee"][0]) == "require":
            call = caps["call"][0]
            args = call.child_by_field_name("arguments")
            first = args.named_children[0] if args is not None and args.named_child_count == 1 else None
            spec = string_value(source, first)
            if not spec:
                continue
            decl = call.parent
            if decl is not None and decl.type == "variable_declarator":
                stmt = ImportStmt(spec, line(decl.parent or decl), "require", call, (decl.parent or decl).start_byte)
                name = decl.child_by_field_name("name")
                if name is not None and name.type == "identifier":
                    stmt.specifiers.append(Specifier(source.text_of(name), "default", name))
                elif name is not None and name.type == "object_pattern":
                    for key, local, node in _pattern_names(source, name):
                        stmt.specifiers.append(Specifier(local, key, node))
                fs.imports.append(stmt)
            else:
                fs.imports.append(ImportStmt(spec, line(call), "dynamic", call, call.start_byte))
    fs.imports.sort(key=lambda s: s.start_byte)


def _import_statement(source: Source, node: Node) -> ImportStmt | None:
    spec = string_value(source, node.child_by_field_name("source"))
    if spec is None:
        return None
    stmt = ImportStmt(spec, line(node), "import", node, node.start_byte)
    stmt.type_only = _has_keyword(source, node, "type")
    clause = next((c for c in node.named_children if c.type == "import_clause"), None)
    if clause is None:
        return stmt
    for part in clause.named_children:
        if part.type == "identifier":
            stmt.specifiers.append(Specifier(source.text_of(part), "default", part, stmt.type_only))
        elif part.type == "namespace_import":
            ident = next((c for c in part.named_children if c.type == "identifier"), None)
            if ident is not None:
                stmt.specifiers.append(Specifier(source.text_of(ident), "*", part, stmt.type_only))
        elif part.type == "named_imports":
            for spec_node in part.named_children:
                if spec_node.type != "import_specifier":
                    continue
                name = spec_node.child_by_field_name("name")
                alias = spec_node.child_by_field_name("alias")
                imported = _name_text(source, name)
                local = source.text_of(alias) if alias is not None else imported
                type_only = stmt.type_only or _has_keyword(source, spec_node, "type")
                stmt.specifiers.append(Specifier(local, imported, spec_node, type_only))
    return stmt


def _has_keyword(source: Source, node: Node, word: str) -> bool:
    """True when one of `node`'s children is the keyword `word` (`import type`, `export default`).
    The bytes are looked at first: most statements do not say the word, and listing a node's
    children builds a Python object for each. (A node with an error can hold a zero-width MISSING
    keyword that is not in the bytes: those are listed.)"""
    if not node.has_error and source.data.find(word.encode(), node.start_byte, node.end_byte) == -1:
        return False
    return any(c.type == word for c in node.children)


def _name_text(source: Source, node: Node | None) -> str:
    if node is None:
        return ""
    if node.type == "string":
        return string_value(source, node) or ""
    return source.text_of(node)


def _export_statement(fs: FileSyntax, node: Node) -> None:
    source = fs.source
    spec = string_value(source, node.child_by_field_name("source"))
    clause = next((c for c in node.named_children if c.type == "export_clause"), None)
    if spec is not None:
        stmt = ImportStmt(spec, line(node), "export", node, node.start_byte)
        stmt.type_only = _has_keyword(source, node, "type")
        if clause is not None:
            for spec_node in clause.named_children:
                if spec_node.type != "export_specifier":
                    continue
                name = _name_text(source, spec_node.child_by_field_name("name"))
                alias = spec_node.child_by_field_name("alias")
                exported = _name_text(source, alias) if alias is not None else name
                stmt.specifiers.append(Specifier(exported, name, spec_node))
                fs.exports[exported] = ExportRef("from", name, spec)
        else:
            ns = next((c for c in node.named_children if c.type == "namespace_export"), None)
            if ns is not None:
                ident = ns.named_children[-1] if ns.named_children else None
                exported = _name_text(source, ident)
                stmt.specifiers.append(Specifier(exported, "*", ns))
                fs.exports[exported] = ExportRef("from", "*", spec)
            else:
                stmt.star = True
                fs.star_exports.append(stmt)
        fs.imports.append(stmt)
        return
    if clause is not None:  # export { a, b as c }
        for spec_node in clause.named_children:
            if spec_node.type == "export_specifier":
                name = _name_text(source, spec_node.child_by_field_name("name"))
                alias = spec_node.child_by_field_name("alias")
                fs.exports[_name_text(source, alias) if alias is not None else name] = ExportRef("local", name, node=node)
        return
    decl = node.child_by_field_name("declaration")
    is_default = _has_keyword(source, node, "default")
    if decl is not None:
        if decl.type in ("lexical_declaration", "variable_declaration"):
            for name in _declaration(fs, decl, exported=True):
                fs.exports[name] = ExportRef("local", name, node=node)
        else:
            name_node = decl.child_by_field_name("name")
            if name_node is not None:
                name = source.text_of(name_node)
                fs.declared.add(name)
                fs.exports["default" if is_default else name] = ExportRef("local", name, node=node)
            elif is_default:
                fs.exports["default"] = ExportRef("expr", node=decl)
        return
    value = node.child_by_field_name("value")
    if is_default and value is not None:
        if value.type == "identifier":
            fs.exports["default"] = ExportRef("local", source.text_of(value), node=node)
        else:
            fs.exports["default"] = ExportRef("expr", node=value)


def _pattern_names(source: Source, pattern: Node) -> list[tuple[str, str, Node]]:
    """(key, local, node) for `{ a, b: c, d: { e } }` (nested objects give their inner names
    with the outer key, so `handlers: { GET, POST }` -> ("handlers", "GET"), ("handlers", "POST"))."""
    out: list[tuple[str, str, Node]] = []
    for prop in pattern.named_children:
        if prop.type == "shorthand_property_identifier_pattern":
            name = source.text_of(prop)
            out.append((name, name, prop))
        elif prop.type == "pair_pattern":
            key = _name_text(source, prop.child_by_field_name("key"))
            value = prop.child_by_field_name("value")
            if value is None:
                continue
            if value.type == "identifier":
                out.append((key, source.text_of(value), prop))
            elif value.type == "object_pattern":
                out.extend((key, local, node) for _, local, node in _pattern_names(source, value))
            elif value.type == "assignment_pattern":
                left = value.child_by_field_name("left")
                if left is not None and left.type == "identifier":
                    out.append((key, source.text_of(left), prop))
        elif prop.type == "object_assignment_pattern":
            left = prop.child_by_field_name("left")
            if left is not None:
                name = source.text_of(left)
                out.append((name, name, prop))
    return out


def _declaration(fs: FileSyntax, decl: Node, *, exported: bool) -> list[str]:
    """Record the names a top-level `const`/`let`/`var` binds; returns them."""
    source = fs.source
    names: list[str] = []
    for declarator in decl.named_children:
        if declarator.type != "variable_declarator":
            continue
        name = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        if name is None:
            continue
        value = _unwrap(value)
        if name.type == "identifier":
            local = source.text_of(name)
            names.append(local)
            fs.declared.add(local)
            if value is None:
                continue
            if value.type == "identifier":
                fs.aliases[local] = source.text_of(value)
            elif value.type == "call_expression":
                callee = source.text_of(value.child_by_field_name("function"))
                args = value.child_by_field_name("arguments")
                arg_nodes = [a for a in args.named_children if a.type != "comment"] if args is not None else []
                if _is_nextauth(fs, callee):
                    fs.local_roles[local] = "NextAuth"
                    fs.nextauth_calls.append(NextAuthCall(decl, line(decl), {local: "NextAuth"}, exported, False))
                elif callee in PASS_THROUGH and len(arg_nodes) == 1 and arg_nodes[0].type == "identifier":
                    fs.aliases[local] = source.text_of(arg_nodes[0])
        elif name.type == "object_pattern":
            pairs = _pattern_names(source, name)
            names.extend(local for _, local, _ in pairs)
            fs.declared.update(local for _, local, _ in pairs)
            if value is not None and value.type == "call_expression" and _is_nextauth(
                fs, source.text_of(value.child_by_field_name("function"))
            ):
                roles = {local: CONFIG_ROLES.get(key, key) for key, local, _ in pairs}
                fs.local_roles.update(roles)
                fs.nextauth_calls.append(NextAuthCall(decl, line(decl), roles, exported, True))
    return names


def _unwrap(node: Node | None) -> Node | None:
    """`x as T`, `x satisfies T`, `(x)`, `x!` -> x."""
    while node is not None and node.type in (
        "as_expression", "satisfies_expression", "parenthesized_expression", "non_null_expression",
    ):
        inner = node.named_children[0] if node.named_children else None
        if inner is None:
            break
        node = inner
    return node


def _is_nextauth(fs: FileSyntax, callee: str) -> bool:
    if callee == "NextAuth":
        return True
    found = fs.import_of(callee)
    return bool(found and found[0].spec == "next-auth" and found[1].imported == "default")


# --- across files ------------------------------------------------------------------------


class ModuleGraph:
    def __init__(self, files: dict[str, FileSyntax], code_rels: set[str], tsconfigs: TsConfigs,
                 project_dir_of) -> None:
        self.files = files  # parsed files only
        self.code_rels = code_rels  # every code file read (parsed or not)
        self.tsconfigs = tsconfigs
        self.project_dir_of = project_dir_of
        self._resolved: dict[tuple[str, str], str | None] = {}

    # resolution ----------------------------------------------------------------------
    def resolve(self, spec: str, from_rel: str) -> str | None:
        """The app file `spec` names when imported from `from_rel`, or None (a package, or not found)."""
        key = (spec, posixpath.dirname(from_rel))
        if key in self._resolved:
            return self._resolved[key]
        found = self._resolve(spec, from_rel)
        self._resolved[key] = found
        return found

    def _resolve(self, spec: str, from_rel: str) -> str | None:
        if is_authjs_spec(spec) or is_clerk_spec(spec):
            return None
        here = posixpath.dirname(from_rel)
        if spec.startswith("."):
            return self._file(posixpath.normpath(posixpath.join(here, spec)))
        if spec.startswith("/"):
            return None
        config = self.tsconfigs.for_file(from_rel)
        if config is not None:
            for cand in config.candidates(spec):
                hit = self._file(cand)
                if hit:
                    return hit
            if config.paths:
                return None  # tsconfig paths decide; a miss is a package
        if spec.startswith(("@/", "~/")):  # the usual alias when no tsconfig says otherwise
            project = self.project_dir_of(from_rel)
            tail = spec[2:]
            for base in (project, posixpath.join(project, "src") if project else "src"):
                hit = self._file(posixpath.normpath(posixpath.join(base, tail)) if base else tail)
                if hit:
                    return hit
        return None

    def _file(self, base: str) -> str | None:
        if base.startswith(".."):
            return None
        if base in self.code_rels:
            return base
        stem = base
        for ext in (".js", ".jsx", ".mjs", ".cjs"):  # TS ESM style: "./x.js" means x.ts
            if base.endswith(ext):
                stem = base[: -len(ext)]
                break
        for ext in CODE_EXTS:
            if stem + ext in self.code_rels:
                return stem + ext
        for ext in CODE_EXTS:
            cand = posixpath.join(base, "index" + ext)
            if cand in self.code_rels:
                return cand
        return None

    # roles --------------------------------------------------------------------------------
    def binding_role(self, rel: str, local: str, depth: int = 0) -> tuple[str, str] | None:
        """(role, where it comes from) of a top-level name of `rel`, or None."""
        fs = self.files.get(rel)
        if fs is None or depth > 12:
            return None
        if local in fs.local_roles:
            return fs.local_roles[local], ""
        if local in fs.aliases and fs.aliases[local] != local:
            return self.binding_role(rel, fs.aliases[local], depth + 1)
        found = fs.import_of(local)
        if found is None:
            return None
        stmt, spec = found
        if is_authjs_spec(stmt.spec):
            role = authjs_role(stmt.spec, spec.imported)
            return (role, stmt.spec) if role else None
        target = self.resolve(stmt.spec, rel)
        if target is None or spec.imported == "*":
            return None
        hit = self.export_role(target, spec.imported, depth + 1)
        return (hit[0], stmt.spec) if hit else None

    def export_role(self, rel: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        fs = self.files.get(rel)
        if fs is None or depth > 12:
            return None
        ref = fs.exports.get(name)
        if ref is not None:
            if ref.kind == "local":
                return self.binding_role(rel, ref.name, depth + 1)
            if ref.kind == "from":
                if is_authjs_spec(ref.spec):
                    role = authjs_role(ref.spec, ref.name)
                    return (role, ref.spec) if role else None
                target = self.resolve(ref.spec, rel)
                return self.export_role(target, ref.name, depth + 1) if target else None
            return None
        for stmt in fs.star_exports:
            if is_authjs_spec(stmt.spec):
                role = authjs_role(stmt.spec, name)
                if role:
                    return role, stmt.spec
            else:
                target = self.resolve(stmt.spec, rel)
                if target:
                    hit = self.export_role(target, name, depth + 1)
                    if hit:
                        return hit
        return None

    def exported_roles(self, rel: str, depth: int = 0) -> dict[str, str]:
        """Every exported name of `rel` that carries an Auth.js role."""
        fs = self.files.get(rel)
        if fs is None:
            return {}
        out: dict[str, str] = {}
        for name in fs.exports:
            hit = self.export_role(rel, name)
            if hit:
                out[name] = hit[0]
        for stmt in fs.star_exports:
            if is_authjs_spec(stmt.spec):
                for name, role in NEXT_AUTH_ROLES.items():
                    out.setdefault(name, role)
            elif depth < 8:
                target = self.resolve(stmt.spec, rel)
                if target and target != rel:
                    for name, role in self.exported_roles(target, depth + 1).items():
                        out.setdefault(name, role)
        return out

    def importers(self, rel: str) -> list[tuple[str, ImportStmt]]:
        """(file, statement) for every parsed file whose import/export/require names `rel`."""
        out = []
        for other, fs in self.files.items():
            for stmt in fs.imports:
                if is_authjs_spec(stmt.spec) or is_clerk_spec(stmt.spec):
                    continue
                if self.resolve(stmt.spec, other) == rel:
                    out.append((other, stmt))
        return out
