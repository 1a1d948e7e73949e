"""Every formula kind against hand-computed figures on the tiny city, on SQLite and PostgreSQL.

Data are literal rows; expectations are worked out by hand in the comments. `now` is fixed after the
periods asked for, unless a test is about the running period.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

import indicators as I
from events import rollup as event_rollup
from indicators import sqlbuild
from store import histogram
from store.db import session_scope
from store.scope import PermissionDenied, Viewer
from tests.test_indicators_support import (
    EAST_NW, G1, G2, UTC, WEST_NW, WEST_SE, area_daily, daily, event, external, latest, library_with, local,
    region_cols, resource, rollup, sensor,
)

ADMIN = Viewer("admin", "admin", "440900")
NOW = datetime(2026, 12, 15, 4, tzinfo=UTC)


def kw(engine, **extra):  # noqa: ANN001, ANN003
    return {"engine": engine, "now": NOW, **extra}


@pytest.fixture
def flows(city_engine):
    """Rollup rows: October 2026 in two districts, September, the year before and November."""
    with session_scope(city_engine) as s:
        rollup(s, WEST_NW, date(2026, 10, 3), reported=5, handled=4, handled_on_time=3, reworked=1)
        rollup(s, WEST_NW, date(2026, 10, 31), category="街面秩序", reported=2, handled=2, handled_on_time=2)
        rollup(s, EAST_NW, date(2026, 10, 15), reported=4)
        rollup(s, WEST_NW, date(2026, 9, 30), reported=3, handled=1, handled_on_time=1)
        rollup(s, WEST_NW, date(2025, 10, 10), reported=6, handled=5, handled_on_time=5)
        rollup(s, WEST_NW, date(2026, 11, 1), reported=100)
        rollup(s, WEST_NW, date(2026, 10, 20), source="12345", reported=7, closed=4, closed_on_time=3,
               rated=4, satisfied=3)
    return city_engine


# -- sum and ratio over the rollup -------------------------------------------------------------------------

def test_sum_with_previous_and_year_ago(flows):
    r = I.compute("cm_reported", "440900", "2026-10", ADMIN, **kw(flows))
    assert r.value == 18  # 5 + 2 + 4 + 7 (12345 counts too)
    assert (r.mom, r.yoy) == (3, 6)
    assert r.mom_delta == 15 and r.mom_pct == pytest.approx(500.0)
    assert r.yoy_delta == 12 and r.yoy_pct == pytest.approx(200.0)
    assert r.status is None  # no thresholds
    west = I.compute("cm_reported", "440902", "2026-10", ADMIN, **kw(flows))
    assert west.value == 14


def test_filtered_sum(flows):
    assert I.compute("hl_received", "440900", "2026-10", ADMIN, **kw(flows)).value == 7
    # The source has data in September, none of it from 12345: a real zero, not "no data".
    assert I.compute("hl_received", "440900", "2026-09", ADMIN, **kw(flows)).value == 0


def test_ratio_status_and_zero_denominator(flows):
    r = I.compute("cm_handle_ontime_rate", "440900", "2026-10", ADMIN, **kw(flows))
    assert r.value == pytest.approx(5 / 6 * 100)  # (3 + 2) / (4 + 2)
    assert r.status == "yellow"  # 80 ≤ 83.3 < 90
    assert r.mom == pytest.approx(100.0) and r.yoy == pytest.approx(100.0)
    assert r.mom_delta == pytest.approx(5 / 6 * 100 - 100)
    east = I.compute("cm_handle_ontime_rate", "440904", "2026-10", ADMIN, **kw(flows))
    assert east.value is None and east.status is None  # nothing handled: 0/0 is no data
    rework = I.compute("cm_rework_rate", "440902", "2026-10", ADMIN, **kw(flows))
    assert rework.value == pytest.approx(1 / 6 * 100) and rework.status == "red"  # lower is better, > 10
    sat = I.compute("hl_satisfaction", "440900", "2026-10", ADMIN, **kw(flows))
    assert sat.value == pytest.approx(75.0) and sat.status == "red"


def test_no_data_is_none_never_zero(flows):
    r = I.compute("cm_reported", "440900", "2020-01", ADMIN, **kw(flows))
    assert r.value is None and r.status is None and r.mom is None and r.yoy is None


def test_children_all_present(flows):
    frame = I.compute_children("cm_reported", "440904", "2026-10", ADMIN, **kw(flows))
    assert list(frame.columns) == ["region_code", "region_name", "value", "status"]
    assert dict(zip(frame.region_code, frame.value)) == {"440904001": 4, "440904002": 0}
    assert list(frame.region_name) == ["电白区北街道", "电白区南街道"]
    rates = I.compute_children("cm_handle_ontime_rate", "440900", "2026-10", ADMIN, **kw(flows))
    got = dict(zip(rates.region_code, rates.value))
    assert got["440902"] == pytest.approx(5 / 6 * 100) and got["440904"] is None
    assert dict(zip(rates.region_code, rates.status)) == {"440902": "yellow", "440904": None}
    grids = I.compute_children("cm_reported", "440902001001", "2020-01", ADMIN, **kw(flows))
    assert len(grids) == 2 and grids.value.isna().all()


def test_compute_many_matches_single(flows):
    ids = ["cm_reported", "cm_handle_ontime_rate", "hl_satisfaction", "cm_rework_rate", "hl_received"]
    many = I.compute_many(ids, "440902", "2026-10", ADMIN, **kw(flows))
    assert list(many) == ids
    for i in ids:
        assert many[i] == I.compute(i, "440902", "2026-10", ADMIN, **kw(flows))
    wide = I.compute_children_many(ids, "440900", "2026-10", ADMIN, **kw(flows))
    for i in ids:
        one = I.compute_children(i, "440900", "2026-10", ADMIN, **kw(flows))
        assert list(wide[wide.indicator_id == i].value) == list(one.value)


def test_series_every_point_present(flows):
    s = I.series("cm_reported", "440900", "2026-08", "2026-11", "month", ADMIN, **kw(flows))
    assert list(s.period) == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert list(s.value) == [None, 3, 18, 100]
    days = I.series("cm_reported", "440902", date(2026, 10, 2), date(2026, 10, 4), "day", ADMIN, **kw(flows))
    # A day on which the source holds no row anywhere in the city is "no data", not a quiet day.
    assert list(days.value) == [None, 5, None]
    years = I.series("cm_reported", "440900", "2025", "2026", "year", ADMIN, **kw(flows))
    assert list(years.value) == [6, 121]


def test_running_period_is_cut_at_today(flows):
    now = local(2026, 10, 15, 20).astimezone(UTC)
    r = I.compute("cm_reported", "440900", "2026-10", ADMIN, engine=flows, now=now)
    assert r.value == 9  # Oct 1–15: 5 (Oct 3) + 4 (Oct 15)
    assert r.mom is None  # Sep 1–15 holds no rows at all
    assert r.yoy == 6  # Oct 1–15 2025 includes Oct 10
    assert "统计至 2026-10-15" in r.note


def test_level_not_declared(flows):
    r = I.compute("env_aqi", "440902001", "2026-10", ADMIN, **kw(flows))
    assert r.value is None and "不在街道/镇级统计" in r.note
    frame = I.compute_children("env_aqi", "440902", "2026-10", ADMIN, **kw(flows))
    assert len(frame) == 2 and frame.value.isna().all() and "不在" in frame.attrs["note"]


# -- scope ----------------------------------------------------------------------------------------------------

def test_grid_officer_sees_only_the_grid(flows):
    officer = Viewer("wg", "grid_officer", G1)
    mine = I.compute("cm_reported", G1, "2026-10", officer, **kw(flows))
    assert mine.value == 14 == I.compute("cm_reported", G1, "2026-10", ADMIN, **kw(flows)).value
    with pytest.raises(PermissionDenied):
        I.compute("cm_reported", "440900", "2026-10", officer, **kw(flows))
    with pytest.raises(PermissionDenied):
        I.compute_children("cm_reported", "440902", "2026-10", officer, **kw(flows))
    with pytest.raises(PermissionDenied):
        I.series("cm_reported", G2, "2026-01", "2026-10", "month", officer, **kw(flows))


def test_department_sees_its_own_cases(city_engine):
    with session_scope(city_engine) as s:
        event(s, WEST_NW, local(2026, 10, 2), status="handling", department_code="CG")
        event(s, WEST_NW, local(2026, 10, 3), status="handling", department_code="SW")
        event(s, WEST_NW, local(2026, 10, 4), status="closed", department_code="CG")
    dept = Viewer("d", "department", "440900", department_code="CG")
    assert I.compute("cm_open_cases", "440900", "2026-10", ADMIN, **kw(city_engine)).value == 2
    assert I.compute("cm_open_cases", "440900", "2026-10", dept, **kw(city_engine)).value == 1


# -- counts, cohorts and durations on the events table ---------------------------------------------------------

@pytest.fixture
def cases(city_engine):
    with session_scope(city_engine) as s:
        # Ten cases handled in October, 1…10 hours after dispatch.
        for h in range(1, 11):
            d = local(2026, 10, 5, 8)
            event(s, WEST_NW, d, status="handled", registered_at=d, dispatched_at=d,
                  handled_at=d + timedelta(hours=h))
        # Cohort for 结案率: registered in October (the ten above plus four here), 3 of these 4 closed.
        for closed in (True, True, True, False):
            d = local(2026, 10, 20)
            event(s, EAST_NW, d, status="closed" if closed else "handling", registered_at=d,
                  closed_at=d + timedelta(days=2) if closed else None)
        # 12345 cases closed in October after 10, 20 and 60 hours; one patrol case that must not count.
        for h in (10, 20, 60):
            d = local(2026, 10, 10)
            event(s, WEST_SE, d, source="12345", status="closed", closed_at=d + timedelta(hours=h))
        event(s, WEST_SE, local(2026, 10, 10), source="巡查", status="closed", closed_at=local(2026, 10, 20))
        # A case reported 00:30 local on Nov 1 (16:30 UTC on Oct 31) belongs to November.
        event(s, WEST_SE, datetime(2026, 10, 31, 16, 30, tzinfo=UTC), status="reported",
              stage_deadline=NOW - timedelta(hours=1))
        event(s, WEST_SE, local(2026, 11, 2), status="hung", stage_deadline=NOW - timedelta(days=1))
        s.flush()
        event_rollup.rebuild(s)  # the rollups as after a bulk load: per-case indicators read them
    return city_engine


def test_duration_percentile_and_mean(cases, monkeypatch):
    p90 = I.compute("cm_handle_hours_p90", "440900", "2026-10", ADMIN, **kw(cases))
    # From the rollup's histogram: 8 h and 9 h share the bin [8, 9.51) h; the 9th of 10 is the second of
    # the two, read at 3/4 of the bin on a log scale — within the bin of the exact 9 h (store.histogram).
    assert p90.value == pytest.approx(8 * (histogram.EDGES_S[17] / histogram.EDGES_S[16]) ** 0.75, abs=1e-9)
    assert abs(p90.value - 9.0) <= histogram.error_bound(9.0)
    mean = I.compute("hl_avg_close_hours", "440900", "2026-10", ADMIN, **kw(cases))
    assert mean.value == pytest.approx(30.0, abs=1e-6)  # (10 + 20 + 60) / 3, the patrol case excluded
    assert I.compute("hl_avg_close_hours", "440904", "2026-10", ADMIN, **kw(cases)).value is None
    # Case by case (what the rollup stands in for): the exact nearest rank.
    monkeypatch.setattr(sqlbuild, "rollup_serves", lambda form, req: False)
    exact = I.compute("cm_handle_hours_p90", "440900", "2026-10", ADMIN, **kw(cases))
    assert exact.value == pytest.approx(9.0, abs=1e-6)  # nearest rank: ⌈0.9 × 10⌉ = 9th of 1…10 h
    assert I.compute("hl_avg_close_hours", "440900", "2026-10", ADMIN, **kw(cases)).value == pytest.approx(30.0)


def test_cohort_ratio(cases):
    r = I.compute("cm_close_rate", "440904", "2026-10", ADMIN, **kw(cases))
    assert r.value == pytest.approx(75.0)
    city = I.compute("cm_close_rate", "440900", "2026-10", ADMIN, **kw(cases))
    assert city.value == pytest.approx(3 / 14 * 100)


def test_snapshot_counts_and_now(cases):
    open_cases = I.compute("cm_open_cases", "440900", "2026-10", ADMIN, **kw(cases))
    assert open_cases.value == 10 + 1 + 1 + 1  # handled ×10, handling, reported, hung
    assert open_cases.mom is None and "实时状态值" in open_cases.note
    overdue = I.compute("cm_overdue_cases", "440900", "2026-10", ADMIN, **kw(cases))
    assert overdue.value == 1 and overdue.status == "yellow"  # the hung case has no running deadline
    share = I.compute("cm_overdue_share", "440900", "2026-10", ADMIN, **kw(cases))
    assert share.value == pytest.approx(1 / 12 * 100)
    # Evaluated before the deadline passed, nothing is overdue.
    early = I.compute("cm_overdue_cases", "440900", "2026-10", ADMIN, engine=cases, now=NOW - timedelta(hours=2))
    assert early.value == 0 and early.status == "green"
    assert I.series("cm_open_cases", "440900", "2026-01", "2026-10", "month", ADMIN, **kw(cases)).empty


def test_timestamp_bucket_uses_local_days(cases, tmp_path):
    cfg = """
    - id: t_reports
      name: 测试上报量
      domain: 社会管理
      description: 按上报时间计数
      unit: 件
      polarity: higher_better
      levels: [city, district, street, community, grid]
      grain: month
      owner: 测试
      formula: {kind: count, source: events, time_field: reported_at}
    """
    lib = library_with(tmp_path, cfg)
    nov = I.compute("t_reports", "440902002", "2026-11", ADMIN, **kw(cases, library=lib))
    assert nov.value == 2  # 00:30 local Nov 1 and Nov 2
    assert I.compute("t_reports", "440902002", "2026-10-10", ADMIN, **kw(cases, library=lib)).value == 4
    # Nothing was reported on Oct 31 (local) anywhere in the city: no data for that day.
    assert I.compute("t_reports", "440902002", "2026-10-31", ADMIN, **kw(cases, library=lib)).value is None


# -- sensors: mean, percentile, latest ------------------------------------------------------------------------

@pytest.fixture
def air(city_engine):
    with session_scope(city_engine) as s:
        sensor(s, "A1", "air", WEST_NW)
        sensor(s, "A2", "air", EAST_NW)
        sensor(s, "W1", "water", WEST_SE, {"target_class": "III", "water_body": "river"})
        daily(s, "A1", "air", WEST_NW, date(2026, 10, 1), "PM2.5", 30.0)
        daily(s, "A1", "air", WEST_NW, date(2026, 10, 2), "PM2.5", 40.0)
        daily(s, "A2", "air", EAST_NW, date(2026, 10, 1), "PM2.5", 20.0)
        daily(s, "A2", "air", EAST_NW, date(2026, 9, 30), "PM2.5", 99.0)
        for d in range(1, 21):  # O3 daily max 8 h: 1 … 20 µg/m³ on Oct 1 … 20
            daily(s, "A1", "air", WEST_NW, date(2026, 10, d), "O3_8h_max", float(d))
        latest(s, "A1", "PM2.5", 50.0, NOW)
        latest(s, "A2", "PM2.5", 70.0, NOW)
        latest(s, "W1", "PM2.5", 999.0, NOW)  # not an air station: filtered through the parent table
    return city_engine


def test_mean_and_percentile(air):
    assert I.compute("env_pm25", "440900", "2026-10", ADMIN, **kw(air)).value == pytest.approx(30.0)
    west = I.compute("env_pm25", "440902", "2026-10", ADMIN, **kw(air))
    assert west.value == pytest.approx(35.0) and west.status == "red" and west.mom is None
    assert I.compute("env_pm25", "440904", "2026-10", ADMIN, **kw(air)).mom == pytest.approx(99.0)
    p90 = I.compute("env_o3_p90", "440900", "2026-10", ADMIN, **kw(air))
    assert p90.value == pytest.approx(18.0)  # ⌈0.9 × 20⌉ = 18th


def test_latest_snapshot_through_parent(air):
    r = I.compute("env_pm25_now", "440900", "2026-10", ADMIN, **kw(air))
    assert r.value == pytest.approx(60.0)
    assert I.compute("env_pm25_now", "440904", "2026-10", ADMIN, **kw(air)).value == pytest.approx(70.0)


def test_latest_per_entity_in_period(air, tmp_path):
    with session_scope(air) as s:
        daily(s, "A1", "air", WEST_NW, date(2026, 10, 1), "water_level_max", 10.0)
        daily(s, "A1", "air", WEST_NW, date(2026, 10, 5), "water_level_max", 12.0)
        daily(s, "A2", "air", EAST_NW, date(2026, 10, 3), "water_level_max", 7.0)
        daily(s, "A2", "air", EAST_NW, date(2026, 11, 1), "water_level_max", 99.0)
    lib = library_with(tmp_path, """
    - id: t_level_sum
      name: 期末水位合计
      domain: 生态环境保护
      description: 每站期内最后一日的最高水位之和
      unit: m
      polarity: lower_better
      levels: [city, district]
      grain: month
      owner: 测试
      formula:
        kind: latest
        source: sensor_daily
        time_field: day
        column: value
        entity: sensor_id
        agg: sum
        filters: [{column: metric, op: "=", value: water_level_max}]
    """)
    r = I.compute("t_level_sum", "440900", "2026-10", ADMIN, **kw(air, library=lib))
    assert r.value == pytest.approx(19.0)  # 12 (A1, Oct 5) + 7 (A2, Oct 3)
    assert I.compute("t_level_sum", "440900", "2026-11", ADMIN, **kw(air, library=lib)).value == pytest.approx(99.0)


# -- standards ---------------------------------------------------------------------------------------------------

@pytest.fixture
def aqi_days(city_engine):
    with session_scope(city_engine) as s:
        for d, v in ((1, 40.0), (2, 90.0), (3, 120.0), (4, None)):
            area_daily(s, "440900", date(2026, 10, d), "AQI", v, "2026")
            area_daily(s, "440900", date(2026, 10, d), "AQI_2026", v, "2026")
        area_daily(s, "440902", date(2026, 10, 1), "AQI", 210.0, "2026")
        # Across the edition change: Feb 28 under 2012, Mar 1 under 2026; re-assessed values beside them.
        area_daily(s, "440900", date(2026, 2, 28), "AQI", 80.0, "2012")
        area_daily(s, "440900", date(2026, 2, 28), "AQI_2026", 104.0, "2026")
        area_daily(s, "440900", date(2026, 3, 1), "AQI", 60.0, "2026")
        area_daily(s, "440900", date(2026, 3, 1), "AQI_2026", 60.0, "2026")
    return city_engine


def test_aqi_mean_good_days_and_edition(aqi_days):
    mean = I.compute("env_aqi", "440900", "2026-10", ADMIN, **kw(aqi_days))
    assert mean.value == pytest.approx((40 + 90 + 120) / 3)  # the NA day is left out
    assert mean.note.startswith("按 HJ 633-2026 评价")
    good = I.compute("env_good_days", "440900", "2026-10", ADMIN, **kw(aqi_days))
    assert good.value == pytest.approx(2 / 3 * 100) and good.status == "red"
    heavy = I.compute("env_heavy_days", "440902", "2026-10", ADMIN, **kw(aqi_days))
    assert heavy.value == 1 and heavy.status == "yellow"
    assert I.compute("env_heavy_days", "440904", "2026-10", ADMIN, **kw(aqi_days)).value is None
    span = "2026-02-28..2026-03-01"
    auto = I.compute("env_good_days", "440900", span, ADMIN, **kw(aqi_days))
    assert auto.value == pytest.approx(100.0) and "HJ 633-2012" in auto.note and "HJ 633-2026" in auto.note
    same = I.compute("env_good_days", "440900", span, ADMIN, **kw(aqi_days, edition="2026"))
    assert same.value == pytest.approx(50.0) and "同口径" in same.note


def test_noise_compliance(city_engine):
    with session_scope(city_engine) as s:
        sensor(s, "N1", "noise", WEST_NW, {"zone": "1"})
        sensor(s, "N2", "noise", EAST_NW, {"zone": "4a"})
        daily(s, "N1", "noise", WEST_NW, date(2026, 10, 1), "Leq_day", 50.0, {"zone": "1"})   # ≤ 55 ok
        daily(s, "N1", "noise", WEST_NW, date(2026, 10, 2), "Leq_day", 56.0, {"zone": "1"})   # > 55
        daily(s, "N2", "noise", EAST_NW, date(2026, 10, 1), "Leq_day", 70.0, {"zone": "4a"})  # ≤ 70 ok
        daily(s, "N2", "noise", EAST_NW, date(2026, 10, 1), "Leq_night", 56.0, {"zone": "4a"})  # > 55
    day = I.compute("env_noise_day", "440900", "2026-10", ADMIN, **kw(city_engine))
    assert day.value == pytest.approx(2 / 3 * 100)
    assert I.compute("env_noise_night", "440904", "2026-10", ADMIN, **kw(city_engine)).value == 0
    assert I.compute("env_noise_night", "440902", "2026-10", ADMIN, **kw(city_engine)).value is None


def test_water_quality_by_period_means(city_engine):
    with session_scope(city_engine) as s:
        sensor(s, "W1", "water", WEST_NW, {"target_class": "III", "water_body": "river"})
        sensor(s, "W2", "water", EAST_NW, {"target_class": "II", "water_body": "river"})
        sensor(s, "W3", "water", WEST_SE, {"target_class": "III", "water_body": "river"})
        # W1: COD mean 20 (III), NH3-N mean 0.5 (II) → III, meets III. Daily classes would differ.
        for d, cod, nh3 in ((1, 15.0, 0.4), (2, 25.0, 0.6)):
            daily(s, "W1", "water", WEST_NW, date(2026, 10, d), "COD", cod)
            daily(s, "W1", "water", WEST_NW, date(2026, 10, d), "NH3-N", nh3)
        # W2: DO mean 5.5 → III, misses its II target.
        daily(s, "W2", "water", EAST_NW, date(2026, 10, 1), "DO", 5.0)
        daily(s, "W2", "water", EAST_NW, date(2026, 10, 2), "DO", 6.0)
        # W3: NH3-N 2.5 → 劣V.
        daily(s, "W3", "water", WEST_SE, date(2026, 10, 1), "NH3-N", 2.5)
    target = I.compute("env_water_target", "440900", "2026-10", ADMIN, **kw(city_engine))
    assert target.value == pytest.approx(1 / 3 * 100)
    assert I.compute("env_water_good", "440900", "2026-10", ADMIN, **kw(city_engine)).value == pytest.approx(2 / 3 * 100)
    worse = I.compute_children("env_water_worse_v", "440900", "2026-10", ADMIN, **kw(city_engine))
    assert dict(zip(worse.region_code, worse.value)) == {"440902": pytest.approx(50.0), "440904": 0.0}
    assert I.compute("env_water_target", "440900", "2026-09", ADMIN, **kw(city_engine)).value is None


# -- emergency: coverage, population ratios, parent joins, durations across tables --------------------------------

def test_emergency_indicators(city_engine):
    from store.models import Dispatch, Incident, InventoryItem, Region

    with session_scope(city_engine, readonly=True) as s:
        g1 = s.get(Region, G1)
        centre = (g1.centroid_lon, g1.centroid_lat)
    with session_scope(city_engine) as s:
        resource(s, "FS1", "消防站", centre, headcount=30)
        resource(s, "SH1", "应急避难场所", WEST_NW, capacity=2400, area_m2=4800.0)
        resource(s, "SH2", "应急避难场所", EAST_NW, capacity=999, area_m2=999.0, status="out_of_service")
        resource(s, "WH1", "物资储备库", WEST_SE)
        s.flush()
        s.add(InventoryItem(resource_id="WH1", item="沙袋", unit="袋", quantity=500, reserved=120))
        s.add(Incident(id=1, type="内涝", level="III", title="测试", lon=WEST_NW[0], lat=WEST_NW[1],
                       opened_at=local(2026, 10, 8, 10), status="responding", **region_cols(WEST_NW)))
        s.flush()
        s.add(Dispatch(incident_id=1, resource_id="FS1", created_by="t", created_at=local(2026, 10, 8, 10, 6),
                       eta_minutes=12.0))
        s.add(Dispatch(incident_id=1, resource_id="FS1", created_by="t", created_at=local(2026, 10, 8, 10, 10),
                       eta_minutes=8.0))
        s.add(Dispatch(incident_id=1, resource_id="WH1", item="沙袋", quantity=100, created_by="t",
                       created_at=local(2026, 10, 8, 10, 30)))
    k = kw(city_engine)
    fire = I.compute("em_fire_coverage", "440900", "2026-10", ADMIN, **k)
    assert fire.value == pytest.approx(100 / 16)  # one grid of 16 equally populated grids
    kids = I.compute_children("em_fire_coverage", "440902001001", "2026-10", ADMIN, **k)
    assert dict(zip(kids.region_code, kids.value)) == {"440902001001001": 100.0, "440902001001002": 0.0}
    cap = I.compute("em_shelter_capacity_per_1k", "440902", "2026-10", ADMIN, **k)
    assert cap.value == pytest.approx(2400 / 9600 * 1000)  # the out-of-service shelter does not count
    area = I.compute("em_shelter_area_per_capita", "440900", "2026-10", ADMIN, **k)
    assert area.value == pytest.approx(4800 / 19200)
    assert I.compute("em_sandbags", "440902", "2026-10", ADMIN, **k).value == 380
    assert I.compute("em_sandbags", "440904", "2026-10", ADMIN, **k).value == 0
    assert I.compute("em_available_rescuers", "440900", "2026-10", ADMIN, **k).value == 30
    assert I.compute("em_resource_ready_rate", "440900", "2026-10", ADMIN, **k).value == pytest.approx(75.0)
    minutes = I.compute("em_dispatch_minutes", "440900", "2026-10", ADMIN, **k)
    assert minutes.value == pytest.approx(8.0, abs=1e-3)  # (6 + 10) / 2; the stock reservation excluded
    assert I.compute("em_eta_minutes", "440902", "2026-10", ADMIN, **k).value == pytest.approx(10.0)
    assert I.compute("em_incidents", "440900", "2026-10", ADMIN, **k).value == 1
    assert I.compute("em_major_incidents", "440904", "2026-10", ADMIN, **k).value == 0


# -- external statistics ---------------------------------------------------------------------------------------------

def test_external_sum_last_and_year(city_engine):
    with session_scope(city_engine) as s:
        for m, v in ((1, 10.0), (2, 20.0), (3, 30.0)):
            external(s, "ec_retail_sales", "440902", f"2026-{m:02d}", v)
        external(s, "ec_retail_sales", "440902", "2025-02", 16.0)
        external(s, "ec_gdp_growth", "440902", "2026-03", 5.1)
        external(s, "ec_gdp_growth", "440902", "2026-06", 5.3)
        external(s, "ps_doctors_per_1k", "440900", "2025", 2.9)
        external(s, "ps_doctors_per_1k", "440900", "2024", 2.7)
    k = kw(city_engine)
    feb = I.compute("ec_retail_sales", "440902", "2026-02", ADMIN, **k)
    assert (feb.value, feb.mom, feb.yoy) == (20.0, 10.0, 16.0)
    assert feb.yoy_pct == pytest.approx(25.0)
    q1 = I.compute("ec_retail_sales", "440902", "2026-01-01..2026-03-31", ADMIN, **k)
    assert q1.value == 60.0
    year = I.compute("ec_retail_sales", "440902", "2026", ADMIN, **k)
    assert year.value == 60.0 and "3/12" in year.note
    gdp = I.compute("ec_gdp_growth", "440902", "2026", ADMIN, **k)
    assert gdp.value == pytest.approx(5.3) and "2026-06" in gdp.note
    assert I.compute("ec_gdp_growth", "440902", "2026-05", ADMIN, **k).value is None
    kids = I.compute_children("ec_gdp_growth", "440900", "2026-06", ADMIN, **k)
    assert dict(zip(kids.region_code, kids.value)) == {"440902": pytest.approx(5.3), "440904": None}
    doc = I.compute("ps_doctors_per_1k", "440900", "2025", ADMIN, **k)
    assert doc.value == pytest.approx(2.9) and doc.mom == pytest.approx(2.7) and doc.status == "yellow"
    part = I.compute("ps_doctors_per_1k", "440900", "2025-06", ADMIN, **k)
    assert part.value is None and "整年" in part.note
    s = I.series("ec_retail_sales", "440902", "2026-01", "2026-04", "month", ADMIN, **k)
    assert list(s.value) == [10.0, 20.0, 30.0, None]


def test_external_series_only_at_its_grain(city_engine):
    with session_scope(city_engine) as s:
        external(s, "ps_doctors_per_1k", "440900", "2025", 2.9)
        external(s, "ec_retail_sales", "440900", "2025-03", 9.0)
    k = kw(city_engine)
    assert list(I.series("ps_doctors_per_1k", "440900", "2024", "2025", "year", ADMIN, **k).value) == [None, 2.9]
    monthly = I.series("ps_doctors_per_1k", "440900", "2025-01", "2025-12", "month", ADMIN, **k)
    assert monthly.empty and "按年报送" in monthly.attrs["note"]
    assert I.series("ec_retail_sales", "440900", "2025-03-01", "2025-03-05", "day", ADMIN, **k).empty



def test_any_level_below_scope_equals_the_children_of_each_parent(flows):
    """compute_children(level="grid") over the whole city gives, grid by grid, what asking each
    community for its children gives: one statement instead of one per community."""
    from sqlalchemy import select

    from store.models import Region

    whole = I.compute_children("cm_reported", "440900", "2026-10", ADMIN, level="grid", **kw(flows))
    with session_scope(flows, readonly=True) as s:
        communities = list(s.scalars(select(Region.code).where(Region.level == "community")))
    want = {}
    for c in communities:
        part = I.compute_children("cm_reported", c, "2026-10", ADMIN, **kw(flows))
        want.update(zip(part["region_code"], part["value"]))
    got = dict(zip(whole["region_code"], whole["value"]))
    assert got == want and len(got) == 16
    assert sorted(v for v in got.values() if v) == [4, 14]
    with pytest.raises(ValueError):
        I.compute_children("cm_reported", "440902", "2026-10", ADMIN, level="city", **kw(flows))
