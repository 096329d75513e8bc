"""sync over HTTP against the sandbox: 2,000 rows imported, then a second export with
3 % new, 5 % changed (emails, names, passwords, metadata) and 2 % removed; two syncs
in a row; the dry run; the removed rows (kept, deleted only with the run's marker);
lost answers on updates; the journal following the newest export."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any


from console.cli import main
from console.migration.journal import RunJournal
from console.migration.sync import Syncer, last_sync, sync_items, syncs
from console.migration.verify import verify_run

from tests.integration.sync_support import (
    assert_holds,
    fast_client,
    first_rows,
    import_first,
    second_export,
    seed_import,
    settings_for,
    verify_passwords,
    sync_requests,
    write,
)

FAST = dict(production_limit=1_000_000, development_limit=1_000_000, user_update_limit=10)


def _sync(journal: RunJournal, server: Any, key: str, export: Path, **kw: Any):
    client = fast_client(server.url, key)
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_cap_s", 0.05)
    kw.setdefault("progress_interval_s", 0.05)
    kw.setdefault("importer_tuning", {"backoff_base_s": 0.02, "backoff_cap_s": 0.1, "lookup_wait_s": 0.02})

    async def go():
        try:
            return await Syncer(journal, settings_for(server.url, key), export, confirmed=True, client=client,
                                **kw).run()
        finally:
            await client.aclose()

    return asyncio.run(go())


def _verify_all(journal: RunJournal, server: Any, key: str):
    client = fast_client(server.url, key)

    async def go():
        try:
            return await verify_run(journal, settings_for(server.url, key), sample=None, client=client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _journal_bytes(run: Path) -> bytes:
    return b"".join((run / name).read_bytes() for name in ("journal.sqlite", "journal.sqlite-wal")
                    if (run / name).exists())


def test_second_export_synced_exactly_with_nothing_for_unchanged_rows(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(**FAST)
    rows = first_rows(2000)
    t0 = write(tmp_path / "t0.json", rows)
    run = tmp_path / "run"
    journal = seed_import(run, t0, server, prod_key)
    second = second_export(rows)
    assert (len(second.new), len(second.changed), len(second.removed)) == (60, 100, 40)
    t1 = write(tmp_path / "t1.json", second.rows)
    before = server.stats(prod_key).get("requests", 0)

    result = _sync(journal, server, prod_key, t1)

    sent = server.stats(prod_key).get("requests", 0) - before
    s = result.summary
    assert result.exit_code == 0, (s["failures"], result.message)
    assert (s["created"], s["updated"], s["unchanged"], s["removed"], s["failed"]) == (60, 100, 1860, 40, 0)
    assert s["kept"] == 40 and s["left"] == 0
    # not one request for the 1,800 unchanged rows: exactly what the changes need
    expected = sync_requests(second, {r["id"]: r for r in rows}, prints=False)
    assert sent == expected == s["requests"], (sent, expected, s["requests"])
    users = server.users(prod_key)
    assert_holds(users, second.rows, also=set(second.removed), second=second)
    verify_passwords(server, prod_key, users, second.password)

    # the journal follows the new export: its row numbers, its ids, its emails
    assert journal.total_rows() == len(second.rows)
    for n, row in enumerate(second.rows, start=1):
        rec = journal.get_row(n)
        assert rec.external_id == row["id"] and rec.email == row["email"] and rec.status == "created", (n, rec)
    assert journal.info.export_path == str(t1.resolve())
    removed = sync_items(journal, 1, kind="removed", limit=100)
    assert sorted(i.external_id for i in removed) == second.removed
    assert all(i.state == "kept" and i.clerk_user_id for i in removed)
    # verify reads the newest export: everything matches
    report = _verify_all(journal, server, prod_key)
    assert report.ok and report.checked == len(second.rows), (report.mismatched[:3], report.missing[:3])
    # no digest (old or new) and no name in the journal
    data = _journal_bytes(run)
    for row in second.rows[:200] + rows[:200]:
        if row.get("password"):
            assert row["password"].encode() not in data
    assert b"Renamed" not in data
    journal.close()


def test_two_syncs_in_a_row_and_the_password_print(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(**FAST)
    rows = first_rows(300)
    journal, _ = import_first(tmp_path / "run", write(tmp_path / "t0.json", rows), server.url, prod_key)
    t1 = second_export(rows, seed=1, tag="v2")
    r1 = _sync(journal, server, prod_key, write(tmp_path / "t1.json", t1.rows))
    assert r1.exit_code == 0 and r1.summary["updated"] == len(t1.changed), r1.summary["failures"]
    # the second sync starts from what the run knows after the first: new row numbers,
    # T1's values, and a print of every row's password
    t2 = second_export(t1.rows, seed=2, tag="v3", new=0.02, changed=0.08, removed=0.03)
    rows_t1 = {r["id"]: r for r in t1.rows}
    before = server.stats(prod_key).get("requests", 0)
    r2 = _sync(journal, server, prod_key, write(tmp_path / "t2.json", t2.rows))
    sent = server.stats(prod_key).get("requests", 0) - before
    s = r2.summary
    assert r2.exit_code == 0, s["failures"]
    assert (s["sync"], s["created"], s["updated"], s["removed"]) == (2, len(t2.new), len(t2.changed), len(t2.removed))
    # a password's change is known now: an email change alone sends no PATCH
    assert sent == sync_requests(t2, rows_t1, prints=True) == s["requests"]
    assert s["planned"]["password_unknown"] == 0
    emails_only = [i for i in sync_items(journal, 2, kind="changed", limit=1000) if i.external_id in t2.email]
    assert emails_only and all(i.fields == ("email",) for i in emails_only)
    users = server.users(prod_key)
    assert_holds(users, t2.rows, also=set(t1.removed) | set(t2.removed), second=t2)
    verify_passwords(server, prod_key, users, {**{k: v for k, v in t1.password.items() if k in {r["id"] for r in t2.rows}
                                                   and k not in t2.password}, **t2.password})
    assert [x.state for x in syncs(journal)] == ["done", "done"]
    assert _verify_all(journal, server, prod_key).ok
    # the same export again: nothing to do, not one request
    before = server.stats(prod_key).get("requests", 0)
    r3 = _sync(journal, server, prod_key, tmp_path / "t2.json")
    assert r3.exit_code == 0 and r3.summary["unchanged"] == len(t2.rows) and r3.summary["requests"] == 0
    assert server.stats(prod_key).get("requests", 0) == before
    journal.close()


def test_lost_answers_on_updates_are_read_back_never_resent(tmp_path: Path, sandbox_factory, prod_key):
    """Every update's answer is lost (written, then 502): each write goes out once, then the
    user is read again, and the sync moves on from what Clerk holds."""
    server = sandbox_factory(**FAST)
    # names, emails and metadata (a digest alone cannot be read back): no row with a password
    rows = [{k: v for k, v in r.items() if k != "password"} for r in first_rows(200)]
    journal, _ = import_first(tmp_path / "run", write(tmp_path / "t0.json", rows), server.url, prod_key)
    changed = second_export(rows, seed=3, new=0, removed=0, changed=0.15, kinds=("email", "name", "metadata"))
    t1 = write(tmp_path / "t1.json", changed.rows)
    server.config.ambiguous_writes = True
    server.config.ambiguous_rate = 1.0
    server.config.ambiguous_modes = ("502",)
    before = server.stats(prod_key)
    result = _sync(journal, server, prod_key, t1)
    after = server.stats(prod_key)
    assert result.exit_code == 0, result.summary["failures"]
    writes = len(changed.name) + len(changed.metadata) + 2 * len(changed.email)
    lost = after.get("ambiguous_502", 0) - before.get("ambiguous_502", 0)
    assert lost == writes  # every write answered 502 ... and none was sent twice:
    reads = after.get("requests", 0) - before.get("requests", 0) - writes
    # GET /v1/instance, the read of the page, then one read after each lost answer
    assert reads == 2 + writes
    assert_holds(server.users(prod_key), changed.rows, second=changed)
    items = sync_items(journal, 1, kind="changed", limit=1000)
    assert len(items) == len(changed.changed) and all(i.state == "done" for i in items)
    assert {i.external_id for i in items if i.fields == ("email",)} == set(changed.email)
    journal.close()


def test_dry_run_writes_nothing_and_shows_every_row(tmp_path: Path, sandbox_factory, prod_key, monkeypatch, capsys):
    server = sandbox_factory(**FAST)
    rows = first_rows(200)
    run = tmp_path / "run"
    journal, _ = import_first(run, write(tmp_path / "t0.json", rows), server.url, prod_key)
    journal.close()
    second = second_export(rows, seed=4)
    t1 = write(tmp_path / "t1.json", second.rows)
    users_before = server.users(prod_key)
    files_before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir() if p.is_file()}
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    monkeypatch.setenv("CLERK_API_URL", server.url)
    monkeypatch.chdir(tmp_path)
    code = main(["sync", "--run", str(run), str(t1), "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["dry_run"] is True
    assert (out["created"], out["updated"], out["removed"]) == (len(second.new), len(second.changed),
                                                                 len(second.removed))
    assert out["requests"] == 1  # one read: Clerk's copy of the changed users, to show their old values
    shown = {r["external_id"]: r for r in out["rows"]}
    ext, (first, last) = next(iter(second.name.items()))
    fields = {f["field"]: f for f in shown[ext]["fields"]}
    old = next(r for r in rows if r["id"] == ext)["name"].split(" ")
    assert (fields["first_name"]["old"], fields["first_name"]["new"]) == (old[0], first)
    ext = next(iter(second.email))
    fields = {f["field"]: f for f in shown[ext]["fields"]}
    assert fields["email"]["new"] == second.email[ext] and fields["email"]["old"].startswith("user")
    ext = next(iter(second.password))
    assert any(f["field"] == "password" and "••••" in (f["new"] or "") for f in shown[ext]["fields"])
    assert not any("$2b$" in json.dumps(r) for r in out["rows"])  # digests only masked
    assert {r["kind"] for r in out["rows"]} == {"new", "changed", "removed"}
    # nothing written: not to Clerk, not to the run folder
    assert server.users(prod_key) == users_before
    files_after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir() if p.is_file()}
    # SQLite's shared-memory index and an empty write-ahead log appear when anyone reads a WAL
    # journal (status does too); no transaction went into them
    for name in ("journal.sqlite-wal", "journal.sqlite-shm"):
        if name not in files_before:
            files_after.pop(name, None)
    assert not (run / "journal.sqlite-wal").exists() or (run / "journal.sqlite-wal").stat().st_size == 0
    assert files_after == files_before
    # the human form lists the rows too
    code = main(["sync", "--run", str(run), str(t1), "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0 and f"first_name: {old[0]} -> {first}" in text and "dry run: nothing was changed" in text


def test_removed_users_deleted_only_with_this_runs_marker(tmp_path: Path, sandbox_factory, prod_key, monkeypatch,
                                                          capsys):
    server = sandbox_factory(**FAST)
    rows = first_rows(100)
    # five users are in Clerk before the run (the import finds them: existed)
    for r in rows[:5]:
        server.seed_user(prod_key, {"external_id": r["id"], "email_address": [r["email"]],
                                    "skip_password_requirement": True})
    run = tmp_path / "run"
    journal, first = import_first(run, write(tmp_path / "t0.json", rows), server.url, prod_key)
    assert first["existed"] == 5
    journal.close()
    gone = {r["id"] for r in rows[:10]}  # 5 existed, 5 created by this run
    t1 = write(tmp_path / "t1.json", [r for r in rows if r["id"] not in gone])
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    monkeypatch.setenv("CLERK_API_URL", server.url)
    monkeypatch.chdir(tmp_path)
    # delete needs --yes (and a Production key needs it anyway): refused, nothing written
    before = server.stats(prod_key).get("requests", 0)
    assert main(["sync", "--run", str(run), str(t1), "--removed", "delete"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert server.stats(prod_key).get("requests", 0) == before
    code = main(["sync", "--run", str(run), str(t1), "--removed", "delete", "--yes", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert (out["removed"], out["deleted"], out["kept"]) == (10, 5, 5)
    left = {u["external_id"] for u in server.users(prod_key)}
    assert left == {r["id"] for r in rows} - {r["id"] for r in rows[5:10]}  # the existed five are still there
    with RunJournal.open(run) as j:
        kept = {i.external_id: i for i in sync_items(j, 1, kind="removed", state="kept")}
        assert set(kept) == {r["id"] for r in rows[:5]} and all(i.code == "not_marked" for i in kept.values())
        assert last_sync(j).state == "done"


def test_refusals_before_anything_is_sent(tmp_path: Path, sandbox_factory, prod_key, monkeypatch, capsys):
    server = sandbox_factory(**FAST)
    rows = first_rows(60)
    run = tmp_path / "run"
    journal, _ = import_first(run, write(tmp_path / "t0.json", rows), server.url, prod_key)
    journal.close()
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    monkeypatch.setenv("CLERK_API_URL", server.url)
    monkeypatch.chdir(tmp_path)
    t1 = write(tmp_path / "t1.json", second_export(rows, seed=5).rows)
    before = server.stats(prod_key).get("requests", 0)
    # a Production key without --yes
    assert main(["sync", "--run", str(run), str(t1)]) == 2
    assert "--yes" in capsys.readouterr().err
    # an unreadable export: one line, exit 2
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"id\": ")
    assert main(["sync", "--run", str(run), str(bad), "--yes"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("clerk-migrate:")]
    assert "Traceback" not in err and len(errors) == 1 and "bad.json" in errors[0], err
    # an accounts file for a run that reads its export without one (the providers are in every fingerprint)
    accounts = write(tmp_path / "accounts.json", [{"userId": rows[0]["id"], "provider": "github",
                                                   "providerAccountId": "1", "type": "oauth"}])
    for extra in ((), ("--dry-run",)):
        assert main(["sync", "--run", str(run), str(t1), "--yes", "--accounts", str(accounts), *extra]) == 2
        assert "without --accounts" in capsys.readouterr().err
    # another instance's key
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key[:-4] + "ZZZZ")
    assert main(["sync", "--run", str(run), str(t1), "--yes"]) == 2
    assert "another instance" in capsys.readouterr().err
    assert server.stats(prod_key).get("requests", 0) == before
    with RunJournal.open(run) as j:
        assert syncs(j) == [] and j.info.export_path == str((tmp_path / "t0.json").resolve())


def test_a_failed_update_is_listed_verified_as_behind_and_sent_by_the_next_sync(tmp_path: Path, sandbox_factory,
                                                                                 prod_key):
    """The new email of one changed row belongs to a Clerk user outside the run: that row
    fails (email_taken, naming the holder), the rest is done (exit 1); the journal follows
    the new export all the same, verify says which user is behind, and once the holder is
    gone the same export again sends exactly that row's change."""
    server = sandbox_factory(**FAST)
    rows = first_rows(120)
    journal = seed_import(tmp_path / "run", write(tmp_path / "t0.json", rows), server, prod_key)
    second = second_export(rows, seed=9, new=0, removed=0, changed=0.1)
    blocked, address = sorted(second.email.items())[0]
    holder = server.seed_user(prod_key, {"external_id": "outsider", "email_address": [address],
                                         "skip_password_requirement": True})
    t1 = write(tmp_path / "t1.json", second.rows)
    result = _sync(journal, server, prod_key, t1)
    s = result.summary
    assert result.exit_code == 1 and s["failed"] == 1 and s["updated"] == len(second.changed) - 1, s
    failure = s["failures"][0]
    assert failure["external_id"] == blocked and failure["code"] == "email_taken" and holder["id"] in failure["message"]
    report = _verify_all(journal, server, prod_key)  # the newest export is verify's: one user is behind it
    assert not report.ok and {m["external_id"] for m in report.mismatched} == {blocked}
    client = fast_client(server.url, prod_key)

    async def outsider_leaves() -> None:
        try:
            await client.delete_user(holder["id"])
        finally:
            await client.aclose()

    asyncio.run(outsider_leaves())
    before = server.stats(prod_key).get("requests", 0)
    again = _sync(journal, server, prod_key, t1)
    assert again.exit_code == 0 and again.summary["updated"] == 1 and again.summary["unchanged"] == len(rows) - 1
    assert again.summary["planned"]["changed"] == 1
    sent = server.stats(prod_key).get("requests", 0) - before
    has_pw = bool(next(r for r in rows if r["id"] == blocked).get("password"))
    # the instance, the read, add + delete the address; and the digest when the row has one (its
    # print was never kept: the row changed at the run's first sync and was not done then)
    assert sent == 1 + 1 + 2 + (1 if has_pw else 0), sent
    assert_holds(server.users(prod_key), second.rows, second=second)
    assert _verify_all(journal, server, prod_key).ok
    journal.close()


