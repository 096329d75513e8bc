"""What every subcommand shares: exit codes, the one-line error, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from console.migration.errors import MigrationError

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130


class CommandError(MigrationError):
    """A refusal of the command line itself (a bad flag, no terminal to ask on, not
    confirmed): a MigrationError like the engine's, printed once by cli.main."""

    code = "command"

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED, code: str | None = None) -> None:
        super().__init__(message, exit_code, code)
        self.message = message  # as given (the engine's one-line rule holds for what the engine says)


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


def progress_line(p: Any, parts: list[str]) -> str:
    """A job's progress line on stderr: `parts` (what it did), then its requests, pace, 429s and a state
    other than running/done, joined by " · " (undo, unmark and sync say it alike)."""
    if getattr(p, "failed", 0):
        parts.append(f"failed {p.failed}")
    parts.append(f"{p.requests} requests, pace {p.pace:.1f}/s")
    if p.rate_limited:
        parts.append(f"429s {p.rate_limited}")
    if p.state not in ("running", "done"):
        parts.append(p.state)
    return " · ".join(parts)


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
    """Run an engine coroutine on a fresh loop. Ctrl-C, SIGTERM or SIGHUP (the
    terminal or the SSH connection went away) call `stop` (the engine finishes
    the requests in flight and records the stop in the journal) and print
    `stopping`; a Ctrl-C after that cancels at once, which ends as a
    CommandError(`interrupted`, 130). SIGTERM and SIGHUP never escalate (a shell
    that hangs up sends SIGHUP twice); after SIGHUP the output that went to the
    lost terminal goes to /dev/null instead of failing."""
    ttys = [fd for fd in (0, 1, 2) if _isatty(fd)]

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        stopping_now = False

        def request_stop() -> None:
            nonlocal stopping_now
            if not stopping_now:
                stopping_now = True
                note(f"clerk-migrate: {stopping} (Ctrl-C again to quit now)")
                stop()

        def on_interrupt() -> None:
            if stopping_now and task is not None:
                task.cancel()
            request_stop()

        def on_hangup() -> None:
            _away_from_terminal(ttys)
            request_stop()

        handlers = {signal.SIGINT: on_interrupt, signal.SIGTERM: request_stop, signal.SIGHUP: on_hangup}
        for sig, handler in handlers.items():
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
                pass
        try:
            return await make()
        finally:
            for sig in handlers:
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):  # pragma: no cover
                    pass

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise CommandError(interrupted, EXIT_INTERRUPTED) from None


def drive_job(spec: Any, settings: Any, *, journal: Any = None, on_snapshot: Callable[[Any], None] | None = None,
              stopping: str = "stopping: waiting for the requests in flight",
              interrupted: str = "interrupted: the journal is consistent; run the same command to resume") -> Any:
    """Run one job in the foreground the way the worker and the console do (make_job, its
    snapshots to `on_snapshot`, its JobResult): Ctrl-C / SIGTERM / SIGHUP are its safe stop
    (run_stoppable). Returns (JobResult, the job's last snapshot). A refusal (the JobResult of
    a MigrationError) is raised again as that error, for cli.main's one line."""
    from console.migration.jobs import make_job

    job = make_job(spec, settings, on_snapshot=on_snapshot, journal=journal)
    result = run_stoppable(job.run, job.stop, stopping=stopping, interrupted=interrupted)
    if result.stop_reason == "refused":
        raise MigrationError(result.message or f"{spec.kind} refused", result.exit_code,
                             str(result.summary.get("error") or "refused"))
    return result, job.snapshot()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _away_from_terminal(fds: list[int]) -> None:
    """The terminal hung up: what was written to it now goes to /dev/null (a write to a
    hung-up tty fails with EIO, which would end the safe stop in a traceback)."""
    if not fds:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            try:
                os.dup2(null, fd)
            except OSError:
                pass
    finally:
        os.close(null)
