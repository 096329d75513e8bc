"""The run journal: schema, permissions, queries, transitions, no secrets."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from console.migration.journal import (
    FIXABLE_FIELDS,
    NewRow,
    NewerJournal,
    NotARunFolder,
    RunInfo,
    RunJournal,
    SCHEMA_VERSION,
    is_run_folder,
)


def _info(**kw) -> RunInfo:
    base = dict(
        export_path="/data/users.json",
        base_url="http://127.0.0.1:1",
        key_fingerprint="0123456789abcdef",
        key_masked="sk_live_…abcd",
        instance_kind="production",
        policies={"unverified_email": "verified", "plaintext_password": "refuse"},
        settings={"rate": None, "concurrency": 64},
    )
    base.update(kw)
    return RunInfo(**base)


def _load(j: RunJournal, n: int = 10, refused=(3, 7)) -> None:
    rows = []
    for i in range(1, n + 1):
        if i in refused:
            rows.append(NewRow(i, f"id{i}", f"u{i}@x.test", "refused", ("email_invalid",), (), "bad email"))
        else:
            rows.append(NewRow(i, f"id{i}", f"u{i}@x.test", "pending", (), ("name_split",) if i == 2 else ()))
    j.add_rows(rows)
    j.finish_load(sha256="ab" * 32, size=123, fmt="json", shape="prisma")


@pytest.fixture
def journal(tmp_path: Path):
    j = RunJournal.create(tmp_path / "run", _info())
    _load(j)
    yield j
    j.close()


def test_folder_and_files_are_private(tmp_path: Path):
    run = tmp_path / "run"
    j = RunJournal.create(run, _info())
    _load(j)
    j.mark_creating([1])
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    files = list(run.iterdir())
    assert any(p.name.endswith("-wal") for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    j.close()
    assert is_run_folder(run)


def test_wal_mode_and_schema_version(journal: RunJournal):
    c = journal.connection
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert journal.info.schema_version == SCHEMA_VERSION
    assert journal.info.rows_loaded is True
    assert journal.info.export_sha256 == "ab" * 32


def test_counts_and_pages(journal: RunJournal):
    counts = journal.counts()
    assert counts == {"pending": 8, "creating": 0, "created": 0, "existed": 0, "failed": 0, "refused": 2}
    assert journal.total_rows() == 10
    page = journal.rows(status="pending", limit=3)
    assert [r.row_no for r in page] == [1, 2, 4]
    page2 = journal.rows(status="pending", limit=3, after_row=page[-1].row_no)
    assert [r.row_no for r in page2] == [5, 6, 8]
    assert [r.row_no for r in journal.rows(status="pending", limit=3, offset=3)] == [5, 6, 8]
    assert journal.count_rows(status=("pending", "refused")) == 10
    assert [r.row_no for r in journal.iter_rows(status="pending", batch=3)] == [1, 2, 4, 5, 6, 8, 9, 10]
    refused = journal.get_row(3)
    assert refused.refusal_codes == ("email_invalid",) and refused.error_code == "email_invalid"
    assert journal.get_row(2).warning_codes == ("name_split",)
    assert journal.refusals_by_code() == {"email_invalid": 2}


def test_search(journal: RunJournal):
    assert [r.row_no for r in journal.rows(search="id1")] == [1, 10]
    assert [r.row_no for r in journal.rows(search="u5@")] == [5]
    assert [r.row_no for r in journal.rows(search="4")] == [4]
    # LIKE wildcards in the text are literal
    assert journal.rows(search="%") == []
    assert journal.count_rows(search="_") == 0


def test_transitions_and_failures(journal: RunJournal):
    journal.mark_creating([1, 2, 4, 5])
    assert journal.counts()["creating"] == 4
    assert journal.get_row(1).attempts == 1
    journal.mark_uncertain([5])
    journal.record(
        [
            ("created", 1, "user_1"),
            ("existed", 2, "user_2"),
            ("failed", 4, "form_param_format_invalid", "email_address", "is invalid"),
            ("pending", 5, True),
        ]
    )
    counts = journal.counts()
    assert counts["created"] == 1 and counts["existed"] == 1 and counts["failed"] == 1
    assert counts["creating"] == 0 and counts["pending"] == 5
    assert journal.get_row(5).uncertain is True
    assert journal.get_row(1).clerk_user_id == "user_1"
    groups = journal.failures_by_code()
    assert [(g.code, g.count, g.param, g.retryable) for g in groups] == [
        ("form_param_format_invalid", 1, "email_address", False)
    ]
    assert journal.rows(status="failed", code="form_param_format_invalid")[0].row_no == 4
    # mark_creating only moves pending rows
    journal.mark_creating([1])
    assert journal.get_row(1).status == "created"


def test_fix_and_retry_selection(journal: RunJournal):
    journal.mark_creating([1, 2, 4])
    journal.record(
        [
            ("failed", 1, "form_param_format_invalid", "email_address", "is invalid"),
            ("failed", 2, "unknown_outcome", None, "no answer"),
            ("failed", 4, "form_password_pwned", "password", "pwned"),
        ]
    )
    assert journal.count_retryable() == 1  # only unknown_outcome
    row = journal.set_fix(1, {"email": "fixed@x.test", "first_name": "Ann"})
    assert row.email == "fixed@x.test" and row.export_email == "u1@x.test"
    assert row.fix == {"email": "fixed@x.test", "first_name": "Ann"}
    assert journal.count_retryable() == 2  # + the fixed row
    assert journal.count_retryable(codes=["form_password_pwned"]) == 1
    assert journal.count_retryable(row_nos=[4, 5]) == 1  # row 5 is not failed
    with pytest.raises(ValueError, match="password"):
        journal.set_fix(4, {"password": "x"})
    with pytest.raises(ValueError, match="refused"):
        journal.set_fix(3, {"email": "a@b.c"})
    assert journal.reset_for_retry() == 2
    assert journal.get_row(1).status == "pending" and journal.get_row(1).error_code is None
    assert journal.get_row(4).status == "failed"
    assert journal.reset_for_retry(codes=["form_password_pwned"]) == 1
    # clearing the fix restores the export's address
    assert journal.set_fix(1, None).email == "u1@x.test"
    assert "external_id" not in FIXABLE_FIELDS


def test_sessions_events_meta(journal: RunJournal):
    sid = journal.start_session("import")
    journal.update_session(sid, requests=12, rate_limited=1, created=10, end=True, outcome="done")
    s = journal.sessions()
    assert s[0]["requests"] == 12 and s[0]["outcome"] == "done" and s[0]["ended_at"] >= s[0]["started_at"]
    journal.add_event("stop", "stopped by the operator")
    assert journal.events()[-1]["message"] == "stopped by the operator"
    journal.set_meta("verify", {"checked": 3})
    assert journal.get_meta("verify") == {"checked": 3}
    assert journal.get_meta("nope", 7) == 7


def test_open_errors(tmp_path: Path):
    with pytest.raises(NotARunFolder, match="no such run folder"):
        RunJournal.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotARunFolder, match="not a run folder"):
        RunJournal.open(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "journal.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(NotARunFolder):
        RunJournal.open(tmp_path / "junk")


def test_newer_schema_refused(tmp_path: Path):
    j = RunJournal.create(tmp_path / "run", _info())
    j.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    j.close()
    with pytest.raises(NewerJournal, match="newer"):
        RunJournal.open(tmp_path / "run")


def test_readonly_reader_sees_writer(tmp_path: Path):
    j = RunJournal.create(tmp_path / "run", _info())
    _load(j)
    reader = RunJournal.open(tmp_path / "run", readonly=True)
    j.mark_creating([1])
    j.record([("created", 1, "user_1")])
    assert reader.counts()["created"] == 1
    with pytest.raises(sqlite3.OperationalError):
        reader.connection.execute("DELETE FROM rows")
    reader.close()
    j.close()


def test_no_secret_in_journal_bytes(tmp_path: Path):
    key = "sk_live_" + "THISISTHESECRETKEYVALUE9876"  # a fake key, split so scanners do not flag it
    digest = "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
    j = RunJournal.create(tmp_path / "run", _info(key_masked="sk_live_…9876"))
    _load(j)
    j.close()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "run").iterdir())
    assert key.encode() not in blob and b"THISISTHESECRET" not in blob
    assert digest.encode() not in blob
