"""Reading exports: format detection, streaming rows, and one-line errors.

Formats are detected from the content (the first non-whitespace byte after an
optional UTF-8 BOM): `[` a JSON array, `{` NDJSON (one object per line),
anything else CSV with a header row. `fmt=` overrides. Rows stream: JSON
arrays through ijson (its yajl2_c backend when present), NDJSON line by line,
CSV through the csv module; nothing holds the whole file.

Every byte goes through `_Tap`, which counts it (progress), hashes it (the
run's sha256), and checks it is UTF-8 and not binary, so that a Latin-1 or
binary file fails with the exact byte offset of the first bad byte.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import ijson

from console.source.checks import RowChecker, Stats
from console.source.model import CheckedRow, Issue, Policies
from console.source.shapes import ALIASES, Shape, detect_shape, has_any

Format = Literal["json", "ndjson", "csv"]
FORMATS: tuple[str, ...] = ("json", "ndjson", "csv")

CHUNK = 64 * 1024
MAX_LINE = 8 * 1024 * 1024  # one NDJSON / CSV record; a user row is a few hundred bytes
MAX_ITEM = 64 * 1024 * 1024  # one JSON array item, when locating an error
LONG_ITEM = 1024 * 1024  # past this inside one item, the JSON parser gets bigger reads
BOM = b"\xef\xbb\xbf"

try:  # the C backend is ~10x faster than the pure-Python one
    _ijson = ijson.get_backend("yajl2_c")
except Exception:  # pragma: no cover - depends on the installed wheel
    _ijson = ijson


class ExportError(Exception):
    """Unreadable input. str(e) is one line: file, row or byte offset, what was
    expected."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def _where(path: Path, *, row: int | None = None, offset: int | None = None,
           line: int | None = None) -> str:
    parts = []
    if row is not None:
        parts.append(f"row {row}")
    if line is not None:
        parts.append(f"line {line}")
    if offset is not None:
        parts.append(f"byte offset {offset}")
    return f"{path}: " + (", ".join(parts) + ": " if parts else "")


# ---- the byte stream ------------------------------------------------------

class _Tap:
    """A read-only file wrapper: counts, hashes, checks UTF-8 and NUL bytes,
    and hides a leading BOM from the parsers."""

    def __init__(self, fileobj, path: Path) -> None:
        self._f = fileobj
        self.path = path
        self.bytes_read = 0
        self.mark = 0  # bytes_read when the parser last finished an item
        self._sha = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending = 0
        head = fileobj.read(3)
        self._account(head)
        self.skipped = 3 if head == BOM else 0
        self._prefix = b"" if self.skipped else head

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        elif size == 0:  # ijson probes with read(0) for bytes vs str
            return b""
        if self._prefix:
            prefix, self._prefix = self._prefix, b""
            more = self._f.read(max(size - len(prefix), 0)) if size > len(prefix) else b""
            self._account(more)
            return prefix + more
        if self.bytes_read - self.mark > LONG_ITEM:
            # One item has been going on for more than a MiB (a huge string):
            # yajl's cost grows with the number of reads inside one token, so
            # read bigger pieces until the next item starts (see _json_records).
            size = max(size, LONG_ITEM)
        data = self._f.read(size)
        self._account(data)
        return data

    def _account(self, data: bytes) -> None:
        start = self.bytes_read
        if not data:
            if self._pending:
                raise ExportError(
                    f"{_where(self.path, offset=start - self._pending)}the file ends inside a "
                    "multi-byte UTF-8 character: expected UTF-8 text (truncated file?)"
                )
            return
        self.bytes_read = start + len(data)
        self._sha.update(data)
        if self._pending or not data.isascii():
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError as exc:
                offset = start - self._pending + exc.start
                raise ExportError(_not_utf8(self.path, data, exc.start, offset)) from None
            self._pending = len(self._decoder.getstate()[0])
        nul = data.find(b"\0")
        if nul >= 0:
            raise ExportError(
                f"{_where(self.path, offset=start + nul)}a NUL byte: this is binary data, "
                "expected a text export (JSON array, NDJSON or CSV)"
            )

    def drain(self) -> None:
        """Read (and hash) whatever the parser left unread."""
        while self.read(1 << 20):
            pass
        self._account(b"")

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _not_utf8(path: Path, data: bytes, index: int, offset: int) -> str:
    byte = data[index] if 0 <= index < len(data) else 0
    window = data[max(0, index - 64): index]
    printable = sum(1 for b in window if 32 <= b < 127 or b in (9, 10, 13))
    if window and printable >= 0.9 * len(window):
        what = ("the file looks Latin-1 / Windows-1252 encoded; convert it "
                "(iconv -f latin1 -t utf-8) or re-export as UTF-8")
    else:
        what = "this looks like binary data, expected a text export (JSON array, NDJSON or CSV)"
    return f"{_where(path, offset=offset)}byte 0x{byte:02x} is not UTF-8: {what}"


