"""tsconfig.json / jsconfig.json: `baseUrl`, `paths` and `extends`, as TypeScript reads them.

- The files are JSONC (comments, trailing commas): both are stripped before `json.loads`.
- `extends` (a string or, since TS 5.0, a list) is followed: relative paths from the config's
  folder, package paths (`@tsconfig/next/tsconfig.json`) from the nearest `node_modules` that
  holds them. Later entries and the file itself override earlier ones, option by option.
- `paths` targets resolve against `baseUrl` when one is set (in the config that set it), else
  against the folder of the config that declared `paths` (TypeScript >= 4.1).
- A file uses the nearest tsconfig.json (or jsconfig.json) in its folder or above, up to the
  scanned root, as Next.js does for its own path aliases.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_NAMES = ("tsconfig.json", "jsconfig.json")


def load_jsonc(text: str) -> object:
    """JSON with comments and trailing commas -> Python; raises ValueError when broken."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch in "}]":
            # drop a trailing comma before this bracket
            k = len(out) - 1
            while k >= 0 and out[k].isspace():
                k -= 1
            if k >= 0 and out[k] == ",":
                out[k] = ""
            out.append(ch)
            i += 1
        else:
            out.append(ch)
            i += 1
    return json.loads("".join(out))


@dataclass
class PathsConfig:
    """What module resolution needs from one effective tsconfig."""

    file: str  # the config's path relative to the scanned root ("" when none)
    base_url: str | None = None  # folder, relative to the root ("" = the root itself)
    paths: list[tuple[str, list[str]]] = field(default_factory=list)  # pattern -> targets (root-relative)

    def candidates(self, spec: str) -> list[str]:
        """Root-relative paths (without extension handling) a bare `spec` may mean."""
        found: list[str] = []
        best: tuple[int, list[str]] | None = None
        for pattern, targets in self.paths:
            if "*" in pattern:
                prefix, _, suffix = pattern.partition("*")
                if spec.startswith(prefix) and spec.endswith(suffix) and len(spec) >= len(prefix) + len(suffix):
                    star = spec[len(prefix) : len(spec) - len(suffix)]
                    mapped = [t.replace("*", star) for t in targets]
                    if best is None or len(prefix) > best[0]:  # the longest prefix wins, as in tsc
                        best = (len(prefix), mapped)
            elif pattern == spec:
                best = (len(pattern) + 1_000, list(targets))
        if best:
            found.extend(best[1])
        if self.base_url is not None:
            found.append(posixpath.normpath(posixpath.join(self.base_url, spec)))
        return found


def read_config(root: Path, rel: str, texts: dict[str, str], seen: frozenset[str] = frozenset()) -> dict:
    """The merged compilerOptions of `rel` (root-relative), with `_paths_dir` and `_base_dir`
    recording which folder `paths` and `baseUrl` are relative to."""
    if rel in seen or len(seen) > 10:
        return {}
    text = texts.get(rel)
    if text is None:
        try:
            text = (root / rel).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return {}
    try:
        data = load_jsonc(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    here = posixpath.dirname(rel)
    merged: dict = {}
    extends = data.get("extends")
    for parent in [extends] if isinstance(extends, str) else extends if isinstance(extends, list) else []:
        if not isinstance(parent, str):
            continue
        parent_rel = _extends_path(root, here, parent)
        if parent_rel is not None:
            merged.update(read_config(root, parent_rel, texts, seen | {rel}))
    options = data.get("compilerOptions")
    if isinstance(options, dict):
        if isinstance(options.get("baseUrl"), str):
            merged["baseUrl"] = posixpath.normpath(posixpath.join(here, options["baseUrl"]))
        if isinstance(options.get("paths"), dict):
            merged["paths"] = options["paths"]
            merged["_paths_dir"] = here
    return merged


def _extends_path(root: Path, here: str, parent: str) -> str | None:
    if parent.startswith("."):
        rel = posixpath.normpath(posixpath.join(here, parent))
        options = [rel] if rel.endswith(".json") else [rel + ".json", rel, posixpath.join(rel, "tsconfig.json")]
    else:
        options = []
        folder = here
        while True:
            base = posixpath.join(folder, "node_modules", parent) if folder else posixpath.join("node_modules", parent)
            options += [base] if base.endswith(".json") else [base + ".json", posixpath.join(base, "tsconfig.json")]
            if not folder:
                break
            folder = posixpath.dirname(folder)
    for option in options:
        if option.startswith("..") or option.startswith("/"):
            continue  # outside the scanned folder: not read
        if (root / option).is_file():
            return option
    return None


class TsConfigs:
    """The effective path settings for each folder of the project."""

    def __init__(self, root: Path, config_files: dict[str, str]) -> None:
        self.root = root
        self.texts = config_files  # rel -> text, only tsconfig.json/jsconfig.json files
        self.by_dir: dict[str, str] = {}
        for rel in sorted(config_files):
            name = posixpath.basename(rel)
            if name in CONFIG_NAMES:
                d = posixpath.dirname(rel)
                # tsconfig.json wins over jsconfig.json in the same folder
                if d not in self.by_dir or name == "tsconfig.json":
                    self.by_dir[d] = rel
        self._cache: dict[str, PathsConfig | None] = {}

    def for_file(self, rel: str) -> PathsConfig | None:
        folder = posixpath.dirname(rel)
        while True:
            if folder in self.by_dir:
                return self._load(self.by_dir[folder])
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def _load(self, rel: str) -> PathsConfig | None:
        if rel not in self._cache:
            options = read_config(self.root, rel, self.texts)
            config = PathsConfig(rel, options.get("baseUrl"))
            paths = options.get("paths")
            if isinstance(paths, dict):
                anchor = config.base_url if config.base_url is not None else options.get("_paths_dir", "")
                for pattern, targets in paths.items():
                    if isinstance(pattern, str) and isinstance(targets, list):
                        config.paths.append(
                            (pattern, [posixpath.normpath(posixpath.join(anchor, t)) for t in targets if isinstance(t, str)])
                        )
            self._cache[rel] = config
        return self._cache[rel]
