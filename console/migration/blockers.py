"""What stands between a run and its next write: the one preflight entry.

Every face asks here before anything is written to Clerk, and gets every blocker at once
(the CLI says the first as its one line and exits 2; the console lists them in its plan):

    pre = await run_blockers(journal, settings, kind="import", confirmed_production=True, legal=None)
    pre.blockers          # [Blocker(code, message, short)], in the order the operator fixes them
    pre.raise_first()     # RunRefused with the first one's code and sentence (exit 2)
    pre.to_send, pre.room, pre.read, pre.lines

    local_blockers(journal, settings, kind="import")   # the same without any request (the rail)

What is checked, in order (docs/engine.md):
1. the key's guards: a key, sk_live_/sk_test_, IMPORT_TO_DEV_INSTANCE for a Development key,
   the Production confirmation (`--yes`; a retry or a sync of a confirmed run needs none again);
2. the run's instance: the base URL and the key (check_same_instance; Clerk's own answer, one
   GET /v1/instance, comes with the session, which records it);
3. another session working on the run (its lock, probed without taking it: status.py);
4. the export and its accounts file unchanged (sha256; a sync reads a new one), the run
   loaded (retry, sync);
5. the instance's settings against the run's rules, and the legal-consent policy
   (preflight.settle_run_rules, nothing stored here; one read of the Frontend API);
6. a Development instance's room for the rows to send (devcap.py, one count of its users);
7. a sync's own: `--removed ban|delete` confirmed, the accounts file as the run reads its
   export, no unfinished sync of another export.

Nothing here writes: the journal is only read, Clerk only asked (5, 6). The session checks
1, 2, 4 and 6 again when it starts (the importer, verify, undo, the sync), so a run started by
any face, a worker or a test gets the same refusals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from console.migration.errors import MigrationError

KINDS = ("import", "retry", "sync", "verify", "undo", "unmark", "link")
CREATES_USERS = frozenset({"import", "retry", "sync", "link"})  # the key's import guards apply

# a few words per code, for the console's step rail (the sentence is in `message`)
SHORT: dict[str, str] = {
    "no_key": "no key yet",
    "bad_key": "key not recognised",
    "dev_not_allowed": "dev import is off",
    "production_unconfirmed": "confirm production",
    "other_instance": "another instance",
    "busy": "run busy",
    "export_missing": "export not found",
    "export_changed": "export changed",
    "accounts_missing": "accounts file not found",
    "accounts_changed": "accounts file changed",
    "not_loaded": "journal not loaded",
    "fingerprint_key": "fingerprint key missing",
    "instance_settings_changed": "settings changed",
    "settings_changed": "settings changed",
    "legal_policy_missing": "legal consent",
    "settings_unreachable": "settings unreadable",
    "publishable_key_invalid": "publishable key bad",
    "dev_instance_cap": "over the dev cap",
    "unauthorized": "key refused",
    "count_failed": "Clerk unreachable",
    "removed_unconfirmed": "confirm removals",
    "sync_unfinished": "sync unfinished",
    "accounts_missing_for_sync": "accounts file needed",
    "accounts_not_in_run": "no accounts in run",
}


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str  # the one line the CLI prints, the sentence the console shows

    @property
    def short(self) -> str:
        return SHORT.get(self.code, self.code.replace("_", " "))

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "short": self.short}

    def error(self) -> MigrationError:
        from console.migration.run import RunRefused

        return RunRefused(self.message, code=self.code)

    @classmethod
    def of(cls, exc: MigrationError) -> "Blocker":
        return cls(exc.code, exc.message)


@dataclass
class Preflight:
    """run_blockers' answer."""

    kind: str
    blockers: list[Blocker] = field(default_factory=list)
    to_send: int = 0  # rows the session would send (import: pending + creating; retry: + the rows reset)
    room: Any = None  # devcap.DevRoom when a Development instance's users were counted
    read: Any = None  # preflight.SettingsRead, when the settings were read (reuse it to settle the rules)
    rules: Any = None  # the BodyRules the session would use
    lines: list[str] = field(default_factory=list)  # what to say once about the settings

    @property
    def ok(self) -> bool:
        return not self.blockers

    @property
    def first(self) -> Blocker | None:
        return self.blockers[0] if self.blockers else None

    def raise_first(self) -> None:
        if self.blockers:
            raise self.blockers[0].error()

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ok": self.ok, "to_send": self.to_send,
                "blockers": [b.as_dict() for b in self.blockers], "lines": list(self.lines)}


