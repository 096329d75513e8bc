"""Hostile files (issue 18 §4): nesting bombs refused fast in bounded memory,
anything but a regular file refused at once, odd ids and repeated keys refuse
their row only, bare-CR CSV read. Each case failed on the reader before."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.cli import main
from console.source import ExportError, open_accounts, open_export, validate_export

ROOT = Path(__file__).resolve().parents[2]
DEPTH = 100_000
OK = {"id": "c1", "name": "Ada Lovelace", "email": "ada@example.com", "emailVerified": "2024-01-01T00:00:00.000Z"}

# Runs validate_export on argv[1] in a fresh interpreter and reports its own
# peak RSS and the seconds the call took. The peak is /proc's VmHWM: Linux's
# ru_maxrss survives fork + exec, so a child would report pytest's own size.
PROBE = textwrap.dedent("""
    import json, sys, time
    from console.source import ExportError, validate_export
    t = time.perf_counter()
    try:
        report = validate_export(sys.argv[1])
        outcome = {"rows": report.rows, "refused": report.refused}
    except ExportError as exc:
        outcome = {"error": str(exc)}
    outcome["seconds"] = time.perf_counter() - t
    with open("/proc/self/status") as f:
        hwm = next(line for line in f if line.startswith("VmHWM:"))
    outcome["rss_mb"] = int(hwm.split()[1]) / 1024
    print(json.dumps(outcome))
