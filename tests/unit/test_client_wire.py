"""The client's own HTTP/1.1 path (console/clerk/wire.py) against a raw loopback server
that answers byte by byte as each test wants: keep-alive reuse, chunked and gzip bodies,
a server that closes idle connections, answers that never come or stop half-way, the
connection cap, cancellation, and ClerkClient's classification of each failure."""

from __future__ import annotations

import asyncio
import gzip
import json

import httpx
import pytest

from console.clerk.client import ClerkClient
from console.clerk.errors import TransportError
from console.clerk.limiter import RequestBudget
from console.clerk.wire import WirePool

KEY = "sk_live_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
USER = {"id": "user_1", "object": "user", "external_id": "ext_1"}


class RawServer:
    """A loopback server; `behaviour(path, request_bytes) -> bytes | None | "close" | "hang"`.
    Records every connection and every request head."""

    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                path = head.split(b" ", 2)[1].decode()
                answer = await self.behaviour(path, head + body)
                if answer == "close":
                    break
                if answer == "hang":
                    await asyncio.sleep(30)
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


def ok(body: dict | list, *, extra: bytes = b"") -> bytes:
    data = json.dumps(body).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (len(data), extra, data)


def client_for(url: str, **kw) -> ClerkClient:
    kw.setdefault("timeout", 2.0)
    return ClerkClient(KEY, url, RequestBudget(1000.0), **kw)


async def test_keep_alive_one_connection_and_the_request_on_the_wire():
    async def behaviour(path, raw):
        return ok({"object": "total_count", "total_count": 7}) if "/count" in path else ok(USER)

    async with RawServer(behaviour) as server:
        async with client_for(server.url) as clerk:
            for _ in range(5):
                user = await clerk.create_user({"external_id": "ext_1", "email_address": ["a@example.test"]})
                assert user.id == "user_1"
            assert await clerk.count_users(external_id=["-x y"]) == 7
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/users HTTP/1.1"
    names = {line.split(b":", 1)[0].lower(): line.split(b":", 1)[1].strip() for line in lines[1:]}
    assert names[b"host"] == f"127.0.0.1:{server.port}".encode()
    assert names[b"authorization"] == f"Bearer {KEY}".encode()
    assert names[b"clerk-api-version"] and names[b"content-type"] == b"application/json"
    assert int(names[b"content-length"]) == len(body)
    assert json.loads(body) == {"external_id": "ext_1", "email_address": ["a@example.test"]}
    # the lookup's query: + and - encoded, a space as +
    assert server.requests[-1].split(b" ", 2)[1] == b"/v1/users/count?external_id=%2B-x+y"


async def test_chunked_and_gzip_answers_are_decoded():
    data = json.dumps(USER).encode()
    zipped = gzip.compress(data)

    async def behaviour(path, raw):
        if "gzip" in path:
            return (b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(zipped)) + zipped
        half = len(data) // 2
        return (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                + b"%x\r\n%s\r\n" % (half, data[:half]) + b"%x\r\n%s\r\n" % (len(data) - half, data[half:]) + b"0\r\n\r\n")

    async with RawServer(behaviour) as server:
        async with client_for(server.url) as clerk:
            assert (await clerk.get_user("chunked")).id == "user_1"
            assert (await clerk.get_user("gzip")).id == "user_1"
            assert (await clerk.get_user("chunked")).external_id == "ext_1"
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_used():
    async def behaviour(path, raw):
        if path.endswith("/close-after"):
            return ok(USER, extra=b"connection: close\r\n")
        return ok(USER)

    async with RawServer(behaviour) as server:
        async with client_for(server.url) as clerk:
            await clerk.get_user("close-after")  # the server closes after answering
            await asyncio.sleep(0.05)
            for _ in range(3):
                assert (await clerk.get_user("u")).id == "user_1"
            assert clerk.retries == 0  # no failed attempt: the closed connection was never used
    assert server.connections == 2


async def test_no_answer_is_a_dropped_connection_and_a_create_is_not_resent():
    async def behaviour(path, raw):
        return "close"

    async with RawServer(behaviour) as server:
        async with client_for(server.url) as clerk:
            with pytest.raises(TransportError) as caught:
                await clerk.create_user({"external_id": "ext_1"})
            assert caught.value.code == "connection_dropped"
            assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert len(server.requests) == 1


