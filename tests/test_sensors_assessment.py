"""Assessment over frames: hourly/daily AQI with the edition switch at 2026-03-01, data validity,
O3 daily max 8-hour within the natural day, area = mean of stations then assessed, noise day/night,
water class, and the alert decision logic (durations, gaps, clearing)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import math

import pandas as pd
import pytest

from standards import aqi as aqi_std
from sensors import assessment as A
from sensors.alerts import Rule, decide, trailing_run

CST = timezone(timedelta(hours=8))


def frame(start: datetime, hours: int, **conc) -> pd.DataFrame:  # noqa: ANN003
    rows = []
    for h in range(hours):
        t = start + timedelta(hours=h)
        for k, v in conc.items():
            val = v(t) if callable(v) else v
            if val is not None:
                rows.append((t, k.replace("PM25", "PM2.5"), val))
    return pd.DataFrame(rows, columns=["hour", "metric", "value"])


BASE = dict(SO2=8, NO2=30, CO=0.7, O3=50, PM10=40)


def test_daily_aqi_switches_edition_on_2026_03_01():
    f = frame(datetime(2026, 2, 27, tzinfo=CST), 24 * 4, PM25=70, **BASE)
    d = A.daily_aqi(f).set_index("day")
    # 2012: PM2.5 70 on 35–75 → 50 + 50/40·35 = 93.75 → 94; 2026 (breakpoint 60→100, 115→150) → 109.1 → 110
    assert d.loc[date(2026, 2, 28), "edition"] == "2012" and d.loc[date(2026, 2, 28), "aqi"] == 94
    assert d.loc[date(2026, 3, 1), "edition"] == "2026" and d.loc[date(2026, 3, 1), "aqi"] == 110
    assert d.loc[date(2026, 3, 1), "primary"] == ["PM2.5"]
    same = A.daily_aqi(f, "2026").set_index("day")
    assert set(same["edition"]) == {"2026"} and same.loc[date(2026, 2, 28), "aqi"] == 110
    # the library gives the same numbers directly
    assert aqi_std.iaqi("PM2.5", 70, "24h", "2012") == 94 and aqi_std.iaqi("PM2.5", 70, "24h", "2026") == 110


def test_daily_mean_needs_20_hours_and_2026_publishes_na():
    start = datetime(2026, 5, 1, tzinfo=CST)
    f = frame(start, 24, PM25=lambda t: 30 if t.hour < 19 else None, **BASE)  # PM2.5 only 19 hours
    d = A.daily_aqi(f).iloc[0]
    assert pd.isna(d["PM2.5"])
    assert d["aqi"] is None and "PM2.5" in d["missing"]  # §5.3.1: AQI ≤ 100 with an item missing → NA
    f20 = frame(start, 24, PM25=lambda t: 30 if t.hour < 20 else None, **BASE)
    assert A.daily_aqi(f20).iloc[0]["PM2.5"] == pytest.approx(30)


def test_o3_daily_max_8h_stays_within_the_natural_day():
    start = datetime(2026, 6, 1, tzinfo=CST)
    o3 = lambda t: 300 if (t.day == 1 and t.hour >= 20) else 50  # noqa: E731
    stats = A.air_daily_stats(frame(start, 48, O3=o3)).set_index(pd.Index([date(2026, 6, 1), date(2026, 6, 2)]))
    assert stats.loc[date(2026, 6, 1), "O3"] == pytest.approx((4 * 50 + 4 * 300) / 8)  # window 16–24
    assert stats.loc[date(2026, 6, 2), "O3"] == pytest.approx(50)  # 20–24 of the day before does not count
    assert stats.loc[date(2026, 6, 1), "O3_1h"] == 300


def test_hourly_report_pm_one_hour_only_in_2026():
    start = datetime(2026, 2, 28, 23, tzinfo=CST)
    f = frame(start, 2, PM25=200, SO2=5, NO2=20, CO=0.5, O3=40)
    h = A.hourly_aqi(f).set_index("hour")
    first, second = h.iloc[0], h.iloc[1]
    assert first["edition"] == "2012" and "PM2.5" not in first["iaqi"]  # 2012: PM 1h carries no IAQI
    assert first["aqi"] == max(first["iaqi"].values())
    assert second["edition"] == "2026" and second["iaqi"]["PM2.5"] == 250 and second["aqi"] == 250


def test_area_assesses_mean_concentration_not_mean_aqi():
    start = datetime(2026, 5, 2, tzinfo=CST)
    s1 = frame(start, 24, PM25=40, **BASE).assign(sensor_id="a")
    s2 = frame(start, 24, PM25=80, **BASE).assign(sensor_id="b")
    area = A.area_hourly(pd.concat([s1, s2]))
    d = A.daily_aqi(area).iloc[0]
    assert d["PM2.5"] == pytest.approx(60) and d["aqi"] == 100  # IAQI(60) = 100 under 2026
    station_mean = (A.daily_aqi(s1).iloc[0]["aqi"] + A.daily_aqi(s2).iloc[0]["aqi"]) / 2
    assert station_mean != 100


def test_noise_day_night_energy_mean_and_night_belongs_to_its_start_date():
    start = datetime(2026, 7, 1, tzinfo=CST)
    f = frame(start, 48, Leq=lambda t: 60 if 6 <= t.hour < 22 else (55 if t.hour % 2 else 45))
    d = A.noise_daily(f, "2").set_index("day")
    assert d.loc[date(2026, 7, 1), "Leq_day"] == pytest.approx(60)
    night = 10 * math.log10((4 * 10 ** 5.5 + 4 * 10 ** 4.5) / 8)  # 22–06: 4 hours at 55, 4 at 45
    assert d.loc[date(2026, 7, 1), "Leq_night"] == pytest.approx(night, abs=1e-9)
    assert bool(d.loc[date(2026, 7, 1), "day_ok"]) and not bool(d.loc[date(2026, 7, 1), "night_ok"])  # 2类 60/50
    assert math.isnan(d.loc[date(2026, 7, 2), "Leq_night"])  # the night of 07-02 is not in the data


def test_water_class_and_target():
    f = frame(datetime(2026, 7, 1, tzinfo=CST), 24, DO=6.5, **{"NH3-N": 0.8}, TN=1.8)
    river = A.water_daily(f, "river", "III", False).iloc[0]
    assert river["overall"] == "III" and river["meets_target"] and river["worst_items"] == ["NH3-N"]
    lake = A.water_daily(f, "lake", "II", True).iloc[0]
    assert lake["overall"] == "V" and not lake["meets_target"]  # TN 1.8 counts for lakes


def test_water_level_states():
    p = {"warning_level": 10.0, "guarantee_level": 11.0}
    assert [A.water_level_state(v, p) for v in (9.9, 10.0, 10.5, 11.2)] == ["正常", "正常", "超警戒", "超保证"]


def _rule(duration=2, clear_after=1, signal="aqi_hourly"):  # noqa: ANN001, ANN202
    return Rule("r", "r", "air", signal, None, "mean", ">", 200, duration, clear_after, "较重",
                {"category": "x", "subcategory": "y"})


def series(values, step=timedelta(hours=1), gaps=()):  # noqa: ANN001, ANN202
    t0 = pd.Timestamp("2026-11-25 00:00", tz="UTC")
    idx, t = [], t0
    for i in range(len(values)):
        if i in gaps:
            t += step
        idx.append(t)
        t += step
    return pd.Series(values, index=pd.DatetimeIndex(idx), dtype=float)


def test_decide_needs_consecutive_periods_and_clears():
    r = _rule()
    assert not decide(r, series([150, 250]), 200).fire
    assert decide(r, series([150, 250, 260]), 200).fire
    assert not decide(r, series([150, 250, 260], gaps={2}), 200).fire  # a missing hour breaks the run
    d = decide(r, series([250, 260, 120]), 200)
    assert not d.fire and d.clear and d.value == 120
    r3 = _rule(clear_after=2)
    assert not decide(r3, series([250, 260, 120]), 200).clear
    assert decide(r3, series([250, 120, 110]), 200).clear
    assert trailing_run(series([1, 5, 5, 5]), lambda v: v > 2, timedelta(hours=1)) == 3
