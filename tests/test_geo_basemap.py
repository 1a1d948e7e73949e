"""A basemap from the city's own files: a small base layer made here (a few roads and a river, in
projected CGCS2000 as a GIS office keeps them) becomes vector tiles in the database, served at
/tiles/{z}/{x}/{y}.pbf to signed-in browsers only, and the local MapLibre style points at them."""
from __future__ import annotations

import gzip

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from geo import actions, basemap
from geo.cities import BoundaryFile
from geo.tile_routes import routes
from store.db import session_scope
from store.models import BasemapFeature, BasemapTile, Region
from tests.support.base_layers import make_base_layers, tile_of
from tests.support.datav import datav_files


@pytest.fixture
def city(db_engine, tmp_path):
    city_path, full_path, _ = datav_files(tmp_path / "datav", "440900")
    assert actions.onboard_city(db_engine, "440900", boundaries=[BoundaryFile(city_path, "gcj02"),
                                                                 BoundaryFile(full_path, "gcj02")]).ok
    with session_scope(db_engine, readonly=True) as s:
        r = s.get(Region, "440902")
        return db_engine, (r.centroid_lon, r.centroid_lat)


def load(engine, path, kind, layer, **kw):  # noqa: ANN001, ANN201
    return actions.load_base_layer(engine, "440900", kind, path, None, layer=layer, name_field="NAME", **kw)


def test_base_layers_become_vector_tiles(city, tmp_path):
    engine, (lon, lat) = city
    gpkg = make_base_layers(tmp_path, lon, lat)
    check = load(engine, gpkg, "roads", "道路", class_field="DJ", check=True)
    assert check.ok and check.check_only and check.loaded == 3 and check.summary().startswith("检查通过")
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(BasemapTile)) == 0
    roads = load(engine, gpkg, "roads", "道路", class_field="DJ")
    water = load(engine, gpkg, "water", "水系")
    places = load(engine, gpkg, "places", "地名")
    assert roads.ok and water.ok and places.ok, (roads.lines(), water.lines(), places.lines())
    assert roads.crs == "EPSG:4546" and "已由 EPSG:4546" in roads.summary() and water.loaded == 2
    with session_scope(engine, readonly=True) as s:
        names = set(s.scalars(select(BasemapFeature.name)))
        assert {"人民大道", "小东江", "人民湖", "市政府"} <= names
        x, y = tile_of(lon, lat, 14)
        raw = gzip.decompress(basemap.tile(s, 14, x, y))
        for layer in (b"roads", b"water", b"places"):  # one protobuf, the kinds' layers merged
            assert layer in raw
        assert "人民大道".encode() in raw
        x8, y8 = tile_of(lon, lat, 8)
        low = gzip.decompress(basemap.tile(s, 8, x8, y8))
        assert b"roads" in low and b"places" not in low  # places start at zoom 9
        assert basemap.tile(s, 14, 0, 0) is None
        style = basemap.style(s, dark=True)
    assert style["sources"]["city"]["tiles"] == ["/tiles/{z}/{x}/{y}.pbf?v=3"]
    ids = [layer["id"] for layer in style["layers"]]
    assert ids[0] == "background" and "city-roads-major" in ids and "city-water-fill" in ids
    # Reloading a kind replaces it (the tiles are rebuilt from what is there).
    again = load(engine, gpkg, "roads", "道路")
    with session_scope(engine, readonly=True) as s:
        assert again.ok and s.scalar(select(func.count()).where(BasemapFeature.kind == "roads")) == 3


def test_bad_base_layers_write_nothing(city, tmp_path):
    engine, (lon, lat) = city
    gpkg = make_base_layers(tmp_path, lon, lat)
    cases = {
        "boats": ("未知的底图图层 'boats'", {}),
        "roads": ("文件中没有可用于道路图层的要素（应为 LineString）", {"layer": "地名"}),
    }
    for kind, (want, kw) in cases.items():
        report = actions.load_base_layer(engine, "440900", kind, gpkg, None, layer=kw.get("layer", "道路"))
        assert not report.ok and want in report.lines()[0], report.lines()
    (tmp_path / "far").mkdir()
    far = make_base_layers(tmp_path / "far", 113.3, 23.1)  # 广州: another city's roads
    report = actions.load_base_layer(engine, "440900", "roads", far, None, layer="道路")
    assert not report.ok and "大部分要素不在 茂名市（440900）范围内" in report.lines()[0]
    report = actions.load_base_layer(engine, "445200", "roads", gpkg, None, layer="道路")
    assert not report.ok and "没有城市 445200 的边界" in report.lines()[0]
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(BasemapFeature)) == 0
        assert s.scalar(select(func.count()).select_from(BasemapTile)) == 0


def test_tile_routes_serve_signed_in_browsers_only(city, tmp_path, use_database):
    engine, (lon, lat) = city
    use_database(engine.url.render_as_string(hide_password=False))
    gpkg = make_base_layers(tmp_path, lon, lat)
    assert load(engine, gpkg, "roads", "道路").ok

    async def yes(request) -> bool:  # noqa: ANN001
        return True

    async def no(request) -> bool:  # noqa: ANN001
        return False

    x, y = tile_of(lon, lat, 14)
    with TestClient(Starlette(routes=routes(allow=yes))) as client:
        r = client.get(f"/tiles/14/{x}/{y}.pbf?v=1")
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
        assert r.headers["content-encoding"] == "gzip" and b"roads" in r.content  # httpx has un-gzipped it
        assert client.get("/tiles/14/0/0.pbf").status_code == 204
        assert client.get("/tiles/3/9/0.pbf").status_code == 404  # x beyond 2^z
        assert client.get(f"/tiles/14/{x}/{y}.png").status_code == 404
        style = client.get("/tiles/style-dark.json").json()
        assert style["sources"]["city"]["tiles"][0].startswith("http://testserver/tiles/{z}/{x}/{y}.pbf?v=")
        assert client.get("/tiles/style-light.json").json()["layers"][0]["paint"]["background-color"] == "#F4F6FA"
    for allow in (no, None):
        with TestClient(Starlette(routes=routes(allow=allow))) as client:
            assert client.get(f"/tiles/14/{x}/{y}.pbf").status_code == 403
            assert client.get("/tiles/style-dark.json").status_code == 403
