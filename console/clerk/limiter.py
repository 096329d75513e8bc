"""The one request budget every Backend API call of a run goes through.

Clerk limits each instance (each secret key) to a number of requests per
sliding 10 s window: 1000 in production, 100 in development. A production
instance shares that budget with the live application, so the migration aims
below it (headroom, default 0.9) and backs off when Clerk says 429.

`RequestBudget.acquire()` gives out send slots that are

- evenly paced at the current rate (one slot every 1/rate seconds, no bursts,
  not even after a pause), and
- never more than `max_per_window` in any sliding window of `window_s`
  (the send times of the last `max_per_window` slots are kept in a deque),
- never before the end of a Retry-After pause.

Waiting is done with the clock's `sleep` for exactly the computed time: the
budget never spins. Waiters are served in arrival order (a FIFO of futures);
only one dispatcher task sleeps, until the next slot, and it re-reads the
schedule when it wakes, so a 429 that arrives while it sleeps holds everyone
queued until the pause ends. When it wakes it hands out every slot already
due, so several waiters resume in one turn of the event loop.

The pace adapts AIMD-style: a 429 multiplies the current rate by `decrease`
(default 0.7, floored at `min_rate`) once per congestion event; every answered
request adds `increase_per_s / current_rate`, i.e. the pace climbs back by
about `increase_per_s` requests/s per second of sending (default 1 % of the
target per second, so 70 % -> 100 % takes ~30 s). Several migrations, or a
migration and the live app, sharing one instance then converge instead of
oscillating between bursts and 429 storms.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections import deque
from datetime import timezone
from typing import Protocol

WINDOW_S = 10.0
INSTANCE_LIMITS = {"production": 1000, "development": 100}  # requests per 10 s
DEFAULT_HEADROOM = 0.9
# Clerk counts a request when it arrives, we when we send it: the time between varies with
# the network and the server (150 ± 50 ms at the sandbox's bench settings). The instance's own
# limit is therefore kept over a window this much longer than Clerk's, so that requests sent
# within any 10.25 s can never land more than `limit` of them in one 10 s window, whatever the
# latency's spread (up to 0.25 s). It costs 2.4 % of the limit when a run asks for all of it
# (--headroom 1.0, or a --rate above the limit); the default headroom never reaches it.
DEFAULT_GUARD_S = 0.25
DEFAULT_RETRY_AFTER_S = 10.0  # Clerk's own tools wait 10 s when Retry-After is absent
DEFAULT_DECREASE = 0.7
LITTLE_SAFETY = 1.5  # in-flight = rate x latency x this
# A slot taken this late after its time is still on schedule (event-loop lag, the FIFO's
# hand-over), not after idling: the pace does not lose it; at most this much catch-up burst.
LAG_TOLERANCE_S = 0.05


class Clock(Protocol):
    """What the budget needs from time: a monotonic reading and a sleep."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: `time.monotonic()` and `asyncio.sleep()`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Virtual time for tests: everything that sleeps runs instantly and exactly.

    Use inside a running event loop::

        clock = VirtualClock()
        with clock.patch_loop():
            budget = RequestBudget(90, clock=clock)
            ...

    While patched, the loop's `time()` is the virtual time and its selector,
    when asked to wait `t` seconds for I/O with nothing ready, advances the
    virtual time by `t` instead of blocking. So `asyncio.sleep`, `call_later`,
    `wait_for` and this clock's `sleep` all move in virtual time, in the same
    order as they would in real time. (Same technique as aiotools'
    VirtualClock.) Real network I/O still works but takes zero virtual time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        """Move time forward by hand (for synchronous tests without a loop)."""
        self._t += max(0.0, seconds)

    def patch_loop(self, loop: asyncio.AbstractEventLoop | None = None):
        import contextlib

        @contextlib.contextmanager
        def _patched():
            target = loop or asyncio.get_running_loop()
            selector = target._selector  # type: ignore[attr-defined]
            real_select = selector.select

            def virtual_select(timeout=None):
                if timeout is not None and timeout > 0:
                    self._t += timeout
                    return real_select(0)
                return real_select(timeout)

            selector.select = virtual_select
            target.time = self.now  # type: ignore[method-assign]
            try:
                yield self
            finally:
                del selector.select
                del target.time

        return _patched()


