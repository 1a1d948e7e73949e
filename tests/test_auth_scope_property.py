"""Property test of zone scoping in the store (store.scope), on both backends: for random users (random
roles, zones at every level, departments) and random objects (events, sensors, emergency resources
placed anywhere in the tiny city), `apply_scope` returns exactly the objects inside the user's zone
(and department, for department staff) — never one outside — and `ensure_visible` raises for every
object outside."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.roles import ROLE_NAMES
from store.models import Event, Resource, Sensor
from store.scope import PermissionDenied, Viewer, apply_scope, ensure_region_visible, ensure_visible
from store.region_codes import is_within
from tests.support.tiny_city import codes_for_point, tiny_city_regions

ZONES = sorted(r.code for r in tiny_city_regions())
DEPARTMENTS = ["CGJ", "ZJJ", "440902-CGJ"]
AT = datetime(2026, 10, 5, 1, 0, tzinfo=timezone.utc)

# Zones drawn level by level (not uniformly over codes, which would be mostly grids and leave most
# draws with nothing in zone), so every level gets both hits and misses.
zones = st.one_of(*(st.sampled_from([z for z in ZONES if len(z) == n and (n != 6 or z.endswith("00") == city)])
                    for n, city in [(6, True), (6, False), (9, False), (12, False), (15, False)]))
viewers = st.builds(
    lambda role, zone, dept: Viewer("u", role, zone, dept if role == "department" else None),
    st.sampled_from(sorted(ROLE_NAMES)), zones, st.sampled_from([*DEPARTMENTS, None]),
)
points = st.tuples(st.floats(110.0, 111.999999), st.floats(21.0, 21.999999))
objects = st.lists(st.tuples(st.sampled_from(["event", "sensor", "resource"]), points,
                             st.sampled_from([*DEPARTMENTS, None])), min_size=5, max_size=40)


def _build(kind: str, i: int, lon: float, lat: float, dept: str | None):  # noqa: ANN202
    codes = codes_for_point(lon, lat)
    if kind == "event":
        obj = Event(source="网格员", category="市容环境", subcategory="暴露垃圾", title=f"e{i}", lon=lon, lat=lat,
                    status="registered", reported_at=AT, department_code=dept)
    elif kind == "sensor":
        obj = Sensor(id=f"s{i}", kind="air", name=f"s{i}", lon=lon, lat=lat)
    else:
        obj = Resource(id=f"r{i}", kind="消防站", name=f"r{i}", lon=lon, lat=lat)
    obj.set_region(codes)
    return obj


def _expected_visible(viewer: Viewer, obj) -> bool:  # noqa: ANN001
    if not is_within(obj.grid_code, viewer.zone_code):
        return False
    if viewer.role == "department" and hasattr(obj, "department_code"):
        return viewer.department_code is not None and obj.department_code == viewer.department_code
    return True


@pytest.fixture(params=["sqlite", "postgres"])
def scope_engine(request):
    """The tiny city's regions on each backend; objects are added per example and rolled back."""
    return request.getfixturevalue("sqlite_city_engine" if request.param == "sqlite" else "city_engine_pg")


@pytest.fixture
def city_engine_pg(pg_engine):
    from store.db import session_scope

    with session_scope(pg_engine) as s:
        s.add_all(tiny_city_regions())
    return pg_engine


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(viewer=viewers, items=objects)
def test_scope_never_leaks_across_zones(scope_engine, viewer, items):
    with scope_engine.connect() as conn:
        trans = conn.begin()
        try:
            session = Session(bind=conn)
            built = [_build(kind, i, lon, lat, dept) for i, (kind, (lon, lat), dept) in enumerate(items)]
            session.add_all(built)
            session.flush()
            for model in (Event, Sensor, Resource):
                mine = [o for o in built if isinstance(o, model)]
                got = session.execute(apply_scope(select(model), model, viewer)).scalars().all()
                # Never an object outside the zone (or another department's case)...
                assert all(_expected_visible(viewer, o) for o in got)
                # ...and nothing inside it is lost.
                assert {o.id for o in got} == {o.id for o in mine if _expected_visible(viewer, o)}
            for obj in built:
                if _expected_visible(viewer, obj):
                    ensure_visible(viewer, obj)
                else:
                    with pytest.raises(PermissionDenied):
                        ensure_visible(viewer, obj)
            session.close()
        finally:
            trans.rollback()


@given(zone=st.sampled_from(ZONES), other=st.sampled_from(ZONES))
def test_region_visibility_matches_the_hierarchy(zone, other):
    viewer = Viewer("u", "leader", zone)
    inside = other.startswith(zone) or (len(zone) == 6 and zone.endswith("00") and other[:4] == zone[:4])
    if inside:
        ensure_region_visible(viewer, other)
    else:
        with pytest.raises(PermissionDenied):
            ensure_region_visible(viewer, other)
