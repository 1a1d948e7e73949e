"""The supervision figures of `python -m bench`: the duplicate check at intake, the daily 研判 job and the
考核评价 screen's first view, on the benchmark city.

- duplicate check: `events.duplicates.find_candidates` exactly as create_event runs it, for reports at
  the anchor time — half at the spot of a case reported in the 72 hours before (so candidates exist),
  half at random spots of the city — median and p95 ms per report;
- 研判: `supervision.hotspots.run` for the anchor day (nine weeks of grids, streets and 12345 topics),
  seconds, in a transaction rolled back afterwards (the benchmark database stays as seeded);
- 考核评价: `situation.assessment.assess` for departments, districts and grid officers at the city
  (current and previous period, as the page's first view computes them), ms each, first call.

    python -m bench.supervision [--scale demo] [--backend sqlite] [--reports 400]   # these figures alone
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from events import duplicates
from events.statuses import OPEN_STATUSES
from situation import assessment
from store.demo_scale import SCALES
from store.db import get_engine, session_scope
from store.models import Event, Region
from store.period import Period
from store.scope import Viewer
from supervision import hotspots

LEADER = Viewer("bench", "leader", "440900", display_name="基准测试")


CITY = "440900"  # the bench leader's city (bench.measure.SYSTEM): a province database holds five


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return round(statistics.median(ordered), 2), round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)


def duplicate_figures(url: str, at: datetime, reports: int = 400, seed: int = 20261206) -> dict:
    engine = get_engine(url)
    rng = random.Random(seed)
    with session_scope(engine, readonly=True) as s:
        recent = s.execute(select(Event.category, Event.subcategory, Event.lon, Event.lat)
                           .where(Event.reported_at >= at - timedelta(hours=72), Event.reported_at <= at,
                                  Event.status.in_(OPEN_STATUSES)).order_by(Event.id)).all()
        kinds = s.execute(select(Event.category, Event.subcategory).distinct()).all()
        # Reports land in the bench leader's city (a province database holds five).
        box = s.execute(select(Region.bbox).where(Region.code == CITY)).scalar_one()
        x0, y0, x1, y1 = (float(v) for v in box.split(","))
        queries = []
        for i in range(reports):
            if i % 2 == 0 and recent:
                c, sub, lon, lat = rng.choice(recent)
                lon, lat = lon + rng.uniform(-2e-4, 2e-4), lat + rng.uniform(-2e-4, 2e-4)
            else:
                c, sub = rng.choice(kinds)
                lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            queries.append((c, sub, lon, lat))
        duplicates.find_candidates(s, category=queries[0][0], subcategory=queries[0][1], lon=queries[0][2],
                                   lat=queries[0][3], at=at)  # warm the statement cache
        times, hits = [], 0
        for c, sub, lon, lat in queries:
            t0 = time.perf_counter()
            found = duplicates.find_candidates(s, category=c, subcategory=sub, lon=lon, lat=lat, at=at)
            times.append((time.perf_counter() - t0) * 1000)
            hits += bool(found)
    median, p95 = _ms(times)
    return {"duplicate_check_ms": median, "duplicate_check_p95_ms": p95, "duplicate_check_reports": reports,
            "duplicate_check_with_candidates": hits, "duplicate_open_cases_72h": len(recent)}


def hotspot_figures(url: str, day: date) -> dict:
    engine = get_engine(url)
    with session_scope(engine) as s:
        t0 = time.perf_counter()
        run = hotspots.run(s, today=day)
        seconds = time.perf_counter() - t0
        s.rollback()  # measured, not kept
    return {"hotspot_job_s": round(seconds, 2), "hotspot_tests": sum(run.tested.values()),
            "hotspot_found": sum(run.found.values())}


def assessment_figures(url: str, period: Period, now: datetime) -> dict:
    engine = get_engine(url)
    out = {}
    for subject in ("department", "district", "officer"):
        t0 = time.perf_counter()
        a = assessment.assess(LEADER, "440900", period, subject, engine=engine, now=now)
        out[f"assessment_{subject}_first_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        out[f"assessment_{subject}_rows"] = len(a.table)
    return out


def supervision_figures(url: str, at: datetime, period: Period, reports: int = 400) -> dict:
    day = at.date()
    return {**duplicate_figures(url, at, reports), **hotspot_figures(url, day),
            **assessment_figures(url, period, at)}


def main(argv: list[str] | None = None) -> int:
    from bench import measure  # noqa: PLC0415 - the benchmark's anchor and database names, only when run alone

    parser = argparse.ArgumentParser(prog="python -m bench.supervision", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo", choices=list(SCALES))
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--url", help="a database to measure instead of the benchmark's")
    parser.add_argument("--reports", type=int, default=400)
    args = parser.parse_args(argv)
    url = args.url or measure.database_url(args.scale, args.backend)
    print(json.dumps(supervision_figures(url, measure.UNTIL_DT, measure.PERIOD, args.reports), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
