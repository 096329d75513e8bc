"""The importer over real HTTP against the sandbox: outcomes, faults, guards, controls."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from console.clerk.client import ClerkClient
from console.clerk.limiter import RequestBudget
from console.migration.importer import Importer
from console.migration.journal import RunJournal
from console.migration.run import RunRefused, prepare_run
from console.migration.summary import run_summary
from console.sandbox import make_key

from tests.integration.engine_support import (
    assert_guarantees,
    bcrypt_digest,
    import_run,
    settings_for,
    write_export,
)

CONTRACT_FIELDS = {
    "run", "instance", "rows", "importable", "created", "existed", "failed", "refused", "pending",
    "requests", "rate_limited", "duration_s", "created_per_s",
}


def test_happy_path_one_create_per_row(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 60, bad={5, 17, 42})
    settings = settings_for(sandbox.url, prod_key)
    progress = []
    journal, result = import_run(tmp_path / "run", export, settings, on_progress=progress.append)
    assert result.exit_code == 0 and result.stop_reason is None
    assert_guarantees(journal, sandbox, prod_key)
    assert sandbox.create_requests(prod_key) == 57  # exactly one create per importable row
    s = result.summary
    assert CONTRACT_FIELDS <= set(s)
    assert (s["rows"], s["importable"], s["created"], s["refused"], s["pending"], s["failed"]) == (60, 57, 57, 3, 0, 0)
    # one create per row, and the instance check (GET /v1/instance) of the session
    assert s["requests"] == 58 and s["rate_limited"] == 0 and s["instance"] == "production"
    assert journal.get_row(5).refusal_codes  # refused with the checks' code
    assert progress and progress[-1].state == "done" and progress[-1].created == 57
    # at most ~10 snapshots a second
    assert len(progress) <= 10 * (progress[-1].elapsed_s + 1) + 2
    # a second run of the same command has nothing to do: no create (only the instance check)
    journal.close()
    journal, again = import_run(tmp_path / "run", export, settings)
    assert again.exit_code == 0 and again.summary["created"] == 57
    assert sandbox.create_requests(prod_key) == 57
    journal.close()


def test_no_secret_and_no_digest_in_the_journal(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 12)
    settings = settings_for(sandbox.url, prod_key)
    journal, result = import_run(tmp_path / "run", export, settings)
    assert result.exit_code == 0
    journal.close()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file())
    assert prod_key.encode() not in blob
    assert prod_key[8:].encode() not in blob  # not even without its prefix
    for i in range(1, 13, 2):
        assert bcrypt_digest(i).encode() not in blob
        assert bcrypt_digest(i)[7:40].encode() not in blob


def test_faults_every_row_once_with_the_right_id(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(
        fail_rate=0.15, ambiguous_rate=0.12, drop_rate=0.05, ambiguous_modes=("502", "hang", "drop"),
        ambiguous_hang_s=0.6, latency_ms=5, jitter_ms=5, seed=7,
    )
    export = write_export(tmp_path / "users.json", 150, bad={3, 99})
    settings = settings_for(server.url, prod_key)
    journal, result = import_run(tmp_path / "run", export, settings, timeout=0.3, max_attempts=12)
    assert result.exit_code == 0, (result.summary, result.message)
    assert_guarantees(journal, server, prod_key)
    stats = server.stats(prod_key)
    assert stats.get("failed", 0) > 0 and stats.get("ambiguous_502", 0) + stats.get("ambiguous_hang", 0) > 0
    # lost answers were settled by lookup: some rows were created though their answer never came
    assert any(r.uncertain for r in journal.iter_rows(status="created"))
    journal.close()


def test_429_storm_is_absorbed(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(production_limit=15, window_s=0.5)
    export = write_export(tmp_path / "users.json", 50)
    settings = settings_for(server.url, prod_key)
    budget = RequestBudget(200.0, default_retry_after_s=0.5)
    journal, result = import_run(tmp_path / "run", export, settings, budget=budget)
    assert result.exit_code == 0
    assert_guarantees(journal, server, prod_key)
    assert server.stats(prod_key).get("rate_limited", 0) > 0
    assert result.summary["rate_limited"] > 0
    assert server.create_requests(prod_key) == 50  # a 429 was never carried out: no extra create
    journal.close()


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport and notes when each request left and what came back."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.log: list[tuple[float, float, int, str | None]] = []  # (sent, answered, status, retry-after)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.monotonic()
        response = await self.inner.handle_async_request(request)
        self.log.append((sent, time.monotonic(), response.status_code, response.headers.get("retry-after")))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_retry_after_is_honoured(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(production_limit=10, window_s=1.0)
    export = write_export(tmp_path / "users.json", 30)
    settings = settings_for(server.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    transport = RecordingTransport()
    budget = RequestBudget(100.0)  # far above the sandbox's 10/s: it must answer 429s

    async def go():
        client = ClerkClient(settings.secret_key, settings.base_url, budget, transport=transport, timeout=5)
        try:
            return await Importer(journal, settings, confirmed_production=True, client=client).run()
        finally:
            await client.aclose()

    result = asyncio.run(go())
    assert result.exit_code == 0
    assert_guarantees(journal, server, prod_key)
    limited = [(answered, float(ra)) for sent, answered, status, ra in transport.log if status == 429 and ra]
    assert limited, "the sandbox never answered 429"
    for answered, retry_after in limited:
        # nothing left after a 429 was seen until its Retry-After had passed
        early = [s for s, _, _, _ in transport.log if answered < s < answered + retry_after - 0.05]
        assert not early, (retry_after, [round(s - answered, 3) for s in early])
    journal.close()


def test_identifier_exists_settled_by_lookup(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 10, passwords=False)
    # row 2's user is already there (same external id): existed with its id
    there = sandbox.seed_user(prod_key, {"external_id": "ck000002", "email_address": ["user2@example.test"], "skip_password_requirement": True})
    # row 4's email belongs to another Clerk user: failed naming that user
    other = sandbox.seed_user(prod_key, {"external_id": "someone-else", "email_address": ["user4@example.test"], "skip_password_requirement": True})
    settings = settings_for(sandbox.url, prod_key)
    journal, result = import_run(tmp_path / "run", export, settings)
    assert result.exit_code == 1
    row2, row4 = journal.get_row(2), journal.get_row(4)
    assert row2.status == "existed" and row2.clerk_user_id == there["id"]
    assert row4.status == "failed" and row4.error_code == "form_identifier_exists"
    assert other["id"] in row4.error_message and "someone-else" in row4.error_message
    assert result.summary["failures"][0]["code"] == "form_identifier_exists"
    # the operator fixes the address and retries that row
    journal.set_fix(4, {"email": "user4.fixed@example.test"})
    assert journal.count_retryable() == 1
    importer = Importer(journal, settings, confirmed_production=True, rate=400, kind="retry")
    again = asyncio.run(importer.retry())
    assert again.exit_code == 0
    row4 = journal.get_row(4)
    assert row4.status == "created" and row4.email == "user4.fixed@example.test"
    fixed = [u for u in sandbox.users(prod_key) if u["external_id"] == "ck000004"][0]
    assert fixed["email_addresses"][0]["email_address"] == "user4.fixed@example.test"
    assert fixed["id"] == row4.clerk_user_id
    journal.close()


def test_unknown_outcome_gives_up_then_retry_settles(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(ambiguous_rate=0.0, fail_rate=1.0, fail_statuses=(503,))
    export = write_export(tmp_path / "users.json", 6)
    settings = settings_for(server.url, prod_key)
    # creates always 503; lookups too, but the client retries GETs — let lookups through:
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)

    class CreatesFail(httpx.AsyncBaseTransport):
        def __init__(self):
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request):
            if request.method == "POST":
                return httpx.Response(503, json={"errors": [{"code": "service_unavailable", "message": "down"}]})
            return await self.inner.handle_async_request(request)

    server.config.fail_rate = 0.0

    async def go(transport=None):
        client = ClerkClient(settings.secret_key, settings.base_url, RequestBudget(400.0), transport=transport, timeout=2)
        try:
            imp = Importer(journal, settings, confirmed_production=True, client=client, max_attempts=2,
                           backoff_base_s=0.01, backoff_cap_s=0.05, lookup_wait_s=0.01)
            return await (imp.run() if transport else imp.retry())
        finally:
            await client.aclose()

    result = asyncio.run(go(CreatesFail()))
    assert result.exit_code == 1
    assert journal.counts()["failed"] == 6
    assert all(r.error_code == "unknown_outcome" and r.attempts == 2 for r in journal.iter_rows(status="failed"))
    assert server.create_requests(prod_key) == 0
    assert result.summary["failures"][0]["retryable"] is True
    again = asyncio.run(go())
    assert again.exit_code == 0
    assert_guarantees(journal, server, prod_key)
    journal.close()


def test_guards_before_any_write(tmp_path: Path, sandbox, dev_key, prod_key):
    export = write_export(tmp_path / "users.json", 10)
    # a Development key without IMPORT_TO_DEV_INSTANCE
    with pytest.raises(RunRefused, match="IMPORT_TO_DEV_INSTANCE"):
        prepare_run(tmp_path / "run", export, settings_for(sandbox.url, dev_key), confirmed_production=False)
    assert not (tmp_path / "run").exists()
    # a Production key without --yes
    with pytest.raises(RunRefused, match="--yes"):
        prepare_run(tmp_path / "run", export, settings_for(sandbox.url, prod_key), confirmed_production=False)
    assert not (tmp_path / "run").exists()
    # a Development instance that cannot take every row: says how many fit, sends nothing
    for i in range(95):
        sandbox.seed_user(dev_key, {"external_id": f"x{i}", "email_address": [f"x{i}@example.test"], "skip_password_requirement": True})
    settings = settings_for(sandbox.url, dev_key, allow_dev=True)
    with pytest.raises(RunRefused, match=r"holds 95 user\(s\).*5 more fit, this run has 10"):
        import_run(tmp_path / "dev-run", export, settings, confirmed=False)
    assert sandbox.create_requests(dev_key) == 0
    assert len(sandbox.users(dev_key)) == 95


def test_dev_instance_within_the_cap(tmp_path: Path, sandbox, dev_key):
    export = write_export(tmp_path / "users.json", 20)
    settings = settings_for(sandbox.url, dev_key, allow_dev=True)
    journal, result = import_run(tmp_path / "run", export, settings, confirmed=False)
    assert result.exit_code == 0 and result.summary["instance"] == "development"
    assert_guarantees(journal, sandbox, dev_key)
    journal.close()


def test_quota_exceeded_stops_and_leaves_the_rest_pending(tmp_path: Path, sandbox_factory, dev_key):
    server = sandbox_factory(dev_user_cap=12)  # the sandbox's cap below the documented 100
    export = write_export(tmp_path / "users.json", 30)
    settings = settings_for(server.url, dev_key, allow_dev=True)
    journal, result = import_run(tmp_path / "run", export, settings, confirmed=False, concurrency=4)
    assert result.exit_code == 2 and result.stop_reason == "quota"
    counts = journal.counts()
    assert counts["created"] == 12 and counts["failed"] == 0 and counts["creating"] == 0
    assert counts["pending"] == 18
    assert "quota" in result.message
    # the 403s were answers: a few rows were refused by Clerk, none got lost
    assert len(server.users(dev_key)) == 12
    journal.close()


def test_unauthorized_mid_run_then_resume(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=5)
    export = write_export(tmp_path / "users.json", 60)
    settings = settings_for(server.url, prod_key)

    def revoke(p):
        if p.created >= 15:
            server.config.rejected_keys.add(prod_key)

    journal, result = import_run(tmp_path / "run", export, settings, on_progress=revoke, rate=100, concurrency=4)
    assert result.exit_code == 2 and result.stop_reason == "unauthorized"
    counts = journal.counts()
    assert counts["failed"] == 0 and counts["creating"] == 0 and counts["pending"] > 0
    assert counts["created"] + counts["pending"] == 60
    journal.close()
    server.config.rejected_keys.clear()
    journal, result = import_run(tmp_path / "run", export, settings)
    assert result.exit_code == 0
    assert_guarantees(journal, server, prod_key)
    journal.close()


def test_resume_refuses_a_changed_export_or_another_instance(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 8)
    settings = settings_for(sandbox.url, prod_key)
    journal, result = import_run(tmp_path / "run", export, settings)
    journal.close()
    other_key = make_key("production", "another")
    other = settings_for(sandbox.url, other_key)
    journal = prepare_run(tmp_path / "run", export, other, confirmed_production=True)
    with pytest.raises(RunRefused, match="another instance"):  # Clerk says which instance the key is for
        asyncio.run(Importer(journal, other, confirmed_production=True).run())
    journal.close()
    assert sandbox.stats(other_key) == {"requests": 1}
    with pytest.raises(RunRefused, match="CLERK_API_URL"):
        prepare_run(tmp_path / "run", export, settings_for("http://127.0.0.1:9", prod_key), confirmed_production=True)
    write_export(export, 9)  # the file changes
    with pytest.raises(RunRefused, match="changed since this run started"):
        prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    from console.source.model import Policies

    write_export(export, 8)  # back to the same bytes
    with pytest.raises(RunRefused, match="policies"):
        prepare_run(tmp_path / "run", export, settings, confirmed_production=True, policies=Policies(unverified_email="refuse"))
    prepare_run(tmp_path / "run", export, settings, confirmed_production=True).close()


def test_pause_resume_stop_from_another_thread(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(latency_ms=10)
    export = write_export(tmp_path / "users.json", 200)
    settings = settings_for(server.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    seen: list = []
    cond = threading.Condition()

    def on_progress(p):
        with cond:
            seen.append(p)
            cond.notify_all()

    importer = Importer(journal, settings, confirmed_production=True, rate=60, concurrency=4, on_progress=on_progress)
    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("result", asyncio.run(importer.run())))
    worker.start()

    def wait_for(pred, timeout=20.0):
        deadline = time.monotonic() + timeout
        with cond:
            while not (seen and pred(seen[-1])):
                left = deadline - time.monotonic()
                assert left > 0, seen[-1] if seen else None
                cond.wait(left)
            return seen[-1]

    wait_for(lambda p: p.created >= 10)
    importer.pause()
    paused = wait_for(lambda p: p.state == "paused" and p.in_flight == 0)
    creates = server.create_requests(prod_key)
    n = len(seen)
    wait_for(lambda p: len(seen) >= n + 5)  # half a second of snapshots while paused
    assert server.create_requests(prod_key) == creates
    importer.resume()
    wait_for(lambda p: p.created >= paused.created + 10)
    importer.stop()
    worker.join(20)
    result = out["result"]
    assert result.exit_code == 130 and result.stop_reason == "stopped"
    counts = journal.counts()
    assert counts["creating"] == 0 and counts["pending"] > 0
    assert server.create_requests(prod_key) == counts["created"]
    journal.close()


def test_run_summary_and_journal_queries(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 20, bad={1, 2})
    settings = settings_for(sandbox.url, prod_key)
    journal, result = import_run(tmp_path / "run", export, settings)
    reader = RunJournal.open(tmp_path / "run", readonly=True)
    s = run_summary(reader)
    assert s["created"] == 18 and s["refused"] == 2 and s["importable"] == 18
    assert s["refusals"] and s["sessions"] == 1
    json.dumps(s)
    assert len(reader.rows(status="created", limit=5)) == 5
    assert [r.row_no for r in reader.iter_rows(status="refused")] == [1, 2]
    reader.close()
    journal.close()


def test_clerk_unreachable_stops_and_keeps_rows_in_doubt(tmp_path: Path, sandbox_factory, prod_key):
    server = sandbox_factory(drop_rate=1.0)  # every connection dropped, nothing written
    export = write_export(tmp_path / "users.json", 12)
    settings = settings_for(server.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)

    async def go(**client_kw):
        client = ClerkClient(settings.secret_key, settings.base_url, RequestBudget(400.0), timeout=1, **client_kw)
        try:
            imp = Importer(journal, settings, confirmed_production=True, client=client, concurrency=4,
                           backoff_base_s=0.01, backoff_cap_s=0.05, lookup_wait_s=0.01)
            return await imp.run()
        finally:
            await client.aclose()

    result = asyncio.run(go(read_attempts=1))
    assert result.exit_code == 2 and result.stop_reason == "lookup_failed"
    counts = journal.counts()
    assert counts["creating"] > 0 and counts["failed"] == 0 and counts["created"] == 0
    # Clerk is back: the rows in doubt are looked up first, then everything is sent once
    server.config.drop_rate = 0.0
    again = asyncio.run(go())
    assert again.exit_code == 0
    assert_guarantees(journal, server, prod_key)
    journal.close()


def test_a_second_run_folder_finds_every_user_existed(tmp_path: Path, sandbox, prod_key):
    export = write_export(tmp_path / "users.json", 30, bad={9})
    settings = settings_for(sandbox.url, prod_key)
    first, result = import_run(tmp_path / "run1", export, settings)
    assert result.exit_code == 0
    ids = {r.external_id: r.clerk_user_id for r in first.iter_rows(status="created")}
    first.close()
    second, result = import_run(tmp_path / "run2", export, settings)
    assert result.exit_code == 0
    assert second.counts()["existed"] == 29 and second.counts()["created"] == 0
    assert {r.external_id: r.clerk_user_id for r in second.iter_rows(status="existed")} == ids
    # one create per row, then the conflicts were looked up in batches (not one lookup per row)
    assert result.summary["requests"] < 29 + 29
    assert_guarantees(second, sandbox, prod_key)
    second.close()


def test_a_second_session_on_the_same_run_is_refused(tmp_path: Path, sandbox, prod_key):
    from console.migration.run import run_lock

    export = write_export(tmp_path / "users.json", 5)
    settings = settings_for(sandbox.url, prod_key)
    journal = prepare_run(tmp_path / "run", export, settings, confirmed_production=True)
    with run_lock(tmp_path / "run", "undo"):
        with pytest.raises(RunRefused, match=r"another clerk-migrate session.*undo, pid"):
            asyncio.run(Importer(journal, settings, confirmed_production=True).run())
    assert sandbox.create_requests(prod_key) == 0
    result = asyncio.run(Importer(journal, settings, confirmed_production=True, rate=200).run())
    assert result.exit_code == 0
    assert stat.S_IMODE((tmp_path / "run" / "run.lock").stat().st_mode) == 0o600
    journal.close()
