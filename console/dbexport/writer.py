"""Writing the export atomically: a temp file (mode 0600) in the target's folder,
fsync, then os.replace. A failed or cancelled export leaves no file behind and
never a half-written one in place of an earlier export."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from console.dbexport.errors import DbExportError

Format = Literal["ndjson", "json"]


def format_for(out: Path, fmt: str | None) -> Format:
    """--format when given; else .json -> JSON array, anything else NDJSON."""
    if fmt:
        if fmt not in ("ndjson", "json"):
            raise DbExportError(f"unknown format {fmt!r}: expected ndjson or json")
        return fmt  # type: ignore[return-value]
    return "json" if Path(out).suffix.lower() == ".json" else "ndjson"


class AtomicExportWriter:
    def __init__(self, out: Path, fmt: Format) -> None:
        self.out = Path(out)
        self.fmt = fmt
        self.rows = 0
        parent = self.out.parent if str(self.out.parent) else Path(".")
        if self.out.is_dir():
            raise DbExportError(f"cannot write {self.out}: it is a folder")
        if not parent.is_dir():
            raise DbExportError(f"cannot write {self.out}: folder {parent} does not exist")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".part", dir=parent)
        except OSError as exc:
            raise DbExportError(f"cannot write in {parent}: {exc.strerror or exc}") from None
        self.tmp = Path(tmp)
        os.fchmod(fd, 0o600)  # user rows (emails, password digests): owner only
        self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
        self._closed = False
        if fmt == "json":
            self.fh.write("[")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        try:
            if self.fmt == "json":
                self.fh.write(("\n" if self.rows == 0 else ",\n") + line)
            else:
                self.fh.write(line + "\n")
        except OSError as exc:
            self.abort()
            raise DbExportError(f"writing {self.out} failed: {exc.strerror or exc}") from None
        self.rows += 1

    def commit(self) -> Path:
        try:
            if self.fmt == "json":
                self.fh.write("\n]\n" if self.rows else "]\n")
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            self._closed = True
            os.replace(self.tmp, self.out)
        except OSError as exc:
            self.abort()
            raise DbExportError(f"writing {self.out} failed: {exc.strerror or exc}") from None
        try:  # make the rename itself durable
            dfd = os.open(self.out.parent if str(self.out.parent) else ".", os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
        return self.out

    def abort(self) -> None:
        if not self._closed:
            try:
                self.fh.close()
            except OSError:
                pass
            self._closed = True
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass
