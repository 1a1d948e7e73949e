"""Helpers shared by the sensors tests (no tests here): sensors placed in the tiny test city and
readings built from simple hourly profiles."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from sensors.readings import Reading
from sensors.registry import load_index
from store.db import session_scope
from store.models.sensors import Sensor
from tests.support.tiny_city import codes_for_point

UTC = timezone.utc
CST = timezone(timedelta(hours=8))

# id, kind, lon, lat, params — district 440902 is lon 110–111, 440904 is lon 111–112
SENSORS = [
    ("A1", "air", 110.2, 21.7, {}),
    ("A2", "air", 110.7, 21.2, {}),
    ("A3", "air", 111.3, 21.3, {}),
    ("N1", "noise", 111.2, 21.2, {"zone": "2"}),
    ("W1", "water", 111.7, 21.7, {"water_body": "river", "target_class": "III", "assess_tn": False}),
    ("H1", "hydro", 110.4, 21.4, {"warning_level": 10.0, "guarantee_level": 11.0}),
    ("M1", "iot", 110.6, 21.6, {"device": "manhole"}),
]


def add_sensors(engine, specs=SENSORS) -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        for sid, kind, lon, lat, params in specs:
            sensor = Sensor(id=sid, kind=kind, name=f"测试{sid}", lon=lon, lat=lat, params=params,
                            expected_interval_s=3600, active=True)
            sensor.set_region(codes_for_point(lon, lat))
            s.add(sensor)


def index_of(engine):  # noqa: ANN001, ANN201
    with session_scope(engine, readonly=True) as s:
        return load_index(s)


def air_hours(sensor_id: str, start: datetime, hours: int, **conc: float) -> list[Reading]:
    """Constant hourly readings of the given pollutants."""
    out = []
    for h in range(hours):
        ts = start + timedelta(hours=h)
        for metric, value in conc.items():
            out.append(Reading(sensor_id, ts.astimezone(UTC), metric.replace("PM25", "PM2.5"), float(value)))
    return out


def count(engine, model) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()
