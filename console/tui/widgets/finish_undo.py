"""Finish › Undo: delete the users a rehearsal run created, after a preview
(`undo_preview`: how many are there, how many signed in since the import) and
the typed word `undo`. The engine's `Undoer` runs in a thread worker; it is
resumable and never touches a user that was in Clerk before the run."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, ProgressBar, Static

from console.tui.import_run import RunSession
from console.tui.messages import ProgressMessage
from console.tui.runview import RunView
from console.tui.widgets.outcome import show_outcome
from console.tui.widgets.scroll_area import ScrollArea

UNDO_WORD = "undo"


class UndoPreviewed(Message):
    def __init__(self, preview: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.error = error


class UndoProgressed(ProgressMessage):
    """A snapshot from the undo worker."""


class UndoEnded(Message):
    def __init__(self, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class UndoPanel(ScrollArea):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preview: Any = None
        self.undo_progress: Any = None
        self.undo_result: Any = None
        self.undoing = False
        self._undoer: Any = None
        self._undo_lock = threading.Lock()
        self._undo_finished = threading.Event()
        self._undo_finished.set()

    def compose(self) -> ComposeResult:
        yield Static("", id="undo-what")
        with Horizontal(classes="form-row"):
            yield Button("Preview", id="undo-preview", compact=True)
        yield Static("", id="undo-preview-outcome", classes="outcome")
        with Horizontal(classes="form-row", id="undo-confirm-row"):
            yield Label("Confirm", classes="form-label")
            yield Input(placeholder=f"type {UNDO_WORD}", id="undo-word", compact=True)
            yield Button("Undo", variant="error", id="undo-go", compact=True)
            yield Button("Stop", variant="warning", id="undo-stop", compact=True)
        yield ProgressBar(total=1, show_eta=False, id="undo-bar")
        yield Static("", id="undo-outcome", classes="outcome")

    def on_mount(self) -> None:
        self.query_one("#undo-bar").display = False
        for box in self.query(".outcome"):
            box.display = False

    @property
    def session(self) -> RunSession:
        return RunSession.of(self.app)

    @property
    def state(self) -> Any:
        return self.app.state  # type: ignore[attr-defined]

    def _outcome(self, target: str, words: Content | None, error: str | None = None) -> None:
        show_outcome(self.query_one(target, Static), words, error)

    def sync(self, run: RunView) -> None:
        created = run.counts.get("created", 0)
        left = max(0, created - run.undone)
        production = run.info.instance_kind == "production"
        words = Content.assemble(
            "Undo deletes the users ",
            ("this run created", "bold"),
            f": {left:,} still to delete",
            f" ({run.undone:,} already undone)" if run.undone else "",
            f". The {run.counts.get('existed', 0):,} that were in Clerk before are never touched. "
            "It is for a rehearsal: import, check the app, undo, then import again into a new run folder.",
        )
        if production:
            words = words.append(
                Content("\nThis is the Production instance: users who signed in since the import lose their account.")
                .stylize("$text-error bold")
            )
        self.query_one("#undo-what", Static).update(words)
        busy = self.undoing or self.session.busy
        self.query_one("#undo-preview", Button).disabled = busy or left == 0
        self.query_one("#undo-go", Button).disabled = busy or left == 0
        self.query_one("#undo-go").display = self.query_one("#undo-word").display = not self.undoing
        self.query_one("#undo-stop").display = self.undoing
        self.query_one("#undo-confirm-row").display = left > 0 or self.undoing

    # -- the preview ----------------------------------------------------------------
    def start_preview(self) -> None:
        run = self.state.run
        if run is None or self.undoing:
            return
        self._outcome("#undo-preview-outcome", Content("Reading the users back from Clerk…"))
        self._preview(run.run_dir, self.state.settings, dict(getattr(self.app, "undo_options", None) or {}))

    @work(thread=True, exclusive=True, group="undo-preview", exit_on_error=False)
    def _preview(self, run_dir: Path, settings: Any, options: dict[str, Any]) -> None:
        from console.clerk.errors import ClerkError
        from console.migration.journal import JournalError
        from console.migration.run import RunRefused, open_run
        from console.migration.undo import undo_preview

        options.pop("concurrency", None)
        try:
            # writable, as `clerk-migrate undo` opens it: the engine records the
            # instance's id the first time it asks Clerk (a run made before that)
            with open_run(run_dir) as journal:
                preview = asyncio.run(undo_preview(journal, settings, **options))
        except (RunRefused, JournalError) as exc:
            self.post_message(UndoPreviewed(error=getattr(exc, "message", None) or str(exc)))
            return
        except ClerkError as exc:
            self.post_message(UndoPreviewed(error=f"Clerk answered {exc.status or 'nothing'}: {exc}"))
            return
        self.post_message(UndoPreviewed(preview))

    def on_undo_previewed(self, message: UndoPreviewed) -> None:
        message.stop()
        target = "#undo-preview-outcome"
        if message.error:
            self._outcome(target, None, message.error)
            return
        p = self.preview = message.preview
        words = Content.assemble(
            (f"{p.present:,}", "bold"),
            f" of the {p.to_delete:,} users to delete are in Clerk ({p.gone:,} already gone); ",
            (f"{p.signed_in:,} signed in since the import", "$text-error bold" if p.signed_in else "bold"),
            " and would lose their account." if p.signed_in else ".",
        )
        if p.unsettled:
            words = words.append(
                Content(f"\n{p.unsettled:,} rows are still being settled (an import was interrupted): resume it first, "
                        "or their users stay behind.").stylize("$text-warning")
            )
        for example in p.signed_in_examples[:5]:
            line = Text("\n  ")
            line.append(f"row {example.get('row')} ")
            line.append(str(example.get("email") or example.get("external_id") or ""))
            line.append(f"  last sign-in {example.get('last_sign_in_at')}", style="dim")
            words = words.append(Content.from_rich_text(line))
        words = words.append(Content(f"\nType {UNDO_WORD} below and press enter to delete them.").stylize("$text-muted"))
        self._outcome(target, words)
        box = self.query_one("#undo-word", Input)
        if box.display and self.app.state.current == "finish":  # type: ignore[attr-defined]
            box.focus()  # the next thing to do is typing the word

    # -- the undo -------------------------------------------------------------------
    def start_undo(self) -> None:
        run = self.state.run
        if run is None or self.undoing:
            return
        box = self.query_one("#undo-word", Input)
        if box.value.strip() != UNDO_WORD:
            self._outcome("#undo-outcome", None, f"type the word {UNDO_WORD} to delete the users this run created")
            box.focus()
            return
        why = self.session.claim("undo")
        if why:
            self._outcome("#undo-outcome", None, why)
            return
        box.value = ""
        self.undoing = True
        self.undo_progress = None
        self.undo_result = None
        self._undo_finished.clear()
        self._outcome("#undo-outcome", Content("Deleting…  (s stops: the deletes in flight finish, the rest stays)"))
        self._undo(run.run_dir, self.state.settings, dict(getattr(self.app, "undo_options", None) or {}))
        self.app.refresh_views()  # type: ignore[attr-defined]
        self.query_one("#undo-stop").focus()  # s (or enter here) stops it

    @work(thread=True, exclusive=True, group="undo", exit_on_error=False)
    def _undo(self, run_dir: Path, settings: Any, options: dict[str, Any]) -> None:
        from console.clerk.errors import ClerkError
        from console.migration.journal import JournalError
        from console.migration.run import RunRefused, open_run
        from console.migration.undo import Undoer

        try:
            try:
                with open_run(run_dir) as journal:
                    undoer = Undoer(journal, settings, on_progress=lambda p: self.post_message(UndoProgressed(p)), **options)
                    with self._undo_lock:
                        self._undoer = undoer
                    result = asyncio.run(undoer.run())
            except (RunRefused, JournalError) as exc:
                self.post_message(UndoEnded(error=getattr(exc, "message", None) or str(exc)))
                return
            except ClerkError as exc:
                self.post_message(UndoEnded(error=f"Clerk answered {exc.status or 'nothing'}: {exc}"))
                return
            self.post_message(UndoEnded(result))
        finally:
            with self._undo_lock:
                self._undoer = None
            self._undo_finished.set()

    def on_undo_progressed(self, message: UndoProgressed) -> None:
        message.stop()
        p = self.undo_progress = message.progress
        bar = self.query_one("#undo-bar", ProgressBar)
        bar.display = True
        bar.update(total=max(1, p.total), progress=p.done + p.failed)
        self._outcome(
            "#undo-outcome",
            Content.assemble(
                (f"{p.deleted:,} deleted", "bold"),
                f" · {p.gone:,} already gone · ",
                (f"{p.failed:,} failed", "$text-error" if p.failed else ""),
                f" of {p.total:,} · in flight {p.in_flight} · pace {p.pace:,.1f}/s · {p.state}",
            ),
        )

    def on_undo_ended(self, message: UndoEnded) -> None:
        message.stop()
        self.undoing = False
        self.preview = None
        self._outcome("#undo-preview-outcome", None)
        self.session.release("undo")
        if message.error:
            self._outcome("#undo-outcome", None, message.error)
        else:
            r = self.undo_result = message.result
            ok = r.exit_code == 0
            words = Content.assemble(
                ("✓ Undone: " if ok else "■ Undo incomplete: ", "$text-success bold" if ok else "$text-warning bold"),
                f"{r.deleted:,} deleted, {r.gone:,} already gone, {r.failed:,} failed, {r.remaining:,} not tried; "
                f"{r.existed_kept:,} users that were there before kept.",
            )
            if r.message:
                words = words.append(Content("\n" + r.message))
            if not ok:
                words = words.append(Content("\nUndo again to finish it: it resumes where it stopped.").stylize("$text-muted"))
            self._outcome("#undo-outcome", words)
        self.session.read()
        self.app.refresh_views()  # type: ignore[attr-defined]
        if self.state.current == "finish":
            self.app.query_one("#finish-tabs").query_one("Tabs").focus()  # the Stop button is gone

    def stop_undo(self) -> None:
        with self._undo_lock:
            if self._undoer is not None:
                self._undoer.stop()

    def on_unmount(self) -> None:
        if not self._undo_finished.is_set():
            self.stop_undo()
            self._undo_finished.wait(10.0)

    # -- buttons ------------------------------------------------------------------------
    @on(Button.Pressed, "#undo-preview")
    def _preview_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_preview()

    @on(Button.Pressed, "#undo-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.stop_undo()

    @on(Input.Submitted, "#undo-word")
    @on(Button.Pressed, "#undo-go")
    def _undo_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.start_undo()
