"""Modal screens: the help, a row's detail, a file picker, the path of the CSV
report, a whole table row, a yes/no question (a worker's error: error_modal.py)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, DirectoryTree, Input, Label, Markdown, Static

from console.source.model import Issue
from console.tui.widgets.scroll_area import ScrollArea


HELP = """\
# clerk-migrate: the operator console

Moves your Auth.js (NextAuth) users into Clerk, one step at a time.
The rail on the left shows each step: **✓** done, **•** open, **✗** blocked (the
grey line under it says why). **▶** is where you are.

1. **Setup**: the Clerk instance. Where the secret key came from (environment,
   `.env`, keyring) or paste one; the live check counts the instance's users.
   *Production* is where the guide migrates to, directly. A *Development*
   instance holds at most 100 users and is written to only with
   `IMPORT_TO_DEV_INSTANCE=true`.
2. **Load**: the export file (JSON array, NDJSON, CSV or mongoexport) and,
   beside it, the Auth.js accounts file (the OAuth providers). The format and
   shape are detected; every row is checked while it streams in. A column no
   field reads is kept with one key, or mapped as `TARGET=COLUMN`.
3. **Review**: the issues by code, the rows behind each, the policies
   (unverified emails: by default verified when dated or proved by an OAuth
   account, else reserved; plaintext passwords) and their effect on the counts;
   the export against the instance's own settings (Readiness: required
   identifiers, attributes turned off, password, legal consent, social
   sign-in); export the report as CSV.
4. **Import**: the plan (rows, instance, pace, estimate), then the live panel.
   Production asks for the word `production`. Paced to Clerk's rate limit,
   resumable: the run folder's journal knows every row.
5. **Failures**: the rows Clerk refused, grouped by Clerk's code; a row's
   detail, a fix (email, names, username), and retries.
6. **Verify**: reads the users back from Clerk and compares them with the
   export; Clerk's total beside what the journal expects; sign in as a user
   (Clerk checks a password: the hasher and digest were imported right).
7. **Sync**: a later export of the live app against what the run imported:
   the plan first (each field before → after), then only the difference is
   sent; removed users are kept unless you type `ban` or `delete`.
8. **Finish**: the id map (CSV), the foreign-key SQL, keeping the old ids,
   the app-code checklist and its patch, and undo of a rehearsal.

## Cut-over: a live app, minutes of freeze
Import a first export and verify it while the app stays live (hours for a big
app). Then Sync a later export (step 7) as often as you like: each is short.
Freeze sign-ups and profile edits, take the final export, Sync it, Verify;
switch the app to Clerk (Finish: the patch, the id map or the session claim)
and lift the freeze. What decides the freeze: `docs/cut-over.md`.

## Keys everywhere
- `ctrl+n` next step · `tab` / `shift+tab` move between fields (the focused
  one has a bar on its left; the rail comes last) · `enter` opens the step
  under the cursor in the rail, presses a button, or shows a table's whole
  row · `escape` leaves a field, so the step's keys work again
- `ctrl+p` command palette: every step and action by name · `f1` this help
- `ctrl+q` quit: a job keeps running in its worker process (the console
  asks first, and offers to stop it); `clerk-migrate --run DIR` comes back to it

## Keys of each step
- **Setup**: `↑` `↓` `enter` choose one of the demo's instances ·
  `c` run the live check again
- **Load**: `→` complete the path · `enter` load · `ctrl+o` browse for the file ·
  `enter` on a column not imported keeps it · `delete` takes a mapping out
- **Review**: `i` / `p` / `r` the Issues / Policies / Readiness tab · `[` `]` previous / next
  page of rows · `ctrl+f` filter the rows · `enter` everything about a row ·
  `ctrl+s` save every issue as a CSV
- **Import**: `ctrl+r` start or resume (Production: type `production` in
  the field, then `enter`) · `p` pause / resume · `s` safe stop (in-flight
  requests finish, the rest stays pending) · `t` take control from another
  console · `o` open the run found in the folder named there
