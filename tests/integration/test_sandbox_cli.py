"""`clerk-migrate sandbox`: prints its URL and working keys, serves until Ctrl-C, exits 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from console.cli import main


def _start(*args: str) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # blocks until the server printed a line (or exited)
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Ctrl-C" in line:
            return proc, lines
    proc.kill()
    raise AssertionError(f"no banner: {lines} {proc.stderr.read() if proc.stderr else ''}")


def test_sandbox_command_serves_until_ctrl_c():
    proc, lines = _start("--latency-ms", "1", "--seed", "3", "--development-limit", "50")
    try:
        banner = "\n".join(lines)
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        prod = re.search(r"production key:\s+(sk_live_\w+)", banner).group(1)
        dev = re.search(r"development key:\s+(sk_test_\w+)", banner).group(1)
        assert "development 50 requests" in banner
        for key in (prod, dev):
            r = httpx.post(f"{url}/v1/users", headers={"Authorization": f"Bearer {key}"},
                           json={"email_address": ["a@example.com"], "skip_password_requirement": True})
            assert r.status_code == 200, r.text
            count = httpx.get(f"{url}/v1/users/count", headers={"Authorization": f"Bearer {key}"})
            assert count.json()["total_count"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["--fail-rate", "2"], ["--port", "70000"], ["--latency-ms", "-1"],
                                  ["--window-s", "0"]])
def test_bad_options_are_one_line_and_exit_2(argv, capsys):
    assert main(["sandbox", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()


def test_a_port_in_use_is_a_clear_error(sandbox, capsys):
    assert main(["sandbox", "--port", str(sandbox.port)]) == 2
    err = capsys.readouterr().err
    assert "could not listen" in err and "Traceback" not in err


def test_settings_file_rotated_and_publishable_keys(tmp_path):
    import base64
    import json

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"attributes": {"username": {"enabled": True, "required": True}},
                                    "social": {"oauth_github": {"enabled": False}},
                                    "sign_up": {"legal_consent_enabled": True}}))
    proc, lines = _start("--settings", str(settings))
    try:
        banner = "\n".join(lines)
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        prod = re.search(r"production key:\s+(sk_live_\w+)", banner).group(1)
        rotated = re.search(r"rotated keys:\s+(sk_live_\w+)", banner).group(1)
        publishable = re.search(r"publishable:\s+(pk_live_\w+)", banner).group(1)
        assert f"CLERK_FRONTEND_API_URL={url}" in banner
        host = base64.b64decode(publishable[len("pk_live_"):] + "==").decode()
        assert host == url.split("://")[1] + "$"
        env = httpx.get(f"http://{host[:-1]}/v1/environment").json()
        attrs = env["user_settings"]["attributes"]
        assert attrs["username"]["enabled"] and attrs["username"]["required"]
        assert attrs["email_address"]["enabled"] and attrs["password"]["required"]  # defaults kept
        assert env["user_settings"]["social"]["oauth_github"]["enabled"] is False
        assert env["user_settings"]["social"]["oauth_google"]["enabled"] is True
        assert env["user_settings"]["sign_up"]["legal_consent_enabled"] is True
        ids = {httpx.get(f"{url}/v1/instance", headers={"Authorization": f"Bearer {k}"}).json()["id"] for k in (prod, rotated)}
        assert len(ids) == 1
        r = httpx.post(f"{url}/v1/users", headers={"Authorization": f"Bearer {prod}"},
                       json={"email_address": ["a@example.com"], "skip_password_requirement": True})
        assert r.status_code == 422 and {e["meta"].get("param_name") for e in r.json()["errors"]} == {"username", "legal_accepted_at"}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)


@pytest.mark.parametrize("content, words", [
    ("{", "not valid JSON"),
    ('{"attributes": {"username": {"enabled": "yes"}}}', "user_settings.attributes.username.enabled must be true or false"),
    ('{"attributes": {"phone_number": {"enabled": false, "required": true}}}', "required but not enabled"),
    ('{"social": {"github": {"enabled": true}}}', "oauth_<provider>"),
    ("[]", "JSON object"),
])
def test_a_bad_settings_file_is_one_line_and_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "s.json"
    path.write_text(content)
    assert main(["sandbox", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and str(path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["sandbox", "--settings", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
