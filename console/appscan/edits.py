"""Byte-range edits of one file, its import statements, and unified diffs that `git apply` takes.

An `Edit` replaces `data[start:end]`. Replacement text may name Clerk's exports as
`\\x00name\\x00` placeholders: `FileEdits.render()` turns each into the local name it got
(`auth`, or `clerkAuth` when the file still binds its own `auth`) and writes the import.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from console.appscan.modules import FileSyntax, ImportStmt, Specifier

CLIENT_SPEC = "@clerk/nextjs"
SERVER_SPEC = "@clerk/nextjs/server"
SERVER_NAMES = {"auth", "currentUser", "getAuth", "clerkMiddleware", "createRouteMatcher", "clerkClient"}
_PLACEHOLDER = re.compile(r"\x00(\w+)\x00")


def clerk(name: str) -> str:
    return f"\x00{name}\x00"


@dataclass
class Edit:
    start: int
    end: int
    text: str


@dataclass
class FileEdits:
    fs: FileSyntax
    edits: list[Edit] = field(default_factory=list)
    removed: set[int] = field(default_factory=set)  # id() of Specifier objects to drop
    changes: list[str] = field(default_factory=list)

    def overlaps(self, start: int, end: int) -> bool:
        return any(e.start < end and start < e.end for e in self.edits)

    def add(self, start: int, end: int, text: str) -> None:
        self.edits.append(Edit(start, end, text))

    def render(self, still_bound: set[str]) -> str:
        """The new text: site edits, dropped import specifiers, Clerk imports added."""
        source = self.fs.source
        data = source.data
        edits = list(self.edits)
        wanted: dict[str, dict[str, str]] = {}  # spec -> name -> local
        taken = set(still_bound)

        def local_for(name: str) -> str:
            spec = SERVER_SPEC if name in SERVER_NAMES else CLIENT_SPEC
            got = wanted.setdefault(spec, {})
            if name not in got:
                local = name
                if local in taken:
                    local = "clerk" + name[0].upper() + name[1:]
                got[name] = local
            return got[name]

        rendered = []
        for e in edits:
            rendered.append(Edit(e.start, e.end, _PLACEHOLDER.sub(lambda m: local_for(m.group(1)), e.text)))
        # import statements: drop specifiers, merge Clerk names into an existing Clerk import
        quote, semi = _style(self.fs)
        merged_specs: set[str] = set()
        for stmt in self.fs.imports:
            if stmt.kind != "import":
                continue
            gone = [s for s in stmt.specifiers if id(s) in self.removed]
            adds = wanted.get(stmt.spec) if stmt.spec in wanted and not stmt.type_only and not stmt.namespace else None
            if not gone and not adds:
                continue
            keep = [s for s in stmt.specifiers if id(s) not in self.removed]
            extra = []
            if adds:
                have = {s.imported: s.local for s in keep}
                extra = [(n, loc) for n, loc in adds.items() if have.get(n) != loc]
                merged_specs.add(stmt.spec)
            start, end = stmt.node.start_byte, stmt.node.end_byte
            if not keep and not extra:
                start, end = _whole_lines(data, start, end)
                rendered.append(Edit(start, end, ""))
            else:
                rendered.append(Edit(start, end, _import_text(source, stmt, keep, extra, quote, semi)))
        new_imports = []
        for spec in (CLIENT_SPEC, SERVER_SPEC):
            if spec in wanted and spec not in merged_specs:
                names = ", ".join(n if n == loc else f"{n} as {loc}" for n, loc in sorted(wanted[spec].items()))
                new_imports.append(f"import {{ {names} }} from {quote}{spec}{quote}{semi}\n")
        if new_imports:
            at = _import_insert_at(self.fs)
            text = "".join(new_imports)
            if at > 0 and data[at - 1 : at] != b"\n":
                text = "\n" + text
            rendered.append(Edit(at, at, text))
        rendered.sort(key=lambda e: (e.start, e.end))
        out = bytearray()
        pos = 0
        for e in rendered:
            if e.start < pos:
                raise ValueError(f"{source.rel}: overlapping edits at byte {e.start}")
            out += data[pos : e.start]
            out += e.text.encode("utf-8")
            pos = e.end
        out += data[pos:]
        return out.decode("utf-8")


def _style(fs: FileSyntax) -> tuple[str, str]:
    """(quote, semicolon) as the file's first import writes them."""
    for stmt in fs.imports:
        if stmt.kind == "import":
            text = fs.source.text_of(stmt.node)
            quote = "'" if re.search(r"from\s*'", text) or text.startswith("import '") else '"'
            return quote, ";" if text.rstrip().endswith(";") else ""
    return '"', ";"


