"""Issue 18 §2: a damaged journal never makes the tool forget what it did.

Reproductions with real processes (kill -9) against the sandbox over HTTP: random
bytes written into journal.sqlite-wal, or the -wal/-shm files deleted, after a
kill; a malformed journal file; a full disk; a read-only run folder; two imports
started together on one folder. Each is refused with its own one-line reason and
exit 2 (never "internal error"), the journal left as it was; `import --reconcile`
then rebuilds what the run did from Clerk's run markers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.migration.journal import JOURNAL_NAME, STATE_NAME, RunJournal
from console.migration.run import prepare_run

from tests.integration.engine_support import assert_guarantees, settings_for, write_export

REPO = Path(__file__).resolve().parents[2]


def _env(server: Any, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO))
    env.pop("IMPORT_TO_DEV_INSTANCE", None)
    return env


def _cli(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, str, str]:
    """The CLI in this process (main(), as `clerk-migrate` runs it) with env as its environment."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from console.cli import main

    saved = dict(os.environ)
    here = os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(argv))
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


def _start_import(export: Path, run: Path, env: dict[str, str], cwd: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "console", "import", str(export), "--run", str(run), "--yes", "--json", *extra]
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _created(run: Path) -> int:
    try:
        with RunJournal.open(run, readonly=True) as j:
            return j.counts()["created"] if j.info.rows_loaded else -1
    except Exception:
        return -1


