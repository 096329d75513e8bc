"""`clerk-migrate preflight` (issue 13 §1) over HTTP against the sandbox started with instance
settings: each finding with its own code, counts and example rows, the legal-consent policy, OAuth
providers turned off, what could not be checked, an unreachable Frontend API, and the instance's
identity, Development guard and cap."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from console.cli import main
from console.sandbox import make_key
from console.sandbox.instance_settings import attribute, merge_user_settings

BCRYPT = "$2b$10$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"


def settings(**attrs) -> dict:
    """The demo instance's settings with some parts changed (attributes by name; `legal`, `social`)."""
    partial: dict = {"attributes": {}}
    for name, value in attrs.items():
        if name == "legal":
            partial["sign_up"] = {"legal_consent_enabled": value}
        elif name == "social":
            partial["social"] = value
        else:
            partial["attributes"][name] = value
    return merge_user_settings(partial)


def user(i: int, **extra) -> dict:
    row = {"id": f"u{i}", "name": f"User Number{i}", "email": f"user{i}@example.test",
           "emailVerified": "2023-01-02T03:04:05.000Z", "password": BCRYPT}
    row.update(extra)
    return {k: v for k, v in row.items() if v is not None}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture
def cli(monkeypatch, tmp_path: Path, capsys):
    """Run the CLI in process with the given environment (CLERK_* cleared first); returns
    (exit code, stdout, stderr, the --json object when asked)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith(("CLERK_", "NEXT_PUBLIC_CLERK_")) or name == "IMPORT_TO_DEV_INSTANCE":
            monkeypatch.delenv(name, raising=False)

    def run(*args: str, **env: str):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        data = json.loads(out) if "--json" in args and out.strip() else None
        for k in env:
            monkeypatch.delenv(k, raising=False)
        return code, out, err, data

    return run


def fapi(server, **more: str) -> dict[str, str]:
    """Point the tool at the sandbox's Frontend API through a publishable key (its host is the sandbox)."""
    return {"CLERK_PUBLISHABLE_KEY": server.publishable_key("production"), **more}


def finding(data: dict, code: str) -> dict:
    found = [f for f in data["findings"] if f["code"] == code]
    assert len(found) == 1, [f["code"] for f in data["findings"]]
    return found[0]


def codes(data: dict) -> set[str]:
    return {f["code"] for f in data["findings"]}


# ----------------------------------------------------------------------------- identifiers
def test_username_required_refuses_the_rows_without_one(tmp_path, sandbox_factory, cli):
    server = sandbox_factory(user_settings=settings(username=attribute(required=True, used_for_first_factor=True)))
    export = write(tmp_path / "u.json", [user(1, handle="ada_l"), user(2), user(3, handle=""), user(4, handle="bo_b")])
    code, out, err, data = cli("preflight", export, "--json", **fapi(server))
    assert code == 1 and "Traceback" not in err
    f = finding(data, "username_required")
    assert f["severity"] == "error" and f["source"] == "settings" and f["count"] == 4  # no column mapped
    assert data["refused_by_settings"] == 4 and data["importable"] == 0 and not data["ready"]
    assert data["settings"]["checked"] and "username" in data["settings"]["required"]
    code, out, err, data = cli("preflight", export, "--json", "--map", "username=handle", **fapi(server))
    assert code == 1
    f = finding(data, "username_required")
    assert f["count"] == 2 and [e["row"] for e in f["examples"]] == [2, 3]
    assert f["examples"][0] == {"row": 2, "external_id": "u2", "email": "user2@example.test"}
    assert data["importable"] == 2 and data["refused"] == 2
    # the human report names the code, the count and the rows
    code, out, _, _ = cli("preflight", export, "--map", "username=handle", **fapi(server))
    assert code == 1 and "username_required" in out and "(rows 2, 3)" in out


def test_phone_required_and_email_required_have_their_own_codes(tmp_path, sandbox_factory, cli):
    server = sandbox_factory(user_settings=settings(
        phone_number=attribute(required=True, first_factors=("phone_code",), verifications=("phone_code",))))
    export = write(tmp_path / "u.json", [user(1, phone="+15555550101"), user(2),
                                         user(3, email=None, phone="+15555550103")])
    code, _, _, data = cli("preflight", export, "--json", "--map", "phone_number=phone", **fapi(server))
    assert code == 1
    assert finding(data, "phone_required")["count"] == 1 and finding(data, "phone_required")["examples"][0]["row"] == 2
    # the demo instance requires an email: the phone-only row lacks it
    assert finding(data, "email_required")["count"] == 1 and finding(data, "email_required")["examples"][0]["row"] == 3
    assert data["importable"] == 1


