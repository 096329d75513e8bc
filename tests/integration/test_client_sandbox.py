"""ClerkClient against the sandbox over real HTTP on loopback (fixtures
`sandbox` / `sandbox_factory` from tests/conftest.py)."""

from __future__ import annotations

import logging
import time
import traceback

import httpx
import pytest

from console.clerk.client import ClerkClient, LiveCheck
from console.clerk.errors import (
    AuthenticationError,
    ClerkAPIError,
    IdentifierExists,
    NotFound,
    QuotaExceeded,
    ServerError,
    TransportError,
    UnknownOutcome,
)
from console.clerk.limiter import RequestBudget
from console.sandbox.server import SandboxServer, make_key
from console.settings import SecretKey

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"  # 53 chars after the cost


class Recorder(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes when each request left and when its
    answer (or failure) came back, by the monotonic clock."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.log: list[dict] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        entry = {"method": request.method, "path": request.url.path, "query": request.url.query.decode(), "sent": time.monotonic()}
        self.log.append(entry)
        try:
            response = await self.inner.handle_async_request(request)
        except Exception:
            entry.update(received=time.monotonic(), status=None)
            raise
        entry.update(received=time.monotonic(), status=response.status_code, retry_after=response.headers.get("retry-after"))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def client_for(server: SandboxServer, key: str, **kw) -> ClerkClient:
    kw.setdefault("backoff_base_s", 0.02)
    kw.setdefault("backoff_max_s", 0.1)
    return ClerkClient(SecretKey(key), server.url, kw.pop("budget", None), **kw)


def body(n: int | str, **extra) -> dict:
    return {
        "external_id": f"ext_{n}",
        "email_address": [f"user{n}@example.com"],
        "first_name": "Ann",
        "skip_password_requirement": True,
        **extra,
    }


# ------------------------------------------------------------- the happy path
async def test_create_get_list_count_delete(sandbox):
    server = sandbox
    key = make_key("production", "crud")
    async with client_for(server, key) as clerk:
        user = await clerk.create_user(body(1, password_digest=BCRYPT, password_hasher="bcrypt"))
        assert user.id.startswith("user_") and user.external_id == "ext_1"
        assert user.primary_email.email_address == "user1@example.com"
        assert user.password_enabled
        assert (await clerk.get_user(user.id)).external_id == "ext_1"
        assert await clerk.count_users() == 1
        assert await clerk.count_users(external_id=["ext_1", "nope"]) == 1
        listed = await clerk.list_users(limit=10, order_by="-created_at")
        assert [u.id for u in listed] == [user.id]
        check = await clerk.check()
        assert isinstance(check, LiveCheck) and check.users == 1 and check.latency_ms > 0
        deleted = await clerk.delete_user(user.id)
        assert deleted.deleted and deleted.id == user.id
        with pytest.raises(NotFound):
            await clerk.get_user(user.id)
        with pytest.raises(NotFound):
            await clerk.delete_user(user.id)
        assert await clerk.count_users() == 0
    assert server.api_versions(key) == {"2025-11-10": server.stats(key)["requests"]}
    assert len(clerk.latencies) == server.stats(key)["requests"]


async def test_duplicates_are_identifier_exists_with_the_param(sandbox):
    server = sandbox
    key = make_key("production", "dup")
    async with client_for(server, key) as clerk:
        await clerk.create_user(body(1))
        with pytest.raises(IdentifierExists) as by_email:
            await clerk.create_user(body(2, email_address=["USER1@example.com"]))
        with pytest.raises(IdentifierExists) as by_external_id:
            await clerk.create_user(body(1, email_address=["other@example.com"]))
    assert by_email.value.status == 422 and by_email.value.code == "form_identifier_exists"
    assert by_email.value.param_name == "email_address"
    assert by_email.value.trace_id
    assert by_external_id.value.param_name == "external_id"
    assert by_email.value.outcome_known and by_external_id.value.outcome_known
    assert len(server.users(key)) == 1


async def test_bad_digest_and_unknown_field(sandbox):
    server = sandbox
    key = make_key("production", "bad")
    async with client_for(server, key) as clerk:
        with pytest.raises(ClerkAPIError) as digest:
            await clerk.create_user(body(1, password_digest="$2b$10$short", password_hasher="bcrypt"))
        with pytest.raises(ClerkAPIError) as unknown:
            await clerk.create_user(body(2, avatar_url="https://x/y.png"))
    assert type(digest.value) is ClerkAPIError
    assert digest.value.code == "form_password_digest_invalid_code"
    assert digest.value.param_name == "password_digest"
    assert unknown.value.code == "form_param_unknown" and unknown.value.param_name == "avatar_url"
    assert unknown.value.status == 422 and unknown.value.message
    assert server.users(key) == []


async def test_401_for_a_refused_key_does_not_show_it(sandbox_factory, caplog):
    caplog.set_level(logging.DEBUG)
    key = make_key("production", "revoked")
    server = sandbox_factory(rejected_keys={key})
    async with client_for(server, key) as clerk:
        with pytest.raises(AuthenticationError) as info:
            await clerk.create_user(body(1))
        with pytest.raises(AuthenticationError):
            await clerk.count_users()
    assert info.value.status == 401 and info.value.code == "clerk_key_invalid"
    printed = "".join(traceback.format_exception(info.value)) + repr(info.value) + caplog.text + repr(clerk)
    assert key not in printed and key[8:-4] not in printed
    assert info.value.__cause__ is None and info.value.__context__ is None


async def test_dev_instance_cap_is_quota_exceeded(sandbox_factory):
    server = sandbox_factory(dev_user_cap=2)
    key = make_key("development", "cap")
    async with client_for(server, key) as clerk:
        assert clerk.budget.target_rate == pytest.approx(9.0)  # the key's kind picked the budget
        await clerk.create_user(body(1))
        await clerk.create_user(body(2))
        with pytest.raises(QuotaExceeded) as info:
            await clerk.create_user(body(3))
    assert info.value.status == 403 and info.value.code == "user_quota_exceeded"
    assert "2" in info.value.long_message or "2" in info.value.message
    assert len(server.users(key)) == 2


# --------------------------------------------------------------------- 429s
async def test_429_retry_after_is_honoured_and_the_call_succeeds(sandbox_factory):
    # the sandbox allows 3 requests per 1 s; the client's budget believes in
    # 9/s (a development instance): it meets 429s and must wait them out
    server = sandbox_factory(development_limit=3, window_s=1.0)
    key = make_key("development", "limited")
    recorder = Recorder()
    async with client_for(server, key, transport=recorder) as clerk:
        for n in range(7):
            await clerk.create_user(body(n))
    log = recorder.log
    limited = [i for i, e in enumerate(log) if e["status"] == 429]
    assert limited, "the sandbox never said 429"
    for i in limited:
        retry_after = float(log[i]["retry_after"])
        assert retry_after >= 1
        nxt = log[i + 1]
        # measured, not slept: the next request left no earlier than Retry-After after the 429 came
        assert nxt["sent"] - log[i]["received"] >= retry_after - 0.005, (nxt["sent"] - log[i]["received"], retry_after)
    assert clerk.budget.rate_limited == len(limited) == server.stats(key)["rate_limited"]
    assert clerk.budget.current_rate < clerk.budget.target_rate
    assert len(server.users(key)) == 7
    assert server.create_requests(key) == 7  # a 429 is not a create that happened


async def test_429_raised_when_the_caller_asks(sandbox_factory):
    server = sandbox_factory(production_limit=1, window_s=5.0)
    key = make_key("production", "noretry")
    async with client_for(server, key) as clerk:
        await clerk.count_users()
        start = time.monotonic()
        with pytest.raises(Exception) as info:
            await clerk.count_users(retry_rate_limited=False)
        assert time.monotonic() - start < 1.0
    assert info.value.status == 429 and info.value.code == "too_many_requests"
    assert 1 <= info.value.retry_after <= 5
    assert clerk.budget.paused_for > 0


# ------------------------------------------------------------------ lookups
async def test_lookups_batch_100_values_per_request(sandbox):
    server = sandbox
    key = make_key("production", "lookups")
    for n in range(250):
        server.seed_user(key, body(n))
    server.seed_user(key, body("multi", email_address=["primary@example.com", "Second@Example.com"]))
    recorder = Recorder()
    async with client_for(server, key, transport=recorder) as clerk:
        wanted = [f"ext_{n}" for n in range(250)] + ["ext_missing"]
        found = await clerk.users_by_external_ids(wanted)
        assert len(recorder.log) == 3
        assert sorted(e["query"].count("external_id=") for e in recorder.log) == [51, 100, 100]
        assert all("limit=500" in e["query"] for e in recorder.log)
        assert set(found) == set(wanted) - {"ext_missing"}
        assert all(found[x].external_id == x for x in found)

        by_id = await clerk.users_by_ids([found["ext_7"].id, found["ext_200"].id, "user_nope"])
        assert set(by_id) == {found["ext_7"].id, found["ext_200"].id}

        emails = await clerk.users_by_emails(["USER3@example.com", "second@example.com", "nobody@example.com"])
        assert set(emails) == {"user3@example.com", "second@example.com"}
        assert emails["second@example.com"].external_id == "ext_multi"  # a secondary address
        assert await clerk.count_users() == 251


# ------------------------------------------------------------------- faults
async def test_create_5xx_is_unknown_outcome_and_not_resent(sandbox_factory):
    server = sandbox_factory(fail_rate=1.0)
    key = make_key("production", "fail")
    async with client_for(server, key) as clerk:
        with pytest.raises(ServerError) as info:
            await clerk.create_user(body(1))
    assert isinstance(info.value, UnknownOutcome) and not info.value.outcome_known
    assert info.value.status in (500, 502, 503)
    assert server.create_requests(key) == 1
    assert server.users(key) == []  # a "fail" writes nothing


@pytest.mark.parametrize(
    ("mode", "cls", "code"),
    [("502", ServerError, "server_error"), ("hang", TransportError, "timeout"), ("drop", TransportError, "connection_dropped")],
)
async def test_ambiguous_create_is_unknown_outcome_but_written(sandbox_factory, mode, cls, code):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=(mode,), ambiguous_hang_s=5.0)
    key = make_key("production", f"amb{mode}")
    async with client_for(server, key, timeout=0.5) as clerk:
        with pytest.raises(cls) as info:
            await clerk.create_user(body(1))
        assert isinstance(info.value, UnknownOutcome) and not info.value.outcome_known
        if mode != "502":
            assert info.value.code == code
        assert server.create_requests(key) == 1  # never resent by the client
        # the user IS there: looking the external id up is how the caller finds out
        found = await clerk.users_by_external_ids(["ext_1"])
    assert found["ext_1"].id == server.users(key)[0]["id"]


