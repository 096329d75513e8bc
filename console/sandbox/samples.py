"""Realistic Auth.js (Prisma adapter) user exports, for the demo, the tests and
the benchmarks.

`write_sample_export(path, n=3000, seed=1, fmt="json")` writes n rows with the
keys `export-db` writes: id (cuid-like), name, email, emailVerified (ISO or
null), image, createdAt (ISO), password (bcrypt digest; absent for users who
never set one), providers (OAuth provider names; in CSV a ';'-joined string).

The population: ~60% credentials users (bcrypt `$2b$10$`, some also linked to
an OAuth provider), ~35% OAuth-only users (Auth.js leaves most of them with
emailVerified null), ~5% magic-link users (verified, no password). About 30%
of rows have a null emailVerified. Problems a real export has are mixed in at
a realistic rate, at rows chosen by the seed (`plan_problems` says which):
invalid emails (~1%), emails duplicating an earlier row's in another case,
duplicate ids, rows without an email, one-word names, names that are an email,
a couple of plaintext-looking passwords, one malformed bcrypt digest, a name
with console markup, unicode names.

The same (n, seed) gives the same rows in every format. Rows are generated and
written one at a time, so n = 1,000,000 runs in constant memory.
"""

from __future__ import annotations

import base64
import csv
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Literal

Format = Literal["json", "ndjson", "csv"]
COLUMNS = ("id", "name", "email", "emailVerified", "image", "createdAt", "password", "providers")

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_BCRYPT_CHARS = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TO_BCRYPT = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", _BCRYPT_CHARS
)
_EPOCH = datetime(2021, 1, 1, tzinfo=timezone.utc)
_SPAN_S = 3 * 365 * 24 * 3600  # accounts created over three years

FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley",
    "Priya", "Arjun", "Wei", "Mei", "Hiroshi", "Yuki", "Omar", "Fatima", "Lucas", "Sofia", "Mateo",
    "Valentina", "Noah", "Emma", "Liam", "Olivia", "Ethan", "Ava", "Aisha", "Kwame", "Ingrid", "Lars",
)
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
    "Lewis", "Robinson", "Patel", "Nguyen", "Kim", "Chen", "Tanaka", "Okafor", "Silva", "Rossi",
    "Novak", "Larsen", "Cohen", "Haddad", "Mensah", "Kowalski", "Schmidt", "Dubois", "Costa", "Ali",
)
UNICODE_NAMES = (
    "José Álvarez", "Zoë Ünal", "Łukasz Żółkiewski", "Ólafur Arnalds", "Nguyễn Văn An",
    "Søren Kierkegaard", "Ахмед Иванов", "山田 太郎", "Ελένη Παπαδοπούλου", "François Lefèvre",
    "Björk Guðmundsdóttir", "Çağla Yıldız", "محمد علي", "김 민준", "Renée Zellweger-Müller",
)
ONE_WORD_NAMES = ("Madonna", "Prince", "Zendaya", "Cher", "Sting", "Björk", "Pelé", "Moby")
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "fastmail.com",
           "acme-corp.com", "example.org", "hey.com", "company.io")
INVALID_EMAILS = (
    "{local}@", "{local}@@{domain}", "{local}.{domain}", "{local}@localhost", "{local} x@{domain}",
    "{local}@{domain}.", "@{domain}", "{local}@exa mple.com", "{local}@{domain},", "mailto:{local}@{domain}",
)
PLAINTEXT_PASSWORDS = ("hunter2", "Summer2023!", "password123", "letmein")
MARKUP_NAME = "[bold]Mallory[/bold] [link=https://evil.example]Admin[/link]"
BAD_DIGEST = "$2b$10$thisisnotavalidbcryptdigest"


