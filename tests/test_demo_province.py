"""A generated province (`--scale province`, here three small cities): every city's hierarchy, cases and
stations under the province region, ids and 12345 numbers unique across cities, the indexes the bulk
loads held back all built at the end, and the case rollup and its district, monthly and department copies
(derived city by city) equal to a recount — on SQLite and on PostgreSQL."""
from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from sqlalchemy import func, inspect, select

from demo.cities import as_city, province_cities
from demo.seed import seed_demo
from events import rollup
from store.db import get_engine, session_scope
from store.demo_scale import SCALES
from store.models import Base, City, Event, EventDepartmentDaily, Region, Resource, Sensor
import settings
from tests.conftest import _reset_pg

SMALL_PROVINCE = dataclasses.replace(
    SCALES["demo"], name="province-test", streets_per_district=2, communities_per_street=2, grids_per_community=2,
    events_per_year=1500, sensors_air=3, sensors_water=2, sensors_noise=2, sensors_hydro=2, sensors_iot=4,
    reading_days=4, resources=40, cities=3)


def _seed(url: str) -> dict:
    return seed_demo(get_engine(url), SMALL_PROVINCE, seed=11, until=date(2026, 11, 20), force=True,
                     log=lambda *_: None)


@pytest.fixture(params=["sqlite", "postgres"])
def province_url(request, tmp_path):  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'province.db'}"
    url = request.getfixturevalue("pg_url")
    _reset_pg(url)
    return url


def test_a_generated_province_holds_every_city_under_its_province(province_url):
    summary = _seed(province_url)
    codes = [c["code"] for c in province_cities(3)]
    assert summary["demo.province"]["indexes"] > 0
    engine = get_engine(province_url)
    with session_scope(engine, readonly=True) as s:
        assert sorted(s.scalars(select(City.code))) == sorted(codes)
        province = s.get(Region, "440000")
        assert province is not None and province.level == "province" and province.geometry
        assert sorted(s.scalars(select(Region.code).where(Region.parent_code == "440000"))) == sorted(codes)
        for code in codes:
            grids = s.scalar(select(func.count()).select_from(Region).where(Region.city_code == code,
                                                                              Region.level == "grid"))
            cases = s.scalar(select(func.count()).select_from(Event).where(Event.city_code == code))
            stations = s.scalar(select(func.count()).select_from(Sensor).where(Sensor.city_code == code))
            resources = s.scalar(select(func.count()).select_from(Resource).where(Resource.city_code == code))
            assert grids > 0 and stations == 13 and resources > 0, code
            assert cases >= SMALL_PROVINCE.events_per_year, code  # plus the cases sensor alerts opened
        # Every case lies in a grid of its own city.
        wrong = s.scalar(select(func.count()).select_from(Event).join(Region, Region.code == Event.grid_code)
                         .where(Region.city_code != Event.city_code))
        assert wrong == 0
        hotline = s.scalars(select(Event.source_id).where(Event.source_id.is_not(None))).all()
        assert len(hotline) == len(set(hotline)) > 0
        assert rollup.differences(s).empty
        # The copies derived city by city after the bulk load equal a recount over all cities at once.
        assert rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty
        by_city = dict(s.execute(select(EventDepartmentDaily.city_code, func.sum(EventDepartmentDaily.reported))
                                 .group_by(EventDepartmentDaily.city_code)).all())
        assert sorted(by_city) == sorted(codes) and all(by_city.values())
    # The indexes the later cities' loads went without are all there again.
    inspector = inspect(engine)
    for table in ("events", "event_transitions", "event_daily_rollup", "sensor_hourly", "sensor_daily"):
        have = {i["name"] for i in inspector.get_indexes(table)}
        want = {i.name for i in Base.metadata.tables[table].indexes}
        assert want <= have, (table, want - have)


def test_as_city_points_the_settings_at_another_city_and_back():
    default = settings.get_settings()["city"]["code"]
    other = province_cities(2)[1]
    with as_city(other):
        assert settings.get_settings()["city"]["code"] == other["code"]
    assert settings.get_settings()["city"]["code"] == default
    with pytest.raises(ValueError):
        province_cities(9)
