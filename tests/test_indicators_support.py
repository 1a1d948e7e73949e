"""Helpers for the indicator tests: hand-written rows for the tiny city (no generators, literal values)."""
from __future__ import annotations

import textwrap
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from events.rollup import rebuild_district
from indicators.library import load_library
from store.models import (
    Event, EventDailyRollup, ExternalValue, Resource, Sensor, SensorDaily, SensorLatest,
)
from store.models.sensors import SensorAreaDaily
from standards import noise as noise_std
from tests.support.tiny_city import codes_for_point

TZ = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
# Points inside known grids of the tiny city.
WEST_NW = (110.2, 21.9)    # grid 440902001001001 (district 440902, street 440902001)
WEST_SE = (110.7, 21.1)    # grid 440902002002002
EAST_NW = (111.2, 21.9)    # grid 440904001001001
G1 = codes_for_point(*WEST_NW)["grid"]
G2 = codes_for_point(*EAST_NW)["grid"]
COUNTERS = ("reported", "registered", "rejected", "dispatched", "dispatched_on_time", "handled", "handled_on_time",
            "closed", "closed_on_time", "reworked", "handle_hours_sum", "satisfied", "rated")


def region_cols(point: tuple[float, float]) -> dict:
    return {f"{k}_code": v for k, v in codes_for_point(*point).items()}


def local(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    """A local (Asia/Shanghai) wall-clock time as an aware datetime."""
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def local_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=TZ)


def rollup(session, point, day: date, source: str = "网格员", category: str = "市容环境", **counts) -> None:  # noqa: ANN001
    row = {c: 0 for c in COUNTERS}
    row.update(counts)
    session.execute(insert(EventDailyRollup), [{"day": day, **region_cols(point), "category": category,
                                                 "source": source, **row}])
    rebuild_district(session)  # as after any bulk write of the grid rollup: the district copy follows


_event_no = 0


def event(session, point, reported_at: datetime, status: str = "reported", source: str = "网格员", **kw) -> None:  # noqa: ANN001
    global _event_no
    _event_no += 1
    session.add(Event(source=source, source_id=f"T{_event_no}", category=kw.pop("category", "市容环境"),
                      subcategory="暴露垃圾", title="测试案件", lon=point[0], lat=point[1], status=status,
                      reported_at=reported_at, **region_cols(point), **kw))


def sensor(session, sid: str, kind: str, point, params: dict | None = None) -> None:  # noqa: ANN001
    session.add(Sensor(id=sid, kind=kind, name=sid, lon=point[0], lat=point[1], params=params or {},
                       **region_cols(point)))
    session.flush()


def daily(session, sid: str, kind: str, point, day: date, metric: str, value, detail=None, edition=None) -> None:  # noqa: ANN001
    # A noise day carries its zone's limit as sensors.daily assesses it.
    limit = noise_std.limit(detail["zone"], metric.removeprefix("Leq_")) \
        if kind == "noise" and detail and "zone" in detail else None
    session.add(SensorDaily(sensor_id=sid, kind=kind, day=local_midnight(day), metric=metric, value=value,
                            limit_value=limit, detail=detail, edition=edition, **region_cols(point)))


def area_daily(session, region: str, day: date, metric: str, value, edition: str) -> None:  # noqa: ANN001
    session.add(SensorAreaDaily(region_code=region, level="city" if region.endswith("00") else "district",
                                city_code="440900", kind="air", day=local_midnight(day), metric=metric, value=value,
                                edition=edition, stations=1))


def latest(session, sid: str, metric: str, value: float, ts: datetime) -> None:  # noqa: ANN001
    session.add(SensorLatest(sensor_id=sid, metric=metric, value=value, ts=ts))


def resource(session, rid: str, kind: str, point, status: str = "available", **kw) -> None:  # noqa: ANN001
    session.add(Resource(id=rid, kind=kind, name=rid, lon=point[0], lat=point[1], status=status,
                         **region_cols(point), **kw))


def external(session, indicator_id: str, region: str, period: str, value: float) -> None:  # noqa: ANN001
    session.add(ExternalValue(indicator_id=indicator_id, region_code=region, city_code="440900", period=period,
                              value=value))


def write_yaml(tmp_path: Path, text: str, name: str = "test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def library_with(tmp_path: Path, text: str) -> dict:
    """The real library plus the indicators in `text` (for kinds the real library does not use)."""
    extra = load_library(write_yaml(tmp_path, text))
    return {**load_library(), **extra}


# -- the demo city, seeded once per test session -------------------------------------------------------------

DEMO_UNTIL = date(2026, 11, 20)
DEMO_SEED = 7
DEMO_NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _seed(url: str) -> None:
    # The same seed and day as conftest.demo_db_url: on SQLite both fixtures then share one seeding a run.
    from demo.seed import seed_demo
    from store.db import get_engine

    seed_demo(get_engine(url), "demo", seed=DEMO_SEED, until=DEMO_UNTIL, log=lambda *_: None)


_built: dict[str, object] = {}


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory):
    """The demo-scale city (all domain generators) in SQLite, built once per session. Test modules import
    this fixture, which pytest registers once per module, so the build itself is cached here."""
    from store.db import get_engine
    from tests.support.shared_demo import sqlite_copy

    if "sqlite" not in _built:  # seeded once per run, copied for each worker
        _built["sqlite"] = get_engine(sqlite_copy(tmp_path_factory, "demo_seed7", _seed))
    return _built["sqlite"]


@pytest.fixture(scope="session")
def demo_pg_engine(tmp_path_factory):
    """The same demo city in its own PostgreSQL database (the shared test database is reset by other
    fixtures, so this one lives apart and is dropped at the end): a copy of a template database seeded once
    per run (tests/support/shared_demo.py)."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from store.db import dispose_engines, get_engine
    from tests.conftest import PG_ADMIN_URL
    from tests.support.shared_demo import drop_template, postgres_copy

    name = f"cityops_ind_demo_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        url = postgres_copy(tmp_path_factory, PG_ADMIN_URL, "ind_demo", name, _seed)
    except OperationalError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield get_engine(url)
    dispose_engines()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    drop_template(tmp_path_factory, PG_ADMIN_URL, "ind_demo")
