"""verify over real HTTP against the sandbox, on runs made by the real importer."""

from __future__ import annotations

import asyncio
import json
import math
import os
import stat
import threading
from pathlib import Path


from console.migration.journal import RunJournal
from console.migration.verify import verify_run
from console.sandbox import make_key
from console.source.model import Policies

from tests.integration.test_verify_helpers import (
    api,
    cli,
    cli_env,
    ext_id,
    make_newer,
    make_run,
    settings_for,
)

CONTRACT = {"checked", "matched", "mismatched", "missing", "clerk_total"}


def _verify(run_dir: Path, server, key: str, **kw):
    journal = RunJournal.open(run_dir)
    try:
        return asyncio.run(verify_run(journal, settings_for(server.url, key), **kw))
    finally:
        journal.close()


def test_all_match_cli_json(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=230, bad={4, 9}, unverified={5, 6})
    before = sandbox.stats(prod_key).get("requests", 0)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "verify", "--run", str(run_dir), "--all", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert CONTRACT <= set(report)
    assert report["checked"] == report["matched"] == 228
    assert report["mismatched"] == [] and report["missing"] == []
    assert report["clerk_total"] == report["expected_total"] == 228
    assert report["sample"] is None and report["seed"] is None and report["mode"] == "all"
    # the instance check (GET /v1/instance), 3 reads of 100 ids, 1 count, nothing else
    assert report["requests"] == 1 + math.ceil(228 / 100) + 1
    assert sandbox.stats(prod_key)["requests"] - before == report["requests"]
    assert "verify:" in err and "228/228 checked" in err  # progress on stderr
    # stored in the run folder
    saved = json.loads((run_dir / "verify.json").read_text())
    assert saved["checked"] == 228 and saved["exit_code"] == 0
    assert stat.S_IMODE(os.stat(run_dir / "verify.json").st_mode) == 0o600
    blob = b"".join(f.read_bytes() for f in run_dir.iterdir() if f.is_file())
    assert prod_key.encode() not in blob and prod_key[8:].encode() not in blob  # never the key
    journal = RunJournal.open(run_dir)
    try:
        runs = journal.connection.execute("SELECT mode, checked, matched, complete, exit_code FROM verify_runs").fetchall()
        assert runs == [("all", 228, 228, 1, 0)]
        assert journal.get_meta("verify_last")["matched"] == 228
    finally:
        journal.close()


def test_reserved_policy_and_a_fix_are_what_verify_expects(tmp_path: Path, sandbox, prod_key):
    run_dir, _ = make_run(
        tmp_path, sandbox, prod_key, n=12, unverified={2, 3},
        policies=Policies(unverified_email="reserved"),
        fixes={7: {"email": "fixed7@example.test", "first_name": "Fixed"}},
    )
    users = {u["external_id"]: u for u in sandbox.users(prod_key)}
    assert users[ext_id(7)]["email_addresses"][0]["email_address"] == "fixed7@example.test"
    assert users[ext_id(2)]["email_addresses"][0]["verification"]["status"] != "verified"
    report = _verify(run_dir, sandbox, prod_key, sample=None)
    assert report.exit_code == 0, report.mismatched
    assert report.checked == report.matched == 12


