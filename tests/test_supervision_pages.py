"""AppTest of the new screens as each role: the duplicate warning on 我的网格's report form (link and
confirm), suspects on the dispatch console's case panel and the bulk merge, 督办研判 for leaders and the
duty room, 考核评价 for leaders, the duty room, a department and a grid officer (with the export)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from auth.roles import pages_for
from store.db import session_scope
from store.models import AuditEntry, Event, Supervision
from store.scope import Viewer
from supervision import actions as supervision_actions
from tests.test_events_pages import app_db  # noqa: F401 - the shared page fixture
from tests.test_events_support import (CITY_CGJ, DUTY, GRID, GRID_OFFICER, LEADER, POINT, STREET_OFFICE, dept, drive, mg,
                                       new_case)

PAGES = Path(__file__).resolve().parents[1] / "pages"
NEAR = (POINT[0], POINT[1] + 0.0002)


def _app(page: str, viewer: Viewer, **params) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=90)
    at.session_state["viewer"] = viewer
    for k, v in params.items():
        at.query_params[k] = str(v)
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _text(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.markdown, *at.caption, *at.success, *at.warning, *at.error, *at.info])


def _recent(hours: float = 1) -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=hours)


def _fill_report(at: AppTest) -> AppTest:
    at.selectbox(key=mg(at, "category")).set_value("市容环境").run()
    at.selectbox(key=mg(at, "subcategory")).set_value("暴露垃圾").run()
    at.text_area(key=mg(at, "description")).set_value("路口堆放垃圾")
    at.number_input(key=mg(at, "lon")).set_value(NEAR[0])
    at.number_input(key=mg(at, "lat")).set_value(NEAR[1])
    return at.run()


def test_pages_are_registered_for_the_roles():
    for role in ("leader", "duty_officer", "department", "grid_officer"):
        assert "pages/assessment.py" in {p.path for p in pages_for(role)}
    for role in ("leader", "duty_officer"):
        assert "pages/supervision_desk.py" in {p.path for p in pages_for(role)}
    assert "pages/supervision_desk.py" not in {p.path for p in pages_for("department")}


@pytest.mark.parametrize("answer", ["link", "new"])
def test_report_form_warns_of_duplicates_and_takes_the_answer(app_db, answer):
    with session_scope(app_db) as s:
        original = new_case(s, reported_at=_recent())
    at = _fill_report(_app("my_grid.py", GRID_OFFICER))
    _ok(at)
    assert "疑似重复" in _text(at) and "附近已有" in _text(at)
    radio = at.radio(key=mg(at, "dup") + "-answer")
    radio.set_value(original.id if answer == "link" else 0).run()
    next(b for b in at.button if b.label == "提交上报").click()
    at.run()
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        new = s.execute(select(Event).where(Event.id != original.id)).scalar_one()
    if answer == "link":
        assert (new.status, new.duplicate_of) == ("duplicate", original.id)
        assert "合并到在办案件" in _text(at)
    else:
        assert (new.status, new.duplicate_of, new.duplicate_suspects) == ("reported", None, None)


def test_no_warning_without_a_neighbour(app_db):
    at = _fill_report(_app("my_grid.py", GRID_OFFICER))
    _ok(at)
    assert "疑似重复" not in _text(at)


def test_dispatch_console_merges_a_suspect(app_db):
    with session_scope(app_db) as s:
        original = new_case(s, reported_at=_recent(2))
        suspect = new_case(s, point=NEAR, source="12345", reported_at=_recent(1))
        assert suspect.duplicate_suspects
    at = _app("dispatch.py", DUTY, case=suspect.id)
    _ok(at)
    assert "疑似重复上报（1 件待判定）" in [e.label for e in at.expander]
    next(b for b in at.button if b.label == "合并为重复").click()
    at.run()
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        assert s.get(Event, suspect.id).duplicate_of == original.id


@pytest.mark.parametrize("viewer", [LEADER, DUTY])
def test_supervision_desk(app_db, viewer):
    with session_scope(app_db) as s:
        late = new_case(s, reported_at=_recent(24 * 20))
        drive(s, late.id, "handling", start=_recent(24 * 20))
    assert supervision_actions.supervise_cases(app_db, DUTY, [late.id], level="city",
                                               deadline=datetime.now(timezone.utc) + timedelta(days=2),
                                               note="限期办结").ok
    supervision_actions.run_escalation(app_db)
    at = _app("supervision_desk.py", viewer)
    _ok(at)
    assert [t.label for t in at.tabs] == ["督办", "超期升级", "研判"]
    assert any(m.label == "在办督办件" and m.value == "1" for m in at.metric)
    assert "尚无研判结果" in _text(at)
    # The department's overdue list, at once.
    at.text_area(key=f"sv-dept-{STREET_OFFICE}-note").set_value("部门超期件集中督办")
    next(b for b in at.button if b.label == "挂牌督办").click()
    at.run()
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Supervision)) == 2


@pytest.mark.parametrize("viewer,tabs", [
    (LEADER, ["部门考核", "区县考核", "网格员考核"]),
    (DUTY, ["部门考核", "区县考核", "网格员考核"]),
    (dept(CITY_CGJ), ["部门考核"]),
    (GRID_OFFICER, ["网格员考核"]),
])
def test_assessment_page_as_each_role(app_db, viewer, tabs):
    with session_scope(app_db) as s:
        case = new_case(s, actor=GRID_OFFICER, source="网格员", reported_at=_recent(3))
        drive(s, case.id, "closed", start=_recent(3))
    at = _app("assessment.py", viewer, region=viewer.zone_code)
    _ok(at)
    assert [t.label for t in at.tabs] == tabs
    assert at.dataframe, "a ranking table"
    if viewer.role == "grid_officer":
        table = at.dataframe[0].value
        assert len(table) == 1 and table.iloc[0]["本单位"] == "★"
    if viewer.role == "department":
        table = at.dataframe[0].value
        assert (table["本单位"] == "★").sum() == 1 and len(table) > 1  # own row marked in the ranking
    next(b for b in at.button if b.label == "生成考核通报（Excel）").click()
    at.run()
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.object_type == "考核通报")) == 1


def test_assessment_drill_down_shows_the_cases(app_db):
    with session_scope(app_db) as s:
        case = new_case(s, actor=GRID_OFFICER, source="网格员", reported_at=_recent(3))
        drive(s, case.id, "closed", start=_recent(3))
    at = _app("assessment.py", LEADER)
    at.selectbox(key="as_drill_key_department").set_value(STREET_OFFICE).run()
    _ok(at)
    cases = [d.value for d in at.dataframe if "编号" in d.value.columns and "计入分子" in d.value.columns]
    assert cases and case.id in cases[0]["编号"].tolist()
    assert GRID  # the case's grid is the officer's
