"""Importers on both backends: sensor registry and readings from CSV/Excel, validated, all-or-nothing,
every bad row reported by line with a Chinese reason."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from geo.crs import to_wgs84
from geo.locate import clear_locator_cache
from sensors.readings_import import import_readings
from sensors.registry import import_sensors
from store.db import session_scope
from store.models.sensors import Sensor, SensorHourly, SensorReading
from tabular import TabularError
from tests.test_sensors_common import add_sensors, count

HEADER = "id,kind,name,lon,lat,water_body,target_class,zone,warning_level,guarantee_level,device\n"


@pytest.fixture(autouse=True)
def _fresh_locator():
    clear_locator_cache()
    yield
    clear_locator_cache()


def _write(tmp_path, name, text):  # noqa: ANN001, ANN202
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _import(engine, path, crs="wgs84"):  # noqa: ANN001, ANN202
    with session_scope(engine) as s:
        return import_sensors(s, engine, path, crs=crs)


def test_import_sensors_creates_then_updates(city_engine, tmp_path):
    good = _write(tmp_path, "s.csv", HEADER + "AQ-1,air,一号站,110.2,21.7,,,,,,\n"
                  "WQ-1,水质,河口站,111.7,21.7,河流,Ⅲ类,,,,\n"
                  "NZ-1,noise,噪声点,111.2,21.2,,,4a,,,\n"
                  "HY-1,hydro,水文站,110.4,21.4,,,,10.5,11.5,\n"
                  "MH-1,iot,井盖,110.6,21.6,,,,,,井盖\n")
    res = _import(city_engine, good)
    assert (res.created, res.updated) == (5, 0)
    with session_scope(city_engine, readonly=True) as s:
        w = s.get(Sensor, "WQ-1")
        assert w.params == {"water_body": "river", "target_class": "III", "assess_tn": False}
        assert (w.district_code, w.grid_code[:6]) == ("440904", "440904")
        assert s.get(Sensor, "NZ-1").params == {"zone": "4a"}
        assert s.get(Sensor, "HY-1").params == {"warning_level": 10.5, "guarantee_level": 11.5}
        assert s.get(Sensor, "MH-1").params == {"device": "manhole"}
    again = _write(tmp_path, "s2.csv", HEADER + "AQ-1,air,一号站（迁址）,110.3,21.8,,,,,,\n")
    assert (_import(city_engine, again).created, _import(city_engine, again).updated) == (0, 1)
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(Sensor, "AQ-1").name == "一号站（迁址）"


def test_import_sensors_reports_every_bad_row_and_writes_nothing(city_engine, tmp_path):
    bad = _write(tmp_path, "bad.csv", HEADER + "AQ-1,air,好站,110.2,21.7,,,,,,\n"
                 "AQ-2,rocket,坏类型,110.2,21.7,,,,,,\n"
                 "AQ/3,air,坏编号,110.2,21.7,,,,,,\n"
                 "NZ-1,noise,缺功能区,111.2,21.2,,,,,,\n"
                 "AQ-1,air,重复,110.2,21.7,,,,,,\n"
                 "AQ-5,air,城外,115.0,23.0,,,,,,\n"
                 "HY-1,hydro,水位倒挂,110.4,21.4,,,,12,11,\n")
    with pytest.raises(TabularError) as exc:
        _import(city_engine, bad)
    lines = {e.line: str(e) for e in exc.value.errors}
    assert set(lines) == {3, 4, 5, 6, 7, 8}
    assert "「类型」：应为 air/water" in lines[3] and "「编号」：应为 1～40 位" in lines[4] and "功能区" in lines[5]
    assert "重复" in lines[6] and "不在本市范围内" in lines[7] and "保证水位不应低于警戒水位" in lines[8]
    assert "未写入任何数据" in str(exc.value)
    assert count(city_engine, Sensor) == 0


def test_import_sensors_converts_gcj02_and_reads_excel(city_engine, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "类型", "名称", "经度", "纬度", "功能区"])
    ws.append(["NZ-9", "噪声", "高德坐标点", 110.3, 21.3, "2"])
    path = tmp_path / "s.xlsx"
    wb.save(path)
    _import(city_engine, path, crs="gcj02")
    expected = to_wgs84(110.3, 21.3, "gcj02")
    with session_scope(city_engine, readonly=True) as s:
        n = s.get(Sensor, "NZ-9")
        assert (n.lon, n.lat) == pytest.approx(expected, abs=1e-9)
        assert abs(n.lon - 110.3) > 1e-4  # the GCJ-02 offset was removed


def _readings(engine, path, **kw):  # noqa: ANN001, ANN003, ANN202
    with session_scope(engine) as s:
        return import_readings(s, path, now=datetime(2026, 12, 1, tzinfo=timezone.utc), **kw)


def test_import_readings_long_and_wide_idempotent(city_engine, tmp_path):
    add_sensors(city_engine)
    long = _write(tmp_path, "long.csv", "传感器编号,时间,指标,数值\n"
                  "A1,2026-11-25T10:00:00+08:00,PM2.5,35.2\n"
                  "A1,2026-11-25T10:00:00+08:00,PM10,61\n"
                  "N1,2026-11-25T02:00:00Z,Leq,48.5\n")
    r = _readings(city_engine, long)
    assert (r.layout, r.rows, r.result.stored) == ("long", 3, 3)
    wide = _write(tmp_path, "wide.csv", "sensor_id,ts,PM2.5,PM10,NO2\n"
                  "A2,2026-11-25T10:00:00+08:00,40,70,\n"
                  "A1,2026-11-25T10:00:00+08:00,35.2,61,22\n")
    r = _readings(city_engine, wide)
    assert r.layout == "wide" and (r.result.stored, r.result.duplicates) == (3, 2)
    assert count(city_engine, SensorReading) == 6
    with session_scope(city_engine, readonly=True) as s:
        assert s.execute(select(SensorHourly.n).where(SensorHourly.sensor_id == "A1",
                                                      SensorHourly.metric == "PM2.5")).scalar_one() == 1


def test_import_readings_bad_rows_all_or_nothing(city_engine, tmp_path):
    add_sensors(city_engine)
    bad = _write(tmp_path, "bad.csv", "sensor_id,ts,metric,value\n"
                 "A1,2026-11-25T10:00:00+08:00,PM2.5,35\n"
                 "ZZ,2026-11-25T10:00:00+08:00,PM2.5,35\n"
                 "A1,2026-11-25T11:00:00+08:00,PM2.5,-3\n"
                 "A1,2026-11-25 12:00:00,PM2.5,30\n"
                 "A1,2026-11-25T10:00:00+08:00,PM2.5,36\n"
                 "A1,2027-11-25T10:00:00+08:00,PM2.5,36\n"
                 "A1,2026-11-25T13:00:00+08:00,Leq,50\n"
                 "A1,2026-11-25T14:00:00+08:00,PM2.5,abc\n")
    with pytest.raises(TabularError) as exc:
        _readings(city_engine, bad)
    lines = {e.line: str(e) for e in exc.value.errors}
    assert set(lines) == {3, 4, 5, 6, 7, 8, 9}
    assert "未登记" in lines[3] and "超出有效范围" in lines[4] and "时区" in lines[5] and "--assume-tz" in lines[5]
    assert "重复" in lines[6] and "晚于当前时间" in lines[7] and "不报送" in lines[8] and "有效数字" in lines[9]
    assert count(city_engine, SensorReading) == 0 and count(city_engine, SensorHourly) == 0


def test_import_readings_assume_tz_for_naive_times(city_engine, tmp_path):
    add_sensors(city_engine)
    f = _write(tmp_path, "naive.csv", "sensor_id,ts,PM2.5\nA1,2026/11/25 10:00:00,35\n")
    _readings(city_engine, f, assume_tz="Asia/Shanghai")
    with session_scope(city_engine, readonly=True) as s:
        ts = s.execute(select(SensorReading.ts)).scalar_one()
    assert ts == datetime(2026, 11, 25, 2, tzinfo=timezone.utc)