async def test_half_an_answer_then_close_is_dropped():
    async def behaviour(path, raw):
        return b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"id\": "

    async with RawServer(behaviour) as server:
        # the server closes after its half answer (the handler returns, the loop reads EOF)
        async with client_for(server.url, read_attempts=1) as clerk:
            with pytest.raises(TransportError) as caught:
                await asyncio.wait_for(clerk.get_user("u"), 5)
            assert caught.value.code in ("connection_dropped", "timeout")


async def test_read_timeout_then_a_fresh_connection():
    calls = {"n": 0}

    async def behaviour(path, raw):
        calls["n"] += 1
        return "hang" if calls["n"] == 1 else ok(USER)

    async with RawServer(behaviour) as server:
        async with client_for(server.url, timeout=0.3, read_attempts=2, backoff_base_s=0.01) as clerk:
            user = await clerk.get_user("u")  # the first attempt times out, the resend answers
            assert user.id == "user_1" and clerk.retries == 1
    assert server.connections == 2


async def test_refused_connection_is_a_connect_error():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with client_for(f"http://127.0.0.1:{port}", read_attempts=1) as clerk:
        with pytest.raises(TransportError) as caught:
            await clerk.get_user("u")
        assert caught.value.code == "connect_error"


async def test_at_most_max_connections_at_once_and_all_answered():
    async def behaviour(path, raw):
        await asyncio.sleep(0.02)
        return ok(USER)

    async with RawServer(behaviour) as server:
        async with client_for(server.url, max_connections=3) as clerk:
            users = await asyncio.gather(*(clerk.get_user(f"u{i}") for i in range(20)))
    assert len(users) == 20 and server.most_open <= 3 and server.connections == 3


async def test_a_cancelled_request_drops_its_connection():
    async def behaviour(path, raw):
        if path.endswith("/slow"):
            await asyncio.sleep(1)
        return ok(USER)

    async with RawServer(behaviour) as server:
        async with client_for(server.url) as clerk:
            task = asyncio.ensure_future(clerk.get_user("slow"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await clerk.get_user("u")).id == "user_1"
    assert server.connections == 2  # the cancelled one was not reused (its answer would arrive late)


async def test_error_answers_keep_retry_after_and_trace_id():
    async def behaviour(path, raw):
        data = json.dumps({"errors": [{"code": "form_identifier_exists", "message": "taken",
                                       "meta": {"param_name": "email_address"}}], "clerk_trace_id": "t1"}).encode()
        return b"HTTP/1.1 422 Unprocessable\r\nretry-after: 3\r\ncontent-length: %d\r\n\r\n%s" % (len(data), data)

    from console.clerk.errors import IdentifierExists

    async with RawServer(behaviour) as server:
        async with client_for(server.url) as clerk:
            with pytest.raises(IdentifierExists) as caught:
                await clerk.create_user({"external_id": "x"})
    assert caught.value.param_name == "email_address" and caught.value.trace_id == "t1"
    assert caught.value.retry_after == 3.0


def test_the_pool_repr_holds_no_key():
    pool = WirePool("https://api.clerk.com/v1", [("Authorization", f"Bearer {KEY}")])
    assert KEY not in repr(pool) and KEY[8:] not in repr(pool)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(pool)
    with pytest.raises(ValueError):
        WirePool("ftp://example.test", [])
    assert isinstance(httpx.ReadTimeout("x"), httpx.TimeoutException)


def test_the_query_is_urlencode_s_text():
    """The shortcut for plain ids writes exactly what urlencode (quote_plus) writes."""
    import random
    import string
    from urllib.parse import urlencode

    from console.clerk.client import _encode_query, _query

    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "_-.+ /%&=?é~*'"
    for _ in range(5000):
        pairs = [(rng.choice(["user_id", "external_id", "email_address", "limit"]),
                  "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))) for _ in range(rng.randint(1, 4))]
        assert _encode_query(pairs) == urlencode(pairs), pairs
    assert _encode_query(_query({"user_id": ["user_abc", "-x y"], "limit": 500})) == \
        "user_id=%2Buser_abc&user_id=%2B-x+y&limit=500"


def test_a_proxy_in_the_environment_goes_through_httpx(monkeypatch):
    """The wire does not speak to proxies: a proxy named for the API's URL sends the client
    through httpx (which honours it); NO_PROXY for the host keeps the wire."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert ClerkClient(KEY, "https://api.clerk.com")._wire is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    client = ClerkClient(KEY, "https://api.clerk.com")
    assert client._wire is None and client._http is not None
    monkeypatch.setenv("NO_PROXY", "api.clerk.com")
    assert ClerkClient(KEY, "https://api.clerk.com")._wire is not None
