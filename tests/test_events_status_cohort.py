"""event_status_cohort (events.status_cohort): a case counts once, on its report day, under the status it
has now — through intake, every workflow step, a rework, a merge into another case and a rebuild, on
both backends; and a corrupted row is found by the consistency check every rollup test runs."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from events import rollup, status_cohort, workflow
from store.db import session_scope
from store.models import EventStatusCohort
from tests.test_events_support import DUTY, GRID, GRID_OFFICER, STREET_OFFICE, T0, dept, drive, new_case, prepare

DISTRICT = GRID[:6]


def _kept(session) -> dict:  # noqa: ANN001
    t = EventStatusCohort
    rows = session.execute(select(t.status, t.cases).where(t.district_code == DISTRICT, t.cases != 0)).all()
    return {status: cases for status, cases in rows}


def test_each_case_sits_under_its_current_status(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        a, b, c = (new_case(s, actor=GRID_OFFICER, source="网格员") for _ in range(3))
        ids = a.id, b.id, c.id
    with session_scope(city_engine, readonly=True) as s:
        assert _kept(s) == {"reported": 3}
    with session_scope(city_engine) as s:
        drive(s, ids[0], "closed")
        drive(s, ids[1], "handling")
        workflow.transition(s, ids[2], "reject", DUTY, "不属于受理范围", now=T0 + timedelta(hours=3))
    with session_scope(city_engine, readonly=True) as s:
        assert _kept(s) == {"closed": 1, "handling": 1, "rejected": 1}
        assert rollup.district_differences(s).empty
        # The read a screen makes: this day's reports of the district, by status.
        day = T0.astimezone(rollup.local_tz()).date()
        got = {(code, st): n for code, st, n in s.execute(
            status_cohort.counts(day, day + timedelta(days=1), EventStatusCohort.city_code == "440900"))}
        assert got == {(DISTRICT, "closed"): 1, (DISTRICT, "handling"): 1, (DISTRICT, "rejected"): 1}


def test_merge_and_rework_move_the_case(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        original = new_case(s, actor=GRID_OFFICER, source="网格员")
        repeat = new_case(s, actor=GRID_OFFICER, source="网格员", reported_at=T0 + timedelta(minutes=5))
        ids = original.id, repeat.id
    with session_scope(city_engine) as s:
        t = T0 + timedelta(minutes=30)
        workflow.transition(s, ids[1], "merge", DUTY, "同一处垃圾", now=t, duplicate_of=ids[0])
        for action, who, kw in (("register", DUTY, {}), ("dispatch", DUTY, {"department_code": STREET_OFFICE}),
                                ("accept", dept(), {}), ("feedback", dept(), {}),
                                ("verify_fail", GRID_OFFICER, {}), ("rework", DUTY, {})):
            t += timedelta(minutes=10)
            workflow.transition(s, ids[0], action, who, "意见", now=t, **kw)
    with session_scope(city_engine, readonly=True) as s:
        assert _kept(s) == {"duplicate": 1, "handling": 1}
        assert rollup.district_differences(s).empty


def test_rebuild_repairs_and_the_check_finds_a_bad_row(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        for _ in range(2):
            new_case(s, actor=GRID_OFFICER, source="网格员")
    with session_scope(city_engine) as s:
        s.execute(update(EventStatusCohort).values(cases=EventStatusCohort.cases + 5))
    with session_scope(city_engine, readonly=True) as s:
        bad = status_cohort.differences(s)
        assert list(bad["kept"]) == [7.0] and list(bad["recount"]) == [2.0]
        assert not rollup.district_differences(s).empty
    with session_scope(city_engine) as s:
        assert status_cohort.rebuild(s) == 1
    with session_scope(city_engine, readonly=True) as s:
        assert _kept(s) == {"reported": 2} and status_cohort.differences(s).empty
