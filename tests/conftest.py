"""Fixtures shared by the whole suite.

`sandbox`: a started `SandboxServer` with the default config (function-scoped,
stopped after the test). `sandbox_factory(**config)`: start one with
`SandboxConfig(**config)` (host/port keywords go to the server); every server
it started is stopped after the test. `prod_key` / `dev_key`: keys the sandbox
accepts (a fresh instance each on a fresh server).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from console.sandbox import SandboxConfig, SandboxServer, make_key


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def factory(host: str = "127.0.0.1", port: int = 0, **config) -> SandboxServer:
        server = SandboxServer(SandboxConfig(**config), host=host, port=port)
        server.start()
        started.append(server)
        return server

    yield factory
    for server in reversed(started):
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    return sandbox_factory()


@pytest.fixture
def prod_key() -> str:
    return make_key("production", "tests")


@pytest.fixture
def dev_key() -> str:
    return make_key("development", "tests")
