"""The nearest search against a brute-force haversine loop in plain Python (math module, every pair).

"Match" means: the same resources in the same order with the same distances. numpy's SIMD arcsin and
libm's may differ in the last bit (≤ 1 ulp), so distances are compared to 1e-12 relative, and points
whose brute-force distances tie to that precision may come back in either order (ties are broken by id).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from emergency.nearest import (EARTH_RADIUS_KM, bounding_box, haversine_km, min_distance_km, nearest_available,
                               rank, stock_sources)
from store.db import session_scope
from store.models import InventoryItem
from tests.test_emergency_support import add_resource

R = 6371.0088  # stated once more here: the IUGG mean Earth radius the brute force uses


def brute_km(lon0, lat0, lon, lat) -> float:  # noqa: ANN001
    p0, p1 = math.radians(lat0), math.radians(lat)
    s1 = math.sin((p1 - p0) / 2)
    s2 = math.sin((math.radians(lon) - math.radians(lon0)) / 2)
    a = s1 * s1 + math.cos(p0) * math.cos(p1) * s2 * s2
    return 2 * R * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def brute_rank(lon0, lat0, points, max_km=None):  # noqa: ANN001
    """points: [(id, lon, lat)] → [(distance, id)] sorted, filtered to max_km."""
    out = [(brute_km(lon0, lat0, lon, lat), pid) for pid, lon, lat in points]
    if max_km is not None:
        out = [(d, pid) for d, pid in out if d <= max_km]
    return sorted(out, key=lambda t: (t[0], str(t[1])))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def assert_same_ranking(ids, dists, brute, max_km=None) -> None:  # noqa: ANN001
    ids, dists = list(ids), list(dists)
    if max_km is not None:
        # Only a point sitting on the circle to within rounding may be in one answer and not the other.
        fast = dict(zip(ids, dists))
        slow = {pid: d for d, pid in brute}
        for pid in set(fast) ^ set(slow):
            assert _close(fast.get(pid, slow.get(pid)), max_km), pid
        keep = set(fast) & set(slow)
        ids, dists = [i for i in ids if i in keep], [d for i, d in zip(ids, dists) if i in keep]
        brute = [(d, pid) for d, pid in brute if pid in keep]
    assert len(ids) == len(brute)
    for d_fast, (d_slow, _) in zip(dists, brute):
        assert _close(d_fast, d_slow)
    i = 0
    while i < len(brute):
        j = i + 1
        while j < len(brute) and _close(brute[j][0], brute[i][0]):
            j += 1
        assert set(ids[i:j]) == {pid for _, pid in brute[i:j]}
        i = j


lons = st.floats(-180, 180, allow_nan=False)
lats = st.floats(-90, 90, allow_nan=False)
points = st.lists(st.tuples(lons, lats), min_size=0, max_size=60)


def test_radius_is_the_stated_mean_earth_radius():
    assert EARTH_RADIUS_KM == 6371.0088
    # One degree of latitude on that sphere.
    assert haversine_km(0, 0, [0], [1])[0] == pytest.approx(2 * math.pi * 6371.0088 / 360, rel=1e-12)


@hsettings(max_examples=300, deadline=None)
@given(lon0=lons, lat0=lats, pts=points)
def test_rank_matches_brute_force(lon0, lat0, pts):
    ids = [f"R{i:03d}" for i in range(len(pts))]
    order, dist = rank(lon0, lat0, ids, [p[0] for p in pts], [p[1] for p in pts])
    brute = brute_rank(lon0, lat0, [(pid, lon, lat) for pid, (lon, lat) in zip(ids, pts)])
    assert_same_ranking([ids[k] for k in order], dist, brute)


@hsettings(max_examples=300, deadline=None)
@given(lon0=lons, lat0=lats, pts=points, max_km=st.floats(0, 25000, allow_nan=False))
def test_rank_within_radius_matches_brute_force(lon0, lat0, pts, max_km):
    ids = [f"R{i:03d}" for i in range(len(pts))]
    order, dist = rank(lon0, lat0, ids, [p[0] for p in pts], [p[1] for p in pts], max_km)
    brute = brute_rank(lon0, lat0, [(pid, lon, lat) for pid, (lon, lat) in zip(ids, pts)], max_km)
    assert_same_ranking([ids[k] for k in order], dist, brute, max_km)


def _destination(lon, lat, bearing_deg, km):  # noqa: ANN001
    """The point `km` from (lon, lat) along `bearing` on the sphere (direct problem)."""
    d, b = km / R, math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return (math.degrees(l2) + 540) % 360 - 180, math.degrees(p2)


@hsettings(max_examples=500, deadline=None)
@given(lon0=st.floats(-179.9, 179.9), lat0=st.floats(-89.9, 89.9), radius=st.floats(0.01, 3000),
       bearing=st.floats(0, 360), frac=st.floats(0, 1))
def test_bounding_box_contains_every_point_inside_the_circle(lon0, lat0, radius, bearing, frac):
    """The pre-filter may only ever widen the search: a point inside the circle is inside the box."""
    lon, lat = _destination(lon0, lat0, bearing, radius * frac)
    if brute_km(lon0, lat0, lon, lat) > radius:
        return  # rounding put the constructed point just outside; nothing to check
    min_lon, max_lon, min_lat, max_lat = bounding_box(lon0, lat0, radius)
    assert min_lat <= lat <= max_lat
    if min_lon is not None:
        assert min_lon <= lon <= max_lon


def test_min_distance_matches_brute_force():
    rng = np.random.default_rng(7)
    a = rng.uniform([110, 21], [112, 22], size=(500, 2))
    b = rng.uniform([110, 21], [112, 22], size=(37, 2))
    dist, idx = min_distance_km(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    for k in range(len(a)):
        slow = [brute_km(a[k, 0], a[k, 1], x, y) for x, y in b]
        assert _close(dist[k], min(slow)) and _close(slow[idx[k]], min(slow))
    empty, none = min_distance_km(a[:, 0], a[:, 1], [], [])
    assert np.isinf(empty).all() and (none == -1).all()


KINDS = ["消防站", "医疗救护", "排涝抢险队", "应急避难场所"]


def test_nearest_available_in_the_database_matches_brute_force(city_engine):
    rng = np.random.default_rng(20261125)
    n = 400
    lon = rng.uniform(110.0, 112.0, n)
    lat = rng.uniform(21.0, 22.0, n)
    kind = rng.choice(KINDS, n)
    status = rng.choice(["available", "available", "available", "dispatched", "out_of_service"], n)
    lon[5], lat[5] = lon[4], lat[4]  # an exact tie
    with session_scope(city_engine) as s:
        for i in range(n):
            add_resource(s, f"X{i:04d}", str(kind[i]), float(lon[i]), float(lat[i]), status=str(status[i]))
    all_points = [(f"X{i:04d}", lon[i], lat[i], kind[i], status[i]) for i in range(n)]
    queries = rng.uniform([110.0, 21.0], [112.0, 22.0], size=(12, 2))
    with session_scope(city_engine, readonly=True) as s:
        for q, (qlon, qlat) in enumerate(queries):
            kinds = KINDS[: 1 + q % 4]
            pool = [(pid, x, y) for pid, x, y, k, st_ in all_points if st_ == "available" and k in kinds]
            max_km = [None, 15.0, 40.0][q % 3]
            got = nearest_available(s, float(qlon), float(qlat), kinds, max_km=max_km)
            assert_same_ranking(got["resource_id"], got["distance_km"], brute_rank(qlon, qlat, pool, max_km), max_km)
            # ETA is the distance at the kind's configured speed.
            speeds = {"消防站": 45, "医疗救护": 50, "排涝抢险队": 35, "应急避难场所": 5}
            assert np.allclose(got["eta_min"], got["distance_km"] / got["kind"].map(speeds) * 60)
            per_kind = nearest_available(s, float(qlon), float(qlat), kinds, per_kind=2)
            for k in kinds:
                want = [pid for _, pid in brute_rank(qlon, qlat, [p for p in pool if kind[int(p[0][1:])] == k])][:2]
                assert list(per_kind[per_kind["kind"] == k]["resource_id"]) == want


def test_stock_sources_nearest_first_with_free_quantity(city_engine):
    with session_scope(city_engine) as s:
        for rid, x in (("W-near", 110.51), ("W-far", 110.9), ("W-mid", 110.7)):
            add_resource(s, rid, "物资储备库", x, 21.5)
        add_resource(s, "W-off", "物资储备库", 110.5, 21.51, status="out_of_service")
        s.flush()
        s.add_all([InventoryItem(resource_id="W-near", item="沙袋", unit="袋", quantity=100, reserved=100),
                   InventoryItem(resource_id="W-far", item="沙袋", unit="袋", quantity=100, reserved=0),
                   InventoryItem(resource_id="W-mid", item="沙袋", unit="袋", quantity=50, reserved=20),
                   InventoryItem(resource_id="W-off", item="沙袋", unit="袋", quantity=500, reserved=0)])
    with session_scope(city_engine, readonly=True) as s:
        got = stock_sources(s, 110.5, 21.5, ["沙袋"])
    # Fully reserved and out-of-service warehouses are skipped; free = quantity − reserved.
    assert list(zip(got["resource_id"], got["free"])) == [("W-mid", 30), ("W-far", 100)]
