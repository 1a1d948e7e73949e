"""python -m bench.statements [--scale demo|tenth|city] [--backend sqlite|postgres]

What statement reuse saves (indicators.engine: plans and statements kept per request shape, values as
named parameters): every library indicator for each district, first with nothing kept (planning and
building the statements as every new district used to), then for each district with the statements
another district built. Prints one line per district and the medians; reads the benchmark database
`python -m bench` seeded (seed it first). Not a test: figures only.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from sqlalchemy import select

from bench.measure import PERIOD, SYSTEM, database_url
from store.db import get_engine, session_scope
from store.demo_scale import SCALES
from store.models import Region


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo", choices=list(SCALES))
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args(argv)

    # The engine is imported once the database URL is known: settings are read at import.
    import indicators
    from indicators import engine as E  # noqa: N812 - as the engine's own tests name it
    from indicators import sqlbuild  # its builder is timed below

    engine = get_engine(database_url(args.scale, args.backend))
    ids = list(indicators.load_library())
    with session_scope(engine, readonly=True) as s:
        districts = list(s.scalars(select(Region.code).where(Region.level == "district").order_by(Region.code)))
    spent = {"plan": [], "build": [], "run": []}

    def timing(kind, fn):  # noqa: ANN001, ANN202
        def wrapped(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[kind].append((time.perf_counter() - t0) * 1000)
        return wrapped

    E.plan_for = timing("plan", E.plan_for)
    sqlbuild.build_once = timing("build", sqlbuild.build_once)
    sqlbuild.run_built = timing("run", sqlbuild.run_built)
    indicators.compute_many(ids, districts[0], PERIOD, SYSTEM, engine=engine)  # imports, connections, pages

    def one(code: str) -> tuple[float, float, float]:
        for v in spent.values():
            v.clear()
        t0 = time.perf_counter()
        indicators.compute_many(ids, code, PERIOD, SYSTEM, engine=engine)
        return (time.perf_counter() - t0) * 1000, sum(spent["plan"]) + sum(spent["build"]), sum(spent["run"])

    print(f"{len(ids)} indicators × {len(districts)} districts, {PERIOD.key}, {args.scale}/{args.backend}; "
          "ms, median of three; the rest of a view is the standard calculators (air, water, coverage)")
    print(f"{'district':10s} {'new: planning+building':>23s} {'running':>8s} {'total':>7s}   "
          f"{'kept: planning+building':>24s} {'running':>8s} {'total':>7s}")
    rows = []
    for code in districts:
        other = districts[(districts.index(code) + 1) % len(districts)]
        runs = []
        for _ in range(3):  # the median of three of each, so a busy machine's stalls do not decide
            E.clear_statement_cache()
            cold = one(code)
            E.clear_statement_cache()
            one(other)  # another district plans and builds them
            runs.append((*cold, *one(code)))
        med = [statistics.median(r[i] for r in runs) for i in range(6)]
        rows.append(med)
        print(f"{code:10s} {med[1]:23.1f} {med[2]:8.1f} {med[0]:7.1f}   {med[4]:24.1f} {med[5]:8.1f} {med[3]:7.1f}")
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    print(f"{'median':10s} {med[1]:23.1f} {med[2]:8.1f} {med[0]:7.1f}   {med[4]:24.1f} {med[5]:8.1f} {med[3]:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
