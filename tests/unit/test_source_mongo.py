"""MongoDB adapter exports read natively: `mongoexport` output (one document a
line or `--jsonArray`, relaxed or canonical Extended JSON) with an accounts
file beside it. The fixtures in tests/data/mongo/ are the adapter's documents as
mongoexport prints them (their README names the sources)."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

import httpx
import pytest

from console.cli import main
from console.sandbox.server import make_key
from console.source import ExportError, Policies, open_accounts, open_export, to_payload, validate_export

MONGO = Path(__file__).resolve().parents[1] / "data" / "mongo"
USERS = sorted(MONGO.glob("users.*"))
ACCOUNTS = sorted(MONGO.glob("accounts.*"))
OID = "65e6f1a2c4b1d2e3f4a5b6"


def test_the_fixtures_are_all_here():
    assert [p.name for p in USERS] == ["users.canonical.array.json", "users.canonical.ndjson",
                                       "users.relaxed.array.json", "users.relaxed.ndjson"]
    assert len(ACCOUNTS) == 4


@pytest.mark.parametrize("path", USERS, ids=lambda p: p.name)
def test_every_mongoexport_mode_reads_the_same_users(path):
    reader = open_export(path)
    assert reader.shape == "mongodb"
    assert reader.format == ("json" if path.name.endswith(".array.json") else "ndjson")
    rows = list(reader.rows())
    users = [c.user for c in rows]
    assert [u.external_id for u in users] == [f"{OID}{n:02d}" for n in range(1, 8)]  # _id's hex
    assert [u.email_verified for u in users] == [None, True, None, None, True, None, None]
    linus = users[2]
    assert (linus.password_hasher, linus.created_at) == ("bcrypt", "2024-02-01T08:00:00.000Z")
    assert (users[6].first_name, users[6].last_name) == ("José", "Álvarez")
    assert all(c.importable for c in rows)
    # role and loginCount are the app's own columns: named, with the flag that keeps them
    notes = {i.field: i.message for i in reader.file_issues if i.code == "unknown_column"}
    assert notes == {
        "role": "column role is not imported: --map public_metadata.role=role keeps it",
        "loginCount": "column loginCount is not imported: --map public_metadata.loginCount=loginCount keeps it",
    }


def test_canonical_and_relaxed_values_are_the_same_after_reading():
    def mapped(path):
        reader = open_export(path, mapping={"public_metadata.role": "role", "public_metadata.logins": "loginCount"})
        return [c.user for c in reader.rows()]

    relaxed = mapped(MONGO / "users.relaxed.ndjson")
    canonical = mapped(MONGO / "users.canonical.array.json")
    assert relaxed == canonical
    assert relaxed[2].public_metadata == {"role": "admin", "logins": 3}  # {"$numberInt": "3"} -> 3


@pytest.mark.parametrize("accounts", ACCOUNTS, ids=lambda p: p.name)
def test_accounts_join_providers_and_decide_the_verification(accounts):
    report = validate_export(MONGO / "users.relaxed.array.json", accounts=accounts)
    assert (report.rows, report.importable, report.refused) == (7, 7, 0)
    # Grace and Alan by date; Ada, Margaret, José by their OAuth account; Linus
    # (Credentials) and Katherine (a passkey proves no address) reserved
    assert {k: v for k, v in report.email_verification.items()} == {
        "verified_by_date": 2, "verified_by_oauth": 3, "verified_by_policy": 0, "reserved": 2, "refused": 0}
    reserved = sorted(i.external_id for i in report.issues if i.code == "email_unverified")
    assert reserved == [f"{OID}03", f"{OID}06"]
    assert report.accounts["rows"] == 6 and report.accounts["users"] == 5 and report.accounts["not_oauth"] == 1
    (unmatched,) = [i for i in report.issues if i.code == "accounts_unmatched"]
    assert unmatched.message.startswith("1 user id of the accounts file")
    (oauth,) = [i for i in report.issues if i.code == "oauth_not_imported"]
    assert "github 2, google 2" in oauth.message


def test_without_the_accounts_file_oauth_users_are_reserved():
    report = validate_export(MONGO / "users.relaxed.ndjson")
    assert report.email_verification["verified_by_oauth"] == 0 and report.email_verification["reserved"] == 5


def test_the_bodies_carry_providers_verification_and_no_token():
    reader = open_export(MONGO / "users.canonical.ndjson", accounts=MONGO / "accounts.canonical.ndjson")
    bodies = {c.user.external_id: to_payload(c.user, Policies()) for c in reader.rows()}
    assert "email_address_identification_status" not in bodies[f"{OID}01"]  # Ada: GitHub
    assert bodies[f"{OID}03"]["email_address_identification_status"] == ["reserved"]  # Linus
    assert bodies[f"{OID}03"]["password_hasher"] == "bcrypt"
    tokens = _token_values(MONGO / "accounts.canonical.ndjson")
    assert tokens and not any(t in json.dumps(bodies) for t in tokens)


def _token_values(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        out += [v for k, v in doc.items() if k in ("access_token", "id_token", "refresh_token")]
    return out


def test_tokens_are_never_kept_or_written(tmp_path, capsys):
    accounts = MONGO / "accounts.relaxed.ndjson"
    tokens = _token_values(accounts)
    index = open_accounts(accounts)
    blob = pickle.dumps(index)
    assert not any(t.encode() in blob for t in tokens)
    report_csv = tmp_path / "r.csv"
    code = main(["validate", str(MONGO / "users.relaxed.ndjson"), "--accounts", str(accounts), "--json",
                 "--report", str(report_csv)])
    out, err = capsys.readouterr()
    assert code == 0
    written = out + err + report_csv.read_text()
    assert not any(t in written for t in tokens)
    obj = json.loads(out)
    assert obj["accounts"]["sha256"] == index.sha256 and len(index.sha256) == 64
    assert obj["email_verification"]["verified_by_oauth"] == 3


def test_the_reader_exposes_the_accounts_hash():
    accounts = MONGO / "accounts.relaxed.array.json"
    reader = open_export(MONGO / "users.relaxed.ndjson", accounts=accounts)
    import hashlib

    assert reader.accounts_sha256 == hashlib.sha256(accounts.read_bytes()).hexdigest()
    assert reader.accounts_path == accounts
    assert open_export(MONGO / "users.relaxed.ndjson").accounts_sha256 is None


def test_a_broken_mongoexport_line_is_one_line_exit_2(tmp_path, capsys):
    lines = (MONGO / "users.canonical.ndjson").read_bytes().splitlines(keepends=True)
    broken = lines[0] + lines[1] + lines[2][:60] + b"\n" + lines[3]
    path = tmp_path / "users.ndjson"
    path.write_bytes(broken)
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    offset = len(lines[0]) + len(lines[1])
    assert f"{path}: row 3, line 3, byte offset " in line and "invalid JSON" in line
    assert int(line.split("byte offset ")[1].split(":")[0]) >= offset


def test_a_broken_array_names_the_row_line_and_byte(tmp_path):
    text = (MONGO / "users.relaxed.array.json").read_text()
    cut = text.index('{"_id":{"$oid":"65e6f1a2c4b1d2e3f4a5b604"}')
    path = tmp_path / "users.json"
    path.write_text(text[:cut] + text[cut:].replace('"email":', '"email"', 1))
    with pytest.raises(ExportError, match=r"row 4, line 1, byte offset \d+: invalid JSON"):
        validate_export(path)


def test_mongoexport_csv_object_ids(tmp_path):
    # mongoexport --type=csv prints an ObjectId as ObjectId(<hex>)
    path = tmp_path / "users.csv"
    path.write_text("_id,name,email,emailVerified\n"
                    f"ObjectId({OID}01),Ada Lovelace,ada@example.com,\n"
                    f"ObjectId({OID}02),,grace@example.com,2024-03-05T10:20:30.123Z\n")
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("_id,provider,type,providerAccountId,userId\n"
                        f"ObjectId({OID}99),github,oauth,1001,ObjectId({OID}01)\n")
    reader = open_export(path, accounts=accounts)
    users = [c.user for c in reader.rows()]
    assert [u.external_id for u in users] == [f"{OID}01", f"{OID}02"]
    assert users[0].providers == ("github",) and users[0].email_status == "verified_by_oauth"


def test_the_create_bodies_are_accepted_by_the_sandbox(sandbox):
    """Round trip: every user of the Mongo export, with its accounts, is created
    in the sandbox from its body; the reserved ones are reserved there."""
    reader = open_export(MONGO / "users.canonical.array.json", accounts=MONGO / "accounts.relaxed.ndjson")
    key = make_key("production", uuid.uuid4().hex)
    headers = {"Authorization": f"Bearer {key}", "Clerk-API-Version": "2025-11-10"}
    reserved = {}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10.0) as client:
        for checked in reader.rows():
            assert checked.importable
            response = client.post("/v1/users", json=to_payload(checked.user))
            assert response.status_code == 200, response.text
            user = response.json()
            assert user["external_id"] == checked.user.external_id
            reserved[user["external_id"]] = user["email_addresses"][0]["verification"]["status"] != "verified"
        assert client.get("/v1/users/count").json()["total_count"] == 7
    assert sorted(k for k, v in reserved.items() if v) == [f"{OID}03", f"{OID}06"]
