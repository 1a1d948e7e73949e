"""Importing a standard address base (geo/addresses.py, `manage.py import-addresses`): CSV, Excel,
Shapefile and GeoPackage (a projected CGCS2000 file reprojected), all rows or none with every bad
row reported, re-import of a source replacing it, and the geocoder seeing the new base at once."""
from __future__ import annotations

import io
from contextlib import redirect_stdout

import geopandas as gpd
import pytest
from openpyxl import Workbook
from shapely.geometry import Point, box
from sqlalchemy import func, select

import manage
from geo import crs as crs_mod
from geo.addresses import import_addresses
from geo.geocode import clear_index_cache, geocode
from store.db import session_scope
from store.models import AuditEntry, StandardAddress
from tabular import TabularError

HEADER = "区,街道,道路,门牌号,小区,楼栋,经度,纬度"
GOOD = [
    "茂南区,茂南区北街道,油城五路,12,,,110.1036,21.8999",
    "茂南区,,油城五路,14号,,,110.1042,21.8999",
    "茂南区,,油城五路,12,荔园花园,3栋,110.1040,21.9005",
    "电白区,,海滨路,８,,,111.9,21.1",
]


def csv_bytes(rows: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def count(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(StandardAddress)))


def test_csv_imports_every_row_with_codes_and_a_report(sqlite_city_engine):
    clear_index_cache()
    with session_scope(sqlite_city_engine) as s:
        report = import_addresses(s, csv_bytes(GOOD), name="maonan.csv")
    assert (report.total, report.imported, report.replaced) == (4, 4, 0)
    assert report.by_district == {"茂南区": 3, "电白区": 1} and "已全部导入 4 条" in report.summary()
    with session_scope(sqlite_city_engine, readonly=True) as s:
        rows = {(r.road, r.house_number, r.building): r for r in s.scalars(select(StandardAddress))}
        assert rows[("油城五路", "12", None)].grid_code == "440902001001001"
        assert rows[("油城五路", "14", None)].full_text == "茂南区茂南区北街道北街道1社区油城五路14号"
        assert rows[("油城五路", "12", "3")].compound == "荔园花园"
        assert rows[("海滨路", "8", None)].district_code == "440904"
        assert {r.source for r in rows.values()} == {"maonan.csv"}
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "address_import")).one().detail["imported"] == 4
    match = geocode(sqlite_city_engine, "茂名市茂南区油城五路十二号荔园花园3幢")
    assert match.placed() and match.kind == "building" and match.codes["grid"] == "440902001001001"


@pytest.mark.parametrize("row,words", [
    ("茂南区,,油城五路,12,,,120.0,30.0", "不在本市范围内"),
    ("电白区,,油城五路,16,,,110.1,21.9", "与「区」列"),
    ("茂南区,,,12,,,110.1,21.9", "至少要填一项"),
    ("茂南区,,油城五路,十二A,,,110.1,21.9", "门牌号应为数字"),
    ("茂南区,,油城五路,,,3,110.1,21.9", "须填写「小区」或「门牌号」"),
    ("茂南区,,油城五路,12,,,110.1036,21.8999", "同一个地址"),
    ("茂南区,,油城五路,18,,,abc,21.9", "不是数字"),
])
def test_one_bad_row_writes_nothing_and_is_reported_by_line(sqlite_city_engine, row, words):
    with pytest.raises(TabularError) as err, session_scope(sqlite_city_engine) as s:
        import_addresses(s, csv_bytes([*GOOD, row]), name="bad.csv")
    assert "第 6 行" in str(err.value) and words in str(err.value), str(err.value)
    assert "未写入任何数据" in str(err.value)
    assert count(sqlite_city_engine) == 0


def test_every_bad_row_at_once_and_missing_columns(sqlite_city_engine):
    rows = [GOOD[0], "茂南区,,,1,,,110.1,21.9", "茂南区,,油城五路,x,,,200,21.9"]
    with pytest.raises(TabularError) as err, session_scope(sqlite_city_engine) as s:
        import_addresses(s, csv_bytes(rows), name="bad.csv")
    assert err.value.bad_lines == 2
    with pytest.raises(TabularError, match="缺少必需的列：经度"), session_scope(sqlite_city_engine) as s:
        import_addresses(s, csv_bytes(["茂南区,油城五路,1"], header="区,道路,门牌号"), name="x.csv")
    assert count(sqlite_city_engine) == 0


