"""HTTP/1.1 to one API origin over asyncio's own transports, framed by h11.

The importer sends up to a thousand creates a second from one process, and
each one went through five layers before it reached the socket: httpx's
client (URL merging, cookies, auth and redirect machinery), its transport,
httpcore's pool and connection, and anyio's streams with a cancel scope per
read and write; the request head and its body left in separate `send` calls.
This module does what those layers did for the client's calls, once:

- one `asyncio.Protocol` per connection holds an `h11.Connection` (the same
  HTTP/1.1 state machine and parser httpcore uses): a request is framed by
  h11 and written with one `transport.write`; the answer is parsed by h11 as
  bytes arrive and completes a future at `EndOfMessage`;
- idle connections wait on a stack (the most recently used first); asyncio
  tells a connection when the server closes it (`eof_received`), so nothing
  polls a socket; one idle longer than `keepalive_expiry` is closed;
- at most `max_connections` requests at once (FIFO), a connection serves one
  request at a time and is dropped after any error, a cancellation or an
  answer that is not cleanly complete;
- timeouts: `connect` for TCP + TLS, `read` from the request's write to the
  end of its answer, `pool` for a free slot; failures are raised as httpx's
  own exceptions (`ConnectTimeout`, `ConnectError`, `ReadTimeout`,
  `RemoteProtocolError`, `ReadError`, `PoolTimeout`), so `ClerkClient`
  classifies them exactly as it does httpx's.

TLS uses httpx's default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR;
hostname checked) with ALPN `http/1.1`. It does not speak to proxies: when the
environment names one for the API's URL (HTTPS_PROXY, ALL_PROXY… and not
NO_PROXY), `ClerkClient` uses httpx, which does (`proxied()`). The Authorization header lives in a private list; `repr()` shows
the origin only.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import h11
import httpx

KEEPALIVE_EXPIRY_S = 5.0


class WireResponse(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value
    body: bytes


class _Connection(asyncio.Protocol):
    __slots__ = ("h11", "transport", "closed", "idle_since", "_waiter", "_status", "_headers", "_chunks", "_timer")

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[WireResponse] | None = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes while idle: the server is not speaking HTTP/1.1 to us
            self.abort()
            return
        try:
            self.h11.receive_data(data)
            self._pump()
        except h11.RemoteProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(str(exc) or "the server broke HTTP/1.1"))

    def eof_received(self) -> bool:
        self.closed = True
        if self._waiter is not None:
            self._end_of_stream()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None:
            if exc is not None:
                self._fail(httpx.ReadError(f"the connection was lost: {type(exc).__name__}: {exc}"))
            else:
                self._end_of_stream()

    # ---------------------------------------------------------------- one exchange
    def start(self, waiter: asyncio.Future[WireResponse], data: bytes) -> None:
        self._waiter = waiter
        self._status = 0
        self._headers = []
        self._chunks = []
        if self.closed or self.transport is None or self.transport.is_closing():
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
            return
        self.transport.write(data)

    def _end_of_stream(self) -> None:
        try:
            self.h11.receive_data(b"")
            self._pump()
        except h11.RemoteProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(str(exc) or "the server closed the connection mid-answer"))
            return
        if self._waiter is not None:  # closed before any answer
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))

    def _pump(self) -> None:
        conn = self.h11
        while self._waiter is not None:
            event = conn.next_event()
            kind = type(event)
            if event is h11.NEED_DATA:
                return
            if kind is h11.Data:
                self._chunks.append(bytes(event.data))  # type: ignore[union-attr]
            elif kind is h11.Response:
                self._status = event.status_code  # type: ignore[union-attr]
                self._headers = list(event.headers)  # type: ignore[union-attr]
            elif kind is h11.EndOfMessage:
                self._complete()
                return
            elif kind is h11.InformationalResponse:
                continue
            elif kind is h11.ConnectionClosed or event is h11.PAUSED:
                if event is h11.PAUSED and self._status:
                    self._complete()
                else:
                    self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
                return

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        self._cancel_timer()
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self._headers}
        body = b"".join(self._chunks)
        self._chunks = []
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding and encoding != "identity":
            try:
                body = _decode(body, encoding)
            except (zlib.error, ValueError) as exc:
                if waiter is not None and not waiter.done():
                    waiter.set_exception(httpx.DecodingError(f"cannot decode a {encoding} body: {exc}"))
                self.abort()
                return
        if waiter is not None and not waiter.done():
            waiter.set_result(WireResponse(self._status, headers, body))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self._cancel_timer()
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def time_out(self) -> None:
        self._timer = None
        self._fail(httpx.ReadTimeout("no complete answer within the read timeout"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---------------------------------------------------------------- state
    def reusable(self) -> bool:
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        conn = self.h11
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return False
        return conn.our_state is h11.IDLE and conn.their_state is h11.IDLE

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


def _decode(body: bytes, encoding: str) -> bytes:
    for part in reversed([p.strip() for p in encoding.split(",") if p.strip()]):
        if part in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif part == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -zlib.MAX_WBITS)
        elif part != "identity":
            raise ValueError(f"unsupported content-encoding {part!r}")
    return body


def proxied(url: str) -> bool:
    """True when the environment sends requests to `url` through a proxy (as httpx's
    trust_env reads it: HTTP(S)_PROXY / ALL_PROXY, unless NO_PROXY names the host)."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxies = getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    try:
        return not proxy_bypass(parts.hostname or "")
    except Exception:  # an unreadable NO_PROXY: take the proxy
        return True


