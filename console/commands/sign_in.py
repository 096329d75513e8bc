"""`clerk-migrate verify --run DIR --sign-in EMAIL [--json]`: sign-in proof.

The password is read from the terminal without echo (getpass, which opens
/dev/tty), or as one line of stdin when stdin is not a terminal; never from
argv or the environment. Exit 0 verified, 1 not verified (what to check is
said), 2 no such user in this run (or refused: another instance, no key,
Clerk unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from console.commands.common import CommandError, emit_json, note


def read_password(email: str):
    """A Password from the terminal (no echo) or one line of stdin. CommandError (2) when none."""
    from console.migration.signin import Password

    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        try:
            text = getpass.getpass(f"password for {email} (not shown): ")
        except (EOFError, KeyboardInterrupt):
            raise CommandError("no password given", 2) from None
    else:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        text = line[:-1] if line.endswith("\n") else line
        if text.endswith("\r"):
            text = text[:-1]
        del line
    password = Password(text)
    del text
    if not password:
        raise CommandError("no password given (type it at the prompt, or give one line on stdin)", 2)
    return password


def run_sign_in(args: argparse.Namespace) -> int:
    from console.commands.import_ import load_key_settings
    from console.migration.errors import as_migration_error
    from console.migration.run import open_run
    from console.migration.signin import find_run_user, sign_in

    email = args.sign_in.strip()
    # refusals (not a run, no such user) are MigrationErrors: one line, exit 2, by cli.main
    journal = open_run(args.run)  # read-write: confirm_instance records a rotated key, as verify does
    try:
        find_run_user(journal, email)  # before asking for a password
        settings = load_key_settings()
        password = read_password(email)
        try:
            result = asyncio.run(sign_in(journal, settings, email, password))
        except Exception as exc:  # noqa: BLE001 - never a traceback (it could show the password's frame)
            err = as_migration_error(exc)
            if err is None:
                raise CommandError(f"internal error: {type(exc).__name__}", 70) from None
            raise CommandError(err.message, err.exit_code) from None
        finally:
            del password
    finally:
        journal.close()
    if args.json:
        emit_json({"run": str(args.run), **result.as_json()})
    elif result.verified:
        print(f"sign-in as {result.email}: verified (row {result.row_no}, {result.clerk_user_id}): "
              "Clerk accepts this password")
    else:
        why = "Clerk holds no password for this user" if result.reason == "no_password" else \
            "Clerk does not accept this password"
        print(f"sign-in as {result.email}: NOT verified (row {result.row_no}, {result.clerk_user_id}): {why}")
    if not result.verified:
        for line in result.advice:
            note(f"clerk-migrate: check: {line}")
    return result.exit_code