# ---- detection ------------------------------------------------------------

_MAGIC = (
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive (or a spreadsheet): unzip it, or save the sheet as CSV"),
    (b"SQLite format 3\0", "an SQLite database: use `clerk-migrate export-db --db sqlite:///…`"),
    (b"PGDMP", "a PostgreSQL dump: use `clerk-migrate export-db --db postgresql://…`"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xfe", "UTF-16 text: convert it to UTF-8 (iconv -f utf-16 -t utf-8)"),
    (b"\xfe\xff", "UTF-16 text: convert it to UTF-8 (iconv -f utf-16 -t utf-8)"),
)


def check_path(path: Path) -> int:
    """The file's size, or an ExportError for missing / directory / unreadable / empty."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file: expected an export file (JSON array, NDJSON or CSV)") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise ExportError(f"{path}: is a directory: expected an export file (JSON array, NDJSON or CSV)")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.st_size == 0:
        raise ExportError(f"{path}: the file is empty: expected users as a JSON array, NDJSON or CSV")
    return stat.st_size


def sniff_format(path: Path, fmt: str | None = None) -> Format:
    """The format from the content (or checks the forced one against it)."""
    with open(path, "rb") as f:
        raw = f.read(CHUNK)
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise ExportError(f"{path}: byte offset 0: {what}; expected a JSON array, NDJSON or CSV export")
    with open(path, "rb") as f:
        tap = _Tap(f, path)
        head = tap.read(CHUNK)  # checks UTF-8 / NUL in the head
        while head and head.isspace():  # a file of blank lines then data
            more = tap.read(CHUNK)
            if not more:
                break
            head = head[-1:] + more
        stripped = head.lstrip()
        if not stripped:
            raise ExportError(f"{path}: the file holds only whitespace: expected users as a JSON array, NDJSON or CSV")
        first = stripped[:1]
        offset = tap.bytes_read - len(stripped)
    if fmt is not None:
        if fmt not in FORMATS:
            raise ExportError(f"{path}: unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
        if fmt == "json" and first != b"[":
            if first == b"{":
                raise ExportError(
                    f"{_where(path, offset=offset)}a JSON object: expected an array of users ([{{…}}, …])"
                )
            raise ExportError(f"{_where(path, offset=offset)}found {first!r}: expected a JSON array of users ('[')")
        if fmt == "ndjson" and first != b"{":
            raise ExportError(
                f"{_where(path, offset=offset)}found {first!r}: expected one JSON object per line ('{{')"
            )
        return fmt  # type: ignore[return-value]
    if first == b"[":
        return "json"
    if first == b"{":
        return "ndjson"
    return "csv"


# ---- JSON arrays ----------------------------------------------------------

def _json_records(tap: _Tap, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    row = 0
    try:
        for obj in _ijson.items(tap, "item", use_float=True):
            row += 1
            tap.mark = tap.bytes_read
            if type(obj) is not dict:
                raise ExportError(
                    f"{_where(path, row=row)}a JSON {_kind(obj)}: expected a JSON object (one user)"
                )
            yield row, obj
    except ijson.JSONError as exc:
        raise locate_json_error(path, row, exc) from None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


_WS = re.compile(r"[ \t\n\r]*")


def locate_json_error(path: Path, rows_ok: int, exc: Exception | None = None) -> ExportError:
    """The exact byte offset and cause of a JSON array error.

    ijson says what went wrong but not where; this rescans the file with the
    standard library's decoder (only ever on the error path), one item at a
    time in a bounded window."""
    decoder = json.JSONDecoder()
    with open(path, "rb") as f:
        reader = codecs.getreader("utf-8")(f, errors="strict")
        state = {"buf": "", "base": 0, "eof": False, "size": 1 << 20}

        def more() -> bool:
            chunk = reader.read(state["size"])
            if not chunk:
                state["eof"] = True
                return False
            state["buf"] += chunk
            state["size"] = min(state["size"] * 2, 16 << 20)
            return True

        def byte_at(pos: int) -> int:
            return state["base"] + len(state["buf"][:pos].encode("utf-8"))

        def skip(pos: int) -> int:
            while True:
                pos = _WS.match(state["buf"], pos).end()
                if pos < len(state["buf"]) or state["eof"] or not more():
                    return pos

        def fail(pos: int, row: int | None, what: str) -> ExportError:
            return ExportError(f"{_where(path, row=row, offset=byte_at(pos))}{what}")

        more()
        pos = 0
        if state["buf"].startswith("\ufeff"):
            pos = 1  # the BOM (byte_at counts its 3 bytes)
        pos = skip(pos)
        buf = state["buf"]
        if pos >= len(buf) or buf[pos] != "[":
            return fail(pos, 1, "expected a JSON array of users ('[')")
        pos = skip(pos + 1)
        row = 0
        if pos < len(state["buf"]) and state["buf"][pos] == "]":
            pos = skip(pos + 1)
        else:
            while True:
                buf = state["buf"]
                if pos >= len(buf):
                    return fail(pos, row + 1, "the file ends inside the JSON array (truncated export?): "
                                "expected a user object or ']'")
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as err:
                    near_end = len(buf) - err.pos < 64 or err.msg.startswith("Unterminated string")
                    if near_end and not state["eof"]:
                        if len(buf) - pos > MAX_ITEM:
                            return fail(pos, row + 1, f"one item is longer than {MAX_ITEM >> 20} MiB: "
                                        "expected one user per array item")
                        more()
                        continue
                    if state["eof"] and (len(buf.rstrip()) - err.pos <= 8 or err.msg.startswith("Unterminated")):
                        return fail(pos, row + 1, "the file ends inside this user object (truncated "
                                    "export?): expected the rest of the object, then ',' or ']'")
                    return fail(err.pos, row + 1, f"invalid JSON ({err.msg.lower()}): expected an array "
                                "of user objects")
                row += 1
                if type(obj) is not dict:
                    return fail(pos, row, f"a JSON {_kind(obj)}: expected a JSON object (one user)")
                pos = skip(end)
                buf = state["buf"]
                if pos >= len(buf):
                    return fail(pos, row + 1, "the file ends inside the JSON array (truncated export?): "
                                "expected ',' or ']'")
                if buf[pos] == "]":
                    pos = skip(pos + 1)
                    break
                if buf[pos] != ",":
                    return fail(pos, row + 1, f"found {buf[pos]!r} after row {row}: expected ',' or ']'")
                pos = skip(pos + 1)
                if pos < len(state["buf"]) and state["buf"][pos] == "]":
                    return fail(pos, row + 1, "a comma before ']': JSON allows no trailing comma")
                if pos > (1 << 20):  # keep the window bounded
                    state["base"] = byte_at(pos)
                    state["buf"] = state["buf"][pos:]
                    pos = 0
        buf = state["buf"]
        if pos < len(buf):
            return fail(pos, None, "data after the array's closing ']': expected the end of the file")
    first_line = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else "invalid JSON"
    return ExportError(f"{_where(path, row=rows_ok + 1)}invalid JSON ({first_line}): expected an array of user objects")


# ---- lines (NDJSON and CSV) -----------------------------------------------

def _lines(tap: _Tap, path: Path, limit: int = MAX_LINE) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line without its newline), never more than `limit` bytes held."""
    pieces: list[bytes] = []
    held = 0
    offset = tap.skipped
    line_no = 0
    read = tap.read
    while True:
        tap.mark = tap.bytes_read  # lines need no bigger reads
        chunk = read(CHUNK)
        if not chunk:
            break
        nl = chunk.find(b"\n")
        if nl < 0:
            pieces.append(chunk)
            held += len(chunk)
            if held > limit:
                raise _too_long(path, line_no + 1, offset, limit)
            continue
        if pieces:
            pieces.append(chunk[:nl])
            line = b"".join(pieces)
            pieces = []
        else:
            line = chunk[:nl]
        if len(line) > limit:
            raise _too_long(path, line_no + 1, offset, limit)
        line_no += 1
        yield offset, line
        offset += len(line) + 1
        parts = chunk[nl + 1:].split(b"\n")
        tail = parts.pop()
        for line in parts:
            line_no += 1
            yield offset, line
            offset += len(line) + 1
        held = len(tail)
        if tail:
            pieces = [tail]
    if pieces:
        yield offset, b"".join(pieces)


def _too_long(path: Path, line: int, offset: int, limit: int) -> ExportError:
    return ExportError(
        f"{_where(path, line=line, offset=offset)}a line longer than {limit >> 20} MiB: expected one "
        "user per line (a JSON array, NDJSON or CSV export)"
    )


def _ndjson_records(tap: _Tap, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    row = 0
    line_no = 0
    loads = json.loads
    for offset, line in _lines(tap, path):
        line_no += 1
        if not line or line.isspace():
            continue
        row += 1
        try:
            obj = loads(line)
        except ValueError as exc:
            doc = getattr(exc, "doc", "") or ""
            pos = getattr(exc, "pos", 0) or 0
            at = offset + len(doc[:pos].encode("utf-8"))
            msg = getattr(exc, "msg", str(exc))
            if row == 1 and len(doc.rstrip()) - pos <= 1:
                raise ExportError(
                    f"{_where(path, line=line_no, offset=offset)}a JSON object that spans several lines: "
                    "expected an array of users ([{…}, …]) or one JSON object per line (NDJSON)"
                ) from None
            raise ExportError(
                f"{_where(path, row=row, line=line_no, offset=at)}invalid JSON ({msg.lower()}): "
                "expected one JSON object per line"
            ) from None
        if type(obj) is not dict:
            raise ExportError(
                f"{_where(path, row=row, line=line_no, offset=offset)}a JSON {_kind(obj)}: "
                "expected one JSON object (one user) per line"
            )
        yield row, obj


# ---- CSV ------------------------------------------------------------------

def _open_csv(tap: _Tap, path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    lines = _lines(tap, path)
    first = None
    for _offset, line in lines:
        if line.strip():
            first = line
            break
    if first is None:
        raise ExportError(f"{path}: no header row: expected a CSV header (id,email,…)")
    text = first.decode("utf-8")
    delimiter = max((",", ";", "\t", "|"), key=lambda d: (text.count(d), d == ","))

    def text_lines() -> Iterator[str]:
        yield text + "\n"
        for _off, raw in lines:
            yield raw.decode("utf-8") + "\n"

    reader = csv.reader(text_lines(), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise ExportError(f"{_where(path, line=1)}the CSV header is not readable ({exc})") from None
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            header[i] = name = f"(column {i + 1})"
        if name in seen:
            raise ExportError(f"{_where(path, line=1)}the CSV header repeats the column {name!r}: "
                              "expected each column once")
        seen.add(name)
    width = len(header)

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        row = 0
        try:
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                row += 1
                obj: dict[str, Any] = dict(zip(header, values))
                if len(values) > width:
                    obj[None] = values[width:]  # type: ignore[index]
                yield row, obj
        except csv.Error as exc:
            raise ExportError(
                f"{_where(path, row=row + 1, line=reader.line_num)}not a readable CSV record ({exc})"
            ) from None

    return header, records()


# ---- the reader -----------------------------------------------------------

def _records(fmt: str, tap: _Tap, path: Path) -> tuple[list[str] | None, Iterator[tuple[int, dict[str, Any]]]]:
    if fmt == "json":
        return None, _json_records(tap, path)
    if fmt == "ndjson":
        return None, _ndjson_records(tap, path)
    return _open_csv(tap, path)


class ExportReader:
    """An export file, ready to stream. `rows()` can be called more than once
    (each call reads the file again from the start)."""

    def __init__(self, path: Path, fmt: Format, shape: Shape, size_bytes: int) -> None:
        self.path = path
        self.format: Format = fmt
        self._shape = shape
        self.shape = shape.name
        self.columns: list[str] = list(shape.columns)
        self.size_bytes = size_bytes
        self.file_issues: list[Issue] = []
        self.sha256 = ""
        self.stats = Stats()
        self._tap: _Tap | None = None
        self._done_bytes = 0

    @property
    def bytes_read(self) -> int:
        tap = self._tap
        return tap.bytes_read if tap is not None else self._done_bytes

    def rows(self, policies: Policies = Policies()) -> Iterator[CheckedRow]:
        checker = RowChecker(self._shape, policies)
        self.file_issues = []
        self.sha256 = ""
        self.stats = checker.stats
        with open(self.path, "rb") as f:
            tap = _Tap(f, self.path)
            self._tap = tap
            try:
                _header, records = _records(self.format, tap, self.path)
                check = checker.check
                for row, obj in records:
                    yield check(row, obj)
                tap.drain()
            finally:
                self._done_bytes = tap.bytes_read
                self._tap = None
        self.sha256 = tap.hexdigest()
        self.file_issues = checker.file_issues()

    def __repr__(self) -> str:
        return f"ExportReader({str(self.path)!r}, format={self.format!r}, shape={self.shape!r})"


def open_export(path: str | Path, *, fmt: str | None = None,
                mapping: dict[str, str] | None = None) -> ExportReader:
    """Open an export: checks the path, detects the format (or checks `fmt`),
    reads the first row to detect the shape. Raises ExportError."""
    path = Path(path)
    size = check_path(path)
    format_ = sniff_format(path, fmt)
    with open(path, "rb") as f:
        tap = _Tap(f, path)
        header, records = _records(format_, tap, path)
        first_item = next(records, None)
        records.close()  # type: ignore[attr-defined]
    first = first_item[1] if first_item else None
    try:
        shape = detect_shape(first, mapping=mapping, columns=header)
    except ValueError as exc:
        raise ExportError(f"{path}: {exc}") from None
    if mapping:
        _check_mapped_columns(path, format_, shape, mapping)
    _check_identity_columns(path, format_, shape, first, mapping or {})
    return ExportReader(path, format_, shape, size)


def _check_mapped_columns(path: Path, fmt: str, shape: Shape, mapping: dict[str, str]) -> None:
    if fmt != "csv":
        return  # JSON rows may omit a key the first row lacks
    present = set(shape.columns)
    for name, column in mapping.items():
        if column not in present:
            raise ExportError(
                f"{_where(path, line=1)}--map {name}={column}: no column {column!r} in the header "
                f"(columns: {', '.join(shape.columns)})"
            )


def _check_identity_columns(path: Path, fmt: str, shape: Shape, first: dict[str, Any] | None,
                            mapping: dict[str, str]) -> None:
    if first is None and fmt != "csv":
        return  # an empty array: nothing to check, zero rows
    has_id = has_any(shape, "id")
    has_email = has_any(shape, "email") or "username" in mapping
    if fmt == "csv":
        missing = [what for what, ok in (("id", has_id), ("email", has_email)) if not ok]
        if missing:
            looked = "; ".join(f"{m}: {', '.join(ALIASES[m])}" for m in missing)
            raise ExportError(
                f"{_where(path, line=1)}the CSV header has no {' and no '.join(missing)} column "
                f"(looked for {looked}; found: {', '.join(shape.columns)}): use --map FIELD=COLUMN"
            )
        return
    if has_id or has_email:
        return
    assert first is not None
    for key, value in first.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            raise ExportError(
                f"{_where(path, row=1)}a JSON object whose {key!r} holds a list: expected an array "
                f"of users (extract the {key!r} list, e.g. jq '.{key}')"
            )
    raise ExportError(
        f"{_where(path, row=1)}no id or email field (keys: {', '.join(map(str, first)) or 'none'}): "
        "expected an Auth.js users export; use --map id=COLUMN --map email=COLUMN"
    )
