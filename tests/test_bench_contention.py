"""bench.contention runs end to end with tiny numbers on SQLite (a smoke test: no figure is judged —
the benchmark prints and records them; see bench/contention.py)."""
from __future__ import annotations

import json
from pathlib import Path

from bench import contention


def test_contention_bench_runs_with_tiny_numbers(demo_db_url, tmp_path):
    out = tmp_path / "contention.json"
    assert contention.main(["--backend", "sqlite", "--url", demo_db_url, "--rows", "30", "--seconds", "2",
                            "--clients", "2", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["import"]["ok"] and figures["import"]["imported"] == 30, figures["import"]
    assert figures["import"]["apply_s"] is not None and figures["import"]["prepare_s"] is not None
    assert figures["register"]["count"] > 0 and figures["register"]["ok"] == figures["register"]["count"]
    assert figures["register"]["worst_ms"] is not None
    assert figures["login"]["attempts"] > 0 and figures["login"]["errors"] == 0
    assert figures["load_average"]["cores"]
    # The measuring happened on a scratch copy, removed afterwards: the demo database is untouched.
    demo = Path(demo_db_url.split("///", 1)[1])
    assert not demo.with_name(demo.stem + "-contention.db").exists()
