"""The demo seed generates in bounded pieces (events month by month, sensor series block by block of
stations) and still makes the same city: the same cases per day as the whole-year generator drew (the day
volumes are the seed's first draw), ids in report order across months, a rollup that equals a recount
across month boundaries, and row counts within a small margin of those the whole-year generator made for
the same seed (pinned below: `make_before` figures of the last unchunked version, seed 7, demo scale,
until 2026-11-20; the cases and the sensors' placement are drawn exactly as before, the rest differs only
by where in the random stream each piece is drawn)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

import sensors.demo
from demo.seed import GENERATORS, anchor_datetime
from events import demo as events_demo
from events import rollup
from geo import demo_city
from store.db import get_engine, session_scope
from store.demo_scale import get_scale
from store.models import Base, Event, EventDailyRollup, EventTransition, Sensor
from store.models.sensors import SensorAreaDaily, SensorDaily, SensorHourly, SensorLatest, SensorReading

# Row counts of the unchunked generators (HEAD before the change) for conftest's demo_db_url: seed 7, demo.
BEFORE = {"transitions": 163_494, "rollup": 59_560, "hourly": 197_826, "raw": 28_749, "daily": 14_465,
          "area_daily": 3_240, "latest": 226, "sensors": 63}


def _count(s, model) -> int:  # noqa: ANN001
    return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_seeded_demo_has_the_same_days_and_row_counts(demo_db_url):
    scale = get_scale("demo")
    n = scale.events_per_year
    now = anchor_datetime(date(2026, 11, 20))
    tz = events_demo.ZoneInfo("Asia/Shanghai")
    index = [name for name, _, _ in GENERATORS].index("events.demo")
    days, weights = events_demo._days(now, tz)
    expected = np.random.default_rng([7, index]).multinomial(n, weights / weights.sum())
    with session_scope(get_engine(demo_db_url), readonly=True) as s:
        generated = pd.DataFrame(s.execute(select(Event.id, Event.reported_at).where(Event.id <= n)
                                           .order_by(Event.id)).all(), columns=["id", "at"])
        counts = {
            "transitions": _count(s, EventTransition), "rollup": _count(s, EventDailyRollup),
            "hourly": _count(s, SensorHourly), "raw": _count(s, SensorReading), "daily": _count(s, SensorDaily),
            "area_daily": _count(s, SensorAreaDaily), "latest": _count(s, SensorLatest), "sensors": _count(s, Sensor)}
        diff = rollup.differences(s)
    assert generated["id"].tolist() == list(range(1, n + 1))
    assert generated["at"].is_monotonic_increasing  # ids in report order, across the months too
    per_day = pd.to_datetime(generated["at"], utc=True).dt.tz_convert(tz).dt.date.value_counts()
    assert [int(per_day.get(d, 0)) for d in days] == expected.tolist()
    assert diff.empty, diff.head()
    for key in ("area_daily", "sensors"):
        assert counts[key] == BEFORE[key], key
    for key, margin in (("transitions", 0.02), ("rollup", 0.03), ("hourly", 0.01), ("raw", 0.02), ("daily", 0.01),
                        ("latest", 0.02)):
        assert abs(counts[key] - BEFORE[key]) <= margin * BEFORE[key], (key, counts[key], BEFORE[key])


@pytest.fixture(scope="module")
def sensor_runs(tmp_path_factory):
    """The sensor generator at demo scale twice with the same seed: stations in blocks of the default size
    (one block per kind here) and in blocks of two air stations."""
    out = {}
    now = anchor_datetime(date(2026, 11, 20))
    scale = get_scale("demo")
    for label, block in (("whole", sensors.demo.BLOCK_VALUES), ("blocks", 2 * 24 * scale.reading_days * 6)):
        engine = get_engine(f"sqlite:///{tmp_path_factory.mktemp(label) / 'sensors.db'}")
        Base.metadata.create_all(engine)
        with session_scope(engine) as s:
            demo_city.generate(s, np.random.default_rng([7, 0]), scale, now)
        saved = sensors.demo.BLOCK_VALUES
        sensors.demo.BLOCK_VALUES = block
        steps: list[tuple[int, int]] = []
        try:
            with session_scope(engine) as s:
                summary = sensors.demo.generate(s, np.random.default_rng([7, 3]), scale, now,
                                                progress=lambda done, total: steps.append((done, total)))
        finally:
            sensors.demo.BLOCK_VALUES = saved
        with session_scope(engine, readonly=True) as s:
            area = pd.DataFrame(s.execute(select(SensorAreaDaily.region_code, SensorAreaDaily.day,
                                                 SensorAreaDaily.metric, SensorAreaDaily.stations)).all(),
                                columns=["region", "day", "metric", "stations"])
            per_sensor = dict(s.execute(select(SensorHourly.sensor_id, func.count()).group_by(SensorHourly.sensor_id)
                                        ).all())
        out[label] = {"summary": summary, "area": area, "per_sensor": per_sensor, "steps": steps}
    return out


def test_sensor_blocks_make_the_same_stations_and_areas(sensor_runs):
    whole, blocks = sensor_runs["whole"], sensor_runs["blocks"]
    assert whole["steps"][-1] == (whole["steps"][-1][1],) * 2 and len(blocks["steps"]) > len(whole["steps"]) + 5
    assert whole["summary"]["sensors"] == blocks["summary"]["sensors"]
    key = ["region", "day", "metric"]
    a = whole["area"].sort_values(key).reset_index(drop=True)
    b = blocks["area"].sort_values(key).reset_index(drop=True)
    assert a[key].equals(b[key])
    # The stations an area's figure stands on are summed over blocks: the same as over the whole set.
    assert (a["stations"] == b["stations"]).all()
    assert abs(whole["summary"]["hourly_rows"] - blocks["summary"]["hourly_rows"]) <= 0.01 * whole["summary"]["hourly_rows"]
    # Every air station has (nearly) every hour of every pollutant, whichever block drew it.
    hours = get_scale("demo").reading_days * 24
    for run in (whole, blocks):
        air = {sid: n for sid, n in run["per_sensor"].items() if sid.startswith("AIR")}
        assert len(air) == get_scale("demo").sensors_air
        assert min(air.values()) >= 6 * (hours - 48) * 0.98
    assert blocks["summary"]["alerts"]["opened"] >= 1  # the episode under way at the end still opens alerts
