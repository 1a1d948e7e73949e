"""The daily event rollup: flow counters per local day × grid × 大类 × source, kept current on write.

Each counter counts a milestone on the local (Asia/Shanghai) day it happened:
  reported    上报 (reported_at)            registered  立案 (registered_at)   rejected 不予立案 (rejected_at)
  dispatched  first 派遣 (dispatched_at)    dispatched_on_time  by dispatch_deadline
  handled     first 处置反馈 (handled_at)    handled_on_time     by handle_deadline
  handle_hours_sum  hours from first dispatch to first feedback (平均处置时长 = sum / handled)
  closed      结案 (closed_at)              closed_on_time      by close_deadline
  rated / satisfied  12345 回访 recorded at 结案 (score ≥ 4 = satisfied), on the closed day
  merged      reports merged into an earlier case as 重复, on the day they were reported
  verified    first 核查 (pass or fail) (verified_at)   verified_on_time   within the verify stage
  supervised_closed   督办件 结案 (closed_at of a supervised case)   supervised_closed_on_time  by its 督办 deadline
  reworked    返工 transitions, on the day of the rework
So any period's figure is a SUM over days and any level's figure a GROUP BY on an ancestor code.
`recount` rebuilds the same numbers from the events (and the rework log) for checks and repairs.
A report merged into an earlier case as 重复 (events.duplicates) is not a report of its own: `reported`
counts the cases that are not duplicates, so every figure counts the problem once.

event_district_daily holds the same counters per day × district × category × source (what city and
district figures read: a year of a prefecture city is ~100k rows there against ~2.4M in the grid
rollup). `bump` adds to both in the same transaction; after a bulk load of the grid rollup,
`rebuild_district` derives it in one INSERT … SELECT.

event_department_daily holds them per day × district × department × category × source (the 考核 of
departments): a milestone counts for the department on its log row (store.models.EventDepartmentDaily).
`bump` keeps it too; `department_recount` derives it from the cases and their log in one SQL statement
(the same on both backends), which `rebuild_department` stores after a bulk load and
`department_differences` compares with what the writes kept.

Per-case measures (store.models.CaseMeasures: 结案 hours, the 处置时长 histogram, cohort counts) live in
the district and department copies and in event_grid_monthly (month × grid × category × source, with
the flow counters too), not in the daily grid rollup. `bump` derives them from the milestone it is given
(a 结案 adds its hours and counts for the cohorts of its report and 立案 days, a first feedback adds a
histogram bin and counts for its dispatch day's cohort), so every caller that bumps a milestone keeps
them without knowing they exist. `case_recount` defines them from the cases in SQL; `rebuild_district`
derives the district and monthly copies set-based after a bulk load; `district_differences` checks them.

event_grid_month_totals is event_grid_monthly summed over category and source (month × grid): what a
figure of every grid reads when it needs neither. `bump` keeps it, `rebuild_district` derives it from the
monthly copy, `district_differences` compares the two.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (Column, Date, Float, Integer, MetaData, String, Table, case, cast, delete, func, insert,
                        literal_column, select, type_coerce, union_all)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import settings
from store import bulkload, histogram
from store.models import (Event, EventDailyRollup, EventDepartmentDaily, EventDistrictDaily, EventGridMonthly,
                          EventGridMonthTotal, EventTransition)
from store.models.events import HANDLE_HIST
from store.frames import rows_frame

COUNTERS = ("reported", "registered", "rejected", "dispatched", "dispatched_on_time", "handled",
            "handled_on_time", "closed", "closed_on_time", "reworked", "handle_hours_sum", "satisfied", "rated",
            "merged", "verified", "verified_on_time", "supervised_closed", "supervised_closed_on_time")
# Per-case measures (store.models.CaseMeasures): derived by `bump`, never passed to it.
COHORTS = ("rep_rejected", "rep_registered", "rep_closed", "reg_closed", "disp_handled")
CASE_MEASURES = (*COHORTS, "close_hours_sum", *HANDLE_HIST)
FLOATS = frozenset({"handle_hours_sum", "close_hours_sum"})
KEY = ("day", "grid_code", "category", "source")
DISTRICT_KEY = ("day", "district_code", "category", "source")
DEPARTMENT_KEY = ("day", "district_code", "department_code", "category", "source")
REGION_COLUMNS = ("city_code", "district_code", "street_code", "community_code", "grid_code")
GRID_MONTH_KEY = ("month", *REGION_COLUMNS, "category", "source")
GRID_TOTAL_KEY = ("month", *REGION_COLUMNS)
ALL = object()  # the `city` of a derivation over every city


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.get_settings()["app"]["timezone"])


def _upsert(session: Session, model=EventDailyRollup):  # noqa: ANN001, ANN202
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"rollup upsert not implemented for {dialect}")


def _add(session: Session, model, key: tuple[str, ...], rows: list[dict], summed=None) -> None:  # noqa: ANN001
    """INSERT … ON CONFLICT DO UPDATE adding every row's counters (`summed`: by default this module's
    counters and per-case measures) to the stored ones: one statement per set of changed columns
    (SQLAlchemy compiles it once), run for the rows in key order; rows with equal keys are merged first."""
    summed = _SUMMED if summed is None else frozenset(summed)
    merged: dict[tuple, dict] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        if k in merged:
            for c, v in row.items():
                if c not in key and isinstance(v, (int, float)) and not isinstance(v, bool):
                    merged[k][c] += v
        else:
            merged[k] = dict(row)
    table = model.__table__
    changed = sorted({c for row in rows for c, v in row.items() if c not in key and c in summed and v})
    stmt = _upsert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in key],
                                      set_={c: table.c[c] + stmt.excluded[c] for c in changed})
    # In key order: concurrent writers take the rows in one order, so they queue instead of deadlocking.
    order = sorted(merged, key=lambda k: tuple("" if v is None else v for v in k))
    session.connection().execute(stmt, [merged[k] for k in order])


_SUMMED = frozenset((*COUNTERS, *CASE_MEASURES))
_CURRENT = object()


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def first_dispatch_department(session: Session, event: Event) -> str | None:
    """The department on the log row of the case's first dispatch (where its dispatch cohort counts)."""
    if event.dispatched_at is None:
        return None
    return session.scalar(select(EventTransition.department_code).where(
        EventTransition.event_id == event.id, EventTransition.action == "dispatch",
        EventTransition.at == event.dispatched_at).order_by(EventTransition.id).limit(1))


