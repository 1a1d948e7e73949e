"""Run in a fresh process by bench.measure: server time of the overview page (AppTest), cold then warm,
and first views of a district and a grid. Prints one JSON line."""
from __future__ import annotations

import json
import statistics
import sys
import time

from streamlit.testing.v1 import AppTest

from store.scope import Viewer

LEADER = Viewer("bench_leader", "leader", "440900", display_name="基准测试")


def run_page(region: str, period: str) -> float:
    at = AppTest.from_file("pages/overview.py", default_timeout=300)
    at.session_state["viewer"] = LEADER
    at.query_params["region"] = region
    at.query_params["period"] = period
    t0 = time.perf_counter()
    at.run()
    elapsed = (time.perf_counter() - t0) * 1000
    if at.exception:
        raise RuntimeError(f"overview failed: {at.exception[0].message}")
    return elapsed


def main() -> None:
    city, district, grid, period, repeat = sys.argv[1:6]
    cold = run_page(city, period)
    warm = [run_page(city, period) for _ in range(int(repeat))]
    district_first = run_page(district, period)
    grid_first = run_page(grid, period)
    print(json.dumps({"overview_cold_ms": round(cold, 1), "overview_warm_ms": round(statistics.median(warm), 1),
                      "overview_warm_all_ms": [round(w, 1) for w in warm],
                      "district_first_ms": round(district_first, 1), "grid_first_ms": round(grid_first, 1)}))


if __name__ == "__main__":
    main()
