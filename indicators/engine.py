"""The indicator engine: any library indicator, for any region the viewer may see, for any period.

- `compute(id, scope, period, viewer)` → `Result`: the value (None = 无数据, never a made-up zero),
  its status, 环比 (previous period) and 同比 (same period a year earlier) with deltas, and notes.
- `compute_many(ids, scope, period, viewer)` → {id: Result}: the tile grid, batched into as few
  statements as the sources allow (all current/previous/year-ago figures of indicators on one source
  come from one pass).
- `compute_children(id, scope, period, viewer)` → DataFrame[region_code, region_name, value, status]
  for every child region of the scope (None where no data): the choropleth.
- `compute_children_many(ids, …)` → the same, long, for several indicators in one statement.
- `compute_departments_many(ids, scope, period, viewer)` → the same per department serving the scope
  (the 考核 of departments), from the sources' copies that carry the department.
- `series(id, scope, start, end, grain, viewer)` → DataFrame[period, label, value, status].

A period that contains today is taken up to today, and its 环比/同比 periods are cut to the same
number of days, so a month-to-date count is compared with the same days of the month before.
Every query is limited to the viewer's zone (and department, for department staff on sources that
carry one); a scope outside the zone raises store.scope.PermissionDenied before any SQL runs.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Iterator

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import settings
from indicators import sqlbuild as Q
from indicators.library import load_library
from indicators.plan import Options, Plan, finite
from indicators.planner import plan_for
from indicators.schema import GRAIN_NAMES, GRAINS, Indicator
from indicators.status import status_of
from store.db import get_engine, session_scope
from store.models import Department, Region
from store.models.regions import LEVEL_NAMES_ZH, LEVELS
from store.period import Period, local_tz
from store.scope import Viewer, ensure_region_visible
from store import region_codes
from store.region_codes import level_of

CUR, PREV, YOY = "cur", "prev", "yoy"


@dataclass(frozen=True)
class Result:
    indicator_id: str
    scope_code: str
    period: str  # period key, e.g. "2026-10"
    value: float | None
    status: str | None
    mom: float | None = None  # 环比: the previous period's value
    mom_delta: float | None = None
    mom_pct: float | None = None
    yoy: float | None = None  # 同比: the same period a year earlier
    yoy_delta: float | None = None
    yoy_pct: float | None = None
    note: str | None = None  # edition used for air, partial periods, level not applicable …

    @property
    def has_data(self) -> bool:
        return self.value is not None


# -- plumbing -----------------------------------------------------------------------------------------------

@contextmanager
def _session(engine: Engine | None, session: Session | None) -> Iterator[Session]:
    if session is not None:
        yield session
        return
    with session_scope(engine or get_engine(), readonly=True) as s:
        yield s


def _indicator(indicator_id: str, library: dict[str, Indicator] | None) -> Indicator:
    if library is None:
        library = load_library()
    try:
        return library[indicator_id]
    except KeyError:
        raise KeyError(f"指标库中没有指标「{indicator_id}」") from None


def _period(p: Period | str) -> Period:
    return p if isinstance(p, Period) else Period.parse(p)


def _now(now: datetime | None) -> datetime:
    return now.astimezone(timezone.utc) if now else datetime.now(timezone.utc)


def _options(now: datetime | None, edition: str | None) -> Options:
    edition = edition or settings.get_settings().get("air", {}).get("edition", "auto")
    return Options(now=_now(now), edition=str(edition))


def _today(opts: Options) -> date:
    return opts.now.astimezone(local_tz()).date()


def _cut(p: Period, days: int) -> Period:
    return Period(p.start, min(p.end, p.start + timedelta(days=days)), p.grain)


def comparison_periods(period: Period, today: date) -> tuple[dict[str, Period], str | None]:
    """{cur, prev, yoy}; a period containing today is cut at today and its comparisons to as many days."""
    periods = {CUR: period, PREV: period.previous(), YOY: period.year_ago()}
    if period.start <= today < period.end:
        days = (today - period.start).days
        periods = {label: _cut(p, days) for label, p in periods.items()}
        return periods, f"统计至 {today:%Y-%m-%d}，环比、同比按同期天数比较"
    return periods, None


def _bucket_sets(periods: dict[str, Period]) -> list[tuple[tuple[Q.Bucket, ...], dict[str, str]]]:
    """Split labelled periods into sets of non-overlapping buckets (identical periods share one)."""
    sets: list[tuple[list[Q.Bucket], dict[str, str]]] = []
    for label, p in periods.items():
        for buckets, labels in sets:
            same = next((b for b in buckets if (b.period.start, b.period.end) == (p.start, p.end)), None)
            if same is not None:
                labels[label] = same.key
                break
            if all(p.end < b.period.start or p.start > b.period.end for b in buckets):
                buckets.append(Q.Bucket(label, p))
                labels[label] = label
                break
        else:
            sets.append(([Q.Bucket(label, p)], {label: label}))
    return [(tuple(b), labels) for b, labels in sets]


_EXPECTED, _MEASURE, _COUNT = 0, 1, 2  # what a name read by a plan is (see _reader)


def _reader(plan: Plan, answer: Q.Collected):  # noqa: ANN202
    """(get, point): `get(name)` reads a measure from the answer's row that `point(key, expected)` selected.

    One reader per plan, re-pointed for each region, each name resolved to its row positions once: a
    closure and two dicts built per region cost ~65 ms of Python over every grid of a city (9,915)."""
    zero_ok = {m.name: (m.source, m.time_field) for m in plan.measures if m.zero_if_covered}
    rows, at, covered_at = answer.rows, answer.at, answer.covered_at
    resolved: dict[str, tuple] = {}
    here: list = [None, 0]  # the selected row (None: no row for the region) and the expected units

    def resolve(name: str) -> tuple:
        if name.endswith("#expected"):
            return _EXPECTED, None, None
        if name in zero_ok:
            return _COUNT, at.get(name), covered_at.get(zero_ok[name])
        return _MEASURE, at.get(name), None

    def get(name: str):  # noqa: ANN202
        kind, i, covered = resolved.get(name) or resolved.setdefault(name, resolve(name))
        if kind == _EXPECTED:
            return here[1]
        row = here[0]
        if row is None:
            return None
        v = None if i is None else row[i]
        if kind == _COUNT:
            # A count over a period in which the source holds rows is a real number (0 when none match);
            # a source with no rows at all for the city in that period means the data is not there.
            return (v or 0) if covered is not None and row[covered] else None
        return v

    def point(key: tuple, expected: int) -> None:
        here[0], here[1] = rows.get(key), expected
    return get, point


def _expected_units(ind: Indicator, period: Period) -> int:
    if ind.grain == "year":
        return period.end.year - period.start.year + 1
    return len(period.months())


def _evaluate(inds: list[Indicator], scope: str, child_level: str | None, keys: list[str] | None,
              periods: dict[str, Period], viewer: Viewer, session: Session, opts: Options,
              by_department: bool = False, names: dict[str, str] | None = None) -> dict[tuple, tuple]:
    """{(indicator id, region code, label): (value, note)} for every key region (or department) and
    labelled period.

    Indicators whose plans are plain measures share statements; custom calculators run their own.
    Snapshot indicators are evaluated once (label CUR only). `keys=None` (only where `_keyed_by_statement`
    holds): the keys are the child regions the first statement lists, written into `names` in code order —
    the same regions `_children` would read, without reading them twice."""
    session.info.pop("indicators_memo", None)  # calculators share work within this call only
    try:
        return _evaluate_plans(inds, scope, child_level, keys, periods, viewer, session, opts, by_department,
                               names)
    finally:
        session.info.pop("indicators_memo", None)


def _keyed_by_statement(inds: list[Indicator], opts: Options) -> bool:
    """Whether every indicator is computed by SQL statements alone (no custom calculator): then the
    statement's frame lists every child region with its name, and no separate read of them is needed."""
    plans = _plans(inds, opts)
    return bool(inds) and all(plans[i.id].custom is None and plans[i.id].measures for i in inds) and \
        all(plans[i.id].rollup is None or plans[i.id].rollup.plan.custom is None for i in inds)


