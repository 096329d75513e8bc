"""Parsing JavaScript/TypeScript with tree-sitter, and the few queries the scanner runs.

One grammar per file suffix: `.tsx` -> TSX, `.ts/.mts/.cts` -> TypeScript (no JSX there, as
in tsc), `.js/.jsx/.mjs/.cjs` -> JavaScript (which parses JSX). Parsing is C code (about a
millisecond for a 6 KB component); the queries below also run in C and hand back only the
nodes the detectors look at, so Python never walks a whole tree.

Offsets: tree-sitter works in UTF-8 bytes. `Source.data` is the file's bytes and every edit
the patch makes is a byte range of it; lines are `node.start_point.row + 1`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

TSX, TS, JS = "tsx", "typescript", "javascript"


@lru_cache(maxsize=None)
def language(name: str) -> Language:
    if name == TSX:
        return Language(tree_sitter_typescript.language_tsx())
    if name == TS:
        return Language(tree_sitter_typescript.language_typescript())
    return Language(tree_sitter_javascript.language())


def grammar_for(rel: str) -> str:
    if rel.endswith(".tsx"):
        return TSX
    if rel.endswith((".ts", ".mts", ".cts")):
        return TS
    return JS


_local = threading.local()  # a Parser is not thread-safe; the console scans in a worker thread


def _parser(name: str) -> Parser:
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(name)
    if parser is None:
        parser = parsers[name] = Parser(language(name))
    return parser


@dataclass
class Source:
    """A parsed file: its text, bytes and syntax tree."""

    rel: str
    text: str
    data: bytes
    tree: Tree
    grammar: str

    @property
    def root(self) -> Node:
        return self.tree.root_node

    def text_of(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def parse(rel: str, text: str, grammar: str | None = None) -> Source:
    data = text.encode("utf-8")
    name = grammar or grammar_for(rel)
    return Source(rel, text, data, _parser(name).parse(data), name)


def parses_cleanly(rel: str, text: str) -> bool:
    """True when tree-sitter finds no ERROR or MISSING node (the patch's self-check)."""
    return not parse(rel, text).root.has_error


def line(node: Node) -> int:
    return node.start_point[0] + 1


def string_value(source: Source, node: Node | None) -> str | None:
    """The value of a string literal (or a template without `${}`), else None."""
    if node is None:
        return None
    if node.type == "string":
        raw = source.text_of(node)[1:-1]
    elif node.type == "template_string" and not any(c.type == "template_substitution" for c in node.children):
        raw = source.text_of(node)[1:-1]
    else:
        return None
    return raw.replace("\\/", "/").replace('\\"', '"').replace("\\'", "'")


# --- queries -----------------------------------------------------------------------------
# Compiled once per grammar. JSX patterns only exist in the TSX and JavaScript grammars.

_CALLS = """
(call_expression function: (identifier) @callee) @call
"""
# only run where they can match: `* as NA` namespaces (NA.useSession()) and `import("x")`
_MCALLS = """
(call_expression function: (member_expression object: (identifier) @obj property: (property_identifier) @prop)) @mcall
"""
_DYNAMIC = """
(call_expression function: (import) arguments: (arguments (string) @dynspec)) @dynimport
"""
_JSX = """
(jsx_opening_element name: (identifier) @jsxname) @jsxopen
(jsx_self_closing_element name: (identifier) @jsxname) @jsxopen
(jsx_expression (identifier) @jsxref)
"""
_MEMBERS = """
((member_expression property: (property_identifier) @mprop) @member
  (#any-of? @mprop "id" "sub" "userId"))
((member_expression
   object: (member_expression object: (identifier) @proc property: (property_identifier) @envword)
   property: (property_identifier) @envname) @env
  (#eq? @proc "process") (#eq? @envword "env") (#match? @envname "^(NEXTAUTH|AUTH)_"))
((subscript_expression
   object: (member_expression object: (identifier) @proc2 property: (property_identifier) @envword2)
   index: (string (string_fragment) @envkey)) @envsub
  (#eq? @proc2 "process") (#eq? @envword2 "env") (#match? @envkey "^(NEXTAUTH|AUTH)_"))
((binary_expression left: (identifier) @cmpid right: (string (string_fragment) @cmpstr)) @cmp
  (#any-of? @cmpstr "authenticated" "unauthenticated" "loading"))
((binary_expression left: (string (string_fragment) @cmpstr) right: (identifier) @cmpid) @cmp
  (#any-of? @cmpstr "authenticated" "unauthenticated"))
((pair key: (property_identifier) @pkey value: (_) @pvalue) @pair
  (#any-of? @pkey "pages" "matcher"))
"""


@lru_cache(maxsize=None)
def _query(grammar: str, kind: str) -> Query:
    text = {"calls": _CALLS, "mcalls": _MCALLS, "dynamic": _DYNAMIC, "jsx": _JSX, "members": _MEMBERS}[kind]
    return Query(language(grammar), text)


def captures(source: Source, kind: str) -> list[tuple[int, dict[str, list[Node]]]]:
    """Matches of one query over the whole file: (pattern index, {capture: nodes}).

    "calls" also holds the namespace calls when the file has `* as X` and the dynamic imports
    when it says `import(`, so one list serves every caller."""
    if kind == "jsx" and source.grammar == TS:
        return []
    found = QueryCursor(_query(source.grammar, kind)).matches(source.root)
    if kind == "calls":
        if b"* as " in source.data:
            found += QueryCursor(_query(source.grammar, "mcalls")).matches(source.root)
        if b"import(" in source.data or b"import (" in source.data:
            found += QueryCursor(_query(source.grammar, "dynamic")).matches(source.root)
    return found


# --- calls without a whole-tree query ---------------------------------------------------------
# Running the calls query walks every node of the file in C: about as long as the parse itself
# (0.3 ms for a 6 KB component). Most files only need to know whether a few names are called,
# so these look the names up in the bytes (a superset: every identifier with that text is there)
# and ask the tree which node starts there (a descent of the tree's depth, not a walk of it).
# The result is the calls query's matches for those names, in the same (document) order.


def needs_all_calls(source: Source) -> bool:
    """True when a file can hold `require(...)`, `import(...)` or a `NS.name()` of a namespace
    import: those come from the calls query as it is (see `captures`)."""
    data = source.data
    return b"require" in data or b"* as " in data or b"import(" in data or b"import (" in data


def _callee_at(source: Source, start: int, end: int) -> tuple[Node, Node] | None:
    """(identifier, call) when the identifier spanning exactly [start, end) is a call's function."""
    node = source.root.descendant_for_byte_range(start, end)
    if node is None or node.type != "identifier" or node.start_byte != start or node.end_byte != end:
        return None
    parent = node.parent
    if parent is None or parent.type != "call_expression" or parent.child_by_field_name("function") != node:
        return None
    return node, parent


def calls_named(source: Source, names) -> list[tuple[int, dict[str, list[Node]]]]:
    """The calls query's `f(...)` matches whose callee is one of `names`, in document order
    (what `captures(source, "calls")` holds for them, without walking the tree)."""
    data = source.data
    hits: dict[int, tuple[Node, Node]] = {}
    for name in names:
        needle = name.encode("utf-8")
        if not needle:
            continue
        at = data.find(needle)
        while at != -1:
            if at not in hits:
                found = _callee_at(source, at, at + len(needle))
                if found is not None:
                    hits[at] = found
            at = data.find(needle, at + 1)
    return [(0, {"callee": [hits[at][0]], "call": [hits[at][1]]}) for at in sorted(hits)]


_HOOK_BYTES = re.compile(rb"use[A-Z]")


def calls_a_hook(source: Source) -> bool:
    """True when the file calls a `useX(...)` function (an identifier callee starting use[A-Z])."""
    for m in _HOOK_BYTES.finditer(source.data):
        node = source.root.descendant_for_byte_range(m.start(), m.end())
        # the identifier that starts here, if any (it can be longer than the 4 bytes matched)
        if node is not None and node.type == "identifier" and node.start_byte == m.start():
            parent = node.parent
            if parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == node:
                return True
    return False


def identifiers(source: Source, names: set[str]) -> list[Node]:
    """Every `identifier` node whose text is one of `names` (for the patch's use analysis).

    Shorthand properties (`{ session }`) are `shorthand_property_identifier` nodes and
    are returned too, so a use hidden in an object literal is never missed."""
    if not names:
        return []
    found = QueryCursor(_ident_query(source.grammar, tuple(sorted(names)))).captures(source.root).get("id", [])
    return sorted(found, key=lambda n: n.start_byte)


@lru_cache(maxsize=512)
def _ident_query(grammar: str, names: tuple[str, ...]) -> Query:
    alts = " ".join(f'"{n}"' for n in names)
    return Query(
        language(grammar),
        f"((identifier) @id (#any-of? @id {alts}))\n"
        f"((shorthand_property_identifier) @id (#any-of? @id {alts}))\n"
        f"((shorthand_property_identifier_pattern) @id (#any-of? @id {alts}))",
    )


def directive(source: Source) -> str | None:
    """"use client" / "use server" at the top of the file (comments may come first)."""
    for child in source.root.named_children:
        if child.type in ("comment", "hash_bang_line"):
            continue
        if child.type == "expression_statement" and child.named_child_count == 1:
            inner = child.named_children[0]
            value = string_value(source, inner) if inner.type == "string" else None
            if value in ("use client", "use server"):
                return value.split()[1]
            if value is not None:
                continue  # another directive ("use strict")
        return None
    return None


def walk_up(node: Node, types: tuple[str, ...]) -> Node | None:
    cur = node.parent
    while cur is not None:
        if cur.type in types:
            return cur
        cur = cur.parent
    return None


FUNCTION_TYPES = (
    "function_declaration",
    "function_expression",
    "arrow_function",
    "method_definition",
    "generator_function_declaration",
    "function",
)
