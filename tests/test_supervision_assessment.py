"""考核评价 against hand-computed figures on a small fixture, on SQLite and PostgreSQL: the departments'
evaluation figures (from the department rollup and the cases), districts, grid officers, the weighted
score, the ranking, who sees which rows, the cases behind a figure and the 考核通报 workbook."""
from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from events import rollup, workflow
from situation import assessment as A
from store.db import session_scope
from store.models import AuditEntry, Department
from store.period import Period
from supervision import actions as supervision_actions
from supervision.scoring import load_schemes, scores, weighted_score
from tests.test_events_support import (CITY_CGJ, DUTY, GRID, GRID_OFFICER, LEADER, OTHER_POINT, STREET_OFFICE, T0,
                                       dept, drive, new_case, prepare)

NOV = Period.parse("2026-11")
NOW = T0 + timedelta(days=5)
B2_POINT = (OTHER_POINT[0] - 0.3, OTHER_POINT[1])  # another grid of district 440904


def _at(minutes: int):  # noqa: ANN202
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def fixture(city_engine):
    """Four cases in November 2026 (T0 = Monday 23rd, 09:00):
    a1, a2  grid officer's reports in 440902, street office: a1 closed on time; a2 handled three days late.
    b1      patrol case in 440904 to the city bureau: handled on time, failed verification, reworked,
            closed; under 市级督办 with a deadline a day later (kept).
    b2      12345 case in 440904 to the city bureau: handled on time, closed with satisfaction 3."""
    engine = city_engine
    prepare(engine)
    with session_scope(engine) as s:
        s.add(Department(code="EVIL", name="=1+1", kind="委办局", region_code="440900"))
        a1 = new_case(s, actor=GRID_OFFICER, source="网格员", reported_at=T0)
        drive(s, a1.id, "closed")
        a2 = new_case(s, actor=GRID_OFFICER, source="网格员", reported_at=T0)
        drive(s, a2.id, "handling")
        workflow.transition(s, a2.id, "feedback", dept(), "已清理", now=T0 + timedelta(days=3))
        b1 = new_case(s, point=OTHER_POINT, reported_at=T0)
        b2 = new_case(s, point=B2_POINT, source="12345", subcategory="道路不洁", reported_at=T0)
        for case in (b1, b2):
            workflow.transition(s, case.id, "register", DUTY, now=_at(10))
            workflow.transition(s, case.id, "dispatch", DUTY, now=_at(20), department_code=CITY_CGJ, reason="市局直办")
    assert supervision_actions.supervise_cases(engine, DUTY, [b1.id], level="city", deadline=T0 + timedelta(days=1),
                                               note="限一日办结", now=_at(25)).ok
    city = dept(CITY_CGJ)
    with session_scope(engine) as s:
        for action, who, minutes, kw in (("accept", city, 30, {}), ("feedback", city, 40, {}),
                                         ("verify_fail", DUTY, 50, {}), ("rework", DUTY, 60, {}),
                                         ("feedback", city, 70, {}), ("verify_pass", DUTY, 80, {}),
                                         ("close", DUTY, 90, {})):
            workflow.transition(s, b1.id, action, who, "意见", now=_at(minutes), **kw)
        workflow.transition(s, b2.id, "feedback", city, "已清扫", now=_at(30))
        workflow.transition(s, b2.id, "verify_pass", DUTY, now=_at(40))
        workflow.transition(s, b2.id, "close", DUTY, now=_at(50), satisfaction=3)
        assert rollup.differences(s).empty and rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty
    return engine, {"a1": a1.id, "a2": a2.id, "b1": b1.id, "b2": b2.id}


def _row(a: A.Assessment, key: str) -> dict:
    return a.table.set_index("key").loc[key].to_dict()