def _evaluate_plans(inds: list[Indicator], scope: str, child_level: str | None, keys: list[str] | None,
                    periods: dict[str, Period], viewer: Viewer, session: Session, opts: Options,
                    by_department: bool = False, names: dict[str, str] | None = None) -> dict[tuple, tuple]:
    out: dict[tuple, tuple] = {}
    plans = _plans(inds, opts)
    by_ind = {ind.id: ind for ind in inds}
    groups: dict[bool, list[str]] = {}
    for ind in inds:
        groups.setdefault(plans[ind.id].snapshot, []).append(ind.id)
    for snapshot, ids in groups.items():
        wanted = {CUR: periods[CUR]} if snapshot else periods
        for buckets, labels in ([((), {CUR: None})] if snapshot else _bucket_sets(wanted)):
            req = Q.Request(scope=scope, child_level=child_level, buckets=buckets, viewer=viewer,
                            by_department=by_department)
            # A per-case indicator reads its rollup form wherever that gives the same figure.
            chosen = {i: plans[i].rollup.plan if Q.rollup_serves(plans[i].rollup, req) else plans[i] for i in ids}
            built = _statement([chosen[i] for i in ids], req)
            sql = Q.run_built(session, built, req, opts.now) if built is not None else Q.EMPTY
            if keys is None:
                names.update(sorted(sql.names.items()))
                keys = list(names)
            for i in ids:
                plan, ind = chosen[i], by_ind[i]
                answer = sql
                if plan.custom is not None and by_department:
                    answer = Q.EMPTY  # a standard calculator works on regions, never per department
                elif plan.custom is not None:
                    frame = plan.custom(session, req)
                    answer = Q.Collected({(r.k, r.b): (r.value,) for r in frame.itertuples(index=False)},
                                         {"value": 0}, {}, {})
                get, point = _reader(plan, answer)
                combine, note = plan.combine, plan.note
                for label, bkey in labels.items():
                    expected = _expected_units(ind, wanted[label])
                    for k in keys:
                        point((k, bkey), expected)
                        out[(i, k, label)] = (finite(combine(get)), note(get) if note else None)
    return out


