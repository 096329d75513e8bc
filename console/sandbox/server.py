"""`SandboxServer`: the Clerk Backend API simulator on loopback, in-process.

uvicorn runs the ASGI app (`console/sandbox/app.py`) in a background thread,
on a free port by default. `start()` returns the base URL once the socket
listens (it waits on uvicorn's start-up, not on a timer); `stop()` shuts down.

    with SandboxServer(SandboxConfig(development_limit=5, window_s=0.5)) as sandbox:
        key = make_key("development")
        httpx.post(f"{sandbox.url}/v1/users", json={...}, headers={"Authorization": f"Bearer {key}"})
        assert len(sandbox.users(key)) == 1
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any

import uvicorn

from console.sandbox.app import SandboxApp
from console.sandbox.config import SandboxConfig, kind_of_key, make_key, make_publishable_key

__all__ = ["SandboxConfig", "SandboxServer", "make_key", "make_publishable_key"]

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0


class _Uvicorn(uvicorn.Server):
    """uvicorn.Server that tells a thread when it listens."""

    def __init__(self, config: uvicorn.Config, on_started) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets=None) -> None:  # type: ignore[override]
        self.wake = asyncio.Event()
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started(self, asyncio.get_running_loop())

    async def main_loop(self) -> None:
        # uvicorn's loop, but woken at once by stop() instead of on its next 0.1 s tick
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets=None) -> None:  # type: ignore[override]
        # uvicorn's graceful shutdown without its fixed 0.1 s pause: stop
        # listening, close idle connections, give in-flight requests up to
        # timeout_graceful_shutdown, then cancel what is left.
        for server in self.servers:
            server.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        while (state.connections or state.tasks) and not self.force_exit and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel()
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()


class SandboxServer:
    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self._core = SandboxApp(config if config is not None else SandboxConfig())
        self.host = host
        self.port = port
        self.url = ""
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # --- configuration ------------------------------------------------------------
    @property
    def config(self) -> SandboxConfig:
        """The live config: change its fields while the server runs."""
        return self._core.config

    @config.setter
    def config(self, value: SandboxConfig) -> None:
        self._core.config = value

    @property
    def app(self) -> SandboxApp:
        """The ASGI app (e.g. for httpx.ASGITransport); no faults that need a socket."""
        return self._core

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and bool(self.url)

    # --- life cycle -------------------------------------------------------------------
    def start(self) -> str:
        if self.running:
            return self.url
        self._ready.clear()
        self._failure = None
        config = uvicorn.Config(
            self._core,
            host=self.host,
            port=self.port,
            loop="asyncio",
            http="h11",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
        )
        self._server = _Uvicorn(config, self._started)
        self._thread = threading.Thread(target=self._run, name="clerk-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failure is not None or not self.url:
            self.stop()
            why = f": {self._failure}" if self._failure and str(self._failure) else ""
            raise RuntimeError(f"the sandbox could not listen on {self.host}:{self.port}{why}")
        return self.url

    def _started(self, server: _Uvicorn, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._core.stopping = asyncio.Event()
        sock = server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self._ready.set()

    def _run(self) -> None:
        assert self._server is not None
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._failure = exc if not isinstance(exc, SystemExit) else RuntimeError("address unavailable")
        finally:
            self._ready.set()

    def stop(self) -> None:
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        server.should_exit = True
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._core.stopping.set)
                loop.call_soon_threadsafe(server.wake.set)
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT_S)
        self._server = self._thread = self._loop = None
        self.url = ""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server thread ends (True) or `timeout` passes (False)."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def __enter__(self) -> "SandboxServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r})"

    # --- test helpers (read the store directly; no rate limit, no faults) ----------------
    def users(self, key: str) -> list[dict[str, Any]]:
        """The instance's users as Clerk User JSON, in creation order (copies)."""
        store = self._core.store
        with store.lock:
            inst = store.peek(key)
            return _copy(list(inst.users.values())) if inst else []

    def create_requests(self, key: str) -> int:
        """How many POST /v1/users reached the instance (past auth and the rate
        limit, whatever their outcome: created, 4xx, fault)."""
        return self.stats(key).get("create_requests", 0)

    def stats(self, key: str) -> dict[str, int]:
        """Counters of the instance: requests (admitted), create_requests,
        created, deleted, rate_limited (429s), failed (5xx faults), dropped,
        ambiguous_502 / ambiguous_hang / ambiguous_drop."""
        store = self._core.store
        with store.lock:
            inst = store.peek(key)
            return dict(inst.stats) if inst else {}

    def api_versions(self, key: str) -> dict[str, int]:
        """Clerk-API-Version header values seen by the instance, with counts."""
        store = self._core.store
        with store.lock:
            inst = store.peek(key)
            return dict(inst.api_versions) if inst else {}

    def seed_user(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a user as POST /v1/users would (same checks, same errors as
        ApiError), without HTTP, rate limit, faults or counters: for arranging
        "already there" cases."""
        from console.sandbox.validation import validate_create

        kind = kind_of_key(key)
        if kind is None:
            raise ValueError("not a sandbox key (sk_live_… / sk_test_…)")
        store = self._core.store
        spec = validate_create(dict(body), self.config)
        with store.lock:
            inst = store.instance(key, kind)
            user = store.create(inst, spec)
            inst.stats["created"] -= 1
            return _copy(user)

    def reset(self) -> None:
        """Forget every instance (users, windows, counters) and re-seed
        (registered key rotations are kept)."""
        self._core.reset()

    def rotate_key(self, key: str) -> str:
        """A new secret key for the instance of `key` (as rolling the key in
        Clerk's dashboard): same users, same `GET /v1/instance` id, same
        rate-limit window; `key` keeps working. The N-th call answers
        `make_key(kind, name, rotation=N)` when `key` is `make_key(kind, name)`."""
        if kind_of_key(key) is None:
            raise ValueError("not a sandbox key (sk_live_… / sk_test_…)")
        return self._core.store.rotate(key)

    def instance_id(self, key: str) -> str:
        """The `ins_…` id `GET /v1/instance` answers for `key` (creates the instance if needed)."""
        kind = kind_of_key(key)
        if kind is None:
            raise ValueError("not a sandbox key (sk_live_… / sk_test_…)")
        return self._core.store.instance(key, kind).instance_id

    def auth_failures(self, key: str | None = None) -> int:
        """401s answered: for `key`, or in all (malformed headers included) when None."""
        store = self._core.store
        with store.lock:
            if key is None:
                return sum(store.auth_failures.values())
            return store.auth_failures.get(key, 0)

    def publishable_key(self, kind: str = "production") -> str:
        """`pk_live_…` / `pk_test_…` whose Frontend API host is this server
        (its `GET /v1/environment`); needs a started server."""
        if not self.url:
            raise RuntimeError("the sandbox is not started")
        return make_publishable_key(kind, self.url.split("://", 1)[1])


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (faster than copy.deepcopy)."""
    return json.loads(json.dumps(value))