""")


def probe(path: Path) -> dict:
    if not Path("/proc/self/status").exists():
        pytest.skip("the peak RSS is read from /proc")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


# ---- nesting ---------------------------------------------------------------------

def test_a_hundred_thousand_open_brackets_are_refused_fast_in_bounded_memory(tmp_path):
    path = tmp_path / "brackets.json"
    path.write_bytes(b"[" * DEPTH)
    got = probe(path)
    assert "row 1, line 1, byte offset 33: nested deeper than 32 levels" in got["error"], got
    assert got["rss_mb"] < 200, got  # was 21.8 GB
    assert got["seconds"] < 10, got


def test_a_name_nested_a_hundred_thousand_deep_is_refused_with_its_row_and_byte(tmp_path):
    path = tmp_path / "deep-name.json"
    head = '[{"id":"c0","email":"z@example.com"},{"id":"c1","email":"a@example.com","name":'
    path.write_text(head + '{"a":' * DEPTH + "1" + "}" * DEPTH + "}]")
    got = probe(path)
    # the row is level 1, its name level 2: level 33 is the name's 32nd '{'
    offset = len(head) + 31 * len('{"a":')
    assert f"row 2, line 1, byte offset {offset}: nested deeper than 32 levels" in got["error"], got
    assert got["rss_mb"] < 200, got  # was 10.6 GB, and accepted
    assert got["seconds"] < 10, got


def test_a_deep_ndjson_line_is_refused_with_its_line_and_byte(tmp_path, capsys):
    path = tmp_path / "deep.ndjson"
    first = json.dumps(OK) + "\n"
    path.write_text(first + '{"id":"c2","email":"b@example.com","publicMetadata":' + "[" * 5000 + "]" * 5000 + "}\n")
    code, out, err = cli(capsys, path)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    offset = len(first) + len('{"id":"c2","email":"b@example.com","publicMetadata":') + 31
    assert f"row 2, line 2, byte offset {offset}: nested deeper than 32 levels" in line


@pytest.mark.parametrize("levels, refused", [(30, False), (31, True)])
def test_the_depth_limit_is_exact(tmp_path, levels, refused):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([dict(OK, publicMetadata={"a": json.loads("[" * levels + "]" * levels)})]))
    # the row is level 1, publicMetadata 2, its arrays 3..levels+2: 32 levels fit, 33 do not
    if refused:
        with pytest.raises(ExportError, match="nested deeper than 32 levels"):
            validate_export(path)
    else:
        assert validate_export(path).importable == 1


# ---- not a regular file ------------------------------------------------------------

def test_a_fifo_is_refused_at_once_and_never_opened(tmp_path):
    fifo = tmp_path / "users.json"
    os.mkfifo(fifo)
    # a reader that opened it would wait for a writer forever: the timeout would fire
    proc = subprocess.run([sys.executable, "-m", "console", "validate", str(fifo)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert str(fifo) in line and "named pipe (FIFO)" in line and "Traceback" not in proc.stderr
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    with pytest.raises(ExportError, match="named pipe"):
        open_export(link)


def test_an_accounts_fifo_is_refused_too(tmp_path):
    users = tmp_path / "users.json"
    users.write_text(json.dumps([OK]))
    fifo = tmp_path / "accounts.json"
    os.mkfifo(fifo)
    with pytest.raises(ExportError, match="named pipe"):
        open_export(users, accounts=fifo)
    with pytest.raises(ExportError, match="named pipe"):
        open_accounts(fifo)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_a_device_not_an_empty_file(capsys):
    code, out, err = cli(capsys, "/dev/zero")
    assert code == 2
    assert "/dev/zero: is a character device (like /dev/zero), not a file" in err
    assert "empty" not in err


def test_a_socket_and_a_directory(tmp_path, capsys):
    path = tmp_path / "users.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        code, out, err = cli(capsys, path)
        assert code == 2 and "is a socket, not a file" in err and len(err.strip().splitlines()) == 1
    finally:
        server.close()
    code, out, err = cli(capsys, tmp_path)
    assert code == 2 and "is a directory" in err


# ---- odd ids and repeated keys: the row, not the file ------------------------------------

@pytest.mark.parametrize("layout", ["json", "ndjson"])
def test_a_huge_or_nan_id_refuses_that_row_only(tmp_path, layout):
    rows = [
        '{"id": 18446744073709551616, "email": "big@example.com"}',  # 2^64
        '{"id": NaN, "email": "nan@example.com"}',
        '{"id": ' + "9" * 5000 + ', "email": "digits@example.com"}',  # past Python's 4,300-digit guard
        '{"id": 1.5, "email": "half@example.com"}',
        '{"id": 18446744073709551615, "email": "max@example.com"}',  # 2^64 - 1: an id
        '{"id": "c9", "email": "fine@example.com", "emailVerified": true}',
    ]
    path = tmp_path / f"ids.{layout}"
    path.write_text("[" + ",\n".join(rows) + "]" if layout == "json" else "\n".join(rows) + "\n")
    checked = list(open_export(path).rows())
    codes = [[i.code for i in c.issues if i.severity == "error"] for c in checked]
    assert codes[:4] == [["id_invalid"]] * 4
    assert codes[4:] == [[], []]
    assert checked[4].user.external_id == "18446744073709551615"
    assert "beyond 2^64" in checked[0].issues[0].message and "NaN" in checked[1].issues[0].message


@pytest.mark.parametrize("layout", ["json", "ndjson"])
def test_a_key_twice_in_a_row_refuses_the_row_as_ambiguous(tmp_path, layout):
    rows = [
        '{"id": "c1", "email": "a@example.com", "email": "mallory@example.com", "emailVerified": true}',
        '{"id": "c2", "email": "b@example.com", "publicMetadata": {"role": "user", "role": "admin"}}',
        '{"id": "c3", "email": "mallory@example.com", "emailVerified": true}',
    ]
    path = tmp_path / f"dups.{layout}"
    path.write_text("[" + ",".join(rows) + "]" if layout == "json" else "\n".join(rows) + "\n")
    c1, c2, c3 = list(open_export(path).rows())
    assert [i.code for i in c1.issues] == ["duplicate_key"] and not c1.importable
    assert c1.issues[0].field == "email" and "ambiguous" in c1.issues[0].message
    assert [i.code for i in c2.issues] == ["duplicate_key"] and '"role"' in c2.issues[0].message
    assert c3.importable  # the ambiguous row claimed no email


def test_repeated_keys_are_found_wherever_the_text_puts_them(tmp_path):
    # whitespace before the colon, escapes, an object inside a list
    rows = [
        '{"id": "c1", "email" : "a@example.com", "email"\n: "b@example.com"}',
        '{"id": "c2", "em\\u0061il": "a@example.com", "email": "c@example.com"}',
        '{"id": "c3", "email": "d@example.com", "accounts": [{"provider": "github", "provider": "google"}]}',
        '{"id": "c4", "email": "e@example.com", "name": "\\"email\\": x"}',
    ]
    path = tmp_path / "dups.json"
    path.write_text("[" + ",".join(rows) + "]")
    checked = list(open_export(path).rows())
    assert [bool(c.issues and c.issues[0].code == "duplicate_key") for c in checked] == [True, True, True, False]


# ---- CSV line ends ---------------------------------------------------------------------

def test_a_bare_cr_csv_is_read(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"id,name,email\r1,Ada Lovelace,ada@example.com\r2,\"Hopper, Grace\",grace@example.com\r")
    report = validate_export(path)
    assert (report.rows, report.importable) == (2, 2)
    users = [c.user for c in open_export(path).rows()]
    assert [u.email for u in users] == ["ada@example.com", "grace@example.com"]


def test_a_stray_carriage_return_is_said_in_our_words(tmp_path, capsys):
    path = tmp_path / "stray.csv"
    path.write_bytes(b"id,name,email\n1,Ada\rLovelace,ada@example.com\n")
    code, out, err = cli(capsys, path)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "carriage return inside an unquoted value" in err
    assert "universal-newline" not in err and "do you need" not in err
