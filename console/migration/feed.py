"""The feed: an export row -> a checked SourceUser -> the create body. The one place.

Every part of the engine that reads a run's export row by row comes here: the importer
(the bodies it sends), verify (what Clerk should hold), the sync (the users of its changed
rows), the console's Failures detail (`sent_body`), and the load and the sync's plan (which
rows are refused: `verdict`). So a row is read, checked and turned into a body one way:

    source = RunSource.of(journal)                 # how the run reads its export (+ accounts)
    feed = ExportFeed(source)                      # in a worker thread: it reads the file
    for row in feed.take(page):                    # a journal page (RowRecords), row order
        row.user, row.body, row.problem            # body None or problem set: not sent
    feed.close()

What `take` does for each journal row (`FeedRow`):
1. the export's row of that number, checked (only the rows a page asks for are checked,
   without the cross-row duplicate sets: the load checked them; issue 17), holding the
   journal's external id (else `FeedChanged`);
2. its keyed fingerprint against the journal's (fingerprint.py): another one means the file
   changed in place since the run checked it: `FeedChanged` naming every such row of the
   page, and nothing of it is sent;
3. the row's fix (the operator's overrides, `journal.set_fix`) over the export's values;
4. `to_payload` under the run's policies (`payload_invalid` when the row or its fix makes
   no valid body);
5. the instance's `BodyRules` the run was checked against (preflight.py): fields of
   turned-off attributes dropped, `skip_legal_checks` under `--legal skip`, a body the rules
   refuse is not sent (the rule's code);
6. the run marker merged into private_metadata (marker.py; `marker=False` for verify and
   the sync's updates, which never send it).

The run's accounts file (`import --accounts`, kept in the run's settings with its sha256)
is read with the export, so the OAuth providers, hence the email-verification default, the
fingerprint and the OAuth warning, are the same for the load, every resume, verify and the
sync. A changed accounts file is refused like a changed export (run.check_same_export).

Nothing here sends a request or writes the journal; `ExportFeed` is used from one thread at
a time (the importer and verify run it through `asyncio.to_thread`).
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.migration.errors import MigrationError
from console.migration.fingerprint import row_fingerprint
from console.migration.marker import MarkerError, check_metadata, with_run_marker

SECRET_FIELDS = frozenset({"password", "password_digest"})
ACCOUNTS_SETTING = "accounts"  # RunInfo.settings key: {"path": ..., "sha256": ...}


class FeedChanged(MigrationError):
    """The export (or its accounts file) is not the one the run checked: one line, exit 2;
    `rows` names the journal rows whose fields changed (up to a page)."""

    code = "export_changed"

    def __init__(self, message: str, rows: Sequence[int] = ()) -> None:
        super().__init__(message, 2, "export_changed")
        self.rows = list(rows)


# ----------------------------------------------------------------------------- how a run reads its export
def run_accounts(info: Any) -> tuple[str | None, str | None]:
    """(path, sha256) of the accounts file the run reads its export with, or (None, None)."""
    value = (info.settings or {}).get(ACCOUNTS_SETTING)
    if isinstance(value, dict):
        path, sha = value.get("path"), value.get("sha256")
        return (str(path) if path else None), (str(sha) if sha else None)
    if isinstance(value, str) and value:
        return value, None
    return None, None


def accounts_setting(path: str | Path, sha256: str | None) -> dict[str, Any]:
    """The run-settings entry that records an accounts file (what `run_accounts` reads)."""
    return {ACCOUNTS_SETTING: {"path": str(Path(path).resolve()), "sha256": sha256}}


@dataclass(frozen=True)
class RunSource:
    """Everything that decides how a run turns its export's rows into bodies."""

    export_path: Path
    fmt: str | None = None
    mapping: dict[str, str] | None = None
    accounts_path: str | None = None
    accounts_sha256: str | None = None
    policies: Any = None  # console.source.model.Policies (the run's)
    rules: Any = None  # preflight.BodyRules the run was checked against, or None
    run_id: str | None = None  # the run marker's id
    key: bytes | None = None  # the run's fingerprint key (None: fingerprints not compared)

    @classmethod
    def of(cls, journal: Any, *, export_path: str | Path | None = None, fingerprints: bool = True) -> "RunSource":
        """The run's own source. fingerprints=True compares every row's fingerprint (the key
        must be there: RunRefused "fingerprint_key" otherwise) when the journal has them."""
        from console.migration.preflight import BodyRules
        from console.migration.run import fingerprint_key, run_policies

        info = journal.info
        key = None
        if fingerprints and journal.rows_without_fingerprint() < journal.total_rows():
            key = fingerprint_key(journal)
        accounts, sha = run_accounts(info)
        return cls(
            export_path=Path(export_path) if export_path else Path(info.export_path),
            fmt=info.export_format, mapping=info.mapping, accounts_path=accounts, accounts_sha256=sha,
            policies=run_policies(journal), rules=BodyRules.of_run(info), run_id=info.run_id, key=key,
        )

    def open(self) -> Any:
        """The export reader, with the accounts join; ExportError when unreadable, FeedChanged
        when the accounts file read is not the run's (its sha256)."""
        from console.source import open_export

        reader = open_export(self.export_path, fmt=self.fmt, mapping=self.mapping, accounts=self.accounts_path)
        if self.accounts_sha256 and reader.accounts_sha256 and reader.accounts_sha256 != self.accounts_sha256:
            raise FeedChanged(f"{self.accounts_path}: the accounts file changed since this run read it (sha256 "
                              f"{reader.accounts_sha256[:12]}…, the run has {self.accounts_sha256[:12]}…): start a "
                              "new run folder for a new export")
        return reader


