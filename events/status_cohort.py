"""Where the cases reported on a day stand now: event_status_cohort, cases per local report day ×
district × current status (store.models.EventStatusCohort).

The flow rollups (events.rollup) count milestones on the days they happen; they cannot say how many of a
month's reports are still 待派遣 or 处置中 today, because a status is a state, not a flow. This table can:
a case counts once, on its report day, under the status it has now, so every write that creates a case or
changes its status or its district moves it:

  a new case (intake, API, exchange)       `add(event)`
  a workflow step that changes the status  `move(snapshot before, event after)`: −1 old row, +1 new row
  a case placed into another district      the same move around the placement
  a staged import or a bulk load           `add_from` / `rebuild`: set-based over the new cases

Counts are added with events.rollup's upsert (INSERT … ON CONFLICT DO UPDATE, rows in key order), so
concurrent writers on PostgreSQL add up instead of colliding or deadlocking. `grouped` defines the table
from the cases; `differences` compares the two (events.rollup.district_differences includes it, so every
test that checks the rollups after its writes checks this table too).
"""
from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Select, delete, func, literal_column, select, true
from sqlalchemy.orm import Session

from events import rollup
from store.frames import rows_frame
from store.models import Event, EventStatusCohort

KEY = ("day", "city_code", "district_code", "status")


def _add(session: Session, rows: list[dict]) -> None:
    rollup._add(session, EventStatusCohort, KEY, rows, summed=("cases",))


def _day(event: Event) -> date:
    return event.reported_at.astimezone(rollup.local_tz()).date()


def add(session: Session, event: Event) -> None:
    """Count a new case on its report day, district and status."""
    _add(session, [{"day": _day(event), **snapshot(event), "cases": 1}])


def move(session: Session, before: dict, event: Event) -> None:
    """Move a case from the row it was on (`before`: snapshot() taken before the write) to the row it is
    on now; nothing when neither its status nor its district changed."""
    now = snapshot(event)
    if now != before:
        _add(session, [{"day": _day(event), **before, "cases": -1}, {"day": _day(event), **now, "cases": 1}])


def snapshot(event: Event) -> dict:
    """What places a case in the table besides its report day (which never changes)."""
    return {"city_code": event.city_code, "district_code": event.district_code or "", "status": event.status}


def grouped(session: Session, cases) -> Select:  # noqa: ANN001 - a table or subquery with the case columns
    """SELECT day, city_code, district_code, status, count(*) over `cases` (the events table, or a staged
    copy of new cases), grouped by the table's key."""
    c = cases.c
    cols = [rollup._sql_local_day(session, c.reported_at).label("day"), c.city_code.label("city_code"),
            func.coalesce(c.district_code, literal_column("''")).label("district_code"), c.status.label("status")]
    return select(*cols, func.count().label("cases")).group_by(*cols)


def add_from(session: Session, cases) -> None:  # noqa: ANN001
    """Add the cases of `cases` (a table with the case columns) to the table in one set-based upsert."""
    src = grouped(session, cases).subquery()
    table = EventStatusCohort.__table__
    # WHERE true: SQLite reads ON CONFLICT after INSERT … SELECT as the upsert clause only with a WHERE.
    body = select(*[src.c[k] for k in (*KEY, "cases")]).where(true()).order_by(*[src.c[k] for k in KEY])
    stmt = rollup._upsert(session, table).from_select([*KEY, "cases"], body)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c[k] for k in KEY],
                                               set_={"cases": table.c.cases + stmt.excluded.cases}))


def rebuild(session: Session) -> int:
    """Replace the table with a recount from the cases (after a bulk load, or as a repair)."""
    session.execute(delete(EventStatusCohort))
    session.execute(EventStatusCohort.__table__.insert().from_select(
        [*KEY, "cases"], grouped(session, Event.__table__)))
    return session.scalar(select(func.count()).select_from(EventStatusCohort)) or 0


def _frame(session: Session, stmt) -> pd.Series:  # noqa: ANN001
    df = rows_frame(session.execute(stmt).all(), columns=[*KEY, "cases"])
    if df.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=list(KEY)), name="cases")
    df["day"] = pd.to_datetime(df["day"]).dt.date
    out = df.groupby(list(KEY))["cases"].sum().astype(float)
    return out[out != 0].sort_index()


def differences(session: Session) -> pd.DataFrame:
    """Rows where the kept table and the recount from the cases disagree (empty = consistent)."""
    t = EventStatusCohort
    kept = _frame(session, select(t.day, t.city_code, t.district_code, t.status, t.cases))
    recount = _frame(session, grouped(session, Event.__table__))
    kept, recount = kept.align(recount, fill_value=0.0)
    bad = kept != recount
    return pd.DataFrame({"kept": kept[bad], "recount": recount[bad]})


def counts(start: date, end: date, where=None, by=EventStatusCohort.district_code) -> Select:  # noqa: ANN001
    """SELECT <by>, status, sum(cases) for the report days [start, end) under `where` (a zone condition on
    the table's city_code / district_code); statuses no case has left are left out (a row a case moved
    away from stays, at 0)."""
    t = EventStatusCohort
    stmt = select(by.label("code"), t.status, func.sum(t.cases).label("cases")).where(t.day >= start, t.day < end)
    if where is not None:
        stmt = stmt.where(where)
    return stmt.group_by(by, t.status).having(func.sum(t.cases) != 0)
