"""Helpers of the console's part-2 tests (Import, Failures, Verify, Finish):
driving the demo up to the Import step, a run journal built by hand for
reproducible screens, and reading the run while the app works on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.commands.demo import DemoArea, demo_key_choices, prepare_area
from console.migration.journal import RunJournal, is_run_folder
from console.migration.run import prepare_run
from console.settings import Settings

from tui_support import wait_until

PART2_ROWS = 300  # 288 importable, 12 refused by the checks (seed 7)
PART2_SEED = 7


def production_key():
    return demo_key_choices()[0].key


def fresh_area(root: Path) -> DemoArea:
    return prepare_area(PART2_ROWS, PART2_SEED, root)


def export_rows(area: DemoArea) -> list[dict[str, Any]]:
    return json.loads(Path(area.export).read_text())


def counts(run_dir: Path) -> dict[str, int]:
    """The journal's counts, read on a connection of our own (the app keeps writing)."""
    if not is_run_folder(run_dir):
        return {}
    with RunJournal.open(run_dir, readonly=True) as journal:
        return journal.counts()


async def choose_key(pilot, index: int = 0) -> None:
    app = pilot.app
    radio = app.query_one("#demo-keys")
    radio.focus()
    await pilot.pause()
    start = max(radio.pressed_index, 0)
    for _ in range(abs(index - start)):
        await pilot.press("down" if index > start else "up")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")


async def up_to_import(pilot, key_index: int = 0) -> None:
    """Setup (a demo key) -> Load (the suggested export) -> Review -> Import, by keys."""
    app = pilot.app
    await choose_key(pilot, key_index)
    await pilot.press("ctrl+n")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
    await pilot.press("ctrl+n")
    await pilot.press("ctrl+n")
    assert app.state.current == "import"
    await pilot.pause()


async def start_import(pilot, word: str = "production") -> None:
    app = pilot.app
    assert app.focused is app.query_one("#prod-word"), app.focused
    await pilot.press(*word)
    await pilot.press("enter")


def fast_jobs(rate: float = 400, **tuning) -> dict:
    """ConsoleOptions.job_options for tests: a high pace and the importer's timers short
    (the worker process gets them through its JobSpec)."""
    timers = {"backoff_base_s": 0.05, "backoff_cap_s": 0.4, "lookup_wait_s": 0.05, **tuning}
    return {
        "import": {"rate": rate, "timeout": 5.0, "tuning": timers},
        "retry": {"rate": rate, "timeout": 5.0, "tuning": timers},
        "verify": {"rate": rate, "timeout": 5.0},
        "undo": {"rate": rate, "timeout": 5.0},
    }


def busy(app) -> bool:
    """A job works on the run (its worker is starting, running or stopping)."""
    job = app.state.job
    return job is not None and job.active


def job_result(app):
    job = app.state.job
    return job.result if job is not None else None


async def wait_settled(pilot, timeout: float = 60.0) -> None:
    """The job ended, its result reached the console, and the journal's figures are back."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: not busy(app) and app.state.job is not None and (app.state.job.result is not None
                                                                 or app.state.job.refused or app.state.job.lost),
        timeout=timeout,
        what="the end of the job",
    )
    job = app.state.job
    assert job.result is not None, job.refused or job.note
    await wait_for(
        pilot,
        lambda: app.state.run is not None and (app.state.run.to_send == 0 or job.result.exit_code == 130)
        and not app.state.run.busy_elsewhere,
        timeout=10,
        what="the journal re-read",
    )


def synthetic_run(
    area: DemoArea,
    base_url: str,
    *,
    failed: dict[int, tuple[str, str | None, str]] | None = None,
    pending: set[int] = frozenset(),
    creating: set[int] = frozenset(),
) -> None:
    """A run journal made by hand: every importable row created with a fixed Clerk
    id, except `failed` rows (code, param, message), `pending` and `creating` ones.
    Made with the demo's Production key against `base_url`, so the demo app reopens it."""
    settings = Settings(production_key(), "prompt", base_url.rstrip("/"), False)
    journal = prepare_run(area.run_dir, area.export, settings, confirmed_production=True)
    try:
        failed = failed or {}
        session_id = journal.start_session("import")
        outcomes: list[tuple] = []
        creating_rows: list[int] = []
        created = 0
        for rec in journal.iter_rows(status="pending"):
            if rec.row_no in failed:
                code, param, message = failed[rec.row_no]
                outcomes.append(("failed", rec.row_no, code, param, message))
            elif rec.row_no in creating:
                creating_rows.append(rec.row_no)
            elif rec.row_no not in pending:
                outcomes.append(("created", rec.row_no, f"user_fixed{rec.row_no:05d}"))
                created += 1
        journal.mark_creating(sorted(failed) + creating_rows)  # one attempt each, as a real send
        journal.record(outcomes)
        journal.update_session(session_id, end=True, outcome="stopped" if pending or creating else "done",
                               created=created, failed=len(failed), requests=created + len(failed))
    finally:
        journal.close()


async def wait_for(pilot, condition, timeout: float = 30.0, what: str = "condition") -> None:
    """Like tui_support.wait_until, without waiting for the workers to complete
    (an import's worker runs for the whole session): polls between frames."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            app = pilot.app
            job = getattr(app.state, "job", None)
            raise AssertionError(f"timed out waiting for {what} (the focus on {app.focused!r}, screen {app.screen!r}, "
                                 f"job {job.kind if job else None} {job.phase if job else ''} "
                                 f"{job.state if job else ''})")
        await pilot.pause(0.02)
