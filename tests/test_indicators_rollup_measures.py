"""Per-case measures in the event rollups (store.models.CaseMeasures) and the indicators that read them.

- p90 from the fixed log-spaced histogram lies within the stated bin error of the exact nearest rank;
- the rollups' per-case measures stay equal to their recount from the cases after workflow actions, on
  SQLite and PostgreSQL (durations placed exactly on bin edges included);
- on the demo city, every per-case indicator that now reads a rollup gives the figure the case-by-case
  computation gives (p90: within the bin error), at every level, for whole and partial months, on both
  backends;
- a statement built for one district runs for the next one with new values, with the same figures;
- the catalogue says for each indicator whether it reads a rollup or scans cases.
"""
from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, literal, select, update

import indicators as I
from events import rollup, workflow
from indicators import engine as E
from indicators import sqlbuild
from indicators.describe import reading
from indicators.library import load_library
from indicators.planner import plan_for
from store import histogram
from store.db import session_scope
from store.models import EventDistrictDaily, EventGridMonthly, EventGridMonthTotal
from store.scope import Viewer
from tests.test_events_support import (
    CITY_CGJ, DUTY, GRID_OFFICER, T0, dept, drive, new_case, prepare,
)
from tests.test_indicators_support import DEMO_NOW, demo_engine, demo_pg_engine  # noqa: F401 - fixtures

LIB = load_library()
MOVED = [i for i, ind in LIB.items() if plan_for(ind, E._options(None, None)).rollup is not None]
P90 = "cm_handle_hours_p90"
LEADER = Viewer("leader", "leader", "440900")


def _exact_nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[histogram.rank(len(ordered), p) - 1]


def _counts(values: list[float]) -> list[int]:
    counts = [0] * histogram.BINS
    for v in values:
        counts[histogram.bin_of(v * 3600)] += 1
    return counts


# -- the histogram -----------------------------------------------------------------------------------------------

def test_bins_are_log_spaced_with_the_stated_ratio():
    assert histogram.BINS == 50 and histogram.EDGES_S[0] == 1800 and histogram.EDGES_S[-1] == 2048 * 3600
    for lo, hi in zip(histogram.EDGES_S, histogram.EDGES_S[1:]):
        assert hi / lo == pytest.approx(2 ** 0.25, abs=1e-3)
    assert histogram.RELATIVE_ERROR == pytest.approx(0.1892, abs=1e-4)
    assert histogram.bin_of(-5) == 0 and histogram.bin_of(1799.999) == 0 and histogram.bin_of(1800) == 1
    assert histogram.bin_of(2048 * 3600) == 49 and histogram.percentile([0] * 50, 90) is None


@pytest.mark.parametrize("seed", range(8))
def test_p90_from_bins_is_within_the_bin_error_of_the_exact_value(seed):
    rng = random.Random(seed)
    shapes = [
        lambda: rng.lognormvariate(math.log(20), 1.2),    # a long tail, as handling times have
        lambda: rng.uniform(0, 200),
        lambda: rng.expovariate(1 / 6),                   # many under the first edge
        lambda: round(rng.uniform(1, 100)),              # whole hours: ties on edges (8 h, 16 h, 32 h …)
    ]
    for shape in shapes:
        for n in (1, 2, 7, 10, 99, 1000):
            values = [shape() for _ in range(n)]
            counts = _counts(values)
            for p in (50, 90, 95):
                exact = _exact_nearest_rank(values, p)
                est = histogram.percentile(counts, p)
                bound = histogram.error_bound(exact)
                assert abs(est - exact) <= bound + 1e-9, (seed, n, p, exact, est)
                if exact < 2048:  # the stated bound: 18.93 % above the first edge, 0.5 h below it
                    assert abs(est - exact) <= histogram.RELATIVE_ERROR * exact + 0.5 + 1e-9


def test_the_open_last_bin_reports_its_lower_edge():
    assert histogram.percentile(_counts([3000.0] * 10), 90) == 2048.0


def test_sql_bins_match_python_bins_on_both_backends(db_engine):
    edges = [e for k, e in enumerate(histogram.EDGES_S) if k % 7 == 0]
    values = [-3.0, 0.0, 1799.999999, *edges, *[e - 1e-6 for e in edges], *[e + 1e-6 for e in edges], 1e9]
    with session_scope(db_engine, readonly=True) as s:
        for v in values:
            assert s.scalar(select(rollup._bin_index(literal(v)))) == histogram.bin_of(v), v