def _kill_after(proc: subprocess.Popen, run: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _created(run) >= n:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return
        if proc.poll() is not None:
            pytest.fail(f"import ended (rc {proc.returncode}) early: {proc.communicate()[1][-2000:]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"{n} rows not created in time")


def _one_line_refusal(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("clerk-migrate:")]
    assert lines, err
    for word in words:
        assert word in lines[-1], lines[-1]


def _digest(run: Path) -> dict[str, str]:
    """The journal's bytes (the -shm is SQLite's index of the WAL, rebuilt when it is opened)."""
    out = {}
    for name in (JOURNAL_NAME, JOURNAL_NAME + "-wal", STATE_NAME):
        p = run / name
        if p.exists() and p.stat().st_size:  # an empty -wal holds nothing (a reader may create one)
            out[name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _killed_run(tmp_path: Path, server: Any, key: str, n: int = 300, created: int = 150) -> tuple[Path, Path, dict]:
    """An import of n rows killed (kill -9) once `created` rows are journaled created."""
    export = write_export(tmp_path / "users.json", n)
    run = tmp_path / "run"
    env = _env(server, key)
    proc = _start_import(export, run, env, tmp_path, "--rate", "400")
    _kill_after(proc, run, created)
    return export, run, env


def _valid_frames(wal: Path, page: int = 4096) -> int:
    """Frames of the WAL that belong to its current generation (their salts are the header's):
    the commits since the last checkpoint. Older frames further on are stale."""
    data = wal.read_bytes()
    salts = data[16:24]
    n = 0
    while 32 + (n + 1) * (24 + page) <= len(data) and data[32 + n * (24 + page) + 8: 32 + n * (24 + page) + 16] == salts:
        n += 1
    return n


def _reconcile_then_undo(tmp_path: Path, export: Path, run: Path, env: dict[str, str], server: Any, key: str,
                         n: int) -> dict:
    held = len(server.users(key))
    code, out, err = _cli(env, tmp_path, "import", str(export), "--run", str(run), "--yes", "--json", "--reconcile",
                          "--rate", "1000")
    assert code == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["created"] == n and summary["existed"] == 0, summary
    assert "lost commits" in err
    with RunJournal.open(run) as journal:
        assert_guarantees(journal, server, key)
        assert journal.get_meta("reconcile_needed") is None
    assert held <= n and list(run.glob("damaged-*/" + JOURNAL_NAME))  # the damaged files were kept
    # the journal holds again: a plain status and undo work, and undo deletes every user of the run
    code, out, err = _cli(env, tmp_path, "status", "--run", str(run), "--json")
    assert code == 0 and json.loads(out)["created"] == n, err
    code, out, err = _cli(env, tmp_path, "undo", "--run", str(run), "--yes", "--json")
    assert code == 0 and json.loads(out)["deleted"] == n, err
    assert server.users(key) == []
    return summary


@pytest.mark.slow
def test_random_bytes_in_the_wal_after_kill_9(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=20, seed=2)
    export, run, env = _killed_run(tmp_path, server, prod_key)
    wal = run / (JOURNAL_NAME + "-wal")
    frames = _valid_frames(wal)
    assert frames >= 4, frames
    with open(wal, "r+b") as fh:  # garbage in a frame of the WAL: SQLite drops every frame from there on
        fh.seek(32 + (frames // 2) * (24 + 4096) + 24 + 512)
        fh.write(random.Random(1).randbytes(256))
    before = _digest(run)
    code, out, err = _cli(env, tmp_path, "status", "--run", str(run), "--json")
    _one_line_refusal(code, err, "cannot be trusted", "--reconcile")
    assert out == ""
    code, out, err = _cli(env, tmp_path, "import", str(export), "--run", str(run), "--yes", "--json")
    _one_line_refusal(code, err, "cannot be trusted")
    code, out, err = _cli(env, tmp_path, "undo", "--run", str(run), "--yes")
    _one_line_refusal(code, err, "cannot be trusted")
    assert _digest(run) == before  # refused without touching the journal (no checkpoint, nothing)
    _reconcile_then_undo(tmp_path, export, run, env, server, prod_key, 300)


@pytest.mark.slow
def test_wal_and_shm_deleted_after_kill_9(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=20, seed=3)
    export, run, env = _killed_run(tmp_path, server, prod_key)
    for suffix in ("-wal", "-shm"):
        (run / (JOURNAL_NAME + suffix)).unlink()
    code, out, err = _cli(env, tmp_path, "status", "--run", str(run))
    _one_line_refusal(code, err, "cannot be trusted")
    code, out, err = _cli(env, tmp_path, "verify", "--run", str(run), "--all")
    _one_line_refusal(code, err, "cannot be trusted")
    _reconcile_then_undo(tmp_path, export, run, env, server, prod_key, 300)


def test_a_malformed_journal_is_refused_and_left_as_it_was(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 400)
    env = _env(sandbox, prod_key)
    run = tmp_path / "run"
    code, out, err = _cli(env, tmp_path, "import", str(export), "--run", str(run), "--yes", "--rate", "1000")
    assert code == 0, err
    path = run / JOURNAL_NAME
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[5 * page: 6 * page] = random.Random(7).randbytes(page)  # a b-tree page of rows overwritten
    path.write_bytes(bytes(data))
    before = _digest(run)
    for argv in (("status", "--run", str(run)), ("import", str(export), "--run", str(run), "--yes"),
                 ("import", str(export), "--run", str(run), "--yes", "--reconcile"),
                 ("export-ids", "--run", str(run), "--out", str(tmp_path / "ids.csv"))):
        code, out, err = _cli(env, tmp_path, *argv)
        _one_line_refusal(code, err, "damaged")
    assert _digest(run) == before
    assert not (tmp_path / "ids.csv").exists()


# ----------------------------------------------------------------- disk full, read-only folder
def _can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path("/tmp") / f"clerk-migrate-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], capture_output=True)
        return ok
    finally:
        probe.rmdir()


MOUNT = _can_mount()


@contextlib.contextmanager
def _small_disk(path: Path, size: str) -> Iterator[None]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(not MOUNT, reason="needs root to mount a small tmpfs (a full disk); CI runs as root")
def test_a_full_disk_stops_with_one_line_then_resumes(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=5)
    export = write_export(tmp_path / "users.json", 600)
    disk = tmp_path / "disk"
    run = disk / "run"
    env = _env(server, prod_key)
    with _small_disk(disk, "16m"):
        prepare_run(run, export, settings_for(server.url, prod_key), confirmed_production=True).close()
        filler = disk / "filler"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"\0" * (free - 1536 * 1024))  # 1.5 MB left: room for a few dozen rows (WAL frames)
        code, out, err = _cli(env, tmp_path, "import", str(export), "--run", str(run), "--yes", "--json",
                              "--rate", "1000")
        _one_line_refusal(code, err, "disk is full")
        summary = json.loads(out)  # still the summary object on stdout
        assert 0 < summary["created"] < 600, (summary, err[-3000:])
        held = len(server.users(prod_key))
        filler.unlink()  # space freed
        code, out, err = _cli(env, tmp_path, "import", str(export), "--run", str(run), "--yes", "--json")
        assert code == 0, err[-2000:]
        assert held <= 600
        with RunJournal.open(run) as journal:
            assert_guarantees(journal, server, prod_key)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """The folder read-only for this process: a read-only bind mount as root (root ignores
    file modes), modes 0500/0400 otherwise."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
    else:
        modes = {p: p.stat().st_mode for p in [path, *path.iterdir()]}
        for p in modes:
            os.chmod(p, 0o500 if p.is_dir() else 0o400)
        try:
            yield
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)


@pytest.mark.skipif(os.geteuid() == 0 and not MOUNT, reason="root without mount: a read-only folder cannot be made")
def test_a_read_only_run_folder(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 30)
    env = _env(sandbox, prod_key)
    run = tmp_path / "run"
    code, out, err = _cli(env, tmp_path, "import", str(export), "--run", str(run), "--yes")
    assert code == 0, err
    before = _digest(run)
    with _read_only(run):
        for argv in (("import", str(export), "--run", str(run), "--yes"), ("retry", "--run", str(run)),
                     ("undo", "--run", str(run), "--yes"), ("unmark", "--run", str(run), "--yes")):
            code, out, err = _cli(env, tmp_path, *argv)
            _one_line_refusal(code, err, "read-only")
        # what only reads works there: status, export-ids (its files elsewhere)
        code, out, err = _cli(env, tmp_path, "status", "--run", str(run), "--json")
        assert code == 0 and json.loads(out)["created"] == 30, err
        code, out, err = _cli(env, tmp_path, "export-ids", "--run", str(run), "--out", str(tmp_path / "ids.csv"))
        assert code == 0 and len((tmp_path / "ids.csv").read_text().splitlines()) == 31, err
        assert _digest(run) == before


def test_two_imports_started_together_on_one_folder(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=10)
    export = write_export(tmp_path / "users.json", 300)
    run = tmp_path / "run"
    env = _env(server, prod_key)
    procs = [_start_import(export, run, env, tmp_path, "--rate", "300") for _ in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], [r[2][-500:] for r in results]
    loser = next(r for r in results if r[0] == 2)
    _one_line_refusal(2, loser[2], "another clerk-migrate session is working on this run")
    with RunJournal.open(run) as journal:
        assert_guarantees(journal, server, prod_key)
