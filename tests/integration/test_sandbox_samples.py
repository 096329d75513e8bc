"""The sample Auth.js export: shape, determinism, formats and its mix of problems."""

from __future__ import annotations

import collections
import csv
import json
import re
from pathlib import Path

import pytest

from console.sandbox.samples import COLUMNS, iter_sample_rows, plan_problems, write_sample_export
from console.sandbox.validation import EMAIL_RE

BCRYPT_RE = re.compile(r"^\$2b\$10\$[./A-Za-z0-9]{53}$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return list(iter_sample_rows(3000, 1))


def test_prisma_shape(rows):
    for row in rows:
        assert set(row) - {"password"} == set(COLUMNS) - {"password"}
        assert isinstance(row["id"], str) and row["id"].startswith("c") and len(row["id"]) == 25
        assert ISO_RE.match(row["createdAt"])
        assert row["emailVerified"] is None or ISO_RE.match(row["emailVerified"])
        assert isinstance(row["providers"], list)
        assert set(row["providers"]) <= {"github", "google"}


def test_realistic_shares(rows):
    n = len(rows)
    with_digest = sum(bool(BCRYPT_RE.match(r.get("password") or "")) for r in rows)
    assert 0.55 < with_digest / n < 0.65
    unverified = [r for r in rows if r["emailVerified"] is None]
    assert 0.25 < len(unverified) / n < 0.35
    assert sum(bool(r["providers"]) for r in unverified) / len(unverified) > 0.7  # mostly OAuth users
    oauth_only = [r for r in rows if r["providers"] and "password" not in r]
    assert oauth_only and all(r["image"] for r in oauth_only)


def test_the_planned_problems_are_there(rows):
    plan = plan_problems(3000, 1)
    at = lambda i: rows[i - 1]  # noqa: E731 - rows are 1-based
    assert 25 <= len(plan.invalid_email) <= 35  # ~1%
    for i in plan.invalid_email:
        assert not EMAIL_RE.match(at(i)["email"]), at(i)["email"]
    for i, j in plan.duplicate_email_case.items():
        assert j < i and at(i)["email"] != at(j)["email"]
        assert at(i)["email"].lower() == at(j)["email"].lower()
    for i, j in plan.duplicate_id.items():
        assert j < i and at(i)["id"] == at(j)["id"]
    for i in plan.missing_email:
        assert not at(i)["email"]
    for i in plan.one_word_name:
        assert at(i)["name"] and " " not in at(i)["name"]
    for i in plan.name_is_email:
        assert at(i)["name"] == at(i)["email"]
    assert [at(i)["password"] for i in plan.plaintext_password] == ["hunter2", "Summer2023!"]
    [bad] = plan.bad_digest
    assert at(bad)["password"].startswith("$2b$") and not BCRYPT_RE.match(at(bad)["password"])
    [markup] = plan.markup_name
    assert "[bold]Mallory[/bold]" in at(markup)["name"]
    assert all(not at(i)["name"].isascii() for i in plan.unicode_name)

    # nothing else is wrong: other emails are valid and unique, other ids unique
    special = set(plan.invalid_email) | set(plan.missing_email) | set(plan.duplicate_email_case)
    emails = [r["email"].lower() for i, r in enumerate(rows, 1) if i not in special]
    assert all(EMAIL_RE.match(e) for e in emails)
    assert len(set(emails)) == len(emails)
    ids = collections.Counter(r["id"] for r in rows)
    assert sum(c - 1 for c in ids.values()) == len(plan.duplicate_id)


def test_deterministic_and_seed_dependent():
    assert list(iter_sample_rows(200, 5)) == list(iter_sample_rows(200, 5))
    assert list(iter_sample_rows(200, 5)) != list(iter_sample_rows(200, 6))


def test_small_files_are_clean():
    rows = list(iter_sample_rows(10, 1))
    assert all(EMAIL_RE.match(r["email"]) for r in rows)
    assert len({r["id"] for r in rows}) == 10


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_every_format_holds_the_same_rows(tmp_path: Path, fmt):
    path = write_sample_export(tmp_path / f"users.{fmt}", n=300, seed=2, fmt=fmt)
    assert path == tmp_path / f"users.{fmt}"
    expected = list(iter_sample_rows(300, 2))
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        got = json.loads(text)
    elif fmt == "ndjson":
        got = [json.loads(line) for line in text.splitlines()]
    else:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            assert tuple(reader.fieldnames or ()) == COLUMNS
            got = list(reader)
        expected = [
            {k: ("" if r.get(k) is None else ";".join(r[k]) if k == "providers" else str(r[k])) for k in COLUMNS}
            for r in expected
        ]
    assert got == expected


def test_empty_export(tmp_path: Path):
    assert json.loads(write_sample_export(tmp_path / "e.json", n=0).read_text()) == []


def test_bad_format(tmp_path: Path):
    with pytest.raises(ValueError):
        write_sample_export(tmp_path / "x", fmt="xml")  # type: ignore[arg-type]


def test_clean_rows_are_accepted_by_the_sandbox(sandbox, tmp_path):
    """Rows without a planned problem, mapped the obvious way, import cleanly."""
    import httpx

    from console.sandbox import make_key

    plan = plan_problems(400, 3)
    bad = set(plan.invalid_email) | set(plan.missing_email) | set(plan.duplicate_email_case) \
        | set(plan.duplicate_id) | set(plan.plaintext_password) | set(plan.bad_digest)
    key = make_key("production", "samples")
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"}) as c:
        sent = 0
        for i, row in enumerate(iter_sample_rows(400, 3), 1):
            if i in bad or i % 4:  # a quarter of the clean rows is enough
                continue
            first, _, last = (row["name"] or "").partition(" ")
            payload = {"external_id": row["id"], "email_address": [row["email"]],
                       "first_name": first or None, "last_name": last or None,
                       "created_at": row["createdAt"]}
            if row.get("password"):
                payload |= {"password_digest": row["password"], "password_hasher": "bcrypt"}
            else:
                payload["skip_password_requirement"] = True
            r = c.post("/v1/users", json=payload)
            assert r.status_code == 200, (i, r.text)
            sent += 1
    assert len(sandbox.users(key)) == sent > 50
