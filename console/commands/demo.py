"""`clerk-migrate demo`: the console against the built-in sandbox.

Starts the Clerk Backend API simulator in-process on a free loopback port,
offers a Production-style and a Development-style key of it, writes a
generated sample export (a few thousand users with a realistic share of
problems) into a temporary run area, and opens the console wired to them.
No Clerk account, nothing leaves the machine. Exit 0 when the console closes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from console.commands.common import CommandError, note


@dataclass
class DemoArea:
    root: Path
    export: Path
    run_dir: Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="the console against the built-in sandbox, with a generated sample export",
        description="Open the console against the built-in Clerk sandbox and a generated sample export. "
        "No Clerk account needed; nothing leaves this machine.",
    )
    parser.add_argument("--rows", type=int, default=3000, help="users in the sample export (default 3000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sample export (default 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mean latency the sandbox adds per request")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run area when the console closes")
    parser.set_defaults(func=run)


def prepare_area(rows: int = 3000, seed: int = 1, root: Path | None = None) -> DemoArea:
    """The demo's run area: a private folder with the sample export and a run folder."""
    from console.sandbox.samples import write_sample_export

    base = Path(root) if root else Path(tempfile.mkdtemp(prefix="clerk-migrate-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    run_dir = base / "run"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    export = write_sample_export(base / "authjs-users.json", n=rows, seed=seed)
    return DemoArea(base, Path(export), run_dir)


def demo_key_choices():
    from console.sandbox import make_key
    from console.settings import SecretKey
    from console.tui.state import KeyChoice

    return [
        KeyChoice("Production-style", SecretKey(make_key("production", "demo"))),
        KeyChoice("Development-style", SecretKey(make_key("development", "demo"))),
    ]


def make_demo_app(url: str, area: DemoArea, **options):
    """The console wired to a running sandbox at `url` and a prepared area; `options` are
    more fields of ConsoleOptions (tests: url_label, clock, job_options, ...)."""
    from console.settings import Settings
    from console.tui.app import make_app
    from console.tui.options import ConsoleOptions

    # the sandbox serves the Frontend API too: Review checks the export against its settings (issue 13)
    settings = Settings(secret_key=None, key_source=None, base_url=url, allow_dev_import=False, frontend_api_url=url)
    options.setdefault("key_choices", tuple(demo_key_choices()))
    return make_app(ConsoleOptions(settings=settings, run_dir=area.run_dir, export_path=area.export, demo=True,
                                   **options))


def seed_early_signup(server, area: DemoArea, nth: int = 5) -> str | None:
    """Part 2 of the console: someone already signed up in the Production-style
    instance with the address of the export's `nth` importable row, as happens on a
    live app, so the import fails that row and the Failures step has one to fix.
    Returns the address (None when the export has no such row)."""
    from console.sandbox import make_key
    from console.source import open_export

    seen = 0
    for checked in open_export(area.export).rows():
        if checked.importable and checked.user.email:
            seen += 1
            if seen == nth:
                email = checked.user.email
                server.seed_user(make_key("production", "demo"), {
                    "email_address": [email], "external_id": "signed-up-before-the-migration",
                    "skip_password_requirement": True,
                })
                return email
    return None


def run(args: argparse.Namespace) -> int:
    if args.rows < 1:
        raise CommandError("--rows must be at least 1", 2)
    try:
        from console.sandbox import SandboxConfig, SandboxServer
    except ImportError as exc:  # pragma: no cover - the sandbox ships with the package
        raise CommandError(f"the sandbox is not available: {exc}", 2) from None

    area = prepare_area(args.rows, args.seed)
    server = SandboxServer(SandboxConfig(latency_ms=args.latency_ms))
    try:
        url = server.start()
        seed_early_signup(server, area)  # one row for the Failures step to fix
        app = make_demo_app(url, area, keep_area=args.keep)
        hung_up = []

        # A closed terminal (SIGHUP) or a kill (SIGTERM) would end the process
        # before `finally`: ask the app to exit instead, so the area is removed.
        def on_signal(signum, _frame):
            from console.tui.run_control import QuitNow

            if signum == signal.SIGHUP:  # the connection dropped: a running job goes on (see below)
                hung_up.append(True)
                app.exit()
            else:  # SIGTERM: the demo ends, its job stopped safely first (its sandbox goes)
                app.post_message(QuitNow(stop=True))

        for sig in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, on_signal)
        app.run()
        if hung_up:
            serve_until_the_job_ends(area)
        else:
            stop_the_job(area)
    finally:
        server.stop()
        if args.keep:
            with contextlib.suppress(OSError):  # the terminal may be gone
                note(f"clerk-migrate demo: the run area is kept at {area.root}")
        else:
            shutil.rmtree(area.root, ignore_errors=True)
    return 0


def stop_the_job(area: DemoArea) -> None:
    """The demo closes: a job still working on its run (the console's safe stop did not
    end it) is stopped before the sandbox it writes to goes."""
    import asyncio

    from console.migration.control import stop_run
    from console.migration.errors import MigrationError
    from console.migration.status import lock_holder

    if lock_holder(area.run_dir) is not None:
        with contextlib.suppress(MigrationError, OSError, TimeoutError):
            asyncio.run(stop_run(area.run_dir, force=True, label="clerk-migrate demo", wait_s=60))


def serve_until_the_job_ends(area: DemoArea) -> None:
    """The terminal hung up while a job worked on the demo's run (a dropped SSH
    connection): the job is in its worker and needs this process's sandbox, so the
    demo goes on in the background, without a terminal, until the worker lets go of
    the run (`clerk-migrate --run DIR` watches it meanwhile); then the area is removed
    as usual (unless --keep)."""
    import time

    from console.migration.status import lock_holder

    if lock_holder(area.run_dir) is None:
        return
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a shell that hangs up sends it twice
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    while lock_holder(area.run_dir) is not None:  # a job of hours: a look twice a second costs nothing
        time.sleep(0.5)