class WirePool:
    """Keep-alive HTTP/1.1 connections to one origin (see the module doc).

    base_url: `https://api.clerk.com/v1` (the path prefix is kept); headers: sent
    with every request (name, value) — the Authorization header among them."""

    def __init__(self, base_url: str, headers: list[tuple[str, str]], *, max_connections: int = 100,
                 timeout: httpx.Timeout | None = None, keepalive_expiry: float = KEEPALIVE_EXPIRY_S) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the API URL must be http:// or https:// with a host")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._prefix = parts.path.rstrip("/")
        default_port = self._port == (443 if self._tls else 80)
        host_header = (f"[{self._host}]" if ":" in self._host else self._host) + ("" if default_port else f":{self._port}")
        self.__headers = [(b"host", host_header.encode("ascii"))] + [
            (name.lower().encode("ascii"), value.encode("latin-1")) for name, value in headers
        ]
        timeout = timeout or httpx.Timeout(30.0)
        self._connect_timeout = timeout.connect
        self._read_timeout = timeout.read
        self._pool_timeout = timeout.pool
        self.max_connections = max(1, int(max_connections))
        self.keepalive_expiry = float(keepalive_expiry)
        self._ssl: ssl.SSLContext | None = None
        self._idle: deque[_Connection] = deque()
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self.opened = 0  # connections made (a figure for benchmarks and tests)

    def __repr__(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"WirePool({scheme}://{self._host}:{self._port}{self._prefix}, idle={len(self._idle)}, busy={self._busy})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a connection pool holding a secret key cannot be pickled")

    # ---------------------------------------------------------------- slots
    async def _take_slot(self) -> None:
        if self._busy < self.max_connections and not self._waiters:
            self._busy += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self._pool_timeout)
        except asyncio.TimeoutError:
            if fut.done() and not fut.cancelled():
                self._give_slot()
            else:
                fut.cancel()
            raise httpx.PoolTimeout("no connection became free within the pool timeout") from None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._give_slot()
            else:
                fut.cancel()
            raise

    def _give_slot(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes on
                return
        self._busy -= 1

    # ---------------------------------------------------------------- connections
    async def _checkout(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry and conn.reusable():
                return conn
            conn.abort()
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {}
        if self._tls:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
                self._ssl.set_alpn_protocols(["http/1.1"])
            kwargs = {"ssl": self._ssl, "server_hostname": self._host}
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(_Connection, self._host, self._port, **kwargs)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {self._host}:{self._port} within {self._connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {self._host}:{self._port}: {exc}") from None
        self.opened += 1
        return conn

    def _checkin(self, conn: _Connection) -> None:
        now = time.monotonic()
        if not self._closed and conn.reusable():
            conn.idle_since = now
            self._idle.append(conn)
        else:
            conn.abort()
        idle = self._idle
        while idle and (idle[0].closed or now - idle[0].idle_since > self.keepalive_expiry):
            idle.popleft().abort()

    # ---------------------------------------------------------------- a request
    async def request(self, method: str, path: str, *, query: str = "", body: bytes | None = None,
                      headers: list[tuple[bytes, bytes]] | None = None) -> WireResponse:
        """One exchange: `path` under the base URL's path, `query` already encoded."""
        if self._closed:
            raise httpx.ConnectError("the connection pool is closed")
        target = self._prefix + path + ("?" + query if query else "")
        head = list(self.__headers)
        if headers:
            head.extend(headers)
        if body is not None:
            head.append((b"content-length", str(len(body)).encode("ascii")))
        await self._take_slot()
        conn: _Connection | None = None
        try:
            conn = await self._checkout()
            try:
                data = conn.h11.send(h11.Request(method=method, target=target, headers=head))
                if body:
                    data += conn.h11.send(h11.Data(data=body))
                data += conn.h11.send(h11.EndOfMessage())
            except h11.LocalProtocolError as exc:
                raise httpx.LocalProtocolError(str(exc)) from None
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[WireResponse] = loop.create_future()
            conn.start(waiter, data)
            if self._read_timeout is not None:
                conn._timer = loop.call_later(self._read_timeout, conn.time_out)
            response = await waiter
        except BaseException:
            if conn is not None:
                conn._cancel_timer()
                conn._waiter = None
                conn.abort()
            self._give_slot()
            raise
        self._checkin(conn)
        self._give_slot()
        return response

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, deque()
        for conn in idle:
            conn.abort()