def test_reimporting_a_source_replaces_it(sqlite_city_engine):
    with session_scope(sqlite_city_engine) as s:
        import_addresses(s, csv_bytes(GOOD), name="base.csv")
    with session_scope(sqlite_city_engine) as s:
        report = import_addresses(s, csv_bytes(GOOD[:2]), name="base.csv")
    assert report.replaced == 4 and count(sqlite_city_engine) == 2


def test_excel_and_gcj02(sqlite_city_engine):
    lon, lat = crs_mod.from_wgs84(110.1036, 21.8999, "gcj02")
    book = Workbook()
    sheet = book.active
    sheet.append(["区县", "街路巷", "门牌号码", "经度", "纬度"])
    sheet.append(["茂南区", "油城五路", 12, lon, lat])
    buf = io.BytesIO()
    book.save(buf)
    with session_scope(sqlite_city_engine) as s:
        report = import_addresses(s, buf.getvalue(), "gcj02", name="base.xlsx")
    assert report.imported == 1 and report.file.startswith("Excel")
    with session_scope(sqlite_city_engine, readonly=True) as s:
        row = s.scalars(select(StandardAddress)).one()
        assert (row.lon, row.lat) == pytest.approx((110.1036, 21.8999), abs=1e-6)


@pytest.mark.parametrize("suffix", [".shp", ".gpkg"])
def test_gis_files_projected_and_geographic(sqlite_city_engine, tmp_path, suffix):
    # A shapefile holds one geometry type: points there; a GeoPackage may mix in a building outline.
    second = Point(110.3002, 21.8002) if suffix == ".shp" else box(110.3, 21.8, 110.3004, 21.8004)
    frame = gpd.GeoDataFrame(
        {"区": ["茂南区", "茂南区"], "道路": ["油城五路", "人民路"], "门牌号": ["12", "3"]},
        geometry=[Point(110.1036, 21.8999), second], crs=4490)
    path = tmp_path / f"addresses{suffix}"
    frame.to_crs(4546).to_file(path, encoding="utf-8")  # CGCS2000 / 3-degree Gauss-Kruger CM 111E, metres
    with session_scope(sqlite_city_engine) as s:
        report = import_addresses(s, path)
    assert report.imported == 2 and "转为经纬度" in report.file
    with session_scope(sqlite_city_engine, readonly=True) as s:
        rows = {r.road: r for r in s.scalars(select(StandardAddress))}
    assert (rows["油城五路"].lon, rows["油城五路"].lat) == pytest.approx((110.1036, 21.8999), abs=1e-6)
    assert rows["人民路"].grid_code == "440902001001001"  # an outline: a point inside it

    bad = gpd.GeoDataFrame({"区": ["茂南区"], "道路": ["油城五路"], "门牌号": ["12"]},
                           geometry=[Point(116.4, 39.9)], crs=4326)
    bad_path = tmp_path / f"bad{suffix}"
    bad.to_file(bad_path, encoding="utf-8")
    with pytest.raises(TabularError, match="不在本市范围内"), session_scope(sqlite_city_engine) as s:
        import_addresses(s, bad_path)
    assert count(sqlite_city_engine) == 2


def test_manage_py_import_and_geocode(sqlite_city_engine, tmp_path, use_database):
    use_database(sqlite_city_engine.url.render_as_string(hide_password=False))
    clear_index_cache()
    path = tmp_path / "base.csv"
    path.write_bytes(csv_bytes(GOOD))
    out = io.StringIO()
    with redirect_stdout(out):
        assert manage.main(["import-addresses", str(path)]) == 0
        assert manage.main(["geocode", "茂南区油城五路12号"]) == 0
        assert manage.main(["geocode", "茂南区不存在路1号"]) == 1
    text = out.getvalue()
    assert "已全部导入 4 条标准地址" in text and "门牌：" in text and "440902001001001" in text and "未匹配" in text
    path.write_bytes(csv_bytes(["茂南区,,油城五路,12,,,120,30"]))
    with redirect_stdout(io.StringIO()) as failed:
        assert manage.main(["import-addresses", str(path)]) == 1
    assert "不在本市范围内" in failed.getvalue()