def case_increments(session: Session, event: Event, at: datetime, increments: dict) -> list[tuple]:
    """The per-case measures a milestone brings: [(moment, department or _CURRENT, {measure: delta})].
    `event` holds the case as it was before the milestone (the workflow bumps before it refreshes)."""
    out: list[tuple] = []
    own: dict[str, float] = {}
    if increments.get("registered"):
        out.append((event.reported_at, None, {"rep_registered": increments["registered"]}))
    if increments.get("rejected"):
        out.append((event.reported_at, None, {"rep_rejected": increments["rejected"]}))
    if increments.get("closed"):
        n = increments["closed"]
        out.append((event.reported_at, None, {"rep_closed": n}))
        if event.registered_at is not None:
            out.append((event.registered_at, None, {"reg_closed": n}))
        own["close_hours_sum"] = n * _seconds(event.reported_at, at) / 3600
    if increments.get("handled") and event.dispatched_at is not None:
        n = increments["handled"]
        out.append((event.dispatched_at, first_dispatch_department(session, event), {"disp_handled": n}))
        own[HANDLE_HIST[histogram.bin_of(_seconds(event.dispatched_at, at))]] = n
    if own:
        out.insert(0, (at, _CURRENT, own))
    return out


def bump(session: Session, event: Event, at: datetime, *, department=_CURRENT,  # noqa: ANN001
         **increments: float) -> None:
    """Add `increments` to the rollup row of `event`'s grid/大类/source on the local day of `at`, and to
    its district's, its department's and its grid-month's rows (by category and source, and in all;
    `department`: the department on the milestone's log row, by default the case's current one), with the
    per-case measures the milestone brings (`case_increments`) on the rows of their own days.

    INSERT … ON CONFLICT DO UPDATE, so concurrent writers on PostgreSQL add up instead of colliding.
    """
    unknown = set(increments) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown rollup counters {sorted(unknown)}")
    increments = {k: v for k, v in increments.items() if v}
    if not increments:
        return
    dept = event.department_code if department is _CURRENT else department
    parts = [(at, dept, increments)]
    for moment, d, extra in case_increments(session, event, at, increments):
        parts.append((moment, dept if d is _CURRENT else d, extra))
    tz = local_tz()
    codes = {c: getattr(event, c) for c in REGION_COLUMNS}
    grid, district, department_rows, monthly = [], [], [], []
    for moment, d, incs in parts:
        day = moment.astimezone(tz).date()
        flows = {c: incs.get(c, 0) for c in COUNTERS}
        cases = {c: incs.get(c, 0) for c in CASE_MEASURES}
        head = {"day": day, "city_code": codes["city_code"], "district_code": codes["district_code"] or "",
                "category": event.category, "source": event.source}
        if any(flows.values()):
            grid.append({**codes, "day": day, "category": event.category, "source": event.source, **flows})
        district.append({**head, **flows, **cases})
        department_rows.append({**head, "department_code": d or "", **flows, **cases})
        monthly.append({**{c: codes[c] or "" for c in REGION_COLUMNS}, "city_code": codes["city_code"],
                        "month": day.replace(day=1), "category": event.category, "source": event.source,
                        **flows, **cases})
    if grid:
        _add(session, EventDailyRollup, KEY, grid)
    _add(session, EventDistrictDaily, DISTRICT_KEY, district)
    _add(session, EventDepartmentDaily, DEPARTMENT_KEY, department_rows)
    _add(session, EventGridMonthly, GRID_MONTH_KEY, monthly)
    _add(session, EventGridMonthTotal, GRID_TOTAL_KEY,
         [{k: v for k, v in row.items() if k not in ("category", "source")} for row in monthly])


