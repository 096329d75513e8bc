"""Review's Readiness tab (issue 13): the export against the instance's own settings.

Renders the preflight's `Readiness` (console/migration/preflight.py) that the app
computes in a thread after each load: what the instance's settings say, a table of
the findings (code, rows, what happens), the blockers, what could not be checked,
and the legal-consent policy when the instance requires consent. Example rows come
from the export: they are shown as text, never as markup.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import DataTable, Input, Label, RadioButton, RadioSet, Static

from console.tui.widgets.choice import ChoiceButton
from console.tui.widgets.scroll_area import ScrollArea

LEGAL_CHOICES: tuple[tuple[str, str], ...] = (
    ("skip", "Skip Clerk's check (skip_legal_checks)"),
    ("column", "From a column (legal_accepted_at):"),
)
LEGAL_WORDS = ("The instance requires legal consent. Your users accepted your terms under Auth.js: skip Clerk's "
               "check for them, or name the export's column with the date each one accepted (legal_accepted_at).")


def settings_words(state: Any) -> Content:
    """One paragraph: where the settings come from and what they say (or why not)."""
    status, r = state.readiness_status, state.readiness
    if status == "checking":
        return Content("Checking the export against the instance's settings…").stylize("$text-muted")
    if status == "failed":
        return Content.assemble(("Cannot read the instance's settings: ", "$text-error bold"), state.readiness_error)
    if r is None:
        return Content("Load an export: it is checked against the instance's settings here.").stylize("$text-muted")
    s = r.settings
    if not s.get("checked"):
        return Content.assemble(("Not checked: ", "$text-warning bold"),
                                "no publishable key (CLERK_PUBLISHABLE_KEY or NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY, env "
                                "or .env), so the instance's required identifiers, the attributes it has off, its "
                                "password rule, legal consent and social connections were not checked.")
    url = s.get("url") or ""
    if state.url_label and url.rstrip("/") == state.settings.base_url.rstrip("/"):
        url = state.url_label  # the sandbox: a fixed text for reproducible screens
    return Content.assemble(
        ("The instance's settings", "bold"), f" ({url}): ",
        f"required {', '.join(s['required']) or 'nothing'} · ",
        f"off {', '.join(s['turned_off']) or 'nothing'} · ",
        f"password {s['password']} · ",
        f"legal consent {'required' if s['legal_consent'] else 'not required'} · ",
        f"social sign-in {', '.join(s['providers']) or 'none'}.",
    ).stylize("$text-muted")


def counts_words(r: Any) -> Content:
    return Content.assemble(
        (f"{r.importable:,} ready", "$text-success bold"), " · ",
        (f"{r.refused_by_settings:,} refused by the instance's settings",
         "$text-error bold" if r.refused_by_settings else ""),
        f" · {r.refused_by_export:,} refused by the export's checks",
    )


class ReadinessView(Vertical):
    """The Readiness tab's content. `sync(state)` renders; the legal choice goes to the app."""

    DEFAULT_CSS = """
    ReadinessView { height: 1fr; }
    ReadinessView #readiness-counts { height: auto; }
    ReadinessView #readiness-blockers { height: auto; }
    ReadinessView #readiness-legal { height: auto; }
    ReadinessView #legal-words { height: auto; }
    ReadinessView #legal-column-row { height: 1; }
    ReadinessView #legal-column { width: 34; }
    ReadinessView #readiness-table { height: auto; max-height: 16; margin-top: 1; overflow-x: hidden; }
    ReadinessView #readiness-settings { height: auto; margin-top: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: object = None  # the Readiness the table was filled from
        self._findings: list[Any] = []
        self._column_wanted = False  # "from a column" chosen, its name not given yet

    def compose(self) -> ComposeResult:
        with ScrollArea(id="readiness-scroll"):
            yield Static("", id="readiness-counts")
            yield Static("", id="readiness-blockers", classes="band band-error")
            with Vertical(id="readiness-legal"):
                yield Label("", id="legal-title", classes="section")
                yield Static(LEGAL_WORDS, id="legal-words")
                with RadioSet(id="legal-policy"):
                    for _value, words in LEGAL_CHOICES:
                        yield ChoiceButton(words, value=False)
                with Horizontal(id="legal-column-row", classes="row"):
                    yield Input(placeholder="column, e.g. termsAcceptedAt", id="legal-column", compact=True)
            yield DataTable(id="readiness-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="readiness-settings")

    def on_mount(self) -> None:
        table = self.query_one("#readiness-table", DataTable)
        table.add_column("Severity", key="severity")
        table.add_column("Code", key="code", width=22)
        table.add_column("Rows", key="rows")
        table.add_column("What happens", key="what")

    def sync(self, state: Any) -> None:
        r = state.readiness
        done = r is not None and state.readiness_status == "done"
        self.query_one("#readiness-settings", Static).update(settings_words(state))
        counts = self.query_one("#readiness-counts", Static)
        counts.update(counts_words(r) if done else settings_words(state) if state.readiness_status != "done" else "")
        blockers = self.query_one("#readiness-blockers", Static)
        shown = [b for b in (r.blockers if r is not None else []) if b["code"] != "legal_policy_missing"]
        blockers.display = bool(shown)  # legal consent is chosen below, in place
        if shown:
            blockers.update(Text("Blocks the import: " + " ".join(b["message"] for b in shown)))
        legal = r is not None and r.rules is not None and r.rules.legal_consent
        self.query_one("#readiness-legal").display = legal or (state.legal is not None and r is not None)
        title = self.query_one("#legal-title", Label)
        if state.legal is None:
            title.update(Content.assemble(("Legal consent: choose how to import it", "$text-error bold")))
        else:
            title.update(Content(f"Legal consent: {state.legal}"))
        self._sync_legal(state)
        if r is not self._shown:
            self._shown = r
            self._fill(r)

    def focus_first(self) -> None:
        """The legal choice while it waits for one, else the findings (else the tab itself)."""
        for selector in ("#legal-policy", "#readiness-table"):
            widget = self.query_one(selector)
            if widget.display and widget.parent is not None and widget.parent.display:
                if selector == "#legal-policy" and self.app.state.legal is not None:  # type: ignore[attr-defined]
                    continue
                widget.focus()
                return
        self.screen.set_focus(self.screen.query_one("#review-tabs").query_one("Tabs"))

    def _sync_legal(self, state: Any) -> None:
        chosen = state.legal
        radio = self.query_one("#legal-policy", RadioSet)
        wanted = [chosen == "skip", bool(chosen and chosen.startswith("column:"))]
        for button, on_ in zip(radio.query(RadioButton), wanted):
            if button.value != on_:
                with button.prevent(RadioButton.Changed), radio.prevent(RadioSet.Changed):
                    button.value = on_
        box = self.query_one("#legal-column", Input)
        box.display = wanted[1] or bool(box.value) or self._column_wanted
        if wanted[1] and not box.has_focus and box.value != chosen.partition(":")[2]:
            box.value = chosen.partition(":")[2]

    def _fill(self, r: Any) -> None:
        table = self.query_one("#readiness-table", DataTable)
        table.clear()
        self._findings = [f for f in (r.findings if r is not None else []) if f.source == "settings"]
        table.display = bool(self._findings)
        for n, f in enumerate(self._findings):
            table.add_row(
                Text(f.severity, style="bold" if f.severity == "error" else ""),
                Text(f.code, no_wrap=True, overflow="ellipsis"),
                Text(f"{f.count:,}", justify="right"),
                Text(f.message, no_wrap=True, overflow="ellipsis"),
                key=str(n),
            )

    @on(RadioSet.Changed, "#legal-policy")
    def _legal_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        if LEGAL_CHOICES[event.index][0] == "skip":
            self._column_wanted = False
            self.app.set_legal("skip")  # type: ignore[attr-defined]
            return
        self._column_wanted = True
        box = self.query_one("#legal-column", Input)
        box.display = True
        if box.value.strip():
            self.app.set_legal(f"column:{box.value.strip()}")  # type: ignore[attr-defined]
        else:
            box.focus()

    @on(Input.Submitted, "#legal-column")
    def _column_given(self, event: Input.Submitted) -> None:
        event.stop()
        column = event.value.strip()
        if column:
            self._column_wanted = True
            self.app.set_legal(f"column:{column}")  # type: ignore[attr-defined]
            self.query_one("#readiness-table").focus()

    @on(DataTable.RowSelected, "#readiness-table")
    def _finding_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a finding: the whole of it, with its example rows (export data, as text)."""
        from console.tui.screens.modals import WholeRowModal, whole

        event.stop()
        f = self._findings[int(event.row_key.value)]  # type: ignore[arg-type]
        fields = [("Code", whole(f.code)), ("Severity", whole(f.severity)), ("Rows", whole(f"{f.count:,}")),
                  ("What happens", whole(f.message))]
        if f.by:
            fields.append(("By provider", whole(", ".join(f"{k} {v:,}" for k, v in f.by.items()))))
        for e in f.examples:
            fields.append((f"Row {e['row']}", whole(f"{e.get('external_id') or '—'}  {e.get('email') or ''}")))
        self.app.push_screen(WholeRowModal("A finding of the instance's settings", fields))
