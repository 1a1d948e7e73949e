"""Real Chromium: a second city onboarded from its own files (揭阳 445200, DataV-shaped) beside the demo
city shows on a province leader's overview (广东省 › 茂名市、揭阳市) and drills into 揭阳; the demo city's
base layers loaded from a GeoPackage are drawn as vector tiles from /tiles/ with zero requests off the
server. Screenshots go to tests/artifacts/ to be looked at."""
from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import pytest

from auth import service as auth_service
from geo import actions
from geo.cities import BoundaryFile
from store.db import get_engine, session_scope
from store.models import Region
from tests.browser.conftest import login, new_page, shot, wait_idle, wait_map
from tests.support.base_layers import make_base_layers
from tests.support.datav import datav_files
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def two_city_app(demo_db_url, tmp_path_factory):
    """A copy of the demo database with 揭阳 onboarded, 茂南区's base layers loaded, a province leader
    and a 揭阳 leader; served by its own `streamlit run server.py`."""
    folder = tmp_path_factory.mktemp("twocity")
    db = folder / "two.db"
    src = sqlite3.connect(demo_db_url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    url = f"sqlite:///{db}"
    engine = get_engine(url)
    city_path, full_path, _ = datav_files(folder / "datav", "445200")
    result = actions.onboard_city(engine, "445200", boundaries=[BoundaryFile(city_path, "gcj02"),
                                                                BoundaryFile(full_path, "gcj02")])
    assert result.ok, result.lines()
    with session_scope(engine) as s:
        maonan = s.get(Region, "440902")
        centre = (maonan.centroid_lon, maonan.centroid_lat)
        auth_service.create_user(s, "shengji", "省级领导", "leader", "440000", password="Demo@2026!")
        auth_service.create_user(s, "jieyang", "揭阳领导", "leader", "445200", password="Demo@2026!")
    gpkg = make_base_layers(folder, *centre, size=0.08)
    for kind, layer in (("roads", "道路"), ("water", "水系"), ("places", "地名")):
        report = actions.load_base_layer(engine, "440900", kind, gpkg, None, layer=layer, name_field="NAME",
                                         class_field="DJ" if kind == "roads" else None)
        assert report.ok, report.lines()
    server = LiveServer(url)
    yield server
    server.stop()


def test_province_overview_shows_the_second_city_and_drills_in(browser, two_city_app):
    context, page, log = new_page(browser)
    login(page, two_city_app.url, "shengji")
    page.goto(two_city_app.url + "/?period=2026-10")
    wait_map(page, settle_ms=2500)
    shot(page, "onboard-province-overview")
    body = page.inner_text("body")
    assert "广东省 · 2026年10月" in body and "下钻到市" in body
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.locator("[data-testid=stSelectbox]").filter(has_text="下钻到市").click()
    options = page.locator("[role=option]")
    assert sorted(options.all_inner_texts()) == sorted(["— 选择 —", "茂名市", "揭阳市"])
    options.filter(has_text="揭阳市").click()
    page.wait_for_url("**region=445200**")
    wait_map(page, settle_ms=2500)
    shot(page, "onboard-jieyang-overview")
    body = page.inner_text("body")
    assert "广东省 › 揭阳市 · 2026年10月" in body  # district names are drawn on the map and the ranking grid
    assert "本市只有区县边界" in body  # DataV stops at districts: said on screen
    assert log.external == [], f"requests left the server: {log.external[:5]}"
    context.close()


def test_city_leader_sees_only_the_new_city(browser, two_city_app):
    context, page, log = new_page(browser)
    login(page, two_city_app.url, "jieyang")
    page.goto(two_city_app.url + "/?region=440900&period=2026-10")  # another city: refused, back home
    wait_map(page, settle_ms=2500)
    body = page.inner_text("body")
    assert "已返回您的管辖范围" in body and "揭阳市" in body
    context.close()


def test_city_basemap_tiles_are_drawn_from_the_server(browser, two_city_app):
    context, page, log = new_page(browser)
    responses: list[tuple[str, int]] = []
    console: list[str] = []
    page.on("response", lambda r: responses.append((r.url, r.status)))
    page.on("console", lambda m: console.append(m.text))
    login(page, two_city_app.url, "lingdao")
    page.goto(two_city_app.url + "/?region=440902&period=2026-10")
    wait_map(page, settle_ms=2500)
    page.wait_for_timeout(3000)
    shot(page, "onboard-basemap-maonan")
    # With the choropleth and the case heat switched off, the base layers alone: roads, river, lake.
    for pill in ("区域指标", "网格事件", "突发事件"):
        page.get_by_role("button", name=pill, exact=True).first.click()
        wait_idle(page)
    page.wait_for_timeout(3000)
    shot(page, "onboard-basemap-maonan-plain")
    paths = [(urlsplit(u).path, status) for u, status in responses]
    assert ("/tiles/style-dark.json", 200) in paths
    tiles = [(p, s) for p, s in paths if p.startswith("/tiles/") and p.endswith(".pbf")]
    assert any(s == 200 for _, s in tiles), f"no vector tile served: {paths[-8:]} {console[-8:]}"
    assert log.external == [], f"requests left the server: {log.external[:5]}"
    context.close()
