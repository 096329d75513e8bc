"""What every subcommand shares: exit codes, the one-line error, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """An error meant for the operator: printed as one line, then exit."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (rates, timeouts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):  # `not >` also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def whole_number(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            bound = "at least 1" if minimum == 1 else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"must be {bound}: {text!r}")
        return value

    return parse


positive_int = whole_number(1)


def duration(seconds: float | None) -> str:
    """12s, 3m05s, 2h07m; '?' when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def emit_json(obj: Any) -> None:
    """--json: exactly one JSON object on stdout, nothing else there."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """Diagnostics and progress go to stderr."""
    print(message, file=sys.stderr, flush=True)


def run_stoppable(
    make: Callable[[], Awaitable[Any]],
    stop: Callable[[], None],
    *,
    stopping: str,
    interrupted: str,
) -> Any:
    """Run an engine coroutine on a fresh loop. The first Ctrl-C / SIGTERM calls
    `stop` (the engine finishes the requests in flight, the journal stays
    consistent) and prints `stopping`; a second one cancels at once, which ends
    as a CommandError(`interrupted`, 130)."""

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        presses = 0

        def on_signal() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                note(f"clerk-migrate: {stopping} (Ctrl-C again to quit now)")
                stop()
            elif task is not None:
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
                pass
        try:
            return await make()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):  # pragma: no cover
                    pass

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise CommandError(interrupted, EXIT_INTERRUPTED) from None
