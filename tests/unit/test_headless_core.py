"""The engine stays headless: nothing outside console/tui imports textual."""

import ast
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "console"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_outside_tui_imports_textual():
    offenders = [
        str(path.relative_to(CONSOLE))
        for path in CONSOLE.rglob("*.py")
        if "tui" not in path.relative_to(CONSOLE).parts and "textual" in _imports(path)
    ]
    assert offenders == []


def test_the_check_sees_the_tui_importing_textual():
    # guard against a walk that finds nothing: the TUI itself must show up
    tui_files = [p for p in (CONSOLE / "tui").rglob("*.py") if "textual" in _imports(p)]
    assert tui_files, "expected console/tui to import textual"


# ----------------------------------------------------------------------------- transitively (harlequin's check)
HEADLESS_PACKAGES = ("source", "clerk", "migration", "sandbox", "dbexport", "appscan", "commands")
NOT_HEADLESS = {"console.commands.demo"}  # the demo opens the console: it is the TUI's door

_PROBE = r"""
import importlib, json, sys
bad = lambda: sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")
                     or m == "console.tui" or m.startswith("console.tui."))
out = {}
for name in json.loads(sys.argv[1]):
    before = set(bad())
    importlib.import_module(name)
    new = sorted(set(bad()) - before)
    if new:
        out[name] = new[:3]
print(json.dumps({"offenders": out, "loaded": bad()}))
"""


def _engine_modules() -> list[str]:
    names = []
    for package in HEADLESS_PACKAGES:
        for path in sorted((CONSOLE / package).rglob("*.py")):
            parts = path.relative_to(CONSOLE.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            if name not in NOT_HEADLESS:
                names.append(name)
    return names


def _probe(modules: list[str], extra_path: str | None = None) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(modules)], capture_output=True, text=True,
                          cwd=CONSOLE.parent, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_engine_module_loads_textual_or_the_tui_transitively():
    modules = _engine_modules()
    assert len(modules) > 40 and "console.migration.jobs" in modules and "console.commands.import_" in modules
    found = _probe(modules)
    assert found["offenders"] == {} and found["loaded"] == [], found


def test_the_transitive_check_names_a_module_that_loads_the_tui(tmp_path: Path):
    # a module that reaches the console through another import (as an engine module would
    # by importing a helper of tui/): the probe names it, and not the clean one before it
    (tmp_path / "leaky_engine_helper.py").write_text("import console.tui.state  # noqa: F401\n")
    found = _probe(["console.migration.jobs", "leaky_engine_helper"], extra_path=str(tmp_path))
    assert set(found["offenders"]) == {"leaky_engine_helper"}, found
    assert "console.tui" in found["loaded"]
