"""The console's app factory (placeholder until the console lands)."""

from __future__ import annotations

from textual.app import App


def make_app(**kwargs) -> App:
    return App()


def run_console(run_dir: str | None = None) -> int:
    make_app().run()
    return 0
