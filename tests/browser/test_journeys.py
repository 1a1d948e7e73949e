"""Every role's working day in Chromium, one test per day, in the order the work flows: the grid officer
reports four problems on a phone (the first with a point tapped on the map and a photo), the duty officer
registers and dispatches them (one by one, then three at once), the city-management bureau signs for
them, feeds back with a photo, sends one back and asks more time for another, the grid officer verifies
(one passes, one fails), the duty officer closes and orders the rework, a leader approves the extension,
the duty officer runs an emergency from opening to release, and a leader drills down and shares the link.

Each signs in through the form and works by clicks and typing only; after every step the test asserts
what the user must see (the case number on the panel, its status, the list it moved to). Every journey
also asserts that no request left the server and that no exception box showed; screenshots go to
tests/artifacts/journeys/ and the browser-felt time of every step to tests/artifacts/journey_times.json
(tests/browser/journey.py; `python -m bench --journeys` runs this module with WebGL and without).

The module works on its own copy of the session's demo database (one server for the module), so the
cases it creates never reach the other browser tests. A day whose cases an earlier day failed to make
is skipped (the earlier failure is the one to read).
"""
from __future__ import annotations

import io
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from auth import service, totp
from events.grids import location_lattice, zone_bbox
from events.views import EventViews
from geo.layers import view_for_bbox
from store.db import get_engine, session_scope
from store.models import Region, User
from store.scope import Viewer
from tests.browser.conftest import PatientBrowser
from tests.browser.journey import CHROMIUM_ARGS, NO_WEBGL, Journey, map_point
from tests.support.live_server import LiveServer

