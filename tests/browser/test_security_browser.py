"""Real Chromium under the Content-Security-Policy of auth/http_headers.py (issue 19, finding 8): the
overview map and the wall still draw (deck.gl WebGL, its workers), and the only directive the page
trips is WebAssembly compilation, which the libraries probe for and then do without (long.js in
protobuf, deck.gl's loaders). No eval, no inline script beyond Streamlit's hashed one, no request to
another host; the app cannot be framed by another page."""
from __future__ import annotations

from tests.browser.conftest import RequestLog, login, wait_idle

LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile}));
"""


def test_maps_and_wall_work_under_the_csp(browser, live_app):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    context.add_init_script(LISTEN)
    page = context.new_page()
    log = RequestLog()
    page.on("request", log)
    login(page, live_app.url, "lingdao")
    for path in ("/?period=2026-10", "/?wall=1&period=2026-10"):
        page.goto(live_app.url + path)
        page.wait_for_selector("[data-testid=stDeckGlJsonChart] canvas", timeout=90_000)
        wait_idle(page)
        page.wait_for_timeout(1500)
        violations = page.evaluate("window.__csp")
        assert all(v["blocked"] == "wasm-eval" for v in violations), (path, violations)
        headers = page.evaluate("""async () => {
            const r = await fetch(location.href); return r.headers.get('content-security-policy'); }""")
        assert "frame-ancestors 'none'" in headers and "connect-src 'self'" in headers
    # Another page cannot frame the app: the frame stays empty.
    page.set_content(f'<iframe id="f" src="{live_app.url}/" width="400" height="300"></iframe>')
    page.wait_for_timeout(2000)
    framed = page.frame_locator("#f").locator("body")
    assert framed.count() == 0 or "一网统管" not in (framed.inner_text(timeout=2000) if framed.count() else "")
    assert log.external == []
    context.close()
