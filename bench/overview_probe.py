"""Run in a fresh process by bench.measure: server time of the overview page (AppTest), cold then warm,
and first views of a district and a grid. Prints one JSON line."""
from __future__ import annotations

import json
import resource
import statistics
import sys

from streamlit.testing.v1 import AppTest

from store.scope import Viewer

LEADER = Viewer("bench_leader", "leader", "440900", display_name="基准测试")
# The page runs inside a wrapper that times the script itself: AppTest.run's own wall time is mostly
# its polling loop, not the server's work.
WRAPPER = """
import runpy, time
from bench import timing
t0 = time.perf_counter()
try:
    runpy.run_path("pages/overview.py", run_name="__main__")
finally:
    timing.RUNS.append((time.perf_counter() - t0) * 1000)
"""


def run_page(region: str, period: str) -> float:
    from bench import timing  # the probe process's own copy, filled by the page wrapper it runs

    at = AppTest.from_string(WRAPPER, default_timeout=300)
    at.session_state["viewer"] = LEADER
    at.query_params["region"] = region
    at.query_params["period"] = period
    at.run()
    if at.exception:
        raise RuntimeError(f"overview failed: {at.exception[0].message}")
    return timing.RUNS[-1]


def main() -> None:
    city, district, grid, period, repeat = sys.argv[1:6]
    # As server.py does when it starts: the page modules are loaded before the first visitor.
    from ui import heap

    startup = heap.settle()
    cold = run_page(city, period)
    warm = [run_page(city, period) for _ in range(int(repeat))]
    district_first = run_page(district, period)
    grid_first = run_page(grid, period)
    print(json.dumps({"server_startup_ms": round(startup, 1), "overview_cold_ms": round(cold, 1),
                      "overview_warm_ms": round(statistics.median(warm), 1),
                      "overview_warm_all_ms": [round(w, 1) for w in warm],
                      "district_first_ms": round(district_first, 1), "grid_first_ms": round(grid_first, 1),
                      "probe_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