def test_departments_against_hand_computed_figures(fixture):
    engine, _ids = fixture
    a = A.assess(LEADER, "440900", NOV, "department", engine=engine, now=NOW)
    street = _row(a, STREET_OFFICE)
    assert (street["cm_handle_ontime_rate"], street["sv_handle_rate"], street["cm_rework_rate"],
            street["cm_close_rate"], street["sv_supervised_ontime_rate"], street["hl_satisfaction"]) == \
        (50.0, 100.0, 0.0, 50.0, None, None)
    # (25×50 + 20×100 + 15×(100−0) + 15×50) / (25 + 20 + 15 + 15): the two without data drop out.
    assert street["score"] == pytest.approx(73.33)
    city = _row(a, CITY_CGJ)
    assert (city["cm_handle_ontime_rate"], city["sv_handle_rate"], city["cm_rework_rate"], city["cm_close_rate"],
            city["sv_supervised_ontime_rate"], city["hl_satisfaction"]) == (100.0, 100.0, 50.0, 100.0, 100.0, 0.0)
    assert city["score"] == pytest.approx((25 * 100 + 20 * 100 + 15 * 50 + 15 * 100 + 15 * 100 + 10 * 0) / 100)
    assert (city["rank"], street["rank"]) == (1, 2)
    assert city["prev_score"] is None and city["rank_change"] is None  # October had nothing
    assert _row(a, "EVIL")["rank"] is None  # no figures, no place in the ranking
    assert list(a.table["key"][:2]) == [CITY_CGJ, STREET_OFFICE]


def test_districts_and_officers_against_hand_computed_figures(fixture):
    engine, _ids = fixture
    d = A.assess(DUTY, "440900", NOV, "district", engine=engine, now=NOW)
    west, east = _row(d, "440902"), _row(d, "440904")
    assert (west["cm_handle_ontime_rate"], west["sv_verify_ontime_rate"], west["cm_close_rate"]) == (50.0, 100.0, 50.0)
    assert west["score"] == pytest.approx(5750 / 75, abs=0.01)
    assert (east["cm_rework_rate"], east["sv_supervised_ontime_rate"], east["hl_satisfaction"],
            east["sv_verify_ontime_rate"]) == (50.0, 100.0, 0.0, 100.0)
    assert east["score"] == pytest.approx(85.0)
    assert (east["rank"], west["rank"]) == (1, 2)
    o = A.assess(LEADER, "440900", NOV, "officer", engine=engine, now=NOW)
    grid = _row(o, GRID)
    assert (grid["sv_officer_reports"], grid["sv_officer_valid_rate"], grid["sv_verify_ontime_rate"],
            grid["score"]) == (2.0, 100.0, 100.0, 100.0)


def test_who_sees_which_rows(fixture):
    engine, ids = fixture
    staff = dept(CITY_CGJ)
    assert A.subjects_for(staff) == ["department"] and A.subjects_for(GRID_OFFICER) == ["officer"]
    published = A.assess(staff, "440900", NOV, "department", engine=engine, now=NOW)
    assert _row(published, STREET_OFFICE)["score"] == pytest.approx(73.33)  # the ranking is published
    assert [k for k, own in zip(published.table["key"], published.table["own"]) if own] == [CITY_CGJ]
    own_cases = A.cases_behind(engine, staff, published, CITY_CGJ, "cm_handle_ontime_rate", now=NOW)
    assert sorted(c["id"] for c in own_cases) == sorted([ids["b1"], ids["b2"]])
    assert A.cases_behind(engine, staff, published, STREET_OFFICE, "cm_handle_ontime_rate", now=NOW) == []
    with pytest.raises(A.PermissionDenied):
        A.assess(staff, "440900", NOV, "district", engine=engine, now=NOW)
    mine = A.assess(GRID_OFFICER, GRID, NOV, "officer", engine=engine, now=NOW)
    assert list(mine.table["key"]) == [GRID] and bool(mine.table["own"].iloc[0])