PHONE = {"viewport": (390, 844), "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESK = (1920, 1080)
LAPTOP = (1600, 1000)
GRID_OFFICER_ZONE = "440902001001001"  # auth.demo: wangge's grid, the first of 茂南区
# Problems the city-management bureau (chengguan, the city-wide 城管局 "CGJ") handles, by events/routing.yaml:
# (类型, 大类, 小类, 标题 — A has none, so it gets the default「小类（地址）」—, 描述, 地址).
PROBLEMS = {
    "A": ("事件", "宣传广告", "占道广告牌", "", "人行道上摆放占道广告牌两块，影响行人通行", "油城路 18 号门前"),
    "B": ("事件", "宣传广告", "广告招牌破损", "旅程·招牌破损", "沿街商铺招牌一角脱落，悬挂在人行道上方", "油城路 20 号"),
    "C": ("事件", "施工管理", "道路遗撒", "旅程·渣土遗撒", "渣土车沿路遗撒约 30 米", "站前路口"),
    "D": ("部件", "公用设施", "路灯", "旅程·路灯不亮", "路口两盏路灯夜间不亮", "新华路口"),
}
TITLE_A = "占道广告牌（油城路 18 号门前）"
BUREAU = "茂名市城市管理和综合执法局"  # chengguan's department (auth.demo, events.departments)
CASE_NO = re.compile(r"案件编号 #(\d+)")
# A working day takes minutes in a loaded CI machine's software-rendered Chromium (pytest.ini's 300 s is
# for one test of one thing).
pytestmark = pytest.mark.timeout(900)


@dataclass
class Day:
    """What the days hand on to each other: the server, and the cases and incident they made."""
    url: str
    db_url: str
    spots: list[tuple[float, float]]          # report locations inside the grid officer's grid
    lattice_view: object                      # the view 我的网格's map is drawn with
    lattice: list[tuple[float, float]]
    cases: dict[str, int] = field(default_factory=dict)

    def case(self, key: str) -> int:
        if key not in self.cases:
            pytest.skip(f"case {key} was not made by an earlier journey (see its failure)")
        return self.cases[key]


def _copy_database(source_url: str, target: Path) -> str:
    """A consistent copy of the session's demo database (SQLite's backup API: safe while a server reads it)."""
    src = sqlite3.connect(source_url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(str(target))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def day(demo_db_url, chromium_path, tmp_path_factory):  # noqa: ARG001 - chromium_path: skip/fail without Chromium
    url = _copy_database(demo_db_url, tmp_path_factory.mktemp("journeys") / "journeys.db")
    engine = get_engine(url)
    with session_scope(engine) as s:
        # Another module's sign-ins may have enrolled a second factor in the session database: every
        # journey enrols from scratch, as at a first sign-in.
        for user in s.scalars(select(User)).all():
            if totp.enabled(user):
                service.reset_second_factor(s, user.username)
    with EventViews.open(engine, Viewer("wangge", "grid_officer", GRID_OFFICER_ZONE)) as v:
        grids = v.zone_grids()
    lattice = location_lattice(grids, max_points=600)  # as pages/my_grid.py draws it
    points = list(zip(lattice["lon"], lattice["lat"]))
    spots = [points[i] for i in range(0, len(points), max(1, len(points) // 5))][1:5]  # spread over the grid
    server = LiveServer(url)
    yield Day(server.url, url, spots, view_for_bbox(zone_bbox(grids), width=360, height=420), points)
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def jbrowser(chromium_path):
    """Chromium as the other browser tests launch it, without WebGL when JOURNEY_NO_WEBGL=1."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield PatientBrowser(b)
        b.close()


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "PNG")
    return buf.getvalue()


def _panel(j: Journey, case_id: int, status: str) -> None:
    """The case panel shows this case (its number in the heading), in this status (the badge under it);
    scrolled into view for the screenshot that follows."""
    heading = j.main.get_by_role("heading", name=re.compile(rf"^#{case_id} ")).first
    heading.wait_for()
    heading.scroll_into_view_if_needed()
    badges = heading.locator("xpath=ancestor::*[@data-testid='stElementContainer'][1]/following-sibling::*[1]")
    shown = badges.inner_text()
    assert shown.startswith(status), f"case #{case_id}: panel says「{shown[:40]}」, expected「{status}」"


# -------------------------------------------------------------------------------------------------------
def _report(j: Journey, day: Day, key: str, *, spot: tuple[float, float] | None, photo: bytes | None) -> int:
    kind, category, subcategory, title, description, address = PROBLEMS[key]
    page = j.page
    with j.step("上报事件页签", kind="input", run=False):
        page.get_by_role("tab", name="上报事件").click()
    if not j.main.get_by_role("radio", name=kind, exact=True).is_checked():
        with j.step("类型", kind="input"):
            j.main.get_by_text(kind, exact=True).click()
    with j.step("大类", kind="input"):
        j.choose("大类（必填）", category)
    with j.step("小类", kind="input"):
        j.choose("小类（必填）", subcategory)
    with j.step("问题描述", kind="input"):
        if title:
            j.main.get_by_label("标题（可选）").fill(title)
        j.main.get_by_label("问题描述（必填）").fill(description)
        j.main.get_by_label("地址（可选）").fill(address)
        j.main.get_by_label("地址（可选）").press("Enter")
    if spot is not None:  # typed: the map point was not tapped
        with j.step("输入坐标", kind="input"):
            j.main.get_by_label("经度").fill(f"{spot[0]:.6f}")
            j.main.get_by_label("纬度").fill(f"{spot[1]:.6f}")
            j.main.get_by_label("纬度").press("Enter")
    else:
        j.see("已在地图上选定")
    if photo is not None:
        with j.step("选择照片", kind="input"):
            j.upload(j.main, "现场照片.png", photo)
    with j.step("提交上报"):
        j.button("提交上报")
    j.see("已上报，案件编号")
    case_id = int(CASE_NO.search(j.text()).group(1))
    # The form is emptied after a success (issue 18 · 3): nothing left to send again by a second tap.
    left = {label: j.main.get_by_label(label).input_value() for label in ("问题描述（必填）", "地址（可选）", "经度")}
    j.expect(not any(left.values()), f"report form not emptied after #{case_id}: {left}")
    return case_id


def test_grid_officer_reports_on_a_phone(day, jbrowser):
    with Journey(jbrowser, day.url, "1-网格员上报", **PHONE) as j:
        page = j.page
        j.sign_in("wangge")
        j.see("我的网格")
        j.shot("我的网格")
        # Case A: the location tapped on the grid map (a dot of its lattice), with a photo.
        spot = None
        if NO_WEBGL:
            spot = day.lattice[len(day.lattice) // 2]  # no WebGL, no map to tap: typed
        else:
            with j.step("网格地图页签", kind="input", run=False):
                page.get_by_role("tab", name="网格地图").click()
            chart = j.main.locator("[data-testid=stDeckGlJsonChart]").filter(visible=True).first
            chart.locator("canvas").first.wait_for()
            box = chart.bounding_box()
            centre = (day.lattice_view.longitude, day.lattice_view.latitude)
            lon, lat = min(day.lattice, key=lambda p: (p[0] - centre[0]) ** 2 + (p[1] - centre[1]) ** 2)
            j.shot("网格地图")
            j.map_click("地图点选位置", *map_point(lon, lat, day.lattice_view, box))
        day.cases["A"] = _report(j, day, "A", spot=spot, photo=_png((200, 80, 40)))
        j.shot(f"已上报-{day.cases['A']}")
        # C, D, B: coordinates typed, no photo (in this order, so that no report picks the 大类 the one
        # before it had: a form that was not emptied would show it chosen already).
        for key, place in zip("CDB", day.spots):
            day.cases[key] = _report(j, day, key, spot=place, photo=None)
        j.shot("已上报四件")
        # 我的案件: the new reports are there, 待立案, and the panel opens on the one picked.
        with j.step("我的案件页签", kind="input", run=False):
            page.get_by_role("tab", name="我的案件").click()
        toggle = j.main.get_by_text("只看待核查")
        if toggle.count() and j.main.locator("label").filter(has_text="只看待核查").locator("input").is_checked():
            with j.step("显示全部案件", kind="input"):
                toggle.click()
        rows = {cells[0]: cells for cells in j.table_rows()}
        for key in "ABCD":
            assert str(day.cases[key]) in rows, f"case {key} #{day.cases[key]} not in 我的案件: {list(rows)}"
            assert "待立案" in rows[str(day.cases[key])]
        a = day.cases["A"]
        with j.step("查看案件", kind="input"):
            j.choose("查看案件", f"#{a} {TITLE_A}")
        _panel(j, a, "待立案")
        j.main.get_by_text("现场照片.png").first.wait_for()  # the photo's caption
        j.shot(f"我的案件-{a}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the phone page scrolls sideways by {overflow}px"


# -------------------------------------------------------------------------------------------------------
def _search(j: Journey, text: str) -> None:
    box = j.main.get_by_label("搜索（案件编号或标题）")
    # Enter on the text already in the box starts no run: the step then only waits for a quiet page
    # (waiting for a run there waited for the next auto-refresh, ~30 s).
    with j.step("搜索", kind="input", run=box.input_value() != text):
        box.fill(text)
        box.press("Enter")


def _rows_by_id(j: Journey, nth: int = 0) -> dict[int, list[str]]:
    """The listed cases by number (the 编号 cell, wherever the table puts it); none when the console says
    its list is empty (the page is quiet at this point: every step waits for its run to finish)."""
    out = {}
    if nth == 0 and j.main.get_by_text("没有符合条件的案件").count():
        return out
    for cells in j.table_rows(nth):
        number = next((c for c in cells if c.isdigit()), None)
        if number is not None:
            out[int(number)] = cells
    return out


def test_duty_officer_registers_and_dispatches(day, jbrowser):
    a, b, c, d = (day.case(k) for k in "ABCD")
    with Journey(jbrowser, day.url, "2-值班员立案派遣", DESK) as j:
        j.sign_in("zhiban")
        j.menu("指挥调度")
        # The new report is found by its number, and opened from the list.
        _search(j, str(a))
        rows = _rows_by_id(j)
        assert a in rows and "待立案" in rows[a], rows
        with j.step("选中案件", kind="page"):
            j.tick_row(list(rows).index(a))
        _panel(j, a, "待立案")
        j.shot(f"待立案-{a}")
        with j.step("立案", kind="input"):
            j.button("立案")
        with j.step("确认立案"):
            j.button("确认立案")
        j.see(f"案件 #{a} 已立案，当前状态「待派遣」")
        _panel(j, a, "待派遣")
        with j.step("派遣", kind="input"):
            j.button("派遣")
        form = j.main.locator("[data-testid=stForm]")
        suggested = j.chosen("处置部门", scope=form)
        assert suggested.startswith(BUREAU), suggested  # the routing suggestion, preselected
        j.shot(f"派遣表单-{a}")
        with j.step("确认派遣"):
            j.button("确认派遣")
        j.see(f"案件 #{a} 已派遣，当前状态「待签收」")
        _panel(j, a, "待签收")
        j.see(BUREAU)
        j.shot(f"已派遣-{a}")
        # It has left the queue (待立案 + 待派遣): the search finds nothing there now.
        j.see("没有符合条件的案件")

        # The three others at once: found by title, ticked, registered and dispatched in two clicks.
        _search(j, "旅程")
        rows = _rows_by_id(j)
        assert {b, c, d} <= set(rows) and all("待立案" in rows[k] for k in (b, c, d)), rows
        for n, case_id in enumerate((b, c, d), 1):
            with j.step("勾选案件", kind="input"):
                j.tick_row(list(_rows_by_id(j)).index(case_id))
        j.see("已选 3 件（待立案 3，待派遣 0）")
        j.shot("批量-已选3件")
        with j.step("批量立案"):
            j.button("批量立案（3 件）")
        j.see("成功 3 件")
        rows = _rows_by_id(j)
        j.expect(all("待派遣" in rows[k] for k in (b, c, d)),
                 f"after 批量立案 the list still shows: {[rows[k][4] for k in (b, c, d)]}")
        if not j.main.get_by_text("已选 3 件（待立案 0，待派遣 3）").count():
            # The list was not redrawn: the user searches again to see where the cases are now.
            _search(j, "旅程 ")
            if not j.main.get_by_text("已选 3 件").count():
                for case_id in (b, c, d):
                    with j.step("勾选案件", kind="input"):
                        j.tick_row(list(_rows_by_id(j)).index(case_id))
        j.see("已选 3 件（待立案 0，待派遣 3）")
        with j.step("批量派遣"):
            j.button("批量派遣（3 件）")
        j.see("成功 3 件")
        j.shot("批量派遣-成功")
        rows = _rows_by_id(j)
        j.expect(not {b, c, d} & set(rows), "after 批量派遣 the queue still lists the dispatched cases")
        # The list they moved to: 待签收, with the bureau the routing chose.
        with j.step("状态筛选", kind="input"):
            j.choose("状态", "仅「待签收」")
        _search(j, "旅程")
        rows = _rows_by_id(j)
        for k in (b, c, d):
            assert k in rows and "待签收" in rows[k] and BUREAU in rows[k], rows.get(k)
        j.shot("待签收-三件")


# -------------------------------------------------------------------------------------------------------
def _stage(j: Journey, label: str) -> None:
    """部门处置's stage switch (待签收 / 处置中 / 待核查/结案 / 挂账)."""
    with j.step(f"切换到「{label}」", kind="input"):
        j.main.locator("[data-testid=stButtonGroup]").get_by_text(label, exact=True).first.click()


def _open_case(j: Journey, case_id: int, title: str) -> None:
    with j.step("查看案件", kind="input"):
        j.choose("查看案件", f"#{case_id} {title}")


def _act(j: Journey, case_id: int, label: str, *, comment: str = "", photo: bytes | None = None,
         form_fill=None) -> None:  # noqa: ANN001
    """On the panel of `case_id`: the action's button, its form (comment, photo, extra fields), confirm;
    the outcome message names the case."""
    with j.step(label, kind="input"):
        j.button(label)
    form = j.main.locator("[data-testid=stForm]").filter(has_text=f"案件 #{case_id}").first
    form.wait_for()
    if form_fill is not None:
        form_fill(form)
    if photo is not None:
        j.upload(form, "处置照片.png", photo)
    if comment:
        form.locator("textarea").first.fill(comment)
    with j.step(f"确认{label}"):
        form.get_by_role("button", name=f"确认{label}").click()


def _outcome(j: Journey, case_id: int, label: str, status: str) -> None:
    """The message naming the case and its new status (scrolled into view for the screenshot)."""
    message = f"案件 #{case_id} 已{label}，当前状态「{status}」"
    j.see(message)
    j.main.get_by_text(message).first.scroll_into_view_if_needed()


def _no_other_case(j: Journey, case_id: int) -> None:
    """A case that left the list is named on its own: no other case's panel (and buttons) in its place."""
    others = [h for h in j.main.get_by_role("heading", name=re.compile(r"^#\d+ ")).all_inner_texts()
              if not h.startswith(f"#{case_id} ")]
    j.expect(not others, f"after acting on #{case_id} the page opened another case: {others[:1]}")


def test_department_signs_feeds_back_returns_and_asks_more_time(day, jbrowser):
    a, b, c, d = (day.case(k) for k in "ABCD")
    with Journey(jbrowser, day.url, "3-部门处置", LAPTOP) as j:
        j.sign_in("chengguan")
        j.see("部门处置")
        # A: signed for, then fed back with a photo. After each action the page stays on A.
        _stage(j, "待签收")
        _open_case(j, a, TITLE_A)
        _panel(j, a, "待签收")
        _act(j, a, "签收")
        _outcome(j, a, "签收", "处置中")
        _panel(j, a, "处置中")  # the same case, now under 处置中 (issue 18 · 2)
        assert j.chosen("查看案件").startswith(f"#{a} ")
        j.shot(f"已签收-{a}")
        _act(j, a, "处置反馈", comment="已拆除占道广告牌两块", photo=_png((40, 160, 90)))
        _outcome(j, a, "处置反馈", "待核查")
        _panel(j, a, "待核查")
        j.main.get_by_text("处置照片.png").first.wait_for()
        j.shot(f"已反馈-{a}")
        # B: not this bureau's job — sent back; it leaves the bureau's lists and no other case opens.
        _stage(j, "待签收")
        _open_case(j, b, PROBLEMS["B"][3])
        _panel(j, b, "待签收")
        _act(j, b, "退回", comment="招牌属商户自有设施，不属于本部门职责")
        _outcome(j, b, "退回", "待派遣")
        _no_other_case(j, b)
        j.shot(f"已退回-{b}")
        # C: signed for, then more time asked.
        _stage(j, "待签收")
        _open_case(j, c, PROBLEMS["C"][3])
        _act(j, c, "签收")
        _outcome(j, c, "签收", "处置中")
        _panel(j, c, "处置中")
        _act(j, c, "延期申请", comment="需协调渣土运输公司清运，申请延期",
             form_fill=lambda form: form.get_by_label("延期时长（小时，一般案件按工作小时计）").fill("16"))
        _outcome(j, c, "延期申请", "延期待批")
        _panel(j, c, "延期待批")
        j.shot(f"已申请延期-{c}")
        # D: fed back straight from 待签收 (a legal shortcut), with a photo.
        _stage(j, "待签收")
        _open_case(j, d, PROBLEMS["D"][3])
        _act(j, d, "处置反馈", comment="已更换路灯灯泡", photo=_png((230, 200, 60)))
        _outcome(j, d, "处置反馈", "待核查")
        _panel(j, d, "待核查")
        rows = _rows_by_id(j)
        assert a in rows and d in rows, rows  # both under 待核查/结案 now
        j.shot(f"已反馈-{d}")


def test_grid_officer_verifies_pass_and_fail(day, jbrowser):
    a, d = day.case("A"), day.case("D")
    with Journey(jbrowser, day.url, "4-网格员核查", **PHONE) as j:
        j.sign_in("wangge")
        assert j.main.locator("label").filter(has_text="只看待核查").locator("input").is_checked()
        rows = {cells[0]: cells for cells in j.table_rows()}
        assert str(a) in rows and str(d) in rows, rows
        _open_case(j, a, TITLE_A)
        _panel(j, a, "待核查")
        _act(j, a, "核查通过", comment="现场已清理")
        _outcome(j, a, "核查通过", "待结案")
        j.shot(f"核查通过-{a}")
        _no_other_case(j, a)
        rows = {cells[0]: cells for cells in j.table_rows()}
        assert str(a) not in rows, "a verified case stays in the 待核查 list"
        _open_case(j, d, PROBLEMS["D"][3])
        _panel(j, d, "待核查")
        _act(j, d, "核查不通过", comment="仍有一盏路灯不亮", photo=_png((20, 20, 20)))
        _outcome(j, d, "核查不通过", "核查未通过")
        j.shot(f"核查不通过-{d}")
        _no_other_case(j, d)


def test_duty_officer_closes_and_leader_approves_extension(day, jbrowser):
    a, c, d = day.case("A"), day.case("C"), day.case("D")
    with Journey(jbrowser, day.url, "5-值班员结案", DESK) as j:
        j.sign_in("zhiban")
        j.menu("指挥调度")
        for case_id in (a, d):
            with j.step("打开案件", kind="page"):
                box = j.main.get_by_label("打开案件（编号）")
                box.fill(str(case_id))
                box.press("Enter")
            if case_id == a:
                _panel(j, a, "待结案")
                _act(j, a, "结案", comment="经核查已整改到位")
                _outcome(j, a, "结案", "已结案")
                _panel(j, a, "已结案")
                j.shot(f"已结案-{a}")
            else:
                _panel(j, d, "核查未通过")
                _act(j, d, "返工", comment="请更换另一盏路灯")
                _outcome(j, d, "返工", "处置中")
                _panel(j, d, "处置中")
                j.shot(f"返工-{d}")
    with Journey(jbrowser, day.url, "5-领导批准延期", DESK) as j:
        j.sign_in("lingdao")
        j.menu("指挥调度")
        assert j.chosen("状态").startswith("待审批"), j.chosen("状态")  # a leader's list: what awaits approval
        rows = _rows_by_id(j)
        assert c in rows and "延期待批" in rows[c], rows
        with j.step("选中案件", kind="page"):
            j.tick_row(list(rows).index(c))
        _panel(j, c, "延期待批")
        assert j.main.get_by_role("button", name="派遣", exact=True).count() == 0  # leaders do not dispatch
        _act(j, c, "批准延期")
        _outcome(j, c, "批准延期", "处置中")
        _panel(j, c, "处置中")
        assert c not in _rows_by_id(j), "an approved case stays in 待审批"
        j.shot(f"已批准延期-{c}")


# -------------------------------------------------------------------------------------------------------
def test_duty_officer_runs_an_emergency(day, jbrowser):
    lon, lat = day.spots[0]
    title = "旅程·油城路严重积水"
    with Journey(jbrowser, day.url, "6-值班员应急调派", DESK) as j:
        j.sign_in("zhiban")
        j.menu("应急指挥")
        opener = j.main.locator("[data-testid=stExpander]").filter(has_text="开设应急事件").first
        if opener.locator("[data-testid=stForm]").count() == 0 or not opener.locator("[data-testid=stForm]").is_visible():
            with j.step("展开「开设应急事件」", kind="input", run=False):
                opener.locator("summary").first.click()
        form = opener.locator("[data-testid=stForm]").first
        j.choose("事件类型", "内涝", scope=form)
        j.choose("响应级别", "IV级（一般）", scope=form)
        form.get_by_label("事件名称").fill(title)
        form.get_by_label("经度（WGS-84）").fill(f"{lon:.6f}")
        form.get_by_label("纬度（WGS-84）").fill(f"{lat:.6f}")
        j.shot("开设表单")
        with j.step("开设事件"):
            form.get_by_role("button", name="开设事件").click()
        j.see("已开设事件 #")
        incident = int(re.search(r"已开设事件 #(\d+)", j.text()).group(1))
        heading = j.main.get_by_role("heading", name=f"#{incident} {title}")
        heading.wait_for()
        assert j.chosen("当前事件").startswith(f"#{incident} "), j.chosen("当前事件")
        j.shot(f"已开设-{incident}")
        # 一键调派: the plan of 内涝 IV (config.toml [emergency.plans]) proposed, then confirmed.
        with j.step("一键生成调派方案"):
            j.button("一键生成调派方案")
        j.main.get_by_role("button", name="确认调派").wait_for()
        # The proposal's units and stock (the tables' accessible grids), read until they have drawn their
        # rows: on a busy machine the grid fills in after the button beside it appears.
        deadline = time.time() + 30
        while True:
            proposed = j.main.locator("[data-testid=stDataFrame]").evaluate_all(
                "fs => fs.map(f => f.textContent).join(' ')")
            if all(w in proposed for w in ("排涝抢险队", "排涝泵车", "沙袋")) or time.time() > deadline:
                break
            j.page.wait_for_timeout(250)
        assert "排涝抢险队" in proposed and "排涝泵车" in proposed and "沙袋" in proposed, proposed[:500]
        j.shot(f"调派方案-{incident}")
        with j.step("确认调派"):
            j.button("确认调派")
        j.see("调派已确认：2 支队伍/装备、1 项物资")
        j.see("出动队伍实时状态")
        assert "暂无出动队伍" not in j.text()
        j.shot(f"已调派-{incident}")
        # Released at the end of the response: units stand down, stock goes back.
        release = j.main.locator("[data-testid=stExpander]").filter(has_text="释放资源（处置结束）").first
        with j.step("展开「释放资源」", kind="input", run=False):
            release.locator("summary").first.click()
        with j.step("释放全部调派"):
            release.get_by_role("button", name="释放全部调派").click()
        j.see("已释放：队伍")
        heading.wait_for()  # still on the same incident
        j.shot(f"已释放-{incident}")
        assert j.main.locator("[data-testid=stExpander]").filter(has_text="释放资源（处置结束）").count() == 0


# -------------------------------------------------------------------------------------------------------
def _heading(j: Journey) -> str:
    return j.main.locator("h3").first.inner_text()


def _query(j: Journey) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(j.page.url).query).items()}


def test_leader_drills_down_and_shares_the_view(day, jbrowser):
    with session_scope(get_engine(day.db_url), readonly=True) as s:
        city = s.scalars(select(Region).where(Region.level == "city")).one()
        district = s.get(Region, "440902")
        street = s.scalars(select(Region).where(Region.level == "street", Region.parent_code == district.code)
                           .order_by(Region.code)).first()
        city_bbox = tuple(float(v) for v in city.bbox.split(","))
        names = (city.name, district.name, street.name)
        target = (district.centroid_lon, district.centroid_lat)
    with Journey(jbrowser, day.url, "7-领导下钻分享", LAPTOP) as j:
        sidebar = j.page.locator("[data-testid=stSidebar]")
        j.sign_in("lingdao")
        j.see("重点事项")
        with j.step("统计期", kind="page"):
            j.choose("统计期", "2026年10月", scope=sidebar)
        assert _heading(j) == f"{names[0]} · 2026年10月", _heading(j)
        assert _query(j).get("period") == "2026-10", j.page.url
        j.shot("全市-2026年10月")
        if NO_WEBGL:  # no map to click: the picker under the breadcrumb
            with j.step("下钻到区县", kind="page"):
                j.choose("下钻到区县", names[1], scope=sidebar)
        else:  # a click on the district on the map (the map is drawn at 820×560 around the city's bbox)
            chart = j.main.locator("[data-testid=stDeckGlJsonChart]").first
            chart.locator("canvas").first.wait_for()
            view = view_for_bbox(city_bbox, 820, 560, margin=0.08)
            j.map_click("地图点击区县", *map_point(*target, view, chart.bounding_box()), kind="page")
        j.main.locator("h3").filter(has_text=names[1]).first.wait_for()
        assert _heading(j) == f"{names[0]} › {names[1]} · 2026年10月", _heading(j)
        q = _query(j)
        assert q.get("region") == district.code and q.get("period") == "2026-10", j.page.url  # period kept
        j.shot(f"区县-{names[1]}")
        with j.step("下钻到街道", kind="page"):
            j.choose("下钻到街道/镇", names[2], scope=sidebar)
        j.main.locator("h3").filter(has_text=names[2]).first.wait_for()
        shown = _heading(j)
        assert shown == f"{names[0]} › {names[1]} › {names[2]} · 2026年10月", shown
        q = _query(j)
        assert q.get("region") == street.code and q.get("period") == "2026-10", j.page.url
        j.shot(f"街道-{names[2]}")
        link = j.page.url  # what the leader copies from the address bar
        # The breadcrumb goes back up a level.
        with j.step("面包屑回到区县", kind="page"):
            sidebar.get_by_role("button", name=names[1], exact=True).click()
        j.main.locator("h3").filter(has_text=f"{names[1]} · ").first.wait_for()
        assert _query(j).get("region") == district.code and _query(j).get("period") == "2026-10", j.page.url
    # Opened in a fresh browser context: sign-in first, then the same view and period.
    with Journey(jbrowser, day.url, "7-领导打开分享链接", LAPTOP) as j:
        j.sign_in("lingdao", at=link)
        j.main.locator("h3").filter(has_text=names[2]).first.wait_for()
        assert _heading(j) == shown, (_heading(j), shown)
        q = _query(j)
        assert q.get("region") == street.code and q.get("period") == "2026-10", j.page.url
        assert j.chosen("统计期", scope=j.page.locator("[data-testid=stSidebar]")) == "2026年10月"
        j.shot(f"分享链接-{names[2]}")
