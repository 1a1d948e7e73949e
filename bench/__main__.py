"""python -m bench [--scale demo|tenth|city] [--backend sqlite|postgres] [--out FILE.json] [--rebuild]

Builds (or reuses) a database at that scale with the demo generator and measures what a command centre
feels: seed time and size, overview server time cold and warm, first views of a district and a grid,
the indicator engine, map payloads, peak memory, and two aggregations against a DuckDB reference.
Prints a table and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import measure

TARGETS = {  # issue #9, city scale, SQLite
    "overview_warm_ms": 150, "overview_cold_ms": 3000, "district_first_ms": 500, "one_indicator_all_grids_ms": 200,
    "all_indicators_all_districts_ms": 1500, "map_bytes_city": 2_000_000, "peak_rss_mb": 1536,
    "ratio_events_by_district_status": 3.0, "ratio_daily_aqi_by_district": 3.0, "seed_s": 600,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo", choices=["demo", "tenth", "city"])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark database")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    figures = measure.run(args.scale, args.backend, rebuild=args.rebuild, repeat=args.repeat)
    print(measure.table(figures, TARGETS if args.scale == "city" else {}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
