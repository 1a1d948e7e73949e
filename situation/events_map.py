"""Grid events on the map: aggregated to grid bins on the server at city/district scope, individual
points once the scope is a street or smaller (and the count is under [map].max_raw_points)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

import settings
from events.queries import POINT_COLUMNS, point_frame
from events.workflow import OPEN_STATUSES
from store.frames import rows_frame
from store.models import Event, Region
from store.period import Period
from store.scope import Viewer, apply_scope, in_region, level_of

POINT_LEVELS = ("street", "community", "grid")


@dataclass(frozen=True)
class EventMap:
    mode: str            # "bins" (one row per grid, at its centroid) or "points"
    frame: pd.DataFrame  # bins: lon, lat, count, open, overdue, tip; points: id, lon, lat, status, state, tip
    total: int


def _period_filter(stmt, period: Period):  # noqa: ANN001, ANN202
    start, end = period.utc_bounds()
    return stmt.where(Event.reported_at >= start, Event.reported_at < end)


def event_map(session: Session, viewer: Viewer, code: str, period: Period, now: datetime) -> EventMap:
    """Events reported in `period` inside region `code`, as the viewer may see them."""
    base = apply_scope(select(), Event, viewer).where(in_region(Event, code))
    total = session.scalar(_period_filter(base.add_columns(func.count(Event.id)), period)) or 0
    cap = int(settings.get_settings()["map"]["max_raw_points"])
    if level_of(code) in POINT_LEVELS and total <= cap:
        return EventMap("points", _points(session, base, period, now), total)
    return EventMap("bins", _grid_bins(session, base, period, now), total)


def _points(session: Session, base, period: Period, now: datetime) -> pd.DataFrame:  # noqa: ANN001
    rows = session.execute(_period_filter(base.add_columns(*POINT_COLUMNS), period).order_by(Event.id)).all()
    return point_frame(rows, now)


def _grid_bins(session: Session, base, period: Period, now: datetime) -> pd.DataFrame:  # noqa: ANN001
    is_open = Event.status.in_(OPEN_STATUSES)
    overdue = is_open & (Event.stage_deadline < now)
    stmt = _period_filter(base.add_columns(
        Event.grid_code, func.count(Event.id).label("count"),
        func.sum(is_open.cast(Integer)).label("open"), func.sum(overdue.cast(Integer)).label("overdue"),
    ), period).group_by(Event.grid_code)
    counts = rows_frame(session.execute(stmt).all(), columns=["grid_code", "count", "open", "overdue"])
    if counts.empty:
        return pd.DataFrame(columns=["lon", "lat", "count", "open", "overdue", "tip"])
    centres = rows_frame(session.execute(
        select(Region.code, Region.name, Region.centroid_lon, Region.centroid_lat)
        .where(Region.code.in_(counts["grid_code"].dropna().tolist()))).all(),
        columns=["grid_code", "name", "lon", "lat"])
    frame = counts.merge(centres, on="grid_code", how="inner").sort_values("grid_code")
    frame[["open", "overdue"]] = frame[["open", "overdue"]].fillna(0).astype(int)
    frame["tip"] = [f"{n}\n上报 {c} 件，未办结 {o} 件，超期 {d} 件"
                    for n, c, o, d in zip(frame["name"], frame["count"], frame["open"], frame["overdue"])]
    return frame[["lon", "lat", "count", "open", "overdue", "tip"]].reset_index(drop=True)

