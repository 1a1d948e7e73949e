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
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Date, case, cast, delete, func, insert, literal_column, select, type_coerce, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import settings
from store.models import Event, EventDailyRollup, EventDepartmentDaily, EventDistrictDaily, EventTransition
from store.frames import rows_frame

COUNTERS = ("reported", "registered", "rejected", "dispatched", "dispatched_on_time", "handled",
            "handled_on_time", "closed", "closed_on_time", "reworked", "handle_hours_sum", "satisfied", "rated",
            "merged", "verified", "verified_on_time", "supervised_closed", "supervised_closed_on_time")
KEY = ("day", "grid_code", "category", "source")
DISTRICT_KEY = ("day", "district_code", "category", "source")
DEPARTMENT_KEY = ("day", "district_code", "department_code", "category", "source")
REGION_COLUMNS = ("city_code", "district_code", "street_code", "community_code", "grid_code")


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.get_settings()["app"]["timezone"])


def _upsert(session: Session, model=EventDailyRollup):  # noqa: ANN001, ANN202
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"rollup upsert not implemented for {dialect}")


def _add(session: Session, model, key: tuple[str, ...], values: dict, increments: dict) -> None:  # noqa: ANN001
    stmt = _upsert(session, model).values(**values)
    table = model.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[k] for k in key],
        set_={c: table.c[c] + stmt.excluded[c] for c in increments},
    )
    session.execute(stmt)


_CURRENT = object()


def bump(session: Session, event: Event, at: datetime, *, department=_CURRENT,  # noqa: ANN001
         **increments: float) -> None:
    """Add `increments` to the rollup row of `event`'s grid/大类/source on the local day of `at`, and to
    its district's and its department's rows (`department`: the department on the milestone's log row,
    by default the case's current one).

    One INSERT … ON CONFLICT DO UPDATE, so concurrent writers on PostgreSQL add up instead of colliding.
    """
    unknown = set(increments) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown rollup counters {sorted(unknown)}")
    increments = {k: v for k, v in increments.items() if v}
    if not increments:
        return
    values = {c: getattr(event, c) for c in REGION_COLUMNS}
    values.update(day=at.astimezone(local_tz()).date(), category=event.category, source=event.source)
    values.update({c: 0 for c in COUNTERS})
    values.update(increments)
    _add(session, EventDailyRollup, KEY, values, increments)
    district = {k: values[k] for k in ("day", "city_code", "category", "source", *COUNTERS)}
    district["district_code"] = values["district_code"] or ""
    _add(session, EventDistrictDaily, DISTRICT_KEY, district, increments)
    dept = event.department_code if department is _CURRENT else department
    _add(session, EventDepartmentDaily, DEPARTMENT_KEY, {**district, "department_code": dept or ""}, increments)


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
    """Replace the stored rollup with a recount (repair after a bulk load or a manual fix)."""
    frame = recount(session)
    regions = rows_frame(session.execute(select(*[getattr(Event, c) for c in REGION_COLUMNS]).distinct()).all(),
                           columns=list(REGION_COLUMNS)).drop_duplicates("grid_code")
    session.execute(delete(EventDailyRollup))
    rows = rows_from_frame(frame, regions)
    if rows:
        session.execute(insert(EventDailyRollup), rows)
    rebuild_district(session)
    rebuild_department(session)
    return len(rows)


def rebuild_district(session: Session) -> int:
    """Derive event_district_daily from the grid rollup (after a bulk load or a rebuild)."""
    g = EventDailyRollup
    district = func.coalesce(g.district_code, literal_column("''"))  # one literal: PostgreSQL matches GROUP BY
    summed = select(g.day, g.city_code, district, g.category, g.source,
                    *[func.sum(getattr(g, c)) for c in COUNTERS]
                    ).group_by(g.day, g.city_code, district, g.category, g.source)
    session.execute(delete(EventDistrictDaily))
    session.execute(insert(EventDistrictDaily).from_select(
        ["day", "city_code", "district_code", "category", "source", *COUNTERS], summed))
    return session.scalar(select(func.count()).select_from(EventDistrictDaily)) or 0


def district_differences(session: Session, tolerance: float = 1e-6) -> pd.DataFrame:
    """Rows where event_district_daily disagrees with the grid rollup summed by district (empty = consistent)."""
    g, d = EventDailyRollup, EventDistrictDaily
    key = ["day", "district_code", "category", "source"]
    district = func.coalesce(g.district_code, literal_column("''"))
    grid = rows_frame(session.execute(select(
        g.day, district, g.category, g.source, *[func.sum(getattr(g, c)) for c in COUNTERS]
    ).group_by(g.day, district, g.category, g.source)).all(), columns=[*key, *COUNTERS])
    dist = rows_frame(session.execute(select(d.day, d.district_code, d.category, d.source,
                                             *[getattr(d, c) for c in COUNTERS])).all(), columns=[*key, *COUNTERS])
    a = grid.set_index(key).astype(float).sort_index()
    b = dist.set_index(key).astype(float).sort_index()
    a, b = a.align(b, fill_value=0.0)
    bad = ((a - b).abs() > tolerance).any(axis=1)
    return pd.concat({"grid": a[bad], "district": b[bad]}, axis=1)


# -- the department copy ---------------------------------------------------------------------------------
def _sql_local_day(session: Session, column):  # noqa: ANN001, ANN202
    """SQL: the local calendar day of a UTC timestamp column, as a Date on both backends. SQLite has no
    time zones, so it adds the zone's offset: the [app] zone must keep one offset all year (China's
    has since 1991)."""
    tz = local_tz()
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(tz.key, column), Date)
    hours = datetime.now(tz).utcoffset().total_seconds() / 3600
    return type_coerce(func.date(column, f"{hours:+g} hours"), Date)