def test_password_as_the_only_first_factor_refuses_rows_without_one(tmp_path, sandbox_factory, cli):
    only_password = settings(
        email_address=attribute(required=True, used_for_first_factor=True, first_factors=()),
        password=attribute(required=True),
        social={"oauth_google": {"enabled": False}, "oauth_github": {"enabled": False}},
    )
    server = sandbox_factory(user_settings=only_password)
    export = write(tmp_path / "u.json", [user(1), user(2, password=None), user(3, password=None)])
    code, _, _, data = cli("preflight", export, "--json", **fapi(server))
    assert code == 1
    f = finding(data, "password_required")
    assert f["count"] == 2 and f["severity"] == "error" and data["settings"]["password"] == "only"
    assert [e["row"] for e in f["examples"]] == [2, 3]


def test_password_required_with_another_way_to_sign_in_is_a_warning(tmp_path, sandbox_factory, cli):
    """The demo's instance requires a password but also offers email codes: Clerk accepts
    skip_password_requirement there, so the rows import (said, not refused)."""
    server = sandbox_factory()
    export = write(tmp_path / "u.json", [user(1), user(2, password=None)])
    code, _, _, data = cli("preflight", export, "--json", **fapi(server))
    assert code == 0 and data["ready"]
    f = finding(data, "password_missing")
    assert f["severity"] == "warning" and f["count"] == 1 and "email_code" in f["message"]
    assert data["settings"]["password"] == "required"


def test_usernames_off_with_a_username_column_are_not_sent_said_once(tmp_path, sandbox_factory, cli):
    server = sandbox_factory()  # the demo instance: usernames off
    export = write(tmp_path / "u.json", [user(i, handle=f"handle_{i}") for i in range(1, 8)])
    code, _, _, data = cli("preflight", export, "--json", "--map", "username=handle", **fapi(server))
    assert code == 0 and data["ready"] and data["importable"] == 7
    f = finding(data, "username_turned_off")
    assert f["severity"] == "note" and f["count"] == 7 and len(f["examples"]) == 5  # examples stay bounded
    assert "username" in data["settings"]["turned_off"]


# ----------------------------------------------------------------------------- legal consent
def test_legal_consent_needs_a_stated_policy(tmp_path, sandbox_factory, cli):
    server = sandbox_factory(user_settings=settings(legal=True))
    export = write(tmp_path / "u.json", [user(1, termsAcceptedAt="2023-03-04T05:06:07Z"), user(2)])
    # no policy: the import would not start; one line says the choice
    code, out, _, data = cli("preflight", export, "--json", **fapi(server))
    assert code == 1
    assert [b["code"] for b in data["blockers"]] == ["legal_policy_missing"]
    assert "--legal skip" in data["blockers"][0]["message"] and "--legal column:NAME" in data["blockers"][0]["message"]
    assert data["refused_by_settings"] == 0  # the rows are checked for everything else meanwhile
    # skip: every row fits
    code, _, _, data = cli("preflight", export, "--json", "--legal", "skip", **fapi(server))
    assert code == 0 and data["ready"] and data["legal"] == "skip" and not data["blockers"]
    # a column: rows without a date there are refused
    code, _, _, data = cli("preflight", export, "--json", "--legal", "column:termsAcceptedAt", **fapi(server))
    assert code == 1 and data["legal"] == "column:termsAcceptedAt"
    f = finding(data, "legal_consent_missing")
    assert f["count"] == 1 and f["examples"][0]["row"] == 2
    assert "unknown_column" not in {n["code"] for n in data["file_notes"] if n.get("field") == "termsAcceptedAt"}
    code, _, err, _ = cli("preflight", export, "--legal", "always")
    assert code == 2 and "--legal 'always'" in err


