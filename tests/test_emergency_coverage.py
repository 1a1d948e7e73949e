"""Coverage per grid and per region on the tiny city (16 grids of 0.5° × 0.25°, 1200 residents each)."""
from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from emergency.coverage import grid_coverage, region_coverage
from store.db import session_scope
from store.models import Region, Resource
from tests.test_emergency_nearest import brute_km
from tests.test_emergency_support import add_resource

GRID = "440902001001001"  # north-west corner grid, centroid (110.25, 21.875)


def _centroid(engine, code):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        r = s.get(Region, code)
        return r.centroid_lon, r.centroid_lat


def test_grid_and_region_coverage(city_engine):
    lon, lat = _centroid(city_engine, GRID)
    with session_scope(city_engine) as s:
        add_resource(s, "FS", "消防站", lon + 0.01, lat)            # ≈ 1.03 km: within 3 km
        add_resource(s, "MD", "医疗救护", lon, lat + 0.02)          # ≈ 2.2 km: within 5 km
        add_resource(s, "SH", "应急避难场所", lon, lat + 0.005, capacity=2400)  # ≈ 0.56 km: within 1 km
        add_resource(s, "SH-off", "应急避难场所", 111.75, 21.125, capacity=9999, status="out_of_service")
        add_resource(s, "FS-east", "消防站", 111.75, 21.125)
    with session_scope(city_engine, readonly=True) as s:
        grids = grid_coverage(s, "440900")
        regions = region_coverage(s, "440900", "district")
        streets = region_coverage(s, "440900", "street")
    assert len(grids) == 16
    g = grids.set_index("grid_code").loc[GRID]
    assert g["fire_km"] == pytest.approx(brute_km(lon, lat, lon + 0.01, lat), rel=1e-12)
    assert (g["fire_id"], g["medical_id"], g["shelter_id"]) == ("FS", "MD", "SH")
    assert bool(g["covered"]) and g["street_population"] == 4800 and g["shelter_capacity_per_resident"] == 0.5
    assert int(grids["covered"].sum()) == 1
    # The out-of-service shelter counts for nothing; the east fire station covers its own grid only.
    east = grids.set_index("grid_code").loc["440904002002002"]
    assert bool(east["fire_ok"]) and not bool(east["shelter_ok"]) and east["street_shelter_capacity"] == 0
    assert math.isclose(east["shelter_km"], brute_km(east["lon"], east["lat"], lon, lat + 0.005), rel_tol=1e-12)
    west = regions.set_index("region_code").loc["440902"]
    assert (west["name"], west["grids"], west["grids_covered"]) == ("茂南区", 8, 1)
    assert west["share_grids_covered"] == pytest.approx(1 / 8) and west["share_population_covered"] == pytest.approx(1 / 8)
    assert west["shelter_capacity"] == 2400 and west["shelter_capacity_per_resident"] == pytest.approx(2400 / 9600)
    assert regions.set_index("region_code").loc["440904", "share_fire"] == pytest.approx(1 / 8)
    assert streets.set_index("region_code").loc["440902001", "share_grids_covered"] == pytest.approx(1 / 4)


def test_no_facilities_means_every_grid_is_a_gap(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        grids = grid_coverage(s, "440900")
    assert not grids["covered"].any() and grids["fire_km"].map(math.isinf).all()


def test_cache_follows_the_data(city_engine):
    lon, lat = _centroid(city_engine, GRID)
    with session_scope(city_engine) as s:
        add_resource(s, "SH", "应急避难场所", lon, lat, capacity=100)
    with session_scope(city_engine, readonly=True) as s:
        first = grid_coverage(s, "440900")
        again = grid_coverage(s, "440900")
    assert first.equals(again)
    with session_scope(city_engine) as s:
        s.get(Resource, "SH").lon = lon + 0.5  # moved to the neighbouring community's grid
    with session_scope(city_engine, readonly=True) as s:
        moved = grid_coverage(s, "440900").set_index("grid_code")
    assert not bool(moved.loc[GRID, "shelter_ok"])
    with session_scope(city_engine, readonly=True) as s:
        street_pop = dict(s.execute(select(Region.code, Region.population).where(Region.level == "street")).all())
    assert all(v is None for v in street_pop.values())  # tiny city: street population comes from its grids
