"""Point → grid, once, at write time.

A Locator holds one city's regions in an STRtree per level. A point goes to the deepest region that
contains it — normally a grid; a community without grids (or a district without streets…) keeps
the point itself. Its ancestors come from the parent chain, not from geometry, so the codes written
on a fact row always agree with the hierarchy.

Boundaries from real sources leave slivers between neighbours. A point that falls in one (inside a
community but in no grid) is snapped to the nearest child of that region within `snap_degrees`
(default ≈ 20 m); farther away it stays at the community. Points in no region at all (outside the
city) get None. On a shared edge the smallest code wins, so the answer never depends on tree order.
"""
from __future__ import annotations


import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import settings
from geo.crs import to_wgs84_array
from geo.geometry import from_texts
from geo.meta import VersionedCache, boundary_version
from store.models import LEVELS, Region

SNAP_DEGREES = 0.0002
# get_locator(bind, ALL_CITIES): one locator over every city in the database (a province deployment,
# the `locate` command); a city code (default: config.toml's city) limits it to that city.
ALL_CITIES = "*"
_NONE = -1


class Locator:
    def __init__(self, city_code: str, rows: list[tuple[str, str | None, str, str]],
                 snap_degrees: float = SNAP_DEGREES):
        """`rows`: (code, parent_code, level, geometry text) of the city's regions."""
        self.city_code = city_code
        self.snap_degrees = snap_degrees
        rows = sorted((r for r in rows if r[2] in LEVELS and r[3]), key=lambda r: (LEVELS.index(r[2]), r[0]))
        self._codes = np.array([r[0] for r in rows], dtype=object)
        self._level_no = np.array([LEVELS.index(r[2]) for r in rows], dtype=np.int64)
        index = {code: i for i, code in enumerate(self._codes)}
        self._parent = np.array([index.get(r[1], _NONE) if r[1] else _NONE for r in rows], dtype=np.int64)
        geoms = from_texts([r[3] for r in rows]) if rows else np.array([], dtype=object)
        # Prepared geometries make point-in-polygon tests on big shapes (a district border has
        # thousands of vertices) cheap; the tree's predicate queries use them.
        shapely.prepare(geoms)
        self._geoms = geoms
        # Per level: the slice of the (level, code)-sorted arrays and a tree over it. Within a slice,
        # a smaller position means a smaller code, which is how ties are broken.
        self._slices: dict[int, tuple[int, int]] = {}
        self._trees: dict[int, shapely.STRtree] = {}
        for lv in range(len(LEVELS)):
            where = np.flatnonzero(self._level_no == lv)
            if where.size:
                self._slices[lv] = (int(where[0]), int(where[-1]) + 1)
                self._trees[lv] = shapely.STRtree(geoms[where[0]:where[-1] + 1])
        has_child = np.zeros(len(rows), dtype=bool)
        has_child[self._parent[self._parent >= 0]] = True
        self._has_child = has_child
        self._chains = [self._chain(i) for i in range(len(rows))]
        # Per level, the code of every region's ancestor at that level, plus a trailing None that
        # index -1 (outside the city) picks up: column lookups become one fancy-indexing step.
        self._columns = {
            lv: np.array([c[lv] for c in self._chains] + [None], dtype=object) for lv in LEVELS
        }

    @classmethod
    def from_session(cls, session: Session, city_code: str | None = None, **kwargs) -> Locator:
        city_code = city_code or settings.get_settings()["city"]["code"]
        stmt = select(Region.code, Region.parent_code, Region.level, Region.geometry)
        if city_code != ALL_CITIES:
            stmt = stmt.where(Region.city_code == city_code)
        rows = session.execute(stmt).all()
        return cls(city_code, [tuple(r) for r in rows], **kwargs)

    @property
    def region_count(self) -> int:
        return len(self._codes)

    def _chain(self, i: int) -> dict[str, str | None]:
        codes: dict[str, str | None] = dict.fromkeys(LEVELS)
        seen = 0
        while i != _NONE and seen < len(LEVELS):
            codes[LEVELS[self._level_no[i]]] = self._codes[i]
            i = self._parent[i]
            seen += 1
        return codes

    def _contained(self, lons: np.ndarray, lats: np.ndarray, points: np.ndarray, lv: int) -> np.ndarray:
        """Global index of the smallest-code region of level `lv` containing each point, or -1.

        The tree gives bounding-box candidates; the exact test runs on the (prepared) region shapes
        with intersects_xy. STRtree's own predicate query prepares the query points instead, which
        makes a point-in-city test walk the whole city border (8× slower on a 10k-grid city)."""
        start, end = self._slices[lv]
        inp, hit = self._trees[lv].query(points)
        inside = shapely.intersects_xy(self._geoms[start + hit], lons[inp], lats[inp])
        inp, hit = inp[inside], hit[inside]
        best = np.full(len(points), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, inp, hit)
        return np.where(best == np.iinfo(np.int64).max, _NONE, best + start)

    def _snap(self, points: np.ndarray, found: np.ndarray) -> None:
        """Move points resolved above the leaf of their branch into the nearest child (in place)."""
        for lv in range(len(LEVELS) - 1):
            if lv + 1 not in self._trees:
                continue
            todo = np.flatnonzero((found >= 0) & (self._level_no[np.maximum(found, 0)] == lv))
            todo = todo[self._has_child[found[todo]]]
            if not todo.size:
                continue
            inp, hit = self._trees[lv + 1].query_nearest(points[todo], max_distance=self.snap_degrees)
            start, _ = self._slices[lv + 1]
            cand = hit + start
            ok = self._parent[cand] == found[todo[inp]]
            # query_nearest may return several equidistant children; keep the smallest code.
            best = np.full(todo.size, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(best, inp[ok], cand[ok])
            hit_mask = best != np.iinfo(np.int64).max
            found[todo[hit_mask]] = best[hit_mask]

    def locate_indices(self, lons, lats, crs: str = "wgs84") -> np.ndarray:  # noqa: ANN001
        """Index of the deepest region for each point (-1 outside the city)."""
        lons, lats = to_wgs84_array(np.atleast_1d(lons), np.atleast_1d(lats), crs)
        found = np.full(lons.shape, _NONE, dtype=np.int64)
        if not self._trees:
            return found
        points = shapely.points(lons, lats)
        pending = np.flatnonzero(np.isfinite(lons) & np.isfinite(lats))
        for lv in sorted(self._trees, reverse=True):
            if not pending.size:
                break
            hit = self._contained(lons[pending], lats[pending], points[pending], lv)
            found[pending] = hit
            pending = pending[hit == _NONE]
        self._snap(points, found)
        return found

    def locate(self, lon: float, lat: float, crs: str = "wgs84") -> dict[str, str | None] | None:
        """{city, district, street, community, grid} codes (None below the deepest region found),
        or None when the point is outside the city."""
        i = int(self.locate_indices(lon, lat, crs)[0])
        return None if i == _NONE else dict(self._chains[i])

    def locate_many(self, lons, lats, crs: str = "wgs84") -> list[dict[str, str | None] | None]:  # noqa: ANN001
        return [None if i == _NONE else dict(self._chains[i]) for i in self.locate_indices(lons, lats, crs)]

    def locate_columns(self, lons, lats, crs: str = "wgs84") -> dict[str, np.ndarray]:  # noqa: ANN001
        """Column form for bulk imports: {level: object array of codes (None where absent)}."""
        idx = self.locate_indices(lons, lats, crs)
        return {lv: col[idx] for lv, col in self._columns.items()}


_locators = VersionedCache(boundary_version, lambda session, city_code: Locator.from_session(session, city_code))


def get_locator(bind: Engine | Session | None = None, city_code: str | None = None) -> Locator:
    """The locator for `city_code` on the database of `bind`, rebuilt only when the boundary version
    moved (geo.meta.VersionedCache says how a Session and an engine are read)."""
    return _locators.get(bind, city_code or settings.get_settings()["city"]["code"])


def clear_locator_cache() -> None:
    _locators.clear()
