"""The duplicate warning on the grid officer's report form at phone size (390×844): with an open case of
the same 小类 a few metres away, choosing 大类/小类 and typing the location shows the warning with its
small map before submit; linking the report closes it as 重复 of that case. Nothing is fetched from
outside the server, nothing scrolls sideways. Screenshot saved for a person to look at."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from shapely.geometry import shape
from sqlalchemy import select

from events import intake
from store.db import get_engine, session_scope
from store.models import Event, Region, User
from tests.browser.conftest import RequestLog, login, shot, wait_idle


def _open_case_in_wangge_grid(url: str) -> tuple[int, float, float]:
    """An open 暴露垃圾 case reported an hour ago inside the demo grid officer's zone."""
    now = datetime.now(timezone.utc)
    with session_scope(get_engine(url)) as s:
        zone = s.scalar(select(User.zone_code).where(User.username == "wangge"))
        geometry = s.scalar(select(Region.geometry).where(Region.code == zone))
        point = shape(json.loads(geometry)).representative_point()
        case = intake.create_event(s, source="12345", category="市容环境", subcategory="暴露垃圾",
                                   title="浏览器测试：路口垃圾堆放", lon=point.x, lat=point.y,
                                   reported_at=now - timedelta(hours=1), now=now)
        return case.id, point.x, point.y


def _pick(page, label: str, option: str) -> None:  # noqa: ANN001
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def test_duplicate_warning_on_the_phone_form(browser, live_app, demo_db_url):
    case_id, lon, lat = _open_case_in_wangge_grid(demo_db_url)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    log = RequestLog()
    page.on("request", log)
    login(page, live_app.url, "wangge")
    page.get_by_role("tab", name="上报事件").click()
    wait_idle(page)
    _pick(page, "大类（必填）", "市容环境")
    _pick(page, "小类（必填）", "暴露垃圾")
    for label, value in (("经度", lon + 0.0001), ("纬度", lat)):
        field = page.get_by_label(label, exact=True)
        field.fill(f"{value:.6f}")
        field.press("Tab")
        wait_idle(page)
    page.get_by_text("附近已有").wait_for()
    warning = page.get_by_text("附近已有").inner_text()
    assert "1" in warning and "同类在办案件" in warning
    page.get_by_text(f"是，与 #{case_id} 是同一问题").scroll_into_view_if_needed()
    shot(page, "duplicate-warning-390x844")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page scrolls sideways by {overflow}px"
    page.get_by_text(f"是，与 #{case_id} 是同一问题").click()
    wait_idle(page)
    page.get_by_label("问题描述（必填）").fill("路口又堆了垃圾")
    page.get_by_label("问题描述（必填）").press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="提交上报").click()
    page.get_by_text(f"已上报并合并到在办案件 #{case_id}").wait_for()
    shot(page, "duplicate-linked-390x844")
    with session_scope(get_engine(demo_db_url), readonly=True) as s:
        linked = s.execute(select(Event).where(Event.duplicate_of == case_id)).scalars().all()
    assert [e.status for e in linked] == ["duplicate"]
    assert log.external == [], log.external[:5]
    context.close()