def _guard(blockers: list[Blocker], check: Any, *args: Any, **kw: Any) -> bool:
    """Run one check; a MigrationError becomes a blocker. True when it passed."""
    try:
        check(*args, **kw)
    except MigrationError as exc:
        blockers.append(Blocker.of(exc))
        return False
    return True


# ----------------------------------------------------------------------------- without any request
def local_blockers(journal: Any, settings: Any, *, kind: str = "import", confirmed_production: bool = False,
                   check_files: bool = True, check_busy: bool = True) -> list[Blocker]:
    """Blockers that need no request: the key's guards, the run's instance (URL, key), another
    session holding the run, the export and its accounts file (check_files: hashes the files,
    a thread for a big export), the load. `journal` None: a new run (the key's guards only)."""
    from console.migration.run import check_key_guards, check_same_export, check_same_instance

    out: list[Blocker] = []
    confirmed = confirmed_production or kind not in ("import", "sync")  # retry, link: confirmed at creation
    if kind in CREATES_USERS:
        _guard(out, check_key_guards, settings, confirmed_production=confirmed)
    elif settings.secret_key is None:
        out.append(Blocker("no_key", "no secret key: set CLERK_SECRET_KEY (environment or .env) or store it in the "
                                     "OS keyring"))
    if journal is None:
        return out
    if not out:
        _guard(out, check_same_instance, journal, settings)
    if check_busy and kind != "verify":  # verify takes no lock: it reads users while an import runs
        holder = _holder(journal.run_dir)
        if holder is not None:
            out.append(holder)
    if kind in ("retry", "sync", "verify", "link") and not journal.info.rows_loaded:
        out.append(Blocker("not_loaded", f"{journal.run_dir}: the export was not fully loaded; run import again"))
    # a sync reads a new export (its own checks, _sync_blockers); the run's old one may be gone; a
    # link reads no export
    if check_files and journal.info.rows_loaded and kind in ("import", "retry", "verify"):
        _guard(out, check_same_export, journal)
    return out


def _holder(run_dir: Any) -> Blocker | None:
    from console.migration.status import lock_holder, lock_text

    pid = lock_holder(run_dir)
    if pid is None or pid == os.getpid():
        return None
    who = lock_text(run_dir) or (f"pid {pid}" if pid else "another process")
    return Blocker("busy", f"{run_dir}: another clerk-migrate session is working on this run ({who}); wait for it "
                           "to end or stop it (`clerk-migrate stop --run DIR`)")


def to_send_of(journal: Any, kind: str, *, codes: Any = None, row_nos: Any = None) -> int:
    counts = journal.counts()
    n = counts["pending"] + counts["creating"]
    if kind == "retry":
        n += journal.count_retryable(codes=codes, row_nos=row_nos)
    return n


# ----------------------------------------------------------------------------- the entry
async def run_blockers(
    journal: Any,
    settings: Any,
    *,
    kind: str = "import",
    confirmed_production: bool = False,
    codes: Any = None,
    row_nos: Any = None,
    legal: str | None = None,
    read: Any = None,
    check_settings: bool = True,
    check_room: bool = True,
    check_busy: bool = True,
    dev_cap: int | None = None,
    client: Any = None,
    sync_export: str | None = None,
    sync_accounts: str | None = None,
    removed: str = "keep",
) -> Preflight:
    """Every blocker of the next `kind` session on this run (module doc), nothing written.
    check_settings=False: the run's stored rules are not compared with the instance now (no
    Frontend API read; the worker's spec was settled by its starter). check_room=False: the
    Development instance's users are not counted (the session counts them itself, before its
    first create, with the same rule)."""
    import asyncio

    from console.migration.preflight import PreflightError, read_instance_settings, settle_run_rules

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    pre = Preflight(kind)
    pre.blockers = await asyncio.to_thread(local_blockers, journal, settings, kind=kind,
                                           confirmed_production=confirmed_production, check_busy=check_busy)
    if journal is None:
        return pre
    pre.to_send = to_send_of(journal, kind, codes=codes, row_nos=row_nos)
    if kind == "sync":
        _sync_blockers(pre.blockers, journal, sync_export, sync_accounts, removed, confirmed_production)
    if check_settings and kind in ("import", "retry", "sync"):
        try:
            pre.read = read if read is not None else await read_instance_settings(settings)
            pre.rules, pre.lines = settle_run_rules(journal, pre.read, legal, store=False)
        except PreflightError as exc:
            pre.blockers.append(Blocker.of(exc))
    key = settings.secret_key
    if (check_room and not pre.blockers and kind in ("import", "retry") and pre.to_send and key is not None
            and key.instance_kind == "development"):
        from console.migration.devcap import count_room, effective_cap

        try:
            pre.room = await count_room(settings, pre.to_send, effective_cap(journal, dev_cap), client=client)
        except MigrationError as exc:  # the key refused, Clerk unreachable
            pre.blockers.append(Blocker.of(exc))
        else:
            refusal = pre.room.refusal()
            if refusal is not None:
                pre.blockers.append(Blocker.of(refusal))
    return pre


