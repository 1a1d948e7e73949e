"""python -m bench.report A.json B.json … — the figures of several bench runs side by side (markdown),
with the issue's targets, to show how each figure grows from demo to tenth to city scale."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.__main__ import TARGETS

ROWS = ("seed_s", "seed_peak_rss_mb", "db_bytes", "events", "grids", "server_startup_ms", "overview_cold_ms",
        "overview_warm_ms", "overview_after_case_write_ms", "district_first_ms", "grid_first_ms",
        "all_indicators_all_districts_ms", "one_indicator_all_grids_ms", "map_bytes_city", "map_bytes_street",
        "events_by_district_status_ms", "duckdb_events_by_district_status_ms", "ratio_events_by_district_status",
        "daily_aqi_by_district_ms", "duckdb_daily_aqi_by_district_ms", "ratio_daily_aqi_by_district",
        "province_overview_cold_ms", "province_overview_warm_ms", "province_city_first_ms", "province_grid_first_ms",
        "peak_rss_mb", "load_1m")


def _fmt(key: str, value) -> str:  # noqa: ANN001
    if value is None:
        return "—"
    if key == "db_bytes":
        return f"{value / 1e9:.2f} GB" if value >= 1e9 else f"{value / 1e6:.0f} MB"
    if key.startswith("map_bytes"):
        return f"{value / 1e3:.0f} KB"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _cell(key: str, run: dict) -> str:
    """The figure; for a repeated one its median with the p10–p90 band (bench/timing.py), so a reader sees
    how much of a difference between two runs is noise; for load_1m the 1-minute load average at the start."""
    if key == "load_1m":
        start = run.get("loadavg_start")
        return _fmt(key, start[0]) if start else "—"
    spread = run.get("timings", {}).get(key.removesuffix("_ms"))
    if spread is not None and spread["n"] > 1:
        return f"{spread['median']:g} ({spread['p10']:g}–{spread['p90']:g})"
    return _fmt(key, run.get(key))


def table(runs: list[dict]) -> str:
    """Repeated figures read `median (p10–p90)`; load_1m is the load average when the run started."""
    head = "| figure | " + " | ".join(f"{r['scale']} {r['backend']}" for r in runs) + " | target (city, SQLite) |"
    lines = [head, "|" + "---|" * (len(runs) + 2)]
    for key in ROWS:
        target = TARGETS.get(key)
        cells = [_cell(key, r) for r in runs]
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {'' if target is None else _fmt(key, target)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print(__doc__)
        return 2
    print(table([json.loads(p.read_text()) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
