"""The feed (console/migration/feed.py): the one place an export row becomes a create body,
read by the importer, verify, the sync, the console's Failures detail and the load's refusal
rule. Real files, a real journal; no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.migration.feed import ExportFeed, FeedChanged, RunSource, Wanted, build_body, sent_body, verdict
from console.migration.journal import RunJournal
from console.migration.preflight import BodyRules, Tally
from console.migration.run import prepare_run
from console.sandbox import make_key
from console.settings import SecretKey, Settings
from console.source import open_export
from console.source.model import Policies

from tests.integration.engine_support import bcrypt_digest, write_export

SETTINGS = Settings(SecretKey(make_key("production", "feed")), "env", "http://127.0.0.1:9", False)


def _run(tmp_path: Path, rows: list[dict] | None = None, **kw) -> tuple[Path, Path]:
    export = tmp_path / "users.json"
    if rows is None:
        write_export(export, 12, bad={5})
    else:
        export.write_text(json.dumps(rows))
    prepare_run(tmp_path / "run", export, SETTINGS, confirmed_production=True, **kw).close()
    return tmp_path / "run", export


def test_sent_body_is_the_importers_body_with_the_fix_and_secrets_masked(tmp_path: Path):
    run, _ = _run(tmp_path)
    with RunJournal.open(run) as j:
        j.record([("failed", 3, "form_identifier_exists", "email_address", "taken")])
        j.set_fix(3, {"email": "fixed3@example.test", "first_name": "Ada"})
        source = RunSource.of(j)
        feed = ExportFeed(source)
        (row,) = feed.take([j.get_row(3)])
        feed.close()
    body = sent_body(run, 3)
    assert body["email_address"] == ["fixed3@example.test"] and body["first_name"] == "Ada"
    assert body["password_digest"].startswith("•••• (bcrypt") and bcrypt_digest(3) not in json.dumps(body)
    # the same body the importer sends, less the run marker and with the digest masked
    sent = {k: v for k, v in row.body.items() if k != "private_metadata"}
    assert {k: v for k, v in body.items() if k != "password_digest"} == {k: v for k, v in sent.items()
                                                                        if k != "password_digest"}
    assert row.body["private_metadata"]["clerk_migrate"]["run"]  # the importer's carries the marker
    assert sent_body(run, 999) is None


def test_a_body_the_rules_or_the_fix_refuse_is_not_sent_and_says_why(tmp_path: Path):
    run, _ = _run(tmp_path)
    with RunJournal.open(run) as j:
        source = RunSource.of(j)
        user = next(c.user for c in open_export(source.export_path).rows(source.policies) if c.user.row == 2)
        # a rule of the instance's settings: usernames required, this row has none
        strict = RunSource(**{**source.__dict__, "rules": BodyRules(checked=True, required=("username",))})
        body, problem = build_body(user, strict)
        assert body is not None and problem[0] == "username_required"
        # a fix that makes no valid body: the field and what is wrong, never a value
        body, problem = build_body(user, source, fix={"first_name": 987654321})
        assert body is None and problem[0] == "payload_invalid" and "first_name" in problem[1]
        assert "987654321" not in problem[1] and bcrypt_digest(2) not in problem[1]
        body, problem = build_body(user, source, fix={"no_such_field": "x"})
        assert body is None and problem[0] == "payload_invalid"


def test_a_page_names_every_row_changed_in_place(tmp_path: Path):
    run, export = _run(tmp_path)
    rows = json.loads(export.read_text())
    rows[2]["name"] = "Someone Else"
    rows[7]["name"] = "Another One"
    export.write_text(json.dumps(rows))
    with RunJournal.open(run) as j:
        feed = ExportFeed(RunSource.of(j))
        with pytest.raises(FeedChanged) as info:
            feed.take(j.rows(status="pending", limit=100))
        feed.close()
    assert info.value.rows == [3, 8] and info.value.code == "export_changed"
    assert "row(s) 3 (ck000003), 8 (ck000008)" in info.value.message


def test_a_rewinding_feed_reads_rows_asked_out_of_order(tmp_path: Path):
    run, _ = _run(tmp_path)
    with RunJournal.open(run) as j:
        recs = {r.row_no: r for r in j.iter_rows()}
        feed = ExportFeed(RunSource.of(j), rewind=True)
        later = feed.users([Wanted(9, recs[9].external_id, recs[9].fingerprint)])
        earlier = feed.users([Wanted(2, recs[2].external_id, recs[2].fingerprint, {"first_name": "Z"})])
        feed.close()
    assert later[0][1].row == 9 and earlier[0][1].row == 2


def test_the_loads_refusals_are_the_feeds_verdict(tmp_path: Path):
    """The journal's refusal codes (the load) are what feed.verdict says of each row, the rule
    the sync's plan applies to a later export."""
    rows = json.loads(write_export(tmp_path / "base.json", 8, bad={2}).read_text())
    rows[4]["private_metadata"] = {"clerk_migrate": "mine"}  # the marker's key taken: metadata_invalid
    run, export = _run(tmp_path, rows)
    with RunJournal.open(run) as j:
        journal_rows = {r.row_no: (r.status, r.refusal_codes) for r in j.iter_rows()}
        run_id = j.info.run_id
        policies = Policies(**j.info.policies)
    tally = Tally(None, policies.plaintext_password)
    for checked in open_export(export).rows(policies):
        ok, codes, _warnings, _message = verdict(checked, run_id, tally.add(checked))
        assert journal_rows[checked.user.row] == ("pending" if ok else "refused", codes), checked.user.row
    assert journal_rows[5] == ("refused", ("metadata_invalid",)) and journal_rows[2][0] == "refused"
