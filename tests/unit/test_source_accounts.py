"""An accounts export beside a users export (--accounts): the OAuth providers
joined by userId whatever the layout (Prisma cuids, the pg adapter's integer
ids, MongoDB ObjectIds: see test_source_mongo.py), in JSON, NDJSON or CSV."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest

from console.cli import main
from console.source import ExportError, Policies, open_accounts, open_export, to_payload, validate_export

# Prisma adapter `Account` rows (packages/adapter-prisma's schema: id, userId,
# type, provider, providerAccountId, refresh_token, access_token, expires_at,
# token_type, scope, id_token, session_state), tokens fake.
PRISMA_ACCOUNTS = [
    {"id": "clacc1", "userId": "cluser1", "type": "oauth", "provider": "github", "providerAccountId": "1001",
     "refresh_token": None, "access_token": "gho_fakeTokenOne", "expires_at": None, "token_type": "bearer",
     "scope": "read:user,user:email", "id_token": None, "session_state": None},
    {"id": "clacc2", "userId": "cluser1", "type": "oidc", "provider": "google", "providerAccountId": "1089",
     "refresh_token": "1//fakeRefresh", "access_token": "ya29.fakeTokenTwo", "expires_at": 1709641230,
     "token_type": "Bearer", "scope": "openid email profile", "id_token": "eyJ.fake.jwt", "session_state": None},
    {"id": "clacc3", "userId": "cluser2", "type": "email", "provider": "resend", "providerAccountId": "b@example.com",
     "refresh_token": None, "access_token": None, "expires_at": None, "token_type": None, "scope": None,
     "id_token": None, "session_state": None},
    {"id": "clacc4", "userId": "cluser3", "type": "oauth", "provider": "github", "providerAccountId": "1003",
     "refresh_token": None, "access_token": "gho_fakeTokenThree", "expires_at": None, "token_type": "bearer",
     "scope": "read:user", "id_token": None, "session_state": None},
]
PRISMA_USERS = [
    {"id": "cluser1", "name": "Ada Lovelace", "email": "ada@example.com", "emailVerified": None, "image": None},
    {"id": "cluser2", "name": "Bea Smith", "email": "b@example.com", "emailVerified": None, "image": None},
    {"id": "cluser3", "name": "Cy Jones", "email": "cy@example.com", "emailVerified": "2024-01-01T00:00:00.000Z",
     "image": None},
]


def write(path, rows, layout):
    if layout == "json":
        path.write_text(json.dumps(rows))
    elif layout == "ndjson":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for r in rows:
                w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return path


@pytest.mark.parametrize("layout", ["json", "ndjson", "csv"])
def test_prisma_accounts_in_every_format(tmp_path, layout):
    users = write(tmp_path / "users.json", PRISMA_USERS, "json")
    accounts = write(tmp_path / f"accounts.{layout}", PRISMA_ACCOUNTS, layout)
    index = open_accounts(accounts)
    assert index.format == layout and index.rows == 4 and index.users == 2
    assert index.get("cluser1") == ("github", "google") and index.get("cluser3") == ("github",)
    assert index.not_oauth == 1 and index.get("cluser2") is None  # an email (magic link) account proves nothing here
    assert index.sha256 == hashlib.sha256(accounts.read_bytes()).hexdigest()
    checked = {c.user.external_id: c for c in open_export(users, accounts=accounts).rows()}
    assert checked["cluser1"].user.providers == ("github", "google")
    assert checked["cluser1"].user.email_status == "verified_by_oauth" and checked["cluser1"].issues == []
    assert checked["cluser2"].user.email_status == "reserved"
    assert checked["cluser3"].user.email_status == "verified_by_date"


def test_pg_adapter_integer_ids(tmp_path):
    # adapter-pg: users(id SERIAL, …), accounts("userId" INTEGER, …), exported as CSV by psql \copy
    users = tmp_path / "users.csv"
    users.write_text('id,name,email,"emailVerified",image\n1,Ada,ada@example.com,,\n2,Bo,bo@example.com,,\n')
    accounts = tmp_path / "accounts.csv"
    accounts.write_text('id,"userId",type,provider,"providerAccountId",access_token\n'
                        "10,1,oauth,github,1001,gho_fake\n11,7,oauth,github,1007,gho_fake2\n")
    report = validate_export(users, accounts=accounts)
    assert report.shape == "pg"
    assert report.email_verification["verified_by_oauth"] == 1 and report.email_verification["reserved"] == 1
    assert [i.message for i in report.issues if i.code == "accounts_unmatched"] == [
        "1 user id of the accounts file (accounts.csv) is not in the export: its OAuth accounts are ignored"]
    json_accounts = write(tmp_path / "a.json", [{"userId": 2, "type": "oauth", "provider": "google"}], "json")
    (ada, bo) = list(open_export(users, accounts=json_accounts).rows())
    assert bo.user.providers == ("google",) and ada.user.providers == ()


def test_export_db_rows_keep_their_providers_and_gain_the_files(tmp_path):
    # export-db's NDJSON: Prisma-shaped rows with `providers` already joined
    users = write(tmp_path / "export.ndjson", [
        {"id": "u1", "name": "A B", "email": "a@example.com", "emailVerified": None, "image": None,
         "createdAt": "2024-01-01T00:00:00.000Z", "providers": ["github"]},
        {"id": "u2", "name": "C D", "email": "c@example.com", "emailVerified": None, "image": None,
         "createdAt": "2024-01-01T00:00:00.000Z", "providers": []},
    ], "ndjson")
    accounts = write(tmp_path / "a.ndjson", [{"userId": "u1", "type": "oauth", "provider": "google"},
                                             {"userId": "u2", "type": "oauth", "provider": "discord"}], "ndjson")
    u1, u2 = [c.user for c in open_export(users, accounts=accounts).rows()]
    assert u1.providers == ("github", "google") and u2.providers == ("discord",)
    assert [c.user.email_status for c in open_export(users).rows()] == ["verified_by_oauth", "reserved"]


def test_policy_reserved_still_reserves_oauth_users(tmp_path):
    users = write(tmp_path / "users.json", PRISMA_USERS, "json")
    accounts = write(tmp_path / "accounts.json", PRISMA_ACCOUNTS, "json")
    policies = Policies(unverified_email="reserved")
    bodies = [to_payload(c.user, policies) for c in open_export(users, accounts=accounts).rows(policies)]
    assert [b.get("email_address_identification_status") for b in bodies] == [["reserved"], ["reserved"], None]


def test_a_users_file_given_as_accounts(tmp_path):
    users = write(tmp_path / "users.json", PRISMA_USERS, "json")
    with pytest.raises(ExportError, match="row 1: no userId and no provider field .*looks like a users export"):
        open_export(users, accounts=users)


def test_an_empty_accounts_file_joins_nothing(tmp_path):
    users = write(tmp_path / "users.json", PRISMA_USERS, "json")
    accounts = tmp_path / "a.json"
    accounts.write_text("[]")
    report = validate_export(users, accounts=accounts)
    assert report.accounts["rows"] == 0 and report.email_verification["reserved"] == 2


def test_a_broken_accounts_line_is_one_line_exit_2(tmp_path, capsys):
    users = write(tmp_path / "users.json", PRISMA_USERS, "json")
    accounts = tmp_path / "a.ndjson"
    accounts.write_text('{"userId": "cluser1", "provider": "github"}\n{"userId": "cluser3", "provider": \n')
    code = main(["validate", str(users), "--accounts", str(accounts)])
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert code == 2 and str(accounts) in line and "row 2, line 2, byte offset" in line


def test_validate_json_counts_and_the_accounts_hash(tmp_path, capsys):
    users = write(tmp_path / "users.json", PRISMA_USERS, "json")
    accounts = write(tmp_path / "accounts.json", PRISMA_ACCOUNTS, "json")
    code = main(["validate", str(users), "--accounts", str(accounts), "--json"])
    out, err = capsys.readouterr()
    obj = json.loads(out)
    assert code == 0
    assert obj["email_verification"] == {"verified_by_date": 1, "verified_by_oauth": 1, "verified_by_policy": 0,
                                         "reserved": 1, "refused": 0, "policy": "oauth"}
    assert obj["accounts"]["sha256"] == hashlib.sha256(accounts.read_bytes()).hexdigest()
    assert "1 verified (emailVerified date), 1 verified (OAuth account), 1 reserved" in err
    assert "gho_" not in out + err