# ----------------------------------------------------------------------------- one row -> its body
def build_body(user: Any, source: RunSource, *, fix: dict[str, Any] | None = None,
               marker: bool = True) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    """(body, None) as the importer sends it, or (body or None, (code, message)) when it is not
    sent: `payload_invalid` (no valid body: body None), a rule of the instance's settings (the
    body as it would have gone), the run marker's (`metadata_*`)."""
    from console.source import to_payload

    try:
        if fix:
            user = dataclasses.replace(user, **fix)
        body = to_payload(user, source.policies)
    except Exception as exc:  # noqa: BLE001 - the row (or its fix) makes no valid body
        return None, ("payload_invalid", payload_problem(exc))
    if source.rules is not None:  # fields the instance turned off dropped; a refusal is never sent
        body, refusal = source.rules.apply(body)
        if refusal is not None:
            return body, refusal
    if marker and source.run_id:
        try:
            body = with_run_marker(body, source.run_id)
        except MarkerError as exc:
            return body, (exc.code, str(exc))
    return body, None


def verdict(checked: Any, run_id: str, refusal: tuple[str, str] | None = None
            ) -> tuple[bool, tuple[str, ...], tuple[str, ...], str | None]:
    """(importable, refusal codes, warning codes, first refusal message) of a checked row, as
    the load decides it (and the sync's plan for a later export): the export's checks, then
    `refusal` (the instance's settings' verdict on the row: `Tally.add` at the load,
    `BodyRules.refusal` in the plan; only asked of a row the checks accept), then the run
    marker's room in the metadata."""
    user = checked.user
    issues = checked.issues
    if issues:
        errors = [(i.code, i.message) for i in issues if i.severity == "error"]
        warnings = tuple(dict.fromkeys([i.code for i in issues if i.severity != "error"]))
    else:
        errors, warnings = [], ()
    if not errors and refusal is not None:
        errors.append(refusal)
    if not errors and (user.public_metadata or user.private_metadata or user.unsafe_metadata):
        # without metadata the marker alone always fits
        try:
            check_metadata({"public_metadata": user.public_metadata, "private_metadata": user.private_metadata,
                            "unsafe_metadata": user.unsafe_metadata}, run_id)
        except MarkerError as exc:
            errors.append((exc.code, str(exc)))
    if not errors:
        return (True, (), warnings, None)
    return (False, tuple(dict.fromkeys([code for code, _ in errors])), warnings, errors[0][1])


