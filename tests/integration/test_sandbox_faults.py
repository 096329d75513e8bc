"""Latency and seeded faults, seen from a raw httpx client over real HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from console.sandbox import make_key

KEY = make_key("production", "faults")
AUTH = {"Authorization": f"Bearer {KEY}"}


def body(n: int) -> dict:
    return {"external_id": f"e{n}", "email_address": [f"f{n}@example.com"], "skip_password_requirement": True}


def client(server, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=AUTH, timeout=timeout)


def test_fail_rate_answers_5xx_before_anything_is_written(sandbox_factory):
    server = sandbox_factory(fail_rate=1.0)
    with client(server) as c:
        r = c.post("/v1/users", json=body(1))
        assert r.status_code in (500, 502, 503)
        data = r.json()
        assert data["errors"][0]["code"] and data["clerk_trace_id"]
        assert c.get("/v1/users").status_code >= 500
        assert c.get("/v1/users/count").status_code >= 500
    assert server.users(KEY) == []
    assert server.create_requests(KEY) == 1
    assert server.stats(KEY)["failed"] == 3


def test_fail_statuses_are_configurable(sandbox_factory):
    server = sandbox_factory(fail_rate=1.0, fail_statuses=(503,))
    with client(server) as c:
        assert {c.get("/v1/users").status_code for _ in range(5)} == {503}


def test_ambiguous_502_writes_the_user(sandbox_factory):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=("502",))
    with client(server) as c:
        r = c.post("/v1/users", json=body(1))
        assert r.status_code == 502
        assert r.json()["errors"][0]["code"] == "bad_gateway"
        # the user is there: a lookup by external id finds it (reads are not ambiguous)
        found = c.get("/v1/users", params={"external_id": "e1"}).json()
        assert [u["external_id"] for u in found] == ["e1"]
        # a blind resend collides with it
        again = c.post("/v1/users", json=body(1))
        assert again.status_code == 422
        assert again.json()["errors"][0]["code"] == "form_identifier_exists"
    assert len(server.users(KEY)) == 1
    assert server.stats(KEY)["ambiguous_502"] == 1


def test_ambiguous_only_hits_creates_that_succeed(sandbox_factory):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=("502",))
    with client(server) as c:
        r = c.post("/v1/users", json={"external_id": "x", "email_address": ["bad"]})
        assert r.status_code == 422
    assert server.users(KEY) == []


def test_ambiguous_hang_makes_the_client_time_out_but_writes(sandbox_factory):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=("hang",), ambiguous_hang_s=30)
    with client(server, timeout=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/users", json=body(1))
        assert time.monotonic() - t0 < 2
    assert [u["external_id"] for u in server.users(KEY)] == ["e1"]
    assert server.stats(KEY)["ambiguous_hang"] == 1


def test_a_short_hang_answers_late(sandbox_factory):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=("hang",), ambiguous_hang_s=0.3)
    with client(server, timeout=5) as c:
        t0 = time.monotonic()
        r = c.post("/v1/users", json=body(1))
        assert r.status_code == 200 and r.json()["external_id"] == "e1"
        assert time.monotonic() - t0 >= 0.3


def test_stop_does_not_wait_for_a_hanging_answer(sandbox_factory):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=("hang",), ambiguous_hang_s=60)
    outcome: list[object] = []

    def send() -> None:
        try:
            with client(server, timeout=30) as c:
                outcome.append(c.post("/v1/users", json=body(1)))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=send)
    worker.start()
    deadline = time.monotonic() + 5
    while not server.users(KEY):  # wait until the create is written and hanging
        assert time.monotonic() < deadline
        time.sleep(0.01)
    t0 = time.monotonic()
    server.stop()
    worker.join(5)
    assert time.monotonic() - t0 < 3
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/users"), ("GET", "/v1/users"),
                                             ("GET", "/v1/users/count"), ("DELETE", "/v1/users/user_x")])
def test_drop_closes_the_connection_without_an_answer(sandbox_factory, method, path):
    server = sandbox_factory(drop_rate=1.0)
    with client(server) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.request(method, path, json=body(1) if method == "POST" else None)
    assert server.users(KEY) == []
    assert server.stats(KEY)["dropped"] == 1
    server.config.drop_rate = 0.0
    with client(server) as c:  # the server itself is fine
        assert c.get("/v1/users/count").json()["total_count"] == 0


def test_ambiguous_drop_writes_then_closes(sandbox_factory):
    server = sandbox_factory(ambiguous_rate=1.0, ambiguous_modes=("drop",))
    with client(server) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/v1/users", json=body(1))
    assert [u["external_id"] for u in server.users(KEY)] == ["e1"]


def test_latency(sandbox_factory):
    server = sandbox_factory(latency_ms=120)
    with client(server) as c:
        c.get("/v1/users/count")  # connect first
        t0 = time.monotonic()
        c.get("/v1/users/count")
        assert time.monotonic() - t0 >= 0.12


def test_jitter_stays_within_bounds(sandbox_factory):
    server = sandbox_factory(latency_ms=40, jitter_ms=30, seed=3)
    with client(server) as c:
        c.get("/v1/users/count")
        times = []
        for _ in range(8):
            t0 = time.monotonic()
            c.get("/v1/users/count")
            times.append(time.monotonic() - t0)
    assert min(times) >= 0.009
    assert max(times) - min(times) > 0.005  # it varies


def _codes(server, n: int = 40) -> list[int]:
    with client(server) as c:
        return [c.get("/v1/users/count").status_code for _ in range(n)]


def test_faults_are_reproducible_from_the_seed(sandbox_factory):
    a = sandbox_factory(fail_rate=0.5, seed=42)
    b = sandbox_factory(fail_rate=0.5, seed=42)
    c = sandbox_factory(fail_rate=0.5, seed=43)
    first = _codes(a)
    assert 5 < sum(code >= 500 for code in first) < 35
    assert _codes(b) == first
    assert _codes(c) != first
    a.reset()  # re-seeds: the same run again
    assert _codes(a) == first


def test_changing_the_seed_at_run_time_reseeds(sandbox_factory):
    server = sandbox_factory(fail_rate=0.5, seed=1)
    _codes(server, 20)
    server.config.seed = 7  # the next request re-seeds
    seven = _codes(server, 20)
    other = sandbox_factory(fail_rate=0.5, seed=7)
    assert _codes(other, 20) == seven


def test_faults_apply_after_auth_and_rate_limit(sandbox_factory):
    server = sandbox_factory(fail_rate=1.0, drop_rate=1.0, production_limit=1, window_s=30)
    with httpx.Client(base_url=server.url, timeout=5) as c:
        assert c.get("/v1/users").status_code == 401  # no fault before authentication
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/v1/users", headers=AUTH)
        r = c.get("/v1/users", headers=AUTH)
        assert r.status_code == 429 and r.headers["Retry-After"]
