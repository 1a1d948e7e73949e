"""Timings recorded by the page wrapper of bench.overview_probe (same process)."""
RUNS: list[float] = []
