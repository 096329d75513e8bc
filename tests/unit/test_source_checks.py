"""The issue catalogue: every code, its severity, its row, its message."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from console.sandbox.samples import plan_problems, write_sample_export
from console.source import Policies, email_is_valid, open_export, validate_export
from console.source.checks import ERROR_CODES, NAME_MAX_LENGTH, WARNING_CODES
from console.source.shapes import DateNormaliser

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
OK = {"id": "c1", "name": "Ada Lovelace", "email": "ada@example.com",
      "emailVerified": "2024-01-01T00:00:00.000Z"}


def check(tmp_path, *rows, policies=Policies(), mapping=None):
    path = tmp_path / "u.json"
    path.write_text(json.dumps(list(rows)))
    reader = open_export(path, mapping=mapping)
    return list(reader.rows(policies)), reader


def one(tmp_path, row, **kw):
    (checked,), _ = check(tmp_path, row, **kw)
    return checked


def codes(checked):
    return [(i.code, i.severity) for i in checked.issues]


def test_a_clean_row_has_no_issue(tmp_path):
    c = one(tmp_path, OK)
    assert c.importable and c.issues == []


def test_issue_fields(tmp_path):
    c = one(tmp_path, dict(OK, email="not-an-email"))
    (issue,) = c.issues
    assert (issue.row, issue.external_id, issue.field, issue.code, issue.severity) == (
        1, "c1", "email", "email_invalid", "error")
    assert '"not-an-email"' in issue.message
    assert set(issue.as_dict()) == {"row", "external_id", "code", "field", "severity", "message"}


@pytest.mark.parametrize("value", [None, "", "   ", True, {"a": 1}, [1]])
def test_missing_id(tmp_path, value):
    c = one(tmp_path, dict(OK, id=value))
    assert codes(c) == [("missing_id", "error")]
    assert c.issues[0].external_id is None


def test_numeric_ids_become_strings(tmp_path):
    assert one(tmp_path, dict(OK, id=42)).user.external_id == "42"
    assert one(tmp_path, dict(OK, id=42.0)).user.external_id == "42"
    assert one(tmp_path, dict(OK, id=" c9 ")).user.external_id == "c9"


def test_duplicate_id_names_the_first_row(tmp_path):
    rows, _ = check(tmp_path, OK, dict(OK, email="b@example.com"), dict(OK, email="c@example.com"))
    assert rows[0].importable
    for c in rows[1:]:
        assert codes(c) == [("duplicate_id", "error")]
        assert "row 1" in c.issues[0].message


def test_duplicate_email_is_case_insensitive_and_first_wins(tmp_path):
    rows, _ = check(tmp_path, OK, dict(OK, id="c2", email="ADA@Example.COM"),
                    dict(OK, id="c3", email="  ada@example.com "))
    assert rows[0].importable
    assert codes(rows[1]) == [("duplicate_email", "error")]
    assert "row 1" in rows[1].issues[0].message and "ADA@Example.COM" in rows[1].issues[0].message
    assert codes(rows[2]) == [("duplicate_email", "error")]


def test_a_refused_first_row_still_claims_its_email(tmp_path):
    rows, _ = check(tmp_path, dict(OK, id=None), dict(OK, id="c2"))
    assert codes(rows[0]) == [("missing_id", "error")]
    assert codes(rows[1]) == [("duplicate_email", "error")]


@pytest.mark.parametrize("email", [None, "", "  "])
def test_missing_identifier(tmp_path, email):
    c = one(tmp_path, dict(OK, email=email))
    assert codes(c) == [("missing_identifier", "error")]


@pytest.mark.parametrize(
    "email",
    ["plain", "a@", "@b.com", "a@@b.com", "a@b", "a@localhost", "a b@c.com", "a@b.com.", "a@b.c",
     ".a@b.com", "a.@b.com", "a..b@c.com", "a@-b.com", "a@b-.com", "mailto:a@b.com", "a@b.com,",
     "josé@example.com", "a@exa mple.com", "a@b..com", "x" * 65 + "@b.com", "a@" + "b" * 250 + ".com",
     "a@b.xn--p1ai"],
)
def test_email_invalid(tmp_path, email):
    c = one(tmp_path, dict(OK, email=email))
    assert codes(c) == [("email_invalid", "error")]
    assert not email_is_valid(email)


@pytest.mark.parametrize(
    "email", ["a@b.co", "first.last+tag@sub.example.org", "O'Brien@example.ie", "x_y-z@a-b.io",
              "UPPER@EXAMPLE.COM", "a!#$%&'*+/=?^_`{|}~-@example.com"]
)
def test_email_valid(tmp_path, email):
    assert email_is_valid(email)
    assert one(tmp_path, dict(OK, email=email)).importable


def test_email_of_wrong_type(tmp_path):
    c = one(tmp_path, dict(OK, email=["a@b.com"]))
    assert codes(c) == [("email_invalid", "error")]


# ---- passwords -----------------------------------------------------------

def test_bcrypt_digest_detected(tmp_path):
    c = one(tmp_path, dict(OK, password=BCRYPT))
    assert c.importable and (c.user.password_digest, c.user.password_hasher) == (BCRYPT, "bcrypt")


def test_explicit_hasher_column_wins(tmp_path):
    digest = "5f4dcc3b5aa765d61d8327deb882cf99"
    c = one(tmp_path, dict(OK, password=digest, passwordHasher="MD5"))
    assert c.user.password_hasher == "md5"
    c = one(tmp_path, dict(OK, password="pbkdf2_sha256$10000$abcdef$bG9uZ2hhc2g=",
                           passwordHasher="pbkdf2_sha256"))
    assert c.importable and c.user.password_hasher == "pbkdf2_sha256"  # detection would say django


def test_hasher_unknown_explicit(tmp_path):
    c = one(tmp_path, dict(OK, password=BCRYPT, passwordHasher="whirlpool"))
    assert codes(c) == [("hasher_unknown", "error")]
    assert c.issues[0].field == "password_hasher" and "whirlpool" in c.issues[0].message


def test_hasher_unknown_detected(tmp_path):
    c = one(tmp_path, dict(OK, password="$6$rounds=5000$saltsalt$" + "h" * 86))
    assert codes(c) == [("hasher_unknown", "error")]
    assert "'$6$…'" in c.issues[0].message and "h" * 10 not in c.issues[0].message


def test_digest_invalid_for_its_hasher(tmp_path):
    c = one(tmp_path, dict(OK, password="$2b$10$thisisnotavalidbcryptdigest", passwordHasher="bcrypt"))
    assert codes(c) == [("digest_invalid", "error")]
    c = one(tmp_path, dict(OK, password=12345))
    assert codes(c) == [("digest_invalid", "error")]


def test_malformed_bcrypt_without_hasher_column_is_refused(tmp_path):
    c = one(tmp_path, dict(OK, password="$2b$10$thisisnotavalidbcryptdigest"))
    assert not c.importable and c.issues[0].code == "hasher_unknown"


def test_plaintext_refused_by_default(tmp_path):
    c = one(tmp_path, dict(OK, password="Summer2023!"))
    assert codes(c) == [("plaintext_password", "error")]
    assert c.user.password is None
    assert "Summer2023!" not in c.issues[0].message


def test_plaintext_sent_with_policy_send(tmp_path):
    c = one(tmp_path, dict(OK, password="Summer2023!"), policies=Policies(plaintext_password="send"))
    assert codes(c) == [("plaintext_password", "warning")]
    assert c.importable and c.user.password == "Summer2023!"


def test_short_plaintext_refused_even_with_send(tmp_path):
    c = one(tmp_path, dict(OK, password="hunter2"), policies=Policies(plaintext_password="send"))
    assert codes(c) == [("plaintext_password", "error")]
    assert "shorter than 8" in c.issues[0].message


def test_long_plaintext_refused_even_with_send(tmp_path):
    c = one(tmp_path, dict(OK, password="x" * 80, passwordHasher="plaintext"),
            policies=Policies(plaintext_password="send"))
    assert codes(c) == [("plaintext_password", "error")] and "longer than 72 bytes" in c.issues[0].message
    c = one(tmp_path, dict(OK, password="é" * 40, passwordHasher="plaintext"),
            policies=Policies(plaintext_password="send"))
    assert codes(c) == [("plaintext_password", "error")]


def test_hasher_column_saying_plaintext(tmp_path):
    c = one(tmp_path, dict(OK, password="long enough pw", passwordHasher="plaintext"),
            policies=Policies(plaintext_password="send"))
    assert c.user.password == "long enough pw"


def test_empty_password_is_no_password(tmp_path):
    c = one(tmp_path, dict(OK, password=""))
    assert c.importable and c.user.password_digest is None and c.user.password is None


# ---- email verification ----------------------------------------------------

@pytest.mark.parametrize("value", [None, False, "false", "0", ""])
def test_default_policy_reserves_an_unproved_address(tmp_path, value):
    c = one(tmp_path, dict(OK, emailVerified=value))
    assert codes(c) == [("email_unverified", "warning")]
    assert "imported reserved" in c.issues[0].message and "no OAuth account" in c.issues[0].message
    assert c.user.email_status == "reserved"


def test_default_policy_verifies_an_oauth_users_address_without_an_issue(tmp_path):
    c = one(tmp_path, dict(OK, emailVerified=None, providers=["github"]))
    assert c.issues == [] and c.user.email_status == "verified_by_oauth"


def test_policy_verified_imports_unproved_addresses_verified_and_says_the_risk(tmp_path):
    c = one(tmp_path, dict(OK, emailVerified=None), policies=Policies(unverified_email="verified"))
    assert codes(c) == [("email_unverified", "warning")] and c.user.email_status == "verified_by_policy"
    assert "imported verified anyway" in c.issues[0].message and "take over" in c.issues[0].message
    c = one(tmp_path, dict(OK, emailVerified=None, providers=["google"]),
            policies=Policies(unverified_email="verified"))
    assert c.issues == [] and c.user.email_status == "verified_by_oauth"


def test_unverified_policy_reserved(tmp_path):
    c = one(tmp_path, dict(OK, emailVerified=None), policies=Policies(unverified_email="reserved"))
    assert codes(c) == [("email_unverified", "warning")] and "reserved" in c.issues[0].message
    c = one(tmp_path, dict(OK, emailVerified=None, providers=["github"]),
            policies=Policies(unverified_email="reserved"))  # OAuth users too
    assert codes(c) == [("email_unverified", "warning")] and c.user.email_status == "reserved"


def test_unverified_policy_refuse(tmp_path):
    c = one(tmp_path, dict(OK, emailVerified=None), policies=Policies(unverified_email="refuse"))
    assert codes(c) == [("email_unverified", "error")] and not c.importable


def test_unverified_oauth_users_are_counted_and_named(tmp_path, monkeypatch):
    rows = [dict(OK, id=f"c{i}", email=f"u{i}@example.com", emailVerified=None,
                 providers=["github"] if i % 2 else []) for i in range(10)]
    path = tmp_path / "u.json"
    path.write_text(json.dumps(rows))
    report = validate_export(path, policies=Policies(unverified_email="reserved"))
    assert (report.unverified, report.unverified_with_oauth) == (10, 5)
    oauth_msgs = [i.message for i in report.issues if i.code == "email_unverified" and "an OAuth user" in i.message]
    assert len(oauth_msgs) == 5
    report = validate_export(path)  # the default: the OAuth users are verified, without an issue
    assert (report.unverified, report.unverified_with_oauth) == (10, 5)
    assert [i.external_id for i in report.issues if i.code == "email_unverified"] == ["c0", "c2", "c4", "c6", "c8"]


def test_verified_values(tmp_path):
    for value in ("2024-01-01", "true", True, 1, "yes"):
        assert one(tmp_path, dict(OK, emailVerified=value)).user.email_verified is True


# ---- names -------------------------------------------------------------------

def test_name_split_on_first_whitespace(tmp_path):
    u = one(tmp_path, dict(OK, name="  Mary  Ann   Smith ")).user
    assert (u.first_name, u.last_name) == ("Mary", "Ann   Smith")
    u = one(tmp_path, dict(OK, name="Ada\tLovelace")).user
    assert (u.first_name, u.last_name) == ("Ada", "Lovelace")


def test_one_word_name_is_the_first_name(tmp_path):
    c = one(tmp_path, dict(OK, name="Madonna"))
    assert codes(c) == [("name_one_word", "warning")]
    assert (c.user.first_name, c.user.last_name) == ("Madonna", None)


@pytest.mark.parametrize("name", ["ada@example.com", "https://github.com/ada", "http://x.y", "www.ada.dev"])
def test_name_that_is_an_email_or_url_is_dropped(tmp_path, name):
    c = one(tmp_path, dict(OK, name=name))
    assert codes(c) == [("name_dropped", "warning")]
    assert c.user.first_name is None and c.user.last_name is None


def test_name_too_long_is_cut(tmp_path):
    c = one(tmp_path, dict(OK, name="A" * 300 + " " + "B" * 10))
    assert codes(c) == [("name_too_long", "warning")]
    assert len(c.user.first_name) == NAME_MAX_LENGTH and c.user.last_name == "B" * 10


def test_markup_in_a_name_is_kept_as_text(tmp_path):
    u = one(tmp_path, dict(OK, name="[bold]Mallory[/bold] Admin")).user
    assert u.first_name == "[bold]Mallory[/bold]"


def test_no_name(tmp_path):
    c = one(tmp_path, dict(OK, name=None))
    assert c.issues == [] and c.user.first_name is None


# ---- dates ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, expected",
    [
        ("2022-01-02T03:04:05.678Z", "2022-01-02T03:04:05.678Z"),
        ("2022-01-02T03:04:05Z", "2022-01-02T03:04:05.000Z"),
        ("2022-01-02T03:04:05.123456+02:00", "2022-01-02T01:04:05.123Z"),
        ("2022-01-02T03:04:05", "2022-01-02T03:04:05.000Z"),  # no zone: UTC
        ("2022-01-02 03:04:05", "2022-01-02T03:04:05.000Z"),
        ("2022-01-02", "2022-01-02T00:00:00.000Z"),
        (1641092645, "2022-01-02T03:04:05.000Z"),  # epoch seconds
        (1641092645678, "2022-01-02T03:04:05.678Z"),  # epoch milliseconds
        (1641092645.5, "2022-01-02T03:04:05.500Z"),
        ("1641092645", "2022-01-02T03:04:05.000Z"),
        ("1641092645678", "2022-01-02T03:04:05.678Z"),
    ],
)
def test_created_at_normalised(tmp_path, value, expected):
    assert DateNormaliser()(value) == expected
    c = one(tmp_path, dict(OK, createdAt=value))
    assert c.issues == [] and c.user.created_at == expected


@pytest.mark.parametrize("value", ["yesterday", "2022-13-45T00:00:00.000Z", "1960-01-01", "2999-01-01",
                                   True, {"a": 1}, "2022-02-30"])
def test_date_invalid_is_dropped_with_a_warning(tmp_path, value):
    c = one(tmp_path, dict(OK, createdAt=value))
    assert codes(c) == [("date_invalid", "warning")]
    assert c.importable and c.user.created_at is None


def test_dates_in_the_future_are_refused():
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    d = DateNormaliser(now)
    assert d("2024-01-01T12:00:00.000Z") == "2024-01-01T12:00:00.000Z"
    assert d("2024-01-03T00:00:00.000Z") is DateNormaliser.INVALID


# ---- metadata, usernames ---------------------------------------------------------

def test_metadata_objects_and_json_strings(tmp_path):
    c = one(tmp_path, dict(OK, publicMetadata={"plan": "pro"}, private_metadata='{"stripe": "cus_1"}'))
    assert c.importable
    assert c.user.public_metadata == {"plan": "pro"} and c.user.private_metadata == {"stripe": "cus_1"}


def test_metadata_invalid(tmp_path):
    c = one(tmp_path, dict(OK, publicMetadata="not json"))
    assert codes(c) == [("metadata_invalid", "error")]
    c = one(tmp_path, dict(OK, unsafeMetadata=[1, 2]))
    assert codes(c) == [("metadata_invalid", "error")]


def test_metadata_too_large(tmp_path):
    c = one(tmp_path, dict(OK, publicMetadata={"a": "x" * 5000}, privateMetadata={"b": "y" * 5000}))
    assert codes(c) == [("metadata_too_large", "error")]


@pytest.mark.parametrize("username", ["abc", "has space", "x" * 65, "ünï"])
def test_username_invalid(tmp_path, username):
    c = one(tmp_path, dict(OK, handle=username), mapping={"username": "handle"})
    assert codes(c) == [("username_invalid", "error")]


# ---- file-level notes --------------------------------------------------------------

def test_images_and_providers_are_one_row0_note_each(tmp_path):
    rows = [dict(OK, id=f"c{i}", email=f"u{i}@example.com", image=f"https://img/{i}.png",
                 providers=["github", "google"] if i % 3 == 0 else ["github"]) for i in range(9)]
    checked, reader = check(tmp_path, *rows)
    assert all(c.issues == [] for c in checked)
    notes = {i.code: i for i in reader.file_issues}
    assert set(notes) == {"image_not_imported", "oauth_not_imported"}
    assert notes["image_not_imported"].row == 0 and notes["image_not_imported"].message.startswith("9 rows")
    assert "github 9, google 3" in notes["oauth_not_imported"].message
    assert all(i.severity == "warning" for i in reader.file_issues)


def test_report_puts_row0_issues_first_and_counts_by_code(tmp_path):
    rows = [dict(OK, id="c1", role="x"), dict(OK, id="c1", email="b@example.com")]
    path = tmp_path / "u.json"
    path.write_text(json.dumps(rows))
    report = validate_export(path)
    assert [i.row for i in report.issues] == [0, 2]
    assert report.by_code == {("unknown_column", "warning"): 1, ("duplicate_id", "error"): 1}
    assert (report.rows, report.importable, report.refused, report.warned) == (2, 1, 1, 0)
    assert report.exit_code == 1


def _many(tmp_path, n):
    path = tmp_path / f"n{n}.json"
    path.write_text(json.dumps([dict(OK, id=f"c{i}", email=f"u{i}@example.com") for i in range(n)]))
    return path


def test_dev_instance_cap_blocker(tmp_path):
    report = validate_export(_many(tmp_path, 101), instance_kind="development")
    (blocker,) = report.blockers
    assert (blocker.row, blocker.code, blocker.severity) == (0, "dev_instance_cap", "error")
    assert report.issues[0] == blocker and "101 importable rows" in blocker.message
    assert report.exit_code == 1
    assert validate_export(_many(tmp_path, 101), instance_kind="production").blockers == []
    assert validate_export(_many(tmp_path, 101)).blockers == []
    assert validate_export(_many(tmp_path, 100), instance_kind="development").blockers == []


def test_catalogue_codes_are_documented():
    from console.source import checks

    for code in set(ERROR_CODES) | set(WARNING_CODES):
        assert f"| {code} |" in checks.__doc__


# ---- against the sample generator's own plan of problems ----------------------------

def test_sample_export_problems_are_all_found(tmp_path):
    n = 3000
    plan = plan_problems(n)
    path = write_sample_export(tmp_path / "s.json", n=n)
    by_row: dict[int, set[str]] = {}
    messages: dict[tuple[int, str], str] = {}
    for c in open_export(path).rows():
        for i in c.issues:
            by_row.setdefault(i.row, set()).add(i.code)
            messages[(i.row, i.code)] = i.message
    for row in plan.invalid_email:
        assert "email_invalid" in by_row[row], row
    for row, source in plan.duplicate_email_case.items():
        assert "duplicate_email" in by_row[row] and f"row {source}" in messages[(row, "duplicate_email")]
    for row, source in plan.duplicate_id.items():
        assert "duplicate_id" in by_row[row] and f"row {source}" in messages[(row, "duplicate_id")]
    for row in plan.missing_email:
        assert "missing_identifier" in by_row[row]
    for row in plan.one_word_name:
        assert "name_one_word" in by_row.get(row, set()) or "name_dropped" in by_row.get(row, set()), row
    for row in plan.name_is_email:
        if "email_invalid" not in by_row.get(row, set()):
            assert "name_dropped" in by_row[row], row
    for row in plan.plaintext_password:
        assert "plaintext_password" in by_row[row]
    for row in plan.bad_digest:
        assert by_row[row] & {"hasher_unknown", "digest_invalid"}


def test_deeply_nested_metadata_in_a_csv_cell_refuses_the_row(tmp_path):
    path = tmp_path / "deep.csv"
    deep = "[" * 5_000 + "]" * 5_000  # the decoder gives up at ~1,000 levels
    rows = [["id", "email", "emailVerified", "publicMetadata"],
            ["c1", "a@example.com", "true", '{"a":' + deep + "}"],
            ["c2", "b@example.com", "true", '{"a":' + "[" * 40 + "]" * 40 + "}"],
            ["c3", "c@example.com", "true", '{"a":' + "[" * 20 + "]" * 20 + "}"]]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    c1, c2, c3 = list(open_export(path).rows())
    assert codes(c1) == [("metadata_invalid", "error")] and "deeper than 32" in c1.issues[0].message
    assert codes(c2) == [("metadata_invalid", "error")]
    assert c3.importable


def test_rows_with_ever_changing_keys(tmp_path):
    rows = [dict(OK, id=f"c{i}", email=f"u{i}@example.com", **{f"k{i}": i}) for i in range(400)]
    checked, reader = check(tmp_path, *rows)
    assert all(c.importable for c in checked)
    notes = [i for i in reader.file_issues if i.code == "unknown_column"]
    assert len(notes) == 31
    assert notes[0].message == "column k0 is not imported: --map public_metadata.k0=k0 keeps it"
    assert notes[-1].message.startswith("370 more columns are not imported")