# -- recount --------------------------------------------------------------------------------------------
def _local_day(series: pd.Series, tz: ZoneInfo) -> pd.Series:
    ts = pd.to_datetime(series, utc=True)
    return ts.dt.tz_convert(tz).dt.date


EVENT_FRAME_COLUMNS = ("id", *REGION_COLUMNS, "category", "source", "reported_at", "registered_at", "rejected_at",
                       "dispatched_at", "dispatched_on_time", "handled_at", "handled_on_time", "closed_at",
                       "closed_on_time", "satisfaction", "duplicate_of", "verified_at", "verified_on_time",
                       "supervised_at", "supervision_on_time")


def recount_frame(ev: pd.DataFrame, rework: pd.DataFrame, tz: ZoneInfo | None = None) -> pd.DataFrame:
    """Rollup counters from a frame of cases (EVENT_FRAME_COLUMNS; timestamps UTC; duplicate_of,
    verified_* and supervis* may be left out when no case has them) and a frame of 返工 log rows (columns
    id, at), indexed by KEY.
    Shared by `recount` (reading the store) and the demo generator (its arrays), so both follow the one
    definition of every counter above."""
    tz = tz or local_tz()
    base = ["grid_code", "category", "source"]
    parts: list[pd.DataFrame] = []

    def milestone(time_col: str, counters: dict, keep=None) -> None:  # noqa: ANN001
        if time_col not in ev:
            return
        sub = ev[ev[time_col].notna()]
        if keep is not None:
            sub = sub[keep(sub)]
        if sub.empty:
            return
        frame = sub[base].copy()
        frame["day"] = _local_day(sub[time_col], tz).values
        for name, values in counters.items():
            frame[name] = values(sub).to_numpy() if callable(values) else values
        parts.append(frame)

    def flag(col: str):  # noqa: ANN202
        return lambda s: s[col].astype("boolean").fillna(False).astype(int)

    if not ev.empty:
        duplicate = (lambda s: s["duplicate_of"].notna()) if "duplicate_of" in ev else (lambda s: s["id"] != s["id"])
        milestone("reported_at", {"reported": 1}, lambda s: ~duplicate(s))  # a duplicate counts with its case
        milestone("reported_at", {"merged": 1}, duplicate)
        milestone("verified_at", {"verified": 1, "verified_on_time": flag("verified_on_time")})
        if "supervised_at" in ev:
            milestone("closed_at", {"supervised_closed": 1, "supervised_closed_on_time": flag("supervision_on_time")},
                      lambda s: s["supervised_at"].notna())
        milestone("registered_at", {"registered": 1})
        milestone("rejected_at", {"rejected": 1})
        milestone("dispatched_at", {"dispatched": 1, "dispatched_on_time": flag("dispatched_on_time")})
        milestone("handled_at", {
            "handled": 1, "handled_on_time": flag("handled_on_time"),
            "handle_hours_sum": lambda s: ((pd.to_datetime(s["handled_at"], utc=True)
                                            - pd.to_datetime(s["dispatched_at"].fillna(s["reported_at"]), utc=True)
                                            ).dt.total_seconds().clip(lower=0) / 3600)})
        milestone("closed_at", {
            "closed": 1, "closed_on_time": flag("closed_on_time"),
            "rated": lambda s: s["satisfaction"].notna().astype(int),
            "satisfied": lambda s: (pd.to_numeric(s["satisfaction"]).fillna(0) >= 4).astype(int)})
        if not rework.empty:
            sub = rework.merge(ev[["id", *base]], on="id")
            frame = sub[base].copy()
            frame["day"] = _local_day(sub["at"], tz).values
            frame["reworked"] = 1
            parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=[*KEY, *COUNTERS]).set_index(list(KEY))
    allrows = pd.concat(parts, ignore_index=True)
    for c in COUNTERS:
        allrows[c] = allrows[c].fillna(0) if c in allrows else 0
    allrows["grid_code"] = allrows["grid_code"].fillna("")
    return allrows.groupby(list(KEY))[list(COUNTERS)].sum().sort_index()


def recount(session: Session) -> pd.DataFrame:
    """The rollup recomputed from the events table (and the 返工 log), indexed by KEY, one column per
    counter. Used by tests (rollup == recount), `manage.py event-rollup-check` and `rebuild`."""
    cols = [getattr(Event, c) for c in EVENT_FRAME_COLUMNS]
    ev = rows_frame(session.execute(select(*cols)).all(), columns=list(EVENT_FRAME_COLUMNS))
    rework = rows_frame(session.execute(
        select(EventTransition.event_id, EventTransition.at).where(EventTransition.action == "rework")
    ).all(), columns=["id", "at"])
    return recount_frame(ev, rework)


