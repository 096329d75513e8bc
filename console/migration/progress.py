"""Immutable snapshots of a running import, published ~10 times a second."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Progress:
    total: int  # journal rows that will be sent in this run (importable)
    created: int = 0
    existed: int = 0
    failed: int = 0
    pending: int = 0
    creating: int = 0  # journal rows marked creating (sent or being settled by a lookup)
    refused: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429s seen
    requests: int = 0
    paused_for_s: float = 0.0  # Retry-After still being honoured
    pace: float = 0.0  # current allowed requests per second
    rate_now: float = 0.0  # created per second over the last 10 s
    rate_overall: float = 0.0
    eta_s: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    elapsed_s: float = 0.0
    state: str = "running"  # idle, starting, reconciling, running, paused, stopping, done, stopped
    last_errors: tuple[str, ...] = field(default=())
    # added by the engine (defaults keep older constructors valid)
    in_flight: int = 0  # create requests on the wire right now
    concurrency: int = 0  # workers in use (Little's law, capped by --concurrency)
    reconciling: int = 0  # rows waiting for a lookup (unknown outcome, identifier exists)
    stop_reason: str | None = None  # stopped, unauthorized, quota, export_changed, lookup_failed, journal
    message: str = ""  # one line about the stop, for the face to show
    cap: str | None = None  # the budget's cap_reason: a --rate above what the instance allows, said in one line
    capped_to: float | None = None  # the sustained pace the instance's window allows, when below the asked rate
    adopted: int = 0  # rows found created by this run (its marker in Clerk) the journal did not show so

    @property
    def done(self) -> int:
        return self.created + self.existed + self.failed
