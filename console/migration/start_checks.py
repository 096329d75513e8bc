"""What the console does in its own process before it starts a job in a worker: the
same checks (and for a new run, the same journal writing) as `clerk-migrate import
--detach` / `retry --detach` do in the operator's terminal. Engine rules only; the
console (console/tui/jobs.py) runs the returned callables in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any


def prepare_import(run_dir: Path, settings: Any, *, export: Path | None, policies: Any, mapping: dict | None,
                   legal: str | None, confirmed_production: bool, run_settings: dict[str, Any],
                   accounts: Path | None = None) -> Callable[[Callable[[int], None]], None]:
    """What `clerk-migrate import … --detach` does in the terminal, for the console: the
    instance's settings read; a new run created with its rules and its journal written from
    the export (rows said through `on_rows`); an existing run's rules settled against the
    instance now. Runs in a thread; raises the engine's errors (MigrationError, ExportError)."""

    def prepare(on_rows: Callable[[int], None]) -> None:
        from console.migration import preflight as pf
        from console.migration.journal import is_run_folder
        from console.migration.run import prepare_run

        read = asyncio.run(pf.read_instance_settings(settings))
        new_run = not is_run_folder(run_dir)
        extra: dict[str, Any] = dict(run_settings)
        use_mapping = mapping
        if new_run:
            extra[pf.SETTINGS_KEY] = pf.plan_rules(read, legal).as_dict()
            use_mapping = pf.mapping_with_legal(mapping, legal)
        journal = prepare_run(run_dir, export if new_run else None, settings, policies=policies if new_run else None,
                              mapping=use_mapping if new_run else None, confirmed_production=confirmed_production,
                              on_load_progress=lambda rows, _read, _size: on_rows(rows), run_settings=extra,
                              accounts=accounts if new_run else None)
        try:
            if not new_run:
                pf.settle_run_rules(journal, read, legal)
        finally:
            journal.close()

    return prepare


def prepare_retry(run_dir: Path, settings: Any) -> Callable[[Callable[[int], None]], None]:
    """What `clerk-migrate retry --detach` checks first: the key's guards, the same
    instance, the run's rules against the instance now."""

    def prepare(on_rows: Callable[[int], None]) -> None:
        from console.migration import preflight as pf
        from console.migration.run import check_key_guards, check_same_instance, open_run

        journal = open_run(run_dir)
        try:
            check_key_guards(settings, confirmed_production=True)  # confirmed when the run was made
            check_same_instance(journal, settings)
            pf.settle_run_rules(journal, asyncio.run(pf.read_instance_settings(settings)), None)
        finally:
            journal.close()

    return prepare


__all__ = ["prepare_import", "prepare_retry"]
