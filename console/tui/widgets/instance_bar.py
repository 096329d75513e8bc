"""The header: which instance the console talks to, with which key, where."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from console.tui.state import ConsoleState


class InstanceBar(Horizontal):
    """`clerk-migrate │ PRODUCTION │ sk_live_…abcd │ https://api.clerk.com │ run DIR`.

    Only the masked key is ever rendered; the badge's colour says the kind.
    """

    DEFAULT_CSS = """
    InstanceBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    InstanceBar Label { padding: 0 1; height: 1; }
    InstanceBar #title { text-style: bold; color: $text-accent; }
    InstanceBar #badge { text-style: bold; }
    InstanceBar #badge.production { background: $error; color: $text; }
    InstanceBar #badge.development { background: $warning; color: $text; }
    InstanceBar #badge.none { background: $boost; color: $text-muted; }
    InstanceBar #key { color: $text; }
    InstanceBar #url { color: $text-muted; width: auto; text-wrap: nowrap; }
    InstanceBar #run { color: $text-muted; width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; text-align: right; }
    """

    def compose(self) -> ComposeResult:
        yield Label("clerk-migrate", id="title")
        yield Label("", id="badge")
        yield Label("", id="key")
        yield Label("", id="url")
        yield Label("", id="run")

    def sync(self, state: ConsoleState) -> None:
        kind = state.instance_kind
        badge = self.query_one("#badge", Label)
        badge.set_classes(kind or "none")
        badge.update({"production": "PRODUCTION", "development": "DEVELOPMENT"}.get(kind or "", "NO KEY"))
        key = state.settings.secret_key
        self.query_one("#key", Label).update(Text(key.masked if key else "—"))
        url = state.url_label or state.settings.base_url
        self.query_one("#url", Label).update(Text(url))
        self.query_one("#title", Label).update("clerk-migrate demo" if state.demo else "clerk-migrate")
        run = self.query_one("#run", Label)
        run.update(Text(f"run {state.run_dir}") if state.run_dir else "")
        run.display = state.run_dir is not None
