"""What an export row becomes, and what can be wrong with it.

`SourceUser` is one export row mapped to the migration's own words; `Issue` is
one finding about a row (or the whole file, row 0). `Policies` are the
operator's answers to what the data cannot say by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
UnverifiedPolicy = Literal["verified", "reserved", "refuse"]
PlaintextPolicy = Literal["send", "refuse"]


@dataclass(frozen=True, slots=True)
class Policies:
    # Auth.js leaves OAuth users' emailVerified null although the provider
    # verified the address, so importing them verified is the guide's default.
    unverified_email: UnverifiedPolicy = "verified"
    # A value that looks like a plaintext password is refused unless the
    # operator says to send it (as `password` with `skip_password_checks`).
    plaintext_password: PlaintextPolicy = "refuse"


@dataclass(slots=True)
class SourceUser:
    """One export row, mapped. `row` is the 1-based data row number (the
    header of a CSV is not counted; the first object of a JSON array is 1)."""

    row: int
    external_id: str | None
    email: str | None = None
    email_verified: bool | None = None  # None: the export said null / nothing
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    password: str | None = None  # plaintext, only when the policy allows sending
    password_digest: str | None = None
    password_hasher: str | None = None
    created_at: str | None = None  # RFC 3339, already normalised
    image: str | None = None
    providers: tuple[str, ...] = ()
    public_metadata: dict[str, Any] | None = None
    private_metadata: dict[str, Any] | None = None
    unsafe_metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding. severity `error`: the row is not imported; `warning`: it is
    imported with the change the message states. row 0 = the whole file/run."""

    row: int
    external_id: str | None
    field: str
    code: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "external_id": self.external_id,
            "code": self.code,
            "field": self.field,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(slots=True)
class CheckedRow:
    """A row after the checks: the user, its issues, and whether it imports."""

    user: SourceUser
    issues: list[Issue] = field(default_factory=list)

    @property
    def importable(self) -> bool:
        return not any(issue.severity == "error" for issue in self.issues)
