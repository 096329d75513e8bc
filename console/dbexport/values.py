"""Database values -> export values.

Timestamps become ISO 8601 UTC strings with milliseconds, the way Prisma (and
`Date.toJSON()`) writes them: ``2024-03-01T12:00:00.000Z``. What a column may
hold and how it is read:

- a datetime (PostgreSQL timestamp/timestamptz): naive ones are taken as UTC
  (Prisma stores UTC in ``timestamp(3)`` without a time zone);
- a date: midnight UTC;
- a number (SQLite/Drizzle epoch columns, Prisma's SQLite DateTime): ≥ 1e11 is
  milliseconds since the epoch, 1e9 … 1e11 seconds; anything else is not a date;
- text: ISO 8601 / SQLite's ``YYYY-MM-DD HH:MM:SS``, or digits read as a number.

A value that is not a date is exported as it is, as a string, and counted: the
export does not drop or invent data, and `validate` flags the row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

UTC = dt.timezone.utc
_EPOCH_MS_MIN = 1e11  # 1973-03-03 in ms; as seconds it would be the year 5138
_EPOCH_S_MIN = 1e9  # 2001-09-09: older than any Auth.js deployment
_EPOCH_MS_MAX = 1e14  # year 5138 in ms


def iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _from_epoch(number: float) -> str | None:
    if number != number or number < _EPOCH_S_MIN or number >= _EPOCH_MS_MAX:  # NaN too
        return None
    seconds = number / 1000.0 if number >= _EPOCH_MS_MIN else float(number)
    try:
        return iso(dt.datetime.fromtimestamp(seconds, tz=UTC))
    except (OverflowError, OSError, ValueError):
        return None


def to_timestamp(value: Any) -> tuple[str | None, bool]:
    """(exported value, is_a_date). None stays None (and counts as a date)."""
    if value is None:
        return None, True
    if isinstance(value, dt.datetime):
        return iso(value), True
    if isinstance(value, dt.date):
        return iso(dt.datetime(value.year, value.month, value.day, tzinfo=UTC)), True
    if isinstance(value, bool):
        return str(value).lower(), False
    if isinstance(value, (int, float, Decimal)):
        out = _from_epoch(float(value))
        return (out, True) if out else (_plain(value), False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = str(value)
    stripped = text.strip()
    if not stripped:
        return text, False
    if stripped.isdigit():
        out = _from_epoch(float(stripped))
        return (out, True) if out else (text, False)
    try:
        parsed = dt.datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError:
        return text, False
    return iso(parsed), True


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_text(value: Any) -> str | None:
    """Any scalar as text (ids, names, image URLs); None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dt.datetime):
        return iso(value)
    return _plain(value)