def mask_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """The body with every password and digest replaced by a word about it (for a screen)."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name in SECRET_FIELDS and value:
            kind = body.get("password_hasher") if name == "password_digest" else "plaintext"
            out[name] = f"•••• ({kind}, {len(str(value))} characters, not shown)"
        else:
            out[name] = value
    return out


# ----------------------------------------------------------------------------- the walk beside journal pages
@dataclass(frozen=True, slots=True)
class FeedRow:
    rec: Any  # the journal's RowRecord (or what the caller paged: row_no, external_id, fingerprint, fix)
    user: Any  # the export's SourceUser (before the fix)
    body: dict[str, Any] | None  # the create body (None: no valid body)
    problem: tuple[str, str] | None  # why it is not sent: (code, message); None: sent as `body`


@dataclass(frozen=True, slots=True)
class Wanted:
    """A row asked of the feed by something that is not a journal RowRecord (the sync's items)."""

    row_no: int
    external_id: str | None
    fingerprint: bytes | None = None
    fix: dict[str, Any] | None = None


class ExportFeed:
    """Walks the export in row order beside journal pages (a merge: constant memory). One
    call at a time, in a worker thread. `rewind=True`: a page may ask for a row before the
    last one read (the sync's deferred rows): the file is read again from the start."""

    def __init__(self, source: RunSource, *, rewind: bool = False, require_importable: bool = False) -> None:
        self.source = source
        self.rewind = rewind
        self.require_importable = require_importable
        self._wanted: set[int] = set()
        self._open()

    def _open(self) -> None:
        self._reader = self.source.open()
        self._rows: Iterator[Any] = iter(self._reader.rows(self.source.policies, wanted=self._wanted.__contains__,
                                                           duplicates=False))
        self._current: Any = None

    def users(self, page: Sequence[Any]) -> list[tuple[Any, Any]]:
        """(rec, the export's SourceUser) for each row of `page` (journal RowRecords or `Wanted`,
        in row order), checked against the journal: FeedChanged when a row is gone, holds another
        external id, is refused by the checks now (require_importable) or its fingerprint differs
        (every such row of the page named)."""
        out: list[tuple[Any, Any]] = []
        changed: list[Any] = []
        key = self.source.key
        if self.rewind and page and self._current is not None and self._current.user.row > min(r.row_no for r in page):
            self.close()
            self._open()
        self._wanted.clear()
        self._wanted.update(rec.row_no for rec in page)
        for rec in sorted(page, key=lambda r: r.row_no) if self.rewind else page:
            while self._current is None or self._current.user.row < rec.row_no:
                self._current = next(self._rows, None)
                if self._current is None:
                    raise FeedChanged(f"row {rec.row_no} of the journal is not in the export any more")
            checked = self._current
            user = checked.user
            if user.row != rec.row_no or user.external_id != rec.external_id:
                raise FeedChanged(f"row {rec.row_no}: the export has external id {user.external_id!r} there, "
                                  f"the journal {rec.external_id!r}")
            if self.require_importable and not checked.importable:
                raise FeedChanged(f"row {rec.row_no}: the export's checks now refuse this row")
            fp = rec.fingerprint
            if key is not None and fp is not None and row_fingerprint(key, user) != fp:
                changed.append(rec)
                continue
            out.append((rec, user))
        if changed:
            shown = ", ".join(f"{r.row_no} ({r.external_id})" for r in changed[:10]) + ("…" if len(changed) > 10 else "")
            raise FeedChanged(
                f"{len(changed)} row(s) no longer hold the fields that were checked when the run loaded the export "
                f"(it was changed in place): row(s) {shown}; nothing was sent for them",
                [r.row_no for r in changed],
            )
        return out

    def take(self, page: Sequence[Any], *, marker: bool = True) -> list[FeedRow]:
        """A FeedRow per row of `page`: the body as it is sent (with the row's fix, the rules and,
        unless marker=False, the run marker), or the problem that keeps it from being sent."""
        out: list[FeedRow] = []
        for rec, user in self.users(page):
            body, problem = build_body(user, self.source, fix=rec.fix, marker=marker)
            out.append(FeedRow(rec, user, body, problem))
        return out

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()


# ----------------------------------------------------------------------------- the feed in a process of its own
PROCESS_MIN_ROWS = 50_000  # below this, a thread does (a process costs ~0.5 s to start and its own memory)
_FRAME = struct.Struct("!Q")
_CHILD = ("import pickle, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "  # the parent stops it
          "head = pickle.load(sys.stdin.buffer); sys.path[:] = head[0]; "
          "from console.migration.feed import _child_main; _child_main(head)")


def process_available() -> bool:
    """Whether ExportProcess can run here (POSIX: the child's pipe is passed by descriptor)."""
    return os.name == "posix"


class ExportProcess:
    """`target(emit, *args)` in a Python process of its own, its `emit(obj)` calls read back in
    order with `next()`: the export's side of a long pass (reading, checking, fingerprints,
    bodies) on the other core while this process does its own part (issue 17: both under one
    GIL took one core). The child is a fresh interpreter (`python -c`, this process's sys.path:
    the same code, no main module imported again); the job goes through its stdin, the frames
    come back through a pipe of their own; its stdout and stderr go nowhere (an error comes
    back as a frame and is raised by `next()` here: FeedChanged with its rows, other errors
    as they were raised when they can be pickled). The child ends with the pipe: when this
    process goes away (even kill -9) its next write fails and it exits. `close()` always."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        import pickle
        import subprocess
        import sys

        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_fd,),
                                          close_fds=True)
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        os.close(write_fd)
        self._in = os.fdopen(read_fd, "rb")
        self.child_peak_rss_mb: float | None = None  # the child's VmHWM, when it ended normally
        self._done = False
        try:
            assert self._proc.stdin is not None
            with self._proc.stdin as job:
                pickle.dump((list(sys.path), write_fd, target.__module__, target.__qualname__), job)
                pickle.dump(args, job, protocol=pickle.HIGHEST_PROTOCOL)
        except BrokenPipeError:  # the child is gone already: next() says why (or that it ended)
            pass
        except BaseException:
            self.close()
            raise

    def next(self) -> Any:
        """The next object the child emitted; None once it has ended. Blocking (a thread)."""
        import pickle

        if self._done:
            return None
        head = self._in.read(_FRAME.size)
        if len(head) < _FRAME.size:
            self._done = True
            code = self._proc.wait()
            raise MigrationError(f"the process reading the export ended unexpectedly (exit code {code})", 2,
                                 "export_process")
        (size,) = _FRAME.unpack(head)
        data = self._in.read(size)
        if len(data) < size:
            self._done = True
            code = self._proc.wait()
            raise MigrationError(f"the process reading the export ended unexpectedly (exit code {code})", 2,
                                 "export_process")
        kind, payload = pickle.loads(data)
        if kind == "data":
            return payload
        self._done = True
        if kind == "end":
            self.child_peak_rss_mb = payload
            return None
        if kind == "changed":
            raise FeedChanged(payload[0], payload[1])
        raise payload

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._in.close()

    def __enter__(self) -> "ExportProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child_main(head: tuple[list[str], int, str, str]) -> None:
    """The child's side of ExportProcess."""
    import importlib
    import pickle
    import sys

    _path, fd, module, name = head
    out = os.fdopen(fd, "wb")

    def frame(kind: str, payload: Any) -> None:
        data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_FRAME.pack(len(data)))
        out.write(data)
        out.flush()

    try:
        args = pickle.load(sys.stdin.buffer)
        target = getattr(importlib.import_module(module), name)
        target(lambda obj: frame("data", obj), *args)
        frame("end", _peak_rss_mb())
    except BrokenPipeError:  # the parent is gone, or closed its end: nothing to say to anyone
        return
    except BaseException as exc:  # noqa: BLE001 - every error goes back to the parent, as it was
        try:
            if isinstance(exc, FeedChanged):
                frame("changed", (exc.message, exc.rows))
            else:
                try:
                    pickle.loads(pickle.dumps(exc))
                    error: BaseException = exc
                except Exception:  # noqa: BLE001 - not picklable: its words
                    error = MigrationError(f"{type(exc).__name__}: {exc}", 2, "export_process")
                frame("error", error)
        except BrokenPipeError:
            return
    finally:
        try:
            out.close()
        except OSError:
            pass


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024.0 * 1024.0) if os.uname().sysname == "Darwin" else peak / 1024.0
    except (ImportError, OSError):
        return None