async def test_dropped_create_is_unknown_outcome(sandbox_factory):
    server = sandbox_factory(drop_rate=1.0)
    key = make_key("production", "drop")
    async with client_for(server, key) as clerk:
        with pytest.raises(TransportError) as info:
            await clerk.create_user(body(1))
    assert info.value.code == "connection_dropped" and not info.value.outcome_known
    assert server.create_requests(key) == 1 and server.users(key) == []


@pytest.mark.parametrize("fault", ["fail_rate", "drop_rate"])
async def test_gets_are_retried_through_faults(sandbox_factory, fault):
    server = sandbox_factory(**{fault: 1.0})
    key = make_key("production", f"get{fault}")
    server.seed_user(key, body(1))
    failures: list[int | None] = []

    def heal_after_two(latency: float, status: int | None) -> None:
        if status is None or status >= 500:
            failures.append(status)
            if len(failures) == 2:
                setattr(server.config, fault, 0.0)

    async with client_for(server, key, on_response=heal_after_two) as clerk:
        assert await clerk.count_users() == 1
        assert clerk.retries == 2
        setattr(server.config, fault, 1.0)
        failures.clear()
        found = await clerk.users_by_external_ids(["ext_1"])
        assert set(found) == {"ext_1"} and clerk.retries == 4
        setattr(server.config, fault, 1.0)
        failures.clear()
        user = await clerk.get_user(found["ext_1"].id)
        assert user.external_id == "ext_1" and clerk.retries == 6


