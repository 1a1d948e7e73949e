"""Timing helpers of the benchmark: repeated measurement with its spread, and the machine's load beside it.

A median alone hides how noisy a figure is; on a 2-core machine shared with other work the spread and
the load average (os.getloadavg, 1-minute) say how far a figure can be trusted. Every repeated figure is
reported as {n, median, p10, p90, min, max, load_1m}.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

# Script runs timed by bench.overview_probe (filled in that process by its ScriptRunner instrument).
RUNS: list[float] = []
MIN_REFERENCE_RUNS = 31  # each reference query at least this often, whatever --repeat says


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(samples: list[float], *, load_1m: float | None = None, digits: int = 2) -> dict:
    """n, median, p10, p90, min, max of `samples` (ms), and the load average they ran under."""
    ordered = sorted(samples)
    out = {"n": len(ordered), "median": statistics.median(ordered), "p10": _quantile(ordered, 0.10),
           "p90": _quantile(ordered, 0.90), "min": ordered[0], "max": ordered[-1]}
    out = {k: (v if k == "n" else round(v, digits)) for k, v in out.items()}
    out["load_1m"] = round(load_1m if load_1m is not None else os.getloadavg()[0], 2)
    return out


def measure(fn: Callable[[], object], repeat: int, *, warmup: int = 1) -> dict:
    """Run `fn` `warmup` times untimed, then `repeat` times timed: its spread() in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return spread(times)
