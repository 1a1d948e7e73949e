"""重复上报 for a whole import file at once: the intake check (events.duplicates) set-based.

Creating cases one by one, every row asked the store for the open cases of its 小类 nearby, and so also
found the rows created before it in the same file. Here the same answer comes from one read of the open
cases that could match any row (`existing_candidates`) and a spatial hash per (大类, 小类) over those and
the file's own rows, in file order: row j sees the store's cases and the rows before it, exactly as
before, with the same rule (radius and window from [duplicates], both bounds inclusive), the same exact
distance and the same order (nearest, then the closest in time, then the newest). A file row stands in
with a provisional id above every stored case (its real id is only known when the import writes), so
"newest" orders it as the write will.

Nothing here writes; the importer calls it while no write transaction is open, and once more in its
write for the cases that were reported after it read (`existing_candidates(after_id=…)`).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from events import duplicates
from events.statuses import OPEN_STATUSES
from store.models import Event

_M_PER_DEG_LAT = 110_574.0  # as events.duplicates: the smallest, so a cell is never too small


@dataclass(frozen=True)
class Point:
    """A case that a row may repeat: a stored open case (`row` None) or an earlier row of the file."""
    id: int                 # stored id, or the row's provisional id
    category: str
    subcategory: str
    lon: float
    lat: float
    at: datetime
    row: int | None = None  # index of the file row, when it is one


@dataclass(frozen=True)
class Match:
    """One candidate of one row, with what orders it."""
    distance_m: float
    age_hours: float
    point: Point

    def key(self) -> tuple:
        return (self.distance_m, abs(self.age_hours), -self.point.id)

    def brief(self, id_of=None) -> dict:  # noqa: ANN001 - id_of(row index) → the row's case id
        cid = self.point.id if self.point.row is None or id_of is None else id_of(self.point.row)
        return {"id": cid, "distance_m": round(self.distance_m, 1), "age_hours": round(self.age_hours, 1)}


def existing_candidates(session: Session, rows: list[Point], *, after_id: int | None = None,
                        before_id: int | None = None) -> list[Point]:
    """The stored open cases any of `rows` could repeat: of their 小类, reported within the widest
    window around the file's span (the per-row rule narrows it afterwards). `after_id`/`before_id`
    restrict to ids in between (the cases reported after the import read the store)."""
    if not rows:
        return []
    subcategories = sorted({r.subcategory for r in rows})
    widest = max(duplicates.rule_for(r.category, r.subcategory).window_hours
                 for r in {(r.category, r.subcategory): r for r in rows}.values())
    window = timedelta(hours=widest)
    start, end = min(r.at for r in rows) - window, max(r.at for r in rows) + window
    stmt = select(Event.id, Event.category, Event.subcategory, Event.lon, Event.lat, Event.reported_at).where(
        Event.subcategory.in_(subcategories), Event.status.in_(OPEN_STATUSES),
        Event.reported_at >= start, Event.reported_at <= end)
    if after_id is not None:
        stmt = stmt.where(Event.id > after_id)
    if before_id is not None:
        stmt = stmt.where(Event.id < before_id)
    return [Point(r.id, r.category, r.subcategory, r.lon, r.lat, r.reported_at)
            for r in session.execute(stmt).all()]


class _Grid:
    """Points of one (大类, 小类) hashed by cells at least as large as the rule's bounding box."""

    def __init__(self, rule: duplicates.Rule, max_abs_lat: float) -> None:
        self.rule = rule
        self.window = timedelta(hours=rule.window_hours)
        self.dlat = rule.radius_m / _M_PER_DEG_LAT * 1.01
        coslat = max(math.cos(math.radians(min(89.0, max_abs_lat + self.dlat))), 1e-6)
        self.dlon = rule.radius_m / (_M_PER_DEG_LAT * coslat) * 1.01
        self.cells: dict[tuple[int, int], list[Point]] = defaultdict(list)

    def cell(self, lon: float, lat: float) -> tuple[int, int]:
        return (math.floor(lat / self.dlat), math.floor(lon / self.dlon))

    def add(self, p: Point) -> None:
        self.cells[self.cell(p.lon, p.lat)].append(p)

    def near(self, q: Point) -> list[Match]:
        cy, cx = self.cell(q.lon, q.lat)
        out = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for p in self.cells.get((cy + dy, cx + dx), ()):
                    if abs(q.at - p.at) > self.window:
                        continue
                    d = duplicates.distance_m(q.lon, q.lat, p.lon, p.lat)
                    if d <= self.rule.radius_m:
                        out.append(Match(d, (q.at - p.at).total_seconds() / 3600, p))
        return out


def match_rows(rows: list[Point], checked: list[bool], stored: list[Point], *, earlier_rows: bool = True,
               limit: int = duplicates.MAX_CANDIDATES) -> list[list[Match]]:
    """For each file row (a Point whose `row` is its index), its candidates nearest first: the `stored`
    cases and, with `earlier_rows`, the rows before it. `checked[j]` False: row j gets none of its own
    (a 待定位 row: its location says nothing about what is nearby), but later rows may still find it."""
    grids: dict[tuple[str, str], _Grid] = {}
    max_abs_lat = max([abs(p.lat) for p in rows] + [abs(p.lat) for p in stored] + [0.0])

    def grid(category: str, subcategory: str) -> _Grid:
        key = (category, subcategory)
        if key not in grids:
            grids[key] = _Grid(duplicates.rule_for(category, subcategory), max_abs_lat)
        return grids[key]

    wanted = {(r.category, r.subcategory) for r in rows}
    for p in stored:
        # The store is read by 小类 only; the 大类 must match too (events.duplicates.nearest).
        if (p.category, p.subcategory) in wanted:
            grid(p.category, p.subcategory).add(p)
    out: list[list[Match]] = []
    for r, check in zip(rows, checked):
        g = grid(r.category, r.subcategory)
        found = sorted(g.near(r), key=Match.key)[:limit] if check else []
        out.append(found)
        if earlier_rows:
            g.add(r)
    return out


def merged(first: list[Match], more: list[Match], limit: int = duplicates.MAX_CANDIDATES) -> list[Match]:
    """Two candidate lists of one row as one, in the intake check's order (a case in both counts once)."""
    seen = {m.point.id for m in first if m.point.row is None}
    return sorted(first + [m for m in more if m.point.id not in seen], key=Match.key)[:limit]
