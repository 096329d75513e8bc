"""The one request budget every Backend API call of a run goes through
(INTERFACE SKETCH — being implemented)."""

from __future__ import annotations

WINDOW_S = 10.0
INSTANCE_LIMITS = {"production": 1000, "development": 100}  # requests per 10 s
DEFAULT_HEADROOM = 0.9


class RequestBudget:
    def __init__(self, rate: float, *, window_s: float = WINDOW_S, clock=None) -> None:
        """rate: requests per second to aim at (the ceiling)."""
        raise NotImplementedError

    @classmethod
    def for_instance(cls, kind: str, *, headroom: float = DEFAULT_HEADROOM, rate: float | None = None) -> "RequestBudget":
        raise NotImplementedError

    async def acquire(self) -> None:
        """Wait (never spin) until one request may be sent."""
        raise NotImplementedError

    def on_rate_limited(self, retry_after_s: float | None) -> None:
        """A 429: pause every caller for Retry-After (10 s if None) and lower the pace."""
        raise NotImplementedError

    def on_success(self) -> None:
        """Additive increase back toward the target rate."""
        raise NotImplementedError

    @property
    def current_rate(self) -> float: ...
    @property
    def target_rate(self) -> float: ...
    @property
    def paused_for(self) -> float: ...
    @property
    def rate_limited(self) -> int: ...
    @property
    def requests(self) -> int: ...
