"""Scoped reads of the region tree (tiny city, both backends)."""
from __future__ import annotations

import pytest

from geo import hierarchy as h
from store.db import session_scope
from store.scope import PermissionDenied, Viewer

CITY_VIEWER = Viewer("zhang", "duty_officer", "440900")
DISTRICT_VIEWER = Viewer("li", "leader", "440902")
GRID_VIEWER = Viewer("wang", "grid_officer", "440902001001001")


def test_get_region_and_children(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        assert h.get_region(s, "440902").name == "茂南区"
        assert [r.code for r in h.children(s, "440900")] == ["440902", "440904"]
        assert [r.code for r in h.children(s, "440902001001", DISTRICT_VIEWER)] == [
            "440902001001001", "440902001001002"]
        assert h.children(s, "440902001001001", GRID_VIEWER) == []


def test_out_of_zone_is_refused_in_chinese(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        for fn in (h.get_region, h.children, h.ancestors, h.breadcrumb):
            with pytest.raises(PermissionDenied, match="不在您的管辖范围内"):
                fn(s, "440904", DISTRICT_VIEWER)
        with pytest.raises(PermissionDenied):
            h.children(s, "440900", GRID_VIEWER)
        with pytest.raises(PermissionDenied):
            h.region_tree(s, "440900", "grid", DISTRICT_VIEWER)


def test_unknown_and_malformed_codes(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        with pytest.raises(LookupError, match="未找到区划 440906"):
            h.get_region(s, "440906")
        with pytest.raises(LookupError, match="格式不正确"):
            h.children(s, "4409")
        # Out of zone beats unknown: a viewer cannot probe which codes exist elsewhere.
        with pytest.raises(PermissionDenied):
            h.get_region(s, "440906", DISTRICT_VIEWER)


def test_ancestors_and_breadcrumb(city_engine):
    grid = "440904002001002"
    with session_scope(city_engine, readonly=True) as s:
        assert [r.code for r in h.ancestors(s, grid)] == ["440900", "440904", "440904002", "440904002001"]
        assert h.ancestors(s, "440900") == []
        crumbs = h.breadcrumb(s, grid, CITY_VIEWER)
        assert [c["level"] for c in crumbs] == ["city", "district", "street", "community", "grid"]
        assert crumbs[1] == {"code": "440904", "name": "电白区", "level": "district"}
        # A district leader's breadcrumb starts at their district.
        assert [c["code"] for c in h.breadcrumb(s, "440902001001001", DISTRICT_VIEWER)] == [
            "440902", "440902001", "440902001001", "440902001001001"]
        assert [c["code"] for c in h.breadcrumb(s, "440902001001001", GRID_VIEWER)] == ["440902001001001"]


def test_region_tree(city_engine):
    with session_scope(city_engine, readonly=True) as s:
        tree = h.region_tree(s, "440900", "street")
        assert tree["code"] == "440900" and [d["code"] for d in tree["children"]] == ["440902", "440904"]
        assert [st["code"] for st in tree["children"][1]["children"]] == ["440904001", "440904002"]
        assert all(st["children"] == [] for d in tree["children"] for st in d["children"])
        full = h.region_tree(s, max_level="grid", viewer=DISTRICT_VIEWER)  # root = the viewer's zone
        assert full["code"] == "440902"

        def count(node):
            return 1 + sum(count(c) for c in node["children"])

        assert count(full) == 1 + 2 + 4 + 8
        with pytest.raises(ValueError, match="未知的级别"):
            h.region_tree(s, "440900", "village")
