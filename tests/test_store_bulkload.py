"""store.bulkload stores exactly what the ORM stores (timestamps, dates, JSON, NULLs) on both backends,
and its index helpers leave the schema as the models describe it."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import Integer, String, insert, inspect, select, type_coerce

from store import bulkload
from store.db import session_scope
from store.models import EventDailyRollup
from store.models.sensors import Sensor, SensorDaily, SensorHourly

T0 = datetime(2026, 3, 1, 7, 30, 15, 250000, tzinfo=timezone.utc)
CODES = {"city_code": "440900", "district_code": "440902", "street_code": None, "community_code": None,
         "grid_code": None}


def _sensors(session) -> None:  # noqa: ANN001
    session.execute(insert(Sensor), [{"id": sid, "kind": "air", "name": sid, "lon": 110.9, "lat": 21.6, **CODES}
                                     for sid in ("ORM", "BULK")])


def _raw(session, model, column, sensor_id: str) -> list:  # noqa: ANN001
    """Values as stored: SQLite text read as text (no result processing), PostgreSQL values as typed."""
    col = getattr(model, column)
    if session.get_bind().dialect.name == "sqlite":
        col = type_coerce(col, String)
    return session.execute(select(col).where(model.sensor_id == sensor_id).order_by(model.id)).scalars().all()


def test_stored_like_the_orm(db_engine):
    days = [T0 + timedelta(days=i, hours=i) for i in range(4)]
    values = [1.5, None, 3.25, 4.0]
    details = [{"category": "优", "primary": ["PM2.5"], "iaqi": {"PM2.5": 27}}, None, {"a": 1}, {"b": [1, 2]}]
    with session_scope(db_engine) as s:
        _sensors(s)
        s.execute(insert(SensorDaily), [
            {"sensor_id": "ORM", "kind": "air", "day": d, "metric": "AQI", "value": v, "edition": "2026",
             "detail": dt, **CODES} for d, v, dt in zip(days, values, details) if dt is not None])
        keep = np.array([dt is not None for dt in details])
        epoch = np.array([d.timestamp() for d in days])[keep]
        vals = np.array([np.nan if v is None else v for v in values])[keep]
        n = bulkload.load(s, SensorDaily, {
            "sensor_id": "BULK", "kind": "air", "day": epoch, "metric": "AQI", "value": vals, "edition": "2026",
            "detail": [dt for dt in details if dt is not None], **CODES}, int(keep.sum()), chunk=2)
        assert n == 3
    with session_scope(db_engine, readonly=True) as s:
        for column in ("day", "value", "detail", "edition", "district_code", "street_code"):
            assert _raw(s, SensorDaily, column, "BULK") == _raw(s, SensorDaily, column, "ORM"), column
        rows = s.execute(select(SensorDaily.day, SensorDaily.detail).where(SensorDaily.sensor_id == "BULK")
                         .order_by(SensorDaily.id)).all()
        assert [r.day for r in rows] == [d for d, dt in zip(days, details) if dt is not None]
        assert rows[0].detail["category"] == "优"


def test_time_inputs_nulls_and_constants(db_engine):
    hours = np.arange(np.datetime64("2026-01-01T00", "h"), np.datetime64("2026-01-01T06", "h"))
    value = np.arange(1.0, 7.0)
    vmin = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0])
    with session_scope(db_engine) as s:
        _sensors(s)
        deferred = bulkload.drop_indexes_if_empty(s, (SensorHourly,))
        assert {i.name for i in deferred} == {i.name for i in SensorHourly.__table__.indexes}
        bulkload.load(s, SensorHourly, {
            "sensor_id": "BULK", "kind": "noise", "hour": hours, "metric": "Leq", "n": 1, "total": value,
            "vmin": vmin, "vmax": value, "etotal": None, **CODES}, 3)
        # aware datetimes go through the column type like the ORM's own inserts
        bulkload.load(s, SensorHourly, {
            "sensor_id": np.array(["BULK"] * 3, dtype=object), "kind": "noise",
            "hour": [datetime(2026, 1, 1, h + 8, tzinfo=timezone(timedelta(hours=8))) for h in (3, 4, 5)],
            "metric": "Leq", "n": np.ones(3, dtype=np.int64), "total": value[3:], "vmin": vmin[3:],
            "vmax": value[3:], "etotal": np.full(3, np.nan), **CODES}, 3)
        bulkload.create_indexes(s, deferred)
        bulkload.analyze(s, (SensorHourly,))
    assert {i["name"] for i in inspect(db_engine).get_indexes("sensor_hourly")} >= {"ix_sensor_hourly_metric_hour"}
    with session_scope(db_engine, readonly=True) as s:
        rows = s.execute(select(SensorHourly).order_by(SensorHourly.hour)).scalars().all()
    assert [r.hour for r in rows] == [datetime(2026, 1, 1, h, tzinfo=timezone.utc) for h in range(6)]
    assert [r.vmin for r in rows] == [1.0, None, 3.0, 4.0, 5.0, 6.0]
    assert {r.etotal for r in rows} == {None} and {r.n for r in rows} == {1}


def test_dates_and_sequences(db_engine):
    counters = {c.name: np.zeros(2, dtype=np.int64) for c in EventDailyRollup.__table__.columns
                if isinstance(c.type, Integer) and c.name != "id"}
    with session_scope(db_engine) as s:
        bulkload.load(s, EventDailyRollup, {**counters,
            "id": np.array([10, 11]), "day": np.array([date(2026, 1, 1), date(2026, 1, 2)], dtype=object),
            "city_code": "440900", "district_code": np.array(["440902", None], dtype=object),
            "category": "市容环境", "source": "12345", "reported": np.array([3, 4]),
            "handle_hours_sum": np.array([1.5, 0.0])}, 2)
        bulkload.fix_sequence(s, EventDailyRollup)
        s.execute(insert(EventDailyRollup).values(day=date(2026, 1, 3), city_code="440900", category="市容环境",
                                                  source="12345"))
    with session_scope(db_engine, readonly=True) as s:
        rows = s.execute(select(EventDailyRollup).order_by(EventDailyRollup.id)).scalars().all()
    assert [(r.id, r.day, r.district_code, r.reported) for r in rows[:2]] == [
        (10, date(2026, 1, 1), "440902", 3), (11, date(2026, 1, 2), None, 4)]
    assert rows[2].id > 11


def test_utc_text():
    out = bulkload.utc_text(np.array([0.0, np.nan, 1.5]), with_zone=False)
    assert list(out) == ["1970-01-01 00:00:00.000000", None, "1970-01-01 00:00:01.500000"]
    out = bulkload.utc_text(np.array(["2026-01-01T08", "NaT"], dtype="datetime64[h]"), with_zone=True)
    assert list(out) == ["2026-01-01 08:00:00.000000+00:00", None]


def test_other_dialects_refused():
    class Fake:
        class dialect:  # noqa: N801
            name = "mysql"

    class FakeSession:
        def connection(self):  # noqa: ANN202
            return Fake()

    with pytest.raises(NotImplementedError):
        bulkload.load(FakeSession(), SensorHourly, {"sensor_id": "x"}, 1)
