"""Sign-in proof: "verify by signing in with your user account", without a browser.

    row = find_run_user(journal, "ada@example.com")            # NoSuchUser (exit 2) if the run has none
    result = await sign_in(journal, settings, "ada@example.com", Password(text))
    result.verified, result.reason, result.advice, result.as_json()

Clerk's `POST /v1/users/{id}/verify_password` says whether a password is the
user's: exactly what a sign-in with it would check. It proves the digest and
its hasher (or the plaintext policy) were imported right.

The password lives in a `Password` (masked repr, never pickled), is handed to
the client (which masks it in its own locals and scrubs it from answers) and
is never logged, journaled or put in an exception: nothing about the check
is written (only `confirm_instance` may record the instance or a rotated key,
as every session does). The user is found through the run's
journal (its email, or the operator's fix of it): a user this run did not
create or link is "no such user in this run".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.migration.errors import MigrationError

FOUND_STATUSES = ("created", "existed")


class NoSuchUser(MigrationError):
    """No user with that email in this run (exit 2)."""

    code = "no_such_user"


class Password:
    """A password that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Password(hidden)"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into anything by accident
        raise TypeError("Password cannot be pickled")


@dataclass(frozen=True)
class SignInResult:
    email: str
    verified: bool
    row_no: int
    external_id: str | None
    clerk_user_id: str
    status: str  # the row's: created / existed
    reason: str | None = None  # None (verified) | "wrong_password" | "no_password"
    hasher: str | None = None  # how the row's password went to Clerk: a hasher name, "plaintext", or None
    advice: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        return 0 if self.verified else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "sign_in": {"email": self.email, "verified": self.verified},
            "row": self.row_no,
            "external_id": self.external_id,
            "clerk_user_id": self.clerk_user_id,
            "reason": self.reason,
            "hasher": self.hasher,
            "advice": list(self.advice),
        }


def find_run_user(journal: Any, email: str) -> Any:
    """The run's row for `email` (case-insensitive: the export's address or the fixed one),
    among the users this run created or linked (existed). NoSuchUser otherwise."""
    wanted = email.strip().lower()
    if not wanted:
        raise NoSuchUser("no email given")
    after = None
    other = None
    while True:
        page = journal.rows(search=wanted, limit=500, after_row=after)
        if not page:
            break
        for rec in page:
            addresses = {(rec.email or "").strip().lower(), (rec.export_email or "").strip().lower()}
            if rec.fix and isinstance(rec.fix.get("email"), str):
                addresses.add(rec.fix["email"].strip().lower())
            if wanted in addresses:
                if rec.status in FOUND_STATUSES and rec.clerk_user_id:
                    return rec
                other = other or rec
        after = page[-1].row_no
    if other is not None:
        raise NoSuchUser(f"no such user in this run: {email} is row {other.row_no}, {other.status} "
                         "(the run did not create or link a Clerk user for it)")
    raise NoSuchUser(f"no such user in this run: {email}")


def row_password_kind(journal: Any, row_no: int) -> str | None:
    """How row `row_no`'s password went to Clerk: its hasher, "plaintext", or None (none, or
    the export cannot be read now). Reads the export up to that row; never returns the digest."""
    try:
        from console.migration.run import run_policies
        from console.source import open_export

        info = journal.info
        policies = run_policies(journal)
        reader = open_export(info.export_path, fmt=info.export_format, mapping=info.mapping)
        rows = reader.rows(policies)
        try:
            for checked in rows:
                user = checked.user
                if user.row < row_no:
                    continue
                if user.row != row_no:
                    return None
                if user.password_digest and user.password_hasher:
                    return user.password_hasher
                if user.password and policies.plaintext_password == "send":
                    return "plaintext"
                return None
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
    except Exception:  # noqa: BLE001 - advice only
        return None
    return None


def advice_for(reason: str, hasher: str | None) -> tuple[str, ...]:
    if reason == "no_password":
        return (
            "Clerk holds no password for this user (400): the row had none and was created with "
            "skip_password_requirement, or passwords are turned off on the instance; the user signs in "
            "another way (email code, OAuth)",
        )
    lines = ["check the password typed (the one that signs in to the Auth.js app today)"]
    if hasher == "plaintext":
        lines.append("the row's password was sent as plaintext (--plaintext send): Clerk stores exactly the "
                     "export's text; a column that holds something else (a digest of an unknown scheme, a "
                     "trimmed value) imports a password nobody knows")
    elif hasher:
        lines.append(f"the hasher: the row was imported as {hasher}; if the app used another scheme, name it in "
                     "a passwordHasher column (a wrong hasher imports a password nobody can type)")
        lines.append("the digest format: the whole digest as the app stored it (bcrypt: $2a$/$2b$/$2y$, two-digit "
                     "cost, 53 characters; argon2: $argon2id$v=19$m=…,t=…,p=…$salt$hash with the right variant)")
    else:
        lines.append("the hasher and the digest format (a passwordHasher column names the scheme), or the "
                     "plaintext policy (--plaintext send) when the export holds plaintext passwords")
    return tuple(lines)


async def sign_in(journal: Any, settings: Any, email: str, password: Password, *, client: Any = None) -> SignInResult:
    """Ask Clerk whether `password` is the password of the run's user with `email`.
    Raises NoSuchUser (exit 2), RunRefused (another instance, no key), MigrationError
    for Clerk's refusals (401, unreachable); never with the password in it."""
    from console.clerk.client import ClerkClient
    from console.clerk.errors import AuthenticationError, ClerkError, NotFound, PasswordNotSet
    from console.clerk.limiter import RequestBudget
    from console.migration.run import check_same_instance, confirm_instance

    if not isinstance(password, Password):
        raise TypeError("sign_in takes a Password")
    rec = find_run_user(journal, email)
    check_same_instance(journal, settings)
    key = settings.secret_key
    own = client is None
    if own:
        client = ClerkClient(key, settings.base_url, RequestBudget.for_instance(key.instance_kind), timeout=30.0)
    reason = None
    try:
        await confirm_instance(journal, settings, client)
        try:
            verified = await client.verify_password(rec.clerk_user_id, password.reveal())
        except PasswordNotSet:
            verified, reason = False, "no_password"
        except NotFound:
            raise NoSuchUser(f"no such user in Clerk: {email} was {rec.status} as {rec.clerk_user_id} by this run, "
                             "and Clerk has no such user now (deleted?)") from None
        except AuthenticationError as exc:
            raise MigrationError(f"Clerk refused the key: {exc.message}", code="unauthorized") from None
        except ClerkError as exc:
            status = getattr(exc, "status", None)
            where = f"Clerk answered {status}" if status else "Clerk could not be reached"
            raise MigrationError(f"{where} ({exc.code}): {exc.message}", code="clerk_error") from None
    finally:
        if own:
            await client.aclose()
    if not verified and reason is None:
        reason = "wrong_password"
    hasher = None if verified else row_password_kind(journal, rec.row_no)
    return SignInResult(
        email=email,
        verified=bool(verified),
        row_no=rec.row_no,
        external_id=rec.external_id,
        clerk_user_id=rec.clerk_user_id,
        status=rec.status,
        reason=reason,
        hasher=hasher,
        advice=() if verified else advice_for(reason or "wrong_password", hasher),
    )


__all__ = ["NoSuchUser", "Password", "SignInResult", "advice_for", "find_run_user", "sign_in"]
