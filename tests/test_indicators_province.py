"""A province scope (a multi-city deployment's overview: the province leader's zone, a prefix of city_code)
reads the district and department copies of the case rollup and the per-case histogram as a city does,
and gets the figures the grid rollup and the cases give — on SQLite and on PostgreSQL. Before the copies
served the province, its overview read the grid rollup and ranked every case of the province (a first
province view of 8–9 s at province scale, bench/RESULTS.md)."""
from __future__ import annotations

from datetime import UTC, datetime

import indicators as I
from indicators import engine as E
from indicators import sqlbuild
from indicators.library import load_library
from store.db import get_engine
from store.scope import Viewer
from tests.test_demo_province import _seed, province_url  # noqa: F401 - the fixture
from tests.test_indicators_rollup_measures import _same  # p90: within the bin error
from demo.cities import province_cities

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PROVINCE = "440000"
LEADER = Viewer("shengling", "leader", PROVINCE)


def _province_ids() -> list[str]:
    return [i for i, ind in load_library().items() if "province" in ind.levels]


def _figures(engine, ids: list[str], city: str) -> dict:  # noqa: ANN001
    E.clear_statement_cache()
    out = {}
    for period in ("2026-10", "2026-11"):  # a whole month, and November cut at NOW
        for scope in (PROVINCE, city):
            for k, r in I.compute_many(ids, scope, period, LEADER, engine=engine, now=NOW).items():
                out[(scope, period, k)] = (r.value, r.mom)
        for level in ("city", "district"):
            frame = I.compute_children_many(ids, PROVINCE, period, LEADER, engine=engine, now=NOW, level=level)
            for row in frame.itertuples(index=False):
                out[(row.region_code, period, row.indicator_id)] = (row.value, None)
    return out


def test_a_province_reads_the_copies_and_gets_the_figures_of_the_fine_rows(province_url, monkeypatch):  # noqa: F811
    _seed(province_url)
    engine = get_engine(province_url)
    ids = _province_ids()
    city = province_cities(3)[1]["code"]
    read = []
    real_coarser = sqlbuild.coarser_source

    def spy(measures, req):  # noqa: ANN001, ANN202
        name = real_coarser(measures, req)
        if req.scope == PROVINCE:
            read.append(name)
        return name

    monkeypatch.setattr(sqlbuild, "coarser_source", spy)
    from_copies = _figures(engine, ids, city)
    assert "event_district_daily" in read  # the province's own figures came from the district copy
    # The same requests from the fine rows only: the grid rollup, and the cases for per-case measures.
    monkeypatch.setattr(sqlbuild, "coarser_source", lambda measures, req: None)
    monkeypatch.setattr(sqlbuild, "rollup_serves", lambda form, req: False)
    from_rows = _figures(engine, ids, city)
    assert from_copies.keys() == from_rows.keys()
    wrong = [(k, from_copies[k], from_rows[k]) for k in from_rows
             if not all(_same(k[2], a, b) for a, b in zip(from_copies[k], from_rows[k]))]
    assert not wrong, wrong[:10]
    assert sum(v[0] is not None for v in from_rows.values()) > 200