# ----------------------------------------------------------------------------- one row, for a screen
def sent_body(run: Any, row_no: int, *, masked: bool = True) -> dict[str, Any] | None:
    """The create body the importer sends for row `row_no` of a run (an open RunJournal, or a
    run folder: read through its own read-only connection): the export's row with the row's
    fix, the run's policies and rules, the run marker left out; secrets masked. A row that
    would not be sent: {"(not sendable)": why} (no valid body) or {"(not sent)": why} (a rule of
    the instance's settings, the marker's room). None when the journal or the export no longer
    has the row. Blocking: reads the export up to the row (call it from a thread)."""
    if isinstance(run, (str, Path)):
        from console.migration.journal import RunJournal

        with RunJournal.open(run, readonly=True) as journal:
            return sent_body(journal, row_no, masked=masked)
    journal = run
    rec = journal.get_row(row_no)
    if rec is None:
        return None
    source = RunSource.of(journal, fingerprints=False)
    feed = ExportFeed(source)
    try:
        try:
            (row,) = feed.take([rec], marker=False)
        except FeedChanged:
            return None
    finally:
        feed.close()
    if row.problem is not None:
        code, message = row.problem
        return {"(not sendable)" if row.body is None else "(not sent)": message}
    return mask_secrets(row.body) if masked else row.body


def payload_problem(exc: BaseException) -> str:
    """One line saying why a row makes no valid create body: the fields and what is wrong with
    them, never their values (a digest or a password may be one of them)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors(include_input=False, include_url=False)
        except TypeError:  # not pydantic's
            found = None
        if found:
            parts = []
            for e in found[:5]:
                where = ".".join(str(p) for p in e.get("loc", ())) or "body"
                parts.append(f"{where}: {e.get('msg', 'invalid')}")
            return "; ".join(parts)[:300]
    return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


__all__ = [
    "ACCOUNTS_SETTING",
    "ExportFeed",
    "ExportProcess",
    "FeedChanged",
    "FeedRow",
    "RunSource",
    "Wanted",
    "accounts_setting",
    "build_body",
    "mask_secrets",
    "process_available",
    "run_accounts",
    "sent_body",
    "verdict",
]
