"""Setup: which Clerk instance, with which key, and whether it answers."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static, Switch

from console.settings import SecretKey
from console.tui.state import DEV_USER_CAP, ConsoleState
from console.tui.screens.base import StepPane
from console.tui.widgets.choice import ChoiceButton
from console.tui.widgets.scroll_area import ScrollArea

SOURCE_WORDS = {
    "env": "from CLERK_SECRET_KEY in the environment",
    "dotenv": "from CLERK_SECRET_KEY in ./.env",
    "keyring": "from the OS keyring (service clerk-migrate)",
    "prompt": "pasted here, for this session (save it to the keyring to keep it)",
}

PRODUCTION_BAND = (
    "PRODUCTION. Users are created in your live instance, for real. This is the guide's path: "
    "migrate straight into Production, not through Development (a Development instance holds "
    f"{DEV_USER_CAP} users and its users do not move to Production). Rehearse with a small export first."
)


class SetupPane(StepPane):
    step = "setup"

    BINDINGS = [
        Binding("c", "live_check", "Check again"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("Setup: the Clerk instance to migrate into", classes="pane-title")
        with ScrollArea(id="setup-body"):
            yield Static("", id="run-folder")
            yield Label("Secret key", classes="section first")
            yield Static("", id="key-source")
            if self.state.key_choices:
                with RadioSet(id="demo-keys"):
                    for choice in self.state.key_choices:
                        yield ChoiceButton(
                            Text(f"{choice.label}  {choice.key.masked}"),
                            value=choice.key == self.state.settings.secret_key,
                        )
            with Horizontal(id="key-row", classes="row"):
                yield Input(
                    placeholder="sk_live_… or sk_test_…",
                    password=True,
                    id="key-input",
                    compact=True,
                )
                yield Button("Use key", id="use-key", compact=True)
                yield Button("Save to keyring", id="save-keyring", compact=True)
            yield Static("", id="keyring-note", classes="note")
            yield Label("Instance", classes="section")
            yield Static("", id="instance-kind")
            with Horizontal(classes="row"):
                yield Static("", id="live")
                yield Button("Check again", id="live-check", compact=True)
            yield Static(PRODUCTION_BAND, id="prod-band", classes="band band-error")
            yield Static("", id="dev-guard", classes="band band-warning")
            with Horizontal(id="dev-allow-row", classes="row"):
                yield Switch(value=self.state.settings.allow_dev_import, id="dev-allow")
                yield Label("Allow writing to this Development instance (this session)", id="dev-allow-label")

    def sync(self, state: ConsoleState) -> None:
        kind = state.instance_kind
        self.query_one("#prod-band").display = kind == "production"
        key = state.settings.secret_key
        if key is None and state.key_choices:
            source = Content.from_markup(
                "[$text-warning]No key yet.[/] Choose one of the demo sandbox's instances below "
                "(↑ ↓ then enter), or paste a key."
            )
        elif key is None:
            source = Content.from_markup("[$text-warning]No key yet.[/] Paste one below, or set CLERK_SECRET_KEY (environment or .env).")
        elif state.demo and any(c.key == key for c in state.key_choices):
            source = Content(f"{key.masked}: a key of the demo sandbox (choose the instance below)")
        else:
            source = Content(f"{key.masked}: {SOURCE_WORDS.get(state.settings.key_source or '', 'set')}")
        if state.settings.notes:
            source = source.append("\n").append(Content("; ".join(state.settings.notes)).stylize("$text-muted"))
        self.query_one("#key-source", Static).update(source)
        self.query_one("#save-keyring", Button).disabled = not (key is not None and state.settings.key_source == "prompt" and not state.demo)

        if kind == "production":
            words = "Production (sk_live_): the live instance."
        elif kind == "development":
            words = f"Development (sk_test_): holds at most {DEV_USER_CAP} users."
        elif key is not None:
            words = "Unknown: the key starts with neither sk_live_ nor sk_test_."
        else:
            words = "No instance yet."
        self.query_one("#instance-kind", Static).update(words)

        guard = self.query_one("#dev-guard", Static)
        guard.display = kind == "development"
        self.query_one("#dev-allow-row").display = kind == "development"
        if kind == "development":
            allowed = state.settings.allow_dev_import
            guard.update(
                "Development instance. Clerk caps it at "
                f"{DEV_USER_CAP} users, and the guide migrates straight into Production, not through "
                "Development. Writing here is refused unless IMPORT_TO_DEV_INSTANCE=true (environment or "
                f".env), or the switch below is on: it is {'ON' if allowed else 'OFF'}. Use it to rehearse "
                f"with an export of at most {DEV_USER_CAP} users."
            )
            switch = self.query_one("#dev-allow", Switch)
            if switch.value != allowed:
                with switch.prevent(Switch.Changed):
                    switch.value = allowed

        if state.key_choices:
            radio = self.query_one("#demo-keys", RadioSet)
            for button, choice in zip(radio.query(RadioButton), state.key_choices):
                wanted = choice.key == key
                if button.value != wanted:
                    with button.prevent(RadioButton.Changed), radio.prevent(RadioSet.Changed):
                        button.value = wanted

        self.query_one("#run-folder").display = state.run_dir is not None
        if state.run_dir is not None:
            self.query_one("#run-folder", Static).update(run_folder_words(state))
        self.query_one("#live", Static).update(self._live_words(state))
        self.query_one("#live-check", Button).disabled = key is None or state.live.status == "checking"

    def _live_words(self, state: ConsoleState) -> Content:
        live = state.live
        if state.settings.secret_key is None:
            return Content("Live check: needs a key.").stylize("$text-muted")
        if live.status == "checking":
            return Content("Live check: asking Clerk…")
        if live.status == "ok":
            cap = f" of {DEV_USER_CAP}" if state.instance_kind == "development" else ""
            latency = "" if live.latency_ms is None else f" · {live.latency_ms:.0f} ms"
            return Content.assemble(("✓ ", "$text-success bold"), f"Clerk answers: {live.user_count:,}{cap} {'user' if live.user_count == 1 and not cap else 'users'}{latency}")
        if live.status == "failed":
            return Content.assemble(("✗ ", "$text-error bold"), live.message)
        if live.status == "unavailable":
            return Content.assemble(("– ", "$text-warning"), live.message)
        return Content("Live check: not run yet (c to check).").stylize("$text-muted")

    def main_widget(self):
        """Escape from the pasted key: the demo's choices, else Check again (or the rail)."""
        if self.state.key_choices:
            return self.query_one("#demo-keys")
        check = self.query_one("#live-check")
        return check if check.focusable else None

    def on_enter(self) -> None:
        if self.state.key_choices:
            self.screen.set_focus(self.query_one("#demo-keys"))
        elif self.state.settings.secret_key is None:
            self.screen.set_focus(self.query_one("#key-input"))
        else:
            self.screen.set_focus(self.query_one("#live-check"))

    # -- events --------------------------------------------------------------
    @on(RadioSet.Changed, "#demo-keys")
    def _demo_key_chosen(self, event: RadioSet.Changed) -> None:
        event.stop()
        choice = self.state.key_choices[event.index]
        if choice.key != self.state.settings.secret_key:
            self.console.use_key(choice.key, "prompt")

    @on(Input.Submitted, "#key-input")
    @on(Button.Pressed, "#use-key")
    def _use_pasted_key(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        box = self.query_one("#key-input", Input)
        value = box.value.strip()
        note = self.query_one("#keyring-note", Static)
        if not value:
            note.update("Paste a key first.")
            return
        key = SecretKey(value)
        box.value = ""  # the key leaves the widget at once
        if key.instance_kind is None:
            note.update(Content(f"{key.masked} is not a Clerk secret key: it must start with sk_live_ or sk_test_."))
            return
        note.update("")
        self.console.use_key(key, "prompt")

    @on(Button.Pressed, "#save-keyring")
    def _save_keyring(self, event: Button.Pressed) -> None:
        event.stop()
        self.query_one("#keyring-note", Static).update("Saving to the keyring…")
        self.console.save_key_to_keyring()

    def show_keyring_result(self, words: str) -> None:
        self.query_one("#keyring-note", Static).update(Text(words))

    @on(Switch.Changed, "#dev-allow")
    def _dev_allow(self, event: Switch.Changed) -> None:
        event.stop()
        self.console.set_allow_dev_import(event.value)

    @on(Button.Pressed, "#live-check")
    def _live_check(self, event: Button.Pressed) -> None:
        event.stop()
        self.console.start_live_check()

    def action_live_check(self) -> None:
        self.console.start_live_check()


def run_folder_words(state: ConsoleState) -> Text:
    """The run folder in full (it wraps; the header has room for its end only), and
    how to come back to it: what an operator notes before the connection drops."""
    words = Text()
    words.append("Run folder ", style="bold")
    words.append(str(state.run_dir), style="bold")
    words.append("\nthe journal and outputs; after a lost connection: ", style="dim")
    words.append("clerk-migrate --run DIR", style="dim bold")
    words.append(" (f1)", style="dim")
    for note in state.notes:
        words.append(f"\n{note}", style="italic")
    return words
