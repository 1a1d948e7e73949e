"""The benchmark is not a test, but a demo-scale run of it is, so it never rots: every figure it
promises comes out, on a throwaway database."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_demo_scale_produces_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, CITYOPS_BENCH_DIR=str(tmp_path / "db"))
    env.pop("DATABASE_URL", None)
    # One cold process, not the default three: the figure comes out the same way, two start-ups fewer.
    run = subprocess.run([sys.executable, "-m", "bench", "--scale", "demo", "--repeat", "1", "--cold-runs", "1",
                          "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    for key in ("seed_s", "db_bytes", "overview_cold_ms", "overview_warm_ms", "district_first_ms",
                "grid_first_ms", "all_indicators_all_districts_ms", "one_indicator_all_grids_ms",
                "map_bytes_city", "map_bytes_street", "peak_rss_mb", "seed_peak_rss_mb", "ratio_events_by_district_status",
                "ratio_daily_aqi_by_district", "geocode_ms_per_address", "geocode_p95_ms"):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert figures["events"] > 20_000 and figures["grids"] > 500 and figures["geocode_addresses"] >= 100_000
    assert figures["map_event_mode_city"] == "bins" and figures["map_event_mode_street"] == "points"
    assert "overview_warm_ms" in run.stdout


def test_bench_report_puts_runs_side_by_side(tmp_path):
    from bench.report import table

    demo = {"scale": "demo", "backend": "sqlite", "seed_s": 10.5, "db_bytes": 155_000_000, "map_bytes_city": 300_000}
    city = {"scale": "city", "backend": "postgres", "seed_s": 480.0, "db_bytes": 9_100_000_000}
    text = table([demo, city])
    assert "| demo sqlite | city postgres |" in text
    assert "| seed_s | 10.5 | 480 | 600 |" in text
    assert "| db_bytes | 155 MB | 9.10 GB |  |" in text
    assert "| map_bytes_city | 300 KB | — | 2000 KB |" in text
