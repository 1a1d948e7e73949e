"""研判: the exact tail and the Benjamini–Hochberg adjustment by hand; a planted surge found in the store
(grid, street and a 12345 topic) with the cases behind it; and over many seeds of data without a surge,
no more runs with a false hotspot than the stated rate (and the false discovery proportion within it
when surges are planted)."""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from events import rollup
from store.db import session_scope
from store.models import Event, Hotspot
from supervision import hotspots
from supervision.views import SupervisionViews
from tests.support.tiny_city import codes_for_point
from tests.test_events_support import DUTY, dept

TZ = ZoneInfo("Asia/Shanghai")
RUN_DAY = date(2026, 11, 30)
FDR = 0.05


def test_binomial_tail_matches_brute_force():
    for n, p in ((10, 0.1), (25, 1 / 9), (3, 0.5)):
        for k in range(0, n + 2):
            exact = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
            assert hotspots.binomial_upper_tail(k, n, p) == pytest.approx(exact, rel=1e-9, abs=1e-15)
    # A quiet unit is never a finding: 1 this week after 0 in eight weeks is p = 1/9.
    assert hotspots.surge_p_value(1, 0, 8) == pytest.approx(1 / 9)
    assert hotspots.surge_p_value(0, 40, 8) == 1.0


def test_benjamini_hochberg_by_hand():
    q = hotspots.benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 → ×4/rank: 0.04, 0.06, 0.0533, 0.5 → running minimum from the top.
    assert list(np.round(q, 4)) == [0.04, 0.0533, 0.0533, 0.5]


def _null_counts(rng, units: int, weeks: int, lam):  # noqa: ANN001
    lam = np.asarray(lam, dtype=float)
    return rng.poisson(lam), rng.poisson(lam * weeks)


def test_no_more_false_hotspots_than_the_stated_rate_over_many_seeds():
    runs, units, weeks = 400, 300, 8
    with_any = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        lam = rng.gamma(2.0, 2.0, units)  # units of every size, busy and quiet
        obs, base = _null_counts(rng, units, weeks, lam)
        found = hotspots.find_surges(list(range(units)), obs, base, baseline_weeks=weeks, fdr=FDR, min_count=1)
        with_any += bool(found)
    # With no real surge, BH bounds the chance of reporting any at FDR (the exact discrete test is
    # conservative, so the observed rate is well under it); 3 binomial standard deviations of slack.
    assert with_any / runs <= FDR + 3 * math.sqrt(FDR * (1 - FDR) / runs), with_any


def test_planted_surges_are_found_and_false_discoveries_stay_within_the_rate():
    runs, units, weeks, planted = 200, 300, 8, 10
    fdp, power = [], []
    for seed in range(runs):
        rng = np.random.default_rng(10_000 + seed)
        lam = rng.gamma(2.0, 2.0, units) + 1.0
        obs, base = _null_counts(rng, units, weeks, lam)
        surge = rng.choice(units, planted, replace=False)
        obs[surge] = rng.poisson(lam[surge] * 5 + 6)
        found = {f.unit for f in hotspots.find_surges(list(range(units)), obs, base, baseline_weeks=weeks, fdr=FDR,
                                                       min_count=3)}
        false = len(found - set(surge.tolist()))
        fdp.append(false / max(1, len(found)))
        power.append(len(found & set(surge.tolist())) / planted)
    assert np.mean(fdp) <= FDR + 0.02, np.mean(fdp)
    assert np.mean(power) > 0.9, np.mean(power)


# -- in the store ------------------------------------------------------------------------------------------
GRID_POINTS = [(110.1 + 0.5 * i, 21.9 - 0.5 * j) for i in range(4) for j in range(2)]  # 8 grids of both districts
HOT = GRID_POINTS[0]


def _cases(rng, *, surge: bool) -> list[dict]:
    """Nine weeks of reports before RUN_DAY: Poisson per grid, week and 大类 (and 12345 topics), with the
    hot grid's 市容环境 cases and the 12345 噪声 topic multiplied in the last week when `surge`."""
    rows = []
    start = RUN_DAY - timedelta(days=63)
    for day in range(63):
        d = start + timedelta(days=day)
        last_week = day >= 56
        for lon, lat in GRID_POINTS:
            for category, sub, lam in (("市容环境", "暴露垃圾", 0.4), ("街面秩序", "占道经营", 0.3)):
                rate = lam * (6 if surge and last_week and (lon, lat) == HOT and category == "市容环境" else 1)
                for _ in range(rng.poisson(rate)):
                    rows.append((d, lon, lat, category, sub, "巡查"))
        rate = 0.6 * (6 if surge and last_week else 1)
        for _ in range(rng.poisson(rate)):
            lon, lat = GRID_POINTS[rng.integers(len(GRID_POINTS))]
            rows.append((d, lon, lat, "其他事件", "社会生活噪声扰民", "12345"))
    out = []
    for i, (d, lon, lat, category, sub, source) in enumerate(rows):
        at = datetime.combine(d, time(10, 0), TZ).astimezone(timezone.utc) + timedelta(seconds=i)
        codes = codes_for_point(lon, lat)
        out.append({"source": source, "kind": "事件", "category": category, "subcategory": sub, "priority": "normal",
                    "title": sub, "description": "", "lon": lon, "lat": lat, "status": "closed", "reported_at": at,
                    "closed_at": at + timedelta(hours=3), "rework_count": 0, "return_count": 0, "version": 1,
                    "updated_at": at, **{f"{k}_code": codes.get(k) for k in ("city", "district", "street",
                                                                            "community", "grid")}})
    return out


def _load(engine, rows):  # noqa: ANN001
    with session_scope(engine) as s:
        s.execute(insert(Event), rows)
        rollup.rebuild(s)


@pytest.mark.parametrize("surge", [True, False])
def test_a_planted_surge_is_found_in_the_store(city_engine, surge):
    _load(city_engine, _cases(np.random.default_rng(7), surge=surge))
    with session_scope(city_engine) as s:
        run = hotspots.run(s, today=RUN_DAY, config={"supervision": {"baseline_weeks": 8, "min_count": 3,
                                                                     "fdr": FDR}})
    assert run.tested["grid"] > 0 and run.tested["topic"] > 0
    with session_scope(city_engine, readonly=True) as s:
        found = {(h.kind, h.region_code, h.topic) for h in s.execute(select(Hotspot)).scalars()}
    hot = codes_for_point(*HOT)
    if surge:
        assert ("grid", hot["grid"], "市容环境") in found
        assert ("street", hot["street"], "市容环境") in found
        assert ("topic", "440900", "社会生活噪声扰民") in found
    else:
        assert found == set()
    # A second run of the same day replaces the first.
    with session_scope(city_engine) as s:
        hotspots.run(s, today=RUN_DAY)
        assert s.scalar(select(func.count()).select_from(Hotspot)) == len(found)
    if surge:
        with SupervisionViews.open(city_engine, DUTY) as v:
            rows = v.hotspots()
            grid = next(r for r in rows if r["kind"] == "grid")
            behind = v.hotspot_cases(grid["id"])
        assert len(behind) == grid["observed"] and all(r["grid_code"] == hot["grid"] for r in behind)
        assert grid["lon"] is not None and grid["observed"] > grid["expected"]
        # Department staff see the finding but none of the cases (none is theirs).
        with SupervisionViews.open(city_engine, dept()) as v:
            assert v.hotspot_cases(grid["id"]) == []
