"""Opening or creating a run folder, and the guards that come before any write.

`prepare_run` is what `import` does before it sends anything: on a new folder
it checks the key, creates the journal and streams the export once into it
(one journal row per export row: pending, or refused with the checks' codes);
on an existing folder it checks that the key, the base URL, the export and
its accounts file (by sha256) and the policies are the ones the run started
with, and says what differs when they are not.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import errno
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from console.migration.journal import (
    JOURNAL_NAME,
    LOAD_BATCH,
    JournalError,
    NewRow,
    RunInfo,
    RunJournal,
    is_run_folder,
)
from console.migration.errors import MigrationError
from console.migration.fingerprint import FingerprintKeyError, row_fingerprint, run_key
from console.settings import Settings, fingerprint
from console.source.model import Policies

LoadProgress = Callable[[int, int, int], None]  # (rows, bytes_read, size_bytes)


class RunRefused(MigrationError):
    """A guard or a resume check said no. One line for the operator; exit 2."""

    exit_code = 2

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------- guards
def check_key_guards(settings: Settings, *, confirmed_production: bool) -> None:
    """Before anything is written: a key, and the right to write to its instance."""
    key = settings.secret_key
    if key is None:
        raise RunRefused(
            "no secret key: set CLERK_SECRET_KEY (environment or .env) or store it in the OS keyring",
            code="no_key",
        )
    kind = key.instance_kind
    if kind is None:
        raise RunRefused(f"the secret key {key.masked} starts with neither sk_live_ nor sk_test_", code="bad_key")
    if kind == "development" and not settings.allow_dev_import:
        raise RunRefused(
            f"{key.masked} is a Development instance key: set IMPORT_TO_DEV_INSTANCE=true to import into it "
            "(it holds at most 100 users, and users cannot be moved to Production later)",
            code="dev_not_allowed",
        )
    if kind == "production" and not confirmed_production:
        raise RunRefused(
            f"{key.masked} is a Production instance key: pass --yes to import into it", code="production_unconfirmed"
        )


def check_same_instance(journal: RunJournal, settings: Settings) -> None:
    """Before any request: the key may be for the run's instance, and CLERK_API_URL is the run's.

    The instance itself decides (issue 13 §2): once the run has recorded its instance id
    (`GET /v1/instance`, at its first session), another key is only a hint — a rotated key
    of the same instance resumes, verifies and undoes the run; `confirm_instance` asks Clerk
    at the start of the session and refuses another instance. A key of the other kind
    (sk_live_ / sk_test_) is refused here. A run without an instance id (made before it was
    recorded) keeps the key's fingerprint as the rule."""
    info = journal.info
    key = settings.secret_key
    if key is None:
        raise RunRefused("no secret key: set CLERK_SECRET_KEY (environment or .env) or the OS keyring", code="no_key")
    differences = []
    if fingerprint(key) != info.key_fingerprint:
        if not info.instance_id:
            differences.append(f"the key is {key.masked}, the run was made with {info.key_masked} (another instance)")
        elif info.instance_kind and key.instance_kind != info.instance_kind:
            differences.append(f"the key is {key.masked}, a {key.instance_kind or 'unknown'} key; the run was made in "
                               f"the {info.instance_kind} instance {info.instance_id} (another instance)")
    if settings.base_url.rstrip("/") != (info.base_url or "").rstrip("/"):
        differences.append(f"CLERK_API_URL is {settings.base_url}, the run was made against {info.base_url}")
    if differences:
        raise RunRefused(f"{journal.run_dir}: {'; '.join(differences)}", code="other_instance")


