"""Everything the console is built with: `make_app(ConsoleOptions(...))`.

One typed object, read by the app and never changed after it is built (posting's
`make_posting()`): what `clerk-migrate`, `clerk-migrate demo`, the tests, the
screenshot script and the benchmarks tune goes here, not onto the app afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.settings import Settings
from console.tui.state import KeyChoice

Clock = Callable[[], float]


def default_client_factory(settings: Settings) -> Any:
    """The Clerk client of the live check (Setup)."""
    from console.clerk.client import ClerkClient

    assert settings.secret_key is not None
    return ClerkClient(settings.secret_key, settings.base_url, timeout=10.0)


@dataclass(frozen=True)
class ConsoleOptions:
    settings: Settings | None = None  # None: load_settings() (flag > env > .env > keyring)
    run_dir: Path | None = None  # --run DIR: reopen (or attach to) that run folder
    key_choices: tuple[KeyChoice, ...] = ()  # keys offered without pasting (the demo's two)
    export_path: Path | None = None  # filled into Load
    demo: bool = False
    keep_area: bool = False  # the demo's --keep: its temporary area stays when it closes
    url_label: str | None = None  # shown instead of the base URL (a sandbox's random port in snapshots)
    clock: Clock = time.perf_counter  # times the live check and the load (fixed: reproducible screens)
    client_factory: Callable[[Settings], Any] = default_client_factory
    auto_live_check: bool = True
    # the options of each job the console starts in a worker, by kind ("import", "retry", "verify",
    # "undo", ...): rate, timeout, and for import/retry the engine's `tuning` (tests shorten timers)
    job_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    worker_python: str | None = None  # the interpreter a worker runs on (None: this one)
    watch_every_s: float = 1.0  # how often the run folder is looked at for changes made elsewhere
    label: str = "console"  # how this console names itself to a worker (its pid is added)
    # an export file at least this big is read and checked by Load in a process of its own (the
    # other core; the console's keys stay quick: issue 17), a smaller one in a thread here
    load_process_from_bytes: int = 16 * 1024 * 1024

    def job(self, kind: str) -> dict[str, Any]:
        """The options of one kind of job (a copy: the caller adds its own)."""
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (self.job_options.get(kind) or {}).items()}


__all__ = ["Clock", "ConsoleOptions", "default_client_factory"]
