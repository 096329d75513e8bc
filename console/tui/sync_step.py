"""The rail's mark of the Sync step (issue 14 §2), from the run's figures (the engine's
`RunFigures.sync_last`, the journal's record of the last sync) and the job working on
the run. No Textual here: the state module reads it.

The engine's `status.step_mark` gives the marks of Import, Failures, Verify and Finish;
it does not know Sync yet, so the console says it here, in the same words."""

from __future__ import annotations

from typing import Any


def sync_step_status(state: Any) -> Any:
    from console.tui.state import StepStatus

    run, job = state.run, state.job
    figures = getattr(run, "figures", None) if run is not None else None
    if job is not None and job.active:
        if job.kind == "sync":
            return StepStatus("open", "syncing…")
        if job.kind in ("import", "retry"):
            return StepStatus("blocked", "after the import")
    if figures is None or not figures.sessions:
        return StepStatus("blocked", "after an import")
    if not figures.import_finished:
        return StepStatus("blocked", "after the import")
    last = figures.sync_last
    if last:
        if last.get("left"):
            return StepStatus("open", "sync stopped")
        if last.get("failed"):
            return StepStatus("open", f"{last['failed']:,} failed")
        return StepStatus("done", f"sync {last.get('sync')} done")
    return StepStatus("open", "a later export")