async def confirm_instance(journal: RunJournal, settings: Settings, client: Any) -> Any:
    """Before a session writes or reads users: one `GET /v1/instance`. The first answer is
    recorded in the journal (id, environment_type); afterwards the instance id decides: the
    same id under another key is a rotated key (the journal then names the new key, and an
    event says so), another id is refused (RunRefused "other_instance"). Without a recorded id
    an unanswered request lets the session go on under the key's fingerprint (the same key
    is the same instance); with another key Clerk's answer is required."""
    from console.clerk.errors import AuthenticationError, ClerkError

    info = journal.info
    key = settings.secret_key
    same_key = key is not None and fingerprint(key) == info.key_fingerprint
    try:
        instance = await client.get_instance()
    except AuthenticationError as exc:
        raise RunRefused(f"Clerk refused the key {key.masked if key else ''}: {exc}", code="unauthorized") from None
    except ClerkError as exc:
        if same_key:
            return None  # the run's own key: the same instance; recorded at the next session
        raise RunRefused(
            f"{journal.run_dir}: the key is {key.masked if key else '?'}, the run was made with {info.key_masked}, "
            f"and Clerk did not say which instance it belongs to (GET /v1/instance: {exc}): refused",
            code="instance_unconfirmed",
        ) from None
    if not info.instance_id:
        journal.update_run(instance_id=instance.id, instance_env=instance.environment_type)
        journal.add_event("instance", f"the run's instance is {instance.id} ({instance.environment_type})")
        if info.instance_kind and instance.environment_type != info.instance_kind:
            journal.add_event("instance", f"note: the key says {info.instance_kind}, Clerk says "
                              f"{instance.environment_type}")
        return instance
    if instance.id != info.instance_id:
        raise RunRefused(
            f"{journal.run_dir}: the key {key.masked if key else '?'} belongs to the {instance.environment_type} "
            f"instance {instance.id}; the run was made in {info.instance_id} (with {info.key_masked}): another instance",
            code="other_instance",
        )
    if not same_key and key is not None:
        was = info.key_masked
        journal.update_run(key_fingerprint=fingerprint(key), key_masked=key.masked)
        journal.add_event("key", f"the secret key changed from {was} to {key.masked}: Clerk says the same instance "
                          f"{instance.id} (a rotated key)")
    return instance


def key_is_the_runs(journal: RunJournal, settings: Settings) -> bool:
    key = settings.secret_key
    return key is not None and fingerprint(key) == journal.info.key_fingerprint


def confirm_instance_now(journal: RunJournal, settings: Settings, *, timeout: float = 30.0) -> Any:
    """confirm_instance with a client of its own, for a command that has nothing else to send
    (a finished undo or unmark) but is run with another key: one GET /v1/instance, paced."""
    import asyncio

    from console.clerk.client import ClerkClient
    from console.clerk.limiter import RequestBudget

    async def go() -> Any:
        key = settings.secret_key
        budget = RequestBudget.for_instance(journal.info.instance_kind or key.instance_kind)
        async with ClerkClient(key, settings.base_url, budget, timeout=timeout) as client:
            return await confirm_instance(journal, settings, client)

    return asyncio.run(go())


