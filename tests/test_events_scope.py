"""Scoped, masked reads through the events read face: a department sees only its cases, a grid officer only
their grid, personal data is masked for roles without view_personal; the evaluation figures come from the
indicator library (one definition of each cm_* figure)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

import indicators
from events import workflow
from events.grids import location_lattice
from events.views import EventViews
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
        assert _ids(EventViews(s, dept(STREET_OFFICE)).department_cases()) == {a}
        assert _ids(EventViews(s, dept(CITY_CGJ)).department_cases()) == {b}
        assert _ids(EventViews(s, dept(CITY_CGJ)).case_list()) == {b}  # even without a status filter
        assert _ids(EventViews(s, Viewer("x", "department", "440900")).department_cases()) == set()
        with pytest.raises(PermissionDenied):
            EventViews(s, dept(CITY_CGJ)).case_detail(a)
        points, total = EventViews(s, dept(CITY_CGJ)).map_points()
        assert set(points["id"]) == {b} and total == 1


def test_grid_officer_sees_only_the_grid(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        assert _ids(EventViews(s, GRID_OFFICER).grid_cases()) == {a, c}
        with pytest.raises(PermissionDenied):
            EventViews(s, GRID_OFFICER).case_detail(b)
        with pytest.raises(PermissionDenied):
            EventViews(s, GRID_OFFICER).case_list(region="440904")
        counts = EventViews(s, GRID_OFFICER).status_counts()
        assert counts["handling"] == 1 and counts["reported"] == 1 and counts["dispatched"] == 0
        assert set(EventViews(s, GRID_OFFICER).zone_grids()["code"]) == {GRID_OFFICER.zone_code}
        assert {r["id"] for r in EventViews(s, GRID_OFFICER).newest()} == {a, c}


def test_duty_officer_queue_is_sorted_by_deadline_and_filters(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        v = EventViews(s, DUTY)
        everything = v.case_list(statuses=workflow.OPEN_STATUSES)
        assert _ids(everything) == {a, b, c}
        deadlines = [r["deadline"] for r in everything.rows]
        assert deadlines == sorted(deadlines)
        assert _ids(v.queue()) == {c}
        assert _ids(v.case_list(statuses=workflow.OPEN_STATUSES, source="12345")) == {c}
        assert _ids(v.case_list(statuses=workflow.OPEN_STATUSES, category="宣传广告")) == {b}
        assert _ids(v.case_list(statuses=workflow.OPEN_STATUSES, region="440904")) == {b}
        assert _ids(v.case_list(search=f"#{a}")) == {a}
        page = v.case_list(statuses=workflow.OPEN_STATUSES, page_size=2, page=2)
        assert page.total == 3 and page.pages == 2 and len(page.rows) == 1
        late = T0 + timedelta(days=30)
        assert _ids(v.case_list(statuses=workflow.OPEN_STATUSES, deadline="overdue", now=late)) == {a, b, c}
        assert v.status_counts(now=late)["overdue"] == 3


@pytest.mark.parametrize("viewer,masked", [(DUTY, False), (LEADER, True), (GRID_OFFICER, True)])
def test_personal_data_masking(cases, viewer, masked):
    engine, (_a, _b, c) = cases
    with session_scope(engine, readonly=True) as s:
        detail = EventViews(s, viewer).case_detail(c)
    if masked:
        assert (detail["reporter_name"], detail["reporter_phone"], detail["reporter_id_no"]) == \
            ("欧阳**", "138****1234", "110105********002X")
    else:
        assert (detail["reporter_name"], detail["reporter_phone"]) == ("欧阳娜娜", "13812341234")


def test_case_detail_has_timeline_actions_and_suggestion(cases):
    engine, (a, b, c) = cases
    with session_scope(engine, readonly=True) as s:
        detail = EventViews(s, DUTY).case_detail(c, now=T0)
        assert [x["id"] for x in detail["actions"]] == ["register", "reject", "merge"]
        assert detail["timeline"][0]["action"] == "上报"
        with_dept = EventViews(s, dept(STREET_OFFICE)).case_detail(a, now=T0)
        assert [x["label"] for x in with_dept["actions"]] == ["处置反馈", "退回", "延期申请", "挂账申请"]
        assert [t["action"] for t in with_dept["timeline"]] == ["上报", "立案", "派遣", "签收"]
        assert "派往 " in with_dept["timeline"][2]["note"]
        assert with_dept["department"].endswith("办事处")
    with session_scope(engine) as s:
        workflow.transition(s, c, "register", DUTY, now=T0 + timedelta(minutes=3))
    with session_scope(engine, readonly=True) as s:
        detail = EventViews(s, DUTY).case_detail(c, now=T0)
        assert detail["suggestion"]["code"] == STREET_OFFICE
        assert any(d["code"] == CITY_CGJ for d in detail["department_options"])


def test_evaluation_figures_from_the_indicator_library(cases):
    """The case pages' evaluation figures are the library's cm_* indicators, computed by the engine."""
    engine, (a, b, c) = cases
    november = Period(date(2026, 11, 1), date(2026, 11, 30), "month")
    ids = ["cm_reported", "cm_registered", "cm_dispatched", "cm_register_rate", "cm_dispatch_ontime_rate"]
    later = T0 + timedelta(days=60)
    figures = {k: r.value for k, r in indicators.compute_many(ids, "440900", november, DUTY, engine=engine,
                                                               now=later).items()}
    assert (figures["cm_reported"], figures["cm_registered"], figures["cm_dispatched"]) == (3, 2, 2)
    # 立案率 by report cohort: of the three reported in November, two are registered and one still waits.
    assert figures["cm_register_rate"] == pytest.approx(200 / 3)
    assert figures["cm_dispatch_ontime_rate"] == 100.0
    west = indicators.compute("cm_reported", "440902", november, DUTY, engine=engine, now=later)
    assert west.value == 2
    with pytest.raises(PermissionDenied):
        indicators.compute("cm_reported", "440904", november, GRID_OFFICER, engine=engine, now=later)


def test_department_figures_are_its_own(cases):
    engine, (a, b, c) = cases
    november = Period(date(2026, 11, 1), date(2026, 11, 30), "month")
    with session_scope(engine, readonly=True) as s:
        street = EventViews(s, dept(STREET_OFFICE)).department_figures(november, now=T0)
        city = EventViews(s, dept(CITY_CGJ)).department_figures(november, now=T0 + timedelta(days=30))
    assert (street["open"], street["handled"], street["handle_on_time_rate"]) == (1, 0, None)
    assert (city["open"], city["overdue"]) == (1, 1)


def test_location_lattice_stays_inside_the_zone(cases):
    engine, _ = cases
    with session_scope(engine, readonly=True) as s:
        grids = EventViews(s, GRID_OFFICER).zone_grids()
    lattice = location_lattice(grids, max_points=400)
    assert 200 <= len(lattice) <= 500
    assert lattice["lon"].between(110.0, 110.5).all() and lattice["lat"].between(21.75, 22.0).all()
    assert set(lattice["grid_code"]) == {GRID_OFFICER.zone_code}
