"""Finish › Undo: delete the users a rehearsal run created, after a preview
(`undo_preview`: how many carry this run's marker in Clerk, how many signed in
since the import, which are kept and why) and the typed word `undo`. The undo
itself is a job in a worker (`StartJob("undo")`), resumable; it never touches a
user this run did not create: rows found already there (`existed`), users
whose copy lacks this run's marker (`kept`), users the run never saw."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, ProgressBar, Static

from console.tui.messages import StartJob, StopJob
from console.tui.runview import RunView
from console.tui.widgets.job_line import JobLine
from console.tui.widgets.outcome import show_outcome
from console.tui.widgets.scroll_area import ScrollArea

UNDO_WORD = "undo"


class UndoPreviewed(Message):
    def __init__(self, preview: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.error = error


def kept_words(existed: int, kept: int, examples: list[dict[str, Any]]) -> Content:
    """Who undo keeps, each with its reason: the figures of the engine's preview or result."""
    words = Content.assemble(("Kept, never deleted: ", "bold"), f"{existed:,} found already in Clerk by the import "
                             "(existed)")
    if kept:
        words = words.append(Content(f", {kept:,} journaled created whose copy in Clerk lacks this run's marker "
                                     "(there before, or made by another run)"))
    words = words.append(Content("; and any user this run did not create."))
    for example in examples[:5]:
        line = Text("\n  ")
        line.append(f"row {example.get('row')} {example.get('external_id') or ''}")
        marker = example.get("marker_run")
        line.append(f"  {example.get('clerk_user_id') or ''}: " + (f"marker of run {marker}" if marker else "no marker"),
                    style="dim")
        words = words.append(Content.from_rich_text(line))
    return words


