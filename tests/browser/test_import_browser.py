"""数据导入 in Chromium against the real server: the duty officer signs in (with the second factor), opens
the import screen from the menu, picks 案件, uploads files with the browser's file input
(page.set_input_files): a bad file lists its bad rows and offers no import; a large file shows the
progress bar while it is checked; a good file is checked, then imported, and the link leads to 指挥调度.
No request leaves the server and no exception box shows. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from store.db import get_engine, session_scope
from store.models import Base, Event
from tests.browser.conftest import RequestLog, shot, second_factor, wait_idle
from tests.support.live_server import LiveServer
from tests.support.tiny_city import tiny_city_regions
from tests.test_auth_support import PW, TEST_SECRET, make_user
from tests.test_events_support import prepare

HEADER = "工单编号,受理时间,大类,小类,问题描述,地址,经度,纬度\n"
GOOD = HEADER + ("WEB-001,2026-11-20 09:30,街面秩序,占道经营,门口摆摊,油城路1号,110.10,21.90\n"
                 "WEB-002,2026-11-20 10:05,市容环境,暴露垃圾,垃圾未清运,站前路,111.60,21.20\n")
BAD = HEADER + ("WEB-101,2026-11-20 09:30,街面秩序,占道经营,城外,油城路1号,119.10,21.90\n"
                "WEB-102,不是时间,街面秩序,占道经营,**粗体** [外链](http://198.51.100.7/x),路,110.1,21.9\n")


def _large(rows: int) -> str:
    """A file big enough for the check to take a few seconds (only checked, never imported)."""
    return HEADER + "".join(f"BIG-{i:06d},2026-11-20 09:30,街面秩序,占道经营,摆摊,路,{110.05 + (i % 180) / 100:.2f},"
                            f"{21.05 + (i % 90) / 100:.2f}\n" for i in range(rows))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('import') / 'import.db'}"
    engine = get_engine(url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as s:
        s.add_all(tiny_city_regions())
    prepare(engine)
    make_user(engine, "zhiban", "duty_officer", "440900", display_name="值班员")
    live = LiveServer(url, extra_env={"CITYOPS_SECRET_KEY": TEST_SECRET})
    yield live, engine
    live.stop()


def _cases(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(Event))


def _upload(page, name: str, text: str) -> None:  # noqa: ANN001
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": text.encode("utf-8")})
    page.get_by_role("button", name="检查").wait_for()
    wait_idle(page)


def test_duty_officer_checks_and_imports_a_case_file(server, browser, tmp_path):
    live, engine = server
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    log = RequestLog()
    page.on("request", log)
    page.goto(live.url + "/")
    page.wait_for_selector("form.cityops-login")
    page.fill("input[name=username]", "zhiban")
    page.fill("input[name=password]", PW)
    page.click("form.cityops-login button")
    assert second_factor(page, live.url, "zhiban")

    page.get_by_role("link", name="数据导入").click()
    page.get_by_role("heading", name="数据导入").wait_for()
    wait_idle(page)
    page.get_by_role("combobox", name="导入类型").click()
    page.get_by_role("option", name="案件（12345 / 巡查）").click()
    page.get_by_text("案件来源").wait_for()
    wait_idle(page)

    # A bad file: every bad row is listed, there is nothing to confirm, nothing is written.
    _upload(page, "坏工单.csv", BAD)
    page.get_by_role("button", name="检查").click()
    page.get_by_text("检查未通过").wait_for()
    wait_idle(page)
    shot(page, "import-bad-file")
    assert page.get_by_role("button", name="确认导入").count() == 0
    assert _cases(engine) == 0

    # A large file: the progress bar shows while it is checked.
    _upload(page, "大文件.csv", _large(30_000))
    page.get_by_role("button", name="检查").click()
    page.get_by_text(re.compile(r"正在检查：[1-9][0-9]?%")).wait_for()
    assert page.locator("[data-testid=stProgress]").count() == 1
    shot(page, "import-progress")
    page.get_by_text("检查通过").wait_for(timeout=120_000)
    wait_idle(page)
    assert _cases(engine) == 0

    # The good file: checked (nothing written yet), then imported.
    _upload(page, "12345工单.csv", GOOD)
    page.get_by_role("button", name="检查").click()
    page.get_by_text("检查通过").wait_for()
    wait_idle(page)
    shot(page, "import-checked")
    assert _cases(engine) == 0
    page.get_by_role("button", name="确认导入（2 行）").click()
    page.get_by_text("导入完成").wait_for()
    wait_idle(page)
    page.get_by_role("heading", name="数据导入").scroll_into_view_if_needed()
    shot(page, "import-done")
    assert _cases(engine) == 2
    assert page.get_by_role("button", name="确认导入（2 行）").count() == 0

    page.get_by_role("link", name="前往“指挥调度”查看导入的数据").click()
    page.wait_for_url("**/dispatch**")
    wait_idle(page)
    assert page.locator("[data-testid=stException]").count() == 0
    assert log.external == [], f"requests left the server: {log.external[:5]}"
    context.close()