# -- kept by the workflow ----------------------------------------------------------------------------------------

def _act(s, eid, action, who, at, comment="", **kw):  # noqa: ANN001, ANN003
    return workflow.transition(s, eid, action, who, comment, now=at, **kw)


def test_per_case_measures_follow_every_workflow_action(city_engine):
    """Cases through every milestone (reject, merge, redispatch, return, rework, 12345 close, a first
    feedback exactly on a bin edge): the district, department and monthly copies equal their recount."""
    prepare(city_engine)
    with session_scope(city_engine) as s:
        edge = new_case(s)  # handled exactly 8 h (an edge) after its first dispatch
        t = drive(s, edge.id, "dispatched")
        _act(s, edge.id, "feedback", dept(), T0 + timedelta(minutes=20) + timedelta(hours=8), "已处置")
        hotline = new_case(s, source="12345", source_id="H-9", reporter_name="李四", reporter_phone="13800000000")
        t = drive(s, hotline.id, "verified")
        _act(s, hotline.id, "close", DUTY, t + timedelta(hours=30), satisfaction=5)
        moved = new_case(s)  # returned, dispatched elsewhere, reworked, closed next month
        t = drive(s, moved.id, "dispatched")
        _act(s, moved.id, "return", dept(), t + timedelta(hours=1), "不属于本部门")
        _act(s, moved.id, "dispatch", DUTY, t + timedelta(hours=2), department_code=CITY_CGJ, reason="改派")
        _act(s, moved.id, "feedback", dept(CITY_CGJ), t + timedelta(hours=50), "已处置")
        _act(s, moved.id, "verify_fail", GRID_OFFICER, t + timedelta(hours=51), "未完成")
        _act(s, moved.id, "rework", DUTY, t + timedelta(hours=52), "返工")
        _act(s, moved.id, "feedback", dept(CITY_CGJ), t + timedelta(hours=60), "再次处置")
        _act(s, moved.id, "verify_pass", GRID_OFFICER, t + timedelta(days=10))
        _act(s, moved.id, "close", DUTY, t + timedelta(days=10, hours=1))
        rejected = new_case(s)
        drive(s, rejected.id, "rejected")
        merged = new_case(s)
        drive(s, merged.id, "duplicate")
        registered_only = new_case(s)
        drive(s, registered_only.id, "registered")
        s.flush()
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty
        totals = {c: sum(s.scalars(select(getattr(EventDistrictDaily, c)))) for c in rollup.CASE_MEASURES}
        assert totals["rep_rejected"] == 1 and totals["rep_closed"] == 2 and totals["reg_closed"] == 2
        assert totals["rep_registered"] == 4  # edge, hotline, moved, registered_only (not the 重复 pair)
        assert totals["disp_handled"] == 3    # edge, hotline, moved
        assert totals["handle_hist_17"] >= 1  # 8 h exactly: the bin that starts at 8 h
        assert s.scalar(select(func.sum(EventGridMonthTotal.closed))) == 2  # the totals are kept too
        # A kept value that drifts from the cases is found, and a grid-month total that drifts from the
        # monthly copy it sums.
        for drift in (update(EventGridMonthly).values(close_hours_sum=EventGridMonthly.close_hours_sum + 1),
                      update(EventGridMonthTotal).values(closed=EventGridMonthTotal.closed + 1)):
            with s.begin_nested() as savepoint:
                s.execute(drift)
                assert not rollup.district_differences(s).empty
                savepoint.rollback()
        s.rollback()


# -- the engine reads them: same figures as case by case ------------------------------------------------------------