def stored(session: Session) -> pd.DataFrame:
    """The rollup as stored, in the same shape as `recount` (rows with equal keys summed)."""
    cols = [EventDailyRollup.day, EventDailyRollup.grid_code, EventDailyRollup.category, EventDailyRollup.source,
            *[getattr(EventDailyRollup, c) for c in COUNTERS]]
    df = rows_frame(session.execute(select(*cols)).all(), columns=[*KEY, *COUNTERS])
    if df.empty:
        return pd.DataFrame(columns=[*KEY, *COUNTERS]).set_index(list(KEY))
    df["grid_code"] = df["grid_code"].fillna("")
    out = df.groupby(list(KEY))[list(COUNTERS)].sum()
    return out[(out != 0).any(axis=1)].sort_index()


def differences(session: Session, tolerance: float = 1e-6) -> pd.DataFrame:
    """Rows where the stored rollup and the recount disagree (empty frame = consistent)."""
    a = stored(session).astype(float)
    b = recount(session).astype(float)
    a, b = a.align(b, fill_value=0.0)
    diff = (a - b).abs()
    bad = (diff > tolerance).any(axis=1)
    return pd.concat({"stored": a[bad], "recount": b[bad]}, axis=1)


def rows_from_frame(frame: pd.DataFrame, regions: pd.DataFrame | None = None) -> list[dict]:
    """Rollup rows (dicts for a bulk insert) from a recount-shaped frame. `regions` maps grid_code to
    its ancestor codes (columns grid_code + REGION_COLUMNS)."""
    df = frame.reset_index()
    if regions is not None:
        df = df.merge(regions, on="grid_code", how="left")
    df["grid_code"] = df["grid_code"].replace("", None)
    int_cols = [c for c in COUNTERS if c != "handle_hours_sum"]
    df[int_cols] = df[int_cols].astype(int)
    return df[["day", *REGION_COLUMNS, "category", "source", *COUNTERS]].to_dict("records")


def frame_for_insert(frame: pd.DataFrame, regions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Column frame of rollup rows (day, region codes, category, source, counters) for bulk inserts."""
    df = frame.reset_index()
    if regions is not None:
        df = df.merge(regions, on="grid_code", how="left")
    df["grid_code"] = df["grid_code"].replace("", None)
    int_cols = [c for c in COUNTERS if c != "handle_hours_sum"]
    df[int_cols] = df[int_cols].astype(int)
    df["handle_hours_sum"] = df["handle_hours_sum"].astype(float)
    out = df[["day", *REGION_COLUMNS, "category", "source", *COUNTERS]]
    return out.astype({c: object for c in ("day", *REGION_COLUMNS, "category", "source")})


def rebuild(session: Session) -> int:
    """Replace the stored rollups with a recount (repair after a bulk load or a manual fix)."""
    frame = recount(session)
    regions = rows_frame(session.execute(select(*[getattr(Event, c) for c in REGION_COLUMNS]).distinct()).all(),
                           columns=list(REGION_COLUMNS)).drop_duplicates("grid_code")
    session.execute(delete(EventDailyRollup))
    rows = rows_from_frame(frame, regions)
    if rows:
        session.execute(insert(EventDailyRollup), rows)
    rebuild_district(session)
    rebuild_department(session)
    from events import status_cohort  # it builds on this module

    status_cohort.rebuild(session)
    return len(rows)


# -- SQL over the cases: the department copy and the per-case measures -----------------------------------------
def _sql_local_day(session: Session, column):  # noqa: ANN001, ANN202
    """SQL: the local calendar day of a UTC timestamp column, as a Date on both backends. SQLite has no
    time zones, so it adds the zone's offset: the [app] zone must keep one offset all year (China's
    has since 1991)."""
    tz = local_tz()
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(tz.key, column), Date)
    hours = datetime.now(tz).utcoffset().total_seconds() / 3600
    return type_coerce(func.date(column, f"{hours:+g} hours"), Date)


def _sql_month(session: Session, day):  # noqa: ANN001, ANN202
    """SQL: the first day of the month of a Date expression."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return type_coerce(func.date(day, "start of month"), Date)


