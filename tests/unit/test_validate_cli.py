"""`clerk-migrate validate`: exit codes, --json, --report, the stderr summary, flags."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from console.cli import main
from console.sandbox.samples import write_sample_export

OK = {"id": "c1", "name": "Ada Lovelace", "email": "ada@example.com",
      "emailVerified": "2024-01-01T00:00:00.000Z"}


def export(tmp_path, rows, name="u.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return path


def run(capsys, *args):
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_all_importable_exit_0(capsys, tmp_path):
    code, out, err = run(capsys, export(tmp_path, [OK]))
    assert code == 0 and out == ""
    assert "1 importable" in err and "0 refused" in err


def test_some_refused_exit_1(capsys, tmp_path):
    code, out, err = run(capsys, export(tmp_path, [OK, dict(OK, id="c2", email="bad")]))
    assert code == 1
    assert "email_invalid" in err and "error" in err


def test_json_is_one_object_with_the_contract_fields(capsys, tmp_path):
    path = write_sample_export(tmp_path / "s.json", n=500)
    code, out, err = run(capsys, path, "--json")
    assert code == 1
    obj = json.loads(out)  # exactly one JSON document on stdout
    assert out.count("\n") == 1
    assert {"rows", "importable", "refused", "issues"} <= set(obj)
    assert obj["rows"] == 500 and obj["importable"] + obj["refused"] == 500
    for issue in obj["issues"]:
        assert set(issue) == {"row", "external_id", "code", "field", "severity", "message"}
        assert issue["severity"] in ("error", "warning")
    assert obj["format"] == "json" and obj["shape"] == "prisma" and len(obj["sha256"]) == 64
    assert sum(sum(v.values()) for v in obj["by_code"].values()) == len(obj["issues"])
    assert "importable" in err  # the summary still goes to stderr


def test_report_csv_has_every_issue(capsys, tmp_path):
    path = write_sample_export(tmp_path / "s.json", n=500)
    report = tmp_path / "report.csv"
    code, out, err = run(capsys, path, "--json", "--report", report)
    issues = json.loads(out)["issues"]
    with open(report, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["row", "external_id", "field", "code", "severity", "message"]
    assert len(rows) - 1 == len(issues)
    assert [(int(r[0]), r[3], r[4]) for r in rows[1:]] == [(i["row"], i["code"], i["severity"]) for i in issues]
    assert f"written to {report}" in err


def test_report_to_an_unwritable_place(capsys, tmp_path):
    code, out, err = run(capsys, export(tmp_path, [OK]), "--report", tmp_path / "no" / "dir" / "r.csv")
    assert code == 2 and "cannot write the report" in err and len(err.strip().splitlines()) == 1


def test_policies_change_the_outcome(capsys, tmp_path):
    path = export(tmp_path, [dict(OK, emailVerified=None), dict(OK, id="c2", email="b@example.com",
                                                                password="Summer2023!")])
    code, out, _ = run(capsys, path, "--json")
    assert code == 1 and json.loads(out)["refused"] == 1  # plaintext refused by default
    code, out, _ = run(capsys, path, "--json", "--plaintext", "send")
    assert code == 0 and json.loads(out)["refused"] == 0
    code, out, _ = run(capsys, path, "--json", "--plaintext", "send", "--unverified", "refuse")
    obj = json.loads(out)
    assert code == 1 and obj["refused"] == 1 and obj["unverified"] == 1
    code, out, _ = run(capsys, path, "--json", "--plaintext", "send", "--unverified", "reserved")
    assert code == 0 and "reserved" in json.loads(out)["issues"][0]["message"]


def test_instance_development_blocker(capsys, tmp_path):
    rows = [dict(OK, id=f"c{i}", email=f"u{i}@example.com") for i in range(150)]
    path = export(tmp_path, rows)
    code, out, err = run(capsys, path, "--json", "--instance", "development")
    obj = json.loads(out)
    assert code == 1 and obj["refused"] == 0
    assert [b["code"] for b in obj["blockers"]] == ["dev_instance_cap"]
    assert obj["issues"][0]["code"] == "dev_instance_cap"
    assert "blocker:" in err
    code, out, err = run(capsys, path, "--instance", "production")
    assert code == 0


def test_format_and_map_flags(capsys, tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("uid;mail\nx1;a@example.com\n")
    code, out, err = run(capsys, path, "--json", "--map", "id=uid", "--map", "email=mail")
    obj = json.loads(out)
    assert code == 0 and obj["rows"] == 1 and obj["shape"] == "mapped" and obj["format"] == "csv"
    code, out, err = run(capsys, path, "--format", "json")
    assert code == 2 and "expected a JSON array" in err


@pytest.mark.parametrize("flag", ["email", "email=", "=col", "mail=col"])
def test_bad_map_flag_is_one_line_exit_2(capsys, tmp_path, flag):
    code, out, err = run(capsys, export(tmp_path, [OK]), "--map", flag)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--map" in err


def test_bad_choice_is_a_usage_error(capsys, tmp_path):
    code, out, err = run(capsys, export(tmp_path, [OK]), "--unverified", "maybe")
    assert code == 2 and "Traceback" not in err


def test_summary_lists_codes_and_file_notes(capsys, tmp_path):
    rows = [dict(OK, image="https://x/a.png", providers=["github"], role="admin")]
    code, out, err = run(capsys, export(tmp_path, rows))
    assert code == 0
    assert "image_not_imported" in err and "oauth_not_imported" in err and "unknown_column" in err
    assert "note: column role is not imported: --map public_metadata.role=role keeps it" in err


def test_rich_table_on_a_terminal(monkeypatch, tmp_path, capsys):
    """On a tty the summary is a table; export data is printed as text, never as markup."""
    rows = [dict(OK, email="bad"), dict(OK, id="c2", email="b@example.com", **{"[bold]x[/bold]": 1})]
    path = export(tmp_path, rows)
    buffer = io.StringIO()
    buffer.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", buffer)
    code = main(["validate", str(path)])
    text = buffer.getvalue()
    assert code == 1
    assert "email_invalid" in text and "severity" in text
    assert "[bold]x[/bold]" in text  # shown literally


def test_python_dash_m_console(tmp_path):
    path = export(tmp_path, [OK])
    proc = subprocess.run([sys.executable, "-m", "console", "validate", str(path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["importable"] == 1


def test_report_csv_keeps_formula_like_values_as_text(capsys, tmp_path):
    # a spreadsheet must not evaluate export data: =HYPERLINK(...) stays text
    rows = [OK, dict(OK, id="=HYPERLINK(\"x\")", email="not-an-email")]
    report = tmp_path / "report.csv"
    run(capsys, export(tmp_path, rows), "--report", report)
    with open(report, newline="", encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert "'=HYPERLINK(\"x\")" in cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)


def test_the_report_csv_is_written_0600(capsys, tmp_path):
    report = tmp_path / "validation-report.csv"
    report.write_text("old")
    report.chmod(0o644)  # an existing file does not keep a wider mode
    run(capsys, export(tmp_path, [dict(OK, email="bad")]), "--report", report)
    assert report.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "fresh.csv"
    run(capsys, export(tmp_path, [OK]), "--report", fresh)
    assert fresh.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("policy, counts", [
    ("oauth", {"verified_by_date": 1, "verified_by_oauth": 1, "verified_by_policy": 0, "reserved": 1, "refused": 0}),
    ("reserved", {"verified_by_date": 1, "verified_by_oauth": 0, "verified_by_policy": 0, "reserved": 2, "refused": 0}),
    ("verified", {"verified_by_date": 1, "verified_by_oauth": 1, "verified_by_policy": 1, "reserved": 0, "refused": 0}),
    ("refuse", {"verified_by_date": 1, "verified_by_oauth": 0, "verified_by_policy": 0, "reserved": 0, "refused": 2}),
])
def test_email_verification_counts_by_policy(capsys, tmp_path, policy, counts):
    rows = [OK, dict(OK, id="c2", email="b@example.com", emailVerified=None, providers=["github"]),
            dict(OK, id="c3", email="c@example.com", emailVerified=None)]
    code, out, err = run(capsys, export(tmp_path, rows), "--json", "--unverified", policy)
    obj = json.loads(out)
    assert obj["email_verification"] == dict(counts, policy=policy)
    assert f"policy: {policy}" in err
    assert ("pre-account takeover" in err) is (policy == "verified")
    assert code == (1 if policy == "refuse" else 0)


def test_the_default_policy_is_oauth(capsys, tmp_path):
    code, out, err = run(capsys, export(tmp_path, [dict(OK, emailVerified=None)]), "--json")
    obj = json.loads(out)
    assert obj["email_verification"]["reserved"] == 1 and obj["email_verification"]["policy"] == "oauth"
    assert obj["issues"][0]["code"] == "email_unverified" and "imported reserved" in obj["issues"][0]["message"]


def test_issues_carry_the_rows_email_and_name_outside_the_json(tmp_path):
    from console.source import validate_export

    rows = [dict(OK, id="c1", email="not-an-email", name="Grace Hopper"), dict(OK, id="c2", name="Bo", email="b@x.io")]
    report = validate_export(export(tmp_path, rows))
    by_row = {i.row: i for i in report.issues if i.row}
    assert (by_row[1].email, by_row[1].name) == ("not-an-email", "Grace Hopper")
    assert (by_row[2].email, by_row[2].name) == ("b@x.io", "Bo")  # name_one_word
    assert set(by_row[1].as_dict()) == {"row", "external_id", "code", "field", "severity", "message"}
