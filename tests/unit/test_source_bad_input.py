"""The bad-input corpus: each unreadable file gets ONE line (file, row or byte
offset, what was expected) and exit 2, never a traceback.

Small cases live in tests/data/bad/ (see its README.md); the big ones (50 MB
single lines) are generated here in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from console.cli import main
from console.source import ExportError, open_export, validate_export

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"

# file -> words the one line must contain (besides the path)
CORPUS = {
    "truncated.json": ["row 2", "byte offset 37", "truncated", "expected"],
    "truncated_after_comma.json": ["row 2", "byte offset 44", "truncated", "expected a user object or ']'"],
    "truncated_utf8.json": ["byte offset 23", "multi-byte UTF-8", "expected UTF-8"],
    "top_level_object.json": ["byte offset 0", "expected an array of users"],
    "top_level_object_one_line.json": ["row 1", "'users'", "expected an array of users"],
    "object_without_users.json": ["row 1", "no id or email", "expected"],
    "binary_garbage.bin": ["byte offset 0", "not UTF-8", "binary", "expected a text export"],
    "image.png": ["byte offset 0", "binary", "expected"],
    "latin1.csv": ["byte offset 52", "0xe9", "Latin-1", "UTF-8"],
    "latin1.json": ["byte offset 24", "0xe7", "Latin-1"],
    "utf16.json": ["byte offset 0", "UTF-16", "expected"],
    "csv_without_needed_columns.csv": ["line 1", "no id and no email column", "--map"],
    "csv_without_email_column.csv": ["line 1", "no email column", "found: id, name"],
    "csv_repeated_column.csv": ["line 1", "repeats the column 'email'"],
    "empty.json": ["empty", "expected"],
    "whitespace_only.csv": ["only whitespace", "expected"],
    "export.json.gz": ["byte offset 0", "gzip", "expected"],
    "sqlite.db": ["byte offset 0", "SQLite", "export-db"],
    "trailing_garbage.json": ["byte offset 38", "after the array's closing ']'", "expected the end"],
    "trailing_comma.json": ["row 2", "byte offset 37", "trailing comma"],
    "missing_comma.json": ["row 2", "byte offset 38", "expected ',' or ']'"],
    "array_of_numbers.json": ["row 1", "a JSON number", "expected a JSON object"],
    "bad_ndjson_line.ndjson": ["row 2", "line 2", "byte offset 56", "expected one JSON object per line"],
    "ndjson_array_line.ndjson": ["row 2", "line 2", "a JSON array", "expected"],
}


def test_the_corpus_is_complete():
    assert sorted(p.name for p in BAD.iterdir() if p.name != "README.md") == sorted(CORPUS)
    readme = (BAD / "README.md").read_text()
    for name in CORPUS:
        assert name in readme


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, path: Path, words: list[str]) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("clerk-migrate: ") and "Traceback" not in err
    assert str(path) in line
    for word in words:
        assert word in line, (word, line)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_exit_2_one_line(capsys, name):
    path = BAD / name
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert out == ""
    assert_one_line(err, path, CORPUS[name])


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_api_raises_export_error(name):
    with pytest.raises(ExportError) as info:
        validate_export(BAD / name)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["truncated.json", "latin1.csv"])
def test_json_mode_prints_nothing_on_stdout(capsys, name):
    code, out, err = run_cli(capsys, str(BAD / name), "--json")
    assert code == 2 and out == ""


def test_missing_file(capsys, tmp_path):
    path = tmp_path / "nope.json"
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert_one_line(err, path, ["no such file", "expected"])


def test_directory(capsys, tmp_path):
    code, out, err = run_cli(capsys, str(tmp_path))
    assert code == 2
    assert_one_line(err, tmp_path, ["is a directory", "expected"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(capsys, tmp_path):
    path = tmp_path / "locked.json"
    path.write_text("[]")
    path.chmod(0)
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert_one_line(err, path, ["cannot read"])


FIFTY_MB = 50 * 1024 * 1024


def test_50mb_single_line_without_newline(capsys, tmp_path):
    path = tmp_path / "one-line.csv"
    with open(path, "wb") as f:
        f.write(b"x" * FIFTY_MB)
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert_one_line(err, path, ["line 1", "byte offset 0", "longer than 8 MiB", "expected one user per line"])


def test_50mb_ndjson_line(capsys, tmp_path):
    path = tmp_path / "huge.ndjson"
    with open(path, "wb") as f:
        f.write(b'{"id":"c1","email":"a@example.com"}\n{"id":"c2","name":"')
        f.write(b"a" * FIFTY_MB)
        f.write(b'"}\n')
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert_one_line(err, path, ["line 2", "byte offset 36", "longer than 8 MiB"])


def test_50mb_single_line_of_garbage_in_an_array(capsys, tmp_path):
    path = tmp_path / "garbage.json"
    with open(path, "wb") as f:
        f.write(b"[" + b"z" * FIFTY_MB)
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert_one_line(err, path, ["row 1", "byte offset 1", "invalid JSON"])


def test_50mb_json_array_on_one_line_is_fine(tmp_path):
    """Not bad input: a minified array is one line too, and streams."""
    path = tmp_path / "minified.json"
    row = {"id": "c", "name": "A B", "email": "a@example.com", "emailVerified": "2024-01-01T00:00:00.000Z"}
    n = 0
    with open(path, "w") as f:
        f.write("[")
        first = True
        while f.tell() < FIFTY_MB // 10:  # 5 MB is enough to show it; the reader never splits lines here
            r = dict(row, id=f"c{n}", email=f"u{n}@example.com")
            f.write(("" if first else ",") + json.dumps(r, separators=(",", ":")))
            first = False
            n += 1
        f.write("]")
    report = validate_export(path)
    assert report.rows == n and report.refused == 0


def test_a_50mb_string_inside_a_json_array_row(tmp_path):
    path = tmp_path / "big-name.json"
    with open(path, "wb") as f:
        f.write(b'[{"id":"c1","email":"a@example.com","name":"')
        f.write(b"a" * FIFTY_MB)
        f.write(b' b"}]')
    report = validate_export(path)
    assert report.rows == 1 and report.refused == 0
    assert ("name_too_long", "warning") in report.by_code


def test_latin1_in_the_middle_of_a_big_file(tmp_path):
    path = tmp_path / "late.ndjson"
    with open(path, "wb") as f:
        for i in range(20000):
            f.write(b'{"id":"c%d","email":"u%d@example.com"}\n' % (i, i))
        offset = f.tell() + len(b'{"id":"x","name":"Jos')
        f.write(b'{"id":"x","name":"Jos\xe9","email":"j@example.com"}\n')
    with pytest.raises(ExportError, match=f"byte offset {offset}: byte 0xe9 is not UTF-8"):
        validate_export(path)


def test_nul_bytes(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,email\n1,a@example.com\n\x00\x00\x00")
    with pytest.raises(ExportError, match="byte offset 25: a NUL byte"):
        validate_export(path)


def test_truncated_big_array_reports_the_last_row(tmp_path):
    path = tmp_path / "cut.json"
    rows = [{"id": f"c{i}", "email": f"u{i}@example.com"} for i in range(5000)]
    data = json.dumps(rows).encode()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(ExportError, match=r"row 5000, line 1, byte offset \d+: the file ends inside this user object"):
        validate_export(path)


def test_open_export_fails_early_for_unreadable_files():
    with pytest.raises(ExportError):
        open_export(BAD / "latin1.csv")
    with pytest.raises(ExportError):
        open_export(BAD / "top_level_object.json")
