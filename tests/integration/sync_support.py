"""Helpers of the sync tests (imported, not collected): a first export, a second one
with new, changed and removed rows, an import of the first over HTTP, and checks of
what the sandbox holds against an export."""

from __future__ import annotations

import asyncio
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from console.clerk.client import ClerkClient
from console.clerk.limiter import RequestBudget
from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.run import prepare_run
from console.settings import SecretKey, Settings

from tests.integration.engine_support import bcrypt_digest

VERIFIED = "2023-01-02T03:04:05.000Z"


def settings_for(url: str, key: str) -> Settings:
    return Settings(SecretKey(key), "env", url.rstrip("/"), False)


def fast_client(url: str, key: str, *, rate: float = 3000.0, timeout: float = 5.0) -> ClerkClient:
    """A client whose budget allows the raised limit of the test sandbox (pace is not what
    these tests are about)."""
    budget = RequestBudget.for_instance("production", rate=rate, limit=1_000_000)
    return ClerkClient(key, url, budget, timeout=timeout, backoff_base_s=0.01, backoff_max_s=0.05)


def real_digest(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def first_rows(n: int) -> list[dict[str, Any]]:
    """A Prisma-shaped export: odd rows have a (well-formed) bcrypt digest, every third row
    public metadata."""
    rows = []
    for i in range(1, n + 1):
        row: dict[str, Any] = {
            "id": f"ck{i:06d}",
            "name": f"First{i} Last{i}",
            "email": f"user{i}@example.test",
            "emailVerified": VERIFIED,
            "createdAt": "2022-05-06T07:08:09.000Z",
            "providers": [],
        }
        if i % 2:
            row["password"] = bcrypt_digest(i)
        if i % 3 == 0:
            row["publicMetadata"] = {"plan": "free"}
        rows.append(row)
    return rows


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(rows, indent=0))
    return path


@dataclass
class Second:
    """A second export made from a first one, and what changed."""

    rows: list[dict[str, Any]]
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    email: dict[str, str] = field(default_factory=dict)  # id -> new address
    unverified: set[str] = field(default_factory=set)  # ids whose new address is not proved
    name: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (first, last)
    password: dict[str, str] = field(default_factory=dict)  # id -> the new plaintext (its digest in the row)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> public metadata

    @property
    def changed(self) -> set[str]:
        return set(self.email) | set(self.name) | set(self.password) | set(self.metadata)


def second_export(rows: list[dict[str, Any]], *, seed: int = 7, new: float = 0.03, changed: float = 0.05,
                  removed: float = 0.02, tag: str = "v2", kinds: tuple[str, ...] = ("email", "name", "password",
                                                                                   "metadata")) -> Second:
    """new/changed/removed shares of len(rows): the changed rows split evenly over `kinds`;
    new rows are put at random places (every later row number moves)."""
    rng = random.Random(seed)
    n = len(rows)
    out = [dict(r) for r in rows]
    ids = [r["id"] for r in out]
    gone = set(rng.sample(ids, round(n * removed)))
    left = [i for i in ids if i not in gone]
    touched = rng.sample(left, round(n * changed))
    second = Second(rows=[])
    by_id = {r["id"]: r for r in out}
    for k, ext in enumerate(touched):
        row = by_id[ext]
        number = int(ext[2:]) if ext[2:].isdigit() else k
        kind = kinds[k % len(kinds)]
        if kind == "email":
            address = f"moved{number}-{tag}@example.test"
            row["email"] = address
            second.email[ext] = address
            if k % 8 == 0:  # now unproved: the default policy makes it reserved (unverified)
                row["emailVerified"] = None
                second.unverified.add(ext)
        elif kind == "name":
            row["name"] = f"Renamed{number} {tag.upper()}person"
            second.name[ext] = (f"Renamed{number}", f"{tag.upper()}person")
        elif kind == "password":
            plain = f"secret-{number}-{tag}"
            row["password"] = real_digest(plain)
            second.password[ext] = plain
        else:
            meta = {"plan": "pro", "seats": number, "tag": tag}
            row["publicMetadata"] = meta
            second.metadata[ext] = meta
    kept = [r for r in out if r["id"] not in gone]
    for k in range(round(n * new)):
        ext = f"nw{tag}{k:05d}"
        row = {"id": ext, "name": f"Newcomer{k} {tag.upper()}", "email": f"new{k}-{tag}@example.test",
               "emailVerified": VERIFIED, "createdAt": "2024-01-02T03:04:05.000Z", "providers": []}
        if k % 2:
            row["password"] = bcrypt_digest(100000 + k)
        kept.insert(rng.randrange(len(kept) + 1), row)
        second.new.append(ext)
    second.rows = kept
    second.removed = sorted(gone)
    return second