def _case_by_case(monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setattr(sqlbuild, "rollup_serves", lambda form, req: False)


def _same(ind: str, x, y) -> bool:  # noqa: ANN001
    if x is None or y is None:
        return x is None and y is None
    if ind == P90:
        return abs(x - y) <= histogram.error_bound(y) + 1e-9
    return x == pytest.approx(y, rel=1e-9, abs=1e-9)


def _figures(engine) -> dict:  # noqa: ANN001
    out = {}
    for period in ("2026-10", "2026-11", "2025-12"):  # whole months, and November cut at DEMO_NOW
        for k, r in I.compute_many(MOVED, "440902", period, LEADER, engine=engine, now=DEMO_NOW).items():
            out[("440902", period, k, "value")] = r.value
            out[("440902", period, k, "mom")] = r.mom
        for level in ("district", "street", "grid"):
            frame = I.compute_children_many(MOVED, "440900", period, LEADER, engine=engine, now=DEMO_NOW,
                                            level=level)
            for row in frame.itertuples(index=False):
                out[(row.region_code, period, row.indicator_id, "value")] = row.value
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_rollup_reads_equal_case_by_case_on_the_demo_city(backend, request, monkeypatch):
    engine = request.getfixturevalue("demo_engine" if backend == "sqlite" else "demo_pg_engine")
    assert set(MOVED) == {"cm_register_rate", "cm_close_rate", "hl_close_rate", "sv_handle_rate",
                          "hl_avg_close_hours", P90}
    used = []
    real = sqlbuild.rollup_serves

    def spy(form, req):  # noqa: ANN001, ANN202
        ok = real(form, req)
        used.append((req.child_level, ok))
        return ok

    monkeypatch.setattr(sqlbuild, "rollup_serves", spy)
    from_rollups = _figures(engine)
    assert (None, True) in used and ("grid", True) in used  # the district copy and the monthly copy served
    _case_by_case(monkeypatch)
    from_cases = _figures(engine)
    assert from_rollups.keys() == from_cases.keys()
    wrong = [(k, from_rollups[k], from_cases[k]) for k in from_cases if not _same(k[2], from_rollups[k], from_cases[k])]
    assert not wrong, wrong[:10]
    assert sum(v is not None for v in from_cases.values()) > 1000


def test_statement_built_once_per_shape_runs_for_a_new_district(demo_engine, monkeypatch):  # noqa: F811
    ids = list(LIB)
    E.clear_statement_cache()
    built = []
    real = sqlbuild.build_once
    monkeypatch.setattr(sqlbuild, "build_once", lambda m, r: built.append(r.scope) or real(m, r))
    first = I.compute_many(ids, "440902", "2026-10", LEADER, engine=demo_engine, now=DEMO_NOW)
    n = len(built)
    assert n > 0
    reused = I.compute_many(ids, "440904", "2026-10", LEADER, engine=demo_engine, now=DEMO_NOW)
    assert len(built) == n  # the second district built nothing
    E.clear_statement_cache()
    fresh = I.compute_many(ids, "440904", "2026-10", LEADER, engine=demo_engine, now=DEMO_NOW)
    assert len(built) > n
    for i in ids:
        assert (reused[i].value, reused[i].mom, reused[i].yoy) == (fresh[i].value, fresh[i].mom, fresh[i].yoy), i
    assert any(first[i].value != reused[i].value for i in ids)  # really the other district's figures


@pytest.mark.parametrize("scope, level", [("440902", None), ("440900", "grid"), ("440900", None)])
def test_every_named_parameter_of_a_built_statement_gets_a_value(scope, level):
    """A kept statement runs with `params` only: a named parameter it lacks would silently keep the value
    of the request the statement was built for."""
    from sqlalchemy.sql.elements import BindParameter, _anonymous_label
    from sqlalchemy.sql.visitors import iterate

    from store.period import Period

    opts = E._options(None, None)
    plans = E._plans(list(LIB.values()), opts)
    dept = Viewer("d", "department", "440900", department_code="CGJ")
    for viewer in (LEADER, dept):
        buckets = (sqlbuild.Bucket("cur", Period.parse("2026-10")), sqlbuild.Bucket("prev", Period.parse("2026-09")),
                   sqlbuild.Bucket("yoy", Period.parse("2025-10")))
        for by_department in ((False, True) if level is None else (False,)):
            req = sqlbuild.Request(scope, level, buckets, viewer, by_department=by_department)
            chosen = [p.rollup.plan if sqlbuild.rollup_serves(p.rollup, req) else p for p in plans.values()
                      if not p.snapshot]
            built = sqlbuild.build_once([m for p in chosen for m in p.measures], req)
            named = {b.key for b in iterate(built.stmt) if isinstance(b, BindParameter)
                     and not isinstance(b.key, _anonymous_label)}
            assert named and named <= set(sqlbuild.params(req, opts.now)), named - set(sqlbuild.params(req, opts.now))


def test_catalogue_says_what_each_indicator_reads():
    kinds = {i: reading(ind)[0] for i, ind in LIB.items()}
    assert all(kinds[i] == "rollup" for i in MOVED)
    assert {i for i, k in kinds.items() if k == "cases"} == {"cm_open_cases", "cm_overdue_cases", "cm_overdue_share"}
    assert "实时状态" in reading(LIB["cm_overdue_cases"])[1]
    assert kinds["cm_handle_ontime_rate"] == "rollup" and kinds["env_pm25"] == "table"
