"""The Load form's column list: the keys of an export's first record, read as the loader reads
the file (the JSON array through the source's own reader, not a second JSON library)."""

from __future__ import annotations

import json
from pathlib import Path

from console.tui.app import first_record_keys


def test_json_array_first_item(tmp_path: Path):
    path = tmp_path / "users.json"
    path.write_text("\ufeff" + json.dumps([{"id": "1", "email": "a@example.test", "role": "admin"}, {"id": "2"}]))
    assert first_record_keys(path) == ["id", "email", "role"]


def test_mongoexport_array_keys(tmp_path: Path):
    path = tmp_path / "users.json"
    path.write_text('[{"_id": {"$oid": "65a000000000000000000001"}, "email": "a@example.test", "plan": "pro"}]')
    assert first_record_keys(path) == ["_id", "email", "plan"]


def test_ndjson_and_csv(tmp_path: Path):
    nd = tmp_path / "users.ndjson"
    nd.write_text('{"id": "1", "name": "A"}\n{"id": "2"}\n')
    assert first_record_keys(nd) == ["id", "name"]
    csv = tmp_path / "users.csv"
    csv.write_text("id,email,,phone\n1,a@example.test,,\n")
    assert first_record_keys(csv) == ["id", "email", "phone"]


def test_what_cannot_say_gives_nothing(tmp_path: Path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert first_record_keys(empty) == [] and first_record_keys(broken) == []