def _import_text(source, stmt: ImportStmt, keep: list[Specifier], extra: list[tuple[str, str]],
                 quote: str, semi: str) -> str:
    original = source.text_of(stmt.node)
    default = next((s.local for s in keep if s.imported == "default" and s.node is not None
                    and s.node.type == "identifier"), None)
    namespace = next((s.local for s in keep if s.imported == "*"), None)
    named = []
    for s in keep:
        if s.local in (default, namespace) and s.imported in ("default", "*"):
            continue
        piece = s.imported if s.imported == s.local else f"{s.imported} as {s.local}"
        if s.type_only and not stmt.type_only:
            piece = "type " + piece
        named.append(piece)
    named += [n if n == loc else f"{n} as {loc}" for n, loc in extra]
    parts = []
    if default:
        parts.append(default)
    if namespace:
        parts.append(f"* as {namespace}")
    if named:
        if "\n" in original and len(named) > 1:
            indent = re.search(r"\n([ \t]+)", original)
            pad = indent.group(1) if indent else "  "
            parts.append("{\n" + "".join(f"{pad}{n},\n" for n in named) + "}")
        else:
            parts.append("{ " + ", ".join(named) + " }")
    q = original[original.find("from") + 4 :].strip()[:1] if "from" in original else quote
    q = q if q in ("'", '"') else quote
    end_semi = ";" if original.rstrip().endswith(";") else ""
    return f"import {'type ' if stmt.type_only else ''}{', '.join(parts)} from {q}{stmt.spec}{q}{end_semi}"


def _whole_lines(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole lines when nothing else is on them."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", end)
    line_end = len(data) if line_end < 0 else line_end + 1
    if data[line_start:start].strip() == b"" and data[end:line_end].strip() in (b"", b";"):
        return line_start, line_end
    return start, end


def _import_insert_at(fs: FileSyntax) -> int:
    """After the last top-level import, else after the directives, else at the top."""
    last = None
    for stmt in fs.imports:
        if stmt.kind == "import" and stmt.node.parent is not None and stmt.node.parent.type == "program":
            last = stmt.node
    data = fs.source.data
    if last is not None:
        nl = data.find(b"\n", last.end_byte)
        return len(data) if nl < 0 else nl + 1
    at = 0
    for child in fs.source.root.named_children:
        if child.type == "comment":
            continue
        if child.type == "expression_statement" and child.named_child_count == 1 and child.named_children[0].type == "string":
            nl = data.find(b"\n", child.end_byte)
            at = len(data) if nl < 0 else nl + 1
            continue
        break
    return at


def remove_lines(data: bytes, node) -> Edit:
    start, end = _whole_lines(data, node.start_byte, node.end_byte)
    return Edit(start, end, "")


# --- unified diffs ---------------------------------------------------------------------------

def unified_diff(path: str, old: str | None, new: str | None) -> str:
    """A git-style diff of one file: `old` None = created, `new` None = deleted."""
    a = [] if old is None else old.splitlines(keepends=True)
    b = [] if new is None else new.splitlines(keepends=True)
    head = [f"diff --git a/{path} b/{path}\n"]
    if old is None:
        head.append("new file mode 100644\n")
    elif new is None:
        head.append("deleted file mode 100644\n")
    from_name = "/dev/null" if old is None else f"a/{path}"
    to_name = "/dev/null" if new is None else f"b/{path}"
    body = []
    for n, piece in enumerate(difflib.unified_diff(a, b, fromfile=from_name, tofile=to_name, lineterm="", n=3)):
        if n < 2:  # the ---/+++ lines
            body.append(piece + "\n")
        elif piece.startswith("@@"):
            body.append(piece + "\n")
        else:
            body.append(piece if piece.endswith("\n") else piece + "\n\\ No newline at end of file\n")
    if not body:
        return ""
    return "".join(head + body)