def test_catches_users_changed_and_deleted_behind_its_back(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=40)
    users = {u["external_id"]: u for u in sandbox.users(prod_key)}
    changed, deleted, recreated = users[ext_id(3)], users[ext_id(8)], users[ext_id(11)]
    assert api(sandbox, prod_key, "PATCH", f"/users/{changed['id']}", json={"first_name": "Mallory"}).status_code == 200
    assert api(sandbox, prod_key, "DELETE", f"/users/{deleted['id']}").status_code == 200
    # deleted, and someone created another user with the same external id
    assert api(sandbox, prod_key, "DELETE", f"/users/{recreated['id']}").status_code == 200
    again = api(sandbox, prod_key, "POST", "/users", json={"external_id": ext_id(11), "skip_password_requirement": True,
                                                           "email_address": ["other11@example.test"]}).json()
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "verify", "--run", str(run_dir), "--all", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["checked"] == 40 and report["matched"] == 37
    assert report["mismatched"] == [{
        "row": 3, "external_id": ext_id(3), "clerk_user_id": changed["id"], "status": "created",
        "field": "first_name", "expected": "First3", "found": "Mallory",
    }]
    missing = {m["row"]: m for m in report["missing"]}
    assert set(missing) == {8, 11}
    assert missing[8]["clerk_user_id"] == deleted["id"] and missing[8]["held_by"] is None
    assert missing[11]["held_by"] == again["id"]
    assert report["clerk_total"] == 39 and report["expected_total"] == 40
    # the human output names them too
    code, out, err = cli(capsys, "verify", "--run", str(run_dir), "--all")
    assert code == 1
    assert "row 3" in out and "first_name" in out and "'Mallory'" in out
    assert f"missing   row 8 ({ext_id(8)})" in out and again["id"] in out
    # every result is stored
    journal = RunJournal.open(run_dir)
    try:
        kinds = journal.connection.execute(
            "SELECT kind, row_no, field FROM verify_results WHERE verify_id = (SELECT MAX(id) FROM verify_runs)"
            " ORDER BY row_no").fetchall()
        assert kinds == [("mismatch", 3, "first_name"), ("missing", 8, None), ("missing", 11, None)]
    finally:
        journal.close()


def test_every_compared_field(tmp_path: Path, sandbox, prod_key):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=6)
    users = {u["external_id"]: u for u in sandbox.users(prod_key)}
    api(sandbox, prod_key, "PATCH", f"/users/{users[ext_id(1)]['id']}", json={"last_name": "Changed"})
    api(sandbox, prod_key, "PATCH", f"/users/{users[ext_id(2)]['id']}", json={"external_id": "someone-else"})
    api(sandbox, prod_key, "PATCH", f"/users/{users[ext_id(4)]['id']}", json={"first_name": None})
    # change what the sandbox holds directly where its PATCH cannot
    with sandbox.app.store.lock:
        inst = sandbox.app.store.peek(prod_key)
        u3 = inst.users[users[ext_id(3)]["id"]]
        u3["password_enabled"] = False  # row 3 was sent with a digest
        u3["email_addresses"][0]["verification"]["status"] = "unverified"
        u5 = inst.users[users[ext_id(5)]["id"]]
        u5["created_at"] += 5000
        u5["email_addresses"][0]["email_address"] = "moved5@example.test"
    report = _verify(run_dir, sandbox, prod_key, sample=None)
    got = {(m["row"], m["field"]): (m["expected"], m["found"]) for m in report.mismatched}
    assert got[(1, "last_name")] == ("Last1", "Changed")
    assert got[(2, "external_id")] == (ext_id(2), "someone-else")
    assert got[(3, "password")] == ("set", "not set")
    assert got[(3, "email_verified")][0] == "verified" and got[(3, "email_verified")][1].startswith("unverified")
    assert got[(4, "first_name")] == ("First4", None)
    assert got[(5, "email")] == ("user5@example.test", "moved5@example.test")
    assert got[(5, "created_at")][0] == "2022-05-06T07:08:05.005Z"
    assert report.matched == 1 and report.mismatched_users == 5 and report.exit_code == 1


