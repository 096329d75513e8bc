"""verify with the export's side in a process of its own (feed.ExportProcess, issue 17): the same
report, results and refusals as with the thread, over real HTTP against the sandbox; and the
process runner itself (what the child emits comes back in order, its errors are raised here
as they were raised there, a child that is closed early is gone)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from console.migration.errors import MigrationError
from console.migration.feed import ExportProcess, FeedChanged, process_available
from console.migration.journal import RunJournal
from console.migration.run import RunRefused
from console.migration.verify import verify_run

from tests.integration.test_verify_helpers import api, ext_id, make_run, settings_for

pytestmark = pytest.mark.skipif(not process_available(), reason="ExportProcess needs POSIX")


def _verify(run_dir: Path, server, key: str, **kw):
    journal = RunJournal.open(run_dir)
    try:
        report = asyncio.run(verify_run(journal, settings_for(server.url, key), sample=None, **kw))
        results = journal.connection.execute(
            "SELECT row_no, external_id, clerk_user_id, status, kind, field, expected, found FROM verify_results"
            " WHERE verify_id = ? ORDER BY rowid", (report.verify_id,)).fetchall()
        return report, results
    finally:
        journal.close()


def _same_parts(report) -> dict:
    return {k: v for k, v in report.as_json().items() if k not in ("duration_s", "report")}


def test_the_same_report_with_the_export_read_in_a_process(tmp_path: Path, sandbox, prod_key):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=260, bad={4, 9}, unverified={5, 6},
                          fixes={12: {"email": "fixed12@example.test"}})
    users = {u["external_id"]: u for u in sandbox.users(prod_key)}
    assert api(sandbox, prod_key, "PATCH", f"/users/{users[ext_id(3)]['id']}",
               json={"first_name": "Mallory"}).status_code == 200
    assert api(sandbox, prod_key, "DELETE", f"/users/{users[ext_id(200)]['id']}").status_code == 200
    thread, thread_rows = _verify(run_dir, sandbox, prod_key, export_process=False)
    child, child_rows = _verify(run_dir, sandbox, prod_key, export_process=True)
    assert thread.export_process_rss_mb is None and child.export_process_rss_mb and child.export_process_rss_mb > 10
    assert _same_parts(child) == _same_parts(thread)
    assert child_rows == thread_rows
    assert (thread.checked, thread.mismatched_users, thread.missing_count) == (258, 1, 1), thread.as_json()
    assert child_rows == [(3, ext_id(3), users[ext_id(3)]["id"], "created", "mismatch", "first_name", "First3",
                           "Mallory"),
                          (200, ext_id(200), users[ext_id(200)]["id"], "created", "missing", None, None, None)]


def test_a_row_whose_fields_changed_is_refused_the_same_way(tmp_path: Path, sandbox, prod_key):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=30)
    journal = RunJournal.open(run_dir)
    with journal.transaction() as conn:  # what the export's row 7 would give if it had changed in place
        conn.execute("UPDATE rows SET fingerprint = zeroblob(16) WHERE row_no = 7")
    journal.close()
    messages = []
    for export_process in (False, True):
        with pytest.raises(RunRefused) as caught:
            _verify(run_dir, sandbox, prod_key, export_process=export_process)
        assert caught.value.code == "export_changed" and "row(s) 7 (" in str(caught.value)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


# ----------------------------------------------------------------------------- the runner itself
def emit_then(emit, n: int, error: str | None) -> None:
    for i in range(n):
        emit([i, f"row {i}", b"\x00" * i])
    if error == "changed":
        raise FeedChanged("2 row(s) changed", [4, 9])
    if error == "value":
        raise ValueError("bad value in the child")
    if error == "unpicklable":
        class Local(Exception):  # a class pickle cannot find
            pass

        raise Local("local words")


def endless(emit, size: int) -> None:
    while True:
        emit(b"x" * size)


def test_the_runner_returns_what_the_child_emits_then_its_error():
    with ExportProcess(emit_then, 3, None) as stream:
        assert [stream.next() for _ in range(4)] == [[0, "row 0", b""], [1, "row 1", b"\x00"],
                                                     [2, "row 2", b"\x00\x00"], None]
        assert stream.next() is None and stream.child_peak_rss_mb and stream.child_peak_rss_mb > 1
    with ExportProcess(emit_then, 2, "changed") as stream:
        assert stream.next()[0] == 0 and stream.next()[0] == 1
        with pytest.raises(FeedChanged) as caught:
            stream.next()
        assert caught.value.rows == [4, 9] and str(caught.value) == "2 row(s) changed"
    with ExportProcess(emit_then, 0, "value") as stream:
        with pytest.raises(ValueError, match="bad value in the child"):
            stream.next()
    with ExportProcess(emit_then, 0, "unpicklable") as stream:
        with pytest.raises(MigrationError, match="Local: local words") as caught:
            stream.next()
        assert caught.value.code == "export_process"


def test_a_child_closed_early_is_gone():
    stream = ExportProcess(endless, 1 << 16)
    assert stream.next() == b"x" * (1 << 16)  # it is blocked on the full pipe now
    pid = stream._proc.pid
    t = time.monotonic()
    stream.close()
    assert time.monotonic() - t < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