def _hours_between(session: Session, start, end):  # noqa: ANN001, ANN202
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _seconds_between(session: Session, start, end):  # noqa: ANN001, ANN202
    """Exact seconds between two timestamps: whole seconds plus the stored microseconds on SQLite
    ("YYYY-MM-DD HH:MM:SS.ffffff"), so a duration lands in the same histogram bin as in Python."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    whole = func.strftime("%s", end) - func.strftime("%s", start)
    return whole + (cast(func.substr(end, 20), Float) - cast(func.substr(start, 20), Float))


def _bin_index(seconds, lo: int = 0, hi: int | None = None):  # noqa: ANN001, ANN202
    """SQL: the histogram bin of a duration in seconds (store.histogram.bin_of), as a balanced tree of
    CASEs: six comparisons a case instead of up to forty-nine (SQLite evaluates `seconds` anew in each)."""
    edges = histogram.EDGES_S
    hi = len(edges) if hi is None else hi  # the bin lies in [lo, hi]
    if lo == hi:
        return literal_column(str(lo))
    mid = (lo + hi) // 2  # bins ≤ mid are those below edges[mid]
    return case((seconds < edges[mid], _bin_index(seconds, lo, mid)), else_=_bin_index(seconds, mid + 1, hi))


def _zero(column: str):  # noqa: ANN202
    return literal_column("0.0" if column in FLOATS else "0")


def _case_parts(session: Session, department: bool, flows: bool, cases: bool, city: object = ALL) -> list:
    """SELECTs, one per milestone (or per-case measure), of the rows the rollups count: day, city …
    grid codes ("" where none), [department_code], category, source, then COUNTERS (when `flows`) and
    CASE_MEASURES (when `cases`). A milestone's department is the one on the log row that recorded it:
    the first dispatch, the first feedback and the 结案 rows carry their time exactly; a rework row is
    its own milestone. Report, 立案 and 不予立案 happen before any dispatch: department "". A cohort
    counts on the day and department of the milestone that opened it. `city`: only that city's cases."""
    e, t = Event, EventTransition
    none = literal_column("''")
    # Narrow rows: the histogram as (bin, n) rather than fifty columns, so the union sorts small rows;
    # `_summed` spreads n into the bin columns.
    columns = [*(COUNTERS if flows else ()), *(NARROW if cases else ())]

    def dept_of(action: str, at):  # noqa: ANN001, ANN202
        return select(t.department_code).where(t.event_id == e.id, t.action == action, t.at == at) \
            .order_by(t.id).limit(1).scalar_subquery()

    def dept_of_verification():  # noqa: ANN202 - the first 核查 is a pass or a fail row at verified_at
        return select(t.department_code).where(t.event_id == e.id, t.action.in_(("verify_pass", "verify_fail")),
                                               t.at == e.verified_at).order_by(t.id).limit(1).scalar_subquery()

    def flag(col):  # noqa: ANN001, ANN202
        return case((col.is_(True), 1), else_=0)

    def head(src, day, dept):  # noqa: ANN001, ANN202
        cols = [_sql_local_day(session, day).label("day"), src.city_code.label("city_code")]
        cols += [func.coalesce(getattr(src, c), none).label(c) for c in REGION_COLUMNS[1:]]
        if department:
            cols.append((none if dept is None else func.coalesce(dept, none)).label("department_code"))
        return cols + [src.category.label("category"), src.source.label("source")]

    def part(day, dept, source_from, where, **values):  # noqa: ANN001, ANN202
        if not any(c in values for c in columns):
            return None
        cols = head(e, day, dept)
        for c in columns:
            value = values.get(c, -1 if c == "bin" else 0)
            if isinstance(value, (int, float)):
                value = literal_column(repr(float(value)) if c in FLOATS else str(int(value)))
            cols.append(value.label(c))
        return select(*cols).select_from(source_from).where(*where, *_of_city(e.city_code, city))

    hours = _hours_between(session, func.coalesce(e.dispatched_at, e.reported_at), e.handled_at)
    def has(col):  # noqa: ANN001, ANN202
        return case((col.is_not(None), 1), else_=0)

    # Cohorts count on the day (and department) of the milestone that opened them, in that milestone's part.
    parts = [
        part(e.reported_at, None, e, [], reported=case((e.duplicate_of.is_(None), 1), else_=0),
             merged=has(e.duplicate_of), rep_rejected=has(e.rejected_at), rep_registered=has(e.registered_at),
             rep_closed=has(e.closed_at)),
        part(e.registered_at, None, e, [e.registered_at.is_not(None)], registered=1, reg_closed=has(e.closed_at)),
        part(e.rejected_at, None, e, [e.rejected_at.is_not(None)], rejected=1),
        part(e.dispatched_at, dept_of("dispatch", e.dispatched_at), e, [e.dispatched_at.is_not(None)],
             dispatched=1, dispatched_on_time=flag(e.dispatched_on_time), disp_handled=has(e.handled_at)),
        part(e.handled_at, dept_of("feedback", e.handled_at), e, [e.handled_at.is_not(None)], handled=1,
             handled_on_time=flag(e.handled_on_time),
             handle_hours_sum=case((hours > 0, hours), else_=0.0)),
        part(e.closed_at, dept_of("close", e.closed_at), e, [e.closed_at.is_not(None)], closed=1,
             closed_on_time=flag(e.closed_on_time), rated=case((e.satisfaction.is_not(None), 1), else_=0),
             satisfied=case((e.satisfaction >= 4, 1), else_=0),
             close_hours_sum=_seconds_between(session, e.reported_at, e.closed_at) / 3600.0),
        part(t.at, t.department_code, t.__table__.join(e.__table__, t.event_id == e.id), [t.action == "rework"],
             reworked=1),
        part(e.verified_at, dept_of_verification(), e, [e.verified_at.is_not(None)], verified=1,
             verified_on_time=flag(e.verified_on_time)),
        part(e.closed_at, dept_of("close", e.closed_at), e, [e.closed_at.is_not(None), e.supervised_at.is_not(None)],
             supervised_closed=1, supervised_closed_on_time=flag(e.supervision_on_time)),
    ]
    if cases:
        # The 处置时长 histogram: each first feedback as one row of its bin.
        cols = head(e, e.handled_at, dept_of("feedback", e.handled_at))
        for c in columns:
            if c == "bin":
                cols.append(_bin_index(_seconds_between(session, e.dispatched_at, e.handled_at)).label(c))
            else:
                cols.append((literal_column("1") if c == "n" else _zero(c)).label(c))
        parts.append(select(*cols).where(e.handled_at.is_not(None), e.dispatched_at.is_not(None),
                                         *_of_city(e.city_code, city)))
    return [p for p in parts if p is not None]


