"""Grid events on the map: aggregated to grid bins on the server at city/district scope, individual
points once the scope is a street or smaller (and the count is under [map].max_raw_points)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy.orm import Session

import settings
from events.views import EventViews
from store.period import Period
from store.region_codes import level_of
from store.scope import Viewer

POINT_LEVELS = ("street", "community", "grid")
BIN_COLUMNS = ["lon", "lat", "count", "open", "overdue", "tip"]


@dataclass(frozen=True)
class EventMap:
    mode: str            # "bins" (one row per grid, at its centroid) or "points"
    frame: pd.DataFrame  # bins: lon, lat, count, open, overdue, tip; points: id, lon, lat, status, state, tip
    total: int


def event_map(session: Session, viewer: Viewer, code: str, period: Period, now: datetime) -> EventMap:
    """Events reported in `period` inside region `code`, as the viewer may see them."""
    views = EventViews(session, viewer)
    total = views.reported_count(period, code)
    cap = int(settings.get_settings()["map"]["max_raw_points"])
    if level_of(code) in POINT_LEVELS and total <= cap:
        return EventMap("points", views.period_points(period, code, now), total)
    return EventMap("bins", views.grid_bins(period, code, now)[BIN_COLUMNS], total)