def test_cases_behind_a_figure(fixture):
    engine, ids = fixture
    a = A.assess(LEADER, "440900", NOV, "department", engine=engine, now=NOW)
    behind = {c["id"]: c["counted"] for c in A.cases_behind(engine, LEADER, a, STREET_OFFICE,
                                                             "cm_handle_ontime_rate", now=NOW)}
    assert behind == {ids["a1"]: True, ids["a2"]: False}  # handled in November; on time or not
    rework = {c["id"]: c["counted"] for c in A.cases_behind(engine, LEADER, a, CITY_CGJ, "cm_rework_rate", now=NOW)}
    assert rework == {ids["b1"]: True, ids["b2"]: False}
    d = A.assess(LEADER, "440900", NOV, "district", engine=engine, now=NOW)
    east = A.cases_behind(engine, LEADER, d, "440904", "hl_satisfaction", now=NOW)
    assert [(c["id"], c["counted"]) for c in east] == [(ids["b2"], False)]


def test_the_weights_are_data_and_valid():
    schemes = load_schemes()
    assert set(schemes) == {"department", "district", "officer"}
    assert schemes["department"].ids[:2] == ["cm_handle_ontime_rate", "sv_handle_rate"]
    assert all(w.weight >= 0 for s in schemes.values() for w in s.indicators)


def test_quarters_and_their_previous():
    q4 = A.quarter(2026, 4)
    assert (q4.start.isoformat(), q4.end.isoformat()) == ("2026-10-01", "2026-12-31") and A.is_quarter(q4)
    assert A.previous(q4) == A.quarter(2026, 3) and A.previous(A.quarter(2027, 1)) == q4
    assert A.period_label(q4) == "2026年第4季度"


def test_the_report_workbook(fixture):
    engine, _ids = fixture
    rankings = [A.assess(LEADER, "440900", NOV, s, engine=engine, now=NOW) for s in A.subjects_for(LEADER)]
    data = A.report_workbook(engine, LEADER, rankings, scope_name="茂名市")
    wb = load_workbook(BytesIO(data))
    assert wb.sheetnames == ["部门排名", "区县排名", "网格员排名"]
    ws = wb["部门排名"]
    assert "2026年11月" in ws["A1"].value and "考核通报" in ws["A1"].value
    assert "统计期" in ws["A2"].value and "生成" in ws["A2"].value
    rows = {ws.cell(row=r, column=3).value: r for r in range(4, ws.max_row + 1)}
    assert ws.cell(row=rows[dict(zip(rankings[0].table["key"], rankings[0].table["name"]))[CITY_CGJ]],
                   column=1).value == 1
    evil = ws.cell(row=rows["=1+1"], column=3)
    assert evil.value == "=1+1" and evil.data_type == "s"  # a value, never a formula
    assert not any(isinstance(c.value, str) and c.data_type == "f" for row in ws.iter_rows() for c in row)
    with session_scope(engine, readonly=True) as s:
        audit = s.execute(select(AuditEntry).where(AuditEntry.action == "export")).scalar_one()
        assert audit.object_type == "考核通报" and audit.detail["rankings"] == ["department", "district", "officer"]
    with pytest.raises(A.PermissionDenied):
        A.report_workbook(engine, A.Viewer("w", "wall_display", "440900"), rankings)


def test_vectorised_scores_match_the_definition():
    scheme = load_schemes()["district"]
    lower = {i: i in ("cm_rework_rate", "sv_duplicate_rate") for i in scheme.ids}
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({i: [None if rng.random() < 0.3 else float(v) for v in rng.uniform(0, 110, 50)]
                          for i in scheme.ids}, dtype=object)
    expected = [weighted_score(dict(row), scheme, lower) for row in frame.to_dict("records")]
    got = list(scores(frame, scheme, lower))
    assert all((a is None and b is None) or abs(a - b) < 1e-9 for a, b in zip(got, expected)), (got, expected)
    assert any(v is not None for v in got)
