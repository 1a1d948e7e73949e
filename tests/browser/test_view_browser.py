"""Desk views in real Chromium (issue 18): a shared link keeps its period through a map click and a
page switch; a page the role may not open says so (and does not silently show another page); charts
speak Chinese; KPI tiles have one arrow per figure and no "无数据 <unit>"; maps carry place names.
Screenshots: tests/artifacts/view-*.png."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from store.db import get_engine, session_scope
from store.models import Region
from store.period import Period
from tests.browser.conftest import RequestLog, login, shot, tap_map, wait_idle
from tests.browser.test_situation_browser import _pixel, wait_map


def _params(page) -> dict:  # noqa: ANN001
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _wait_param(page, name: str, value: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline and _params(page).get(name) != value:
        page.wait_for_timeout(300)


def test_link_keeps_its_period_through_map_click_and_page_switch(browser, live_app, demo_db_url):
    from geo.layers import view_for_bbox

    with session_scope(get_engine(demo_db_url), readonly=True) as s:
        city = s.scalars(select(Region).where(Region.level == "city")).one()
        district = s.scalars(select(Region).where(Region.level == "district").order_by(Region.code)).first()
        bbox = tuple(float(v) for v in city.bbox.split(","))
        target = (district.code, district.centroid_lon, district.centroid_lat)
    view = view_for_bbox(bbox)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    log = RequestLog()
    page.on("request", log)
    login(page, live_app.url, "lingdao")
    page.goto(live_app.url + "/")  # no parameter at all: the view's defaults are written into the URL
    wait_map(page)
    this_month = Period.current_month().key
    _wait_param(page, "period", this_month)
    assert _params(page).get("period") == this_month and _params(page).get("region") == city.code

    page.goto(live_app.url + "/?period=2026-10")
    wait_map(page)
    chart = page.locator("[data-testid=stDeckGlJsonChart]").first
    box = chart.bounding_box()
    x, y = _pixel(target[1], target[2], {"longitude": view.longitude, "latitude": view.latitude, "zoom": view.zoom},
                  box["width"], box["height"])
    tap_map(page, box["x"] + x, box["y"] + y, lambda: _params(page).get("region") == target[0])
    wait_map(page)
    assert _params(page).get("region") == target[0]
    assert _params(page).get("period") == "2026-10", page.url  # the click kept the month

    # A page switch through the menu (Streamlit drops the query string on it).
    page.locator("[data-testid=stSidebarNav] a", has_text="指标库").first.click()
    _wait_param(page, "period", "2026-10")
    wait_idle(page)
    assert _params(page).get("region") == target[0] and _params(page).get("period") == "2026-10", page.url
    shot(page, "view-page-switch-keeps-period")
    assert log.external == [], log.external[:5]
    context.close()


def test_a_page_the_role_may_not_open_says_so(browser, live_app):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    login(page, live_app.url, "lingdao")
    page.goto(live_app.url + "/admin")
    page.get_by_text("您的角色无权打开").first.wait_for()
    wait_idle(page)
    shot(page, "view-refused-page")
    context.close()


def test_overview_tiles_charts_and_map_in_chinese(browser, live_app):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    login(page, live_app.url, "lingdao")
    page.goto(live_app.url + "/?period=2026-10")
    wait_map(page)
    page.locator("[data-testid=map-legend]").first.wait_for()
    page.locator(".js-plotly-plot .xtick text").first.wait_for()
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    shot(page, "view-overview-trend")
    ticks = page.locator(".js-plotly-plot .xtick text").evaluate_all("els => els.map(e => e.textContent)")
    assert ticks and all("年" in t or "月" in t for t in ticks), ticks
    assert not any(m in " ".join(ticks) for m in ("Jan", "Feb", "Mar", "Apr", "Oct", "Nov", "Dec")), ticks
    tiles = page.locator("[data-testid=kpi-tile]").all_inner_texts()
    assert len(tiles) >= 4
    for text in tiles:
        assert text.count("▲") + text.count("▼") <= 2, text  # one arrow per 环比/同比, none of Streamlit's
        for line in text.splitlines():
            if line.startswith("无数据"):
                assert line.strip() == "无数据", text  # "无数据", never "无数据 元"
    assert page.locator("[data-testid=stMetricDelta]").count() == 0
    legend = page.locator("[data-testid=map-legend]").first.inner_text()
    assert "无数据" in legend and "良好" in legend
    context.close()