def import_first(run_dir: Path, export: Path, url: str, key: str) -> tuple[RunJournal, dict[str, Any]]:
    """prepare_run + one import session over HTTP, fast."""
    settings = settings_for(url, key)
    journal = prepare_run(run_dir, export, settings, confirmed_production=True)
    client = fast_client(url, key)

    async def go() -> Any:
        try:
            return await Importer(journal, settings, confirmed_production=True, client=client, backoff_base_s=0.02,
                                  backoff_cap_s=0.1, lookup_wait_s=0.02, progress_interval_s=0.05).run()
        finally:
            await client.aclose()

    result = asyncio.run(go())
    assert result.exit_code == 0, result.summary
    return journal, result.summary


def seed_import(run_dir: Path, export: Path, server: Any, key: str) -> RunJournal:
    """The state a finished import leaves, made without its 2,000 HTTP creates (the pace of
    an in-process HTTP server on a shared 2-core machine is not what these tests are about):
    the run folder loaded by prepare_run as import does it, each row's create body
    (to_payload + the run marker) stored by the sandbox as POST /v1/users would, the row
    recorded created with that user's id. Then one import session over HTTP confirms that
    nothing is left to send."""
    from console.migration.marker import with_run_marker
    from console.migration.run import run_policies
    from console.source import open_export, to_payload

    settings = settings_for(server.url, key)
    journal = prepare_run(run_dir, export, settings, confirmed_production=True)
    policies = run_policies(journal)
    run_id = journal.info.run_id
    outcomes = []
    for checked in open_export(export).rows(policies):
        body = with_run_marker(to_payload(checked.user, policies), run_id)
        user = server.seed_user(key, body)
        outcomes.append(("created", checked.user.row, user["id"]))
    for i in range(0, len(outcomes), 1000):
        journal.record(outcomes[i:i + 1000])
    before = server.create_requests(key)
    client = fast_client(server.url, key)

    async def go() -> Any:
        try:
            return await Importer(journal, settings, confirmed_production=True, client=client).run()
        finally:
            await client.aclose()

    result = asyncio.run(go())
    assert result.exit_code == 0 and result.summary["created"] == len(outcomes), result.summary
    assert server.create_requests(key) == before  # nothing left to send
    return journal


def sync_requests(second: Second, rows_before: dict[str, dict[str, Any]], *, prints: bool) -> int:
    """What the sync must send, from the test's own knowledge of the change: one read per
    100 changed users; a PATCH for a name, metadata or password change (and, on a run's
    first sync, for every changed row with a password: its digest's change cannot be
    told); an email change: add the new address, delete the old; a create per new row."""
    changed = second.changed
    total = math.ceil(len(changed) / 100) + len(second.new)
    # GET /v1/instance before anything is written (the engine's instance check), and the
    # importer's own before the creates
    total += (1 if changed or second.new else 0) + (1 if second.new else 0)
    for ext in changed:
        patch = ext in second.name or ext in second.metadata or ext in second.password
        if not prints and rows_before[ext].get("password"):
            patch = True
        total += (1 if patch else 0) + (2 if ext in second.email else 0)
    return total


def assert_holds(users: list[dict[str, Any]], export_rows: list[dict[str, Any]], *, also: set[str] = frozenset(),
                 second: Second | None = None) -> None:
    """The sandbox holds exactly the export's users (plus the ids in `also`, e.g. removed
    rows kept), each with one email address, the export's, primary; names and public
    metadata as the export says; no address twice."""
    by_ext = {}
    for u in users:
        assert u["external_id"] not in by_ext, f"external id {u['external_id']} twice"
        by_ext[u["external_id"]] = u
    want = {r["id"] for r in export_rows}
    assert set(by_ext) == want | set(also), (sorted(set(by_ext) - want - set(also))[:5], sorted(want - set(by_ext))[:5])
    seen: set[str] = set()
    for u in users:
        addresses = [e["email_address"].lower() for e in u["email_addresses"]]
        assert len(addresses) == 1, (u["external_id"], addresses)
        assert not (set(addresses) & seen), f"address {addresses} twice"
        seen.update(addresses)
    for r in export_rows:
        u = by_ext[r["id"]]
        primary = next(e for e in u["email_addresses"] if e["id"] == u["primary_email_address_id"])
        assert primary["email_address"].lower() == r["email"].lower(), (r["id"], primary["email_address"], r["email"])
        first, _, last = r["name"].partition(" ")
        assert (u["first_name"], u["last_name"]) == (first, last), (r["id"], u["first_name"], u["last_name"])
        assert (u["public_metadata"] or {}) == (r.get("publicMetadata") or {}), r["id"]
        if second is not None and r["id"] in second.email:
            status = (primary.get("verification") or {}).get("status")
            assert (status == "verified") == (r["id"] not in second.unverified), (r["id"], status)


def verify_passwords(server: Any, key: str, users: list[dict[str, Any]], passwords: dict[str, str]) -> None:
    """Clerk's verify_password says yes to each new password (the digest went through)."""
    by_ext = {u["external_id"]: u["id"] for u in users}
    client = fast_client(server.url, key)

    async def go() -> dict[str, bool]:
        try:
            return {ext: await client.verify_password(by_ext[ext], plain) for ext, plain in passwords.items()}
        finally:
            await client.aclose()

    checked = asyncio.run(go())
    assert checked and all(checked.values()), [ext for ext, ok in checked.items() if not ok]