@dataclass
class ProblemPlan:
    """1-based data rows that carry each injected problem."""

    invalid_email: list[int] = field(default_factory=list)
    duplicate_email_case: dict[int, int] = field(default_factory=dict)  # row -> earlier row it collides with
    duplicate_id: dict[int, int] = field(default_factory=dict)  # row -> earlier row whose id it reuses
    missing_email: list[int] = field(default_factory=list)
    one_word_name: list[int] = field(default_factory=list)
    name_is_email: list[int] = field(default_factory=list)
    plaintext_password: list[int] = field(default_factory=list)
    bad_digest: list[int] = field(default_factory=list)
    markup_name: list[int] = field(default_factory=list)
    unicode_name: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def plan_problems(n: int, seed: int = 1) -> ProblemPlan:
    """Where the problems of `write_sample_export(…, n, seed)` are."""
    rng = random.Random(f"problems:{seed}:{n}")
    plan = ProblemPlan()
    if n < 20:  # too small for a realistic mix: a clean file
        return plan
    free = list(range(2, n + 1))  # row 1 stays clean: an earlier row to collide with
    rng.shuffle(free)
    taken = iter(free)

    def pick(count: int) -> list[int]:
        return sorted(next(taken) for _ in range(count))

    plan.invalid_email = pick(max(2, n // 100))
    for row in pick(max(2, n // 1000)):
        plan.duplicate_email_case[row] = rng.randrange(1, row)
    for row in pick(max(2, n // 1500)):
        plan.duplicate_id[row] = rng.randrange(1, row)
    plan.missing_email = pick(max(2, n // 1000))
    plan.one_word_name = pick(max(3, n // 300))
    plan.name_is_email = pick(max(2, n // 500))
    plan.plaintext_password = pick(2)
    plan.bad_digest = pick(1)
    plan.markup_name = pick(1)
    plan.unicode_name = pick(max(3, n // 20))
    # a collision source must itself be an ordinary row
    special = set(plan.invalid_email) | set(plan.missing_email) | set(plan.duplicate_email_case)
    for row, source in list(plan.duplicate_email_case.items()):
        while source in special:
            source = rng.randrange(1, row)
        plan.duplicate_email_case[row] = source
    return plan


def _b36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        out.append(_BASE36[rem])
    return "".join(reversed(out))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iter_sample_rows(n: int = 3000, seed: int = 1) -> Iterator[dict[str, Any]]:
    """The rows of the sample export, one at a time (password absent = key absent)."""
    plan = plan_problems(n, seed)
    rng = random.Random(seed)
    invalid = set(plan.invalid_email)
    missing = set(plan.missing_email)
    one_word = set(plan.one_word_name)
    name_email = set(plan.name_is_email)
    plaintext = {row: PLAINTEXT_PASSWORDS[i % len(PLAINTEXT_PASSWORDS)]
                 for i, row in enumerate(plan.plaintext_password)}
    bad_digest = set(plan.bad_digest)
    markup = set(plan.markup_name)
    unicode_rows = set(plan.unicode_name)
    need_email = {source: None for source in plan.duplicate_email_case.values()}
    need_id = {source: None for source in plan.duplicate_id.values()}
    remembered_email: dict[int, str] = {}
    remembered_id: dict[int, str] = {}

    random_ = rng.random
    for row in range(1, n + 1):
        # the same number of draws per row whatever the row becomes
        r_kind, r_verified, r_oauth_extra, r_name, r_first, r_last, r_domain, r_style, r_case = (
            [random_() for _ in range(9)])
        created = _EPOCH + timedelta(seconds=int(_SPAN_S * row / (n + 1)) + rng.randrange(0, 3600),
                                     milliseconds=rng.randrange(0, 1000))
        random_part = base64.b32encode(rng.randbytes(7)).decode()[:11].lower()
        digest_tail = base64.b64encode(rng.randbytes(40)).decode()[:53].translate(_TO_BCRYPT)

        if r_kind < 0.60:
            kind = "credentials"
        elif r_kind < 0.95:
            kind = "oauth"
        else:
            kind = "magic_link"

        first = FIRST[int(r_first * len(FIRST))]
        last = LAST[int(r_last * len(LAST))]
        if row in unicode_rows:
            name: str | None = UNICODE_NAMES[int(r_name * len(UNICODE_NAMES))]
        elif row in one_word:
            name = ONE_WORD_NAMES[int(r_name * len(ONE_WORD_NAMES))]
        elif kind == "magic_link" and r_name < 0.4:
            name = None  # email sign-in never asked for a name
        else:
            name = f"{first} {last}"
        if row in markup:
            name = MARKUP_NAME

        domain = DOMAINS[int(r_domain * len(DOMAINS))]
        if r_style < 0.45:
            local = f"{first}.{last}{row}".lower()
        elif r_style < 0.8:
            local = f"{first[0]}{last}{row}".lower()
        else:
            local = f"{first}_{row}".lower()
        if not local.isascii():
            local = f"user{row}"
        email: str | None = f"{local}@{domain}"
        if r_case < 0.05:
            email = f"{local.capitalize()}@{domain.capitalize()}"  # valid, just not lower-case
        if row in invalid:
            email = INVALID_EMAILS[row % len(INVALID_EMAILS)].format(local=local, domain=domain)
        elif row in missing:
            email = None if row % 2 else ""
        elif row in plan.duplicate_email_case:
            source = remembered_email[plan.duplicate_email_case[row]]
            local_part, _, domain_part = source.partition("@")
            email = f"{local_part.upper()}@{domain_part}"
            if email == source:
                email = source.swapcase()
        if row in name_email and email:
            name = email

        ident = "c" + _b36(int(created.timestamp() * 1000), 8)[-8:] + _b36(row, 5) + random_part
        if row in plan.duplicate_id:
            ident = remembered_id[plan.duplicate_id[row]]
        if row in need_id:
            remembered_id[row] = ident
        if row in need_email and email:
            remembered_email[row] = email

        providers: list[str] = []
        image = None
        if kind == "oauth" or (kind == "credentials" and r_oauth_extra < 0.12):
            providers = ["github"] if r_oauth_extra < 0.5 else ["google"]
            if kind == "oauth" and r_oauth_extra > 0.9:
                providers = ["github", "google"]
            if providers[0] == "github":
                image = f"https://avatars.githubusercontent.com/u/{100000 + row * 7}?v=4"
            else:
                image = f"https://lh3.googleusercontent.com/a/ACg8oc{random_part}=s96-c"

        if kind == "oauth":
            verified = r_verified >= 0.75  # Auth.js leaves OAuth users unverified
        elif kind == "credentials":
            verified = r_verified >= 0.07
        else:
            verified = True
        email_verified = (
            _iso(created + timedelta(minutes=1 + int(r_verified * 600))) if verified else None
        )

        out: dict[str, Any] = {
            "id": ident,
            "name": name,
            "email": email,
            "emailVerified": email_verified,
            "image": image,
            "createdAt": _iso(created),
        }
        if kind == "credentials":
            if row in plaintext:
                out["password"] = plaintext[row]
            elif row in bad_digest:
                out["password"] = BAD_DIGEST
            else:
                out["password"] = "$2b$10$" + digest_tail
        elif row in plaintext or row in bad_digest:
            out["password"] = plaintext.get(row, BAD_DIGEST)
        out["providers"] = providers
        yield out


def write_sample_export(path: str | Path, n: int = 3000, seed: int = 1, fmt: Format = "json") -> Path:
    """Write the sample export to `path` (streamed) and return the path."""
    if fmt not in ("json", "ndjson", "csv"):
        raise ValueError(f"fmt must be 'json', 'ndjson' or 'csv', not {fmt!r}")
    if n < 0:
        raise ValueError("n must be 0 or more")
    path = Path(path)
    rows = iter_sample_rows(n, seed)
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([
                    _csv_value(row.get(name)) if name != "providers" else ";".join(row["providers"])
                    for name in COLUMNS
                ])
        return path
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8", buffering=1024 * 1024) as fh:
        if fmt == "ndjson":
            for row in rows:
                fh.write(dumps(row))
                fh.write("\n")
            return path
        fh.write("[")
        first = True
        for row in rows:
            fh.write("\n" if first else ",\n")
            fh.write(dumps(row))
            first = False
        fh.write("\n]\n")
    return path


def _csv_value(value: Any) -> str:
    return "" if value is None else str(value)
