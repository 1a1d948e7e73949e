"""Fixed log-spaced bins for durations, so a percentile can be read from summed counts.

A rollup row cannot keep every case's duration, but it can keep how many fell in each bin; bins with
fixed edges add up across days, regions and departments (a SUM per column on both backends), and a
percentile is then read from the summed counts.

Bins (durations in seconds, edges whole seconds so Python and SQL put a duration in the same bin):
    bin 0            [0, 30 min)            (a negative duration — clock skew in imported data — too)
    bin k, 1 … 48    [e(k−1), e(k)),  e(k) = 30 min × 2^(k/4): four bins per doubling, up to 2048 h
    bin 49           [2048 h, ∞)

`percentile(counts, p)` finds the bin holding the nearest-rank value (the ⌈p% × n⌉-th smallest) and
interpolates inside it, geometrically in the log bins, linearly in bin 0. The exact value lies in that
same bin, so the error is at most the bin's width:
    |estimate − exact| ≤ e(k) − e(k−1) = e(k−1) × (2^(1/4) − 1) ≤ 18.93 % of the exact value (bins 1–48),
    |estimate − exact| ≤ 0.5 h (bin 0); in bin 49 the estimate is 2048 h, a lower bound.
`error_bound(exact_hours)` states it for one value (tests/test_indicators_rollup_measures.py checks it).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Sequence

PER_DOUBLING = 4
FIRST_EDGE_S = 1800  # 30 minutes
DOUBLINGS = 12  # the last edge: 30 min × 2^12 = 2048 h (≈ 85 days)
EDGES_S: tuple[int, ...] = tuple(round(FIRST_EDGE_S * 2 ** (k / PER_DOUBLING))
                                 for k in range(DOUBLINGS * PER_DOUBLING + 1))
BINS = len(EDGES_S) + 1  # 50
RATIO = 2 ** (1 / PER_DOUBLING)
RELATIVE_ERROR = RATIO - 1  # 0.1892…


def columns(prefix: str) -> tuple[str, ...]:
    """The column names of one histogram: prefix_00 … prefix_49."""
    return tuple(f"{prefix}_{k:02d}" for k in range(BINS))


def bin_of(seconds: float) -> int:
    """The bin of a duration in seconds."""
    return bisect_right(EDGES_S, seconds)


def bounds_hours(k: int) -> tuple[float, float]:
    """(low, high) of bin k in hours; high is inf for the last bin."""
    lo = 0.0 if k == 0 else EDGES_S[k - 1] / 3600
    hi = math.inf if k >= len(EDGES_S) else EDGES_S[k] / 3600
    return lo, hi


def rank(n: int, p: float) -> int:
    """Nearest rank: the smallest r with r × 100 ≥ n × p (at least 1), as the case-by-case SQL picks."""
    r = max(1, math.ceil(n * p / 100))
    while r > 1 and (r - 1) * 100 >= n * p:
        r -= 1
    while r * 100 < n * p:
        r += 1
    return r


def percentile(counts: Sequence[float | None], p: float) -> float | None:
    """The p-th percentile in hours from a histogram's counts (None when it is empty)."""
    values = [int(c or 0) for c in counts]
    n = sum(values)
    if n <= 0:
        return None
    target = rank(n, p)
    below = 0
    for k, c in enumerate(values):
        if c > 0 and below + c >= target:
            lo, hi = bounds_hours(k)
            if math.isinf(hi):
                return lo
            frac = (target - below - 0.5) / c  # the target's place among the bin's c values, at their middles
            if k == 0:
                return lo + (hi - lo) * frac
            return lo * (hi / lo) ** frac
        below += c
    return None  # pragma: no cover - the loop always reaches the target


def error_bound(exact_hours: float) -> float:
    """How far `percentile` may be from an exact value of `exact_hours` (the width of its bin; inf in the
    open last bin, where the estimate is its lower edge)."""
    lo, hi = bounds_hours(bin_of(exact_hours * 3600))
    return hi - lo
