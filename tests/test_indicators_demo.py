"""Every library indicator on the generated demo city: computes at every level it declares (value, children,
series) without error, has data somewhere, and gives the same numbers on SQLite and PostgreSQL."""
from __future__ import annotations

import math

import pytest
from sqlalchemy import select

import indicators as I
from store.db import session_scope
from store.models import Region
from store.models.regions import LEVELS
from store.scope import Viewer
from tests.test_indicators_support import DEMO_NOW, demo_engine, demo_pg_engine  # noqa: F401 - fixtures

ADMIN = Viewer("admin", "admin", "440900")
LIB = I.load_library()


def _sample_regions(engine) -> dict[str, str]:  # noqa: ANN001
    """One region per level along the busiest chain of the demo city (the first district's first street …)."""
    out = {"city": "440900"}
    with session_scope(engine, readonly=True) as s:
        code = "440900"
        for level in LEVELS[1:]:
            code = s.execute(select(Region.code).where(Region.parent_code == code).order_by(Region.code)
                             .limit(1)).scalar_one()
            out[level] = code
    return out


@pytest.mark.parametrize("indicator_id", list(LIB))
def test_every_indicator_at_every_declared_level(demo_engine, indicator_id):  # noqa: F811
    ind = LIB[indicator_id]
    regions = _sample_regions(demo_engine)
    levels = [lv for lv in ind.levels if lv in regions]  # the demo is one city: no province region
    for level in levels:
        code = regions[level]
        r = I.compute(indicator_id, code, "2026-10", ADMIN, engine=demo_engine, now=DEMO_NOW)
        assert r.value is None or math.isfinite(r.value)
        assert r.status in (None, "green", "yellow", "red")
        if level != "grid":
            kids = I.compute_children(indicator_id, code, "2026-10", ADMIN, engine=demo_engine, now=DEMO_NOW)
            assert len(kids) > 0 and kids["region_code"].is_unique
    top = regions[levels[0]]
    span = ("2022", "2026", "year", 5) if ind.grain == "year" else ("2025-12", "2026-11", "month", 12)
    s = I.series(indicator_id, top, *span[:3], ADMIN, engine=demo_engine, now=DEMO_NOW)
    assert s.empty == ind.is_snapshot
    if not s.empty:
        assert list(s.period)[0] == span[0] and len(s) == span[3]


# Indicators whose true demo value is 无数据, each with the reason (anything else must have data).
NO_DEMO_DATA = {
    "ex_report_timely_rate": "the demo deployment has no upper platform configured, so nothing is sent upward",
    "sv_supervised_ontime_rate": "the demo places its 督办 on cases still open at the anchor date; none has closed",
}


def test_every_indicator_has_demo_data(demo_engine):  # noqa: F811
    """At the city (or its top level), some recent period has a value: the demo leaves no tile empty for good."""
    missing = []
    for ind in LIB.values():
        if ind.id in NO_DEMO_DATA:
            continue
        top = "440900"
        found = False
        for period in ("2026-11", "2026-10", "2026-09", "2025"):
            if I.compute(ind.id, top, period, ADMIN, engine=demo_engine, now=DEMO_NOW).value is not None:
                found = True
                break
        if not found:
            missing.append(ind.id)
    assert missing == []


def test_demo_stats_support_year_on_year(demo_engine):  # noqa: F811
    r = I.compute("ec_retail_sales", "440902", "2026-10", ADMIN, engine=demo_engine, now=DEMO_NOW)
    assert r.value is not None and r.yoy is not None and r.yoy_pct is not None
    city = I.compute("mk_new_entities", "440900", "2026-10", ADMIN, engine=demo_engine, now=DEMO_NOW)
    districts = I.compute_children("mk_new_entities", "440900", "2026-10", ADMIN, engine=demo_engine, now=DEMO_NOW)
    assert city.value == pytest.approx(sum(districts["value"]))  # a flow: the city is the sum of its districts


def test_sqlite_and_postgres_agree_on_the_demo(demo_engine, demo_pg_engine):  # noqa: F811
    ids = list(LIB)
    for scope, period in (("440900", "2026-10"), ("440902", "2026-11")):
        a = I.compute_many(ids, scope, period, ADMIN, engine=demo_engine, now=DEMO_NOW)
        b = I.compute_many(ids, scope, period, ADMIN, engine=demo_pg_engine, now=DEMO_NOW)
        for i in ids:
            for field in ("value", "mom", "yoy"):
                x, y = getattr(a[i], field), getattr(b[i], field)
                assert (x is None) == (y is None), (i, field, x, y)
                if x is not None:
                    assert x == pytest.approx(y, rel=1e-9, abs=1e-9), (i, field, x, y)
            assert a[i].status == b[i].status and a[i].note == b[i].note, i
    ka = I.compute_children_many(ids, "440900", "2026-10", ADMIN, engine=demo_engine, now=DEMO_NOW)
    kb = I.compute_children_many(ids, "440900", "2026-10", ADMIN, engine=demo_pg_engine, now=DEMO_NOW)
    assert list(ka.region_code) == list(kb.region_code)
    for x, y, i in zip(ka.value, kb.value, ka.indicator_id):
        assert (x is None) == (y is None), i
        if x is not None:
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9), i