# -- statement reuse ------------------------------------------------------------------------------------------
# Planning a library and building its statement costs more than running it on the rollups (~0.1–0.25 s for
# the whole library). Plans depend only on the definitions and the air edition, and a statement only on
# the request's shape (levels, viewer's role, how its periods fall), every value that varies being a named
# parameter (indicators.sqlbuild.params): both are kept, and a new district, a new month or a new moment
# runs the statement already built with its own values. Entries hold the definitions they were made from
# and are used only for those same objects (a reloaded or test library plans afresh).
_CACHE_SIZE = 128
_PLAN_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_STATEMENT_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _remember(cache: OrderedDict, key: tuple, value: tuple) -> None:
    with _CACHE_LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _recall(cache: OrderedDict, key: tuple, owners: tuple):  # noqa: ANN202
    with _CACHE_LOCK:
        hit = cache.get(key)
    if hit is None or len(hit[0]) != len(owners) or any(a is not b for a, b in zip(hit[0], owners)):
        return None
    return hit[1]


def _plans(inds: list[Indicator], opts: Options) -> dict[str, Plan]:
    key = (tuple(i.id for i in inds), opts.edition)
    plans = _recall(_PLAN_CACHE, key, tuple(inds))
    if plans is None:
        plans = {ind.id: plan_for(ind, opts) for ind in inds}
        _remember(_PLAN_CACHE, key, (tuple(inds), plans))
    return plans


def _statement(plans: list[Plan], req: Q.Request):  # noqa: ANN202 - a sqlbuild.Built or None
    measures = [m for p in plans for m in p.measures]
    if not measures:
        return None
    key = (tuple(id(p) for p in plans), Q.shape(req))
    built = _recall(_STATEMENT_CACHE, key, tuple(plans))
    if built is None:
        built = Q.build_once(measures, req)
        _remember(_STATEMENT_CACHE, key, (tuple(plans), built))
    return built


def clear_statement_cache() -> None:
    """Forget built plans and statements (tests measuring a cold build; a schema change in one process)."""
    with _CACHE_LOCK:
        _PLAN_CACHE.clear()
        _STATEMENT_CACHE.clear()