def test_an_address_another_changed_user_gives_up_is_taken_after_it(tmp_path: Path, sandbox_factory, prod_key):
    """Row 1 takes row 2's address while row 2 moves to a new one: whatever the order the
    writes come in, both end with their new address (row 1 waits for row 2); two rows that
    swap addresses fail both, naming each other's user, and the rest is done."""
    server = sandbox_factory(**FAST)
    rows = first_rows(40)
    journal = seed_import(tmp_path / "run", write(tmp_path / "t0.json", rows), server, prod_key)
    second = [dict(r) for r in rows]
    second[0]["email"], second[1]["email"] = rows[1]["email"], "fresh2@example.test"  # a chain
    second[2]["email"], second[3]["email"] = rows[3]["email"], rows[2]["email"]  # a swap
    result = _sync(journal, server, prod_key, write(tmp_path / "t1.json", second), concurrency=1)
    s = result.summary
    assert result.exit_code == 1 and (s["updated"], s["failed"]) == (2, 2), s
    assert {f["external_id"] for f in s["failures"]} == {rows[2]["id"], rows[3]["id"]}
    assert all(f["code"] == "email_taken" for f in s["failures"])
    users = {u["external_id"]: u for u in server.users(prod_key)}
    assert [e["email_address"] for e in users[rows[0]["id"]]["email_addresses"]] == [rows[1]["email"]]
    assert [e["email_address"] for e in users[rows[1]["id"]]["email_addresses"]] == ["fresh2@example.test"]
    for r in rows[2:4]:  # the swap: nothing changed for them
        assert [e["email_address"] for e in users[r["id"]]["email_addresses"]] == [r["email"]]
    journal.close()


