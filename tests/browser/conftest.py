"""Real-browser fixtures: the app served by `streamlit run server.py` on a demo database, driven by
Debian's Chromium through Playwright. Screenshots go to tests/artifacts/ (git-ignored)."""
from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.live_server import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@pytest.fixture(scope="session")
def chromium_path():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium required (REQUIRE_BROWSER=1) but not installed: apt-get install chromium")
        pytest.skip("Chromium not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_app(demo_db_url):
    server = LiveServer(demo_db_url)
    yield server
    server.stop()


# Playwright's 30 s default for a click or a wait is not enough on a loaded 2-core CI machine (three test
# workers, their app servers and Chromiums drawing maps in software WebGL): a click there has waited more
# than 30 s for the renderer to take it. A real failure still fails, only later.
ACTION_TIMEOUT_MS = 90_000


class PatientBrowser:
    """The Chromium handle, with every new context's default timeout set to ACTION_TIMEOUT_MS."""

    def __init__(self, browser) -> None:  # noqa: ANN001
        self._browser = browser

    def new_context(self, **options):  # noqa: ANN003, ANN201
        context = self._browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        return context

    def new_page(self, **options):  # noqa: ANN003, ANN201
        page = self._browser.new_page(**options)
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        return page

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._browser, name)


@pytest.fixture(scope="module")
def browser(chromium_path):
    """One Chromium per test module. Not per session: Playwright's sync API keeps an asyncio loop
    running on the main thread while it is open, which breaks later tests that call asyncio.run
    (Starlette's TestClient)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-quic", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
        ])
        yield PatientBrowser(b)
        b.close()


class RequestLog:
    """Every request the page makes; `external` are those to any host but the app's own."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request) -> None:  # noqa: ANN001
        self.urls.append(request.url)

    @property
    def external(self) -> list[str]:
        from urllib.parse import urlsplit

        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "chrome-extension"):
                continue
            if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                out.append(url)
        return out


# How long a sign-in page may stay without its form before it is reloaded once (open_sign_in_form).
FORM_FIRST_WAIT_MS = 45_000


def _server_log_tail(base_url: str, lines: int = 30) -> str:
    """The last lines of the LiveServer log of the app at base_url (tests/support/live_server.py)."""
    port = urlsplit(base_url).port
    path = ARTIFACTS / f"server-{port}.log"
    if not path.exists():
        return f"(no server log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def open_sign_in_form(page, url: str, base_url: str) -> None:  # noqa: ANN001
    """Open `url` and wait for the sign-in form. A page still without its form after FORM_FIRST_WAIT_MS is
    reloaded once, as a person presses F5 on a blank page: once in CI (the suite's busiest first minute:
    three app servers starting, three Chromiums) a phone's first page showed no form in 90 s, and the
    second load is what tells a lost first load from a server that cannot draw the form. The reload is
    reported as a warning with what the page showed; a second miss fails with that and the server log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    form = "input[name=username]"
    page.goto(url)
    try:
        page.wait_for_selector(form, timeout=FORM_FIRST_WAIT_MS)
        return
    except PlaywrightTimeout:
        first = _page_text(page)
        shot(page, f"sign-in-form-missing-{urlsplit(base_url).port}")
    warnings.warn(f"sign-in form missing after {FORM_FIRST_WAIT_MS / 1000:.0f} s at {url}; reloaded. "
                  f"The page showed: {first!r}", stacklevel=2)
    page.reload()
    try:
        page.wait_for_selector(form)
    except PlaywrightTimeout as exc:
        raise AssertionError(f"no sign-in form at {url} after a reload. First load showed {first!r}; "
                             f"the second {_page_text(page)!r}. Server log:\n{_server_log_tail(base_url)}") from exc


def _page_text(page) -> str:  # noqa: ANN001
    try:
        return page.locator("body").inner_text(timeout=5_000)[:500]
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure it explains
        return f"(unreadable: {exc})"


def login(page, base_url: str, username: str, password: str = "Demo@2026!") -> None:  # noqa: ANN001
    open_sign_in_form(page, base_url + "/", base_url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    # The main area, not "the sidebar or the main area": the first of those in the page is the sidebar,
    # hidden (collapsed) on a phone, and a wait that resolved to it never ended.
    page.wait_for_selector("[data-testid=stMain]")
    second_factor(page, base_url, username)


# TOTP seeds read from the enrolment screen, per server and user, for later sign-ins in the session;
# and the last time step used, since the server refuses a code twice.
_TOTP_SECRETS: dict[tuple[str, str], str] = {}
_LAST_STEP: dict[tuple[str, str], int] = {}


def _fresh_code(key: tuple[str, str]) -> str:
    import pyotp

    totp = pyotp.TOTP(_TOTP_SECRETS[key])
    while True:
        now = int(time.time() // 30)
        for step in (now, now + 1):  # the server accepts one step of drift either side
            if step > _LAST_STEP.get(key, -1):
                _LAST_STEP[key] = step
                return totp.at(step * 30)
        time.sleep(5)


def second_factor(page, base_url: str, username: str) -> bool:  # noqa: ANN001
    """Pass the sign-in's second step when the role asks for it (duty officer, administrators): enrol
    by reading the seed the screen shows, or type the code, computed with pyotp as a phone would.
    Returns True when there was a step."""
    key = (base_url, username)
    enrol = page.get_by_text("手动输入的密钥")
    code = page.get_by_label("动态验证码", exact=True)
    signed_in = page.get_by_role("button", name="退出登录")
    enrol.or_(code).or_(signed_in).first.wait_for()
    if enrol.count():
        seed = page.locator("[data-testid=stCode]").first.inner_text()
        _TOTP_SECRETS[key] = re.sub(r"[^A-Z2-7]", "", seed)
        page.get_by_label("验证器显示的 6 位数字").fill(_fresh_code(key))
        page.get_by_role("button", name="确认启用").click()
        page.get_by_role("button", name="我已保存恢复码，进入系统").click()
    elif code.count():
        code.fill(_fresh_code(key))
        page.get_by_role("button", name="验证并登录").click()
    else:
        return False
    signed_in.wait_for()
    return True


def wait_idle(page, timeout: int = ACTION_TIMEOUT_MS) -> None:  # noqa: ANN001
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout)
    page.wait_for_timeout(800)


def shot(page, name: str) -> Path:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def new_page(browser, width: int = 1600, height: int = 1000):  # noqa: ANN001, ANN201
    """A zh-CN browser context of that viewport and its page, with every request logged (RequestLog)."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    log = RequestLog()
    page.on("request", log)
    return context, page, log


def tap_map(page, x: float, y: float, done, *, tries: int = 3, wait_s: float = 30) -> int:  # noqa: ANN001
    """Click a point of a deck.gl map until `done()` holds, as a person clicks again when nothing happens:
    a click that lands while the map is still drawing on a busy machine (software WebGL) can be lost, and
    deck.gl drops a tap whose pointer-down and -up are more than 250 ms apart. Returns the clicks it took;
    the caller asserts `done()` afterwards (the last wait may have run out)."""
    for n in range(1, tries + 1):
        page.mouse.click(x, y)
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if done():
                return n
            page.wait_for_timeout(300)
    return tries


def wait_map(page, settle_ms: int = 1500) -> None:  # noqa: ANN001
    """A deck.gl map has drawn its canvas, the run has finished, and `settle_ms` more for its tiles."""
    page.wait_for_selector("[data-testid=stDeckGlJsonChart] canvas", timeout=90_000)
    wait_idle(page)
    page.wait_for_timeout(settle_ms)
