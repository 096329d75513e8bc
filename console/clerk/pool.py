"""A keep-alive HTTP/1.1 connection pool for one API origin, O(1) per request.

httpx's default transport (httpcore's `AsyncConnectionPool`) walks its whole
list of connections on every request and on every response close: for each
one it asks `has_expired()` — a `getpeername` and a `select` on the socket —
and counts the idle ones in a quadratic list comprehension. With the 20–150
connections a fast import keeps open (pace × latency), that walk was 43 % of
the importer's CPU at 1,000 creates/s (py-spy, docs/clerk-client.md
"Figures"). This pool keeps idle connections on a stack and checks only the
one it is about to use:

- checkout: pop the most recently used idle connection (its socket is warm);
  one that is closed, past its keep-alive, or that the server has closed
  (readable while idle) is closed and the next one is tried; none left: a new
  `httpcore.AsyncHTTPConnection` (TCP, TLS with ALPN `http/1.1`).
- at most `max_connections` requests at once (a FIFO of waiters; `pool`
  timeout -> `httpx.PoolTimeout`); a connection serves one request at a time.
- release: when the response body is closed, the connection goes back on the
  stack if httpcore left it idle (the exchange completed), else it is dropped.
  Connections idle longer than `keepalive_expiry` are closed from the bottom
  of the stack as others come back.
- errors are httpx's (`httpx.ConnectError`, `ReadTimeout`, `RemoteProtocolError`
  …), mapped the way httpx's own transport maps httpcore's.

Everything else (TLS verification, HTTP/1.1 framing with h11, timeouts per
phase) is httpcore's own code, unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, AsyncIterator

import httpcore
import httpx

try:  # httpx's own mapping of httpcore's exceptions (httpx is pinned below 0.29)
    from httpx._transports.default import map_httpcore_exceptions
except ImportError:  # pragma: no cover - a later httpx: map by name
    import contextlib

    @contextlib.contextmanager
    def map_httpcore_exceptions():  # type: ignore[no-redef]
        try:
            yield
        except httpcore.TimeoutException as exc:
            raise getattr(httpx, type(exc).__name__, httpx.TimeoutException)(str(exc)) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise getattr(httpx, type(exc).__name__, httpx.TransportError)(str(exc)) from exc

KEEPALIVE_EXPIRY_S = 5.0


class LeanPool(httpx.AsyncBaseTransport):
    """`httpx.AsyncBaseTransport` over a stack of keep-alive connections (see the module doc)."""

    def __init__(self, *, max_connections: int = 100, keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
                 verify: Any = True) -> None:
        self.max_connections = max(1, int(max_connections))
        self.keepalive_expiry = float(keepalive_expiry)
        self._ssl_context = httpx.create_ssl_context(verify=verify)
        self._idle: deque[tuple[httpcore.AsyncHTTPConnection, float]] = deque()  # (connection, idle since)
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self.opened = 0  # connections made (a figure for benchmarks and tests)

    # ------------------------------------------------------------------ slots
    async def _take_slot(self, timeout: float | None) -> None:
        if self._busy < self.max_connections and not self._waiters:
            self._busy += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            if fut.done() and not fut.cancelled():  # granted just as the wait ran out: hand it on
                self._give_slot()
            else:
                fut.cancel()
            raise httpx.PoolTimeout("no connection of the pool became free in time") from None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._give_slot()
            else:
                fut.cancel()
            raise

    def _give_slot(self) -> None:
        """A request is done: its slot goes to the first waiter, else back to the pool."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes on: _busy unchanged
                return
        self._busy -= 1

    # ------------------------------------------------------------------ connections
    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        while self._idle:
            conn, _ = self._idle.pop()
            if conn.is_idle() and conn.can_handle_request(origin) and not conn.has_expired():
                return conn
            await _close_quietly(conn)
        self.opened += 1
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context if origin.scheme == b"https" else None,
            keepalive_expiry=self.keepalive_expiry,
            http1=True,
            http2=False,
        )

    async def _checkin(self, conn: httpcore.AsyncHTTPConnection) -> None:
        now = time.monotonic()
        if not self._closed and conn.is_idle():
            self._idle.append((conn, now))
        else:
            await _close_quietly(conn)
        while self._idle and now - self._idle[0][1] > self.keepalive_expiry:
            old, _ = self._idle.popleft()
            await _close_quietly(old)

    # ------------------------------------------------------------------ the transport
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the connection pool is closed")
        url = request.url
        origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
        req = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        timeouts = request.extensions.get("timeout") or {}
        await self._take_slot(timeouts.get("pool"))
        conn: httpcore.AsyncHTTPConnection | None = None
        try:
            conn = await self._checkout(origin)
            with map_httpcore_exceptions():
                resp = await conn.handle_async_request(req)
        except BaseException:
            if conn is not None:
                await _close_quietly(conn)
            self._give_slot()
            raise
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_PooledStream(resp.stream, conn, self),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, deque()
        for conn, _ in idle:
            await _close_quietly(conn)

    @property
    def idle_connections(self) -> int:
        return len(self._idle)


class _PooledStream(httpx.AsyncByteStream):
    """The response body; closing it hands the connection back to the pool (once)."""

    __slots__ = ("_stream", "_conn", "_pool")

    def __init__(self, stream: Any, conn: httpcore.AsyncHTTPConnection, pool: LeanPool) -> None:
        self._stream = stream
        self._conn: httpcore.AsyncHTTPConnection | None = conn
        self._pool = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_httpcore_exceptions():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with map_httpcore_exceptions():
                if hasattr(self._stream, "aclose"):
                    await self._stream.aclose()  # httpcore: the connection idle again, or closed
        finally:
            try:
                await self._pool._checkin(conn)
            finally:
                self._pool._give_slot()


async def _close_quietly(conn: httpcore.AsyncHTTPConnection) -> None:
    try:
        await conn.aclose()
    except Exception:  # closing a broken socket: nothing to report
        pass