NARROW = (*COHORTS, "close_hours_sum", "bin", "n")


def _of_city(column, city: object) -> list:  # noqa: ANN001
    """WHERE terms keeping one city's rows (none for ALL)."""
    if city is ALL:
        return []
    return [column.is_(None) if city is None else column == city]


def _cities(session: Session) -> list[str | None]:
    """Every city code the cases or the grid rollup hold: the bulk derivations run city by city, so each
    statement groups one city's rows (a province's department copy grouped at once spilled its hash
    aggregate to disk many times over) and, on a Citus cluster, is a router query on city_code."""
    codes = set(session.scalars(select(Event.city_code).distinct()))
    codes |= set(session.scalars(select(EventDailyRollup.city_code).distinct()))
    return sorted(codes, key=lambda c: (c is None, c or ""))


def _grouped(rows, key: list[str], columns) -> object:  # noqa: ANN001
    """SELECT key, SUM(column)… GROUP BY key; a histogram column sums the narrow rows' n of its bin."""
    cols = [rows.c[k] for k in key]
    sums = []
    for c in columns:
        if c in HANDLE_HIST and c not in rows.c:
            sums.append(func.sum(case((rows.c.bin == HANDLE_HIST.index(c), rows.c.n), else_=0)).label(c))
        else:
            sums.append(func.sum(rows.c[c]).label(c))
    return select(*cols, *sums).group_by(*cols)


def department_recount(session: Session, city: object = ALL):  # noqa: ANN201 - a Select
    """SELECT of event_department_daily as the cases and their log define it (DEPARTMENT_KEY + city_code,
    one column per counter and per-case measure); `city`: that city's rows only."""
    rows = union_all(*_case_parts(session, department=True, flows=True, cases=True, city=city)).subquery()
    return _grouped(rows, ["day", "city_code", "district_code", "department_code", "category", "source"],
                    (*COUNTERS, *CASE_MEASURES))


def case_recount(session: Session, grain: str = "day"):  # noqa: ANN201 - a Select
    """SELECT of the per-case measures as the cases define them: per day × city × district × category ×
    source (`grain` "day", the district copy's key) or per month × every region code × category × source
    ("month", the monthly grid copy's key)."""
    rows = union_all(*_case_parts(session, department=False, flows=False, cases=True)).subquery()
    if grain == "day":
        return _grouped(rows, ["day", "city_code", "district_code", "category", "source"], CASE_MEASURES)
    monthly = select(_sql_month(session, rows.c.day).label("month"),
                     *[rows.c[c] for c in (*REGION_COLUMNS, "category", "source", *NARROW)]).subquery()
    return _grouped(monthly, list(GRID_MONTH_KEY), CASE_MEASURES)


def rebuild_department(session: Session) -> int:
    """Store event_department_daily as `department_recount` defines it (after a bulk load or a rebuild)."""
    session.execute(delete(EventDepartmentDaily))
    names = ["day", "city_code", "district_code", "department_code", "category", "source", *COUNTERS, *CASE_MEASURES]
    for city in _cities(session):
        rows = department_recount(session, city).subquery()
        # In time order, as the live writes leave them (rebuild_district says why).
        session.execute(insert(EventDepartmentDaily).from_select(
            names, select(*[rows.c[n] for n in names]).order_by(*[rows.c[n] for n in DEPARTMENT_KEY])))
    return session.scalar(select(func.count()).select_from(EventDepartmentDaily)) or 0


# The per-case measures' temporary rows: every region code and the histogram bin in the key.
_FINE_KEY = ["day", *REGION_COLUMNS, "category", "source", "bin"]
_FINE_SUMS = [c for c in NARROW if c != "bin"]


