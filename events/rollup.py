"""The daily event rollup: flow counters per local day × grid × 大类 × source, kept current on write.

Each counter counts a milestone on the local (Asia/Shanghai) day it happened:
  reported    上报 (reported_at)            registered  立案 (registered_at)   rejected 不予立案 (rejected_at)
  dispatched  first 派遣 (dispatched_at)    dispatched_on_time  by dispatch_deadline
  handled     first 处置反馈 (handled_at)    handled_on_time     by handle_deadline
  handle_hours_sum  hours from first dispatch to first feedback (平均处置时长 = sum / handled)
  closed      结案 (closed_at)              closed_on_time      by close_deadline
  rated / satisfied  12345 回访 recorded at 结案 (score ≥ 4 = satisfied), on the closed day
  reworked    返工 transitions, on the day of the rework
So any period's figure is a SUM over days and any level's figure a GROUP BY on an ancestor code.
`recount` rebuilds the same numbers from the events (and the rework log) for checks and repairs.

event_district_daily holds the same counters per day × district × category × source (what city and
district figures read: a year of a prefecture city is ~100k rows there against ~2.4M in the grid
rollup). `bump` adds to both in the same transaction; after a bulk load of the grid rollup,
`rebuild_district` derives it in one INSERT … SELECT.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import delete, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import settings
from store.models import Event, EventDailyRollup, EventDistrictDaily, EventTransition
from store.frames import rows_frame

COUNTERS = ("reported", "registered", "rejected", "dispatched", "dispatched_on_time", "handled",
            "handled_on_time", "closed", "closed_on_time", "reworked", "handle_hours_sum", "satisfied", "rated")
KEY = ("day", "grid_code", "category", "source")
DISTRICT_KEY = ("day", "district_code", "category", "source")
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


def bump(session: Session, event: Event, at: datetime, **increments: float) -> None:
    """Add `increments` to the rollup row of `event`'s grid/大类/source on the local day of `at`.

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


# -- recount --------------------------------------------------------------------------------------------
def _local_day(series: pd.Series, tz: ZoneInfo) -> pd.Series:
    ts = pd.to_datetime(series, utc=True)
    return ts.dt.tz_convert(tz).dt.date


EVENT_FRAME_COLUMNS = ("id", *REGION_COLUMNS, "category", "source", "reported_at", "registered_at", "rejected_at",
                       "dispatched_at", "dispatched_on_time", "handled_at", "handled_on_time", "closed_at",
                       "closed_on_time", "satisfaction")


def recount_frame(ev: pd.DataFrame, rework: pd.DataFrame, tz: ZoneInfo | None = None) -> pd.DataFrame:
    """Rollup counters from a frame of cases (EVENT_FRAME_COLUMNS; timestamps UTC) and a frame of
    返工 log rows (columns id, at), indexed by KEY. Shared by `recount` (reading the store) and the demo
    generator (its arrays), so both follow the one definition of every counter above."""
    tz = tz or local_tz()
    base = ["grid_code", "category", "source"]
    parts: list[pd.DataFrame] = []

    def milestone(time_col: str, counters: dict) -> None:
        sub = ev[ev[time_col].notna()]
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
        milestone("reported_at", {"reported": 1})
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