def test_sample_is_seeded_and_includes_every_existed_row(tmp_path: Path, sandbox, prod_key):
    # rows 2 and 5 are already in Clerk (same external id) before the import: existed
    for i in (2, 5):
        sandbox.seed_user(prod_key, {"external_id": ext_id(i), "email_address": [f"user{i}@example.test"],
                                     "first_name": f"First{i}", "last_name": f"Last{i}",
                                     "skip_password_requirement": True})
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=80)
    journal = RunJournal.open(run_dir)
    assert journal.counts()["existed"] == 2 and journal.counts()["created"] == 78
    journal.close()
    # rename everyone behind the tool's back: every checked row is then listed
    for u in sandbox.users(prod_key):
        api(sandbox, prod_key, "PATCH", f"/users/{u['id']}", json={"first_name": "X"})

    def rows_of(report):
        return sorted({m["row"] for m in report.mismatched})

    a = _verify(run_dir, sandbox, prod_key, sample=10, seed=42)
    b = _verify(run_dir, sandbox, prod_key, sample=10, seed=42)
    c = _verify(run_dir, sandbox, prod_key, sample=10, seed=7)
    assert a.checked == 12 and a.seed == 42 and a.sample == 10 and a.existed_checked == 2
    assert rows_of(a) == rows_of(b) and len(rows_of(a)) == 12
    assert {2, 5} <= set(rows_of(a)) and {2, 5} <= set(rows_of(c))
    assert rows_of(a) != rows_of(c)
    assert a.requests == 3  # 12 users = the instance check + 1 read + the count
    everything = _verify(run_dir, sandbox, prod_key, sample=None)
    assert everything.checked == 80 and len(rows_of(everything)) == 80
    # a sample larger than the run checks every row once; the default seed is random but reported
    big = _verify(run_dir, sandbox, prod_key, sample=1000)
    assert big.checked == 80 and isinstance(big.seed, int)


def test_cli_sample_prints_seed_and_clerk_total_short_fails(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, _ = make_run(tmp_path, sandbox, prod_key, n=30)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    code, out, err = cli(capsys, "verify", "--run", str(run_dir), "--sample", "5", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["checked"] == 5 and report["sample"] == 5
    assert f"seed {report['seed']}" in err
    # delete a user the sample may not see: Clerk's total alone shows it
    victim = next(u for u in sandbox.users(prod_key))
    api(sandbox, prod_key, "DELETE", f"/users/{victim['id']}")
    code, out, err = cli(capsys, "verify", "--run", str(run_dir), "--sample", "0", "--json")
    report = json.loads(out)
    assert code == 1 and report["checked"] == 0 and report["clerk_total"] == 29 and report["expected_total"] == 30
    assert "fewer than" in err


def test_refusals(tmp_path: Path, sandbox, prod_key, monkeypatch, capsys):
    run_dir, export = make_run(tmp_path, sandbox, prod_key, n=5)
    cli_env(monkeypatch, tmp_path, sandbox, prod_key)
    # not a run folder
    (tmp_path / "empty").mkdir()
    code, out, err = cli(capsys, "verify", "--run", str(tmp_path / "empty"))
    assert code == 2 and "not a run folder" in err and len(err.strip().splitlines()) == 1 and out == ""
    code, _, err = cli(capsys, "verify", "--run", str(tmp_path / "nowhere"))
    assert code == 2 and "no such run folder" in err
    # a journal from a newer version
    newer = make_newer(run_dir, tmp_path / "newer")
    code, _, err = cli(capsys, "verify", "--run", str(newer))
    assert code == 2 and "newer" in err and "Traceback" not in err
    # another instance's key: refused once Clerk says which instance it is (GET /v1/instance), nothing read
    other = make_key("production", "other")
    monkeypatch.setenv("CLERK_SECRET_KEY", other)
    code, _, err = cli(capsys, "verify", "--run", str(run_dir), "--all")
    assert code == 2 and "another instance" in err and other not in err
    assert sandbox.stats(other)["requests"] == 1
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    # --sample and --all together: a usage error
    code, _, err = cli(capsys, "verify", "--run", str(run_dir), "--all", "--sample", "3")
    assert code == 2
    # the export changed since the import
    export.write_text(export.read_text().replace("First2", "Other2"))
    code, _, err = cli(capsys, "verify", "--run", str(run_dir), "--all")
    assert code == 2 and "changed" in err and len(err.strip().splitlines()) == 1


def test_stop_gives_an_incomplete_report(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=20)
    run_dir, _ = make_run(tmp_path, server, prod_key, n=250)
    stop = threading.Event()

    def on_progress(p):
        if p.checked >= 100:
            stop.set()

    report = _verify(run_dir, server, prod_key, sample=None, stop=stop, on_progress=on_progress,
                     progress_interval_s=0.0, concurrency=1)
    assert not report.complete and report.exit_code == 130
    assert 100 <= report.checked < 250 and report.clerk_total is None