def _children(session: Session, scope: str, level: str | None = None) -> dict[str, str]:
    """Regions of `level` inside the scope (default: its direct children), code → name."""
    regions = Region.__table__.c
    stmt = select(regions.code, regions.name)
    if level is None or level == _child_level(scope):
        stmt = stmt.where(regions.parent_code == scope)
    else:
        stmt = stmt.where(regions.level == level, region_codes.regions_inside(regions, scope))
    # A Core statement on the connection: through the ORM session the same rows cost twice as much (every
    # grid of a city: ~35 ms against ~15 ms).
    return dict(session.connection().execute(stmt.order_by(regions.code)).all())


def _child_level(scope: str) -> str | None:
    return region_codes.child_level(level_of(scope))


def _not_at_level(ind: Indicator, level: str) -> str:
    return f"「{ind.name}」不在{LEVEL_NAMES_ZH[level]}级统计（适用：{'、'.join(LEVEL_NAMES_ZH[x] for x in ind.levels)}）"


def _result(ind: Indicator, scope: str, period: Period, vals: dict[str, tuple], extra_note: str | None) -> Result:
    value, note = vals.get(CUR, (None, None))
    notes = [n for n in (note, extra_note) if n]
    mom = yoy = None
    if not ind.is_snapshot:
        mom = vals.get(PREV, (None, None))[0]
        yoy, yoy_note = vals.get(YOY, (None, None))
        if yoy_note and note and yoy_note != note and ind.formula.kind == "standard":
            notes.append(f"同比期{yoy_note}")
    else:
        notes.append("实时状态值，不随所选时段变化")

    def delta(other: float | None) -> tuple[float | None, float | None]:
        if value is None or other is None:
            return None, None
        d = value - other
        return d, (d * 100.0 / abs(other) if other else None)

    md, mp = delta(mom)
    yd, yp = delta(yoy)
    return Result(ind.id, scope, period.key, value, status_of(ind, value), mom, md, mp, yoy, yd, yp,
                  "；".join(dict.fromkeys(notes)) or None)


# -- public API -----------------------------------------------------------------------------------------------

def compute_many(indicator_ids: Iterable[str], scope_code: str, period: Period | str, viewer: Viewer, *,
                 engine: Engine | None = None, session: Session | None = None, now: datetime | None = None,
                 edition: str | None = None, library: dict[str, Indicator] | None = None) -> dict[str, Result]:
    """Results for several indicators at one scope and period (the tile grid), in the order asked.
    `library` replaces the loaded library (tests, previewing a new definition)."""
    library = library if library is not None else load_library()
    inds = [_indicator(i, library) for i in indicator_ids]
    ensure_region_visible(viewer, scope_code)
    period = _period(period)
    opts = _options(now, edition)
    level = level_of(scope_code)
    clipped, clip_note = comparison_periods(period, _today(opts))
    plain = {CUR: period, PREV: period.previous(), YOY: period.year_ago()}
    applicable = [i for i in inds if level in i.levels]
    out: dict[str, Result] = {}
    with _session(engine, session) as s:
        evaluated: dict[tuple, tuple] = {}
        # Imported statistics are monthly or yearly figures: never cut to today.
        for ext, periods in ((False, clipped), (True, plain)):
            part = [i for i in applicable if (i.formula.kind == "external") == ext]
            if part:
                evaluated.update(_evaluate(part, scope_code, None, [scope_code], periods, viewer, s, opts))
    for ind in inds:
        if level not in ind.levels:
            out[ind.id] = Result(ind.id, scope_code, period.key, None, None, note=_not_at_level(ind, level))
            continue
        vals = {label: evaluated.get((ind.id, scope_code, label), (None, None)) for label in (CUR, PREV, YOY)}
        note = clip_note if ind.formula.kind != "external" and not ind.is_snapshot else None
        if ind.formula.kind == "external" and ind.grain == "year" and not _whole_years(period):
            note = "年度统计指标，请选择整年时段（如 2025）"
        out[ind.id] = _result(ind, scope_code, period, vals, note)
    return out


def compute(indicator_id: str, scope_code: str, period: Period | str, viewer: Viewer, **kw) -> Result:
    """One indicator's value, status, 环比 and 同比 for the scope region and period."""
    return compute_many([indicator_id], scope_code, period, viewer, **kw)[indicator_id]