def rebuild_district(session: Session) -> int:
    """Derive the district copy (event_district_daily), the monthly grid copy (event_grid_monthly) and its
    totals (event_grid_month_totals, from the monthly copy in one INSERT … SELECT) after a bulk load or a
    rebuild, set-based and city by city (`_cities` says why). For each city the cases are read once (as
    `case_recount` defines their per-case measures: per day, every region code and histogram bin, narrow
    rows) into a temporary table; each copy is then one INSERT … SELECT grouping the grid rollup's flow
    counters together with those measures (a UNION ALL of both, zeros for what a side lacks). Adding the
    measures by an upsert after inserting the flows rewrote every row a second time (at tenth scale 6.6
    of the 14.4 s this took on PostgreSQL).
    Each copy is written in time order (day or month first, then the region codes), so a period's rows lie
    together as the live writes leave them, not in a hash aggregate's order: a district's month of the
    grid copy was 14.5k rows on 12.4k pages at city scale (the street ranking read them in 37–71 ms)."""
    tmp = Table("tmp_event_case_measures", MetaData(), Column("day", Date),
                *[Column(c, String(20)) for c in _FINE_KEY[1:-1]], Column("bin", Integer),
                *[Column(c, Float if c in FLOATS else Integer) for c in _FINE_SUMS], prefixes=["TEMPORARY"])
    conn = session.connection()
    tmp.drop(conn, checkfirst=True)
    tmp.create(conn)
    session.execute(delete(EventDistrictDaily))
    session.execute(delete(EventGridMonthly))
    try:
        for city in _cities(session):
            session.execute(delete(tmp))
            _derive_city(session, tmp, city)
    finally:
        tmp.drop(conn)
    _derive_grid_totals(session)
    bulkload.analyze(session, (EventGridMonthly, EventGridMonthTotal))
    return session.scalar(select(func.count()).select_from(EventDistrictDaily)) or 0


def _derive_city(session: Session, tmp: Table, city: object) -> None:
    """One city's rows of the district and monthly copies (`rebuild_district`), through the empty `tmp`."""
    g = EventDailyRollup
    none = literal_column("''")
    rows = union_all(*_case_parts(session, department=False, flows=False, cases=True, city=city)).subquery()
    session.execute(insert(tmp).from_select([*_FINE_KEY, *_FINE_SUMS], _grouped(rows, _FINE_KEY, _FINE_SUMS)))
    flows = select(g.day.label("day"), g.city_code.label("city_code"),
                   *[func.coalesce(getattr(g, c), none).label(c) for c in REGION_COLUMNS[1:]],
                   g.category.label("category"), g.source.label("source"),
                   *[getattr(g, c).label(c) for c in COUNTERS],
                   *[(literal_column("-1") if c == "bin" else _zero(c)).label(c) for c in NARROW]) \
        .where(*_of_city(g.city_code, city))
    measures = select(*[tmp.c[c] for c in _FINE_KEY[:-1]], *[_zero(c).label(c) for c in COUNTERS],
                      *[tmp.c[c] for c in NARROW])
    both = union_all(flows, measures).subquery()
    key = ["day", "city_code", "district_code", "category", "source"]
    for model, cols, names in ((EventDistrictDaily, [both.c[k] for k in key], key),
                               (EventGridMonthly, [_sql_month(session, both.c.day),
                                                   *[both.c[k] for k in GRID_MONTH_KEY[1:]]], list(GRID_MONTH_KEY))):
        src = select(*[c.label(n) for c, n in zip(cols, names)], *[both.c[c] for c in (*COUNTERS, *NARROW)]) \
            .subquery()
        summed = _grouped(src, names, (*COUNTERS, *CASE_MEASURES)).order_by(*[src.c[n] for n in names])
        session.execute(insert(model).from_select([*names, *COUNTERS, *CASE_MEASURES], summed))


def _grid_totals_select():  # noqa: ANN202
    """event_grid_monthly summed over category and source, in the totals' key order."""
    m = EventGridMonthly.__table__
    key = [m.c[k] for k in GRID_TOTAL_KEY]
    return select(*key, *[func.sum(m.c[c]).label(c) for c in (*COUNTERS, *CASE_MEASURES)]).group_by(*key) \
        .order_by(*key)


def _derive_grid_totals(session: Session) -> None:
    session.execute(delete(EventGridMonthTotal))
    session.execute(insert(EventGridMonthTotal).from_select([*GRID_TOTAL_KEY, *COUNTERS, *CASE_MEASURES],
                                                            _grid_totals_select()))


# -- consistency -------------------------------------------------------------------------------------------
def _frame(session: Session, stmt, key: list[str], columns, tolerance: float) -> pd.DataFrame:  # noqa: ANN001
    """Rows of a SELECT (key + columns) summed by key, as floats, without all-zero rows."""
    columns = list(columns)
    df = rows_frame(session.execute(stmt).all(), columns=[*key, *columns])
    if df.empty:
        return pd.DataFrame(columns=columns, index=pd.MultiIndex.from_tuples([], names=key), dtype=float)
    for k in ("day", "month"):
        if k in df:
            df[k] = pd.to_datetime(df[k]).dt.date
    for k in key:
        if k not in ("day", "month"):
            df[k] = df[k].fillna("")
    out = df.groupby(key)[columns].sum().astype(float)
    return out[(out.abs() > tolerance).any(axis=1)].sort_index()