def test_refused_rows_repeated_ids_and_rows_fixed_at_the_source(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(**FAST)
    rows = first_rows(30)
    rows[4]["email"] = "not-an-email"  # refused at import
    journal, first = import_first(tmp_path / "run", write(tmp_path / "t0.json", rows), server.url, prod_key)
    assert first["refused"] == 1 and first["created"] == 29
    second = [dict(r) for r in rows]
    second[4]["email"] = "fixed5@example.test"  # fixed at the source: created by the sync
    second[7]["email"] = "broken"  # now refused: its Clerk user is left as it is
    second.insert(12, dict(rows[2], name="Someone Else", email="dupe@example.test"))  # row 3's id again
    t1 = write(tmp_path / "t1.json", second)
    before = {u["external_id"]: u for u in server.users(prod_key)}
    result = _sync(journal, server, prod_key, t1)
    s = result.summary
    assert result.exit_code == 0, s
    assert (s["created"], s["updated"], s["refused"], s["unchanged"]) == (1, 0, 2, 28), s
    items = {(i.kind, i.row) for i in sync_items(journal, 1, limit=100)}
    assert items == {("new", 5), ("refused", 8), ("refused", 13)}, items
    users = {u["external_id"]: u for u in server.users(prod_key)}
    assert users[rows[4]["id"]]["email_addresses"][0]["email_address"] == "fixed5@example.test"
    assert users[rows[7]["id"]] == before[rows[7]["id"]]  # refused now: not touched
    assert users[rows[2]["id"]] == before[rows[2]["id"]]  # the repeated id took nothing
    rec = journal.get_row(13)
    assert (rec.external_id, rec.status, rec.clerk_user_id) == (rows[2]["id"], "refused", None)
    assert "duplicate_id" in rec.refusal_codes
    assert journal.get_row(3).clerk_user_id == before[rows[2]["id"]]["id"]
    # the row refused now stays behind: verify says so, and a later export that fixes it updates it
    third = [dict(r) for r in second]
    third[7]["email"] = "repaired8@example.test"
    again = _sync(journal, server, prod_key, write(tmp_path / "t2.json", third))
    assert again.exit_code == 0 and again.summary["updated"] == 1, again.summary
    assert users[rows[7]["id"]]["id"] == journal.get_row(8).clerk_user_id
    assert {u["external_id"]: u for u in server.users(prod_key)}[rows[7]["id"]]["email_addresses"][0][
        "email_address"] == "repaired8@example.test"
    journal.close()


def test_updates_of_one_user_stay_under_its_own_limit(tmp_path: Path, sandbox_factory, prod_key):
    """Clerk limits the updates of one user (about 10 per 10 s): a sandbox that allows 2 per
    second per user, and rows that need 3 writes each (PATCH, add an address, delete the
    old one): the sync spaces them and meets no 429."""
    server = sandbox_factory(**{**FAST, "user_update_limit": 2, "user_update_window_s": 1.0})
    rows = first_rows(20)
    journal = seed_import(tmp_path / "run", write(tmp_path / "t0.json", rows), server, prod_key)
    second = [dict(r) for r in rows]
    for i in (1, 3, 5):  # odd rows carry a password: on a first sync, a PATCH with the digest too
        second[i - 1]["email"] = f"again{i}@example.test"
        second[i - 1]["name"] = f"Again{i} Person"
    result = _sync(journal, server, prod_key, write(tmp_path / "t1.json", second), user_limit=2, user_window_s=1.0)
    assert result.exit_code == 0 and result.summary["updated"] == 3, result.summary
    stats = server.stats(prod_key)
    assert stats.get("user_rate_limited", 0) == 0 and stats.get("rate_limited", 0) == 0, stats
    items = sync_items(journal, 1, kind="changed", limit=10)
    assert all(i.requests == 3 for i in items), [(i.external_id, i.requests) for i in items]
    assert_holds(server.users(prod_key), second)
    journal.close()
