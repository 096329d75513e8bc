"""JSON rows: arrays streamed through a bounded text window, NDJSON lines,
MongoDB Extended JSON, and the limits that keep a hostile file harmless.

Every object is decoded by the standard library's C decoder with
`object_pairs_hook=tuple` (an object arrives as its (key, value) pairs, an
array as a list), then turned into a dict here, which is where:

- a key that appears twice in one object is noticed (`dict` would let the last
  one win silently): the row gets `DUPLICATE_KEYS` and the checks refuse it as
  ambiguous;
- nesting deeper than `MAX_DEPTH` levels refuses the file with the row and
  byte offset. The decoder itself stops at the interpreter's recursion limit
  (~1,000 levels: a RecursionError, in bounded memory, however deep the file
  goes), and the window holds at most one item, so `[` x 100,000 or a name
  nested 100,000 deep are refused at once in a few MB;
- MongoDB Extended JSON (what `mongoexport` writes, canonical or relaxed) is
  read natively: `{"$oid": h}` -> h, `{"$date": …}` -> RFC 3339 text,
  `{"$numberLong"|"$numberInt": s}` -> int, `{"$numberDouble": s}` -> float,
  `{"$numberDecimal": s}` -> its text, `{"$uuid": s}` -> s.

ijson (yajl) was the JSON array reader before: its `items` builds a prefix
string per level, which made memory grow with the square of the depth (21.8 GB
for `[` x 100,000), and it cannot see duplicate keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

MAX_DEPTH = 32  # levels of nesting in one row (the row object is level 1)
CHUNK = 64 * 1024
MAX_READ = 16 * 1024 * 1024  # the window grows up to this per read for a long item
MAX_ITEM = 64 * 1024 * 1024  # one JSON array item


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


# A key no JSON text can produce: set on a row whose objects repeat a key; its
# value is the tuple of repeated key names.
DUPLICATE_KEYS: Any = _Marker("duplicate keys")


class TooDeep(Exception):
    """Nesting deeper than MAX_DEPTH (raised while building a row)."""


def _huge_int(text: str) -> Any:
    # int() refuses more than 4,300 digits (CPython's guard); such a number is no
    # id and no date: a float infinity, which every check refuses for that row only
    try:
        return int(text)
    except ValueError:
        return float("inf") if text[0] != "-" else float("-inf")


_decode = json.JSONDecoder(object_pairs_hook=tuple)
_decode_huge = json.JSONDecoder(object_pairs_hook=tuple, parse_int=_huge_int)
_WS = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)


# ---- Extended JSON ----------------------------------------------------------

_KEEP = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ms_to_iso(ms: int) -> Any:
    try:
        dt = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return ms
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def _ej_date(inner: Any) -> Any:
    if type(inner) is str:
        return inner  # relaxed: ISO 8601 already (years 1970-9999)
    if type(inner) is tuple and len(inner) == 1 and inner[0][0] == "$numberLong":
        inner = _ej_int(inner[0][1])
    if type(inner) is int:
        return _ms_to_iso(inner)  # canonical, or legacy {"$date": <ms>}
    return _KEEP


def _ej_int(inner: Any) -> Any:
    if type(inner) is str:
        try:
            return int(inner)
        except ValueError:
            return _KEEP
    return _KEEP


def _ej_double(inner: Any) -> Any:
    if type(inner) is str:
        try:
            return float(inner)  # "NaN", "Infinity", "-Infinity" included
        except ValueError:
            return _KEEP
    return _KEEP


def _ej_text(inner: Any) -> Any:
    return inner if type(inner) is str else _KEEP


_EJSON: dict[str, Callable[[Any], Any]] = {
    "$oid": _ej_text,
    "$date": _ej_date,
    "$numberLong": _ej_int,
    "$numberInt": _ej_int,
    "$numberDouble": _ej_double,
    "$numberDecimal": _ej_text,
    "$uuid": _ej_text,
}


# ---- pairs -> dicts -----------------------------------------------------------

def _repeated(pairs: tuple) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in out:
            out.append(key)
        seen.add(key)
    return out


def _nested(value: Any, depth: int, dups: list[str]) -> Any:
    if depth > MAX_DEPTH:
        raise TooDeep()
    if type(value) is tuple:  # an object
        if len(value) == 1:
            key, inner = value[0]
            convert = _EJSON.get(key)
            if convert is not None:
                out = convert(inner)
                if out is not _KEEP:
                    return out
        obj = dict(value)
        if len(obj) != len(value):
            dups.extend(_repeated(value))
        for key, item in obj.items():
            kind = type(item)
            if kind is tuple or kind is list:
                obj[key] = _nested(item, depth + 1, dups)
        return obj
    for i, item in enumerate(value):  # an array
        kind = type(item)
        if kind is tuple or kind is list:
            value[i] = _nested(item, depth + 1, dups)
    return value


def make_row(pairs: tuple, _dict: Any = dict, _type: Any = type, _tuple: Any = tuple,
             _list: Any = list) -> dict[Any, Any]:
    """A decoded row object (its pairs) -> a dict; raises TooDeep. Repeated
    keys anywhere in it are listed under DUPLICATE_KEYS. (The hot path of
    every JSON row: locals bound as defaults on purpose.)"""
    obj = _dict(pairs)
    dups: list[str] | None = None if len(obj) == len(pairs) else _repeated(pairs)
    for key, value in pairs:
        kind = _type(value)
        if kind is _list:
            for item in value:  # most lists are flat (provider names): no call for them
                kind = _type(item)
                if kind is _tuple or kind is _list:
                    break
            else:
                continue
        elif kind is not _tuple:
            continue
        if dups is None:
            dups = []
        obj[key] = _nested(value, 2, dups)
    if dups:
        obj[DUPLICATE_KEYS] = tuple(dict.fromkeys(dups))
    return obj


def loads_value(text: str) -> Any:
    """One JSON value (a CSV cell holding metadata) with the same rules:
    objects as dicts, Extended JSON read, MAX_DEPTH enforced (raises TooDeep;
    ValueError for invalid JSON or a repeated key)."""
    try:
        value = _decode.decode(text)
    except RecursionError:
        raise TooDeep() from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        value = _decode_huge.decode(text)
    kind = type(value)
    if kind is tuple or kind is list:
        dups: list[str] = []
        value = _nested(value, 1, dups)
        if dups:
            raise ValueError(f"the key {dups[0]!r} appears twice")
    return value


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


def kind_of(value: Any) -> str:
    """The JSON type of a decoded (pairs-hook) value, for messages."""
    return "object" if type(value) is tuple else _kind(value)


def deep_offset(text: str, start: int) -> int:
    """Where (a character index into `text`) the value starting at `start`
    first goes deeper than MAX_DEPTH levels (strings skipped); `start` when it
    cannot tell."""
    depth = 0
    for match in _TOKEN.finditer(text, start):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token == "]" or token == "}":
            depth -= 1
            if depth <= 0:
                break
    return start


# ---- JSON arrays: a bounded text window ----------------------------------------

class JsonArrayError(Exception):
    """The array is not valid JSON at some point (the caller locates it exactly
    by rescanning: rows_ok rows were read before it)."""

    def __init__(self, rows_ok: int) -> None:
        super().__init__(rows_ok)
        self.rows_ok = rows_ok


class TooDeepAt(Exception):
    def __init__(self, row: int, offset: int) -> None:
        super().__init__(row, offset)
        self.row, self.offset = row, offset


class NotAnObject(Exception):
    def __init__(self, row: int, kind: str) -> None:
        super().__init__(row, kind)
        self.row, self.kind = row, kind


class ItemTooLong(Exception):
    def __init__(self, row: int, offset: int) -> None:
        super().__init__(row, offset)
        self.row, self.offset = row, offset


class _Window:
    """The text of the file from the current item on (read through the tap:
    `read_text(size)` and `text_end()`, the byte offset after the last
    character read)."""

    __slots__ = ("source", "text", "eof", "size")

    def __init__(self, source: Any) -> None:
        self.source = source
        self.text = ""
        self.eof = False
        self.size = CHUNK

    def refill(self, pos: int) -> None:
        """Drop text[:pos] and append the next piece of the file."""
        piece = self.source.read_text(self.size)
        if not piece:
            self.eof = True
        text = self.text
        self.text = (text[pos:] + piece) if pos < len(text) else piece

    def offset(self, pos: int) -> int:
        """The byte offset of text[pos] in the file (only ever for a message)."""
        return self.source.text_end() - len(self.text[pos:].encode("utf-8"))


_SPACE = frozenset(" \t\n\r")


def array_records(source: Any) -> Iterator[tuple[int, dict[Any, Any]]]:
    """(row, object) for each item of a JSON array read through `source` (the
    tap: `read_text`, `text_end`). Raises JsonArrayError (the caller locates
    it), TooDeepAt, NotAnObject or ItemTooLong; never holds more than one item
    (and one read) of text."""
    w = _Window(source)
    ws = _WS.match
    space = _SPACE
    raw_decode = _decode.raw_decode
    w.refill(0)
    text = w.text
    pos = ws(text).end()
    while pos >= len(text) and not w.eof:
        w.refill(pos)
        text = w.text
        pos = ws(text).end()
    if text[pos:pos + 1] != "[":
        raise JsonArrayError(0)
    pos += 1
    row = 0
    while True:  # at an item (or the ']' of an empty array)
        if pos >= len(text) or text[pos] in space:
            pos = ws(text, pos).end()
            if pos >= len(text):
                if w.eof:
                    raise JsonArrayError(row)
                w.refill(pos)
                text, pos = w.text, 0
                continue
        if row == 0 and text[pos] == "]":
            pos += 1
            break
        try:
            pairs, end = raw_decode(text, pos)
        except json.JSONDecodeError as err:
            if not w.eof and (len(text) - err.pos < 64 or err.msg.startswith("Unterminated")):
                held = len(text) - pos
                if held > MAX_ITEM:
                    raise ItemTooLong(row + 1, w.offset(pos)) from None
                if held > w.size // 2:  # a long item: bigger reads, fewer retries
                    w.size = min(w.size * 2, MAX_READ)
                w.refill(pos)
                text, pos = w.text, 0
                continue
            raise JsonArrayError(row) from None
        except RecursionError:
            raise TooDeepAt(row + 1, w.offset(deep_offset(text, pos))) from None
        except ValueError:  # an integer of more than 4,300 digits
            try:
                pairs, end = _decode_huge.raw_decode(text, pos)
            except ValueError:
                raise JsonArrayError(row) from None
        row += 1
        if type(pairs) is not tuple:
            raise NotAnObject(row, kind_of(pairs))
        try:
            obj = make_row(pairs)
        except TooDeep:
            raise TooDeepAt(row, w.offset(deep_offset(text, pos))) from None
        if w.size != CHUNK and end - pos < CHUNK:  # back to normal reads after a long item
            w.size = CHUNK
        yield row, obj
        if end < len(text) and text[end] == ",":
            pos = end + 1
            continue
        pos = ws(text, end).end()
        while pos >= len(text):
            if w.eof:
                raise JsonArrayError(row)
            w.refill(pos)
            text = w.text
            pos = ws(text).end()
        c = text[pos]
        if c == ",":
            pos += 1
            continue
        if c == "]":
            pos += 1
            break
        raise JsonArrayError(row)
    while True:  # only whitespace after the closing ']'
        pos = ws(text, pos).end()
        if pos < len(text):
            raise JsonArrayError(row)
        if w.eof:
            return
        w.refill(pos)
        text, pos = w.text, 0


def decode_line(text: str) -> Any:
    """One NDJSON line -> a row dict (or the decoded non-object, for the
    message). Raises json.JSONDecodeError, TooDeep (with no offset)."""
    try:
        if text[:1] == "{":  # the usual line: no leading space, nothing after the object
            value, end = _decode.raw_decode(text, 0)
            if end != len(text) and text[end:].strip():
                raise json.JSONDecodeError("Extra data", text, len(text) - len(text[end:].lstrip()))
        else:
            value = _decode.decode(text)
    except RecursionError:
        raise TooDeep() from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        value = _decode_huge.decode(text)
    if type(value) is tuple:
        return make_row(value)
    return value
