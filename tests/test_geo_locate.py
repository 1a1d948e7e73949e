"""Point → grid against the tiny city, whose expected codes tests.support.tiny_city computes
arithmetically (independent of geo.locate)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import box, mapping
from sqlalchemy import delete, select

from geo import crs
from geo.boundaries import import_boundaries
from geo.locate import Locator, clear_locator_cache, get_locator
from geo.meta import bump_boundary_version
from store.db import session_scope
from store.models import Region
from tests.support.tiny_city import codes_for_point, tiny_city_regions

LEVELS = ("city", "district", "street", "community", "grid")


def _on_grid_line(v: float) -> bool:
    """Tiny-city borders are at multiples of 0.25°; points on them belong to two grids."""
    return abs(v / 0.25 - round(v / 0.25)) < 1e-9


@pytest.fixture(scope="module")
def tiny_locator():
    rows = [(r.code, r.parent_code, r.level, r.geometry) for r in tiny_city_regions()]
    return Locator("440900", rows)


def test_locate_from_database(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        loc = Locator.from_session(s, "440900")
    assert loc.region_count == 31
    for lon, lat in [(110.1, 21.9), (111.9, 21.1), (110.6, 21.3), (111.4, 21.7)]:
        assert loc.locate(lon, lat) == codes_for_point(lon, lat)


@pytest.mark.parametrize("lon,lat", [(109.99, 21.5), (112.01, 21.5), (111.0, 22.01), (111.0, 20.99),
                                     (0.0, 0.0), (float("nan"), 21.5)])
def test_outside_city_is_none(tiny_locator, lon, lat):
    assert tiny_locator.locate(lon, lat) is None


@settings(max_examples=400, deadline=None)
@given(lon=st.floats(110.0, 112.0), lat=st.floats(21.0, 22.0))
def test_random_points_match_arithmetic(tiny_locator, lon, lat):
    assume(not _on_grid_line(lon) and not _on_grid_line(lat))
    assert tiny_locator.locate(lon, lat) == codes_for_point(lon, lat)


def test_shared_edge_goes_to_smallest_code(tiny_locator):
    # lon 111.0 is the border of 440902 and 440904: the smaller code wins, whatever the tree order.
    assert tiny_locator.locate(111.0, 21.6)["district"] == "440902"


def test_locate_many_equals_locate(tiny_locator):
    rng = np.random.default_rng(11)
    lons = rng.uniform(109.8, 112.2, 3000)
    lats = rng.uniform(20.8, 22.2, 3000)
    lons[:3] = [110.0, 112.0, np.nan]  # edges and a missing value
    many = tiny_locator.locate_many(lons, lats)
    assert many == [tiny_locator.locate(x, y) for x, y in zip(lons, lats)]
    assert any(m is None for m in many) and any(m is not None for m in many)
    cols = tiny_locator.locate_columns(lons, lats)
    for i in range(0, 3000, 97):
        expected = many[i] or dict.fromkeys(LEVELS)
        assert {lv: cols[lv][i] for lv in LEVELS} == expected


def test_locate_with_input_crs(tiny_locator):
    g_lon, g_lat = crs.from_wgs84(110.1, 21.9, "gcj02")
    assert tiny_locator.locate(g_lon, g_lat, crs="gcj02") == codes_for_point(110.1, 21.9)
    b_lon, b_lat = crs.from_wgs84(110.1, 21.9, "bd09")
    assert tiny_locator.locate_many([b_lon], [b_lat], crs="bd09") == [codes_for_point(110.1, 21.9)]


def test_fallback_to_deepest_region_without_grids():
    # Community 440902001001 loses its grids: points there stop at the community.
    rows = [(r.code, r.parent_code, r.level, r.geometry) for r in tiny_city_regions()
            if not r.code.startswith("440902001001") or r.level != "grid"]
    loc = Locator("440900", rows)
    got = loc.locate(110.1, 21.9)
    assert got == {**codes_for_point(110.1, 21.9), "grid": None}
    assert loc.locate(110.6, 21.9) == codes_for_point(110.6, 21.9)  # the neighbour still has grids


def test_sliver_snaps_to_nearest_grid():
    # Shrink grid 440902001001001 (lon 110.0–110.5, lat 21.75–22.0) by 0.0001° on its east side:
    # a point in that sliver is inside the community but in no grid; it snaps to the grid (≈ 10 m).
    rows = []
    for r in tiny_city_regions():
        geom = r.geometry
        if r.code == "440902001001001":
            geom = json.dumps(mapping(box(110.0, 21.75, 110.4999, 22.0)))
        rows.append((r.code, r.parent_code, r.level, geom))
    loc = Locator("440900", rows)
    assert loc.locate(110.49995, 21.9)["grid"] == "440902001001001"
    far = Locator("440900", rows, snap_degrees=0.00001)
    assert far.locate(110.49995, 21.9)["grid"] is None


def test_get_locator_caches_and_follows_imports(city_engine):
    clear_locator_cache()
    first = get_locator(city_engine, "440900")
    assert get_locator(city_engine, "440900") is first
    assert first.locate(110.05, 21.55)["grid"] == "440902001001002"
    with session_scope(city_engine) as s:
        # A new grid over a corner of grid 002. Overlapping siblings are not an import error (only
        # containment in the parent is checked), so both now contain the point.
        report = import_boundaries(s, json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": "440902001001003", "name": "新网格"},
             "geometry": mapping(box(110.0, 21.5, 110.1, 21.6))}]}, ensure_ascii=False), "wgs84")
        assert report.ok, report.lines()
    second = get_locator(city_engine, "440900")
    assert second is not first
    # The smaller code wins; once grid 002 is gone (and the version bumped) the new grid answers.
    assert second.locate(110.05, 21.55)["grid"] == "440902001001002"
    with session_scope(city_engine) as s:
        s.execute(delete(Region).where(Region.code == "440902001001002"))
        bump_boundary_version(s)
    assert get_locator(city_engine, "440900").locate(110.05, 21.55)["grid"] == "440902001001003"


def test_get_locator_inside_a_write_transaction(sqlite_city_engine):
    """A write session's bind is an options copy carrying BEGIN IMMEDIATE: get_locator must neither
    wait on the lock that session holds nor miss the cache because the engine object differs."""
    clear_locator_cache()
    base = get_locator(sqlite_city_engine, "440900")
    with session_scope(sqlite_city_engine) as s:
        s.execute(select(Region.code).limit(1))  # the write transaction (and its lock) is now open
        assert get_locator(s.get_bind(), "440900") is base
        assert get_locator(s, "440900") is base


def test_get_locator_through_a_session_sees_its_own_writes(sqlite_city_engine):
    clear_locator_cache()
    with session_scope(sqlite_city_engine) as s:
        s.execute(delete(Region).where(Region.level == "grid"))
        bump_boundary_version(s)
        assert get_locator(s, "440900").locate(110.1, 21.9)["grid"] is None
        s.rollback()
    # The rolled-back version never became current: the next caller gets the full city again.
    assert get_locator(sqlite_city_engine, "440900").locate(110.1, 21.9)["grid"] == "440902001001001"


def test_empty_city_locates_nothing(db_engine):
    clear_locator_cache()
    assert get_locator(db_engine, "440900").locate(110.1, 21.9) is None