_SHA_CACHE: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (cached by path, size, mtime and inode)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    cached = _SHA_CACHE.get(key)
    if cached is not None:
        return cached
    with open(p, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    _SHA_CACHE[key] = digest
    return digest


def policies_dict(policies: Policies) -> dict[str, Any]:
    return dataclasses.asdict(policies)


def choose_policies(choices: Policies | dict[str, Any] | None, base: Policies) -> Policies:
    """The policies of a session: a Policies as given, else `base` with the choices the
    operator made (a dict of Policies fields; unknown names refused)."""
    if isinstance(choices, Policies):
        return choices
    if not choices:
        return base
    known = {f.name for f in dataclasses.fields(Policies)}
    unknown = sorted(set(choices) - known)
    if unknown:
        raise RunRefused(f"unknown policy {', '.join(unknown)}", code="bad_option")
    return dataclasses.replace(base, **choices)


def run_policies(journal: RunJournal) -> Policies:
    known = {f.name for f in dataclasses.fields(Policies)}
    return Policies(**{k: v for k, v in (journal.info.policies or {}).items() if k in known})


def check_same_export(journal: RunJournal, export_path: str | os.PathLike[str] | None = None) -> Path:
    """The export still has the bytes the run was loaded from, and so has its accounts file
    when the run has one (check_same_accounts); returns the export's path."""
    info = journal.info
    path = Path(export_path) if export_path else Path(info.export_path)
    if not path.is_file():
        raise RunRefused(f"{path}: the export of this run is not there (it was {info.export_path})", code="export_missing")
    if info.export_sha256:
        digest = file_sha256(path)
        if digest != info.export_sha256:
            raise RunRefused(
                f"{path}: the export changed since this run started (sha256 {digest[:12]}…, the run has "
                f"{info.export_sha256[:12]}…): start a new run folder for a new export",
                code="export_changed",
            )
    check_same_accounts(journal)
    return path


def check_same_accounts(journal: RunJournal, accounts_path: str | os.PathLike[str] | None = None) -> Path | None:
    """The run's accounts file (import --accounts) still has the bytes the run read; returns its
    path (None: the run reads its export without one). `accounts_path`: where it is now, when
    the operator names it (a moved file with the same bytes is fine)."""
    from console.migration.feed import run_accounts

    recorded, sha = run_accounts(journal.info)
    if recorded is None:
        if accounts_path is not None:
            raise RunRefused(f"{journal.run_dir}: this run reads its export without an accounts file; --accounts "
                             f"{accounts_path} would change every OAuth user's row: start a new run folder",
                             code="settings_changed")
        return None
    path = Path(accounts_path) if accounts_path else Path(recorded)
    if not path.is_file():
        raise RunRefused(f"{path}: the accounts file of this run is not there (it was {recorded}): give it back, or "
                         "start a new run folder", code="accounts_missing")
    if sha:
        digest = file_sha256(path)
        if digest != sha:
            raise RunRefused(
                f"{path}: the accounts file changed since this run started (sha256 {digest[:12]}…, the run has "
                f"{sha[:12]}…): start a new run folder for a new export",
                code="accounts_changed",
            )
    return path


def open_run(run_dir: str | os.PathLike[str], *, readonly: bool = False, check: str = "full") -> RunJournal:
    """An existing run folder, checked in full before a command uses it (quick_check, the
    row invariants, no commit lost behind the state record). Raises NotARunFolder,
    NewerJournal, JournalDamaged, JournalUnwritable (all JournalError: one line, exit 2)."""
    return RunJournal.open(run_dir, readonly=readonly, check=check)


LOCK_NAME = "run.lock"
_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("run_locks_held", default=frozenset())


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str], what: str = "import", *, for_job: bool = False) -> Iterator[None]:
    """Hold the run folder for one writer (an import, retry or undo session). A second one
    is refused (RunRefused code "busy") instead of sending the same rows twice. The lock
    is an flock on DIR/run.lock: the kernel drops it when the holder dies, even by kill -9.
    for_job=True (the worker, worker.py): the job run inside this `with` (same context) takes
    the same hold when it calls run_lock itself, instead of being refused by its own worker."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX host
        yield
        return
    path = Path(run_dir) / LOCK_NAME
    held = _HELD.get()
    if str(path.resolve()) in held:  # held with for_job=True around the job calling this
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise RunRefused(
            f"{run_dir}: cannot take the run's lock ({exc.strerror or exc}): is the run folder read-only?",
            code="read_only" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "io",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise RunRefused(
                f"{run_dir}: another clerk-migrate session is working on this run ({holder}); "
                "wait for it to end or stop it",
                code="busy",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what}, pid {os.getpid()}\n".encode(), 0)
        token = _HELD.set(held | {str(path.resolve())} if for_job else held)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):  # reset from another context: nothing to undo there
                _HELD.reset(token)
            try:
                os.ftruncate(fd, 0)
            except OSError:  # pragma: no cover
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- prepare
def prepare_run(
    run_dir: str | os.PathLike[str],
    export_path: str | os.PathLike[str] | None,
    settings: Settings,
    *,
    policies: Policies | dict[str, Any] | None = None,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    confirmed_production: bool = False,
    on_load_progress: LoadProgress | None = None,
    run_settings: dict[str, Any] | None = None,
    reconcile: bool = False,
    accounts: str | os.PathLike[str] | None = None,
) -> RunJournal:
    """Create the run (and load its rows) or reopen it for a resume, holding the run's
    lock meanwhile (two imports started together on one folder: the second is refused,
    code "busy"). A resume checks the journal in full first; `reconcile=True` (import
    --reconcile) accepts one that lost commits (see RunJournal.open). `accounts`: the Auth.js
    accounts export read with the export (OAuth providers, import --accounts); a new run
    records its path and sha256 (RunInfo.settings["accounts"]), a resume checks it like the
    export (None: the run's own). `policies`: a Policies, or a dict of the choices the operator
    made (`--unverified`, `--plaintext`): a new run takes the defaults for the rest, a resume
    the run's own (so a resume given one flag is compared on that flag alone).

    Raises RunRefused (guards, other instance, changed export or policies, busy),
    console.source.ExportError (unreadable export) or JournalError."""
    check_key_guards(settings, confirmed_production=confirmed_production)
    run_dir = Path(run_dir)
    reader = None
    existed_before = run_dir.exists()
    if not is_run_folder(run_dir):
        if export_path is None:
            raise RunRefused(f"{run_dir}: not a run folder yet; give the export to start a run", code="no_export")
        if run_dir.exists() and (not run_dir.is_dir() or _holds_other_files(run_dir)):
            raise RunRefused(f"{run_dir}: exists and is not a run folder (no {JOURNAL_NAME}); pick a new folder",
                             code="not_a_run")
        from console.source import open_export

        # ExportError before any folder exists (the accounts file too)
        reader = open_export(Path(export_path), fmt=fmt, mapping=mapping, accounts=accounts)
        try:
            run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise RunRefused(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})", code="io") from None
    with run_lock(run_dir, "import (preparing the run)"):
        if is_run_folder(run_dir):  # a resume (or another import made it meanwhile)
            return _reopen(run_dir, export_path, settings, policies, fmt, mapping, on_load_progress, reconcile,
                           accounts)
        if _holds_other_files(run_dir):
            raise RunRefused(f"{run_dir}: exists and is not a run folder (no {JOURNAL_NAME}); pick a new folder",
                             code="not_a_run")
        assert export_path is not None and reader is not None
        return _create(run_dir, Path(export_path), reader, settings, choose_policies(policies, Policies()), mapping,
                       on_load_progress, run_settings, existed_before)


def _holds_other_files(run_dir: Path) -> bool:
    """Anything in the folder besides the lock and a state record of a create that was killed."""
    from console.migration.journal import STATE_NAME

    for entry in run_dir.iterdir():
        name = entry.name
        if name in (LOCK_NAME, STATE_NAME) or (name.startswith(f".{STATE_NAME}.") and name.endswith(".tmp")):
            continue
        return True
    return False


def _create(
    run_dir: Path,
    export_path: Path,
    reader: Any,
    settings: Settings,
    policies: Policies,
    mapping: dict[str, str] | None,
    on_load_progress: LoadProgress | None,
    run_settings: dict[str, Any] | None,
    existed_before: bool,
) -> RunJournal:
    key = settings.secret_key
    assert key is not None
    if reader.accounts is not None:  # the run reads its export with it from now on (feed.py), checked on resume
        from console.migration.feed import accounts_setting

        run_settings = {**(run_settings or {}), **accounts_setting(reader.accounts_path, reader.accounts_sha256)}
    info = RunInfo(
        export_path=str(export_path.resolve()),
        base_url=settings.base_url,
        key_fingerprint=fingerprint(key),
        key_masked=key.masked,
        instance_kind=key.instance_kind,
        policies=policies_dict(policies),
        settings={"allow_dev_import": settings.allow_dev_import, **(run_settings or {})},
        mapping=mapping,
        export_format=reader.format,
        export_shape=reader.shape,
        export_size=reader.size_bytes,
    )
    try:
        journal = RunJournal.create(run_dir, info)
    except BaseException:
        _remove_journal(run_dir, remove_dir=not existed_before)
        raise
    try:
        journal.add_event("created", f"run created for {export_path} against {settings.base_url} ({key.masked})")
        run_key(run_dir, create=True)
        _load_rows(journal, reader, policies, on_load_progress)
    except BaseException:
        # never leave a half-written journal behind: the folder goes, or its files
        journal.close()
        _remove_journal(run_dir, remove_dir=not existed_before)
        raise
    return journal


def _reopen(
    run_dir: Path,
    export_path: str | os.PathLike[str] | None,
    settings: Settings,
    policies: Policies | None,
    fmt: str | None,
    mapping: dict[str, str] | None,
    on_load_progress: LoadProgress | None,
    reconcile: bool = False,
    accounts: str | os.PathLike[str] | None = None,
) -> RunJournal:
    journal = RunJournal.open(run_dir, check="full", allow_lost_commits=reconcile)
    try:
        if reconcile and not journal.lost_commits:  # asked for: the next session looks every row up
            journal.set_meta("reconcile_needed", {"reason": "asked with --reconcile"})
        check_same_instance(journal, settings)
        info = journal.info
        if isinstance(policies, dict):  # the choices given, over the run's own
            policies = choose_policies(policies, run_policies(journal))
        differences = []
        if policies is not None and policies_dict(policies) != info.policies:
            was = ", ".join(f"{k}={v}" for k, v in sorted(info.policies.items()))
            now = ", ".join(f"{k}={v}" for k, v in sorted(policies_dict(policies).items()))
            differences.append(f"the policies are {now}, the run was made with {was}")
        if fmt is not None and info.export_format and fmt != info.export_format:
            differences.append(f"the format is {fmt}, the run read the export as {info.export_format}")
        if mapping is not None and mapping != (info.mapping or None):
            differences.append("the column mapping differs from the run's")
        if differences:
            raise RunRefused(f"{run_dir}: {'; '.join(differences)}: start a new run folder", code="settings_changed")
        accounts_now = check_same_accounts(journal, accounts)  # before the export: the one line says which file
        if accounts_now is not None and accounts is not None:
            from console.migration.feed import accounts_setting, run_accounts

            if str(accounts_now.resolve()) != run_accounts(info)[0]:
                journal.update_run(settings={**info.settings, **accounts_setting(accounts_now, run_accounts(info)[1])})
                journal.add_event("moved", f"the accounts file is now read from {accounts_now.resolve()}")
                info = journal.info
        if info.rows_loaded:
            path = check_same_export(journal, export_path)
            if str(path.resolve()) != info.export_path:
                journal.update_run(export_path=str(path.resolve()))
                journal.add_event("moved", f"the export is now read from {path.resolve()}")
            if journal.rows_without_fingerprint():
                backfill_fingerprints(journal, path)
            else:
                fingerprint_key(journal)
        else:
            # the first load was interrupted (killed): nothing was sent yet, load again
            from console.source import open_export

            from console.migration.feed import run_accounts

            path = Path(export_path) if export_path else Path(info.export_path)
            reader = open_export(path, fmt=fmt or info.export_format, mapping=mapping or info.mapping,
                                 accounts=run_accounts(info)[0])
            journal.update_run(export_path=str(path.resolve()))
            journal.clear_rows()
            run_key(run_dir, create=True)
            _load_rows(journal, reader, policies or run_policies(journal), on_load_progress)
    except BaseException:
        journal.close()
        raise
    return journal


def fingerprint_key(journal: RunJournal) -> bytes:
    """The run's fingerprint key; RunRefused (code "fingerprint_key") when it is missing or damaged."""
    try:
        return run_key(journal.run_dir)
    except FingerprintKeyError as exc:
        raise RunRefused(f"{exc}; the run cannot tell whether the export's rows are still the ones it checked",
                         code="fingerprint_key") from None


def backfill_fingerprints(journal: RunJournal, path: Path) -> None:
    """A journal loaded before row fingerprints existed (schema 1): compute them from the
    export, in one transaction kept only if the bytes read were the run's (its sha256)."""
    from console.migration.feed import RunSource

    info = journal.info
    key = run_key(journal.run_dir, create=True)
    reader = RunSource.of(journal, export_path=path, fingerprints=False).open()
    n = 0
    with journal.transaction() as c:
        for checked in reader.rows(run_policies(journal)):
            c.execute("UPDATE rows SET fingerprint = ? WHERE row_no = ? AND fingerprint IS NULL",
                      (row_fingerprint(key, checked.user), checked.user.row))
            n += 1
        if reader.sha256 != info.export_sha256:
            raise RunRefused(f"{path}: the export changed while its rows' fingerprints were computed: "
                             "start a new run folder for a new export", code="export_changed")
        c.execute("INSERT INTO events (at, kind, message) VALUES (?, 'fingerprints', ?)",
                  (time.time(), f"fingerprints of {n} rows computed from the export (sha256 unchanged)"))


def _remove_journal(run_dir: Path, *, remove_dir: bool) -> None:
    try:
        if remove_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            from console.migration.journal import STATE_NAME

            for name in (JOURNAL_NAME, JOURNAL_NAME + "-wal", JOURNAL_NAME + "-shm", STATE_NAME):
                try:
                    os.unlink(run_dir / name)
                except FileNotFoundError:
                    pass
    except OSError:  # pragma: no cover
        pass


def _load_rows(journal: RunJournal, reader: Any, policies: Policies, on_load_progress: LoadProgress | None) -> int:
    """Stream the export once into journal rows, LOAD_BATCH rows per transaction."""
    from console.migration.feed import verdict
    from console.migration.preflight import META_KEY, BodyRules, Tally

    tally = Tally(BodyRules.of_run(journal.info), policies.plaintext_password)  # the instance's settings (issue 13)
    batch: list[NewRow] = []
    rows = 0
    last_report = 0.0
    size = int(reader.size_bytes or 0)
    run_id = journal.info.run_id or ""
    key = run_key(journal.run_dir, create=True)
    for checked in reader.rows(policies):
        user = checked.user
        # the checks, the instance's settings (a row they would refuse is never sent), the run
        # marker's room in the metadata: the feed's rule, as the sync's plan applies it
        ok, codes, warnings, message = verdict(checked, run_id, tally.add(checked))
        batch.append(
            NewRow(
                row_no=user.row,
                external_id=user.external_id,
                email=user.email,
                status="pending" if ok else "refused",
                refusal_codes=codes,
                warning_codes=warnings,
                refusal_message=message,
                fingerprint=row_fingerprint(key, user),
            )
        )
        rows += 1
        if len(batch) >= LOAD_BATCH:
            journal.add_rows(batch)
            batch = []
        if on_load_progress is not None:
            now = time.monotonic()
            if now - last_report >= 0.1:
                last_report = now
                on_load_progress(rows, reader.bytes_read, size)
    journal.add_rows(batch)
    file_issues = [i.as_dict() for i in reader.file_issues]
    journal.finish_load(
        sha256=reader.sha256,
        size=size or None,
        fmt=reader.format,
        shape=reader.shape,
        file_issues=file_issues,
    )
    if on_load_progress is not None:
        on_load_progress(rows, size, size)
    journal.set_meta(META_KEY, tally.readiness(export=str(journal.info.export_path), file_issues=file_issues).as_json(row_text=False))
    counts = journal.counts()
    journal.add_event("loaded", f"{rows} rows: {counts['pending']} to send, {counts['refused']} refused")
    journal.checkpoint()
    return rows


__all__ = [
    "JournalError",
    "RunRefused",
    "check_key_guards",
    "check_same_accounts",
    "check_same_export",
    "check_same_instance",
    "file_sha256",
    "open_run",
    "prepare_run",
    "run_lock",
    "run_policies",
]
