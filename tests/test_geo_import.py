"""Boundary import: good DataV and own-format files, every bad case (Chinese reason, nothing written),
upsert, and export → import round trip. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import box, mapping, shape
from sqlalchemy import func, select

from geo import crs
from geo.boundaries import export_geojson, import_boundaries, import_file
from geo.meta import boundary_version
from store.db import session_scope
from store.models import Base, Region
from store.scope import PermissionDenied, Viewer

DATA = Path(__file__).parent / "data" / "geo"


def fc(*features, **extra) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra}, ensure_ascii=False)


def feat(props: dict, geom) -> dict:  # noqa: ANN001
    return {"type": "Feature", "properties": props,
            "geometry": mapping(geom) if hasattr(geom, "geom_type") else geom}


def run(engine, source, system="wgs84", **kw):  # noqa: ANN001, ANN201
    with session_scope(engine) as s:
        return import_boundaries(s, source, system, **kw)


def snapshot(engine) -> tuple:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        rows = s.execute(select(Region.code, Region.name, Region.parent_code, Region.geometry,
                                Region.population).order_by(Region.code)).all()
        return tuple(map(tuple, rows)), boundary_version(s)


def assert_rejected(engine, source, expected: list[tuple[int | None, str]], system="wgs84", **kw):  # noqa: ANN001
    """Import fails with exactly these (feature number, reason fragment) errors and writes nothing."""
    before = snapshot(engine)
    report = run(engine, source, system, **kw)
    assert not report.ok
    got = [(e.index, e.message) for e in report.errors]
    assert len(got) == len(expected), report.lines()
    for (index, message), (want_index, fragment) in zip(got, expected):
        assert index == want_index, report.lines()
        assert fragment in message, report.lines()
    assert "未写入任何数据" in report.summary()
    assert snapshot(engine) == before
    return report


# ---------------------------------------------------------------- good files


def test_datav_city_then_districts_gcj02(db_engine):
    r1 = import_file(db_engine, DATA / "datav_440900.json", "gcj02")
    assert r1.ok, r1.lines()
    r2 = import_file(db_engine, DATA / "datav_440900_full.json", "gcj02")
    assert r2.ok, r2.lines()
    assert r2.created["district"] == 5 and "GCJ-02" in r2.summary()
    raw = json.loads((DATA / "datav_440900_full.json").read_text(encoding="utf-8"))["features"][0]
    with session_scope(db_engine, readonly=True) as s:
        rows = {r.code: r for r in s.scalars(select(Region))}
        assert set(rows) == {"440900", "440902", "440904", "440981", "440982", "440983"}
        city, maonan = rows["440900"], rows["440902"]
        assert city.parent_code is None and city.level == "city" and city.name == "茂名市"
        assert maonan.parent_code == "440900" and maonan.level == "district" and maonan.city_code == "440900"
        assert 11_000 < city.area_km2 < 11_900  # 茂名: 11,427 km² officially
        assert "GCJ-02→WGS-84" in maonan.source
        stored = shape(json.loads(maonan.geometry))
    # Each stored vertex maps back onto the file's GCJ-02 vertex, and sits hundreds of metres away.
    src = shapely.get_coordinates(shape(raw["geometry"]))
    got = shapely.get_coordinates(stored)
    gx, gy = crs.from_wgs84_array(got[:, 0], got[:, 1], "gcj02")
    assert abs(gx - src[:, 0]).max() < 1e-6 and abs(gy - src[:, 1]).max() < 1e-6
    shift = ((src[:, 0] - got[:, 0]) * 103_000) ** 2 + ((src[:, 1] - got[:, 1]) * 110_700) ** 2
    assert 100 ** 2 < shift.min() and shift.max() < 700 ** 2


def test_own_format_import_and_metrics(db_engine):
    report = import_file(db_engine, DATA / "own_format_sample.geojson", "wgs84")
    assert report.ok, report.lines()
    assert dict(report.created) == {"city": 1, "district": 1, "street": 1, "community": 1, "grid": 2}
    with session_scope(db_engine, readonly=True) as s:
        grid = s.get(Region, "440902001001001")
        assert grid.population == 1200 and grid.households == 400 and grid.parent_code == "440902001001"
        assert grid.bbox == "110.000000,21.750000,110.500000,22.000000"
        assert (grid.centroid_lon, grid.centroid_lat) == pytest.approx((110.25, 21.875))
        assert grid.area_km2 == pytest.approx(52.0 * 27.7 * 1.0, rel=0.02)  # 0.5° × 0.25° at 21.9°N
        assert boundary_version(s).startswith("1-")


def test_utf8_bom_accepted(sqlite_engine):
    text = (DATA / "own_format_sample.geojson").read_text(encoding="utf-8")
    report = run(sqlite_engine, b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert report.ok, report.lines()


def test_gbk_detected_and_said(sqlite_engine):
    data = (DATA / "own_format_sample.geojson").read_text(encoding="utf-8").encode("gbk")
    report = run(sqlite_engine, data)
    assert report.ok and report.encoding == "gb18030" and "按 gb18030 编码读取" in report.summary()
    assert any("GBK/GB18030" in n for n in report.notes)
    with session_scope(sqlite_engine, readonly=True) as s:
        assert s.get(Region, "440902001001").name == "示例社区"


def test_named_encoding_is_used(sqlite_engine):
    data = (DATA / "own_format_sample.geojson").read_text(encoding="utf-8").encode("gbk")
    report = run(sqlite_engine, data, encoding="gbk")
    assert report.ok and "按 gbk 编码读取" in report.summary()
    assert_rejected(sqlite_engine, "广东".encode("utf-16"), [(None, "UTF-16")])


def test_upsert_updates_and_keeps_counts(db_engine):
    assert import_file(db_engine, DATA / "own_format_sample.geojson", "wgs84").ok
    again = run(db_engine, fc(feat({"code": "440902001001", "name": "改名社区"}, box(110.0, 21.5, 110.5, 22.0))))
    assert again.ok and dict(again.updated) == {"community": 1} and not again.created
    with session_scope(db_engine, readonly=True) as s:
        community = s.get(Region, "440902001001")
        assert community.name == "改名社区" and community.population == 2400  # kept: the file had none
        assert boundary_version(s).startswith("2-")
    whole = import_file(db_engine, DATA / "own_format_sample.geojson", "wgs84")
    assert whole.ok and sum(whole.updated.values()) == 6 and not whole.created


def test_export_round_trip(city_engine, tmp_path):
    with session_scope(city_engine, readonly=True) as s:
        doc = export_geojson(s, "440900")
        original = {r.code: (r.name, r.parent_code, r.level, r.population) for r in s.scalars(select(Region))}
    assert len(doc["features"]) == 31 and doc["features"][0]["properties"]["code"] == "440900"
    path = tmp_path / "out.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    from store.db import get_engine

    other = get_engine(f"sqlite:///{tmp_path / 'other.db'}")
    Base.metadata.create_all(other)
    report = import_file(other, path, "wgs84")
    assert report.ok, report.lines()
    with session_scope(other, readonly=True) as s:
        copied = {r.code: (r.name, r.parent_code, r.level, r.population) for r in s.scalars(select(Region))}
    assert copied == original


def test_export_subtree_and_scope(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        doc = export_geojson(s, "440904001")
        assert {f["properties"]["code"] for f in doc["features"]} == {
            "440904001", "440904001001", "440904001002", "440904001001001", "440904001001002",
            "440904001002001", "440904001002002"}
        with pytest.raises(PermissionDenied):
            export_geojson(s, "440904", Viewer("u", "leader", "440902"))
        with pytest.raises(LookupError, match="未找到"):
            export_geojson(s, "440906")


# ---------------------------------------------------------------- bad files (each: reason, nothing written)

BOWTIE = {"type": "Polygon", "coordinates": [[[110.1, 21.6], [110.2, 21.7], [110.2, 21.6], [110.1, 21.7], [110.1, 21.6]]]}
INSIDE = box(110.05, 21.55, 110.1, 21.6)  # inside tiny-city community 440902001001


def test_truncated_json(city_engine):
    text = fc(feat({"code": "440902001001009", "name": "新网格"}, INSIDE))
    assert_rejected(city_engine, text[: len(text) // 2], [(None, "截断")])
    assert_rejected(city_engine, text[:-2], [(None, "截断")])


def test_not_json_and_not_geojson(city_engine):
    assert_rejected(city_engine, "code,name\n440902,茂南区\n", [(None, "不是有效的 JSON")])
    assert_rejected(city_engine, '{"foo": 1}', [(None, "不是 GeoJSON")])
    assert_rejected(city_engine, "[1, 2]", [(None, "不是 GeoJSON")])
    assert_rejected(city_engine, json.dumps(feat({"code": "440902001001009", "name": "x"}, INSIDE)),
                    [(None, "单个 Feature")])
    assert_rejected(city_engine, json.dumps(mapping(INSIDE)), [(None, "不是 GeoJSON FeatureCollection")])
    assert_rejected(city_engine, "", [(None, "内容为空")])


def test_empty_feature_collection(city_engine):
    assert_rejected(city_engine, fc(), [(None, "没有任何要素")])


def test_bytes_neither_utf8_nor_gbk(city_engine):
    data = fc(feat({"code": "440902001001009", "name": "新建网格"}, INSIDE)).encode("utf-8").replace(
        "新建".encode("utf-8"), b"\xff\xfe\xff")
    assert_rejected(city_engine, data, [(None, "既不是 UTF-8 也不是 GBK/GB18030")])


def test_unknown_crs(city_engine):
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "x"}, INSIDE)),
                    [(None, "未知的坐标系")], system="huoxing-2000")


def test_geojson_without_crs_needs_one(city_engine):
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "x"}, INSIDE)),
                    [(None, "GeoJSON 文件没有声明坐标系，请用 --crs 指定")], system=None)


def test_declared_projected_crs_is_used(city_engine):
    # The file says Web Mercator: its numbers (lon/lat-sized) are then metres near (0, 0), far from China.
    doc = fc(feat({"code": "440902001001009", "name": "x"}, INSIDE),
             crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}})
    assert_rejected(city_engine, doc, [(1, "位于中国境外")], system=None)
    # Declared projected, and a different system named: refused, the file's own system wins.
    assert_rejected(city_engine, doc, [(None, "与指定的 GCJ-02 不一致")], system="gcj02")


def test_self_intersection_that_cannot_be_repaired(city_engine):
    report = assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "自交网格"}, BOWTIE)),
                             [(1, "自相交")])
    line = report.lines()[0]
    assert line.startswith("第1个要素：边界自相交（位于 110.150000, 21.650000）：自动修复会使面积由约 0.0 m² 变为")
    assert "超过 0.1% 的上限，无法如实修复" in line


def test_duplicate_code(city_engine):
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "a"}, INSIDE),
                                    feat({"code": "440902001001009", "name": "b"}, INSIDE)),
                    [(2, "与第1个要素重复")])


def test_unknown_parent(city_engine):
    assert_rejected(city_engine, fc(feat({"code": "440999001", "name": "孤儿街道"}, INSIDE),
                                    feat({"adcode": 440902001003, "name": "孤儿社区",
                                          "parent": {"adcode": 440902001099}}, INSIDE)),
                    [(1, "440999（按代码推断）既不在本文件中，也不在数据库中"),
                     (2, "440902001099既不在本文件中，也不在数据库中")])


def test_child_in_wrong_city(city_engine):
    # A district of Guangzhou (4401xx) filed under 茂名 (440900), DataV style.
    props = {"adcode": 440106, "name": "天河区", "level": "district", "parent": {"adcode": 440900}}
    report = assert_rejected(city_engine, fc(feat(props, INSIDE)), [(1, "与上级 440900 不一致")])
    assert "440100" in report.lines()[0]
    # A street whose code belongs to another district than the parent named.
    assert_rejected(city_engine, fc(feat({"code": "440904009", "name": "x", "parent_code": "440902"}, INSIDE)),
                    [(1, "按代码应属于 440904")])


def test_child_mostly_outside_parent(city_engine):
    # A grid of community 440902001001 (lon 110.0–110.5) drawn over in 440904 (lon ≥ 111).
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "跑偏网格"},
                                         box(111.1, 21.6, 111.2, 21.7))),
                    [(1, "0.0% 的面积位于上级 440902001001")])
    # 80 % inside is not enough either.
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "压线网格"},
                                         box(110.42, 21.6, 110.52, 21.7))),
                    [(1, "80.0% 的面积位于上级")])


def test_empty_and_non_polygon_geometry(city_engine):
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "a"}, {"type": "Polygon", "coordinates": []}),
                                    feat({"code": "440902001001010", "name": "b"}, {"type": "Point", "coordinates": [110.1, 21.6]}),
                                    feat({"code": "440902001001011", "name": "c"}, None)),
                    [(1, "几何为空"), (2, "几何类型为 Point"), (3, "缺少几何")])


def test_missing_code_and_name_and_bad_values(city_engine):
    assert_rejected(city_engine, fc(feat({"name": "无代码"}, INSIDE),
                                    feat({"code": "440902001001009"}, INSIDE),
                                    feat({"code": "44090200100", "name": "短码"}, INSIDE),
                                    feat({"code": "440902001001009", "name": "x", "level": "street"}, INSIDE),
                                    feat({"code": "440902001001010", "name": "x", "population": -5}, INSIDE)),
                    [(1, "缺少区划代码"), (2, "缺少名称"), (3, "格式不正确"), (4, "与代码 440902001001009 不符"),
                     (5, "人口数")])


def test_projected_coordinates(city_engine):
    # Every feature in metres: one message for the file. One feature among good ones: named.
    assert_rejected(city_engine, fc(feat({"code": "440902001001009", "name": "x"},
                                         box(12_300_000, 2_480_000, 12_310_000, 2_490_000))),
                    [(None, "全部 1 个要素的坐标都超出经纬度范围")])
    assert_rejected(city_engine, fc(feat({"code": "440902001001008", "name": "ok"}, INSIDE),
                                    feat({"code": "440902001001009", "name": "x"},
                                         box(12_300_000, 2_480_000, 12_310_000, 2_490_000))),
                    [(2, "坐标超出经纬度范围（如 1.231e+07, 2.48e+06）")])


def test_one_bad_feature_blocks_the_good_ones(city_engine):
    good = feat({"code": "440902001001009", "name": "好网格"}, INSIDE)
    assert_rejected(city_engine, fc(good, feat({"code": "440902001001010", "name": "坏网格"}, BOWTIE)),
                    [(2, "自相交")])
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(Region, "440902001001009") is None


def test_every_bad_feature_reported_in_order(city_engine):
    report = assert_rejected(city_engine, fc(
        feat({"code": "440902001001009", "name": "ok"}, INSIDE),
        feat({"code": "440902001001010", "name": "x"}, BOWTIE),
        feat({"code": "440902001001009", "name": "dup"}, INSIDE),
        feat({"name": "nocode"}, {"type": "LineString", "coordinates": [[110, 21], [110.1, 21.1]]}),
    ), [(2, "自相交"), (3, "重复"), (4, "缺少区划代码"), (4, "几何类型为 LineString")])
    assert report.lines()[0].startswith("第2个要素：")


def test_upsert_that_would_strand_children(city_engine):
    # Shrinking community 440902001001 would leave its two grids outside it.
    report = assert_rejected(city_engine, fc(feat({"code": "440902001001", "name": "缩小社区"},
                                                  box(110.0, 21.5, 110.1, 21.6))),
                             [(1, "440902001001001"), (1, "440902001001002")])
    assert "新边界之内" in report.lines()[0]


def test_child_of_a_bad_parent_is_named(city_engine):
    assert_rejected(city_engine, fc(feat({"code": "440902003", "name": "坏街道"}, BOWTIE),
                                    feat({"code": "440902003001", "name": "社区"}, INSIDE)),
                    [(1, "自相交"), (2, "上级 440902003（第1个要素）本身有错误")])


def test_region_count_unchanged_after_rejections(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Region)) == 31
