"""Polite mode: a delay-based rate controller in the spirit of LEDBAT (RFC 6817), as pure logic.

The idea: a full modem queue is what people on a shared uplink feel (bufferbloat). mdplan measures the
round trip through the link continuously; the lowest recent value is the *base* (the link with an
empty queue); anything above it is queueing delay. The controller moves mdplan's send rate so that the
queueing delay stays near a small target (18 ms by default):

- above the target it backs off fast (multiplicatively, harder the further over);
- below it, it probes up slowly (a few per cent a second near the target, faster with an empty
  queue, so the link is taken back within seconds when another flow stops);
- the rate never goes above a fixed cap (``--cap-mbps``/``--bwlimit``) or far above what is actually
  getting through (so an idle controller cannot wind up to "infinity" and then need seconds to come
  down), and never below a floor, so the round trip keeps being measured under some load.

Noise: the current delay is the minimum of the last few samples (as LEDBAT's current-delay filter),
so one slow sample does not halve the rate. A base that drifts: the base is the minimum over a few
buckets of history (LEDBAT's base-delay history); a base that falls is taken at once, one that rises
(a route change) is taken once the old buckets age out.

No clock, no threads, no I/O: ``update(now, rtt_s, delivered_bytes)`` is fed samples and returns the
rate to use. The sampler that measures round trips and the glue that applies the rate live in
``planner.transfer.polite``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

TARGET_S = 0.018  #: queueing delay to aim for (LEDBAT allows up to 100 ms; people feel 100 ms)
MIN_RATE = 32 * 1024  #: bytes/s: never slower than this, so the round trip is still measured under load


@dataclass(frozen=True)
class PoliteSettings:
    target_s: float = TARGET_S
    min_rate: float = MIN_RATE
    max_rate: float | None = None  # bytes/s: a fixed cap above the controller (None = none)
    start_rate: float = 512 * 1024  # bytes/s before anything is known (4 Mbit/s)
    down_gain: float = 2.0  # per second, per target of excess delay: back off fast
    up_gain: float = 0.15  # per second at an empty queue: probe up slowly near what the link took before
    up_share: float = 0.30  # below `recover_below` of the best rate that got through, add this share of it
    recover_below: float = 0.9  # a second, so the link is taken back within seconds when it frees up
    start_gain: float = 1.5  # per second until the queue first reaches the target (a slow start)
    peak_fade_s: float = 300.0  # how long the recent peak is remembered (it fades, e^-t/this)
    current_samples: int = 3  # current delay = min of the last few samples (noise filter)
    base_bucket_s: float = 30.0  # base history: the minimum of each bucket...
    base_buckets: int = 6  # ...over this many buckets (3 minutes)
    headroom: float = 1.5  # the rate stays within this many times what is getting through (slow start)...
    steady_headroom: float = 1.2  # ...and this many times after it: an idle rate far above the link overshoots
    yield_below: float = 0.7  # "yielding" when the rate is below this share of the recent peak


class PoliteController:
    """Feed it round trips; it returns the send rate in bytes/s."""

    def __init__(self, settings: PoliteSettings | None = None) -> None:
        self.s = settings or PoliteSettings()
        self.rate = self._clamp(self.s.start_rate)
        self.base_s: float | None = None
        self.queue_s: float | None = None  # the last queueing delay seen
        self.peak = self.rate
        self._started = False  # the queue has reached the target once: slow start is over
        self.best = 0.0  # the best rate that got through lately (fades like the peak)
        self._recent: deque[float] = deque(maxlen=max(1, self.s.current_samples))
        self._buckets: deque[tuple[float, float]] = deque()  # (bucket start, min rtt in it)
        self._last_t: float | None = None
        self._delivered: tuple[float, float] | None = None  # (t, bytes) at the last update
        self._through: float | None = None  # smoothed bytes/s getting through

    # -- inputs -------------------------------------------------------------------------------------
    def update(self, now: float, rtt_s: float | None, delivered_bytes: float | None = None) -> float:
        """One step: `rtt_s` a round trip just measured (None = none this time), `delivered_bytes` the
        running total the service acknowledged. Returns the new rate (bytes/s)."""
        dt = 0.0 if self._last_t is None else max(0.0, min(now - self._last_t, 1.0))
        self._last_t = now
        self._observe_delivered(now, delivered_bytes)
        if rtt_s is not None and math.isfinite(rtt_s) and rtt_s >= 0:
            self._recent.append(rtt_s)
            self._add_base(now, rtt_s)
        if self._recent and self.base_s is not None and dt > 0:
            self.queue_s = max(0.0, min(self._recent) - self.base_s)
            self.rate = self._clamp(self._step(self.queue_s, dt))
        self.peak = max(self.rate, self.peak * math.exp(-dt / self.s.peak_fade_s))  # fades over minutes
        self.best = max(self._through or 0.0, self.best * math.exp(-dt / self.s.peak_fade_s))
        return self.rate

    def _step(self, queue_s: float, dt: float) -> float:
        s = self.s
        off = (s.target_s - queue_s) / s.target_s  # 1 = empty queue, 0 = on target, < 0 = over
        if off < 0:
            self._started = True
            return self.rate * math.exp(s.down_gain * max(off, -4.0) * dt)
        rate = self.rate * math.exp((s.up_gain if self._started else s.start_gain) * off * dt)
        if self.rate < s.recover_below * self.best:
            rate += s.up_share * off * self.best * dt
        return rate

    def _observe_delivered(self, now: float, delivered: float | None) -> None:
        if delivered is None:
            return
        if self._delivered is not None and now - self._delivered[0] >= 0.5:
            t0, b0 = self._delivered
            got = max(0.0, delivered - b0) / (now - t0)
            self._through = got if self._through is None else 0.5 * self._through + 0.5 * got
            self._delivered = (now, delivered)
        elif self._delivered is None:
            self._delivered = (now, delivered)

    def _add_base(self, now: float, rtt_s: float) -> None:
        s = self.s
        if self._buckets and now - self._buckets[-1][0] < s.base_bucket_s:
            start, low = self._buckets[-1]
            self._buckets[-1] = (start, min(low, rtt_s))
        else:
            self._buckets.append((now, rtt_s))
        while len(self._buckets) > s.base_buckets:
            self._buckets.popleft()
        self.base_s = min(low for _, low in self._buckets)

    def _clamp(self, rate: float) -> float:
        s = self.s
        top = s.max_rate if s.max_rate is not None else math.inf
        limit = self._through_limit()
        if limit is not None:
            top = min(top, limit)
        return max(s.min_rate, min(rate, top))

    def _through_limit(self) -> float | None:
        """What is getting through, times a headroom that shrinks as the queue builds: with an empty
        queue 1.5x (room to probe), at the target 1x (the queue has stopped growing), over it less (the
        queue drains). This is the damping a rate-based controller needs: delay alone reacts late."""
        through = getattr(self, "_through", None)
        if through is None:
            return None
        top = self.s.steady_headroom if self._started else self.s.headroom
        headroom = top
        floor = self.s.min_rate
        if self.queue_s is not None:
            off = (self.s.target_s - self.queue_s) / self.s.target_s
            headroom = 1.0 + (top - 1.0) * max(-1.0, min(1.0, off))
            if off > 0:  # below the target, taking back what got through lately is not winding up
                floor = max(floor, self.s.recover_below * self.best)
        return max(floor, through * headroom)

    # -- outputs ------------------------------------------------------------------------------------
    @property
    def yielding(self) -> bool:
        """Holding back for someone else: the rate well below the best that got through lately (or, before
        anything is known to have got through, below its own peak). A queue briefly over the target while
        alone is not yielding, so the progress line does not flicker."""
        reference = self.best or self.peak
        return self.rate < self.s.yield_below * reference
