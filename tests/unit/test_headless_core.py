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