def parse_retry_after(value: str | float | int | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value.

    Accepts delta-seconds ("3", "1.5") and an HTTP date
    ("Wed, 21 Oct 2015 07:28:00 GMT"); `now` is the Unix time to measure the
    date from (default: the wall clock). Returns None when absent or
    unreadable (the caller then waits the default 10 s); never negative.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if when is None:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            reference = time.time() if now is None else now
            seconds = when.timestamp() - reference
            return max(0.0, seconds)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class RequestBudget:
    """Paces every request of a run; shared by all callers (one per instance).

    rate: requests per second to aim at (the ceiling, `target_rate`).
    window_s / max_per_window: the sliding-window cap (default
        `floor(rate * window_s)`, at least 1).
    decrease: the multiplicative decrease on a 429 (0 < decrease < 1).
    increase_per_s: the additive increase, in requests/s gained per second of
        answered requests (default 1 % of the target rate).
    min_rate: the floor of the decrease (default 5 % of the target).
    default_retry_after_s: the pause when a 429 carries no Retry-After.
    clock: `Clock` (default `MonotonicClock()`; `VirtualClock` in tests).
    instance_limit / guard_s: never more than `instance_limit` slots in any
        `window_s + guard_s` (the instance's limit with a guard for the
        latency's spread; `for_instance` sets them).
    """

    def __init__(
        self,
        rate: float,
        *,
        window_s: float = WINDOW_S,
        clock: Clock | None = None,
        max_per_window: int | None = None,
        decrease: float = DEFAULT_DECREASE,
        increase_per_s: float | None = None,
        min_rate: float | None = None,
        default_retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        instance_limit: int | None = None,
        guard_s: float = 0.0,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("the request rate must be a positive number of requests per second")
        if not (window_s > 0):
            raise ValueError("the window must be positive")
        if not (0 < decrease < 1):
            raise ValueError("decrease must be between 0 and 1")
        self.clock: Clock = clock or MonotonicClock()
        self.window_s = float(window_s)
        self._target = float(rate)
        self._rate = float(rate)
        if max_per_window is None:
            max_per_window = int(math.floor(rate * window_s + 1e-9))
        self.max_per_window = max(1, int(max_per_window))
        self.decrease = float(decrease)
        self.increase_per_s = float(increase_per_s) if increase_per_s is not None else self._target * 0.01
        self.min_rate = float(min_rate) if min_rate is not None else self._target * 0.05
        self.min_rate = min(self.min_rate, self._target)
        self.default_retry_after_s = float(default_retry_after_s)
        self.instance_kind: str | None = None
        # What was asked and what the instance allows (set by for_instance):
        # requested_rate is the --rate asked for (None: the default pace);
        # capped_to is the sustained pace the window cap allows when it is
        # below the requested rate (None: not capped); cap_reason says it in
        # one line for the CLI and the console.
        self.requested_rate: float | None = None
        self.capped_to: float | None = None
        self.cap_reason: str | None = None

        # the instance's own limit, kept over window_s + guard_s (see DEFAULT_GUARD_S)
        self.instance_limit = int(instance_limit) if instance_limit else None
        self.guard_s = max(0.0, float(guard_s))
        self._sent: deque[float] = deque(maxlen=max(self.max_per_window, self.instance_limit or 0))
        self._last_slot: float | None = None
        self._paused_until: float = -math.inf
        self._queue: deque[asyncio.Future[None]] = deque()  # waiters, first come first served
        self._dispatcher: asyncio.Future[None] | None = None
        self._requests = 0
        self._rate_limited = 0
        self._decreases = 0
        self._waiting = 0

    # ------------------------------------------------------------------ setup
    @classmethod
    def for_instance(
        cls,
        kind: str | None,
        *,
        headroom: float = DEFAULT_HEADROOM,
        rate: float | None = None,
        clock: Clock | None = None,
        limit: int | None = None,
        guard_s: float = DEFAULT_GUARD_S,
        **options: object,
    ) -> "RequestBudget":
        """The budget for a `production` or `development` instance.

        The target is limit x headroom per window (production 900/10 s = 90/s,
        development 90/10 s = 9/s). `rate` (requests/s, the CLI's `--rate`)
        overrides the target; the window cap never goes above the instance's
        own limit, whatever the rate: a rate above it is said in
        `capped_to` / `cap_reason`. `limit` (requests per 10 s) replaces
        Clerk's published limit for an instance whose limit Clerk raised.
        An unknown kind is treated as the smaller (development) budget.
        The instance's limit itself is kept over 10 s + `guard_s` (see
        DEFAULT_GUARD_S): with headroom 1.0 or a rate above the limit, the
        sustained pace is limit / 10.25 s (97.6 % of it).
        """
        if not (0 < headroom <= 1):
            raise ValueError("headroom must be in (0, 1]")
        known = kind if kind in INSTANCE_LIMITS else "development"
        if limit is not None and not (isinstance(limit, int) and limit > 0):
            raise ValueError("the instance's limit must be a positive number of requests per 10 s")
        limit = limit if limit is not None else INSTANCE_LIMITS[known]
        window_cap = max(1, int(math.floor(limit * headroom + 1e-9)))
        if rate is None:
            target = window_cap / WINDOW_S
        else:
            target = float(rate)
            window_cap = min(limit, max(1, int(math.floor(target * WINDOW_S + 1e-9))))
        options.setdefault("max_per_window", window_cap)
        options.setdefault("instance_limit", limit)
        options.setdefault("guard_s", guard_s)
        budget = cls(target, window_s=WINDOW_S, clock=clock, **options)  # type: ignore[arg-type]
        budget.instance_kind = known
        budget.requested_rate = float(rate) if rate is not None else None
        sustained = budget._window_pace()
        if sustained < target - 1e-9:
            budget.capped_to = sustained
            asked = f"--rate {rate:g}/s" if rate is not None else f"a pace of {target:g}/s"
            if budget.max_per_window / budget.window_s <= sustained + 1e-9:
                within = f"at most {budget.max_per_window} requests go in any {budget.window_s:g} s"
            else:  # the instance's limit binds, with its guard
                within = (f"at most {limit} requests go in any {budget.window_s + budget.guard_s:g} s "
                          f"({budget.guard_s:g} s kept for the network's jitter)")
            verb = "is above" if target > limit / WINDOW_S + 1e-9 else "is all of"
            budget.cap_reason = (
                f"{asked} {verb} the {known} instance's limit of {limit} requests per {WINDOW_S:g} s: "
                f"{within}, {sustained:.4g}/s sustained"
            )
        return budget

    @property
    def sustained_rate(self) -> float:
        """The pace that can hold for longer than a window: the current pace,
        or the window cap's when that is lower (what an ETA should use)."""
        return min(self._rate, self._window_pace())

    def _window_pace(self) -> float:
        pace = self.max_per_window / self.window_s
        if self.instance_limit:
            pace = min(pace, self.instance_limit / (self.window_s + self.guard_s))
        return pace

    # --------------------------------------------------------------- pacing
    def _earliest(self) -> float:
        """The next slot by the schedule alone (may be in the past)."""
        at = self._paused_until
        if self._last_slot is not None:
            at = max(at, self._last_slot + 1.0 / self._rate)
        sent = self._sent
        n = len(sent)
        if n >= self.max_per_window:
            # the oldest of the last max_per_window sends must leave the window
            at = max(at, sent[n - self.max_per_window] + self.window_s)
        limit = self.instance_limit
        if limit and n >= limit:
            # and the instance's limit, over the window plus the guard
            at = max(at, sent[n - limit] + self.window_s + self.guard_s)
        return at

    async def acquire(self) -> None:
        """Wait (never spin) until one request may be sent, then count it.

        Waiters queue in arrival order; one dispatcher task sleeps until the next slot
        and, when it wakes, hands out every slot that is due at once (several waiters
        resume in the same turn of the event loop). Handing slots one by one through a
        lock gave at most one slot per turn of the loop: a loop busy with 80 answers in
        flight turns every 2-3 ms, under 500/s."""
        self._waiting += 1
        try:
            if not self._queue and self._earliest() <= self.clock.now():
                self._grant(self.clock.now())  # nobody waits and the slot is due: no hand-over
                return
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append(fut)
            task = self._dispatcher
            if task is None or task.done():
                self._dispatcher = asyncio.ensure_future(self._dispatch())
            await fut
        finally:
            self._waiting -= 1

    async def _dispatch(self) -> None:
        queue = self._queue
        while queue:
            now = self.clock.now()
            at = self._earliest()
            if at > now:
                await self.clock.sleep(at - now)  # re-read afterwards: a 429 may have paused everything
                continue
            fut = queue.popleft()
            if fut.done():  # its caller was cancelled while waiting
                continue
            self._grant(now)
            fut.set_result(None)

    def _grant(self, now: float) -> None:
        at = self._earliest()
        # The pace follows the schedule, not the moment the slot was handed out:
        # a wake-up a millisecond late (event-loop lag) must not push every
        # later slot back, or the pace drifts ~10 % under the target at
        # 90/s (17 % at 500/s, where a busy loop is often more than one 2 ms
        # interval late). After a gap longer than one interval and than
        # LAG_TOLERANCE_S (idle), the schedule restarts from now: no
        # catch-up burst beyond that. The window cap counts the real send
        # times, so it stays exact.
        self._last_slot = at if now - at < max(1.0 / self._rate, LAG_TOLERANCE_S) else now
        self._sent.append(now)
        self._requests += 1

    def next_slot_in(self) -> float:
        """Seconds until the next request could go (0 when one may go now)."""
        return max(0.0, self._earliest() - self.clock.now())

    # ------------------------------------------------------------- feedback
    def on_rate_limited(self, retry_after_s: float | None) -> None:
        """A 429: pause every caller for Retry-After (10 s if None) and lower the pace.

        The pace is lowered once per congestion event: a 429 that arrives while
        an earlier pause is still running answers a request sent before that
        pause, so it extends the pause but does not lower the pace again.
        """
        now = self.clock.now()
        wait = self.default_retry_after_s if retry_after_s is None else max(0.0, float(retry_after_s))
        self._rate_limited += 1
        if now >= self._paused_until:
            self._rate = max(self.min_rate, self._rate * self.decrease)
            self._decreases += 1
        self._paused_until = max(self._paused_until, now + wait)

    def on_success(self) -> None:
        """An answered request (not a 429): additive increase toward the target."""
        if self._rate < self._target:
            self._rate = min(self._target, self._rate + self.increase_per_s / self._rate)

    def set_target_rate(self, rate: float) -> None:
        """Change the ceiling while running (e.g. the operator lowers the pace)."""
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("the request rate must be a positive number of requests per second")
        self._target = float(rate)
        self._rate = min(self._rate, self._target)
        self.min_rate = min(self.min_rate, self._target)

    def recommended_concurrency(self, latency_s: float | None, cap: int) -> int:
        """How many requests to keep in flight (Little's law).

        in-flight = pace x latency x 1.5, at least 1, at most `cap`. With no
        latency observed yet, assume 0.5 s.
        """
        cap = max(1, int(cap))
        latency = 0.5 if latency_s is None or not math.isfinite(latency_s) or latency_s < 0 else latency_s
        wanted = math.ceil(self._rate * latency * LITTLE_SAFETY)
        return max(1, min(cap, wanted))

    # ------------------------------------------------------------ read-outs
    @property
    def current_rate(self) -> float:
        """The pace right now, in requests per second."""
        return self._rate

    @property
    def target_rate(self) -> float:
        """The ceiling the pace climbs back to, in requests per second."""
        return self._target

    @property
    def paused_for(self) -> float:
        """Seconds of Retry-After pause still to run (0 when not paused)."""
        return max(0.0, self._paused_until - self.clock.now())

    @property
    def rate_limited(self) -> int:
        """429s reported so far."""
        return self._rate_limited

    @property
    def decreases(self) -> int:
        """How many times the pace was lowered (one per congestion event)."""
        return self._decreases

    @property
    def requests(self) -> int:
        """Slots given out so far (requests sent or about to be)."""
        return self._requests

    @property
    def waiting(self) -> int:
        """Callers currently waiting in `acquire()`."""
        return self._waiting

    def sent_in_window(self) -> int:
        """Slots given out within the last `window_s` seconds."""
        edge = self.clock.now() - self.window_s
        return sum(1 for t in self._sent if t > edge)

    def __repr__(self) -> str:
        return (
            f"RequestBudget(target={self._target:g}/s, current={self._rate:.3g}/s, "
            f"window={self.max_per_window}/{self.window_s:g}s, requests={self._requests}, "
            f"rate_limited={self._rate_limited}, paused_for={self.paused_for:.3g}s)"
        )
