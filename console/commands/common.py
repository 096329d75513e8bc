"""What every subcommand shares: exit codes, the one-line error, JSON output."""

from __future__ import annotations

import json
import sys
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


def emit_json(obj: Any) -> None:
    """--json: exactly one JSON object on stdout, nothing else there."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """Diagnostics and progress go to stderr."""
    print(message, file=sys.stderr, flush=True)
