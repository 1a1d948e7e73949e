"""The grid officer's 我的网格 on a 390-px-wide phone: renders its map and open cases, no sideways
scrolling, nothing fetched from outside the server. Screenshot saved for a person to look at."""
from __future__ import annotations

from tests.browser.conftest import RequestLog, login, shot, wait_idle


def test_my_grid_on_a_phone(browser, live_app):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    log = RequestLog()
    page.on("request", log)
    login(page, live_app.url, "wangge")
    page.wait_for_selector("[data-testid=stDeckGlJsonChart] canvas", timeout=90_000)
    wait_idle(page)
    shot(page, "my-grid-390x844")
    body = page.inner_text("body")
    assert "我的网格" in body or "网格" in body
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page scrolls sideways by {overflow}px"
    assert log.external == [], log.external[:5]
    context.close()