- **Failures**: `enter` / `e` a row's detail and its fix · `space` select a
  row · `r` retry the selected rows (or the highlighted one) · `a` retry every
  retryable row · `g` retry the highlighted code · `[` `]` pages · `{` `}` the
  first / last page · `l` link a row whose email another Clerk user holds to
  that user (the plan is shown first) · `ctrl+f` filter · `s` stop a retry
  safely. In the fix form: `ctrl+r` save and retry · `ctrl+s` save · `ctrl+l`
  link to that user · `escape` close
- **Verify**: `v` verify a sample (its size in the field) · `a` verify every
  user · `s` stop · `[` `]` pages of differences · `i` sign in as a user
  (email and password; the password is masked and never kept)
- **Sync**: `enter` in the path makes the plan · `[` `]` pages of the plan ·
  `enter` on a line: its row whole · `ctrl+r` sync (removed users are kept;
  choose ban or delete and type that word) · `p` pause / resume · `s` safe stop
- **Finish**: `ctrl+t` next tab (Id map & SQL, Keep old ids, App code, Undo) ·
  `ctrl+o` write the id map · `ctrl+s` write the SQL · App code tab: `v` the
  patch (`[` `]` its files, `ctrl+s` write it) · Undo tab: Preview, then
  type `undo` and `enter` · `s` stop an undo (resumable)

The key is never shown in full: only `sk_live_…` / `sk_test_…` and its last
four characters.

More in the documentation: `docs/console.md` (the console, Setup to Review),
`docs/console-import.md` (Import, Failures, Verify, Sync, Finish, reopening a
run) and `docs/cut-over.md` (a live app's migration).
"""


def coming_back(run_dir: Path | None, demo: bool) -> str:
    """The help's words on reopening a run after a lost connection."""
    folder = f"`{str(run_dir).replace('`', chr(39))}`" if run_dir is not None else "the run folder (`DIR`)"
    words = f"""\
## Coming back after a lost connection

The run folder's journal knows every row. Log in again and reopen the run:

    clerk-migrate --run {run_dir if run_dir is not None else 'DIR'}

It opens the step where the run stands and resumes from there; rows that were
in flight are looked up in Clerk before anything is sent again. This run's
folder: {folder} (Setup shows it too). Over SSH, start the console inside
`tmux` or `screen`: a dropped connection then leaves it running
(`tmux attach` to come back).
"""
    if demo:
        words += (
            "\nThe demo keeps its sandbox and this folder only while it runs: closing it removes "
            "them, unless it was started with `clerk-migrate demo --keep`.\n"
        )
    return words


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def __init__(self, run_dir: Path | None = None, demo: bool = False) -> None:
        super().__init__()
        self.run_dir, self.demo = run_dir, demo

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Label("Help · escape closes this help · ↑ ↓ scroll", classes="dialog-hint")
            with ScrollArea(id="help-body"):
                head, _, rest = HELP.partition("## Keys everywhere")
                yield Markdown(head + coming_back(self.run_dir, self.demo) + "\n## Keys everywhere" + rest)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss()


class RowDetailModal(ModalScreen[None]):
    """Everything the checks said about one export row. Export data is
    rendered as `Text`, never as markup."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, row: int, external_id: str | None, issues: list[Issue]) -> None:
        super().__init__(classes="modal")
        self.row, self.external_id, self.issues = row, external_id, issues

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog row-dialog"):
            title = Text(f"Row {self.row}" if self.row else "The whole file")
            if self.external_id:
                title.append("  external id ")
                title.append(self.external_id, style="bold")
            yield Label(title, classes="dialog-title")
            who = Text()
            for words, value in (("email ", _first(self.issues, "email")), ("name ", _first(self.issues, "name"))):
                if value:
                    who.append(words, style="dim")
                    who.append(value + "  ", style="bold")
            if who.plain:
                yield Static(who)
            with ScrollArea(classes="dialog-body"):
                for issue in self.issues:
                    line = Text()
                    line.append(f"{issue.severity:<8}", style="bold")
                    line.append(f"{issue.code}  ")
                    line.append(f"field {issue.field}\n", style="dim")
                    line.append(issue.message)
                    yield Static(line, classes="issue-" + issue.severity)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()


def _first(issues: list[Issue], name: str) -> str | None:
    """The row's email or name, as the checks carried it on its issues (when they do)."""
    return next((v for v in (getattr(i, name, None) for i in issues) if v), None)


class BrowseModal(ModalScreen[Path | None]):
    """A directory tree to pick the export from; enter on a file chooses it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, start: Path) -> None:
        super().__init__(classes="modal")
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog browse-dialog"):
            yield Label(Text(f"Choose the export file under {self.start}"), classes="dialog-title")
            yield DirectoryTree(self.start, id="tree")
            yield Label("enter: choose the file · escape: cancel", classes="dialog-hint")

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SavePathModal(ModalScreen[Path | None]):
    """Asks where to write a file (the CSV report)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, default: Path) -> None:
        super().__init__(classes="modal")
        self._title, self.default = title, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog save-dialog"):
            yield Label(Text(self._title), classes="dialog-title")
            yield Input(str(self.default), id="save-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Write", variant="primary", id="write")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "write":
            self._finish()
        else:
            self.dismiss(None)

    def _finish(self) -> None:
        value = self.query_one("#save-path", Input).value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def whole(value: object) -> Text:
    """A cell's whole text, wrapping (a table cuts it with an ellipsis)."""
    text = value.copy() if isinstance(value, Text) else Text("" if value is None else str(value))
    text.no_wrap = False
    text.overflow = "fold"
    text.justify = "left"
    return text