async def test_gets_give_up_after_read_attempts(sandbox_factory):
    server = sandbox_factory(fail_rate=1.0)
    key = make_key("production", "giveup")
    async with client_for(server, key, read_attempts=3) as clerk:
        with pytest.raises(ServerError):
            await clerk.count_users()
    assert server.stats(key)["failed"] == 3


async def test_delete_that_happened_but_failed_to_answer_is_done(sandbox):
    server = sandbox
    key = make_key("production", "delete")
    user = server.seed_user(key, body(1))
    recorder = Recorder()
    first = True

    class DropFirstAnswer(httpx.AsyncBaseTransport):
        """The DELETE reaches the sandbox (it deletes), the answer is lost."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal first
            response = await recorder.handle_async_request(request)
            if first:
                first = False
                await response.aread()
                raise httpx.ReadError("connection lost", request=request)
            return response

    async with client_for(server, key, transport=DropFirstAnswer()) as clerk:
        deleted = await clerk.delete_user(user["id"])
    assert deleted.deleted and deleted.id == user["id"]
    assert [e["status"] for e in recorder.log] == [200, 404]
    assert server.users(key) == []


async def test_transport_errors_never_carry_the_key(sandbox_factory, caplog):
    caplog.set_level(logging.DEBUG)
    server = sandbox_factory(drop_rate=1.0)
    key = make_key("production", "leak")
    async with client_for(server, key, read_attempts=2) as clerk:
        errors = []
        for call in (lambda: clerk.create_user(body(1)), clerk.count_users, lambda: clerk.delete_user("user_x")):
            with pytest.raises(TransportError) as info:
                await call()
            errors.append(info.value)
    closed = client_for(server, key)
    await closed.aclose()
    with pytest.raises(Exception) as after_close:  # a closed client: httpx's own RuntimeError
        await closed.count_users()
    errors.append(after_close.value)
    for err in errors:
        text = "".join(traceback.format_exception(err)) + repr(err) + str(err)
        assert key not in text and key[8:-4] not in text
        assert not isinstance(err.__cause__, httpx.HTTPError) and not isinstance(err.__context__, httpx.HTTPError)
    assert key not in caplog.text


async def test_unreachable_server_is_a_transport_error(sandbox):
    server = sandbox
    url = server.url
    server.stop()  # nothing listens there any more
    key = make_key("production", "gone")
    async with ClerkClient(SecretKey(key), url, read_attempts=2, backoff_base_s=0.01) as clerk:
        with pytest.raises(TransportError) as info:
            await clerk.count_users()
        with pytest.raises(TransportError):
            await clerk.create_user(body(1))
    assert info.value.code == "connect_error"


async def test_one_budget_paces_concurrent_calls(sandbox_factory):
    """Many concurrent calls through one budget: nothing above the pace, no 429."""
    import asyncio

    server = sandbox_factory(production_limit=40, window_s=1.0, latency_ms=20)
    key = make_key("production", "shared")
    budget = RequestBudget(30.0, window_s=1.0)  # 30/s, at most 30 per 1 s window, under the sandbox's 40
    recorder = Recorder()
    async with client_for(server, key, budget=budget, transport=recorder) as clerk:
        started = time.monotonic()
        await asyncio.gather(*(clerk.create_user(body(n)) for n in range(45)))
        elapsed = time.monotonic() - started
    assert server.stats(key).get("rate_limited", 0) == 0
    assert len(server.users(key)) == 45
    sent = sorted(e["sent"] for e in recorder.log)
    assert elapsed >= 44 / 30 - 0.05
    assert elapsed <= 44 / 30 / 0.8 + 0.3, elapsed  # near the pace (~99 % measured; slack for a busy CI machine)
    # no 1 s window holds more than 30 sends (2 ms of slack for the clock read in the transport)
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u < t + 1.0 - 0.002) <= 30


# ------------------------------------------------------------- round two: the calls sync, verify and preflight use
from console.clerk.errors import PasswordNotSet  # noqa: E402
from console.sandbox.instance_settings import open_user_settings  # noqa: E402


async def test_instance_is_the_same_under_a_rotated_key(sandbox):
    key = make_key("production", "rotating")
    rotated = sandbox.rotate_key(key)
    async with client_for(sandbox, key) as one, client_for(sandbox, rotated) as two:
        first, second = await one.get_instance(), await two.get_instance()
    assert first.id == second.id and first.id.startswith("ins_") and first.environment_type == "production"
    async with client_for(sandbox, make_key("development", "rotating")) as dev:
        other = await dev.get_instance()
    assert other.id != first.id and other.environment_type == "development"


async def test_patch_user_email_addresses_and_ban(sandbox_factory):
    server = sandbox_factory(user_settings=open_user_settings())
    key = make_key("production", "sync")
    async with client_for(server, key) as clerk:
        user = await clerk.create_user(body(1))
        other = await clerk.create_user(body(2))
        patched = await clerk.patch_user(user.id, {"first_name": "Grace", "username": "grace_h",
                                                   "public_metadata": {"plan": "pro"}})
        assert (patched.first_name, patched.username, patched.public_metadata) == ("Grace", "grace_h", {"plan": "pro"})
        with pytest.raises(IdentifierExists) as taken:
            await clerk.patch_user(other.id, {"external_id": "ext_1"})
        assert taken.value.param_name == "external_id"
        with pytest.raises(NotFound):
            await clerk.patch_user("user_missing", {"first_name": "x"})
        # an email change as Clerk wants it: add the new one as primary, then delete the old one
        old = user.primary_email
        new = await clerk.create_email_address(user.id, "grace@example.com", verified=True, primary=True)
        assert new.email_address == "grace@example.com" and new.verification.status == "verified"
        gone = await clerk.delete_email_address(old.id)
        assert gone.deleted and gone.id == old.id
        again = await clerk.get_user(user.id)
        assert [e.email_address for e in again.email_addresses] == ["grace@example.com"]
        assert again.primary_email_address_id == new.id
        plain = await clerk.create_email_address(other.id, "late@example.com")
        assert plain.verification is None
        assert (await clerk.update_email_address(plain.id, verified=True)).verification.status == "verified"
        with pytest.raises(IdentifierExists):
            await clerk.create_email_address(other.id, "GRACE@example.com")
        with pytest.raises(ClerkAPIError) as kept:
            await clerk.delete_email_address(other.primary_email.id)  # the primary address stays
        assert kept.value.status == 400
        assert (await clerk.ban_user(other.id)).model_extra["banned"] is True
        assert (await clerk.unban_user(other.id)).model_extra["banned"] is False


@pytest.mark.parametrize("fault", ["fail_rate", "drop_rate"])
async def test_writes_that_fail_without_an_answer_are_unknown_outcomes_never_resent(sandbox_factory, fault):
    server = sandbox_factory(user_settings=open_user_settings())
    key = make_key("production", "lost-writes")
    seeded = server.seed_user(key, body(1))
    server.config.__setattr__(fault, 1.0)
    async with client_for(server, key) as clerk:
        calls = [
            clerk.patch_user(seeded["id"], {"first_name": "X"}),
            clerk.create_email_address(seeded["id"], "x@example.com"),
            clerk.update_email_address(seeded["primary_email_address_id"], verified=True),
            clerk.delete_email_address(seeded["primary_email_address_id"]),
        ]
        for call in calls:
            before = server.stats(key).get("requests", 0)
            with pytest.raises(UnknownOutcome):
                await call
            assert server.stats(key)["requests"] == before + 1  # sent once, never again
        before = server.stats(key)["requests"]
        with pytest.raises(UnknownOutcome):  # an idempotent write is resent, read_attempts in all
            await clerk.ban_user(seeded["id"])
        assert server.stats(key)["requests"] == before + clerk.read_attempts


async def test_verify_password_bcrypt_argon2_right_and_wrong(sandbox):
    import bcrypt
    from argon2 import PasswordHasher

    key = make_key("production", "sign-in")
    password = "correct horse battery staple"
    digests = {
        "bcrypt": bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode(),
        "argon2id": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password),
    }
    async with client_for(sandbox, key) as clerk:
        for n, (hasher, digest) in enumerate(digests.items()):
            user = await clerk.create_user(body(n, skip_password_requirement=None, password_digest=digest,
                                                password_hasher=hasher))
            assert await clerk.verify_password(user.id, password) is True
            assert await clerk.verify_password(user.id, password[:-1]) is False
        nopass = await clerk.create_user(body("none"))
        with pytest.raises(PasswordNotSet) as info:
            await clerk.verify_password(nopass.id, password)
        assert password not in "".join(traceback.format_exception(info.value))
        with pytest.raises(NotFound):
            await clerk.verify_password("user_missing", password)


async def test_ids_that_start_with_a_dash_are_found(sandbox_factory):
    server = sandbox_factory(fail_rate=0.3, seed=5)  # lookups resent through 5xx, still exact
    key = make_key("production", "dashes")
    odd = ["-V1StGXR8_Z5jdHi6B-myT", "--double", "+plus", "plain", "-"]
    made = {}
    server.config.fail_rate = 0.0
    for i, ext in enumerate(odd):
        made[ext] = server.seed_user(key, body(i, external_id=ext))["id"]
    server.config.fail_rate = 0.3
    async with client_for(server, key) as clerk:
        found = await clerk.users_by_external_ids(odd + ["-missing"])
        assert {ext: u.id for ext, u in found.items()} == made
        by_id = await clerk.users_by_ids(list(made.values()))
        assert set(by_id) == set(made.values())
        assert await clerk.count_users(external_id=["-V1StGXR8_Z5jdHi6B-myT"]) == 1
        assert await clerk.count_users(external_id="--double", user_id=made["--double"]) == 1
        assert [u.id for u in await clerk.list_users(external_id=["-"])] == [made["-"]]


async def test_after_a_401_nothing_more_is_sent_even_with_64_workers(sandbox_factory):
    """64 workers keep calling after errors (as import workers pulling rows would). The key is refused:
    requests already on the wire when the first 401 is read still land; none leaves after it."""
    import asyncio

    key = make_key("production", "revoked-mid-run")
    server = sandbox_factory(latency_ms=60, rejected_keys={key})
    recorder = Recorder()
    sent_when_first_401_read: list[int] = []
    holder: list[ClerkClient] = []

    def on_response(latency: float, status: int | None) -> None:
        # called as the answer is read, in the same step that latches the 401 (no await between)
        if status == 401 and not sent_when_first_401_read:
            sent_when_first_401_read.append(holder[0].requests_sent)

    async with client_for(server, key, budget=RequestBudget(400.0), transport=recorder, on_response=on_response) as clerk:
        holder.append(clerk)

        async def worker(n: int) -> int:
            refused = 0
            for attempt in range(5):
                try:
                    await clerk.create_user(body(f"{n}-{attempt}"))
                except AuthenticationError:
                    refused += 1
            return refused

        refusals = await asyncio.gather(*(worker(n) for n in range(64)))
        assert sum(refusals) == 64 * 5  # every call ends in AuthenticationError
        assert clerk.refused is not None and clerk.refused.code == "clerk_key_invalid"
        with pytest.raises(AuthenticationError) as later:
            await clerk.count_users()
        assert "not sent" in str(later.value) and key not in str(later.value)
    # no request left after the first 401 was read; the ones on the wire then all landed
    assert clerk.requests_sent == sent_when_first_401_read[0]
    assert len(recorder.log) == clerk.requests_sent == server.auth_failures(key)
    # at 400/s and 60 ms a dozen or so were in flight; without the stop it would be 320
    assert clerk.requests_sent <= 64


async def test_fetch_environment_sends_no_secret_key(sandbox):
    from console.clerk.frontend import fetch_environment

    class Headers(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()
            self.seen: list[httpx.Headers] = []

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.seen.append(request.headers)
            return await self.inner.handle_async_request(request)

    spy = Headers()
    settings = await fetch_environment(sandbox.publishable_key("development"), transport=spy)
    assert settings.password.required and settings.enabled_providers == ["google", "github"]
    assert len(spy.seen) == 1 and "authorization" not in spy.seen[0]
    budget = RequestBudget(10.0)
    await fetch_environment(frontend_api_url=sandbox.url, budget=budget)
    assert budget.requests == 1
    sandbox.stop()
    with pytest.raises(TransportError):
        await fetch_environment(frontend_api_url="http://127.0.0.1:9", timeout=2)
