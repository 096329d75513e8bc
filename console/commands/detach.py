"""`import … --detach` / `retry … --detach` / `undo … --detach`: check in the
foreground, then hand the job to a worker that outlives the terminal
(console/migration/worker.py).

Every guard that can refuse is asked here, before anything is spawned (the key,
--yes for Production, IMPORT_TO_DEV_INSTANCE and the Development instance's
room, the same instance, the export unchanged): a refusal is one line and exit
2 in the operator's terminal, not in a log they never read.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from console.commands.common import emit_json, note


def detach(journal: Any, settings: Any, args: argparse.Namespace, *, kind: str, **options: Any) -> int:
    """Start the worker for this prepared run; print where it runs; exit 0."""
    from console.migration.control import start_worker
    from console.migration.jobs import JobSpec, job_class

    run_dir = journal.run_dir.resolve()
    journal.close()
    cls = job_class(kind)
    if kind in ("import", "retry"):  # the run options they share (add_run_options)
        from console.commands.import_ import job_options

        options = job_options(args, **options)
    spec = JobSpec(kind, str(run_dir), options)
    opts = cls.options_from_json(spec.options)
    asyncio.run(cls.preflight(run_dir, settings, opts))  # blockers.run_blockers: a refusal is one line, exit 2
    pid = start_worker(run_dir, spec, settings)
    if args.json:
        emit_json({"run": str(run_dir), "pid": pid})
    else:
        print(f"{kind} running in the background: worker pid {pid}, run {run_dir}")
    note(f"clerk-migrate: follow it with `clerk-migrate status --run {run_dir}` (or the console: "
         f"`clerk-migrate --run {run_dir}`); stop it with `clerk-migrate stop --run {run_dir}`; "
         f"its log is {run_dir / 'worker.log'}")
    return 0