def compute_children_many(indicator_ids: Iterable[str], scope_code: str, period: Period | str, viewer: Viewer, *,
                          engine: Engine | None = None, session: Session | None = None,
                          now: datetime | None = None, edition: str | None = None,
                          library: dict[str, Indicator] | None = None, level: str | None = None) -> pd.DataFrame:
    """Long frame [indicator_id, region_code, region_name, value, status] for every child region of the
    scope and every indicator (None where no data or the indicator is not kept at that level).

    `level` asks for any level below the scope instead of the next one (e.g. every grid of the city in
    one statement, for a grid-level map or ranking)."""
    library = library if library is not None else load_library()
    inds = [_indicator(i, library) for i in indicator_ids]
    ensure_region_visible(viewer, scope_code)
    period = _period(period)
    opts = _options(now, edition)
    child = _child_level(scope_code)
    if level is not None:
        if level not in LEVELS or region_codes.depth(level) <= region_codes.depth(level_of(scope_code)):
            raise ValueError(f"级别 {level!r} 不在范围 {scope_code} 之下")
        child = level
    cols = ["indicator_id", "region_code", "region_name", "value", "status"]
    if child is None:
        return pd.DataFrame(columns=cols)
    today = _today(opts)
    cur = period if not (period.start <= today < period.end) else _cut(period, (today - period.start).days)
    computed = [i for i in inds if child in i.levels and i.formula.kind != "external"]
    imported = [i for i in inds if child in i.levels and i.formula.kind == "external"]
    with _session(engine, session) as s:
        evaluated: dict[tuple, tuple] = {}
        names: dict[str, str] = {}
        if _keyed_by_statement(computed, opts):
            evaluated.update(_evaluate(computed, scope_code, child, None, {CUR: cur}, viewer, s, opts, names=names))
        else:
            names = _children(s, scope_code, child)
            if computed:
                evaluated.update(_evaluate(computed, scope_code, child, list(names), {CUR: cur}, viewer, s, opts))
        if imported:
            evaluated.update(_evaluate(imported, scope_code, child, list(names), {CUR: period}, viewer, s, opts))
    return _per_key_frame(inds, names, evaluated, cols)


def compute_departments_many(indicator_ids: Iterable[str], scope_code: str, period: Period | str,
                             viewer: Viewer, *, engine: Engine | None = None, session: Session | None = None,
                             now: datetime | None = None, edition: str | None = None,
                             library: dict[str, Indicator] | None = None) -> pd.DataFrame:
    """Long frame [indicator_id, department_code, department_name, value, status] for every department
    serving the scope (its own, those of the regions above it, those without a region) and every
    indicator: the figures of the 考核 of departments. A case's milestone counts for the department it
    was with then (store.models.EventDepartmentDaily). None where the indicator has no department
    figure: sources without a department (statistics, sensors) and scopes below a district for sources
    whose department copy stops at the district."""
    library = library if library is not None else load_library()
    inds = [_indicator(i, library) for i in indicator_ids]
    ensure_region_visible(viewer, scope_code)
    period = _period(period)
    opts = _options(now, edition)
    today = _today(opts)
    cur = period if not (period.start <= today < period.end) else _cut(period, (today - period.start).days)
    cols = ["indicator_id", "department_code", "department_name", "value", "status"]
    with _session(engine, session) as s:
        names = dict(s.execute(select(Department.code, Department.name)
                               .where(Q.departments_serving(scope_code)).order_by(Department.code)).all())
        part = [i for i in inds if i.formula.kind != "external"]
        evaluated = _evaluate(part, scope_code, None, list(names), {CUR: cur}, viewer, s, opts,
                              by_department=True) if part and names else {}
    return _per_key_frame(inds, names, evaluated, cols)


def compute_children(indicator_id: str, scope_code: str, period: Period | str, viewer: Viewer,
                     **kw) -> pd.DataFrame:
    """[region_code, region_name, value, status] for every child of the scope (the choropleth)."""
    ind = _indicator(indicator_id, kw.get("library"))
    frame = compute_children_many([indicator_id], scope_code, period, viewer, **kw)
    frame = frame.drop(columns=["indicator_id"]).reset_index(drop=True)
    child = _child_level(scope_code)
    if child is not None and child not in ind.levels:
        frame.attrs["note"] = _not_at_level(ind, child)
    return frame


