"""File sizes in fixed log-spaced bins: bounded memory, quantiles within 1%, exact 1-2-5 bins."""

from __future__ import annotations

import math
from bisect import bisect_right
from functools import partial


def _size_edges() -> list[int]:
    """Histogram bin edges: every integer up to 100, then steps of at most 1%, plus every 1-2-5 edge
    (1 kB, 2 kB, 5 kB, 10 kB, ...) so the report's bins are sums of whole bins. Up to 100 TB."""
    edges = set(range(1, 101))
    x = 100.0
    while x < 1e14:
        x *= 1.01
        edges.add(int(x))
    decade = 1000
    while decade <= 10**14:
        edges.update((decade, 2 * decade, 5 * decade))
        decade *= 10
    return sorted(edges)


SIZE_EDGES = _size_edges()
size_bin = partial(bisect_right, SIZE_EDGES)


class SizeHistogram:
    """Counts of sizes in fixed log-spaced bins (bounded memory). Bin i holds [edge[i-1], edge[i])."""

    def __init__(self) -> None:
        self.edges = SIZE_EDGES
        self.counts = [0] * (len(SIZE_EDGES) + 1)
        self.n = 0

    def add(self, size: int) -> None:
        self.counts[bisect_right(self.edges, size)] += 1
        self.n += 1

    def _bounds(self, i: int) -> tuple[int, int]:
        low = self.edges[i - 1] if i > 0 else 0
        high = self.edges[i] if i < len(self.edges) else max(low * 2, low + 1)
        return low, high

    def quantile(self, q: float) -> int:
        """The q-quantile (0..1) by the nearest-rank rule, interpolated inside its bin."""
        if self.n == 0:
            return 0
        rank = min(self.n, max(1, math.ceil(q * self.n)))
        seen = 0
        for i, c in enumerate(self.counts):
            if c and seen + c >= rank:
                low, high = self._bounds(i)
                if high - low <= 1:
                    return low
                return int(low + (high - 1 - low) * (rank - seen - 0.5) / c)
            seen += c
        raise AssertionError("unreachable")

    def bins_125(self) -> list[tuple[int, int, int]]:
        """Files per 1-2-5 bin (below 1 kB, 1-2 kB, 2-5 kB, 5-10 kB, ...), from the first to the last
        non-empty one, empty bins between kept. Exact: every 1-2-5 edge is a histogram edge."""
        out: list[tuple[int, int, int]] = []
        edges125 = [0] + [e for e in self.edges if e >= 1000 and str(e).rstrip("0") in ("1", "2", "5")]
        j = 0
        totals = [0] * len(edges125)
        for i, c in enumerate(self.counts):
            if not c:
                continue
            low, _ = self._bounds(i)
            while j + 1 < len(edges125) and edges125[j + 1] <= low:
                j += 1
            totals[j] += c
        used = [k for k, t in enumerate(totals) if t]
        if not used:
            return out
        for k in range(used[0], used[-1] + 1):
            high = edges125[k + 1] if k + 1 < len(edges125) else edges125[k] * 2
            out.append((edges125[k], high, totals[k]))
        return out