def _compare(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str], tolerance: float) -> pd.DataFrame:
    a, b = a.align(b, fill_value=0.0)
    bad = ((a - b).abs() > tolerance).any(axis=1)
    return pd.concat({names[0]: a[bad], names[1]: b[bad]}, axis=1)


def district_differences(session: Session, tolerance: float = 1e-6) -> pd.DataFrame:
    """Rows where the district copy or the monthly grid copy disagrees with what it is derived from
    (empty = consistent): flow counters against the grid rollup summed by district / by month, per-case
    measures against `case_recount` from the cases, the grid-month totals against the monthly copy summed,
    and the status cohort (events.status_cohort) against its recount from the cases."""
    g, d, m = EventDailyRollup, EventDistrictDaily, EventGridMonthly
    none = literal_column("''")
    key = ["day", "district_code", "category", "source"]
    district = func.coalesce(g.district_code, none)
    found = []
    grid = _frame(session, select(g.day, district, g.category, g.source, *[getattr(g, c) for c in COUNTERS]),
                  key, COUNTERS, tolerance)
    dist = _frame(session, select(d.day, d.district_code, d.category, d.source, *[getattr(d, c) for c in COUNTERS]),
                  key, COUNTERS, tolerance)
    found.append(_compare(grid, dist, ("grid", "district"), tolerance))
    recount = case_recount(session, "day").subquery()
    kept = _frame(session, select(d.day, d.district_code, d.category, d.source,
                                  *[getattr(d, c) for c in CASE_MEASURES]), key, CASE_MEASURES, tolerance)
    derived = _frame(session, select(*[recount.c[k] for k in key], *[recount.c[c] for c in CASE_MEASURES]),
                     key, CASE_MEASURES, tolerance)
    found.append(_compare(derived, kept, ("recount", "district"), tolerance))

    mkey = list(GRID_MONTH_KEY)
    grid_m = _frame(session, select(_sql_month(session, g.day), g.city_code,
                                    *[func.coalesce(getattr(g, c), none) for c in REGION_COLUMNS[1:]],
                                    g.category, g.source, *[getattr(g, c) for c in COUNTERS]), mkey, COUNTERS,
                    tolerance)
    kept_m = _frame(session, select(*[m.__table__.c[k] for k in mkey], *[getattr(m, c) for c in COUNTERS]), mkey,
                    COUNTERS, tolerance)
    found.append(_compare(grid_m, kept_m, ("grid", "monthly"), tolerance))
    recount_m = case_recount(session, "month").subquery()
    kept_m = _frame(session, select(*[m.__table__.c[k] for k in mkey], *[getattr(m, c) for c in CASE_MEASURES]),
                    mkey, CASE_MEASURES, tolerance)
    derived_m = _frame(session, select(*[recount_m.c[k] for k in mkey], *[recount_m.c[c] for c in CASE_MEASURES]),
                       mkey, CASE_MEASURES, tolerance)
    found.append(_compare(derived_m, kept_m, ("recount", "monthly"), tolerance))
    columns = (*COUNTERS, *CASE_MEASURES)
    tkey = list(GRID_TOTAL_KEY)
    summed_t = _frame(session, _grid_totals_select(), tkey, columns, tolerance)
    t = EventGridMonthTotal.__table__
    kept_t = _frame(session, select(*[t.c[k] for k in tkey], *[t.c[c] for c in columns]), tkey, columns, tolerance)
    found.append(_compare(summed_t, kept_t, ("monthly", "totals"), tolerance))
    from events import status_cohort  # it builds on this module

    cohort = status_cohort.differences(session)
    cohort.columns = pd.MultiIndex.from_tuples([("kept", "cases"), ("recount", "cases")])
    found.append(cohort)
    bad = [f for f in found if not f.empty]
    if not bad:
        return found[0]
    return pd.concat([f.reset_index() for f in bad], ignore_index=True)


def department_differences(session: Session, tolerance: float = 1e-6) -> pd.DataFrame:
    """Rows where event_department_daily as kept by the writes disagrees with `department_recount`
    (empty = consistent), counters and per-case measures alike."""
    d = EventDepartmentDaily
    key = list(DEPARTMENT_KEY)
    columns = (*COUNTERS, *CASE_MEASURES)
    recount_rows = department_recount(session).subquery()
    derived = _frame(session, select(*[recount_rows.c[k] for k in key], *[recount_rows.c[c] for c in columns]),
                     key, columns, tolerance)
    kept = _frame(session, select(*[getattr(d, k) for k in key], *[getattr(d, c) for c in columns]), key, columns,
                  tolerance)
    return _compare(kept, derived, ("kept", "recount"), tolerance)
