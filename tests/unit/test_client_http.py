"""ClerkClient against httpx.MockTransport, in virtual time: requests, error
mapping, 429 resends, retries, batching, latency hook."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from console.clerk.client import API_VERSION, ClerkClient, LiveCheck
from console.clerk.errors import (
    AuthenticationError,
    ClerkAPIError,
    IdentifierExists,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ServerError,
    TransportError,
    UnknownOutcome,
)
from console.clerk.limiter import RequestBudget, VirtualClock
from console.settings import SecretKey

KEY = SecretKey("sk_live_UNITTESTSECRETvalue9876")


def user_json(uid: str, external_id: str | None = None, emails: tuple[str, ...] = ()) -> dict:
    addresses = [
        {
            "id": f"idn_{uid}_{i}",
            "object": "email_address",
            "email_address": e,
            "reserved": False,
            "verification": {"object": "verification_admin", "status": "verified", "strategy": "admin"},
            "linked_to": [],
        }
        for i, e in enumerate(emails)
    ]
    return {
        "id": uid,
        "object": "user",
        "external_id": external_id,
        "email_addresses": addresses,
        "primary_email_address_id": addresses[0]["id"] if addresses else None,
        "created_at": 1700000000000,
    }


def clerk_error(status: int, code: str, message: str = "boom", param: str | None = None, headers=None) -> httpx.Response:
    item = {"message": message, "long_message": f"{message} (long)", "code": code}
    if param:
        item["meta"] = {"param_name": param}
    return httpx.Response(status, json={"errors": [item], "clerk_trace_id": "trace_123"}, headers=headers)


class Harness:
    def __init__(self, handler: Callable[[httpx.Request], httpx.Response], clock: VirtualClock, **kw):
        self.requests: list[tuple[float, httpx.Request]] = []
        self.clock = clock

        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append((clock.now(), request))
            return handler(request)

        self.budget = kw.pop("budget", None) or RequestBudget(1000.0, clock=clock)
        self.client = ClerkClient(
            KEY, "http://clerk.test/", self.budget, transport=httpx.MockTransport(record), **kw
        )


@pytest.fixture
async def vclock():
    clock = VirtualClock()
    with clock.patch_loop():
        yield clock


def sequence(*responses):
    """A handler answering with these responses (or raising these exceptions) in turn."""
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, type) and issubclass(item, Exception):
            raise item("simulated", request=request)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


# ---------------------------------------------------------------- requests
async def test_headers_base_url_and_create_body(vclock):
    h = Harness(sequence(httpx.Response(200, json=user_json("user_1", "ext_1", ("a@x.io",)))), vclock)
    user = await h.client.create_user({"external_id": "ext_1", "email_address": ["a@x.io"]})
    assert user.id == "user_1" and user.external_id == "ext_1"
    (_, req), = h.requests
    assert req.method == "POST"
    assert str(req.url) == "http://clerk.test/v1/users"
    assert req.headers["authorization"] == f"Bearer {KEY.reveal()}"
    assert req.headers["clerk-api-version"] == API_VERSION == "2025-11-10"
    assert req.headers["user-agent"].startswith("clerk-migrate/")
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == {"external_id": "ext_1", "email_address": ["a@x.io"]}
    assert h.budget.requests == 1


async def test_list_users_repeats_list_params(vclock):
    h = Harness(sequence(httpx.Response(200, json=[user_json("user_1")])), vclock)
    users = await h.client.list_users(external_id=["a", "b"], limit=10, offset=5, order_by="-created_at", query=None, banned=False)
    assert [u.id for u in users] == ["user_1"]
    url = h.requests[0][1].url
    assert url.path == "/v1/users"
    assert parse_qs(urlsplit(str(url)).query) == {
        "external_id": ["+a", "+b"],  # exact: Clerk reads a leading +/- as include/exclude
        "limit": ["10"],
        "offset": ["5"],
        "order_by": ["-created_at"],
        "banned": ["false"],
    }


async def test_count_get_delete(vclock):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/users/count":
            return httpx.Response(200, json={"object": "total_count", "total_count": 42})
        if request.method == "GET":
            return httpx.Response(200, json=user_json("user_a/b"))
        return httpx.Response(200, json={"object": "user", "id": "user_a/b", "deleted": True, "external_id": "e"})

    h = Harness(handler, vclock)
    assert await h.client.count_users(email_address=["x@y.z"]) == 42
    assert parse_qs(h.requests[0][1].url.query.decode()) == {"email_address": ["x@y.z"]}
    assert (await h.client.get_user("user_a/b")).id == "user_a/b"
    assert h.requests[1][1].url.raw_path == b"/v1/users/user_a%2Fb"  # ids are one path segment
    deleted = await h.client.delete_user("user_a/b")
    assert deleted.deleted and deleted.external_id == "e"
    check = await h.client.check()
    assert isinstance(check, LiveCheck) and check.users == 42 and check.latency_ms >= 0
    users, latency = check  # usable as a (count, latency ms) pair
    assert users == 42


# ------------------------------------------------------------ error mapping
@pytest.mark.parametrize(
    ("response", "cls", "code", "param"),
    [
        (clerk_error(422, "form_identifier_exists", "That email address is taken.", "email_address"), IdentifierExists, "form_identifier_exists", "email_address"),
        (clerk_error(422, "form_password_digest_invalid_code", "bad digest", "password_digest"), ClerkAPIError, "form_password_digest_invalid_code", "password_digest"),
        (clerk_error(422, "form_param_unknown", "unknown", "avatar"), ClerkAPIError, "form_param_unknown", "avatar"),
        (clerk_error(401, "authentication_invalid", "Unauthorized"), AuthenticationError, "authentication_invalid", None),
        (clerk_error(403, "user_quota_exceeded", "You have reached your limit of 100 users."), QuotaExceeded, "user_quota_exceeded", None),
        (clerk_error(404, "resource_not_found", "not found"), NotFound, "resource_not_found", None),
        (httpx.Response(400, text="<html>bad</html>"), ClerkAPIError, "http_400", None),
    ],
)
async def test_4xx_become_typed_errors_with_known_outcome(vclock, response, cls, code, param):
    h = Harness(sequence(response), vclock)
    with pytest.raises(cls) as info:
        await h.client.create_user({"external_id": "x"})
    err = info.value
    assert type(err) is cls
    assert err.status == response.status_code and err.code == code and err.param_name == param
    assert err.outcome_known is True and not isinstance(err, UnknownOutcome)
    if response.headers.get("content-type") == "application/json":
        assert err.trace_id == "trace_123"
        assert err.long_message.endswith("(long)")
        assert err.errors and err.errors[0]["code"] == code
    assert len(h.requests) == 1  # a definite answer is never resent


async def test_several_errors_are_all_kept(vclock):
    body = {
        "errors": [
            {"message": "a", "code": "form_param_format_invalid", "meta": {"param_name": "email_address"}},
            {"message": "b", "code": "form_param_invalid_time", "meta": {"param_name": "created_at"}},
        ]
    }
    h = Harness(sequence(httpx.Response(422, json=body)), vclock)
    with pytest.raises(ClerkAPIError) as info:
        await h.client.create_user({})
    assert info.value.param_name == "email_address"
    assert [e["meta"]["param_name"] for e in info.value.errors] == ["email_address", "created_at"]


@pytest.mark.parametrize(
    ("failure", "cls", "code"),
    [
        (clerk_error(500, "internal_clerk_error"), ServerError, "internal_clerk_error"),
        (httpx.Response(502, text="Bad Gateway"), ServerError, "server_error"),
        (httpx.Response(503), ServerError, "server_error"),
        (httpx.ReadTimeout, TransportError, "timeout"),
        (httpx.ConnectTimeout, TransportError, "connect_timeout"),
        (httpx.ConnectError, TransportError, "connect_error"),
        (httpx.RemoteProtocolError, TransportError, "connection_dropped"),
        (httpx.ReadError, TransportError, "connection_dropped"),
        (httpx.Response(200, text="{not json"), TransportError, "malformed_response"),
        (httpx.Response(200, json={"no": "id"}), TransportError, "malformed_response"),
    ],
)
async def test_create_failures_are_unknown_outcomes_and_never_resent(vclock, failure, cls, code):
    h = Harness(sequence(failure), vclock)
    with pytest.raises(cls) as info:
        await h.client.create_user({"external_id": "x"})
    assert isinstance(info.value, UnknownOutcome)
    assert info.value.outcome_known is False
    assert info.value.code == code
    assert len(h.requests) == 1
    assert h.client.retries == 0


async def test_gets_are_retried_with_capped_backoff_then_succeed(vclock):
    ok = httpx.Response(200, json={"object": "total_count", "total_count": 3})
    h = Harness(sequence(httpx.Response(502), httpx.ReadTimeout, httpx.RemoteProtocolError, ok), vclock, backoff_base_s=0.25, backoff_max_s=4.0)
    assert await h.client.count_users() == 3
    times = [t for t, _ in h.requests]
    assert len(times) == 4 and h.client.retries == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    for n, gap in enumerate(gaps, start=1):  # jittered in [0.5, 1] x base * 2**(n-1)
        full = min(4.0, 0.25 * 2 ** (n - 1))
        assert 0.5 * full - 1e-6 <= gap <= full + 1e-3


async def test_gets_give_up_after_read_attempts(vclock):
    h = Harness(sequence(httpx.Response(503)), vclock, read_attempts=3)
    with pytest.raises(ServerError):
        await h.client.get_user("user_1")
    assert len(h.requests) == 3
    h2 = Harness(sequence(httpx.ConnectError), vclock, read_attempts=2)
    with pytest.raises(TransportError):
        await h2.client.users_by_external_ids(["a"])
    assert len(h2.requests) == 2


async def test_backoff_never_exceeds_the_cap(vclock):
    h = Harness(sequence(httpx.Response(503)), vclock, read_attempts=8, backoff_base_s=1.0, backoff_max_s=2.0)
    with pytest.raises(ServerError):
        await h.client.count_users()
    times = [t for t, _ in h.requests]
    assert max(b - a for a, b in zip(times, times[1:])) <= 2.0 + 1e-3


async def test_a_4xx_on_a_get_is_not_retried(vclock):
    h = Harness(sequence(clerk_error(404, "resource_not_found")), vclock)
    with pytest.raises(NotFound):
        await h.client.get_user("user_x")
    assert len(h.requests) == 1


async def test_delete_404_after_a_failed_attempt_means_deleted(vclock):
    h = Harness(sequence(httpx.Response(502), clerk_error(404, "resource_not_found")), vclock)
    deleted = await h.client.delete_user("user_1")
    assert deleted.deleted and deleted.id == "user_1"
    assert len(h.requests) == 2
    h2 = Harness(sequence(clerk_error(404, "resource_not_found")), vclock)
    with pytest.raises(NotFound):
        await h2.client.delete_user("user_1")


# ------------------------------------------------------------------- 429s
async def test_429_is_resent_after_retry_after_without_counting_an_attempt(vclock):
    created = httpx.Response(200, json=user_json("user_1", "ext"))
    h = Harness(
        sequence(clerk_error(429, "too_many_requests", headers={"Retry-After": "3"}), clerk_error(429, "too_many_requests", headers={"Retry-After": "2"}), created),
        vclock,
    )
    user = await h.client.create_user({"external_id": "ext"})
    assert user.id == "user_1"
    times = [t for t, _ in h.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 3.0 - 1e-9
    assert times[2] - times[1] >= 2.0 - 1e-9
    assert h.budget.rate_limited == 2 and h.budget.requests == 3
    assert h.client.rate_limited_resends == 2 and h.client.retries == 0


async def test_429_resends_do_not_eat_get_attempts(vclock):
    limited = clerk_error(429, "too_many_requests", headers={"Retry-After": "1"})
    ok = httpx.Response(200, json={"object": "total_count", "total_count": 1})
    h = Harness(sequence(limited, httpx.Response(503), limited, limited, httpx.Response(503), ok), vclock, read_attempts=3)
    assert await h.client.count_users() == 1
    assert len(h.requests) == 6


async def test_429_without_retry_after_waits_10_s(vclock):
    ok = httpx.Response(200, json={"object": "total_count", "total_count": 1})
    h = Harness(sequence(clerk_error(429, "too_many_requests"), ok), vclock)
    await h.client.count_users()
    times = [t for t, _ in h.requests]
    assert times[1] - times[0] >= 10.0 - 1e-9


async def test_429_http_date_retry_after_is_honoured(vclock):
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=5), usegmt=True)
    ok = httpx.Response(200, json={"object": "total_count", "total_count": 1})
    h = Harness(sequence(clerk_error(429, "too_many_requests", headers={"Retry-After": when}), ok), vclock)
    await h.client.count_users()
    times = [t for t, _ in h.requests]
    assert 3.5 <= times[1] - times[0] <= 5.0 + 1e-6


async def test_429_raised_when_asked(vclock):
    h = Harness(sequence(clerk_error(429, "too_many_requests", headers={"Retry-After": "7"})), vclock)
    with pytest.raises(RateLimited) as info:
        await h.client.create_user({}, retry_rate_limited=False)
    assert info.value.retry_after == 7.0 and info.value.status == 429
    assert info.value.outcome_known is True
    assert len(h.requests) == 1
    assert h.budget.rate_limited == 1 and h.budget.paused_for == pytest.approx(7.0)


# ----------------------------------------------------------------- lookups
async def test_lookups_are_batched_100_per_request_with_limit_500(vclock):
    def handler(request: httpx.Request) -> httpx.Response:
        ids = [i.removeprefix("+") for i in parse_qs(request.url.query.decode())["external_id"]]
        return httpx.Response(200, json=[user_json(f"user_{i}", i) for i in ids if not i.endswith("7")])

    h = Harness(handler, vclock)
    wanted = [f"ext{i:03d}" for i in range(250)]
    found = await h.client.users_by_external_ids(wanted + wanted[:10])  # duplicates asked once
    assert len(h.requests) == 3
    sizes = sorted(len(parse_qs(r.url.query.decode())["external_id"]) for _, r in h.requests)
    assert sizes == [50, 100, 100]
    assert all(parse_qs(r.url.query.decode())["limit"] == ["500"] for _, r in h.requests)
    assert set(found) == {w for w in wanted if not w.endswith("7")}
    assert found["ext001"].id == "user_ext001"


async def test_email_lookup_matches_any_address_case_insensitively(vclock):
    def handler(request: httpx.Request) -> httpx.Response:
        asked = parse_qs(request.url.query.decode())["email_address"]
        assert asked == ["ann@example.com", "bob@example.com", "nobody@example.com"]
        return httpx.Response(
            200,
            json=[
                user_json("user_ann", "1", ("Ann@Example.com",)),
                user_json("user_bob", "2", ("bob.primary@example.com", "BOB@example.com")),
            ],
        )

    h = Harness(handler, vclock)
    found = await h.client.users_by_emails(["ANN@example.com", "bob@example.com", "nobody@example.com", "ann@EXAMPLE.com"])
    assert {k: v.id for k, v in found.items()} == {"ann@example.com": "user_ann", "bob@example.com": "user_bob"}


async def test_user_id_lookup_and_paging(vclock):
    def handler(request: httpx.Request) -> httpx.Response:
        q = parse_qs(request.url.query.decode())
        offset = int(q["offset"][0])
        ids = q["user_id"]
        # pretend the server pages (it would not for 100 ids, but the client must cope)
        page = [user_json(f"user_{n}") for n in range(offset, min(offset + 500, 600))]
        return httpx.Response(200, json=page if len(ids) == 2 else [])

    h = Harness(handler, vclock)
    found = await h.client.users_by_ids(["user_3", "user_599"])
    assert set(found) == {"user_3", "user_599"}
    assert [parse_qs(r.url.query.decode())["offset"] for _, r in h.requests] == [["0"], ["500"]]


async def test_empty_lookup_sends_nothing(vclock):
    h = Harness(sequence(httpx.Response(500)), vclock)
    assert await h.client.users_by_external_ids([]) == {}
    assert h.requests == []


# ----------------------------------------------------------- measurements
async def test_latency_hook_and_samples(vclock):
    seen: list[tuple[float, int | None]] = []
    ok = httpx.Response(200, json={"object": "total_count", "total_count": 1})
    h = Harness(sequence(httpx.Response(503), httpx.ConnectError, ok), vclock, on_response=lambda s, st: seen.append((s, st)))
    await h.client.count_users()
    assert [st for _, st in seen] == [503, None, 200]
    assert len(h.client.latencies) == 3
    p50, p95 = h.client.latency_quantiles()
    assert p50 is not None and p95 is not None and p50 <= p95


async def test_a_broken_hook_does_not_break_requests(vclock):
    def hook(latency, status):
        raise RuntimeError("display bug")

    ok = httpx.Response(200, json={"object": "total_count", "total_count": 1})
    h = Harness(sequence(ok), vclock, on_response=hook)
    assert await h.client.count_users() == 1


async def test_default_budget_follows_the_key():
    live = ClerkClient(SecretKey("sk_live_abcdefgh1234"), "https://x")
    test = ClerkClient(SecretKey("sk_test_abcdefgh1234"), "https://x")
    try:
        assert live.budget.target_rate == pytest.approx(90.0)
        assert test.budget.target_rate == pytest.approx(9.0)
    finally:
        await live.aclose()
        await test.aclose()


async def test_successes_and_4xx_raise_the_pace_5xx_and_429_do_not(vclock):
    budget = RequestBudget(100.0, clock=vclock)
    budget.on_rate_limited(0.0)
    low = budget.current_rate
    h = Harness(sequence(httpx.Response(503)), vclock, budget=budget, read_attempts=2)
    with pytest.raises(ServerError):
        await h.client.count_users()
    assert budget.current_rate == low
    h2 = Harness(sequence(clerk_error(422, "form_param_unknown")), vclock, budget=budget)
    with pytest.raises(ClerkAPIError):
        await h2.client.create_user({})
    assert budget.current_rate > low


@pytest.mark.parametrize("base", ["https://api.clerk.com", "https://api.clerk.com/", "https://api.clerk.com/v1", "https://api.clerk.com/v1/"])
async def test_base_url_is_normalised(vclock, base):
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json={"object": "total_count", "total_count": 0})

    async with ClerkClient(KEY, base, RequestBudget(100, clock=vclock), transport=httpx.MockTransport(handler)) as client:
        assert client.base_url == "https://api.clerk.com"
        await client.count_users()
    assert seen == ["https://api.clerk.com/v1/users/count"]


async def test_lookup_batches_run_concurrently_under_the_budget(vclock):
    import asyncio

    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.5)
        in_flight -= 1
        return httpx.Response(200, json=[])

    h = Harness(handler, vclock, budget=RequestBudget(100.0, clock=vclock), lookup_concurrency=4)
    await h.client.users_by_external_ids([str(i) for i in range(1000)])
    assert len(h.requests) == 10
    assert peak == 4
    times = [t for t, _ in h.requests]
    assert all(b - a >= 0.01 - 1e-9 for a, b in zip(times, times[1:]))  # still paced


async def test_a_failing_batch_cancels_the_others_and_raises(vclock):
    import asyncio

    async def handler(request: httpx.Request) -> httpx.Response:
        ids = parse_qs(request.url.query.decode())["external_id"]
        if ids[0] == "+100":
            return clerk_error(401, "authentication_invalid")
        await asyncio.sleep(5)
        return httpx.Response(200, json=[])

    h = Harness(handler, vclock, lookup_concurrency=3)
    start = vclock.now()
    with pytest.raises(AuthenticationError):
        await h.client.users_by_external_ids([str(i) for i in range(1000)])
    assert vclock.now() - start < 1.0  # did not wait for the slow batches
    assert len(h.requests) <= 3  # the rest were never sent
