"""The 生态环境 page (AppTest) and its scoped reads, on a demo city generated up to the current hour,
on both backends (which also runs the demo generator on each)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import indicators
from sensors.assessment import TZ
from sensors.layers import station_layer
from sensors.views import SensorViews
from store.db import get_engine, session_scope
from store.demo_scale import get_scale
from store.models import Base, Event
from store.models.sensors import Alert, Sensor, SensorAreaDaily, SensorDaily, SensorHourly, SensorReading
from store.period import Period
from store.scope import PermissionDenied, Viewer

PAGE = Path(__file__).resolve().parent.parent / "pages" / "environment.py"
AQI_COLORS = {"#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023"}
CITY_VIEWER = Viewer("duty", "duty_officer", "440900", display_name="值班员")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env_db(request, tmp_path_factory):
    import geo.demo_city
    import sensors.demo
    from tests.conftest import _reset_pg

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('env') / 'env.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        _reset_pg(url)
    engine = get_engine(url)
    Base.metadata.create_all(engine)
    now = datetime.now(timezone.utc)
    scale = get_scale("demo")
    with session_scope(engine) as s:
        geo.demo_city.generate(s, np.random.default_rng([5, 0]), scale, now)
    with session_scope(engine) as s:
        summary = sensors.demo.generate(s, np.random.default_rng([5, 3]), scale, now)
    return url, summary


def test_demo_data_is_consistent(env_db):
    url, summary = env_db
    engine = get_engine(url)
    with session_scope(engine, readonly=True) as s:
        n_sensors = s.execute(select(func.count()).select_from(Sensor)).scalar_one()
        hourly = s.execute(select(func.count()).select_from(SensorHourly)).scalar_one()
        raw = s.execute(select(func.count()).select_from(SensorReading)).scalar_one()
        raw_days = s.execute(select(func.min(SensorReading.ts))).scalar_one()
        editions = set(s.execute(select(SensorDaily.edition).where(SensorDaily.metric == "AQI")).scalars())
        area_levels = set(s.execute(select(SensorAreaDaily.level)).scalars())
        case_ids = s.execute(select(Alert.event_id)).scalars().all()
        sensor_cases = s.execute(select(func.count()).select_from(Event).where(Event.source == "传感器")).scalar_one()
        # raw readings of the last days equal the hourly means of those hours
        one = s.execute(select(SensorReading).limit(1)).scalar_one()
        h = s.execute(select(SensorHourly).where(SensorHourly.sensor_id == one.sensor_id, SensorHourly.hour == one.ts,
                                                 SensorHourly.metric == one.metric)).scalar_one()
    scale = get_scale("demo")
    assert n_sensors == scale.sensors_air + scale.sensors_water + scale.sensors_noise + scale.sensors_hydro + scale.sensors_iot
    assert hourly == summary["hourly_rows"] and raw == summary["raw_rows"] and 0 < raw < hourly
    assert datetime.now(timezone.utc) - raw_days <= timedelta(days=summary["raw_days"] + 1)
    assert editions == {"2026"} and area_levels == {"city", "district"}
    assert h.total / h.n == pytest.approx(one.value)
    # every alert has a case; escalations (same_case_as) share their rule's case
    assert summary["alerts"]["opened"] == len(case_ids) >= 1 and None not in case_ids
    assert sensor_cases == len(set(case_ids))


def test_station_map_colours_offline_and_scope(env_db):
    url, _ = env_db
    engine = get_engine(url)
    now = datetime.now(timezone.utc)
    with session_scope(engine, readonly=True) as s:
        city = SensorViews(s, CITY_VIEWER).station_map("440900", now)
        district = city["district_code"].dropna().iloc[0]
        dv = Viewer("lead", "leader", district)
        mine = SensorViews(s, dv).station_map(district, now)
        assert SensorViews(s, dv).station_map(now=now)["id"].tolist() == mine["id"].tolist()  # default: the zone
        with pytest.raises(PermissionDenied):
            SensorViews(s, dv).station_map("440900", now)
        alerts = SensorViews(s, CITY_VIEWER).open_alerts("440900")
    assert len(city) == get_scale("demo").sensors_air + 10 + 10 + 8 + 20
    assert set(mine["district_code"]) == {district} and len(mine) < len(city)
    assert (city.loc[city["offline"], "color"] == "#8C8C8C").all() and city["offline"].any()
    air = city[(city["kind"] == "air") & ~city["offline"]]
    assert set(air["color"]) <= AQI_COLORS and air["edition"].eq("2026").all()
    assert air["value"].max() > 150  # the episode under way at the end of the demo
    assert not alerts.empty and alerts["event_id"].notna().any()
    with session_scope(engine, readonly=True) as s:
        statuses = set(s.execute(select(Event.source)).scalars())
    assert "传感器" in statuses


def test_system_reads_need_the_import_capability_and_the_layer_draws_offline_grey(env_db):
    url, _ = env_db
    engine = get_engine(url)
    now = datetime.now(timezone.utc)
    with session_scope(engine, readonly=True) as s:
        counts = SensorViews(s, CITY_VIEWER).sensor_counts_system(now)
        scoped = SensorViews(s, CITY_VIEWER).sensor_counts("440900", now)
        SensorViews(s, CITY_VIEWER).ingest_status_rows()
        with pytest.raises(PermissionDenied):
            SensorViews(s, Viewer("lead", "leader", "440900")).ingest_status_rows()
        stations = SensorViews(s, CITY_VIEWER).station_map("440900", now)
    assert counts == scoped  # the demo's stations all lie in the one city
    assert counts["air"]["total"] == get_scale("demo").sensors_air
    layer = station_layer(stations, "env-stations")
    offline = [r["rgba"] for r in layer.data if r["offline"]]
    assert layer.id == "env-stations" and offline and all(c == [128, 128, 128, 200] for c in offline)


def test_summaries_and_station_detail(env_db):
    url, _ = env_db
    engine = get_engine(url)
    now = datetime.now(timezone.utc)
    today = now.astimezone(TZ).date()
    month = Period.current_month(today)
    with session_scope(engine, readonly=True) as s:
        v = SensorViews(s, CITY_VIEWER)
        summary = v.air_summary("440900", month, today)
        ranking = v.district_ranking("440900", month, today)
        water = v.water_stations("440900", month, today)
        noise = v.noise_compliance("440900", month, today)
        air_id = s.execute(select(Sensor.id).where(Sensor.kind == "air").order_by(Sensor.id)).scalars().first()
        detail = v.station_detail(air_id, now - timedelta(days=3), now)
        good_days = indicators.compute("env_good_days", summary["area_code"], month, CITY_VIEWER, session=s,
                                       now=now, edition="auto")
    assert summary["pm25_target"] == 30  # GB 3095-2026 table 1, transition stage, 二级 annual
    assert summary["area_code"] == "440900"
    if summary["valid"]:
        # the page's day counts and the library's 优良天数比例 apply the one rule (standards.aqi.is_good_day)
        assert 0 <= summary["good"] <= summary["valid"]
        assert good_days.value == pytest.approx(summary["good"] * 100 / summary["valid"])
    assert ranking["aqi_mean"].is_monotonic_increasing and len(ranking) >= 1
    assert set(water["meets"].dropna()) <= {True, False} and water["class"].notna().any()
    assert noise["night_rate"].between(0, 1).all()
    assert not detail["series"].empty and detail["editions"] == ["2026"]
    assert detail["aqi"]["aqi"].notna().any()


def test_page_renders_with_edition_and_same_basis_toggle(env_db, use_database):
    url, _ = env_db
    use_database(url)
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["viewer"] = CITY_VIEWER
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "生态环境" in text and "HJ 633-2026" in text and "同口径" not in " ".join(c.value for c in at.caption[:1])
    labels = [m.label for m in at.metric]
    assert any("实时 AQI" in lbl for lbl in labels) and "优良天数比例" in labels and "站点在线" in labels
    assert len(at.dataframe) >= 3  # ranking, water, noise, alerts …
    at.toggle(key="env_same_basis").set_value(True).run()
    assert not at.exception, at.exception
    assert any("同口径（HJ 633-2026）" in c.value for c in at.caption)


def test_page_for_a_district_leader_hides_the_collectors(env_db, use_database):
    """A leader of one district: the area figures are the district's, and the collectors' status (a
    system-wide read) is refused with a message instead of shown."""
    url, _ = env_db
    use_database(url)
    engine = get_engine(url)
    with session_scope(engine, readonly=True) as s:
        district = s.execute(select(Sensor.district_code).where(Sensor.kind == "air").order_by(Sensor.id)).scalar()
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["viewer"] = Viewer("lead", "leader", district, display_name="区领导")
    at.run()
    assert not at.exception, at.exception
    assert "优良天数比例" in [m.label for m in at.metric]
    assert any("需要数据导入权限" in c.value for c in at.caption)

