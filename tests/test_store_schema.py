"""The schema creates on both backends and the tiny city loads with its hierarchy intact."""
from datetime import datetime, timezone

from sqlalchemy import func, select

from store.db import session_scope
from store.models import Event, Region
from store.scope import PermissionDenied, Viewer, apply_scope, ensure_visible
from store.region_codes import is_within, level_of
from tests.support.tiny_city import codes_for_point


def test_tiny_city_loads(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        counts = dict(s.execute(select(Region.level, func.count()).group_by(Region.level)).all())
    assert counts == {"city": 1, "district": 2, "street": 4, "community": 8, "grid": 16}


def test_utc_roundtrip_and_scope(city_engine):
    t = datetime(2026, 5, 1, 10, 30, tzinfo=timezone.utc)
    with session_scope(city_engine) as s:
        for lon, lat in [(110.1, 21.9), (111.9, 21.1)]:
            e = Event(source="12345", category="市容环境", subcategory="暴露垃圾", title="t", lon=lon, lat=lat,
                      status="上报", reported_at=t)
            e.set_region(codes_for_point(lon, lat))
            s.add(e)
    viewer = Viewer("u", "grid_officer", codes_for_point(110.1, 21.9)["grid"])
    with session_scope(city_engine, readonly=True) as s:
        rows = s.scalars(apply_scope(select(Event), Event, viewer)).all()
        assert len(rows) == 1 and rows[0].reported_at == t
        other = s.scalars(select(Event).where(Event.lon > 111)).one()
        try:
            ensure_visible(viewer, other)
        except PermissionDenied:
            pass
        else:
            raise AssertionError("out-of-zone object must raise")


def test_levels():
    assert level_of("440900") == "city" and level_of("440902") == "district"
    assert level_of("440902001") == "street" and level_of("440902001001001") == "grid"
    assert is_within("440902001", "440900") and not is_within("440904001", "440902")
