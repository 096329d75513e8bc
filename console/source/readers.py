"""Reading exports: format detection, streaming rows, and one-line errors.

Formats are detected from the content (the first non-whitespace byte after an
optional UTF-8 BOM): `[` a JSON array, `{` NDJSON (one object per line),
anything else CSV with a header row. `fmt=` overrides. Rows stream: JSON
arrays through a bounded text window and the standard library's C decoder
(`jsonrows`: depth limit, repeated keys, MongoDB Extended JSON), NDJSON line by
line, CSV through the csv module; nothing holds the whole file. Only regular
files are opened (a FIFO, a device or a socket is refused before any open).

Every byte goes through `_Tap`, which counts it (progress), hashes it (the
run's sha256), and checks it is UTF-8 and not binary, so that a Latin-1 or
binary file fails with the exact byte offset of the first bad byte.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from console.source import jsonrows
from console.source.checks import RowChecker, Stats
from console.source.jsonrows import MAX_DEPTH, TooDeep
from console.source.model import CheckedRow, Issue, Policies
from console.source.shapes import ALIASES, Shape, detect_shape, has_any

if TYPE_CHECKING:
    from console.source.accounts import AccountsIndex

Format = Literal["json", "ndjson", "csv"]
FORMATS: tuple[str, ...] = ("json", "ndjson", "csv")

CHUNK = 64 * 1024
MAX_LINE = 8 * 1024 * 1024  # one NDJSON / CSV record; a user row is a few hundred bytes
MAX_ITEM = jsonrows.MAX_ITEM  # one JSON array item
BOM = b"\xef\xbb\xbf"
# a CSV value may be as long as a line (the csv module's default stops at 128 KiB)
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE))


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
        self._sha = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending = 0
        self.text: str | None = None  # the last piece decoded, when it had to be (not plain ASCII)
        head = fileobj.read(3)
        if head == BOM:
            self._account(head)
            self.skipped, self._prefix = 3, b""
        else:  # counted and checked with the first read
            self.skipped, self._prefix = 0, head

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        elif size == 0:
            return b""
        if self._prefix:
            prefix, self._prefix = self._prefix, b""
            data = prefix + (self._f.read(size - len(prefix)) if size > len(prefix) else b"")
        else:
            data = self._f.read(size)
        self._account(data)
        return data

    def read_text(self, size: int = -1) -> str:
        """The next piece as text ("" at the end): the bytes are checked and
        decoded once, here."""
        data = self.read(size)
        text = self.text
        return text if text is not None else data.decode("ascii")

    def text_end(self) -> int:
        """The byte offset just after the last character read_text returned."""
        return self.bytes_read - self._pending

    def _account(self, data: bytes) -> None:
        start = self.bytes_read
        if not data:
            self.text = None
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
                self.text = self._decoder.decode(data)
            except UnicodeDecodeError as exc:
                offset = start - self._pending + exc.start
                raise ExportError(_not_utf8(self.path, data, exc.start, offset)) from None
            self._pending = len(self._decoder.getstate()[0])
        else:
            self.text = None
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


_NOT_A_FILE = (
    (stat.S_ISFIFO, "a named pipe (FIFO), not a file: reading it could wait forever"),
    (stat.S_ISCHR, "a character device (like /dev/zero), not a file"),
    (stat.S_ISBLK, "a block device, not a file"),
    (stat.S_ISSOCK, "a socket, not a file"),
)


def _not_regular(path: Path, mode: int) -> ExportError:
    if stat.S_ISDIR(mode):
        return ExportError(f"{path}: is a directory: expected an export file (JSON array, NDJSON or CSV)")
    what = next((words for test, words in _NOT_A_FILE if test(mode)), "not a regular file")
    return ExportError(f"{path}: is {what}; expected an export saved as a regular file (JSON array, "
                       "NDJSON or CSV)")


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, or raise ExportError. Never blocks: a
    FIFO is refused by its stat before any open, and the open itself is
    non-blocking and checked again on the descriptor (in case the path was
    swapped in between)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file: expected an export file (JSON array, NDJSON or CSV)") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_path(path: Path) -> int:
    """The file's size, or an ExportError for missing / directory / not a
    regular file (FIFO, device, socket) / unreadable / empty."""
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            f.read(1)
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise ExportError(f"{path}: the file is empty: expected users as a JSON array, NDJSON or CSV")
    return size


def sniff_format(path: Path, fmt: str | None = None) -> Format:
    """The format from the content (or checks the forced one against it)."""
    with open_regular(path) as f:
        raw = f.read(CHUNK)
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise ExportError(f"{path}: byte offset 0: {what}; expected a JSON array, NDJSON or CSV export")
    with open_regular(path) as f:
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
    try:
        yield from jsonrows.array_records(tap)
    except jsonrows.JsonArrayError as exc:
        raise locate_json_error(path, exc.rows_ok) from None
    except jsonrows.TooDeepAt as exc:
        raise too_deep(path, row=exc.row, offset=exc.offset, line=line_at(path, exc.offset)) from None
    except jsonrows.NotAnObject as exc:
        raise ExportError(
            f"{_where(path, row=exc.row)}a JSON {exc.kind}: expected a JSON object (one user)"
        ) from None
    except jsonrows.ItemTooLong as exc:
        raise ExportError(
            f"{_where(path, row=exc.row, line=line_at(path, exc.offset), offset=exc.offset)}one item is "
            f"longer than {MAX_ITEM >> 20} MiB: expected one user per array item"
        ) from None


def line_at(path: Path, offset: int) -> int:
    """The 1-based line holding byte `offset` (counted again from the start:
    only ever for a message)."""
    lines = 1
    with open_regular(path) as f:
        left = offset
        while left > 0:
            piece = f.read(min(left, 1 << 20))
            if not piece:
                break
            lines += piece.count(b"\n")
            left -= len(piece)
    return lines


def too_deep(path: Path, *, row: int, offset: int | None = None, line: int | None = None) -> ExportError:
    return ExportError(
        f"{_where(path, row=row, line=line, offset=offset)}nested deeper than {MAX_DEPTH} levels: "
        "expected a flat user object (a file built to exhaust memory is refused whole)"
    )


_kind = jsonrows._kind


_WS = re.compile(r"[ \t\n\r]*")


def locate_json_error(path: Path, rows_ok: int, exc: Exception | None = None) -> ExportError:
    """The exact byte offset (and line) and cause of a JSON array error.

    The streaming reader stops at the first item it cannot read; this rescans
    the file with the standard library's decoder (only ever on the error path),
    one item at a time in a bounded window, to say exactly where and why."""
    decoder = json.JSONDecoder(parse_int=jsonrows._huge_int)
    with open_regular(path) as f:
        reader = codecs.getreader("utf-8")(f, errors="strict")
        state = {"buf": "", "base": 0, "eof": False, "size": 1 << 20, "lines": 0}

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
            line = state["lines"] + state["buf"].count("\n", 0, pos) + 1
            return ExportError(f"{_where(path, row=row, line=line, offset=byte_at(pos))}{what}")

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
                except RecursionError:
                    return too_deep(path, row=row + 1, offset=byte_at(jsonrows.deep_offset(buf, pos)))
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
                    state["lines"] += state["buf"].count("\n", 0, pos)
                    state["base"] = byte_at(pos)
                    state["buf"] = state["buf"][pos:]
                    pos = 0
        buf = state["buf"]
        if pos < len(buf):
            return fail(pos, None, "data after the array's closing ']': expected the end of the file")
    first_line = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else "invalid JSON"
    return ExportError(f"{_where(path, row=rows_ok + 1)}invalid JSON ({first_line}): expected an array of user objects")


# ---- lines (NDJSON and CSV) -----------------------------------------------

def _lines(tap: _Tap, path: Path, limit: int = MAX_LINE, sep: bytes = b"\n") -> Iterator[tuple[int, bytes]]:
    """(byte offset, line without its newline), never more than `limit` bytes
    held. `sep` is the line end (b"\r" for a file of bare carriage returns)."""
    pieces: list[bytes] = []
    held = 0
    offset = tap.skipped
    line_no = 0
    read = tap.read
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        nl = chunk.find(sep)
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
        parts = chunk[nl + 1:].split(sep)
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
    decode_line = jsonrows.decode_line
    for offset, line in _lines(tap, path):
        line_no += 1
        if not line or line.isspace():
            continue
        row += 1
        text = line.decode("utf-8")  # the tap has checked it is UTF-8
        try:
            obj = decode_line(text)
        except TooDeep:
            at = offset + len(text[: jsonrows.deep_offset(text, len(text) - len(text.lstrip()))].encode("utf-8"))
            raise too_deep(path, row=row, line=line_no, offset=at) from None
        except ValueError as exc:
            doc = getattr(exc, "doc", "") or ""
            pos = getattr(exc, "pos", 0) or 0
            at = offset + len(doc[:pos].encode("utf-8"))
            msg = getattr(exc, "msg", str(exc))
            if row == 1 and len(doc.rstrip()) - pos <= 1:
                raise ExportError(
                    f"{_where(path, line=line_no, offset=offset)}a JSON object that spans several lines: "
                    "expected an array of users ([{…}, …]) or one JSON object per line (NDJSON; "
                    "`mongoexport --pretty` writes neither: export without --pretty)"
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

class _Peeked:
    """The tap, with its first piece already read (to see the line ends)."""

    def __init__(self, tap: _Tap, head: bytes) -> None:
        self._tap, self._head, self.skipped = tap, head, tap.skipped

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._tap.read(size)


def _line_end(head: bytes) -> bytes:
    """b"\r" when the first line ends with a bare carriage return (classic Mac
    and some spreadsheet exports), else b"\n" (\r\n is read as \n)."""
    cr = head.find(b"\r")
    if cr < 0:
        return b"\n"
    nl = head.find(b"\n")
    if (nl < 0 or cr < nl) and head[cr + 1:cr + 2] != b"\n" and cr + 1 < len(head):
        return b"\r"
    return b"\n"


def _csv_words(exc: csv.Error) -> str:
    """A csv module error in the project's words (no Python hints)."""
    text = str(exc)
    if "new-line character" in text:
        return ("a carriage return inside an unquoted value: expected lines ending in \\n or \\r\\n, or "
                "the value quoted")
    if "field larger than field limit" in text:
        return f"a value longer than {MAX_LINE >> 20} MiB: expected one user per record"
    if "unexpected end of data" in text:
        return "the file ends inside a quoted value: a missing closing quote?"
    return f"not a readable CSV record ({text.split(' - ')[0]})"


