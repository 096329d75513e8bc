"""package.json dependencies and .env* variable NAMES.

An env file's values are never kept: the parser returns names and lines only,
and steps over multi-line quoted values so that a line inside one (a PEM key,
say) is never mistaken for a name.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass


class LineIndex:
    """Offset -> 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


DEP_SECTIONS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")
_AUTHJS_PACKAGE = re.compile(r"^(next-auth|@auth/[\w.-]+|@next-auth/[\w.-]+)$")
CLERK_PACKAGE = "@clerk/nextjs"


@dataclass(frozen=True)
class Dependency:
    name: str
    spec: str
    section: str
    line: int


def package_dependencies(text: str) -> list[Dependency]:
    """Auth.js and @clerk/nextjs dependencies, each with the line of its key."""
    index = LineIndex(text)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    found: list[Dependency] = []
    if isinstance(data, dict):
        for section in DEP_SECTIONS:
            deps = data.get(section)
            if not isinstance(deps, dict):
                continue
            sec = re.search(r'"%s"\s*:' % re.escape(section), text)
            start = sec.end() if sec else 0
            for name, spec in deps.items():
                if not (_AUTHJS_PACKAGE.match(name) or name == CLERK_PACKAGE):
                    continue
                key = re.compile(r'"%s"\s*:' % re.escape(name)).search(text, start)
                line = index.line(key.start()) if key else 1
                found.append(Dependency(name, str(spec), section, line))
        return found
    # not valid JSON: still report the keys we can see
    for m in re.finditer(r'"(next-auth|@auth/[\w.-]+|@next-auth/[\w.-]+|@clerk/nextjs)"\s*:\s*"([^"\n]*)"', text):
        found.append(Dependency(m.group(1), m.group(2), "unknown", index.line(m.start())))
    return found


def all_dependencies(text: str) -> dict[str, str]:
    """name -> spec over every dependency section ({} when the file is not valid JSON)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for section in DEP_SECTIONS:
            deps = data.get(section)
            if isinstance(deps, dict):
                for name, spec in deps.items():
                    out.setdefault(name, str(spec))
    return out


def is_authjs_package(name: str) -> bool:
    return bool(_AUTHJS_PACKAGE.match(name))


_ENV_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def env_names(text: str) -> list[tuple[str, int]]:
    """(NAME, line) for every assignment; values are read past, never returned."""
    names: list[tuple[str, int]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _ENV_NAME.match(lines[i])
        if not m:
            i += 1
            continue
        names.append((m.group(1), i + 1))
        rest = m.group(2).lstrip()
        i += 1
        if rest[:1] in ('"', "'", "`"):
            quote = rest[0]
            if not _closes(rest[1:], quote):
                while i < len(lines) and not _closes(lines[i], quote):
                    i += 1
                i += 1  # the closing line
    return names


def _closes(s: str, quote: str) -> bool:
    j = 0
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == quote:
            return True
        j += 1
    return False


def is_example_env(name: str) -> bool:
    """`.env.example` and friends document names; Next.js does not load them."""
    return any(name.endswith(suffix) for suffix in (".example", ".sample", ".template", ".dist", ".defaults"))
