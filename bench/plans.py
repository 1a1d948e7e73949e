"""Query plans of our side of the bench's two reference figures (bench.measure.our_statements: events by
district × status over a month from the status cohort; daily AQI by district over a month from the area table) and of the two readers of the partitioned hourly
table (a station's hours; an area's hourly means of a pollutant), on each database given, as Markdown.

    python -m bench.plans URL [URL …] > bench/PLANS.md

PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) after one warm-up run. SQLite has no EXPLAIN ANALYZE: its
EXPLAIN QUERY PLAN and the median of five timed runs. The statements are the ones bench.measure times,
built here by the same SQLAlchemy expressions and shown with their literal values."""
from __future__ import annotations

import statistics
import sys
import time
from datetime import timedelta

from sqlalchemy import func, select, text

from bench.measure import PERIOD, our_statements
from store.db import get_engine
from store.models import Event, Meta
from store.models.sensors import SensorHourly


def queries(first_station: str) -> list[tuple[str, object]]:
    start, end = PERIOD.utc_bounds()
    events_stmt, aqi_stmt = our_statements()
    return [
        ("事件 × 区县 × 状态（一个月，状态队列表）", events_stmt),
        ("日 AQI × 区县（一个月，区域日评价表）", aqi_stmt),
        ("一个站点一周的小时值（分区表）", select(SensorHourly.hour, SensorHourly.metric, SensorHourly.total, SensorHourly.n)
         .where(SensorHourly.sensor_id == first_station, SensorHourly.hour >= end - timedelta(days=7),
                SensorHourly.hour < end)),
        ("全市 PM2.5 小时均值（一个月，分区表）", select(SensorHourly.hour, func.sum(SensorHourly.total) / func.sum(SensorHourly.n))
         .where(SensorHourly.metric == "PM2.5", SensorHourly.hour >= start, SensorHourly.hour < end)
         .group_by(SensorHourly.hour)),
    ]


def _sql(conn, stmt) -> str:  # noqa: ANN001
    return str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def plans(url: str) -> str:
    engine = get_engine(url)
    out: list[str] = []
    with engine.connect() as conn:
        meta = dict(conn.execute(select(Meta.key, Meta.value)).all())
        events = conn.execute(select(func.count()).select_from(Event)).scalar_one()
        hourly = conn.execute(select(func.count()).select_from(SensorHourly)).scalar_one()
        station = conn.execute(select(SensorHourly.sensor_id).where(SensorHourly.metric == "PM2.5").limit(1)).scalar()
        backend = "PostgreSQL " + conn.exec_driver_sql("SHOW server_version").scalar() \
            if engine.dialect.name == "postgresql" else "SQLite " + conn.exec_driver_sql("SELECT sqlite_version()").scalar()
        out.append(f"## {backend} · 规模 {meta.get('scale', '?')}\n")
        out.append(f"事件 {events:,} 件，小时值 {hourly:,} 行；期间 {PERIOD.key}（UTC 边界）。\n")
        for title, stmt in queries(station or ""):
            sql = _sql(conn, stmt)
            out.append(f"### {title}\n\n```sql\n{sql}\n```\n")
            if engine.dialect.name == "postgresql":
                conn.execute(stmt).all()  # warm-up: the plan below reads from a warm cache, as the server does
                lines = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).scalars().all()
                out.append("```\n" + "\n".join(lines) + "\n```\n")
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    conn.execute(stmt).all()
                    times.append((time.perf_counter() - t0) * 1000)
                out.append("```\n" + "\n".join(f"{'  ' * _depth(rows, r)}{r[-1]}" for r in rows)
                           + f"\n```\n中位数 {statistics.median(times):.1f} ms（5 次）\n")
    return "\n".join(out)


def _depth(rows: list, row: tuple) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def main() -> None:
    print("\n".join(plans(url) for url in sys.argv[1:]))


if __name__ == "__main__":
    main()
