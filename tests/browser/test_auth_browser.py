"""End to end in Chromium against the real server (`streamlit run server.py`): a deep link on a freshly
started server shows the login form (never a page), signing in sets the HttpOnly cookie and returns to
the deep link — for the system administrator through the TOTP second factor (enrolled at the first
sign-in from the seed on screen, then a code, both computed with pyotp) —, a refresh keeps the user
signed in, the role's menu is shown, and signing out ends it.
Uses the session's one Chromium (tests/browser/conftest.py): Playwright's sync API allows one instance."""
from __future__ import annotations

import time

import pytest

from store.db import get_engine, session_scope
from store.models import Base
from tests.support.live_server import LiveServer
from tests.support.tiny_city import tiny_city_regions
from tests.browser.conftest import second_factor
from tests.test_auth_support import PW, TEST_SECRET, make_user



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.db'}"
    engine = get_engine(url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as s:
        s.add_all(tiny_city_regions())
    make_user(engine, "xitong", "sys_admin", "440900", display_name="系统管理员")
    make_user(engine, "maonan", "leader", "440902", display_name="区领导")
    live = LiveServer(url, extra_env={"CITYOPS_SECRET_KEY": TEST_SECRET})
    yield live
    live.stop()


def _login(page, username: str, password: str) -> None:  # noqa: ANN001
    page.wait_for_selector("form.cityops-login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.cityops-login button")
    page.wait_for_load_state("load")


def test_deep_link_login_refresh_logout(server, browser):
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:")) else None)
    # First request of a fresh server goes to a page URL: the login form shows, no page runs.
    page.goto(server.url + "/admin?region=440900", wait_until="load")
    page.wait_for_selector("form.cityops-login")
    assert page.get_by_text("请先登录").count() == 0
    _login(page, "xitong", "Wrong@2026!!")
    page.wait_for_selector("form.cityops-login")
    page.get_by_text("用户名或密码错误").wait_for()
    assert "auth_error=invalid" in page.url
    _login(page, "xitong", PW)
    # The password alone opens nothing: the second factor is set up first (a required role).
    page.get_by_text("手动输入的密钥").wait_for()
    assert page.get_by_role("heading", name="系统管理").count() == 0
    assert second_factor(page, server.url, "xitong")
    page.get_by_role("heading", name="系统管理").wait_for()
    # Back on the deep link (系统管理 is this role's home page, which Streamlit shows at "/").
    assert page.url.startswith((server.url + "/admin", server.url + "/?")) and "region=440900" in page.url
    assert "auth_error" not in page.url
    [cookie] = [c for c in page.context.cookies() if c["name"] == "cityops_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time() + 3600
    assert page.evaluate("document.cookie").find("cityops_session") == -1  # invisible to scripts
    page.reload(wait_until="load")
    page.get_by_role("heading", name="系统管理").wait_for()
    page.get_by_role("button", name="退出登录").click()
    page.get_by_text("您已安全退出登录").wait_for()
    page.reload(wait_until="load")
    page.wait_for_selector("form.cityops-login")
    # Signing in again asks for a code from the authenticator.
    _login(page, "xitong", PW)
    page.get_by_label("动态验证码", exact=True).wait_for()
    assert second_factor(page, server.url, "xitong")
    page.get_by_role("heading", name="系统管理").wait_for()
    assert outside == []  # the login screen, the enrolment (QR drawn locally) and the admin page work offline
    page.close()


def test_leader_gets_only_their_pages(server, browser):
    page = browser.new_page()
    page.goto(server.url + "/", wait_until="load")
    _login(page, "maonan", PW)
    page.get_by_role("button", name="退出登录").wait_for()
    page.goto(server.url + "/admin", wait_until="load")
    # Not registered for a leader: Streamlit falls back to the default page, never the admin page,
    # and the refusal is said (and audited).
    page.get_by_role("button", name="退出登录").wait_for()
    page.get_by_text("无权打开“系统管理”页面").wait_for()
    assert page.get_by_role("heading", name="系统管理").count() == 0
    page.close()
