"""`clerk-migrate`: the headless face of the engine.

Each subcommand lives in `console/commands/<name>.py` as a thin adapter with
`add_parser(subparsers)` (which sets `func`) over the engine. Errors meant for
the operator are `MigrationError`s (the engine's, and the commands' own
`CommandError`), caught once in `main`: one line on stderr and their exit code, never a
traceback (set CLERK_MIGRATE_DEBUG=1 to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from console.commands.common import CommandError, EXIT_INTERRUPTED
from console.migration.errors import as_migration_error

COMMAND_MODULES = (
    "demo",
    "sandbox",
    "validate",
    "preflight",
    "import_",
    "retry",
    "status",
    "verify",
    "export_ids",
    "undo",
    "unmark",
    "sync",
    "export_db",
    "scan_app",
    "stop",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        raise CommandError(message, 2)


def _module_of(command: str) -> str | None:
    """The module of a subcommand named on the command line (`export-ids` -> export_ids)."""
    name = "import_" if command == "import" else command.replace("-", "_")
    return name if name in COMMAND_MODULES else None


def build_parser(only: str | None = None, *, commands: bool = True) -> argparse.ArgumentParser:
    """The whole parser; `only`: just that command's module is imported (a command starts
    without importing every other one: `status` on a million-row run answers in under 1 s)."""
    parser = _Parser(
        prog="clerk-migrate",
        description="Move a Next.js app's users from Auth.js (NextAuth) to Clerk.",
    )
    parser.add_argument("--run", metavar="DIR", help="reopen an earlier run folder in the console")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in (only,) if only else COMMAND_MODULES if commands else ():
        try:
            module = importlib.import_module(f"console.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"console.commands.{name}":
                continue  # not built yet
            raise
        module.add_parser(sub)
    return parser


def _run_console(args: argparse.Namespace) -> int:
    from console.tui.app import run_console

    return run_console(run_dir=args.run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:  # the detached worker (console/migration/worker.py): not an operator command
        from console.migration.worker import worker_main

        return worker_main(argv[1:])
    try:
        only = _module_of(argv[0]) if argv and not argv[0].startswith("-") else None
        # the console (no command, or only --run DIR) imports no command module: its live panel
        # shows sooner after `clerk-migrate --run DIR` (0.3 s of start-up)
        console = not argv or (argv[0] == "--run" and len(argv) == 2) or (argv[0].startswith("--run=") and len(argv) == 1)
        parser = build_parser(only, commands=not console)
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        code = func(args) if func else _run_console(args)
        return int(code or 0)
    except KeyboardInterrupt:
        print("clerk-migrate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the engine's errors once (MigrationError, and what it maps); else a bug
        err = as_migration_error(exc)
        if err is not None:
            print(f"clerk-migrate: {err.message}", file=sys.stderr)
            return err.exit_code
        if os.environ.get("CLERK_MIGRATE_DEBUG"):
            raise
        print(
            f"clerk-migrate: internal error: {type(exc).__name__}: {exc} "
            "(set CLERK_MIGRATE_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
