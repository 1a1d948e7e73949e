"""The department rollup (event_department_daily): every milestone counts for the department the case was
with when it happened, kept by the writes and equal to its recount from the cases and their log after
every path of the workflow, a return, a re-dispatch after a rework and a merged duplicate — on SQLite
and PostgreSQL — while the grid and district rollups stay consistent too."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from events import duplicates, rollup, workflow
from store.db import session_scope
from store.models import EventDepartmentDaily
from tests.test_events_support import CITY_CGJ, DUTY, PATHS, STREET_OFFICE, T0, dept, drive, new_case, prepare


def _sum(s, department: str, column: str) -> int:  # noqa: ANN001
    d = EventDepartmentDaily
    return int(s.scalar(select(func.coalesce(func.sum(getattr(d, column)), 0))
                        .where(d.department_code == department)) or 0)


def test_department_rollup_follows_the_department_of_each_milestone(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        for status in PATHS:
            drive(s, new_case(s, reported_at=T0).id, status)
        # Returned by the street office, re-dispatched to the city bureau, handled there, reworked, then
        # re-dispatched back to the street office, which feeds back again.
        moved = new_case(s, reported_at=T0)
        t = drive(s, moved.id, "dispatched")
        step = timedelta(minutes=10)
        city, street = dept(CITY_CGJ), dept(STREET_OFFICE)
        for action, who, kw in (("return", street, {}), ("dispatch", DUTY, {"department_code": CITY_CGJ,
                                                                           "reason": "市局直办"}),
                                ("accept", city, {}), ("feedback", city, {}), ("rework", DUTY, {}),
                                ("redispatch", DUTY, {"department_code": STREET_OFFICE}),
                                ("feedback", street, {})):
            t += step
            workflow.transition(s, moved.id, action, who, "意见", now=t, **kw)
        original = new_case(s, reported_at=T0)
        repeat = new_case(s, reported_at=T0 + timedelta(hours=1))
        duplicates.link(s, repeat.id, original.id, DUTY, now=T0 + timedelta(hours=2))
    with session_scope(city_engine, readonly=True) as s:
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty
        # The moved case: first dispatch to the street office, first feedback by the city bureau, the
        # rework while with the city bureau.
        assert _sum(s, CITY_CGJ, "handled") == 1 and _sum(s, CITY_CGJ, "reworked") == 1
        assert _sum(s, CITY_CGJ, "dispatched") == 0
        reported = int(s.scalar(select(func.sum(EventDepartmentDaily.reported))))
        # One per path (the duplicate path merges its case into one made on the way), the moved case, the
        # original; the repeat merged into it is not a report of its own.
        assert reported == len(PATHS) + 2
    with session_scope(city_engine) as s:
        kept = rollup.department_differences(s)
        rollup.rebuild_department(s)
        assert kept.empty and rollup.department_differences(s).empty
