"""The sync plan's match of the new export's rows to the journal's (issue 17: a merge in row
order, a range of journal rows read per chunk, the rest looked up by external id) and its
classification in Python: for exports that keep the order, shuffle it, reverse it, insert and
remove blocks longer than the merge's margin, repeat ids, and hold a row the checks cannot read
before a row of the same id, every row of the plan is what the module doc's rules say,
computed here independently (one look-up per external id in the journal, the claimant rule
over the whole export, the kind table). Chunks and margins are made small so that every
path of the merge is taken with a few hundred rows."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from console.migration import sync_plan
from console.migration.journal import RunJournal
from console.migration.run import prepare_run
from console.migration.sync_plan import plan_sync

from tests.integration.sync_support import first_rows, settings_for

N = 400


def _raw(rows: list[Any]) -> str:
    """A JSON array; an item that is a str is written as it is (a row with a key twice)."""
    return "[\n" + ",\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n]\n"


@pytest.fixture()
def small_chunks(monkeypatch):
    monkeypatch.setattr(sync_plan, "PLAN_CHUNK", 37)
    monkeypatch.setattr(sync_plan._JournalRows, "MARGIN", 5)


@pytest.fixture()
def run(tmp_path: Path) -> tuple[RunJournal, list[dict[str, Any]]]:
    rows = first_rows(N)
    rows[11] = dict(rows[11], email="not-an-email")  # refused at the load
    rows[29] = dict(rows[29], id=rows[40]["id"], email="other30@example.test")  # row 41's id: the journal has it twice
    export = tmp_path / "t0.json"
    export.write_text(_raw(rows))
    journal = prepare_run(tmp_path / "run", export, settings_for("http://127.0.0.1:9", "sk_live_" + "M" * 40),
                          confirmed_production=True)
    outcomes: list[tuple[Any, ...]] = []
    for rec in journal.iter_rows(status="pending"):
        if rec.row_no % 17 == 0:
            outcomes.append(("failed", rec.row_no, "form_password_pwned", "password", "pwned"))
        elif rec.row_no % 23 == 0:
            outcomes.append(("existed", rec.row_no, f"user_x{rec.row_no}"))
        elif rec.row_no not in (390, 392):  # left pending: busy
            outcomes.append(("created", rec.row_no, f"user_c{rec.row_no}"))
    journal.record(outcomes)
    return journal, rows


def _expected(journal: RunJournal, plan: Any) -> dict[int, tuple[Any, ...]]:
    """pos -> (kind, row, old_row, status, clerk id, old email) by the rules, from the plan's own
    reading of the export (importable, fingerprint) and one look-up per id in the journal."""
    conn = sqlite3.connect(f"file:{journal.path}?mode=ro", uri=True)
    export = plan.connection.execute(
        "SELECT row_no, external_id, importable, fp FROM items WHERE row_no IS NOT NULL ORDER BY row_no").fetchall()

    def journal_row(ext: str | None) -> tuple[Any, ...] | None:
        if ext is None:
            return None
        found = conn.execute("SELECT row_no, status, fingerprint, clerk_user_id, email FROM rows WHERE external_id = ?"
                             " ORDER BY row_no", (ext,)).fetchall()
        kept = [r for r in found if r[1] != "refused"] or found
        return kept[0] if kept else None

    matched = {row: journal_row(ext) for row, ext, _, _ in export}
    by_old: dict[int, list[tuple[int, int]]] = {}
    for row, _ext, importable, _fp in export:
        if matched[row] is not None:
            by_old.setdefault(matched[row][0], []).append((row, importable))
    for claims in by_old.values():  # one journal row, one claimant
        for row, importable in claims:
            if not importable and any(r != row and (imp or r < row) for r, imp in claims):
                matched[row] = None
    out: dict[int, tuple[Any, ...]] = {}
    for row, _ext, importable, fp in export:
        j = matched[row]
        if j is None:
            kind = "new" if importable else "refused"
            out[row] = (kind, row, None, None, None, None)
            continue
        old, status, jfp, clerk_id, email = j
        if status in ("pending", "creating"):
            kind = "busy"
        elif not importable:
            kind = "refused"
        elif status in ("created", "existed"):
            kind = "unchanged" if bytes(fp) == bytes(jfp) else "changed"
        elif status == "failed":
            kind = "failed" if bytes(fp) == bytes(jfp) else "new"
        else:
            kind = "new"
        out[row] = (kind, row, old, status, clerk_id, email)
    last = export[-1][0] if export else 0
    claimed = {m[0] for m in matched.values() if m is not None}
    for old, status, clerk_id, email in conn.execute("SELECT row_no, status, clerk_user_id, email FROM rows"):
        if old not in claimed:
            kind = ("removed" if status in ("created", "existed") else
                    "busy" if status in ("pending", "creating") else "dropped")
            out[last + old] = (kind, None, old, status, clerk_id, email)
    conn.close()
    return out


def _check(journal: RunJournal, export: Path, *, most_in_order: bool = False) -> dict[str, int]:
    plan = plan_sync(journal, export)
    try:
        matched = plan.facts["matched"]
        if most_in_order:  # the merge finds every row but the new, moved, repeated ones and a chunk's edges
            assert matched["looked_up"] < 0.2 * N, matched
        got = {r[0]: tuple(r[1:]) for r in plan.connection.execute(
            "SELECT pos, kind, row_no, old_row, status, clerk_user_id, old_email FROM items")}
        want = _expected(journal, plan)
        assert got == want, {p: (got.get(p), want.get(p)) for p in set(got) | set(want) if got.get(p) != want.get(p)}
        counts = dict(plan.counts)
        assert sum(counts.values()) == len(want)
        return counts
    finally:
        plan.close()


def test_same_order_with_blocks_inserted_removed_and_moved(run, tmp_path: Path, small_chunks):
    journal, rows = run
    new = [dict(r) for r in rows]
    for i in range(0, N, 9):
        new[i]["name"] = f"Changed {i}"
    moved_last, moved_first = new[4], new[389]
    block = [{"id": f"nw{k:04d}", "name": f"New {k}", "email": f"nw{k}@example.test",
              "emailVerified": "2023-01-02T03:04:05.000Z"} for k in range(30)]
    out = new[:100] + block + new[100:200] + new[260:]  # 30 new rows, 60 removed: both beyond the margin
    out.remove(moved_last)
    out.remove(moved_first)
    out = [moved_first] + out + [moved_last]
    counts = _check(journal, _write(tmp_path / "t1.json", out), most_in_order=True)
    assert counts["new"] >= 30 and counts["removed"] > 0 and counts["changed"] > 0, counts


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text(_raw(rows))
    return path


@pytest.mark.parametrize("order", ["shuffled", "reversed"])
def test_any_order(run, tmp_path: Path, small_chunks, order: str):
    journal, rows = run
    new = [dict(r) for r in rows]
    new[7]["email"] = "moved7@example.test"
    if order == "shuffled":
        random.Random(5).shuffle(new)
    else:
        new.reverse()
    counts = _check(journal, _write(tmp_path / "t1.json", new))
    assert counts["changed"] >= 1 and counts["busy"] == 2, counts


def test_repeated_ids_and_a_row_the_checks_cannot_read_before_its_id(run, tmp_path: Path, small_chunks):
    journal, rows = run
    new: list[Any] = [dict(r) for r in rows]
    new.insert(60, dict(rows[9], name="A Copy"))  # row 10's id again, later: duplicate_id
    ext = rows[20]["id"]
    # a row with a key twice (claims no id) before row 21, whose id it has: the importable row takes the
    # journal's row, the unreadable one is refused as a row the run never had
    new.insert(5, '{"id": "%s", "email": "a@example.test", "email": "b@example.test"}' % ext)
    ext2 = rows[50]["id"]  # the same, with a row that is not importable after it: the first one keeps it
    new.insert(45, '{"id": "%s", "email": "c@example.test", "email": "d@example.test"}' % ext2)
    new[52] = dict(new[52], email="broken")
    assert new[52]["id"] == ext2
    counts = _check(journal, _write(tmp_path / "t1.json", new))
    assert counts["refused"] >= 4, counts
    plan = plan_sync(journal, tmp_path / "t1.json")
    try:
        by_row = {r.row: r for r in plan.rows(kind=None, limit=1000)}
        assert (by_row[6].kind, by_row[6].old_row) == ("refused", None)  # the unreadable row before row 21
        unchanged = {r.external_id: r for r in plan.rows(kind="unchanged", limit=1000)}
        assert unchanged[ext].old_row == 21
        assert (by_row[46].kind, by_row[46].old_row) == ("refused", 51)  # first of two refused rows keeps it
        assert (by_row[53].kind, by_row[53].old_row) == ("refused", None)
    finally:
        plan.close()
