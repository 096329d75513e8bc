"""Formats, shapes, streaming, progress and the file hash of console.source."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from console.sandbox.samples import write_sample_export
from console.source import ExportError, Policies, open_export, validate_export
from console.source.readers import sniff_format

ROWS = [
    {"id": "cl1", "name": "Ada Lovelace", "email": "ada@example.com",
     "emailVerified": "2023-01-02T03:04:05.000Z", "image": None,
     "createdAt": "2022-01-02T03:04:05.678Z", "providers": ["github"]},
    {"id": "cl2", "name": "Grace Hopper", "email": "grace@example.com", "emailVerified": None,
     "image": "https://example.com/g.png", "createdAt": "2022-02-02T00:00:00.000Z",
     "password": "$2b$10$" + "a" * 53, "providers": []},
]


def write_json(path: Path, rows, *, bom: bool = False, indent=None) -> Path:
    data = json.dumps(rows, indent=indent).encode()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_ndjson(path: Path, rows, *, bom: bool = False) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_csv(path: Path, rows, *, delimiter=",", bom: bool = False) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(columns)
        for r in rows:
            w.writerow([";".join(v) if isinstance(v, list) else ("" if v is None else v)
                        for v in (r.get(c) for c in columns)])
    return path


def users(path: Path, **kw):
    return [c.user for c in open_export(path, **kw).rows()]


# ---- formats --------------------------------------------------------------

@pytest.mark.parametrize("bom", [False, True])
def test_json_ndjson_and_csv_give_the_same_users(tmp_path, bom):
    a = users(write_json(tmp_path / "u.json", ROWS, bom=bom))
    b = users(write_ndjson(tmp_path / "u.ndjson", ROWS, bom=bom))
    c = users(write_csv(tmp_path / "u.csv", ROWS, bom=bom))
    assert a == b == c
    assert a[0].external_id == "cl1" and a[0].first_name == "Ada" and a[0].last_name == "Lovelace"
    assert a[0].email_verified is True and a[1].email_verified is None
    assert a[0].providers == ("github",)
    assert a[1].password_hasher == "bcrypt" and a[1].image == "https://example.com/g.png"
    assert a[0].created_at == "2022-01-02T03:04:05.678Z"


def test_format_is_detected_from_content_not_extension(tmp_path):
    assert sniff_format(write_json(tmp_path / "a.csv", ROWS)) == "json"
    assert sniff_format(write_ndjson(tmp_path / "b.json", ROWS)) == "ndjson"
    assert sniff_format(write_csv(tmp_path / "c.json", ROWS)) == "csv"
    pretty = write_json(tmp_path / "d.txt", ROWS, indent=2)
    pretty.write_text("\n\n   " + pretty.read_text())
    assert sniff_format(pretty) == "json"
    assert open_export(pretty).format == "json"


def test_pretty_printed_array_and_single_line_array(tmp_path):
    assert len(users(write_json(tmp_path / "p.json", ROWS, indent=4))) == 2
    assert len(users(write_json(tmp_path / "s.json", ROWS * 500))) == 1000


def test_format_override(tmp_path):
    path = write_ndjson(tmp_path / "u.data", ROWS)
    assert open_export(path, fmt="ndjson").format == "ndjson"
    with pytest.raises(ExportError, match="expected an array of users"):
        open_export(path, fmt="json")
    with pytest.raises(ExportError, match="no id"):
        open_export(path, fmt="csv")  # a JSON line read as a CSV header
    with pytest.raises(ExportError, match="unknown format"):
        open_export(path, fmt="xml")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters(tmp_path, delimiter):
    got = users(write_csv(tmp_path / "u.csv", ROWS, delimiter=delimiter))
    assert [u.email for u in got] == ["ada@example.com", "grace@example.com"]


def test_csv_quoted_newlines_and_blank_lines(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text('id,name,email\n\n1,"Ada\nLovelace",ada@example.com\n\n2,"Smith, John",j@example.com\n')
    got = users(path)
    assert [(u.row, u.first_name, u.last_name) for u in got] == [(1, "Ada", "Lovelace"), (2, "Smith,", "John")]


def test_csv_row_with_extra_fields_is_refused_not_shifted(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("id,name,email\n1,Ada,ada@example.com\n2,Smith, John,j@example.com\n3,Bo\n")
    rows = list(open_export(path).rows())
    assert rows[0].importable
    assert [i.code for i in rows[1].issues] == ["row_malformed"]
    assert "4 fields where the header has 3" in rows[1].issues[0].message
    assert rows[2].user.email is None and "missing_identifier" in [i.code for i in rows[2].issues]


def test_empty_array_is_zero_rows(tmp_path):
    path = tmp_path / "e.json"
    path.write_text("[ ]\n")
    report = validate_export(path)
    assert (report.rows, report.importable, report.refused, report.issues) == (0, 0, 0, [])


def test_csv_with_header_only(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,email\n")
    assert validate_export(path).rows == 0


# ---- shapes ---------------------------------------------------------------

def test_prisma_shape(tmp_path):
    reader = open_export(write_json(tmp_path / "u.json", ROWS))
    assert reader.shape == "prisma"
    assert reader.columns == list(ROWS[0])


def test_pg_shape_integer_ids(tmp_path):
    rows = [{"id": 1, "name": "Ada L", "email": "ada@example.com", "emailVerified": None, "image": None},
            {"id": 2, "name": None, "email": "b@example.com", "emailVerified": "2024-01-01T00:00:00Z",
             "image": None}]
    path = write_json(tmp_path / "pg.json", rows)
    reader = open_export(path)
    assert reader.shape == "pg"
    got = [c.user for c in reader.rows()]
    assert [u.external_id for u in got] == ["1", "2"]
    assert got[1].email_verified is True


def test_pg_shape_older_email_verified_column_in_csv(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("id,name,email,email_verified,image\n7,Ada,ada@example.com,2024-05-01 10:00:00,\n")
    reader = open_export(path)
    assert reader.shape == "pg"
    (row,) = list(reader.rows())
    assert row.user.external_id == "7" and row.user.email_verified is True


def test_clerk_script_shape(tmp_path):
    rows = [{"userId": "u1", "email": "a@example.com", "firstName": "Ada", "lastName": "Lovelace",
             "password": "5f4dcc3b5aa765d61d8327deb882cf99", "passwordHasher": "md5"}]
    reader = open_export(write_json(tmp_path / "c.json", rows))
    assert reader.shape == "clerk_script"
    (row,) = list(reader.rows())
    u = row.user
    assert (u.external_id, u.first_name, u.last_name) == ("u1", "Ada", "Lovelace")
    assert (u.password_digest, u.password_hasher) == (rows[0]["password"], "md5")
    # the clerk script format carries no verification flag
    assert row.issues and row.issues[0].code == "email_unverified"


def test_mapped_shape(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("uid,user_email,full_name,verified_at,pw\nx1,a@example.com,Ada Lovelace,2024-01-01,"
                    "$2b$12$" + "b" * 53 + "\n")
    mapping = {"id": "uid", "email": "user_email", "name": "full_name",
               "email_verified": "verified_at", "password": "pw"}
    reader = open_export(path, mapping=mapping)
    assert reader.shape == "mapped"
    (row,) = list(reader.rows())
    assert row.importable and not row.issues
    assert (row.user.external_id, row.user.email, row.user.first_name) == ("x1", "a@example.com", "Ada")
    assert row.user.password_hasher == "bcrypt"


def test_mapping_errors(tmp_path):
    path = write_csv(tmp_path / "u.csv", ROWS)
    with pytest.raises(ExportError, match="unknown field 'mail'"):
        open_export(path, mapping={"mail": "email"})
    with pytest.raises(ExportError, match="no column 'user_email' in the header"):
        open_export(path, mapping={"email": "user_email"})


def test_username_only_through_mapping(tmp_path):
    rows = [{"id": "1", "username": "ada_l"}]
    path = write_json(tmp_path / "u.json", rows)
    (row,) = list(open_export(path).rows())
    assert [i.code for i in row.issues] == ["missing_identifier"]
    (row,) = list(open_export(path, mapping={"username": "username"}).rows())
    assert row.importable and row.user.username == "ada_l"


def test_unknown_columns_reported_once(tmp_path):
    rows = [dict(ROWS[0], role="admin"), dict(ROWS[1], updatedAt="2024-01-01", role="user")]
    reader = open_export(write_json(tmp_path / "u.json", rows))
    checked = list(reader.rows())
    assert all(i.code != "unknown_column" for c in checked for i in c.issues)
    unknown = [i for i in reader.file_issues if i.code == "unknown_column"]
    assert [i.field for i in unknown] == ["role", "updatedAt"]
    assert all(i.row == 0 and i.severity == "warning" for i in unknown)
    assert unknown[0].message == "column role is not imported: --map public_metadata.role=role keeps it"


def test_alias_columns(tmp_path):
    rows = [{"id": "1", "email": "a@example.com", "hashedPassword": "$2a$10$" + "c" * 53,
             "created_at": 1700000000, "email_verified": True, "accounts": [{"provider": "google"}]}]
    (row,) = list(open_export(write_json(tmp_path / "u.json", rows)).rows())
    u = row.user
    assert u.password_hasher == "bcrypt" and u.created_at == "2023-11-14T22:13:20.000Z"
    assert u.email_verified is True and u.providers == ("google",)


# ---- streaming, progress, hash ---------------------------------------------

def test_bytes_read_and_sha256(tmp_path):
    path = write_sample_export(tmp_path / "s.json", n=2000)
    reader = open_export(path)
    assert reader.size_bytes == path.stat().st_size
    seen = []
    for i, _ in enumerate(reader.rows()):
        if i % 500 == 0:
            seen.append(reader.bytes_read)
    assert seen == sorted(seen) and seen[-1] < reader.size_bytes
    assert reader.bytes_read == reader.size_bytes
    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_rows_can_be_read_twice(tmp_path):
    path = write_sample_export(tmp_path / "s.ndjson", n=300, fmt="ndjson")
    reader = open_export(path)
    first = list(reader.rows())
    second = list(reader.rows())
    assert [c.user for c in first] == [c.user for c in second]
    assert [c.issues for c in first] == [c.issues for c in second]


def test_progress_callback(tmp_path, monkeypatch):
    path = write_sample_export(tmp_path / "s.json", n=3000)
    calls = []
    report = validate_export(path, on_progress=lambda *a: calls.append(a))
    assert calls and calls[-1] == (3000, path.stat().st_size, path.stat().st_size)
    assert report.rows == 3000


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_sample_export_same_report_in_every_format(tmp_path, fmt):
    base = validate_export(write_sample_export(tmp_path / "s.json", n=1500))
    other = validate_export(write_sample_export(tmp_path / f"s.{fmt}", n=1500, fmt=fmt))
    assert (other.rows, other.importable, other.refused, other.warned) == (
        base.rows, base.importable, base.refused, base.warned)
    assert other.by_code == base.by_code
    assert [i.as_dict() for i in other.issues] == [i.as_dict() for i in base.issues]


def test_reader_does_not_hold_the_file(tmp_path):
    """Streaming: memory does not grow with the number of rows read."""
    import tracemalloc

    path = write_sample_export(tmp_path / "s.ndjson", n=8000, fmt="ndjson")
    reader = open_export(path)
    it = reader.rows()
    tracemalloc.start()
    for _ in range(1000):
        next(it)
    base, _ = tracemalloc.get_traced_memory()
    for _ in it:
        pass
    now, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 7k more rows: only the id/email maps grow (~200 bytes a row), never the rows
    assert now - base < 7000 * 600, now - base
    assert path.stat().st_size > 7000 * 200


def test_policies_are_per_pass(tmp_path):
    path = write_json(tmp_path / "u.json", ROWS)
    reader = open_export(path)
    assert all(c.importable for c in reader.rows(Policies()))
    refused = [c for c in reader.rows(Policies(unverified_email="refuse")) if not c.importable]
    assert [c.user.external_id for c in refused] == ["cl2"]


def test_empty_first_and_last_name_columns_fall_back_to_name(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("id,email,name,firstName,lastName\r\n1,a@example.com,Ada Lovelace,,\r\n"
                    "2,b@example.com,Ignored Name,Grace,Hopper\r\n")
    got = users(path)
    assert [(u.first_name, u.last_name) for u in got] == [("Ada", "Lovelace"), ("Grace", "Hopper")]
