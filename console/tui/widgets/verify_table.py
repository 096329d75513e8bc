"""The Verify step's table: the missing users and the fields that differ, one
page at a time (the report keeps up to 10,000; the journal keeps all)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

Entry = tuple[str, dict[str, Any]]  # ("missing" | "mismatch", the report's entry)


class VerifyDifferences(DataTable):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def ensure_columns(self) -> None:
        if self.columns:
            return
        self.add_column("Row", key="row")
        self.add_column("External id", key="external_id")
        self.add_column("What", key="what")
        self.add_column("Expected", key="expected")
        self.add_column("Clerk has", key="found")

    def show_page(self, entries: list[Entry], start: int, size: int) -> None:
        self.ensure_columns()
        self.clear()
        for n, (kind, entry) in enumerate(entries[start : start + size]):
            if kind == "missing":
                held = entry.get("held_by")
                cells = (
                    Text("missing", style="bold"),
                    Text(entry.get("clerk_user_id") or ""),
                    Text(f"external id now held by {held}" if held else "no user with this id"),
                )
            else:
                cells = (
                    Text(str(entry.get("field")), style="bold"),
                    Text(shown(entry.get("expected"))),
                    Text(shown(entry.get("found"))),
                )
            self.add_row(
                Text(str(entry.get("row")), justify="right"),
                Text(entry.get("external_id") or "—"),
                *cells,
                key=str(start + n),
            )


def shown(value: Any) -> str:
    return "—" if value is None else str(value)