def _open_csv(tap: _Tap, path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    head = tap.read(CHUNK)
    lines = _lines(_Peeked(tap, head), path, sep=_line_end(head))  # type: ignore[arg-type]
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
        raise ExportError(f"{_where(path, line=1)}the CSV header is not readable: {_csv_words(exc)}") from None
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
                f"{_where(path, row=row + 1, line=reader.line_num)}{_csv_words(exc)}"
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
    (each call reads the file again from the start). With an accounts file,
    `accounts` is its join (read once, at open) and `accounts_sha256` its hash
    (the run records it and checks it on resume, like `sha256`)."""

    def __init__(self, path: Path, fmt: Format, shape: Shape, size_bytes: int,
                 accounts: AccountsIndex | None = None) -> None:
        self.path = path
        self.format: Format = fmt
        self._shape = shape
        self.shape = shape.name
        self.columns: list[str] = list(shape.columns)
        self.size_bytes = size_bytes
        self.accounts = accounts
        self.file_issues: list[Issue] = []
        self.sha256 = ""
        self.stats = Stats()
        self._tap: _Tap | None = None
        self._done_bytes = 0

    @property
    def accounts_path(self) -> Path | None:
        return self.accounts.path if self.accounts is not None else None

    @property
    def accounts_sha256(self) -> str | None:
        return self.accounts.sha256 if self.accounts is not None else None

    @property
    def bytes_read(self) -> int:
        tap = self._tap
        return tap.bytes_read if tap is not None else self._done_bytes

    def rows(self, policies: Policies = Policies(), *, wanted: Callable[[int], bool] | None = None,
             duplicates: bool = True) -> Iterator[CheckedRow]:
        """Every row, checked, in file order. For a run's export, already checked at load
        (the engine's resume and verify; issue 17): `wanted(row)` false -> the row is read
        and skipped, unchecked; duplicates=False -> no cross-row duplicate checks, so no set
        of every id and email is held (~300 MB at 1M rows). Neither changes a row's
        SourceUser (the cross-row checks only add refusals)."""
        checker = RowChecker(self._shape, policies, self.accounts)
        if not duplicates:
            checker.forget_duplicates()
        self.file_issues = []
        self.sha256 = ""
        self.stats = checker.stats
        with open_regular(self.path) as f:
            tap = _Tap(f, self.path)
            self._tap = tap
            try:
                _header, records = _records(self.format, tap, self.path)
                check = checker.check
                for row, obj in records:
                    if wanted is None or wanted(row):
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
                mapping: dict[str, str] | None = None,
                accounts: str | Path | AccountsIndex | None = None) -> ExportReader:
    """Open an export: checks the path, detects the format (or checks `fmt`),
    reads the first row to detect the shape; with `accounts` (an Auth.js
    accounts export, any format, or an AccountsIndex already read) reads the
    accounts join. Raises ExportError."""
    path = Path(path)
    size = check_path(path)
    format_ = sniff_format(path, fmt)
    with open_regular(path) as f:
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
    index = None
    if accounts is not None:
        from console.source.accounts import AccountsIndex, open_accounts

        index = accounts if isinstance(accounts, AccountsIndex) else open_accounts(accounts)
    return ExportReader(path, format_, shape, size, index)


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
    has_email = has_any(shape, "email") or "username" in mapping or "phone_number" in mapping
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
        f"{_where(path, row=1)}no id or email field (keys: "
        f"{', '.join(k for k in first if type(k) is str) or 'none'}): "
        "expected an Auth.js users export; use --map id=COLUMN --map email=COLUMN"
    )
