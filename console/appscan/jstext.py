"""Just enough JavaScript lexing to scan source text line by line.

No parser: `code_view()` blanks comments (keeping every newline and offset, so a
match's offset still gives its 1-based line), `LineIndex` turns offsets into
lines, and `string_literals()` pulls the literal strings out of a span (for
`config.matcher`). Strings stay in the code view: import specifiers and
matcher routes live in them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# after one of these (or a keyword below) a `/` starts a regex literal, not a division
_REGEX_PRECEDERS = set("(,=:[!&|?{};+-*%<>~^")
_REGEX_KEYWORDS = ("return", "typeof", "case", "do", "else", "in", "of", "void", "yield", "await")


class LineIndex:
    """Offset -> 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


_TOKEN = re.compile(r"//|/\*|[\"'`/]")
_WORD_BEFORE = re.compile(r"([A-Za-z_$][\w$]*)\s*$")


def code_view(text: str) -> str:
    """`text` with `//` and `/* */` comments replaced by spaces (newlines kept).

    Strings, template literals and regex literals are stepped over so that a
    `//` inside them is not taken for a comment. A quote that is really JSX
    text (`Don't`) is closed at the end of its line, so a mistake never spreads
    past one line. Jumps from token to token with a regex: fast on big files.
    """
    out: list[str] | None = None
    n = len(text)
    i = 0
    while True:
        m = _TOKEN.search(text, i)
        if m is None:
            break
        tok = m.group(0)
        at = m.start()
        if tok == "//" or tok == "/*":
            if tok == "//":
                j = text.find("\n", at)
                j = n if j < 0 else j
            else:
                j = text.find("*/", at + 2)
                j = n if j < 0 else j + 2
            if out is None:
                out = list(text)
            for k in range(at, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif tok in "'\"":
            i = _skip_string(text, at, tok)
        elif tok == "`":
            i = _skip_template(text, at)
        else:  # a lone "/": division or the start of a regex literal
            j = _skip_regex(text, at) if _regex_may_start(text, at) else None
            i = j if j is not None else at + 1
    return text if out is None else "".join(out)


def _regex_may_start(text: str, at: int) -> bool:
    k = at - 1
    while k >= 0 and text[k] in " \t\r\n":
        k -= 1
    if k < 0 or text[k] in _REGEX_PRECEDERS:
        return True
    word = _WORD_BEFORE.search(text, max(0, k - 12), k + 1)
    return bool(word and word.group(1) in _REGEX_KEYWORDS)


def _skip_string(text: str, i: int, quote: str) -> int:
    n = len(text)
    j = i + 1
    while j < n:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == quote:
            return j + 1
        if ch == "\n":  # JS strings do not span lines: this was JSX text
            return j
        j += 1
    return n


def _skip_template(text: str, i: int) -> int:
    n = len(text)
    j = i + 1
    depth = 0
    while j < n:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if depth == 0 and ch == "`":
            return j + 1
        if ch == "$" and j + 1 < n and text[j + 1] == "{":
            depth += 1
            j += 2
            continue
        if depth and ch == "}":
            depth -= 1
        j += 1
    return n


def _skip_regex(text: str, i: int) -> int | None:
    """End of the regex literal starting at `i`, or None if it is not one."""
    n = len(text)
    j = i + 1
    in_class = False
    while j < n:
        ch = text[j]
        if ch == "\n":
            return None
        if ch == "\\":
            j += 2
            continue
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "/" and not in_class:
            j += 1
            while j < n and text[j].isalpha():
                j += 1
            return j
        j += 1
    return None


@dataclass(frozen=True)
class Literal:
    value: str
    offset: int


_LITERAL = re.compile(r"""(?P<q>["'`])(?P<v>(?:\\.|(?!(?P=q))[^\\\n])*)(?P=q)""")


def string_literals(text: str, start: int, end: int) -> list[Literal]:
    """Literal strings between `start` and `end` (templates with `${` are not literal)."""
    found = []
    for m in _LITERAL.finditer(text, start, end):
        value = m.group("v")
        if m.group("q") == "`" and "${" in value:
            continue
        found.append(Literal(value.replace("\\/", "/"), m.start()))
    return found


def matching_close(text: str, open_at: int) -> int:
    """Offset just past the bracket that closes the one at `open_at` (strings skipped)."""
    pairs = {"[": "]", "{": "}", "(": ")"}
    stack = [pairs[text[open_at]]]
    i = open_at + 1
    n = len(text)
    while i < n and stack:
        ch = text[i]
        if ch in "'\"":
            i = _skip_string(text, i, ch)
            continue
        if ch == "`":
            i = _skip_template(text, i)
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch == stack[-1]:
            stack.pop()
        i += 1
    return i
