"""What a scan of the app's code reports: findings, a checklist, counts.

Plain dataclasses (no textual, no rich): the CLI prints them, the console's
Finish screen shows them, `as_json()` is the `scan-app --json` object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from console.appscan.userids import UserIdScan
    from console.appscan.versions import AppVersions

Router = Literal["app", "pages", "both", "unknown"]

DONE = "done"
TODO = "to do"
NOT_APPLICABLE = "not applicable"

# The checklist, in the order of Clerk's "migrate from Auth.js" guide.
STEPS: tuple[tuple[str, str], ...] = (
    ("install", "Install @clerk/nextjs"),
    ("env", "Set NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY and CLERK_SECRET_KEY in .env.local"),
    ("provider", "Wrap the app in <ClerkProvider>"),
    ("middleware", "Replace the Auth.js middleware with clerkMiddleware()"),
    ("server", "Server helpers: auth() / currentUser() / getAuth(req)"),
    ("client", "Client hooks: useAuth() / useUser()"),
    ("pages", "Sign-in and sign-up pages"),
    ("signed_in", "Conditional UI: <Show when=\"signed-in\"> (Core 3) / <SignedIn> (Core 2)"),
    ("foreign_keys", "Foreign keys: session.user.id -> the Clerk user id"),
)
STEP_TITLES = dict(STEPS)


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the scanned folder, "/" separators
    line: int  # 1-based
    construct: str  # stable code, e.g. "getServerSession", "middleware_matcher"
    authjs: str  # the Auth.js construct as found, e.g. "getServerSession() (next-auth/next)"
    clerk: str  # the Clerk replacement
    howto: str  # one line
    step: str  # checklist key (STEPS)
    router: str | None = None  # "app" | "pages" | None (shared code, config, env)
    context: str = ""  # "client component", "API route", "middleware", "env file", ...
    routes: tuple[str, ...] = ()  # middleware_matcher / sign-in page routes only


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str  # "too large" | "binary" | "undecodable" | "unreadable" | "unreadable folder"


@dataclass(frozen=True)
class ProtectedRoute:
    route: str
    file: str
    line: int


@dataclass
class ChecklistItem:
    key: str
    title: str
    status: str  # DONE | TODO | NOT_APPLICABLE
    detail: str  # what is done / what is left, one line
    findings: int = 0  # findings that belong to this step
    evidence: list[str] = field(default_factory=list)  # what is already done, "file:line what"


@dataclass(frozen=True)
class Advice:
    """One piece of current advice for this app, decided from its versions (docs/scan-app.md)."""

    key: str  # stable: "clerk_sdk", "middleware_file", "signed_in_ui", "integer_user_ids", ...
    title: str
    detail: str  # what to do, a few sentences
    applies_to: str  # the versions it is for, e.g. "@clerk/nextjs >= 7 (Core 3)"
    source: str  # where it was checked
    evidence: tuple[str, ...] = ()  # "file:line what" that made it apply
    code: str = ""  # a snippet to paste, when there is one

    def as_json(self) -> dict:
        return {**asdict(self), "evidence": list(self.evidence)}


@dataclass
class ProjectIndex:
    """What the scan parsed, kept for the patch (never in JSON): texts, syntax trees, the
    import graph and each parsed file's FileInfo."""

    root: Path
    texts: dict[str, str]
    kinds: dict[str, str]
    project_dirs: list[str]
    files: dict[str, Any] = field(default_factory=dict)  # rel -> modules.FileSyntax
    calls: dict[str, Any] = field(default_factory=dict)  # rel -> calls query matches
    infos: dict[str, Any] = field(default_factory=dict)  # rel -> jsscan.FileInfo
    graph: Any = None  # modules.ModuleGraph


@dataclass
class AppScanReport:
    path: str
    router: Router
    findings: list[Finding]
    checklist: list[ChecklistItem]
    files_scanned: int
    files_skipped: int
    skipped: list[Skipped] = field(default_factory=list)
    dirs_pruned: int = 0  # node_modules, .next, ... not walked
    protected_routes: list[ProtectedRoute] = field(default_factory=list)
    clerk_installed: bool = False
    next_auth_version: str | None = None  # the version spec in package.json, e.g. "^4.24.7"
    auth_env_names: list[str] = field(default_factory=list)  # NEXTAUTH_*/AUTH_* names, never values
    versions: AppVersions | None = None  # next / next-auth / @clerk/nextjs as package.json says
    user_ids: UserIdScan | None = None  # integer user id columns, from the app's schema files
    advice: list[Advice] = field(default_factory=list)  # current advice for these versions
    files_parsed: int = 0  # code files given to tree-sitter (the others cannot hold a touch point)
    project: ProjectIndex | None = field(default=None, repr=False, compare=False)

    def by_step(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {key: [] for key, _ in STEPS}
        for finding in self.findings:
            grouped.setdefault(finding.step, []).append(finding)
        return grouped

    def as_json(self) -> dict:
        """The `scan-app --json` object (documented in docs/scan-app.md)."""
        return {
            "path": self.path,
            "router": self.router,
            "files_scanned": self.files_scanned,
            "files_skipped": self.files_skipped,
            "skipped": [asdict(s) for s in self.skipped],
            "dirs_pruned": self.dirs_pruned,
            "clerk_installed": self.clerk_installed,
            "next_auth_version": self.next_auth_version,
            "auth_env_names": list(self.auth_env_names),
            "protected_routes": [asdict(r) for r in self.protected_routes],
            "findings": [
                {**asdict(f), "routes": list(f.routes)} for f in self.findings
            ],
            "checklist": [asdict(item) for item in self.checklist],
            "files_parsed": self.files_parsed,
            "versions": self.versions.as_json() if self.versions else None,
            "user_ids": self.user_ids.as_json() if self.user_ids else None,
            "advice": [a.as_json() for a in self.advice],
        }