def _hours_between(session: Session, start, end):  # noqa: ANN001, ANN202
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def department_recount(session: Session):  # noqa: ANN201 - a Select
    """SELECT of event_department_daily as the cases and their log define it (DEPARTMENT_KEY + city_code,
    one column per counter). A milestone's department is the one on the log row that recorded it: the
    first dispatch, the first feedback and the 结案 rows carry their time exactly; a rework row is its own
    milestone. Report, 立案 and 不予立案 happen before any dispatch: department ""."""
    e, t = Event, EventTransition
    district = func.coalesce(e.district_code, literal_column("''"))

    def dept_of(action: str, at):  # noqa: ANN001, ANN202
        return select(t.department_code).where(t.event_id == e.id, t.action == action, t.at == at) \
            .order_by(t.id).limit(1).scalar_subquery()

    def dept_of_verification():  # noqa: ANN202 - the first 核查 is a pass or a fail row at verified_at
        return select(t.department_code).where(t.event_id == e.id, t.action.in_(("verify_pass", "verify_fail")),
                                               t.at == e.verified_at).order_by(t.id).limit(1).scalar_subquery()

    def flag(col):  # noqa: ANN001, ANN202
        return case((col.is_(True), 1), else_=0)

    def part(day, dept, source_from, where, **counters):  # noqa: ANN001, ANN202
        none = literal_column("''")
        cols = [_sql_local_day(session, day).label("day"), e.city_code.label("city_code"),
                district.label("district_code"),
                (none if dept is None else func.coalesce(dept, none)).label("department_code"),
                e.category.label("category"), e.source.label("source")]
        for c in COUNTERS:
            value = counters.get(c, 0.0 if c == "handle_hours_sum" else 0)
            if isinstance(value, (int, float)):
                value = literal_column(repr(float(value)) if c == "handle_hours_sum" else str(int(value)))
            cols.append(value.label(c))
        return select(*cols).select_from(source_from).where(*where)

    hours = _hours_between(session, func.coalesce(e.dispatched_at, e.reported_at), e.handled_at)
    parts = [
        part(e.reported_at, None, e, [e.duplicate_of.is_(None)], reported=1),
        part(e.reported_at, None, e, [e.duplicate_of.is_not(None)], merged=1),
        part(e.registered_at, None, e, [e.registered_at.is_not(None)], registered=1),
        part(e.rejected_at, None, e, [e.rejected_at.is_not(None)], rejected=1),
        part(e.dispatched_at, dept_of("dispatch", e.dispatched_at), e, [e.dispatched_at.is_not(None)],
             dispatched=1, dispatched_on_time=flag(e.dispatched_on_time)),
        part(e.handled_at, dept_of("feedback", e.handled_at), e, [e.handled_at.is_not(None)], handled=1,
             handled_on_time=flag(e.handled_on_time),
             handle_hours_sum=case((hours > 0, hours), else_=0.0)),
        part(e.closed_at, dept_of("close", e.closed_at), e, [e.closed_at.is_not(None)], closed=1,
             closed_on_time=flag(e.closed_on_time), rated=case((e.satisfaction.is_not(None), 1), else_=0),
             satisfied=case((e.satisfaction >= 4, 1), else_=0)),
        part(t.at, t.department_code, t.__table__.join(e.__table__, t.event_id == e.id), [t.action == "rework"],
             reworked=1),
        part(e.verified_at, dept_of_verification(), e, [e.verified_at.is_not(None)], verified=1,
             verified_on_time=flag(e.verified_on_time)),
        part(e.closed_at, dept_of("close", e.closed_at), e, [e.closed_at.is_not(None), e.supervised_at.is_not(None)],
             supervised_closed=1, supervised_closed_on_time=flag(e.supervision_on_time)),
    ]
    rows = union_all(*parts).subquery()
    key = [rows.c[k] for k in ("day", "city_code", "district_code", "department_code", "category", "source")]
    return select(*key, *[func.sum(rows.c[c]).label(c) for c in COUNTERS]).group_by(*key)


def rebuild_department(session: Session) -> int:
    """Store event_department_daily as `department_recount` defines it (after a bulk load or a rebuild)."""
    session.execute(delete(EventDepartmentDaily))
    session.execute(insert(EventDepartmentDaily).from_select(
        ["day", "city_code", "district_code", "department_code", "category", "source", *COUNTERS],
        department_recount(session)))
    return session.scalar(select(func.count()).select_from(EventDepartmentDaily)) or 0


def department_differences(session: Session, tolerance: float = 1e-6) -> pd.DataFrame:
    """Rows where event_department_daily as kept by the writes disagrees with `department_recount`
    (empty = consistent)."""
    d = EventDepartmentDaily
    key = list(DEPARTMENT_KEY)
    recount_rows = department_recount(session).subquery()
    derived = rows_frame(session.execute(select(*[recount_rows.c[k] for k in key],
                                                *[recount_rows.c[c] for c in COUNTERS])).all(),
                         columns=[*key, *COUNTERS])
    kept = rows_frame(session.execute(select(*[getattr(d, k) for k in key],
                                             *[getattr(d, c) for c in COUNTERS])).all(), columns=[*key, *COUNTERS])

    def shaped(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(columns=list(COUNTERS), index=pd.MultiIndex.from_tuples([], names=key))
        frame = frame.assign(day=pd.to_datetime(frame["day"]).dt.date)
        out = frame.groupby(key)[list(COUNTERS)].sum().astype(float)
        return out[(out.abs() > tolerance).any(axis=1)].sort_index()

    a, b = shaped(kept), shaped(derived)
    a, b = a.align(b, fill_value=0.0)
    bad = ((a - b).abs() > tolerance).any(axis=1)
    return pd.concat({"kept": a[bad], "recount": b[bad]}, axis=1)