# ----------------------------------------------------------------------------- social connections
def test_github_off_warns_about_github_only_users(tmp_path, sandbox_factory, cli):
    server = sandbox_factory(user_settings=settings(social={"oauth_github": {"enabled": False}}))
    rows = [user(1, password=None, providers=["github"]),           # GitHub only: cannot sign in that way
            user(2, password=None, providers=["github", "google"]),  # Google still works
            user(3, providers=["github"]),                           # a password too
            user(4, password=None, providers=["github"]),
            user(5, password=None)]
    export = write(tmp_path / "u.json", rows)
    code, _, _, data = cli("preflight", export, "--json", **fapi(server))
    assert code == 0  # a warning: they are created
    f = finding(data, "oauth_provider_off")
    assert f["count"] == 2 and f["by"] == {"GitHub": 2} and [e["row"] for e in f["examples"]] == [1, 4]
    # the providers from an accounts file, joined by userId
    plain = write(tmp_path / "plain.json", [user(i, password=None) for i in range(1, 4)])
    accounts = write(tmp_path / "accounts.json", [
        {"userId": "u1", "type": "oauth", "provider": "github", "providerAccountId": "1"},
        {"userId": "u2", "type": "oauth", "provider": "google", "providerAccountId": "2"}])
    code, _, _, data = cli("preflight", plain, "--json", "--accounts", accounts, **fapi(server))
    assert code == 0 and finding(data, "oauth_provider_off")["by"] == {"GitHub": 1}


# ----------------------------------------------------------------------------- what could not be checked
def test_without_a_publishable_key_it_says_once_what_was_not_checked(tmp_path, cli, sandbox):
    export = write(tmp_path / "u.json", [user(1), user(2)])
    code, out, err, data = cli("preflight", export, "--json")
    assert code == 0 and data["settings"] == {"checked": False} and data["instance"] == {"checked": False}
    assert err.count("not checked: no publishable key") == 1 and "CLERK_PUBLISHABLE_KEY" in err
    assert len(data["not_checked"]) == 2


def test_an_unreachable_frontend_api_is_exit_2_with_one_line(tmp_path, cli):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    export = write(tmp_path / "u.json", [user(1)])
    code, out, err, _ = cli("preflight", export, "--json", CLERK_FRONTEND_API_URL=f"http://127.0.0.1:{port}")
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("clerk-migrate: note:")]
    assert len(lines) == 1 and "cannot read the instance's settings" in lines[0] and "Traceback" not in err
    code, _, err, _ = cli("preflight", export, CLERK_PUBLISHABLE_KEY="pk_live_bm90IGEgaG9zdA")
    assert code == 2 and "publishable key" in err


def test_unreadable_export_is_exit_2(tmp_path, cli, sandbox):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "u1", "email": ')
    code, out, err, _ = cli("preflight", bad, "--json", **fapi(sandbox))
    assert code == 2 and out == "" and "Traceback" not in err


# ----------------------------------------------------------------------------- the instance
def test_the_instance_behind_the_secret_key_guard_and_cap(tmp_path, sandbox_factory, cli):
    server = sandbox_factory()
    prod, dev = make_key("production", "pf"), make_key("development", "pf")
    export = write(tmp_path / "u.json", [user(i) for i in range(1, 5)])
    base = {"CLERK_API_URL": server.url, **fapi(server)}
    code, _, _, data = cli("preflight", export, "--json", CLERK_SECRET_KEY=prod, **base)
    assert code == 0 and data["instance"]["id"] == server.instance_id(prod)
    assert data["instance"]["environment_type"] == "production"
    # a Development key: the import needs IMPORT_TO_DEV_INSTANCE; and the publishable key is a production one
    code, _, _, data = cli("preflight", export, "--json", CLERK_SECRET_KEY=dev, **base)
    assert code == 1 and {b["code"] for b in data["blockers"]} == {"dev_not_allowed", "two_instances"}
    dev_fapi = {"CLERK_API_URL": server.url, "CLERK_PUBLISHABLE_KEY": server.publishable_key("development")}
    code, _, _, data = cli("preflight", export, "--json", CLERK_SECRET_KEY=dev, IMPORT_TO_DEV_INSTANCE="true",
                           **dev_fapi)
    assert code == 0 and data["instance"]["users"] == 0 and data["instance"]["cap"] == 100
    for i in range(99):
        server.seed_user(dev, {"external_id": f"x{i}", "email_address": [f"x{i}@example.test"],
                               "skip_password_requirement": True})
    code, _, _, data = cli("preflight", export, "--json", CLERK_SECRET_KEY=dev, IMPORT_TO_DEV_INSTANCE="true",
                           **dev_fapi)
    assert code == 1 and [b["code"] for b in data["blockers"]] == ["dev_instance_cap"]
    assert "1 more fit" in data["blockers"][0]["message"]
    # a key Clerk refuses: exit 2
    server.config.rejected_keys.add(prod)
    code, out, err, _ = cli("preflight", export, "--json", CLERK_SECRET_KEY=prod, **base)
    assert code == 2 and out == "" and "refused the key" in err and prod not in err
