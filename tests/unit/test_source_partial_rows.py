"""ExportReader.rows(wanted=, duplicates=False): what the engine's resume and verify read
from a run's export (issue 17): the rows asked for, each with the SourceUser a full pass
gives it, without the cross-row duplicate sets."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from console.source import open_export
from console.source.model import Policies


def _export(path: Path, n: int) -> Path:
    rows = []
    for i in range(1, n + 1):
        rows.append({"id": f"u{i:05d}", "name": f"First{i} Last{i}",
                     "email": f"user{i}@example.test" if i % 50 else "user1@EXAMPLE.test",  # duplicates of row 1
                     "emailVerified": "2023-01-02T03:04:05.000Z", "createdAt": "2022-05-06T07:08:09.000Z"})
    path.write_text(json.dumps(rows))
    return path


def test_wanted_rows_only_with_the_users_a_full_pass_gives(tmp_path):
    export = _export(tmp_path / "users.json", 400)
    full = {c.user.row: c for c in open_export(export).rows(Policies())}
    wanted = {3, 50, 51, 200, 399}
    part = list(open_export(export).rows(Policies(), wanted=wanted.__contains__, duplicates=False))
    assert [c.user.row for c in part] == sorted(wanted)
    for c in part:
        assert c.user == full[c.user.row].user  # the same fields, so the same fingerprint
    # the full pass refuses row 50 as a duplicate of row 1; without the cross-row checks it is not
    assert not full[50].importable and next(c for c in part if c.user.row == 50).importable
    # the cross-row checks only ever add refusals: never a row refused here that a full pass accepts
    assert all(full[c.user.row].importable <= c.importable for c in part)


def test_without_duplicates_nothing_is_held_per_row(tmp_path):
    export = _export(tmp_path / "users.json", 20000)

    def peak(**kw) -> int:
        tracemalloc.start()
        for _ in open_export(export).rows(Policies(), **kw):
            pass
        held = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return held

    assert peak(duplicates=False) < peak() / 2
