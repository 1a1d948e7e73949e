"""Grid events on the map: aggregated to grid bins on the server at city/district scope, individual
points once the scope is a street or smaller (and the count is under [map].max_raw_points)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

import settings
from events.deadlines import DEADLINE_STATE_NAMES, deadline_state
from events.workflow import OPEN_STATUSES, STATUS_NAMES
from store.models import Event, Region
from store.period import Period
from store.scope import Viewer, apply_scope, in_region, level_of

POINT_LEVELS = ("street", "community", "grid")


@dataclass(frozen=True)
class EventMap:
    mode: str            # "bins" (one row per grid, at its centroid) or "points"
    frame: pd.DataFrame  # bins: lon, lat, count, open, overdue, tip; points: id, lon, lat, state, tip
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
    stmt = _period_filter(base.add_columns(
        Event.id, Event.lon, Event.lat, Event.status, Event.category, Event.subcategory, Event.title,
        Event.stage_deadline, Event.stage_warn_at), period).order_by(Event.id)
    rows = session.execute(stmt).all()
    records = []
    for r in rows:
        open_ = r.status in OPEN_STATUSES
        dl_state = deadline_state(now, r.stage_warn_at, r.stage_deadline) if open_ else None
        state = "closed" if not open_ else ("overdue" if dl_state == "overdue" else
                                            "warning" if dl_state == "warning" else "open")
        tip = (f"#{r.id} {r.title}\n{r.category}/{r.subcategory}\n状态：{STATUS_NAMES.get(r.status, r.status)}"
               f"（{DEADLINE_STATE_NAMES[dl_state]}）")
        records.append({"id": r.id, "lon": r.lon, "lat": r.lat, "state": state, "tip": tip})
    return pd.DataFrame(records, columns=["id", "lon", "lat", "state", "tip"])


def _grid_bins(session: Session, base, period: Period, now: datetime) -> pd.DataFrame:  # noqa: ANN001
    is_open = Event.status.in_(OPEN_STATUSES)
    overdue = is_open & (Event.stage_deadline < now)
    stmt = _period_filter(base.add_columns(
        Event.grid_code, func.count(Event.id).label("count"),
        func.sum(is_open.cast(Integer)).label("open"), func.sum(overdue.cast(Integer)).label("overdue"),
    ), period).group_by(Event.grid_code)
    counts = pd.DataFrame(session.execute(stmt).all(), columns=["grid_code", "count", "open", "overdue"])
    if counts.empty:
        return pd.DataFrame(columns=["lon", "lat", "count", "open", "overdue", "tip"])
    centres = pd.DataFrame(session.execute(
        select(Region.code, Region.name, Region.centroid_lon, Region.centroid_lat)
        .where(Region.code.in_(counts["grid_code"].dropna().tolist()))).all(),
        columns=["grid_code", "name", "lon", "lat"])
    frame = counts.merge(centres, on="grid_code", how="inner").sort_values("grid_code")
    frame[["open", "overdue"]] = frame[["open", "overdue"]].fillna(0).astype(int)
    frame["tip"] = [f"{n}\n上报 {c} 件，未办结 {o} 件，超期 {d} 件"
                    for n, c, o, d in zip(frame["name"], frame["count"], frame["open"], frame["overdue"])]
    return frame[["lon", "lat", "count", "open", "overdue", "tip"]].reset_index(drop=True)

