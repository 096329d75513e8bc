"""Which versions the advice is for: next, next-auth and @clerk/nextjs from package.json.

The facts each decision rests on (checked in Clerk's docs and the @clerk/nextjs sources;
docs/scan-app.md lists them with where they were read):
- @clerk/nextjs Core 3 is major 7. It requires Next.js >= 15.2.3 (Clerk's Core 3 upgrade guide;
  the 7.x peerDependencies start at ^15.2.8). Core 3 replaced <SignedIn>/<SignedOut>/<Protect> with
  <Show when="signed-in" | "signed-out" | {...}> (changeset "show-the-guards"); the old names are
  still exported but throw when rendered (packages/nextjs/src/removedControlComponents.ts).
- @clerk/nextjs 6 (Core 2) peerDependencies: next ^13.5.7 || ^14.2.25 || ^15.2.3 || ^16 (6.39.x).
  An app below Next.js 15.2.3 stays on @clerk/nextjs 6 and keeps <SignedIn>/<SignedOut>.
- Next.js 16 renamed middleware.ts to proxy.ts; Clerk's quickstart: "If you're using Next.js <=15,
  name your file middleware.ts instead of proxy.ts. The code itself remains the same".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLERK_V7 = "^7.9.17"  # the @clerk/nextjs the patch adds for Next.js >= 15.2.3 (Core 3)
CLERK_V6 = "^6.39.8"  # ... and for older Next.js (Core 2, the last 6.x)
CORE3_MIN_NEXT = (15, 2, 3)
CLERK6_MIN_NEXT = {13: (13, 5, 7), 14: (14, 2, 25), 15: (15, 2, 3)}

_VERSION = re.compile(r"(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?")
# dist-tags that mean "the newest": assumed to be what npm installs today
_NEWEST_TAGS = {"latest", "canary", "rc", "next", "*", ""}


def parse_spec(spec: str | None, *, newest: tuple[int, int, int] | None = None) -> tuple[int, int, int] | None:
    """The lowest version a package.json spec allows, as (major, minor, patch), or None.

    `^15.1.0` -> (15, 1, 0); `~14.2` -> (14, 2, 0); `>=13` -> (13, 0, 0); `5.0.0-beta.25` -> (5, 0, 0);
    `latest` / `canary` / `*` -> `newest` (None when not given); `workspace:*`, git URLs -> None."""
    if spec is None:
        return None
    s = spec.strip()
    if s.startswith("npm:") and "@" in s[4:]:
        s = s[4:].rsplit("@", 1)[1]
    if s.lower() in _NEWEST_TAGS:
        return newest
    if s.lower() == "beta":
        return None
    s = s.split("||")[0].strip()
    m = _VERSION.search(s)
    if not m or not re.match(r"^[\s^~>=<v]*\d", s):
        return None
    parts = [m.group(1), m.group(2), m.group(3)]
    nums = [int(p) if p and p.isdigit() else 0 for p in parts]
    return nums[0], nums[1], nums[2]


def fmt(version: tuple[int, int, int] | None) -> str:
    return ".".join(map(str, version)) if version else "unknown"


@dataclass(frozen=True)
class AppVersions:
    """The versions the advice and the patch are decided from (specs as written)."""

    next_spec: str | None = None
    next_auth_spec: str | None = None
    clerk_spec: str | None = None
    package_json: str | None = None  # where they were read

    @property
    def next(self) -> tuple[int, int, int] | None:
        return parse_spec(self.next_spec, newest=(16, 0, 0))

    @property
    def next_auth_major(self) -> int | None:
        if self.next_auth_spec and self.next_auth_spec.strip().lower() == "beta":
            return 5  # the `beta` dist-tag is Auth.js v5
        v = parse_spec(self.next_auth_spec, newest=(4, 0, 0))
        return v[0] if v else None

    @property
    def clerk_major(self) -> int | None:
        v = parse_spec(self.clerk_spec, newest=(7, 0, 0))
        return v[0] if v else None

    @property
    def core3(self) -> bool:
        """Whether the app is (or will be) on @clerk/nextjs Core 3 (v7+)."""
        if self.clerk_major is not None:
            return self.clerk_major >= 7
        return self.next is None or self.next >= CORE3_MIN_NEXT

    @property
    def clerk_spec_to_add(self) -> str:
        return CLERK_V7 if self.core3 else CLERK_V6

    @property
    def proxy_named(self) -> bool | None:
        """True: proxy.ts (Next.js >= 16); False: middleware.ts (<= 15); None: unknown."""
        return None if self.next is None else self.next[0] >= 16

    @property
    def middleware_file(self) -> str:
        named = self.proxy_named
        if named is None:
            return "proxy.ts (Next.js >= 16) or middleware.ts (Next.js <= 15)"
        return "proxy.ts" if named else "middleware.ts"

    def next_too_old_for_clerk(self) -> str | None:
        """A sentence when the app's Next.js is below what @clerk/nextjs 6 supports."""
        v = self.next
        if v is None or v[0] >= 16:
            return None
        floor = CLERK6_MIN_NEXT.get(v[0])
        if v[0] < 13 or (floor and v < floor):
            need = fmt(floor) if floor else "13.5.7"
            return (f"next {self.next_spec} is below what @clerk/nextjs supports ({need}+ on this major): "
                    f"upgrade Next.js to {need} or later before installing @clerk/nextjs")
        return None

    def as_json(self) -> dict:
        return {
            "package_json": self.package_json,
            "next": self.next_spec,
            "next_auth": self.next_auth_spec,
            "clerk_nextjs": self.clerk_spec,
            "clerk_core": 3 if self.core3 else 2,
            "clerk_nextjs_to_install": self.clerk_spec or self.clerk_spec_to_add,
            "middleware_file": self.middleware_file,
        }
