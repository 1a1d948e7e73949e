"""The geo read face: the region tree as each viewer may see it (tiny city, both backends)."""
from __future__ import annotations

import pytest

from geo.views import RegionViews
from store.scope import PermissionDenied, Viewer

CITY_VIEWER = Viewer("zhang", "duty_officer", "440900")
DISTRICT_VIEWER = Viewer("li", "leader", "440902")
GRID_VIEWER = Viewer("wang", "grid_officer", "440902001001001")


def test_get_region_and_children(city_engine):
    with RegionViews.open(city_engine, CITY_VIEWER) as city:
        assert city.get_region("440902").name == "茂南区"
        assert city.get_region().code == "440900"  # default: the viewer's zone
        assert [r.code for r in city.children("440900")] == ["440902", "440904"]
    with RegionViews.open(city_engine, DISTRICT_VIEWER) as district:
        assert [r.code for r in district.children("440902001001")] == ["440902001001001", "440902001001002"]
    with RegionViews.open(city_engine, GRID_VIEWER) as grid:
        assert grid.children() == []
        assert [r.code for r in grid.drawn_regions()] == ["440902001001001"]


def test_out_of_zone_is_refused_in_chinese(city_engine):
    with RegionViews.open(city_engine, DISTRICT_VIEWER) as district:
        for fn in (district.get_region, district.children, district.ancestors, district.breadcrumb,
                   district.drawn_regions, district.region_tree):
            with pytest.raises(PermissionDenied, match="不在您的管辖范围内"):
                fn("440904")
        with pytest.raises(PermissionDenied):
            district.region_tree("440900", max_level="grid")
    with RegionViews.open(city_engine, GRID_VIEWER) as grid:
        with pytest.raises(PermissionDenied):
            grid.children("440900")


def test_unknown_and_malformed_codes(city_engine):
    with RegionViews.open(city_engine, CITY_VIEWER) as city:
        with pytest.raises(LookupError, match="未找到区划 440906"):
            city.get_region("440906")
        with pytest.raises(LookupError, match="格式不正确"):
            city.children("4409")
    # Out of zone beats unknown: a viewer cannot probe which codes exist elsewhere.
    with RegionViews.open(city_engine, DISTRICT_VIEWER) as district:
        with pytest.raises(PermissionDenied):
            district.get_region("440906")


def test_ancestors_and_breadcrumb(city_engine):
    grid = "440904002001002"
    with RegionViews.open(city_engine, CITY_VIEWER) as city:
        assert [r.code for r in city.ancestors(grid)] == ["440900", "440904", "440904002", "440904002001"]
        assert city.ancestors("440900") == []
        crumbs = city.breadcrumb(grid)
        assert [c["level"] for c in crumbs] == ["city", "district", "street", "community", "grid"]
        assert crumbs[1] == {"code": "440904", "name": "电白区", "level": "district"}
    # A district leader's breadcrumb starts at their district.
    with RegionViews.open(city_engine, DISTRICT_VIEWER) as district:
        assert [c["code"] for c in district.breadcrumb("440902001001001")] == [
            "440902", "440902001", "440902001001", "440902001001001"]
    with RegionViews.open(city_engine, GRID_VIEWER) as grid_views:
        assert [c["code"] for c in grid_views.breadcrumb("440902001001001")] == ["440902001001001"]


def test_region_tree(city_engine):
    with RegionViews.open(city_engine, CITY_VIEWER) as city:
        tree = city.region_tree("440900", max_level="street")
        assert tree["code"] == "440900" and [d["code"] for d in tree["children"]] == ["440902", "440904"]
        assert [st["code"] for st in tree["children"][1]["children"]] == ["440904001", "440904002"]
        assert all(st["children"] == [] for d in tree["children"] for st in d["children"])
        with pytest.raises(ValueError, match="未知的级别"):
            city.region_tree("440900", max_level="village")
    with RegionViews.open(city_engine, DISTRICT_VIEWER) as district:
        full = district.region_tree(max_level="grid")  # root = the viewer's zone
        assert full["code"] == "440902"

        def count(node):
            return 1 + sum(count(c) for c in node["children"])

        assert count(full) == 1 + 2 + 4 + 8