def _per_key_frame(inds: list[Indicator], names: dict[str, str], evaluated: dict[tuple, tuple],
                   cols: list[str]) -> pd.DataFrame:
    """Long frame [indicator id, key, key name, value, status] built column by column (every grid of a city
    is 9,915 rows); value and status stay objects, so "no data" is None, never NaN."""
    codes, labels = list(names), list(names.values())
    ids: list = []
    keys: list = []
    key_names: list = []
    values: list = []
    statuses: list = []
    for ind in inds:
        vals = [evaluated.get((ind.id, code, CUR), _NO_VALUE)[0] for code in codes]
        ids += [ind.id] * len(codes)
        keys += codes
        key_names += labels
        values += vals
        statuses += [status_of(ind, v) for v in vals]
    return _frame(cols, [ids, keys, key_names, values, statuses])


_NO_VALUE = (None, None)


def _frame(cols: list[str], columns: list[list]) -> pd.DataFrame:
    """A frame whose last two columns (value, status) are objects: missing values stay None, where pandas
    would otherwise turn them into NaN, so "no data" reads the same everywhere."""
    data = {c: pd.Series(v, dtype=object) if c in ("value", "status") else v for c, v in zip(cols, columns)}
    return pd.DataFrame(data, columns=cols)


def _whole_years(p: Period) -> bool:
    return (p.start.month, p.start.day, p.end.month, p.end.day) == (1, 1, 12, 31)


def _units(start: Period, end: Period, grain: str) -> list[Period]:
    out: list[Period] = []
    if grain == "day":
        d = start.start
        while d <= end.end:
            out.append(Period(d, d, "day"))
            d += timedelta(days=1)
    elif grain == "month":
        p = Period.month(start.start.year, start.start.month)
        while p.start <= end.end:
            out.append(p)
            nxt = p.end + timedelta(days=1)
            p = Period.month(nxt.year, nxt.month)
    elif grain == "year":
        for y in range(start.start.year, end.end.year + 1):
            out.append(Period.parse(str(y)))
    else:
        raise ValueError(f"未知的时间粒度 {grain!r}：应为 day、month 或 year")
    return out


MAX_SERIES_POINTS = 800


def series(indicator_id: str, scope_code: str, start: Period | str | date, end: Period | str | date, grain: str,
           viewer: Viewer, *, engine: Engine | None = None, session: Session | None = None,
           now: datetime | None = None, edition: str | None = None,
           library: dict[str, Indicator] | None = None) -> pd.DataFrame:
    """[period, label, value, status] for each day/month/year from `start` to `end` (inclusive), every
    point present (None = 无数据). Snapshot indicators have no history: an empty frame with a note."""
    ind = _indicator(indicator_id, library)
    ensure_region_visible(viewer, scope_code)
    to_p = lambda x: Period(x, x, "day") if isinstance(x, date) else _period(x)  # noqa: E731
    units = _units(to_p(start), to_p(end), grain)
    cols = ["period", "label", "value", "status"]
    if len(units) > MAX_SERIES_POINTS:
        raise ValueError(f"时间序列点数 {len(units)} 过多（上限 {MAX_SERIES_POINTS}），请缩短时段或加大粒度")
    frame = pd.DataFrame(columns=cols)
    level = level_of(scope_code)
    if ind.is_snapshot:
        frame.attrs["note"] = "实时状态值，没有历史序列"
        return frame
    if level not in ind.levels:
        frame.attrs["note"] = _not_at_level(ind, level)
        return frame
    if ind.formula.kind == "external" and GRAINS.index(grain) < GRAINS.index(ind.grain):
        frame.attrs["note"] = f"「{ind.name}」按{GRAIN_NAMES[ind.grain]}报送，没有按{GRAIN_NAMES[grain]}的序列"
        return frame
    opts = _options(now, edition)
    periods = {p.key: p for p in units}
    with _session(engine, session) as s:
        evaluated = _evaluate([ind], scope_code, None, [scope_code], periods, viewer, s, opts)
    values = [evaluated.get((ind.id, scope_code, key), _NO_VALUE)[0] for key in periods]
    return _frame(cols, [list(periods), [p.label for p in periods.values()], values,
                         [status_of(ind, v) for v in values]])