def table_row_fields(table: DataTable, row_key: object) -> list[tuple[str, Text]]:
    """(column label, the cell's whole text) for one row of a table."""
    cells = table.get_row(row_key)  # type: ignore[arg-type]
    return [(column.label.plain.strip() or "·", whole(cell)) for column, cell in zip(table.ordered_columns, cells)]


class WholeRowModal(ModalScreen[None]):
    """One table row with nothing cut: a label and the whole value per column,
    and more below when the table's row stands for more (the step's files)."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    DEFAULT_CSS = """
    WholeRowModal .field { height: auto; }
    WholeRowModal .field-label { width: 16; color: $text-muted; }
    WholeRowModal .field-value { width: 1fr; }
    WholeRowModal #more { margin-top: 1; }
    """

    def __init__(self, title: str | Text, fields: list[tuple[str, Text]], more: Text | None = None) -> None:
        super().__init__(classes="modal")
        self._title, self.fields, self.more = title, fields, more

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog row-dialog"):
            yield Label(whole(self._title), classes="dialog-title")
            with ScrollArea(classes="dialog-body", id="whole-row"):
                for label, value in self.fields:
                    with Horizontal(classes="field"):
                        yield Label(Text(label), classes="field-label")
                        yield Static(value, classes="field-value")
                if self.more is not None:
                    yield Static(self.more, id="more")
            with Horizontal(classes="dialog-buttons"):
                yield Label("↑ ↓ scroll · escape closes  ", classes="dialog-hint")
                yield Button("Close", variant="primary", id="ok")

    def on_mount(self) -> None:
        self.query_one("#whole-row").focus()  # arrows scroll a long row

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss()


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question before something that cannot be taken back (a file
    written over). Escape, or the second button, says no."""

    BINDINGS = [Binding("escape", "no", "Cancel")]

    def __init__(self, title: str, body: Text, yes: str, no: str = "Cancel") -> None:
        super().__init__(classes="modal")
        self._title, self.body, self.yes, self.no = title, body, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="warning", id="yes")
                yield Button(self.no, variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no").focus()  # enter alone keeps what is there

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)