def _sync_blockers(out: list[Blocker], journal: Any, export: str | None, accounts: str | None, removed: str,
                   confirmed: bool) -> None:
    from pathlib import Path

    from console.migration.run import file_sha256
    from console.migration.sync_journal import check_accounts, unfinished_sync

    if removed in ("ban", "delete") and not confirmed:
        out.append(Blocker("removed_unconfirmed", f"--removed {removed} changes users in Clerk: pass --yes to "
                                                  "confirm (see the plan first with --dry-run)"))
    if export is None:
        return
    if not Path(export).is_file():
        out.append(Blocker("export_missing", f"{export}: no such file"))
        return
    current = unfinished_sync(journal)
    if current is not None and file_sha256(export) != current.export_sha256:
        out.append(Blocker("sync_unfinished", f"{journal.run_dir}: sync {current.id} of {current.export_path} is not "
                                              f"finished: run `clerk-migrate sync --run {journal.run_dir} "
                                              f"{current.export_path}` again to finish it before a sync of another "
                                              "export"))
    elif current is None:
        _guard(out, check_accounts, journal, accounts)


@dataclass(frozen=True)
class KeyCheck:
    """live_check's answer: `ok` (Clerk answered with `users`), or `failed` with one line."""

    status: str  # ok | failed
    users: int | None = None
    latency_ms: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


async def live_check(settings: Any, *, client: Any = None) -> KeyCheck:
    """Does Clerk take this key? One GET /v1/users/count, timed, without waiting out a 429 (the
    console's Setup check). Never raises for Clerk's answers: a refused key, no answer, a URL
    the client refuses are `failed` with one line."""
    from console.clerk.client import ClerkClient
    from console.clerk.errors import AuthenticationError, ClerkError, UnknownOutcome
    from console.clerk.limiter import RequestBudget

    key = settings.secret_key
    if key is None:
        return KeyCheck("failed", message="no key: choose or paste one")
    own = client is None
    try:
        if own:
            client = ClerkClient(key, settings.base_url, RequestBudget.for_instance(key.instance_kind), timeout=10.0)
        try:
            found = await client.check()
        finally:
            if own:
                await client.aclose()
    except AuthenticationError:
        return KeyCheck("failed", message="Clerk refused this key (401): check it, or paste another")
    except UnknownOutcome as exc:
        return KeyCheck("failed", message=f"no answer from {settings.base_url}: {exc}")
    except ClerkError as exc:
        return KeyCheck("failed", message=str(exc))
    except ValueError as exc:  # the client refuses the key or the URL (e.g. http:// off loopback)
        return KeyCheck("failed", message=str(exc))
    return KeyCheck("ok", found.users, found.latency_ms)


def resume_problem(journal: Any, settings: Any) -> str | None:
    """Why this key cannot carry the run on (None when it can), without the Production
    confirmation (asked apart) and without touching the files: the console's Import plan."""
    from console.migration.run import check_key_guards, check_same_instance

    if settings.secret_key is None:
        return f"this run was made with {journal.info.key_masked}: choose or paste that key in Setup"
    found: list[Blocker] = []
    if _guard(found, check_key_guards, settings, confirmed_production=True):
        _guard(found, check_same_instance, journal, settings)  # reads only .info and .run_dir
    return found[0].message if found else None


__all__ = ["Blocker", "KINDS", "KeyCheck", "Preflight", "SHORT", "live_check", "local_blockers", "resume_problem",
           "run_blockers", "to_send_of"]
