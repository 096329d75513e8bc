"""Sign-in proof (issue 13 §5): `clerk-migrate verify --run DIR --sign-in EMAIL` over HTTP against
the sandbox, which checks bcrypt and argon2 digests for real (the `bcrypt` and `argon2-cffi`
libraries) and compares a plaintext password.

The password is read as one line of stdin (not a terminal) or from the terminal without echo (a
real pty); it never shows in stdout, stderr, the journal's bytes or the worker's log.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import argon2
import bcrypt
import pytest

from console.cli import main
from console.migration.status import read_status

REPO = Path(__file__).resolve().parents[2]

PASSWORDS = {
    "ada@example.test": "correct horse bcrypt 1",
    "bo@example.test": "argon2 battery staple",
    "cy@example.test": "plain Staple 1234!",
}
WRONG = "not the password at all 42"


def _export(path: Path) -> Path:
    bcrypt_digest = bcrypt.hashpw(PASSWORDS["ada@example.test"].encode(), bcrypt.gensalt(rounds=4)).decode()
    argon_digest = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORDS["bo@example.test"])
    assert bcrypt_digest.startswith("$2b$04$") and argon_digest.startswith("$argon2id$v=19$")
    rows = [
        {"id": "u-bcrypt", "name": "Ada Lovelace", "email": "ada@example.test",
         "emailVerified": "2023-01-01T00:00:00.000Z", "password": bcrypt_digest},
        {"id": "u-argon2", "name": "Bo Diddley", "email": "bo@example.test",
         "emailVerified": "2023-01-01T00:00:00.000Z", "password": argon_digest},
        {"id": "u-plain", "name": "Cy Twombly", "email": "cy@example.test",
         "emailVerified": "2023-01-01T00:00:00.000Z", "password": PASSWORDS["cy@example.test"]},
        {"id": "u-none", "name": "Di Prima", "email": "di@example.test", "emailVerified": "2023-01-01T00:00:00.000Z"},
        {"id": "u-bad", "name": "Ed Bad", "email": "ed-at-example", "emailVerified": None},
    ]
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture
def env(monkeypatch, tmp_path: Path, sandbox, prod_key):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith("CLERK_") or name == "IMPORT_TO_DEV_INSTANCE":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_API_URL", sandbox.url)
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    return sandbox


@pytest.fixture
def run(tmp_path: Path, env, capsys) -> Path:
    export = _export(tmp_path / "users.json")
    run_dir = tmp_path / "run"
    assert main(["import", str(export), "--run", str(run_dir), "--yes", "--json", "--plaintext", "send"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] == 4 and summary["refused"] == 1
    return run_dir


def _sign_in(monkeypatch, capsys, run_dir: Path, email: str, password: str, *extra: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    code = main(["verify", "--run", str(run_dir), "--sign-in", email, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _journal_bytes(run_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in run_dir.iterdir() if p.name.startswith("journal"))


@pytest.mark.parametrize("email, hasher", [("ada@example.test", "bcrypt"), ("bo@example.test", "argon2id"),
                                           ("cy@example.test", "plaintext")])
def test_the_right_password_is_verified_and_a_wrong_one_is_not(run, monkeypatch, capsys, env, prod_key, email, hasher):
    before = env.stats(prod_key).get("requests", 0)
    code, out, err = _sign_in(monkeypatch, capsys, run, email, PASSWORDS[email], "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["sign_in"] == {"email": email, "verified": True}
    assert answer["clerk_user_id"].startswith("user_") and answer["reason"] is None
    # the sandbox really checked it (one verify_password request, plus the instance check)
    assert env.stats(prod_key).get("requests", 0) > before

    code, out, err = _sign_in(monkeypatch, capsys, run, email.upper(), WRONG, "--json")
    assert code == 1
    answer = json.loads(out)
    assert answer["sign_in"] == {"email": email.upper(), "verified": False}
    assert answer["reason"] == "wrong_password" and answer["hasher"] == hasher
    assert "check:" in err and (hasher in err)
    for secret in (PASSWORDS[email], WRONG):
        assert secret not in out and secret not in err
        assert secret.encode() not in _journal_bytes(run)


def test_the_human_answer_and_what_to_check(run, monkeypatch, capsys):
    code, out, err = _sign_in(monkeypatch, capsys, run, "ada@example.test", PASSWORDS["ada@example.test"])
    assert code == 0 and "verified" in out and "NOT" not in out
    code, out, err = _sign_in(monkeypatch, capsys, run, "ada@example.test", WRONG)
    assert code == 1 and "NOT verified" in out
    assert "the hasher: the row was imported as bcrypt" in err and "the digest format" in err
    assert WRONG not in out + err


def test_a_user_without_a_password_is_not_verified_and_says_why(run, monkeypatch, capsys):
    code, out, err = _sign_in(monkeypatch, capsys, run, "di@example.test", "whatever it is 123", "--json")
    assert code == 1
    answer = json.loads(out)
    assert answer["sign_in"]["verified"] is False and answer["reason"] == "no_password"
    assert "no password" in err and "skip_password_requirement" in err


def test_no_such_user_in_this_run(run, monkeypatch, capsys, env, prod_key):
    seen = env.stats(prod_key).get("requests", 0)
    for email in ("nobody@example.test", "ed-at-example"):  # unknown; refused by the checks (never created)
        code, out, err = _sign_in(monkeypatch, capsys, run, email, "some password 123")
        assert code == 2 and out == ""
        assert "no such user in this run" in err and "Traceback" not in err
    # a user of the instance the run did not create or link is not this run's either
    env.seed_user(prod_key, {"external_id": "other", "email_address": ["zed@example.test"],
                             "password": "zed password 123", "skip_password_checks": True})
    code, _, err = _sign_in(monkeypatch, capsys, run, "zed@example.test", "zed password 123")
    assert code == 2 and "no such user in this run" in err
    assert env.stats(prod_key).get("requests", 0) == seen  # nothing asked of Clerk


def test_the_fixed_email_finds_the_user(run, monkeypatch, capsys):
    from console.migration.journal import RunJournal
    from console.migration.signin import find_run_user

    with RunJournal.open(run, readonly=True) as journal:
        rec = find_run_user(journal, "Bo@Example.test")
        assert rec.external_id == "u-argon2" and rec.status == "created"


def test_no_password_given_is_refused_before_anything_is_asked(run, monkeypatch, capsys):
    code, out, err = _sign_in(monkeypatch, capsys, run, "ada@example.test", "")
    assert code == 2 and "no password given" in err


# ----------------------------------------------------------------------------- real processes
def _env(server, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_") and k != "IMPORT_TO_DEV_INSTANCE"}
    env.update(CLERK_SECRET_KEY=key, CLERK_API_URL=server.url, PYTHONPATH=str(REPO))
    return env


def _cli(env: dict[str, str], cwd: Path, *args: object, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *map(str, args)], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_nothing_of_the_password_in_the_outputs_the_journal_or_the_worker_log(tmp_path: Path, sandbox, prod_key):
    env = _env(sandbox, prod_key)
    export = _export(tmp_path / "users.json")
    run_dir = tmp_path / "run"
    p = _cli(env, tmp_path, "import", export, "--run", run_dir, "--yes", "--json", "--detach", "--plaintext", "send")
    assert p.returncode == 0, p.stderr[-2000:]
    pid = json.loads(p.stdout)["pid"]
    deadline = time.monotonic() + 60
    while True:  # the worker settles every row, then ends
        try:
            status = read_status(run_dir).as_json()
        except Exception:  # noqa: BLE001 - being written right now
            status = {}
        if status.get("state") == "finished":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["created"] == 4
    outputs = []
    for email in ("ada@example.test", "cy@example.test"):  # a digest and a plaintext password
        for typed, want in ((PASSWORDS[email], 0), (WRONG, 1)):
            p = _cli(env, tmp_path, "verify", "--run", run_dir, "--sign-in", email, "--json", stdin=typed + "\n")
            assert p.returncode == want, p.stderr
            assert json.loads(p.stdout)["sign_in"]["verified"] is (want == 0)
            outputs.append(p.stdout + p.stderr)
    log = (run_dir / "worker.log").read_bytes()
    journal = _journal_bytes(run_dir)
    everything = [o.encode() for o in outputs] + [log, journal]
    for secret in [*PASSWORDS.values(), WRONG]:
        for blob in everything:
            assert secret.encode() not in blob
    while _alive(pid):  # the worker lets go of the run
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_password_is_read_from_the_terminal_without_echo(run, tmp_path: Path, env, prod_key):
    """A real pseudo-terminal as the controlling terminal: getpass prompts there, turns echo
    off, and what is typed never comes back on the terminal."""
    cli_env = _env(env, prod_key)
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            os.chdir(tmp_path)
            os.execve(sys.executable, [sys.executable, "-m", "console", "verify", "--run", str(run),
                                       "--sign-in", "ada@example.test", "--json"], cli_env)
        finally:
            os._exit(127)
    seen = b""
    typed = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not typed and b"password for ada@example.test" in seen:
            time.sleep(0.05)
            os.write(fd, (PASSWORDS["ada@example.test"] + "\n").encode())
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert typed, seen
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b'"verified": true' in seen
    assert PASSWORDS["ada@example.test"].encode() not in seen  # never echoed


def test_a_rotated_key_of_the_same_instance_signs_in(run, monkeypatch, capsys, env, prod_key):
    rotated = env.rotate_key(prod_key)
    monkeypatch.setenv("CLERK_SECRET_KEY", rotated)
    code, out, err = _sign_in(monkeypatch, capsys, run, "bo@example.test", PASSWORDS["bo@example.test"], "--json")
    assert code == 0, err
    assert json.loads(out)["sign_in"]["verified"] is True
