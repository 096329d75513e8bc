"""A Clerk Backend API simulator on loopback, for the demo and the tests.

`SandboxServer` (uvicorn in a background thread), `SandboxConfig` (limits,
latency, seeded faults), `make_key` (a key the sandbox accepts). See
docs/sandbox.md.
"""

from console.sandbox.config import SandboxConfig, make_key, make_publishable_key
from console.sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer", "make_key", "make_publishable_key"]
