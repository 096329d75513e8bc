"""Walking the project: which files are read, how, and which are skipped.

Nothing is executed and nothing is imported from the project: every file is
read as bytes with a size cap and decoded as UTF-8. A file with a NUL byte, or
that does not decode, or is over the cap, is skipped and counted.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

PRUNED_DIRS = frozenset(
    {"node_modules", ".next", "out", "build", "dist", ".git", "coverage", ".turbo", ".vercel"}
)
CODE_SUFFIXES = frozenset({".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts"})
DEFAULT_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Candidate:
    path: Path
    rel: str  # relative, "/" separators
    kind: str  # "code" | "package" | "env" | "tsconfig" | "schema"


def kind_of(name: str) -> str | None:
    if name == "package.json":
        return "package"
    if name in ("tsconfig.json", "jsconfig.json"):
        return "tsconfig"
    if name.endswith(".prisma") or name.endswith(".sql"):
        return "schema"  # read for the user id column type (userids.py)
    if name == ".env" or name.startswith(".env."):
        return "env"
    dot = name.rfind(".")
    if dot > 0 and name[dot:] in CODE_SUFFIXES and not name.endswith(".d.ts"):
        return "code"
    return None


def walk(root: Path) -> tuple[list[Candidate], int, list[str]]:
    """(candidate files in a stable order, pruned dir count, unreadable dirs)."""
    found: list[Candidate] = []
    pruned = 0
    unreadable: list[str] = []

    def onerror(err: OSError) -> None:
        if err.filename:
            unreadable.append(_rel(root, Path(err.filename)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        keep = []
        for d in sorted(dirnames):
            if d in PRUNED_DIRS:
                pruned += 1
            else:
                keep.append(d)
        dirnames[:] = keep
        base = Path(dirpath)
        for name in sorted(filenames):
            kind = kind_of(name)
            if kind is not None:
                path = base / name
                found.append(Candidate(path, _rel(root, path), kind))
    return found, pruned, unreadable


def read_text(path: Path, max_bytes: int) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason) — reason is "too large", "binary", "undecodable", "unreadable"."""
    try:
        st = path.stat()  # follows a symlinked file; only regular files are read
        if not stat.S_ISREG(st.st_mode):
            return None, "unreadable"
        if st.st_size > max_bytes:
            return None, "too large"
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError:
        return None, "unreadable"
    if len(data) > max_bytes:  # grew since stat
        return None, "too large"
    if b"\x00" in data:
        return None, "binary"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, "undecodable"


def _rel(root: Path, path: Path) -> str:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    # a file name that is not valid UTF-8 must still print and go into JSON
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