class UndoPanel(ScrollArea):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preview: Any = None

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
        yield JobLine("", id="undo-job-line")
        yield Static("", id="undo-outcome", classes="outcome")

    def on_mount(self) -> None:
        self.query_one("#undo-bar").display = False
        for box in self.query(".outcome"):
            box.display = False

    @property
    def state(self) -> Any:
        return self.app.state  # type: ignore[attr-defined]

    @property
    def job(self) -> Any:
        job = self.state.job
        return job if job is not None and job.kind == "undo" else None

    @property
    def undoing(self) -> bool:
        return self.job is not None and self.job.active

    @property
    def undo_result(self) -> Any:
        """The last undo's result seen by this console (its summary: UndoResult as a dict)."""
        result = self.state.results.get("undo")
        return result if result is not None and "deleted" in result.summary else None

    @property
    def busy(self) -> bool:
        job, run = self.state.job, self.state.run
        return (job is not None and job.active) or (run is not None and run.busy_elsewhere)

    def _outcome(self, target: str, words: Content | None, error: str | None = None) -> None:
        show_outcome(self.query_one(target, Static), words, error)

    def sync(self, run: RunView) -> None:
        created = run.counts.get("created", 0)
        left = max(0, created - run.undone)
        production = run.info.instance_kind == "production"
        words = Content.assemble(
            "Undo deletes the users ",
            ("this run created", "bold"),
            f" (their copy in Clerk carries its marker): {left:,} still to delete",
            f" ({run.undone:,} already undone)" if run.undone else "",
            f". The {run.counts.get('existed', 0):,} the import found already there, and every user this run did "
            "not create, are never touched. It is for a rehearsal: import, check the app, undo, then import again "
            "into a new run folder.",
        )
        if production:
            words = words.append(
                Content("\nThis is the Production instance: users who signed in since the import lose their account.")
                .stylize("$text-error bold")
            )
        self.query_one("#undo-what", Static).update(words)
        busy = self.busy
        self.query_one("#undo-preview", Button).disabled = busy or left == 0
        self.query_one("#undo-go", Button).disabled = busy or left == 0
        self.query_one("#undo-go").display = self.query_one("#undo-word").display = not self.undoing
        self.query_one("#undo-stop").display = self.undoing
        self.query_one("#undo-confirm-row").display = left > 0 or self.undoing
        self.show_progress()

    # -- the preview (reads only: in this console, in a thread) --------------------------
    def start_preview(self) -> None:
        run = self.state.run
        if run is None or self.busy:
            return
        self._outcome("#undo-preview-outcome", Content("Reading the users back from Clerk…"))
        options = {k: v for k, v in self.app.options.job("undo").items() if k in ("rate", "timeout")}  # type: ignore[attr-defined]
        self._preview(run.run_dir, self.state.settings, options)

    @work(thread=True, exclusive=True, group="undo-preview", exit_on_error=False)
    def _preview(self, run_dir: Path, settings: Any, options: dict[str, Any]) -> None:
        from console.migration.errors import as_migration_error
        from console.migration.run import open_run
        from console.migration.undo import undo_preview

        try:
            # writable, as `clerk-migrate undo` opens it: the engine records the
            # instance's id the first time it asks Clerk (a run made before that)
            with open_run(run_dir) as journal:
                preview = asyncio.run(undo_preview(journal, settings, **options))
        except Exception as exc:  # noqa: BLE001 - the engine's refusals, said in place; a bug goes on
            known = as_migration_error(exc)
            if known is None:
                raise
            self.post_message(UndoPreviewed(error=known.message))
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
            f" of the {p.to_delete:,} users this run created are in Clerk with its marker: these are deleted "
            f"({p.gone:,} already gone). ",
            (f"{p.signed_in:,} signed in since the import", "$text-error bold" if p.signed_in else "bold"),
            " and would lose their account." if p.signed_in else ".",
        )
        for example in p.signed_in_examples[:5]:
            line = Text("\n  ")
            line.append(f"row {example.get('row')} ")
            line.append(str(example.get("email") or example.get("external_id") or ""))
            line.append(f"  last sign-in {example.get('last_sign_in_at')}", style="dim")
            words = words.append(Content.from_rich_text(line))
        words = words.append(Content("\n")).append(kept_words(p.existed_kept, p.kept, p.kept_examples))
        if p.unsettled:
            words = words.append(
                Content(f"\n{p.unsettled:,} rows are still being settled (an import was interrupted): resume it first, "
                        "or their users stay behind.").stylize("$text-warning")
            )
        if p.present:
            words = words.append(Content(f"\nType {UNDO_WORD} below and press enter to delete them.").stylize("$text-muted"))
        else:
            words = words.append(Content(f"\nNothing to delete in Clerk; {UNDO_WORD} records the rows as undone.")
                                 .stylize("$text-muted"))
        self._outcome(target, words)
        box = self.query_one("#undo-word", Input)
        if box.display and self.state.current == "finish":
            box.focus()  # the next thing to do is typing the word

    # -- the undo (a job in a worker) ---------------------------------------------------
    def start_undo(self) -> None:
        run = self.state.run
        if run is None or self.undoing:
            return
        box = self.query_one("#undo-word", Input)
        if box.value.strip() != UNDO_WORD:
            self._outcome("#undo-outcome", None, f"type the word {UNDO_WORD} to delete the users this run created")
            box.focus()
            return
        if self.busy:
            self._outcome("#undo-outcome", None, "a job is running on this run: wait for it to end")
            return
        box.value = ""
        self.preview = None
        self._outcome("#undo-preview-outcome", None)
        self._outcome("#undo-outcome", Content("Deleting…  (s stops: the deletes in flight finish, the rest stays)"))
        self.post_message(StartJob("undo"))

    def show_progress(self) -> None:
        """The live part (each snapshot of the undo worker), then its outcome."""
        job = self.job
        bar = self.query_one("#undo-bar", ProgressBar)
        p = job.snapshot if job is not None else None
        bar.display = p is not None and job.active
        self.query_one("#undo-job-line", JobLine).show(job)
        if p is not None and job.active:
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
            return
        if job is not None and not job.active and (job.refused or job.lost):
            self._outcome("#undo-outcome", None, job.refused or job.note or "the undo worker went away")
            return
        result = self.undo_result
        if result is None:
            return
        r = result.summary
        if result.exit_code == 2 and "deleted" not in r:
            self._outcome("#undo-outcome", None, result.message or "refused")
            return
        ok = result.exit_code == 0
        words = Content.assemble(
            ("✓ Undone: " if ok else "■ Undo incomplete: ", "$text-success bold" if ok else "$text-warning bold"),
            f"{r.get('deleted', 0):,} deleted, {r.get('gone', 0):,} already gone, {r.get('failed', 0):,} failed, "
            f"{r.get('remaining', 0):,} not tried.\n",
        ).append(kept_words(r.get("existed_kept", 0), r.get("kept", 0), r.get("kept_rows") or []))
        if result.message:
            words = words.append(Content("\n" + result.message))
        if not ok:
            words = words.append(Content("\nUndo again to finish it: it resumes where it stopped.").stylize("$text-muted"))
        self._outcome("#undo-outcome", words)

    def stop_undo(self) -> None:
        if self.undoing:
            self.post_message(StopJob())

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
