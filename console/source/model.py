"""What an export row becomes, and what can be wrong with it.

`SourceUser` is one export row mapped to the migration's own words; `Issue` is
one finding about a row (or the whole file, row 0). `Policies` are the
operator's answers to what the data cannot say by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
UnverifiedPolicy = Literal["oauth", "reserved", "verified", "refuse"]
PlaintextPolicy = Literal["send", "refuse"]

# What `unverified_email` may say about an email the export does not mark
# verified (no emailVerified date), in the order the CLI and the console list them.
UNVERIFIED_POLICIES: tuple[str, ...] = ("oauth", "reserved", "verified", "refuse")
UNVERIFIED_POLICY_WORDS: dict[str, str] = {
    "oauth": "verified when the user signed in with an OAuth provider, else reserved (default)",
    "reserved": "reserved, OAuth users too: each user verifies the address on first sign-in",
    "verified": "verified, proved or not (risky: see VERIFIED_POLICY_RISK)",
    "refuse": "refuse the row",
}
# The one line said beside the `verified` policy wherever it can be chosen.
VERIFIED_POLICY_RISK = (
    "risk: an address nobody proved, imported verified, lets whoever later signs in with an "
    "OAuth account for that address take over the user (pre-account takeover)"
)

# How an importable row's email goes to Clerk (email_status, ValidationReport counts).
EMAIL_STATUSES: tuple[str, ...] = (
    "verified_by_date", "verified_by_oauth", "verified_by_policy", "reserved", "refused",
)


@dataclass(frozen=True, slots=True)
class Policies:
    # An address Auth.js never saw proved (emailVerified null) is imported
    # verified only when an OAuth sign-in proved it (Auth.js leaves OAuth users'
    # emailVerified null although the provider verified the address); otherwise
    # `reserved`: unverified, locked to the user, verified on first sign-in.
    # Runs made before this default kept `verified` in their journal, which
    # still means what it meant then.
    unverified_email: UnverifiedPolicy = "oauth"
    # A value that looks like a plaintext password is refused unless the
    # operator says to send it (as `password` with `skip_password_checks`).
    plaintext_password: PlaintextPolicy = "refuse"


def email_status(verified: bool | None, has_oauth: bool, policy: str) -> str:
    """How an email goes to Clerk: `verified_by_date` (emailVerified set),
    `verified_by_oauth` (an OAuth account proved it), `verified_by_policy`
    (policy `verified`: nothing proved it), `reserved`, or `refused` (policy
    `refuse`). The one rule `to_payload` and the checks share."""
    if verified is True:
        return "verified_by_date"
    if policy == "reserved":
        return "reserved"
    if policy == "refuse":
        return "refused"
    if has_oauth:
        return "verified_by_oauth"
    if policy == "verified":
        return "verified_by_policy"
    return "reserved"  # `oauth` (the default), and anything unknown: the safe side


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
    providers: tuple[str, ...] = ()  # OAuth providers: the row's own and the accounts file's
    public_metadata: dict[str, Any] | None = None
    private_metadata: dict[str, Any] | None = None
    unsafe_metadata: dict[str, Any] | None = None
    phone_number: str | None = None  # E.164, only through --map phone_number=COLUMN
    legal_accepted_at: str | None = None  # RFC 3339, only through --map / --legal column:NAME
    email_status: str | None = None  # one of EMAIL_STATUSES (set by the checks when there is an email)


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding. severity `error`: the row is not imported; `warning`: it is
    imported with the change the message states. row 0 = the whole file/run.

    `email` and `name` (the row's address and display name, when it has them)
    let a reviewer find a user's issues; they stay out of `as_dict` (the
    contract's minimal JSON)."""

    row: int
    external_id: str | None
    field: str
    code: str
    severity: Severity
    message: str
    email: str | None = None
    name: str | None = None

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
