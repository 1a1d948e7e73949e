"""Run in a fresh process by bench.measure: seed the benchmark database, so the seeding's memory is
measured on its own and never counted as the dashboard's. Prints one JSON line: the seed's seconds and
its peak resident memory (getrusage of this process, which does nothing but seed)."""
from __future__ import annotations

import json
import resource
import sys
import time

from demo.progress import ProgressLine
from demo.seed import seed_demo
from store.db import get_engine, session_scope
from store.models import Meta


def main() -> None:
    url, scale, seed, until = sys.argv[1:5]
    from datetime import date

    engine = get_engine(url)
    bar = ProgressLine(sys.stderr)  # drawn only when stderr is a terminal

    def log(line: str) -> None:
        bar.clear()
        print(line, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    seed_demo(engine, scale, seed=int(seed), until=date.fromisoformat(until), force=True, log=log, progress=bar)
    bar.clear()
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with session_scope(engine) as s:
        s.merge(Meta(key="seed_seconds", value=f"{seconds:.1f}"))
        s.merge(Meta(key="seed_peak_rss_mb", value=f"{rss_mb:.0f}"))
    print(json.dumps({"seed_s": round(seconds, 1), "seed_peak_rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
