"""AppTest of the three case pages as each role that uses them: the whole loop through the UI (report on
我的网格 → 立案/派遣 on 指挥调度 → 签收/反馈 with a photo on 部门处置 → 核查 on 我的网格 → 结案), two dispatchers
on one case (one wins, the other is told who), a leader who may approve 挂账 but not dispatch."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

import indicators
import settings
from events import workflow
from events import actions
from events.actions import batch_transition
from events.views import EventViews
from geo import crs
from store.db import dispose_engines, session_scope
from store.models import Event
from store.period import Period
from store.scope import Viewer
from tests.test_events_support import (
    DUTY, DUTY2, GRID_OFFICER, LEADER, STREET_OFFICE, dept, drive, jpeg_bytes, mg, new_case, prepare,
)

PAGES = Path(__file__).resolve().parents[1] / "pages"


@pytest.fixture
def app_db(sqlite_city_engine, monkeypatch, tmp_path):
    prepare(sqlite_city_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CITYOPS_APP_UPLOAD_DIR", str(tmp_path / "uploads"))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sqlite_city_engine
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("CITYOPS_APP_UPLOAD_DIR")
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def _app(page: str, viewer: Viewer, case: int | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=60)
    at.session_state["viewer"] = viewer
    if case is not None:
        at.query_params["case"] = str(case)
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def _status(engine, eid: int) -> str:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.get(Event, eid).status


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.success, *at.warning, *at.error, *at.info])


def test_dispatch_console_register_and_dispatch(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s, source="12345", source_id="H-1", reporter_name="张三", reporter_phone="13812341234").id
    at = _app("dispatch.py", DUTY, eid)
    _ok(at)
    assert {m.label for m in at.metric} >= {"待立案", "待派遣", "已超期", "即将超期"}
    assert next(m for m in at.metric if m.label == "待立案").value == "1"
    assert any("13812341234" in m.value for m in at.markdown)  # duty officers may see personal data
    assert _labels(at)[:2] == ["立案", "不予立案"]
    at = _click(at, "立案")
    at = _click(at, "确认立案")
    _ok(at)
    assert _status(app_db, eid) == "registered"
    assert "已立案" in _messages(at)
    at = _click(at, "派遣")
    dept_box = next(sb for sb in at.selectbox if sb.label == "处置部门")
    assert dept_box.value == STREET_OFFICE  # the routing suggestion is preselected
    at = _click(at, "确认派遣")
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        e = s.get(Event, eid)
        assert (e.status, e.department_code) == ("dispatched", STREET_OFFICE)


def test_batch_register_keeps_the_chosen_cases_by_number_and_redraws_the_list(app_db):
    with session_scope(app_db) as s:
        ids = [new_case(s, title=f"批量{i}").id for i in range(3)]
        other = new_case(s, title="未选").id
    at = AppTest.from_file(str(PAGES / "dispatch.py"), default_timeout=60)
    at.session_state["viewer"] = DUTY
    at.session_state["dq_selected"] = ids
    at.run()
    _ok(at)
    assert "已选 3 件（待立案 3，待派遣 0）" in " ".join(m.value for m in at.markdown)
    at = _click(at, "批量立案（3 件）")
    _ok(at)
    assert "成功 3 件" in _messages(at)
    # Redrawn at once: the list shows the new state, and the same three cases (no other) stay chosen.
    assert "已选 3 件（待立案 0，待派遣 3）" in " ".join(m.value for m in at.markdown)
    assert sorted(at.session_state["dq_selected"]) == sorted(ids) and other not in at.session_state["dq_selected"]
    for i in ids:
        assert _status(app_db, i) == "registered"
    assert _status(app_db, other) == "reported"


def test_two_dispatchers_one_case(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s).id
        drive(s, eid, "registered")
    first, second = _app("dispatch.py", DUTY, eid), _app("dispatch.py", DUTY2, eid)
    first, second = _click(first, "派遣"), _click(second, "派遣")
    first = _click(first, "确认派遣")
    assert "已派遣" in _messages(first)
    second = _click(second, "确认派遣")
    _ok(second)
    message = _messages(second)
    assert "duty1" in message and "派遣" in message and "请刷新" in message, message
    with session_scope(app_db, readonly=True) as s:
        assert s.get(Event, eid).version == 3


def test_leader_sees_but_may_only_approve(app_db):
    with session_scope(app_db) as s:
        waiting = new_case(s).id
        hang = new_case(s).id
        drive(s, hang, "hang_requested")
    at = _app("dispatch.py", LEADER, waiting)
    _ok(at)
    assert "立案" not in _labels(at) and "派遣" not in _labels(at)
    assert not any("13812341234" in m.value for m in at.markdown)
    at = _app("dispatch.py", LEADER, hang)
    assert {"批准挂账", "驳回挂账"} <= set(_labels(at))
    at = _click(at, "批准挂账")
    at = _click(at, "确认批准挂账")
    _ok(at)
    assert _status(app_db, hang) == "hung"


def test_department_signs_and_feeds_back_with_a_photo(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s).id
        drive(s, eid, "dispatched")
    staff = dept()
    at = _app("department.py", staff)
    _ok(at)
    assert any("办事处" in m.value for m in at.markdown)
    assert {"签收", "处置反馈", "退回"} <= set(_labels(at))
    at = _click(at, "签收")
    at = _click(at, "确认签收")
    assert _status(app_db, eid) == "handling"
    at.button_group(key="dept_tab").set_value("处置中").run()
    _ok(at)
    at = _click(at, "处置反馈")
    at.file_uploader[0].set_value(("现场.jpg", jpeg_bytes(), "image/jpeg"))
    at.text_area[0].input("已清理完毕")
    at = _click(at, "确认处置反馈")
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        e = s.get(Event, eid)
        assert e.status == "handled" and len(e.photos) == 1 and e.photos[0]["name"] == "现场.jpg"


def test_department_feedback_without_comment_is_refused(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s).id
        drive(s, eid, "handling")
    at = _app("department.py", dept())
    at.button_group(key="dept_tab").set_value("处置中").run()
    at = _click(at, "处置反馈")
    at = _click(at, "确认处置反馈")
    assert "须填写处置情况" in _messages(at)
    assert _status(app_db, eid) == "handling"


def test_department_other_bureau_sees_nothing(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s).id
        drive(s, eid, "dispatched")
    at = _app("department.py", dept("CGJ"))
    _ok(at)
    assert "没有「待签收」的案件" in _messages(at)
    at = _app("department.py", Viewer("nobody", "department", "440900"))
    assert "未关联处置部门" in _messages(at)


def test_grid_officer_reports_with_typed_gcj02_and_verifies(app_db):
    at = _app("my_grid.py", GRID_OFFICER)
    _ok(at)
    assert any("在办案件 0" in m.value for m in at.markdown)
    glon, glat = crs.from_wgs84(110.2, 21.8, "gcj02")
    at.selectbox(key=mg(at, "category")).set_value("街面秩序").run()
    at.selectbox(key=mg(at, "subcategory")).set_value("占道经营").run()
    at.text_input(key=mg(at, "title")).input("菜市场门口占道")
    at.text_area(key=mg(at, "description")).input("早市摊位占用人行道")
    at.selectbox(key=mg(at, "crs")).set_value("gcj02")
    at.number_input(key=mg(at, "lon")).set_value(round(glon, 6))
    at.number_input(key=mg(at, "lat")).set_value(round(glat, 6))
    at = _click(at, "提交上报")
    _ok(at)
    assert "已上报" in _messages(at), _messages(at)
    with session_scope(app_db, readonly=True) as s:
        e = s.execute(select(Event)).scalar_one()
        assert (e.source, e.reporter_user, e.grid_code) == ("网格员", "g1", GRID_OFFICER.zone_code)
        assert e.lon == pytest.approx(110.2, abs=2e-6) and e.lat == pytest.approx(21.8, abs=2e-6)
        eid = e.id
    # outside the officer's grid (the form was emptied after the report: fill it again)
    at.selectbox(key=mg(at, "category")).set_value("街面秩序").run()
    at.selectbox(key=mg(at, "subcategory")).set_value("占道经营").run()
    at.text_area(key=mg(at, "description")).input("早市摊位占用人行道")
    at.number_input(key=mg(at, "lon")).set_value(111.9)
    at.number_input(key=mg(at, "lat")).set_value(21.1)
    at.selectbox(key=mg(at, "crs")).set_value("wgs84")
    at = _click(at, "提交上报")
    assert "不在您的管辖网格内" in _messages(at)
    # the case comes back for verification after the department's feedback
    with session_scope(app_db) as s:
        drive(s, eid, "handled")
    at = _app("my_grid.py", GRID_OFFICER)
    assert any("待核查 1" in m.value for m in at.markdown)
    at = _click(at, "核查通过")
    at = _click(at, "确认核查通过")
    _ok(at)
    assert _status(app_db, eid) == "verified"


def test_batch_dispatch_uses_each_suggestion(app_db):
    with session_scope(app_db) as s:
        ids = [new_case(s).id for _ in range(3)]
        for i in ids:
            drive(s, i, "registered")
        versions = [s.get(Event, i).version for i in ids]
    with session_scope(app_db) as s:  # a colleague takes the second one first
        workflow.transition(s, ids[1], "dispatch", DUTY2, department_code=STREET_OFFICE)
    results = batch_transition(app_db, DUTY, list(zip(ids, versions)), "dispatch")
    assert [r.ok for r in results] == [True, False, True]
    assert "duty2" in results[1].message
    with session_scope(app_db, readonly=True) as s:
        assert {s.get(Event, i).department_code for i in ids} == {STREET_OFFICE}


def test_a_transition_on_a_stale_version_says_who_was_first(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s).id
        drive(s, eid, "registered")
        version = s.get(Event, eid).version
    first = actions.transition(app_db, DUTY2, eid, "dispatch", version=version, department_code=STREET_OFFICE)
    assert first.ok and "已派遣" in first.message
    late = actions.transition(app_db, DUTY, eid, "dispatch", version=version, department_code=STREET_OFFICE)
    assert (late.ok, late.stale) == (False, True) and "duty2" in late.message
    refused = actions.transition(app_db, DUTY, eid, "close", version=version + 1)
    assert (refused.ok, refused.stale) == (False, False) and refused.message.startswith("操作未完成")


def test_the_whole_loop_through_the_pages(app_db):
    """Report on the phone view, register and dispatch on the console, sign and feed back in the
    department, verify in the grid, close on the console — then it shows in the timeline and the figures."""
    phone = _app("my_grid.py", GRID_OFFICER)
    phone.selectbox(key=mg(phone, "category")).set_value("市容环境").run()
    phone.selectbox(key=mg(phone, "subcategory")).set_value("暴露垃圾").run()
    phone.text_input(key=mg(phone, "title")).input("桥头垃圾堆积")
    phone.text_area(key=mg(phone, "description")).input("桥头两侧垃圾堆积，有异味")
    phone.number_input(key=mg(phone, "lon")).set_value(110.2)
    phone.number_input(key=mg(phone, "lat")).set_value(21.9)
    phone = _click(phone, "提交上报")
    assert "已上报" in _messages(phone)
    with session_scope(app_db, readonly=True) as s:
        eid = s.execute(select(Event.id)).scalar_one()

    console = _app("dispatch.py", DUTY, eid)
    console = _click(_click(console, "立案"), "确认立案")
    console = _click(_click(console, "派遣"), "确认派遣")
    assert _status(app_db, eid) == "dispatched"

    office = _app("department.py", dept())
    office = _click(_click(office, "签收"), "确认签收")
    office.button_group(key="dept_tab").set_value("处置中").run()
    office = _click(office, "处置反馈")
    office.text_area[0].input("垃圾已清运")
    office = _click(office, "确认处置反馈")
    assert _status(app_db, eid) == "handled"

    phone = _app("my_grid.py", GRID_OFFICER)
    phone = _click(_click(phone, "核查通过"), "确认核查通过")
    console = _app("dispatch.py", DUTY, eid)
    console = _click(_click(console, "结案"), "确认结案")
    _ok(console)
    assert _status(app_db, eid) == "closed"

    with session_scope(app_db, readonly=True) as s:
        views = EventViews(s, DUTY)
        detail = views.case_detail(eid)
        assert [t["action"] for t in detail["timeline"]] == ["上报", "立案", "派遣", "签收", "处置反馈", "核查通过", "结案"]
        points, _ = views.map_points(statuses=["closed"])
        assert points.loc[points["id"] == eid, "state"].item() == "closed"
    today = datetime.now(timezone.utc).astimezone(ZoneInfo("Asia/Shanghai")).date()
    # yesterday..today, so a run across local midnight still counts every step
    ids = ["cm_reported", "cm_registered", "cm_dispatched", "cm_handled", "cm_closed", "cm_close_rate"]
    results = indicators.compute_many(ids, "440900", Period(today - timedelta(days=1), today, "range"), DUTY,
                                      engine=app_db)
    assert [results[i].value for i in ids] == [1, 1, 1, 1, 1, 100.0]
