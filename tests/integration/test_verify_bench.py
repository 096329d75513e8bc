"""verify --all at scale, at the production pace (90 requests/s), against the sandbox.

Opt-in (minutes of work): CLERK_MIGRATE_BENCH=1 [CLERK_MIGRATE_BENCH_N=100000]
    .venv/bin/python -m pytest tests/integration/test_verify_bench.py -s -q

The users are put in the sandbox directly (as a create would make them) and the
journal rows marked created with their ids, so the figures are verify's own:
requests, wall time, and the process's peak memory before and after.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path

import pytest

from console.migration.run import prepare_run
from console.migration.verify import verify_run
from console.sandbox.samples import write_sample_export
from console.source import open_export, to_payload
from console.migration.run import run_policies

from tests.integration.test_verify_helpers import settings_for

pytestmark = pytest.mark.skipif(not os.environ.get("CLERK_MIGRATE_BENCH"), reason="benchmark: set CLERK_MIGRATE_BENCH=1")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def test_verify_all_at_scale(tmp_path: Path, sandbox_factory, prod_key):
    n = int(os.environ.get("CLERK_MIGRATE_BENCH_N", "100000"))
    server = sandbox_factory()
    export = write_sample_export(tmp_path / "users.json", n=n, seed=3)
    settings = settings_for(server.url, prod_key)
    t0 = time.monotonic()
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    policies = run_policies(journal)
    done: list[tuple] = []
    for checked in open_export(export).rows(policies):
        if not checked.importable:
            continue
        try:
            user = server.seed_user(prod_key, to_payload(checked.user, policies))
        except Exception:  # noqa: BLE001 - a row Clerk would refuse stays pending
            continue
        done.append(("created", checked.user.row, user["id"]))
        if len(done) >= 5000:
            journal.record(done)
            done = []
    journal.record(done)
    created = journal.counts()["created"]
    setup_s = time.monotonic() - t0
    rss_before = _rss_mb()
    t1 = time.monotonic()
    report = asyncio.run(verify_run(journal, settings, sample=None))
    wall = time.monotonic() - t1
    rss_after = _rss_mb()
    t2 = time.monotonic()
    sample = asyncio.run(verify_run(journal, settings, sample=300, seed=1))
    sample_wall = time.monotonic() - t2
    journal.close()
    print(f"\nverify --all: {created} users, {report.requests} requests, {wall:.1f} s "
          f"({report.requests / wall:.1f} req/s, {created / wall:.0f} users/s); "
          f"peak RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after; setup {setup_s:.0f} s")
    print(f"verify --sample 300: {sample.checked} users, {sample.requests} requests, {sample_wall:.1f} s")
    assert report.exit_code == 0 and report.checked == created
    assert report.requests == -(-created // 100) + 1
