"""`clerk-migrate scan-app PATH [--json]` run in-process: output, exit codes, no env values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"


def test_json_is_one_object_on_stdout(capsys):
    assert main(["scan-app", str(APPS / "half-migrated"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.endswith("\n") and out.count("\n") == 1
    data = json.loads(out)
    assert data["router"] == "app" and data["clerk_installed"] is True
    assert data["files_scanned"] == 10 and data["files_skipped"] == 0  # 8 + tsconfig.json + src/lib/db.ts
    statuses = {item["key"]: item["status"] for item in data["checklist"]}
    assert statuses["install"] == "done" and statuses["middleware"] == "to do"
    lines = {(f["file"], f["line"], f["construct"]) for f in data["findings"]}
    assert ("src/app/dashboard/page.tsx", 6, "getServerSession") in lines
    assert [r["route"] for r in data["protected_routes"]] == [
        "/dashboard/:path*", "/settings/:path*", "/api/private/:path*",
    ]


def test_human_listing(capsys):
    assert main(["scan-app", str(APPS / "app-router")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "(App Router)" in out
    assert "app/api/auth/[...nextauth]/route.ts:3" in out  # brackets printed as they are, not as markup
    assert "components/user-menu.tsx:4" in out
    assert "[to do]" in out and "Install @clerk/nextjs" in out
    assert "/dashboard/:path*    middleware.ts:6" in out
    assert "\x1b[" not in out  # not a terminal: plain text


@pytest.mark.parametrize("app", ["app-router", "pages-router", "half-migrated"])
@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_env_values_never_printed(capsys, app, extra):
    assert main(["scan-app", str(APPS / app), *extra]) == 0
    out, err = capsys.readouterr()
    for text in (out, err):
        assert "VALUE-" not in text and "sk_test_" not in text
    # ...while the names are there
    assert ("NEXTAUTH_SECRET" in out) or ("AUTH_SECRET" in out)


def test_missing_path_exit_2(tmp_path, capsys):
    assert main(["scan-app", str(tmp_path / "nope")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "no such directory" in err


def test_file_path_exit_2(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    assert main(["scan-app", str(tmp_path / "f.txt"), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "not a directory" in err


def test_skipped_files_in_human_output(tmp_path, capsys):
    (tmp_path / "blob.js").write_bytes(b"\x00\x01")
    assert main(["scan-app", str(tmp_path)]) == 0
    out, _ = capsys.readouterr()
    assert "0 files read, 1 skipped (1 binary)" in out
    assert "skipped blob.js: binary" in out
    assert "router not recognised" in out
