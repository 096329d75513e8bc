"""Seeded latency and faults.

One `random.Random(seed)` draws, for every request in arrival order, the same
six numbers whatever the config says, so a run with the same seed and the same
sequence of requests meets the same latencies and the same faults. Changing
`config.seed` on a running server re-seeds on the next request.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from console.sandbox.config import SandboxConfig


@dataclass(frozen=True)
class Draw:
    latency_s: float
    drop: bool  # close the connection without an answer, nothing written
    fail_status: int | None  # answer this 5xx, nothing written
    ambiguous: str | None  # creates only: write, then fail this way ("502" | "hang" | "drop")


class Faults:
    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def draw(self, config: SandboxConfig, *, is_create: bool) -> Draw:
        with self._lock:
            if config.seed != self._seed:
                self._seed = config.seed
                self._rng = random.Random(config.seed)
            u_latency, u_drop, u_fail, u_status, u_amb, u_mode = (self._rng.random() for _ in range(6))
        latency_ms = config.latency_ms + config.jitter_ms * (2.0 * u_latency - 1.0)
        latency_s = max(0.0, latency_ms) / 1000.0
        drop = u_drop < config.drop_rate
        fail_status = None
        if not drop and u_fail < config.fail_rate and config.fail_statuses:
            statuses = config.fail_statuses
            fail_status = statuses[min(int(u_status * len(statuses)), len(statuses) - 1)]
        ambiguous = None
        if is_create and not drop and fail_status is None and u_amb < config.ambiguous_rate:
            modes = config.ambiguous_modes or ("502",)
            ambiguous = modes[min(int(u_mode * len(modes)), len(modes) - 1)]
        return Draw(latency_s, drop, fail_status, ambiguous)
