"""Storing readings on both backends: idempotent on (sensor, ts, metric), rollups exact under
redelivery, latest state moving forward only, daily and area figures with their edition."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sensors.ingest import ingest
from sensors.readings import Reading
from store.db import session_scope
from store.models.sensors import (Sensor, SensorAreaDaily, SensorDaily, SensorHourly, SensorLatest,
                                  SensorReading)
from tests.test_sensors_common import CST, UTC, add_sensors, air_hours, count, index_of


@pytest.fixture
def engine(city_engine):
    add_sensors(city_engine)
    return city_engine


def _ingest(engine, readings):  # noqa: ANN001, ANN202
    idx = index_of(engine)
    with session_scope(engine) as s:
        return ingest(s, readings, idx)


def test_redelivery_changes_nothing(engine):
    start = datetime(2026, 3, 1, 0, tzinfo=CST)
    batch = air_hours("A1", start, 24, PM25=70, PM10=90, SO2=8, NO2=30, CO=0.7, O3=60)
    first = _ingest(engine, batch)
    assert (first.stored, first.duplicates) == (144, 0)
    with session_scope(engine, readonly=True) as s:
        before = sorted((h.hour, h.metric, h.n, h.total) for h in s.execute(select(SensorHourly)).scalars())
        daily_before = sorted((d.day, d.metric, d.value) for d in s.execute(select(SensorDaily)).scalars())
    again = _ingest(engine, batch + batch[:10])  # redelivered, and duplicated inside the batch
    assert (again.stored, again.duplicates) == (0, 154)
    assert count(engine, SensorReading) == 144
    with session_scope(engine, readonly=True) as s:
        assert sorted((h.hour, h.metric, h.n, h.total) for h in s.execute(select(SensorHourly)).scalars()) == before
        assert sorted((d.day, d.metric, d.value) for d in s.execute(select(SensorDaily)).scalars()) == daily_before


def test_hourly_rollup_mean_min_max_and_noise_energy(engine):
    t = datetime(2026, 6, 1, 10, tzinfo=CST).astimezone(UTC)
    _ingest(engine, [Reading("A1", t, "PM2.5", 10.0), Reading("A1", t + timedelta(minutes=20), "PM2.5", 30.0)])
    _ingest(engine, [Reading("A1", t + timedelta(minutes=40), "PM2.5", 50.0),
                     Reading("N1", t, "Leq", 50.0), Reading("N1", t + timedelta(minutes=30), "Leq", 60.0)])
    with session_scope(engine, readonly=True) as s:
        h = s.execute(select(SensorHourly).where(SensorHourly.sensor_id == "A1")).scalar_one()
        assert (h.n, h.total, h.vmin, h.vmax) == (3, 90.0, 10.0, 50.0)
        assert h.hour == t and h.district_code == "440902" and h.grid_code is not None
        n = s.execute(select(SensorHourly).where(SensorHourly.sensor_id == "N1")).scalar_one()
        assert n.etotal == pytest.approx(10 ** 5 + 10 ** 6)  # energy mean → 57.4 dB, not 55


def test_latest_and_last_seen_only_move_forward(engine):
    t = datetime(2026, 6, 1, 10, tzinfo=UTC)
    _ingest(engine, [Reading("A1", t, "PM2.5", 40.0)])
    _ingest(engine, [Reading("A1", t - timedelta(hours=3), "PM2.5", 99.0)])  # late arrival
    with session_scope(engine, readonly=True) as s:
        latest = s.get(SensorLatest, ("A1", "PM2.5"))
        assert (latest.ts, latest.value) == (t, 40.0)
        assert s.get(Sensor, "A1").last_seen_at == t
    _ingest(engine, [Reading("A1", t + timedelta(hours=1), "PM2.5", 45.0)])
    with session_scope(engine, readonly=True) as s:
        assert s.get(SensorLatest, ("A1", "PM2.5")).value == 45.0
        assert s.get(Sensor, "A1").last_seen_at == t + timedelta(hours=1)


def test_daily_and_area_figures_carry_their_edition(engine):
    start = datetime(2026, 2, 28, 0, tzinfo=CST)
    conc = dict(PM10=40, SO2=8, NO2=30, CO=0.7, O3=60)
    _ingest(engine, air_hours("A1", start, 48, PM25=40, **conc) + air_hours("A2", start, 48, PM25=80, **conc)
            + air_hours("A3", start, 48, PM25=20, **conc))
    with session_scope(engine, readonly=True) as s:
        rows = {(d.sensor_id, d.day.astimezone(CST).date().isoformat(), d.metric): d
                for d in s.execute(select(SensorDaily)).scalars()}
        area = {(a.region_code, a.day.astimezone(CST).date().isoformat(), a.metric): a
                for a in s.execute(select(SensorAreaDaily)).scalars()}
    feb, mar = "2026-02-28", "2026-03-01"
    assert rows[("A1", feb, "AQI")].edition == "2012" and rows[("A1", mar, "AQI")].edition == "2026"
    assert rows[("A1", feb, "AQI_2026")].edition == "2026"
    assert rows[("A2", feb, "PM2.5")].value == pytest.approx(80)
    # 2012: IAQI(80) on 75–115 → 100 + 50/40·5 = 106.25 → 107; 2026 on 60–115 → 118.2 → 119
    assert rows[("A2", feb, "AQI")].value == 107 and rows[("A2", feb, "AQI_2026")].value == 119
    assert rows[("A2", mar, "AQI")].detail["category"] == "轻度污染"
    # district 440902 holds A1 and A2: mean PM2.5 60 → 2026 IAQI 100; city adds A3: mean 46.7
    d = area[("440902", mar, "AQI")]
    assert d.value == 100 and d.edition == "2026" and d.stations == 2
    assert area[("440902", feb, "AQI")].edition == "2012"
    assert area[("440900", mar, "PM2.5")].value == pytest.approx((40 + 80 + 20) / 3)
    assert area[("440904", mar, "AQI")].stations == 1


def test_noise_water_hydro_daily(engine):
    start = datetime(2026, 7, 1, 0, tzinfo=CST)
    readings = []
    for h in range(48):
        ts = (start + timedelta(hours=h)).astimezone(UTC)
        local = start + timedelta(hours=h)
        readings.append(Reading("N1", ts, "Leq", 58.0 if 6 <= local.hour < 22 else 53.0))
        readings.append(Reading("H1", ts, "water_level", 9.5 + 0.02 * h))
        readings.append(Reading("H1", ts, "rainfall", 1.0))
        if h % 4 == 0:
            readings += [Reading("W1", ts, "DO", 6.5), Reading("W1", ts, "NH3-N", 1.2)]
    _ingest(engine, readings)
    with session_scope(engine, readonly=True) as s:
        rows = {(d.sensor_id, d.day.astimezone(CST).date().isoformat(), d.metric): d
                for d in s.execute(select(SensorDaily)).scalars()}
    night = rows[("N1", "2026-07-01", "Leq_night")]
    assert night.value == pytest.approx(53.0) and night.detail == {"zone": "2", "limit": 50, "ok": False}
    assert rows[("N1", "2026-07-01", "Leq_day")].detail["ok"] is True
    wc = rows[("W1", "2026-07-01", "water_class")]
    assert wc.value == 4 and wc.detail["overall"] == "IV" and wc.detail["meets_target"] is False
    lvl = rows[("H1", "2026-07-02", "water_level_max")]
    assert lvl.value == pytest.approx(9.5 + 0.02 * 47) and lvl.detail["state"] == "超警戒"
    assert rows[("H1", "2026-07-01", "rainfall_sum")].value == pytest.approx(24.0)


def test_ingester_isolates_a_message_the_database_refuses(engine):
    """A sensor removed after the ingester loaded the registry makes its rows violate the foreign key:
    the batch fails, is retried, then split; the good messages are stored, the bad one quarantined."""
    import json

    from sensors.mqtt_ingest import Ingester, Message
    from store.models.sensors import QuarantinedReading

    ing = Ingester(engine, client_id="poison-test", batch_size=50, batch_seconds=0.01, evaluate_alerts=False)
    ing.index()  # registry loaded while A3 still exists
    with session_scope(engine) as s:
        s.delete(s.get(Sensor, "A3"))
    now = datetime.now(UTC).replace(microsecond=0)
    for i, sid in enumerate(["A1", "A3", "A2"]):
        body = {"sensor_id": sid, "ts": (now - timedelta(minutes=i)).isoformat(), "metrics": {"PM2.5": 20 + i}}
        ing._queue.append(Message(i + 1, 1, f"city/440900/sensors/{sid}/readings", json.dumps(body).encode(), now))
    for _ in range(5):
        ing.flush()
    assert count(engine, SensorReading) == 2
    with session_scope(engine, readonly=True) as s:
        (q,) = s.execute(select(QuarantinedReading)).scalars().all()
    assert q.reason.startswith("db_error") and '"A3"' in q.payload
    assert ing.stats()["quarantined.db_error"] == 1 and ing.stats()["db_errors"] >= 3
