"""Scoped, masked reads: a department sees only its cases, a grid officer only their grid, personal data
is masked for roles without view_personal; evaluation figures sum the rollup."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from events import queries as Q
from events import workflow
from store.db import session_scope
from store.period import Period
from store.scope import PermissionDenied, Viewer
from tests.test_events_support import (
    CITY_CGJ, DUTY, GRID_OFFICER, LEADER, OTHER_POINT, STREET_OFFICE, T0, dept, drive, new_case, prepare,
)


@pytest.fixture
def cases(city_engine):
    """Three cases: A at the test grid dispatched to the street office, B elsewhere dispatched to the city
    城管局, C at the test grid still waiting to be registered (a hotline case with personal data)."""
    prepare(city_engine)
    with session_scope(city_engine) as s:
        a = new_case(s)
        drive(s, a.id, "handling")
        b = new_case(s, point=OTHER_POINT, category="宣传广告", subcategory="占道广告牌")
        t = drive(s, b.id, "registered")
        workflow.transition(s, b.id, "dispatch", DUTY, department_code=CITY_CGJ, now=t + timedelta(minutes=5))
        c = new_case(s, source="12345", source_id="H-9", reporter_name="欧阳娜娜", reporter_phone="13812341234",
                     reporter_id_no="11010519491231002X")
        ids = a.id, b.id, c.id
    return city_engine, ids


def _ids(page) -> set[int]:  # noqa: ANN001
    return {r["id"] for r in page.rows}


def test_department_sees_only_its_cases(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        assert _ids(Q.department_cases(s, dept(STREET_OFFICE))) == {a}
        assert _ids(Q.department_cases(s, dept(CITY_CGJ))) == {b}
        assert _ids(Q.case_list(s, dept(CITY_CGJ))) == {b}  # even without a status filter
        assert _ids(Q.department_cases(s, Viewer("x", "department", "440900"))) == set()
        with pytest.raises(PermissionDenied):
            Q.case_detail(s, dept(CITY_CGJ), a)
        points, total = Q.map_points(s, dept(CITY_CGJ))
        assert set(points["id"]) == {b} and total == 1


def test_grid_officer_sees_only_the_grid(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        assert _ids(Q.grid_cases(s, GRID_OFFICER)) == {a, c}
        with pytest.raises(PermissionDenied):
            Q.case_detail(s, GRID_OFFICER, b)
        with pytest.raises(PermissionDenied):
            Q.case_list(s, GRID_OFFICER, region="440904")
        counts = Q.status_counts(s, GRID_OFFICER)
        assert counts["handling"] == 1 and counts["reported"] == 1 and counts["dispatched"] == 0
        assert set(Q.zone_grids(s, GRID_OFFICER)["code"]) == {GRID_OFFICER.zone_code}


def test_duty_officer_queue_is_sorted_by_deadline_and_filters(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        everything = Q.case_list(s, DUTY, statuses=workflow.OPEN_STATUSES)
        assert _ids(everything) == {a, b, c}
        deadlines = [r["deadline"] for r in everything.rows]
        assert deadlines == sorted(deadlines)
        assert _ids(Q.queue(s, DUTY)) == {c}
        assert _ids(Q.case_list(s, DUTY, statuses=workflow.OPEN_STATUSES, source="12345")) == {c}
        assert _ids(Q.case_list(s, DUTY, statuses=workflow.OPEN_STATUSES, category="宣传广告")) == {b}
        assert _ids(Q.case_list(s, DUTY, statuses=workflow.OPEN_STATUSES, region="440904")) == {b}
        assert _ids(Q.case_list(s, DUTY, search=f"#{a}")) == {a}
        page = Q.case_list(s, DUTY, statuses=workflow.OPEN_STATUSES, page_size=2, page=2)
        assert page.total == 3 and page.pages == 2 and len(page.rows) == 1
        late = T0 + timedelta(days=30)
        assert _ids(Q.case_list(s, DUTY, statuses=workflow.OPEN_STATUSES, deadline="overdue", now=late)) == {a, b, c}
        assert Q.status_counts(s, DUTY, now=late)["overdue"] == 3


@pytest.mark.parametrize("viewer,masked", [(DUTY, False), (LEADER, True), (GRID_OFFICER, True)])
def test_personal_data_masking(cases, viewer, masked):
    engine, (_a, _b, c) = cases
    with session_scope(engine, readonly=True) as s:
        detail = Q.case_detail(s, viewer, c)
    if masked:
        assert (detail["reporter_name"], detail["reporter_phone"], detail["reporter_id_no"]) == \
            ("欧阳**", "138****1234", "110105********002X")
    else:
        assert (detail["reporter_name"], detail["reporter_phone"]) == ("欧阳娜娜", "13812341234")


def test_case_detail_has_timeline_actions_and_suggestion(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        detail = Q.case_detail(s, DUTY, c, now=T0)
        assert [x["id"] for x in detail["actions"]] == ["register", "reject"]
        assert detail["timeline"][0]["action"] == "上报"
        with_dept = Q.case_detail(s, dept(STREET_OFFICE), a, now=T0)
        assert [x["label"] for x in with_dept["actions"]] == ["处置反馈", "退回", "延期申请", "挂账申请"]
        assert [t["action"] for t in with_dept["timeline"]] == ["上报", "立案", "派遣", "签收"]
        assert "派往 " in with_dept["timeline"][2]["note"]
        assert with_dept["department"].endswith("办事处")
    with session_scope(engine) as s:
        workflow.transition(s, c, "register", DUTY, now=T0 + timedelta(minutes=3))
    with session_scope(engine, readonly=True) as s:
        detail = Q.case_detail(s, DUTY, c, now=T0)
        assert detail["suggestion"]["code"] == STREET_OFFICE
        assert any(d["code"] == CITY_CGJ for d in detail["department_options"])


def test_evaluation_figures_from_the_rollup(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        figures = Q.evaluation(s, DUTY, "440900", Period(date(2026, 11, 1), date(2026, 11, 30), "month"))
        assert (figures["reported"], figures["registered"], figures["dispatched"]) == (3, 2, 2)
        assert figures["register_rate"] == 100.0 and figures["dispatch_on_time_rate"] == 100.0
        west = Q.evaluation(s, DUTY, "440902", Period(date(2026, 11, 1), date(2026, 11, 30), "month"))
        assert west["reported"] == 2
        with pytest.raises(PermissionDenied):
            Q.evaluation(s, GRID_OFFICER, "440904", Period(date(2026, 11, 1), date(2026, 11, 30), "month"))


def test_location_lattice_stays_inside_the_zone(cases):
    engine, _ = cases
    with session_scope(engine, readonly=True) as s:
        grids = Q.zone_grids(s, GRID_OFFICER)
    lattice = Q.location_lattice(grids, max_points=400)
    assert 200 <= len(lattice) <= 500
    assert lattice["lon"].between(110.0, 110.5).all() and lattice["lat"].between(21.75, 22.0).all()
    assert set(lattice["grid_code"]) == {GRID_OFFICER.zone_code}
