"""Finish › App code › the patch (issue 16): the mechanical rewrites of
`console.appscan.patch.build_patch`, one file at a time, what is left for a hand
edit, and the advice for the app's versions, on a screen of its own (the whole
terminal: a diff needs the columns, and at 80x24 the Finish pane has 56).

A list at the top (the files, then "Left for a hand edit", then "Advice"), the
highlighted entry below in a scroll area: arrows in the list change the entry,
`tab` goes into the view (arrows, page keys, `home`/`end`, left/right for long
lines), `[` / `]` move to the previous/next entry from anywhere. The patch file is
written by the engine (`Patch.write`, 0600); a file that exists already is written
over only after a yes, as the SQL file is.

Everything drawn from the app's code (paths, lines, snippets) is `rich.text.Text`,
never markup; colours are the theme's, resolved when drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from console.tui.widgets.outcome import show_outcome
from console.tui.widgets.scroll_area import ScrollArea

SHOWN_DIFF_LINES = 5000  # of one file; the written patch has every line
LEFT_KEY, ADVICE_KEY = "#left", "#advice"
ACTION_MARK = {"modify": "M", "create": "A", "delete": "D"}
ACTION_WORDS = {"modify": "changed", "create": "new file", "delete": "deleted"}
INTEGER_IDS = "integer_user_ids"


def theme_style(app: Any, variable: str, **more: Any) -> Style:
    """A rich Style in the colour of a theme variable (`text-success`…), for rich
    Text; plain (with `more`) when the theme has no such colour."""
    value = app.theme_variables.get(variable) if app is not None else None
    try:
        color = Color.parse(value).rich_color if value else None
    except Exception:  # noqa: BLE001 - "auto 60%" and the like: no colour, still readable
        color = None
    return Style(color=color, **more)


def diff_text(diff: str, app: Any, limit: int = SHOWN_DIFF_LINES) -> Text:
    """One file's unified diff, coloured line by line: additions, removals, hunks,
    the git header. Not wrapped: long lines scroll sideways."""
    added, removed = theme_style(app, "text-success"), theme_style(app, "text-error")
    hunk, header = theme_style(app, "text-primary"), Style(bold=True)
    text = Text(no_wrap=True, overflow="ignore")
    lines = diff.splitlines()
    for n, line in enumerate(lines[:limit]):
        if n:
            text.append("\n")
        if line.startswith(("diff --git", "--- ", "+++ ", "new file mode", "deleted file mode", "index ")):
            style = header
        elif line.startswith("@@"):
            style = hunk
        elif line.startswith("+"):
            style = added
        elif line.startswith("-"):
            style = removed
        elif line.startswith("\\"):
            style = Style(dim=True)
        else:
            style = Style()
        text.append(line, style=style)
    if len(lines) > limit:
        text.append(f"\n… {len(lines) - limit:,} more lines: write the patch to read them all", style="dim")
    return text


def indented(text: Text, by: int = 2) -> Padding:
    """Text whose wrapped lines keep the indent (a hanging indent)."""
    return Padding(text, (0, 0, 0, by))


def left_view(left: list[Any]) -> Group:
    """What the patch does not touch: file:line (the lines of one file with the same
    reason together), the construct, and why."""
    if not left:
        return Group(Text("Nothing left: every Auth.js touch point the scan found is rewritten by the patch."))
    parts: list[Any] = [Text(f"{len(left):,} touch points the patch leaves as they are, for a hand edit:",
                             style="bold")]
    groups: dict[tuple[str, str, str], list[int]] = {}
    for item in left:
        groups.setdefault((item.file, item.construct, item.why), []).append(item.line)
    for (file, construct, why), lines in groups.items():
        head = Text()
        head.append(f"{file}:{', '.join(str(n) for n in lines)}", style="bold")
        head.append(f"  {construct}", style="dim")
        parts += [head, indented(Text(why))]
    return Group(*parts)


def ordered_advice(advice: list[Any]) -> list[Any]:
    """The integer-user-id warning first: it changes what the app must do with its tables."""
    return sorted(advice, key=lambda a: a.key != INTEGER_IDS)


def advice_view(advice: list[Any], app: Any) -> Group:
    """Each piece of advice: its title, the versions it is for, what to do, what made it
    apply, the snippet to paste, and where it was checked."""
    warn = theme_style(app, "text-warning", bold=True)
    code = theme_style(app, "text-primary")
    parts: list[Any] = []
    for n, item in enumerate(ordered_advice(advice)):
        integer = item.key == INTEGER_IDS
        parts.append(Text(("\n" if n else "") + ("⚠ " if integer else "") + item.title,
                          style=warn if integer else "bold"))
        parts.append(indented(Text.assemble(("for ", "dim"), item.applies_to)))
        parts.append(indented(Text(item.detail)))
        for line in item.evidence:
            parts.append(indented(Text.assemble(("· ", "dim"), line), 4))
        if item.code:
            parts.append(indented(Text(item.code, style=code, overflow="fold"), 4))
        if item.source:
            parts.append(indented(Text.assemble(("checked against: ", "dim"), (item.source, "dim"))))
    return Group(*parts)


def default_patch_path(run_dir: Path | None) -> Path:
    return (run_dir if run_dir is not None else Path.cwd()) / "app.diff"


class PatchWritten(Message):
    def __init__(self, path: Path, error: str | None = None, exists: bool = False) -> None:
        super().__init__()
        self.path, self.error, self.exists = path, error, exists


class PatchScreen(ModalScreen[None]):
    """The patch of one scan: the files, what is left, the advice; write it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "write", "Write patch"),
        Binding("left_square_bracket", "step(-1)", "Prev file"),
        Binding("right_square_bracket", "step(1)", "Next file"),
    ]

    DEFAULT_CSS = """
    PatchScreen { align: left top; background: $surface; }
    PatchScreen #patch-box { width: 100%; height: 1fr; padding: 0 1; }
    PatchScreen #patch-title { text-style: bold; color: $text-accent; width: 100%; }
    PatchScreen #patch-warning { margin: 0; max-height: 3; }
    PatchScreen #patch-list { height: auto; max-height: 7; border: none; border-left: blank; padding: 0; }
    PatchScreen #patch-list:focus { border-left: outer $accent; }
    PatchScreen #patch-scroll { height: 1fr; min-height: 4; overflow-x: auto; margin-top: 1; }
    PatchScreen #patch-body { width: auto; min-width: 100%; height: auto; }
    PatchScreen #patch-row { height: 1; margin-top: 1; }
    PatchScreen #patch-row Label { width: 11; color: $text-muted; }
    PatchScreen #patch-row Input { width: 1fr; }
    PatchScreen #patch-row Button { margin-left: 1; }
    PatchScreen #patch-outcome { height: auto; max-height: 3; }
    """

    def __init__(self, report: Any, patch: Any, run_dir: Path | None) -> None:
        super().__init__()
        self.report, self.patch, self.run_dir = report, patch, run_dir
        self.written: Path | None = None  # the last file written
        self.shown: str | None = None  # the entry the view shows

    # -- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="patch-box"):
            yield Label(self._title(), id="patch-title")
            yield Static("", id="patch-warning", classes="band band-warning")
            yield OptionList(*self._options(), id="patch-list")
            with ScrollArea(id="patch-scroll"):
                yield Static("", id="patch-body")
            with Horizontal(id="patch-row"):
                yield Label("Patch file")
                yield Input(str(default_patch_path(self.run_dir)), id="patch-path", compact=True)
                yield Button("Write", variant="primary", id="patch-write", compact=True)
            yield Static("", id="patch-outcome", classes="outcome")
        yield Footer()

    def _title(self) -> Text:
        files, left = len(self.patch.files), len(self.patch.left)
        title = Text("The patch for ", no_wrap=True, overflow="ellipsis")
        title.append(Path(str(self.report.path)).name or str(self.report.path))  # its whole path: the outcome
        title.append(f": {files:,} file{'s' * (files != 1)} rewritten, {left:,} left for a hand edit")
        return title

    def _options(self) -> list[Option]:
        options = []
        for f in self.patch.files:
            line = Text()
            line.append(ACTION_MARK.get(f.action, "?") + " ", style="bold")
            line.append(f.path)
            line.append(f"  {ACTION_WORDS.get(f.action, f.action)}, {len(f.changes)} change"
                        f"{'s' * (len(f.changes) != 1)}", style="dim")
            options.append(Option(line, id=f"file:{f.path}"))
        left = Text("· Left for a hand edit", style="bold")
        left.append(f"  {len(self.patch.left):,} touch points", style="dim")
        options.append(Option(left, id=LEFT_KEY))
        advice = Text("· Advice for this app's versions", style="bold")
        advice.append(f"  {len(self.report.advice)}", style="dim")
        options.append(Option(advice, id=ADVICE_KEY))
        return options

    def on_mount(self) -> None:
        warning = self.query_one("#patch-warning", Static)
        integer = next((a for a in self.report.advice if a.key == INTEGER_IDS), None)
        warning.display = integer is not None
        if integer is not None:
            warning.update(Text("⚠ " + integer.title + ". Advice (the last entry) says what to do."))
        show_outcome(self.query_one("#patch-outcome", Static), None if self.patch.files else Content(
            "Nothing to rewrite: the patch would be empty (what is left and the advice still apply)."))
        listing = self.query_one("#patch-list", OptionList)
        listing.highlighted = 0
        listing.focus()
        self._show(listing.get_option_at_index(0).id)

    # -- the view --------------------------------------------------------------------
    def _show(self, key: str | None) -> None:
        if key is None or key == self.shown:
            return
        self.shown = key
        body = self.query_one("#patch-body", Static)
        if key == LEFT_KEY:
            body.update(left_view(self.patch.left))
        elif key == ADVICE_KEY:
            body.update(advice_view(list(self.report.advice), self.app))
        else:
            f = next(f for f in self.patch.files if f"file:{f.path}" == key)
            text = Text()
            text.append(f.path, style="bold")
            text.append(f"  {ACTION_WORDS.get(f.action, f.action)}", style="dim")
            for change in f.changes:
                text.append("\n  · ")
                text.append(change)
            text.append("\n\n")
            text.append_text(diff_text(f.diff, self.app))
            body.update(text)
        body.styles.width = "auto" if key.startswith("file:") else "100%"  # diffs scroll sideways, prose wraps
        self.query_one("#patch-scroll").scroll_to(0, 0, animate=False)

    @on(OptionList.OptionHighlighted, "#patch-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show(event.option.id)

    @on(OptionList.OptionSelected, "#patch-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on an entry: into its view, to read it all."""
        event.stop()
        self.query_one("#patch-scroll").focus()

    def action_step(self, step: int) -> None:
        listing = self.query_one("#patch-list", OptionList)
        current = listing.highlighted if listing.highlighted is not None else 0
        listing.highlighted = max(0, min(listing.option_count - 1, current + step))

    # -- writing -------------------------------------------------------------------------
    @on(Input.Submitted, "#patch-path")
    @on(Button.Pressed, "#patch-write")
    def _write_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.action_write()

    def action_write(self) -> None:
        outcome = self.query_one("#patch-outcome", Static)
        if not self.patch.files:
            show_outcome(outcome, None, "nothing to write: the patch has no file to rewrite")
            return
        value = self.query_one("#patch-path", Input).value.strip()
        if not value:
            show_outcome(outcome, None, "give a file name for the patch")
            self.query_one("#patch-path").focus()
            return
        self._write(Path(value).expanduser(), False)

    @work(thread=True, group="patch-write", exit_on_error=False)
    def _write(self, path: Path, force: bool) -> None:
        try:
            self.patch.write(path, force=force)
        except FileExistsError:
            self.post_message(PatchWritten(path, exists=True))
        except OSError as exc:
            self.post_message(PatchWritten(path, error=f"{path}: {exc.strerror or exc}"))
        else:
            self.post_message(PatchWritten(path))

    def on_patch_written(self, message: PatchWritten) -> None:
        message.stop()
        outcome = self.query_one("#patch-outcome", Static)
        if message.exists:
            self._ask_overwrite(message.path)
        elif message.error:
            show_outcome(outcome, None, message.error)
        else:
            self.written = message.path
            app_dir = Path(str(self.report.path)).expanduser().resolve()
            show_outcome(outcome, Content.assemble(
                ("✓ ", "$text-success bold"), "written to ", (str(message.path), "bold"),
                " (0600). On a clean tree: ", (f"git -C {app_dir} apply {message.path.resolve()}", "bold"),
            ))

    def _ask_overwrite(self, path: Path) -> None:
        from datetime import datetime

        from console.tui.screens.modals import ConfirmModal

        try:
            stat = path.stat()
            about = f" ({stat.st_size:,} bytes, written {datetime.fromtimestamp(stat.st_mtime):%Y-%m-%d %H:%M})"
        except OSError:
            about = ""
        body = Text()
        body.append(str(path), style="bold")
        body.append(f" exists already{about}. Write this patch over it? Another name keeps it.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._write(path, True)
            else:
                show_outcome(self.query_one("#patch-outcome", Static), None, f"not written: {path} kept as it was")
                self.query_one("#patch-path").focus()

        self.app.push_screen(ConfirmModal("Write over the patch file?", body, "Write over it", "Keep it"), answered)

    def action_close(self) -> None:
        if isinstance(self.focused, Input):  # escape leaves the field first, as everywhere
            self.query_one("#patch-list").focus()
            return
        self.dismiss()
