"""The operator console: app factory, the app (the one owner of state
changes), and its workers.

`make_app(ConsoleOptions(...))` builds the very app `clerk-migrate` and
`clerk-migrate demo` run, so tests and the screenshot script drive the real
thing. Panes ask the app to act (`use_key`, `start_load`, `set_policies`…, and
intent messages for jobs: `StartJob`, `PauseJob`, `StopJob`…); the app runs
the engine in workers and applies what they report to `ConsoleState`, then
re-renders. Jobs that write to Clerk run in worker processes
(console/tui/jobs.py, run_control.py).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer
from textual.worker import Worker, WorkerState, get_current_worker

from console.migration.errors import MigrationError
from console.settings import KeyringUnavailable, SecretKey, Settings, load_settings, save_to_keyring
from console.source import ExportError, open_export, validate_export, write_report_csv
from console.source.model import Policies
from console.source.report import validate_export_emitting
from console.tui.export_pass import Cancelled, in_a_process, run_pass
from console.tui.messages import DetailPage, LoadDetected, LoadFailed, LoadFinished, LoadProgress, ReadinessChecked
from console.tui.screens import PANES, StepPane
from console.tui.screens.main import MainScreen
from console.tui.options import ConsoleOptions
from console.tui.run_control import RunControl
from console.tui.screens.error_modal import ErrorModal, explain
from console.tui.screens.modals import HelpScreen, SavePathModal
from console.tui.state import (
    STEP_ORDER,
    STEP_TITLES,
    ConsoleState,
    IssueIndex,
    LiveCheck,
    LoadState,
    StepId,
)
from console.tui.widgets.instance_bar import InstanceBar
from console.tui.widgets.step_rail import StepRail


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def gc_paused():
    """No cyclic garbage collection while a load builds its report.

    A big export makes the report hold hundreds of thousands of issues; each
    full collection then walks all of them with the GIL held, which froze the
    event loop for 0.4-0.8 s at a time on 1,000,000 rows. The reader makes no
    reference cycles worth collecting, so collection waits until the load ends,
    and the finished report is frozen (`gc.freeze`) out of later collections.
    """
    global _gc_pausers
    with _gc_lock:
        _gc_pausers += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0:
                gc.freeze()
                gc.enable()


_Cancelled = Cancelled  # raised inside a load worker once a newer load started


def first_record_keys(path: Path) -> list[str]:
    """The keys of an export's first record (a CSV's header), for the column
    mapping form. Best effort: [] when the file cannot say."""
    import csv
    import io
    import json

    try:
        from console.source.readers import sniff_format

        fmt = sniff_format(path)
        with open(path, "rb") as raw:
            if fmt == "csv":
                return [c for c in next(csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig")), []) if c]
            if fmt == "ndjson":
                first = json.loads(raw.readline().decode("utf-8-sig"))
            else:  # a JSON array: its first item, read as the loader reads it
                from console.source.jsonrows import array_records

                text = io.TextIOWrapper(raw, encoding="utf-8-sig")

                class _Tap:
                    read_text = staticmethod(text.read)

                    @staticmethod
                    def text_end() -> int:
                        return 0

                first = next(array_records(_Tap()), (0, None))[1]
        return [str(k) for k in first] if isinstance(first, dict) else []
    except Exception:
        return []


class ConsoleApp(RunControl, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "clerk-migrate"
    SUB_TITLE = "Auth.js → Clerk"

    BINDINGS = [
        Binding("f1", "help", "Help", tooltip="What each step does, and the keys"),
        Binding("ctrl+n", "next_step", "Next step", tooltip="Go on to the next step"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Leave the console"),
    ]

    def __init__(self, state: ConsoleState, options: ConsoleOptions) -> None:
        super().__init__()
        self.state = state
        self.options = options
        self.clock = options.clock
        self._load_generation = 0
        self._readiness_generation = 0
        self._readiness_later = False  # the Readiness pass waits until Review or Import shows
        self._detail_query: tuple | None = None
        self.last_report_path: Path | None = None
        self._bar: InstanceBar | None = None
        self._rail: StepRail | None = None
        self._panes: dict[StepId, StepPane] = {}
        self.init_run_control()

    # -- layout ----------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")  # the Tab order of the panes, Escape out of a field

    def compose(self) -> ComposeResult:
        yield InstanceBar(id="instance-bar")
        with Horizontal(id="body"):
            yield StepRail(id="rail")
            with ContentSwitcher(initial=f"pane-{self.state.current}", id="panes"):
                for pane in PANES.values():
                    yield pane()
        yield Footer()

    def on_mount(self) -> None:
        self._bar = self.query_one(InstanceBar)
        self._rail = self.query_one(StepRail)
        self._panes = {pane.step: pane for pane in self.query(StepPane)}
        self.refresh_views()
        self.go_to(self.state.current)
        if self.options.auto_live_check and self.state.has_key:
            self.start_live_check()
        self.mount_run_control()

    def pane(self, step: StepId) -> StepPane:
        pane = self._panes.get(step)
        return pane if pane is not None else self.query_one(f"#pane-{step}", StepPane)

    @property
    def rail(self) -> StepRail | None:
        """The step rail (None once the app is closing)."""
        rail = self._rail
        return rail if rail is not None and rail.is_attached else None

    def refresh_views(self) -> None:
        """Re-render every view from the state (after each state change). The views are
        looked up once: walking the DOM (some 900 nodes) for them cost 25 ms a time."""
        if self.rail is None or self._bar is None:
            return  # the app is closing (or not mounted yet): a worker's late news has nothing to draw on
        self._bar.sync(self.state)
        self._rail.sync(self.state)  # type: ignore[union-attr]
        for pane in self._panes.values():
            pane.sync(self.state)

    # -- navigation ------------------------------------------------------------
    def go_to(self, step: StepId) -> None:
        self.state.current = step
        self.query_one("#panes", ContentSwitcher).current = f"pane-{step}"
        rail = self.rail or self.query_one(StepRail)
        rail.highlighted = STEP_ORDER.index(step)
        if step in ("review", "import") and self._readiness_later:
            self.start_readiness()
        self.refresh_views()
        self.pane(step).on_enter()

    def on_step_rail_step_chosen(self, message: StepRail.StepChosen) -> None:
        self.go_to(message.step)

    def action_next_step(self) -> None:
        current = self.state.current
        self.pane(current).leave_forward()
        position = STEP_ORDER.index(current)
        self.go_to(STEP_ORDER[min(position + 1, len(STEP_ORDER) - 1)])

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.state.run_dir, self.state.demo))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for number, step in enumerate(STEP_ORDER, start=1):
            yield SystemCommand(
                f"Step {number}: {STEP_TITLES[step]}",
                f"Open the {STEP_TITLES[step]} step ({self.state.step_status(step).reason or 'ready'})",
                lambda step=step: self.go_to(step),
            )
        yield SystemCommand("Run the live check", "Ask Clerk for the instance's user count", self.start_live_check)
        yield SystemCommand("Load the export", "Read and check the export named in Load", self._load_from_input)
        yield SystemCommand("Save the report as CSV", "Every issue as a CSV row", self.ask_report_path)
        yield SystemCommand("Help", "The steps, the keys, coming back to a run (f1)", self.action_help)
        # Textual's own commands (theme, screenshot, "quit as soon as possible"…) are left out
        yield SystemCommand(
            "Quit the console",
            "Leave (ctrl+q); the demo removes its temporary area unless started with --keep"
            if self.state.demo
            else "Leave (ctrl+q); the run folder keeps every row: clerk-migrate --run DIR reopens it",
            self.action_quit,
        )

    # -- Setup -----------------------------------------------------------------
    def use_key(self, key: SecretKey, source: str) -> None:
        self.state.set_key(key, source)
        self.refresh_views()
        self.start_live_check()
        if self.state.report_is_stale():
            self._revalidate()

    def set_allow_dev_import(self, allow: bool) -> None:
        self.state.set_allow_dev_import(allow)
        self.refresh_views()

    def start_live_check(self) -> None:
        if not self.state.has_key:
            return
        self.state.live = LiveCheck(status="checking")
        self.refresh_views()
        self._live_check(self.state.settings)

    @work(exclusive=True, group="live-check", exit_on_error=False)
    async def _live_check(self, settings: Settings) -> None:
        # An async worker on the event loop: it may update the state directly.
        from console.clerk.errors import AuthenticationError, ClerkError, UnknownOutcome

        result: LiveCheck
        try:
            client = self.options.client_factory(settings)
            started = self.clock()
            async with client:
                count = await client.count_users()
            latency = (self.clock() - started) * 1000
            result = LiveCheck("ok", count, latency, "")
        except AuthenticationError:
            result = LiveCheck("failed", message="Clerk refused this key (401): check it, or paste another")
        except UnknownOutcome as exc:
            result = LiveCheck("failed", message=f"no answer from {settings.base_url}: {exc}")
        except ClerkError as exc:
            result = LiveCheck("failed", message=str(exc))
        except ValueError as exc:  # the client refuses the key or the URL (e.g. http:// off loopback)
            result = LiveCheck("failed", message=str(exc))
        if settings == self.state.settings or settings.secret_key == self.state.settings.secret_key:
            self.state.live = result
            self.refresh_views()

    def save_key_to_keyring(self) -> None:
        key = self.state.settings.secret_key
        if key is not None:
            self._save_keyring(key)

    @work(thread=True, exclusive=True, group="keyring", exit_on_error=False)
    def _save_keyring(self, key: SecretKey) -> None:
        try:
            save_to_keyring(key)
            words = "Saved to the OS keyring (service clerk-migrate): next time the console finds it there."
        except KeyringUnavailable as exc:
            words = f"Not saved: {exc}."
        self.call_from_thread(self.pane("setup").show_keyring_result, words)  # type: ignore[attr-defined]

    # -- Load ------------------------------------------------------------------
    def _load_from_input(self) -> None:
        from textual.widgets import Input

        value = self.pane("load").query_one("#export-path", Input).value.strip()
        if value:
            self.go_to("load")
            self.start_load(Path(value).expanduser())

    def start_load(self, path: Path, mapping: dict[str, str] | None = None, accounts: Path | None = None) -> None:
        """Read and check an export (and its accounts file, when given) in a thread."""
        if self._other_export(path):  # a reopened run keeps its own export (issue 15 item 2)
            run = self.state.run
            self._check_other_export(path, mapping, accounts, run.info.export_sha256, run.info.export_path)
            return
        self._start_load_now(path, mapping, accounts)

    def _start_load_now(self, path: Path, mapping: dict[str, str] | None = None, accounts: Path | None = None) -> None:
        self._load_generation += 1
        self.state.load = LoadState(status="detecting", path=path, mapping=mapping, accounts=accounts)
        self.state.report = None
        self.state.issue_index = None
        self.state.previous_counts = None
        self.state.review_confirmed = False
        self.refresh_views()
        self._load(self._load_generation, path, mapping, self.state.policies, self.state.instance_kind, detect=True,
                   accounts=accounts)

    def _revalidate(self) -> None:
        """Check the loaded export again (new policies or instance kind)."""
        load = self.state.load
        if load.path is None or self.state.report is None:
            return
        self._load_generation += 1
        self.state.previous_counts = self.state.report_counts()
        load.status = "loading"
        load.rows = load.bytes_read = 0
        self.refresh_views()
        self._load(self._load_generation, load.path, load.mapping, self.state.policies, self.state.instance_kind,
                   detect=False, accounts=load.accounts)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(
        self,
        generation: int,
        path: Path,
        mapping: dict[str, str] | None,
        policies: Policies,
        instance_kind: str | None,
        detect: bool,
        accounts: Path | None = None,
    ) -> None:
        """Runs in a thread: the reader is CPU-bound. Reports through messages."""
        worker = get_current_worker()
        clock = self.clock
        if detect:
            try:
                reader = open_export(path, mapping=mapping, accounts=accounts)
            except ExportError as exc:
                self.post_message(LoadFailed(generation, str(exc), *self._mapping_hint(exc, path)))
                return
            self.post_message(
                LoadDetected(generation, reader.format, reader.shape, list(reader.columns), reader.size_bytes)
            )
        started = clock()

        def on_progress(rows: int, bytes_read: int, size_bytes: int) -> None:
            if worker.is_cancelled:
                raise _Cancelled
            self.post_message(LoadProgress(generation, rows, bytes_read, size_bytes, clock() - started))

        try:
            with gc_paused():
                if in_a_process(path, self.options.load_process_from_bytes):
                    report = run_pass(validate_export_emitting, (
                        str(path), policies, mapping, instance_kind, str(accounts) if accounts is not None else None,
                    ), on_progress, lambda: worker.is_cancelled)
                else:
                    report = validate_export(
                        path, policies=policies, mapping=mapping, instance_kind=instance_kind,
                        on_progress=on_progress, accounts=accounts,
                    )
                index = IssueIndex(report.issues)
        except _Cancelled:
            return
        except ExportError as exc:
            self.post_message(LoadFailed(generation, str(exc)))
            return
        except MigrationError as exc:  # the checking process went away (killed, out of memory)
            self.post_message(LoadFailed(generation, exc.message))
            return
        self.post_message(LoadFinished(generation, report, index, clock() - started, instance_kind))

    @staticmethod
    def _mapping_hint(exc: BaseException, path: Path) -> tuple[bool, list[str]]:
        """Whether the reader asks for a column mapping (its message names
        --map), and the columns of the file's first record to map from."""
        if "--map" not in str(exc):
            return False, []
        columns = first_record_keys(path)
        return bool(columns), columns

    def on_load_detected(self, message: LoadDetected) -> None:
        if message.generation != self._load_generation:
            return
        load = self.state.load
        load.format, load.shape, load.columns, load.size_bytes = (
            message.format,
            message.shape,
            message.columns,
            message.size_bytes,
        )
        load.status = "loading"
        self.refresh_views()

    def on_load_progress(self, message: LoadProgress) -> None:
        if message.generation != self._load_generation:
            return
        load = self.state.load
        load.rows, load.bytes_read, load.elapsed_s = message.rows, message.bytes_read, message.elapsed_s
        load.size_bytes = message.size_bytes or load.size_bytes
        # only the two widgets that show progress: no full re-render per message
        self.pane("load").update_progress(self.state)  # type: ignore[attr-defined]
        if self.state.current == "review":
            self.pane("review").sync(self.state)

    def on_load_finished(self, message: LoadFinished) -> None:
        if message.generation != self._load_generation:
            return
        report = message.report
        load = self.state.load
        load.status = "loaded"
        load.error = None
        load.rows = report.rows
        load.bytes_read = load.size_bytes = load.size_bytes or report.size_bytes or load.bytes_read
        load.format = report.format or load.format
        load.shape = report.shape or load.shape
        load.elapsed_s = message.elapsed_s
        self.state.report = report
        self.state.report_instance_kind = message.instance_kind
        self.state.issue_index = message.index
        self.start_readiness()
        holds = self.state.folder_holds
        if self.state.run_dir is None and holds is not None:
            self.look_at_folder(holds.path)  # the same folder, against the export now loaded
        self.refresh_views()

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.generation != self._load_generation:
            return
        load = self.state.load
        if message.needs_mapping:
            load.status = "needs_mapping"
            load.columns = message.columns or load.columns
        else:
            load.status = "failed"
        load.error = message.error
        self.refresh_views()

    # -- Review: the export against the instance's own settings (issue 13) --------
    def start_readiness(self) -> None:
        """Check the loaded export against the instance's settings (the preflight), in a thread."""
        load = self.state.load
        if self.state.report is None or load.path is None:
            return
        if self.state.run is not None and self.state.current not in ("setup", "load", "review", "import"):
            # a reopened run shown at Failures, Verify…: its pass over the export waits for Review or Import
            # (it held a Failures page key 100-230 ms behind it at 1M rows, issue 17)
            self._readiness_later = True
            return
        self._readiness_later = False
        self._readiness_generation += 1
        self.state.readiness_status = "checking"
        self._readiness(self._readiness_generation, load.path, load.mapping, self.state.policies, self.state.legal,
                        self.state.settings)

    @work(thread=True, exclusive=True, group="readiness", exit_on_error=False)
    def _readiness(self, generation: int, path: Path, mapping: dict[str, str] | None, policies: Policies,
                   legal: str | None, settings: Settings) -> None:
        import asyncio

        from console.migration.errors import as_migration_error
        from console.migration.preflight import check_export_emitting, preflight

        worker = get_current_worker()
        checker = None
        if in_a_process(path, self.options.load_process_from_bytes):
            def checker(export, rules, *, accounts=None, fmt=None, mapping=None, policies=None, on_progress=None):
                return run_pass(check_export_emitting, (str(export), rules, mapping, policies,
                                          str(accounts) if accounts is not None else None),
                                          None, lambda: worker.is_cancelled)
        try:
            readiness = asyncio.run(preflight(path, settings, legal=legal, mapping=mapping, policies=policies,
                                              check_identity=False, checker=checker))
        except _Cancelled:
            return  # a newer pass (another policy) replaced this one: its process is gone
        except Exception as exc:  # noqa: BLE001 - the settings or the file: said in Review, one line
            known = as_migration_error(exc)
            if known is None and not isinstance(exc, ValueError):
                raise
            self.post_message(ReadinessChecked(generation, error=known.message if known else str(exc)))
            return
        self.post_message(ReadinessChecked(generation, readiness))

    def on_readiness_checked(self, message: ReadinessChecked) -> None:
        if message.generation != self._readiness_generation:
            return
        self.state.readiness = message.readiness
        self.state.readiness_status = "done" if message.readiness is not None else "failed"
        self.state.readiness_error = message.error or ""
        self.refresh_views()

    def set_legal(self, legal: str | None) -> None:
        """The legal-consent policy chosen in Review: checked again, and the import uses it."""
        if legal == self.state.legal:
            return
        self.state.legal = legal
        self.start_readiness()
        self.refresh_views()

    # -- a reopened run (--run DIR) ----------------------------------------------
    def load_run_export(self, view: Any) -> None:
        """`--run DIR`: Load and Review show the run's export again, checked with
        the policies the run was made with (its Review was confirmed when it was
        made). When the export is gone, Load says so in place."""
        state = self.state
        path = Path(view.info.export_path)
        suggested = state.suggested_export
        if suggested is not None and suggested.resolve() == path:
            path = suggested  # the same file, spelled as the operator (or the demo) gave it
        state.run_export = path
        policies = view.policies if view.policies is not None else state.policies
        from console.migration.preflight import BodyRules

        rules = BodyRules.of_run(view.info)  # the run's legal policy (its rules, issue 13)
        state.legal = rules.legal if rules is not None else None
        loaded = state.load.path
        same = loaded is not None and _same_file(loaded, path)
        if same and state.load.status in ("detecting", "loading", "loaded") and state.policies == policies:
            state.review_confirmed = state.review_confirmed or state.report is not None
            self.refresh_views()
            return  # the run's export is (being) loaded with its policies already
        state.policies = policies
        self.pane("load").show_path(path)  # type: ignore[attr-defined]
        if not path.is_file():
            state.load = LoadState(
                status="missing",
                path=path,
                error=(
                    f"The run's export is not at {path} any more (its journal names that path). What the journal "
                    "holds still shows: the counts, the failed rows, the id map and SQL, undo. Resuming, retrying "
                    "and Verify read the export: put it back there. To see its issues here, give its new path "
                    "and Load (it must be the same file: its sha256 is checked)."
                ),
            )
            state.report = None
            self.refresh_views()
            return
        from console.migration.feed import run_accounts

        accounts = run_accounts(view.info)[0]
        if accounts is not None:
            self.pane("load").show_path(path, Path(accounts))  # type: ignore[attr-defined]
        self.start_load(path, mapping=view.info.mapping, accounts=Path(accounts) if accounts else None)
        state.review_confirmed = True
        self.refresh_views()

    def _other_export(self, path: Path) -> bool:
        """A reopened run keeps its export (issue 15 item 2): is `path` another file?"""
        run = self.state.run
        return run is not None and run.info.rows_loaded and not _same_file(path, Path(run.info.export_path))

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _check_other_export(self, path: Path, mapping: dict[str, str] | None, accounts: Path | None,
                            sha256: str | None, own: str) -> None:
        """The run's export moved: the same bytes elsewhere are still its export."""
        from console.migration.run import file_sha256

        try:
            same = bool(sha256) and path.is_file() and file_sha256(path) == sha256
        except OSError:
            same = False
        if same:
            self.call_from_thread(self._start_load_now, path, mapping, accounts)
            return
        self.call_from_thread(self._refuse_other_export, path, own)

    def _refuse_other_export(self, path: Path, own: str) -> None:
        state = self.state
        state.load.error = (
            f"{path} is not this run's export: a run keeps the export its journal names ({own}), and its counts, "
            "failures and undo are that file's. Load another export into a new run folder: "
            "clerk-migrate --run NEW_DIR (or plain clerk-migrate, and a new folder in Import)."
        )
        shown = state.run_export or (state.load.path if state.load.status != "idle" else None)
        if shown is not None:
            self.pane("load").show_path(shown)  # type: ignore[attr-defined]
        self.refresh_views()

    # -- Review ----------------------------------------------------------------
    def set_policies(self, policies: Policies) -> None:
        if policies == self.state.policies:
            return
        self.state.policies = policies
        self._revalidate()

    def request_detail_page(self, code: str | None, text: str, page: int, size: int) -> None:
        index = self.state.issue_index
        if index is None:
            return
        query = (id(index), code, text, page, size)
        self._detail_query = query
        self._detail_page(index, query)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _detail_page(self, index: IssueIndex, query: tuple) -> None:
        _, code, text, page, size = query
        issues, total = index.page(code, text, page, size)
        if code and text.strip() and not total:
            # someone looked for a user (an address, a name) whose issues are under
            # another code: show them from every code, and say so
            issues, total = index.page(None, text, page, size)
            self.post_message(DetailPage(query, issues, total, every_code=True))
            return
        self.post_message(DetailPage(query, issues, total))

    def on_detail_page(self, message: DetailPage) -> None:
        from textual.css.query import NoMatches

        if message.query == self._detail_query:
            try:
                self.pane("review").show_page(message.issues, message.total, message.every_code)  # type: ignore[attr-defined]
            except NoMatches:
                return  # the page came from its thread while the console closes: its panes are gone

    def ask_report_path(self) -> None:
        if self.state.report is None:
            self.notify("Load an export first: there is no report yet.", severity="warning")
            return
        folder = self.state.run_dir or Path.cwd()
        self.push_screen(SavePathModal("Write every issue as a CSV row to:", folder / "validation-report.csv"), self._write_report)

    def _write_report(self, path: Path | None) -> None:
        if path is not None and self.state.report is not None:
            self._write_report_worker(self.state.report, path)

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def _write_report_worker(self, report: Any, path: Path) -> None:
        write_report_csv(report, path)
        self.call_from_thread(self.notify, f"Report written: {path}", title="CSV report")
        self.last_report_path = path

    # -- errors ----------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker is started with exit_on_error=False: its error lands here, the
        one place that explains errors (a MigrationError as the engine words it, through
        `as_migration_error`; anything else as a bug), in a modal."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if error is None:
            return
        from console.migration.errors import explain as engine_explain

        known = engine_explain(error)  # the operator's MigrationError, or one line naming a bug
        words = known.message
        if known.code == "internal_error":
            known = None
        group = event.worker.group
        if group == "live-check":
            self.state.live = LiveCheck("failed", message=words)
        elif group == "load":
            self.state.load.status = "failed"
            self.state.load.error = words
        elif group == "job":
            self.job_refused(words)
        self.refresh_views()
        title, what, todo = explain(known or error, base_url=self.state.settings.base_url)
        self.push_screen(ErrorModal(title, what, todo))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False


def make_app(options: ConsoleOptions | None = None) -> ConsoleApp:
    """Build the console from its options (everything it is tuned with, typed)."""
    options = options or ConsoleOptions()
    settings = options.settings if options.settings is not None else load_settings()
    state = ConsoleState(
        settings=settings,
        key_choices=list(options.key_choices),
        run_dir=Path(options.run_dir) if options.run_dir else None,
        suggested_export=Path(options.export_path) if options.export_path else None,
        demo=options.demo,
        url_label=options.url_label,
    )
    if state.run_dir is not None and not state.run_dir.is_dir():
        state.notes.append(f"the run folder {state.run_dir} does not exist yet")
    return ConsoleApp(state, options)


def run_console(run_dir: str | None = None) -> int:
    """`clerk-migrate [--run DIR]`. A closed terminal (SIGHUP) or SIGTERM closes the
    console only: a job works on in its worker (`clerk-migrate --run DIR` comes back)."""
    import signal

    app = make_app(ConsoleOptions(run_dir=Path(run_dir) if run_dir else None))
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.exit())
    app.run()
    return 0
