"""The header: which instance the console talks to, with which key, where."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal
from textual.widgets import Label

from console.tui.state import ConsoleState


MIN_ROOM = 20  # columns under which a cut path says nothing useful


class RunFolderLabel(Label):
    """`run DIR`, cut at its start when the header is short of room: the end of
    the path is what tells runs apart. Left out when too little of it would show
    (Setup and the help show it whole)."""

    path: Path | None = None

    def show(self, path: Path | None) -> None:
        self.path = path
        self.display = path is not None
        self.refresh()

    def render(self) -> RenderResult:
        if self.path is None:
            return ""
        text, room = f"run {self.path}", self.content_size.width
        if room and len(text) > room:
            text = "run …" + str(self.path)[-(room - 5) :] if room >= MIN_ROOM else ""
        return Text(text, no_wrap=True)


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
    InstanceBar #run { color: $text-muted; width: 1fr; text-wrap: nowrap; text-align: right; }
    """

    def compose(self) -> ComposeResult:
        yield Label("clerk-migrate", id="title")
        yield Label("", id="badge")
        yield Label("", id="key")
        yield Label("", id="url")
        yield RunFolderLabel("", id="run")

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
        self.query_one("#run", RunFolderLabel).show(state.run_dir)
