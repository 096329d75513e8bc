"""Issue 18 §5: a Clerk (or a proxy) that echoes the secret key WITHOUT its
sk_live_ prefix in its error answers. The secret part must not reach what the
tool stores or prints: `import --json`, `status` (JSON and text), the journal's
bytes on disk."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from console.cli import main
from console.sandbox.instance_settings import merge_user_settings

from tests.integration.engine_support import write_export


@pytest.fixture
def echoing(monkeypatch, tmp_path: Path, sandbox_factory):
    # An instance that does not accept last names: every create that carries one is refused (422
    # form_param_unknown, empty meta) and the engine journals Clerk's message, echoed key and all.
    # (Should the engine stop sending a field the settings turn off, pick another refusal here.)
    settings = merge_user_settings({"attributes": {"last_name": {"enabled": False}}})
    server = sandbox_factory(echo_key="secret", fail_rate=0.15, seed=11, user_settings=settings)
    monkeypatch.chdir(tmp_path)
    for name in ("CLERK_SECRET_KEY", "CLERK_API_URL", "IMPORT_TO_DEV_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_API_URL", server.url)
    return server


def test_a_key_echoed_without_its_prefix_is_never_stored_or_printed(tmp_path: Path, echoing, prod_key, monkeypatch, capsys):
    secret_part = prod_key[len("sk_live_"):]
    monkeypatch.setenv("CLERK_SECRET_KEY", prod_key)
    # three rows whose emails Clerk already holds under other users: 422s, each echoing the key
    for i in (3, 7, 11):
        echoing.seed_user(prod_key, {"external_id": f"someone-else-{i}", "email_address": [f"user{i}@example.test"],
                                     "skip_password_requirement": True})
    # the sandbox really echoes it (so this test can fail)
    probe = httpx.get(f"{echoing.url}/v1/users/user_nope", headers={"Authorization": f"Bearer {prod_key}"})
    assert secret_part in probe.text and prod_key not in probe.text

    export = write_export(tmp_path / "users.json", 20)
    run = tmp_path / "run"
    code = main(["import", str(export), "--run", str(run), "--yes", "--json", "--rate", "300"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert echoing.stats(prod_key).get("failed", 0) > 0  # 5xx answers (echoing too) were met
    printed = [out, err]
    for argv in (["status", "--run", str(run), "--json"], ["status", "--run", str(run)]):
        main(argv)
        printed += list(capsys.readouterr())
    text = "\n".join(printed)
    assert "form_param_unknown" in text  # the refusals are there, told
    assert secret_part not in text and prod_key not in text
    stored = b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())
    assert stored, "the run folder holds the journal"
    assert secret_part.encode() not in stored and prod_key.encode() not in stored
    assert secret_part[:20].encode() not in stored  # not even a long piece of it
