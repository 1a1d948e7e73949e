"""Compile measures into ONE SQL statement for a set of regions × periods.

Shape of the statement (SQLAlchemy Core, bound parameters only, same text on SQLite and PostgreSQL):

    SELECT keys.k, keys.name, keys.b, g1.m0, g1.m1, g2.m2, cov1.has …
    FROM (regions to report: the scope, or its children)  ×  (period buckets)   AS keys (one subquery)
    LEFT JOIN (SELECT k, b, SUM(c0), COUNT(c1) … FROM <source> WHERE scope AND zone AND time GROUP BY k, b) g1
    LEFT JOIN …                                   -- one grouped subquery per source and time field
    LEFT JOIN (SELECT b, EXISTS(rows of the source in the city in b)) cov1   -- zero versus "no data"

Every row of a source is assigned to its bucket by a CASE over the buckets' bounds (local calendar
days converted to UTC for timestamps), so a month is the same month on both backends and in any time
zone. Measures of many indicators sharing a source are aggregated in the same pass (CASE WHEN
<filters> THEN value END), which is what makes a tile grid one query.

Grouped by department instead of by region (Request.by_department, the 考核 of departments), the keys
are the departments serving the scope and each source is read through the copy that carries the
department (sources.BY_DEPARTMENT); a source with no department has no figure per department.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime, timedelta

from sqlalchemy import (Column, String, and_, bindparam, case, cast, exists, func, literal, literal_column, or_,
                        select, true, union_all)
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from indicators import sources as S
from indicators.plan import SqlMeasure, column
from store.hints import rare
from store.models import Department, Region
from store.period import Period, local_tz
from store.scope import Viewer
from store import region_codes
from store.region_codes import level_of

_BATCHED = {"sum": func.sum, "count": func.count, "avg": func.avg, "min": func.min, "max": func.max}


@dataclass(frozen=True)
class Bucket:
    key: str
    period: Period


@dataclass(frozen=True)
class Request:
    scope: str
    child_level: str | None  # None: one value for the scope; else grouped by this level's code
    buckets: tuple[Bucket, ...]  # non-overlapping
    viewer: Viewer
    by_department: bool = False  # keys are the departments serving the scope (child_level None)

    @property
    def area(self) -> str:
        """The city holding the scope — or the province itself when the scope is a province (a
        multi-city deployment's overview): the extent whose rows tell "no data at all" from a real
        zero (coverage_group) and whose cities per-city calculators go through (cities_of)."""
        return region_codes.ancestor_at(self.scope, "city") or self.scope

    @property
    def keyed(self) -> bool:
        """One value per key (child region or department) rather than one for the scope."""
        return self.child_level is not None or self.by_department


def cities_of(session: Session, req: Request) -> list[str]:
    """The city codes the request's scope covers: its city, or every city of a province scope."""
    if level_of(req.area) != "province":
        return [req.area]
    return list(session.scalars(select(Region.code).where(
        Region.level == "city", region_codes.code_inside(Region.code, req.area)).order_by(Region.code)))


def _text(value: str):  # noqa: ANN202
    # A typed literal: PostgreSQL cannot infer the type of a bare parameter in a select list.
    return cast(literal(value), String)


# -- where a row falls: scope, zone, department, period ------------------------------------------------

def _arg(name: str, value, type_=None):  # noqa: ANN001, ANN202
    """A named parameter: a value that changes from one request to the next of the same shape (region
    codes, period bounds, bucket keys, the department, the moment of computation), so a statement
    compiled for one district runs for the next with new values (`params`, indicators.engine)."""
    return bindparam(name, value, type_=type_ if type_ is not None else String())


def child_regions(req: Request):  # noqa: ANN201
    """Condition on Region: the regions of req.child_level inside the scope (its children, or any
    level further down — every grid of the city in one statement)."""
    if region_codes.depth(req.child_level) == region_codes.depth(level_of(req.scope)) + 1:
        return Region.parent_code == _arg("scope", req.scope)
    return and_(Region.level == req.child_level, S.regions_inside_bound(Region, req.scope, "scope"))


def base_conditions(spec: S.SourceSpec, req: Request) -> list:
    conds = [S.in_zone(spec, req.viewer.zone_code)]
    if req.child_level is not None and spec.keying == "region_code":
        conds.append(spec_region_col(spec).in_(
            select(Region.code).where(child_regions(req)).scalar_subquery()))
    else:
        conds.append(S.in_scope(spec, req.scope))
    if req.viewer.role == "department":
        dept = S.department_column(spec)
        if dept is not None:
            conds.append(dept == _arg("dept", req.viewer.department_code) if req.viewer.department_code
                         else literal(False))
    return conds


def spec_region_col(spec: S.SourceSpec):  # noqa: ANN201
    return S.table(spec.table).c.region_code


def key_expr(spec: S.SourceSpec, req: Request):  # noqa: ANN201
    if req.by_department:  # "" = with no department (reported, not yet dispatched)
        return func.coalesce(S.department_column(spec), literal_column("''"))
    return S.level_expr(spec, req.child_level)


def departments_serving(scope: str):  # noqa: ANN201
    """Condition on Department: the departments that serve inside region `scope` — its own bureaus and
    offices, those of the regions above it (a city bureau works in every district) and those without a
    region."""
    return or_(Department.region_code.is_(None), S.code_inside_bound(Department.region_code, scope, "scope"),
               Department.region_code.in_(bindparam("ancestors", region_codes.ancestors(scope), expanding=True)))


def department_source(name: str, req: Request) -> str | None:
    """The source a per-department figure reads instead of `name` (its copy with a department, or itself
    when it has one), or None when the source has no department or the copy cannot serve the scope."""
    name = S.BY_DEPARTMENT.get(name, name)
    spec = S.SOURCES[name]
    if S.department_column(spec) is None:
        return None
    needed = {level_of(req.scope), level_of(req.viewer.zone_code)}
    return name if needed <= set(S.groupable_levels(spec)) else None


def bounds(col, period: Period, grain: str | None = None):  # noqa: ANN001, ANN201
    """(low, high, inclusive_high) of a period for a time column (or external period keys)."""
    if grain is not None:  # external_values.period: "YYYY-MM" or "YYYY"
        if grain == "month":
            return f"{period.start:%Y-%m}", f"{period.end:%Y-%m}", True
        if period.start.month == 1 and period.start.day == 1 and period.end.month == 12 and period.end.day == 31:
            return f"{period.start.year}", f"{period.end.year}", True
        return None  # a yearly figure has no value for part of a year
    if S.is_date_column(col):
        return period.start, period.end + timedelta(days=1), False
    return (*period.utc_bounds(), False)


def bucket_runs(req: Request) -> list[list[Bucket]]:
    """The buckets in runs of adjacent periods (this month and last; twelve months of a trend), so each
    run is read as one index range and a distant bucket (the same month a year ago) as another, instead
    of one range spanning everything in between."""
    runs: list[list[Bucket]] = []
    for b in sorted(req.buckets, key=lambda x: x.period.start):
        if runs and runs[-1][-1].period.end + timedelta(days=1) == b.period.start:
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


def _bound_kind(col, grain: str | None) -> str:  # noqa: ANN001
    if grain is not None:
        return grain[0]  # "m" / "y": external period keys
    return "d" if S.is_date_column(col) else "t"


def bound_args(col, b: Bucket, index: int, grain: str | None = None):  # noqa: ANN001, ANN201
    """(low, high, inclusive_high) of a bucket for `col` as named parameters, or None (see `bounds`)."""
    bb = bounds(col, b.period, grain)
    if bb is None:
        return None
    kind = _bound_kind(col, grain)
    type_ = String() if grain is not None else col.type
    return _arg(f"{kind}lo{index}", bb[0], type_), _arg(f"{kind}hi{index}", bb[1], type_), bb[2]


def bucket_key(b: Bucket, index: int):  # noqa: ANN201
    return cast(_arg(f"bk{index}", b.key), String)


def time_parts(col, buckets: list[Bucket], grain: str | None = None,  # noqa: ANN001, ANN201
               index: dict[str, int] | None = None):
    """(bucket expression, range condition) for `col` over adjacent buckets (in time order), or
    (None, None) when no bucket applies. `index`: each bucket's place in the request (its parameters'
    names)."""
    index = index or {b.key: i for i, b in enumerate(buckets)}
    whens, spans = [], []
    for b in buckets:
        bb = bound_args(col, b, index[b.key], grain)
        if bb is None:
            continue
        lo, hi, incl = bb
        cond = and_(col >= lo, col <= hi) if incl else and_(col >= lo, col < hi)
        whens.append((cond, bucket_key(b, index[b.key])))
        spans.append(bb)
    if not whens:
        return None, None
    if len(whens) == 1:
        # Every row the range condition keeps is in the one bucket: its key, not a CASE, so the planner
        # sees one group per region (a CASE made it expect 320 of a city's 67k grid rows and sort them).
        return whens[0][1], whens[0][0]
    lo, hi, incl = spans[0][0], spans[-1][1], spans[0][2]  # adjacent buckets in time order
    return case(*whens), (and_(col >= lo, col <= hi) if incl else and_(col >= lo, col < hi))


def params(req: Request, now) -> dict:  # noqa: ANN001
    """The values of every named parameter a statement built for a request of this shape can hold."""
    out: dict = {**S.region_params("scope", req.scope), **S.region_params("zone", req.viewer.zone_code),
                 **S.region_params("area", req.area), "ancestors": region_codes.ancestors(req.scope),
                 "dept": req.viewer.department_code, "now": now}
    for i, b in enumerate(req.buckets):
        out[f"bk{i}"] = b.key
        d_lo, d_hi = b.period.start, b.period.end + timedelta(days=1)
        out.update({f"dlo{i}": d_lo, f"dhi{i}": d_hi})
        t_lo, t_hi = b.period.utc_bounds()
        out.update({f"tlo{i}": t_lo, f"thi{i}": t_hi})
        for grain in ("month", "year"):
            bb = bounds(None, b.period, grain)
            if bb is not None:
                out.update({f"{grain[0]}lo{i}": bb[0], f"{grain[0]}hi{i}": bb[1]})
    return out


# -- grouped subqueries --------------------------------------------------------------------------------

def _inner(spec: S.SourceSpec, req: Request, time_field: str | None, cols: list, extra=None, grain=None):  # noqa: ANN001, ANN202
    """SELECT [k], [b], <cols> FROM source WHERE scope/zone/department/time: one row per source row."""
    conds = base_conditions(spec, req)
    if extra is not None:
        conds.append(extra)
    head = []
    if req.keyed:
        head.append(key_expr(spec, req).label("k"))
    if time_field is None:
        return select(*head, *cols).select_from(S.from_clause(spec)).where(*conds).subquery()
    tcol = column(spec.table, time_field) if grain is None else S.table(spec.table).c.period
    parts = []
    index = {b.key: i for i, b in enumerate(req.buckets)}
    for run in bucket_runs(req):  # one SELECT per run of adjacent periods, each on its own index range
        bexpr, rng = time_parts(tcol, run, grain, index)
        if bexpr is not None:
            parts.append(select(*head, bexpr.label("b"), *cols).select_from(S.from_clause(spec)).where(*conds, rng))
    if not parts:
        return None
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


def _parts(sub, req: Request, timed: bool) -> list:
    out = []
    if req.keyed:
        out.append(sub.c.k)
    if timed:
        out.append(sub.c.b)
    return out


def _columns_of(expr, table) -> set[str]:  # noqa: ANN001
    return {el.name for el in iterate(expr) if isinstance(el, Column) and el.table is table}


def _month_aligned(period: Period) -> bool:
    """The period is whole local months — or runs from a month's first day to today or later, when the
    rest of the month has not happened yet (milestones are not stamped in the future: the workflow stamps
    the clock, intake and imports refuse reports beyond events.intake.FUTURE_TOLERANCE), so the month so
    far is the month's row."""
    if period.start.day != 1:
        return False
    return (period.end + timedelta(days=1)).day == 1 or period.end >= datetime.now(local_tz()).date()


def serves_periods(name: str, req: Request) -> bool:
    """A monthly copy serves only periods of whole months; a daily one any period."""
    return name not in S.MONTHLY or all(_month_aligned(b.period) for b in req.buckets)


def coarser_source(measures: list[SqlMeasure], req: Request) -> str | None:
    """A coarser copy of the batch's source (sources.COARSER) that holds every level, zone, column and
    period the batch needs, or None. Summing it gives the same figures from far fewer rows."""
    fine_name = measures[0].source
    fine = S.table(fine_name)
    levels_needed = {req.child_level or level_of(req.scope), level_of(req.scope), level_of(req.viewer.zone_code)}
    needed: set[str] = set()
    for m in measures:
        for expr in (m.value, m.where):
            if expr is not None:
                needed |= _columns_of(expr, fine)
    for name in S.COARSER.get(fine_name, ()):
        spec = S.SOURCES[name]
        if levels_needed <= set(spec.levels) and needed <= set(S.table(name).c.keys()) \
                and S.department_column(spec) is None and S.department_column(S.SOURCES[fine_name]) is None \
                and serves_periods(name, req) and not needed & S.RECODED.get(name, frozenset()):
            return name
    return None


def read_source(measures: list[SqlMeasure], req: Request) -> str | None:
    """The table a batch reads: per department its copy with the department, else its coarsest copy that
    serves, else itself — None when nothing can serve (a monthly table asked for part of a month)."""
    if req.by_department:
        return department_source(measures[0].source, req)
    name = coarser_source(measures, req) or measures[0].source
    return name if serves_periods(name, req) else None


def read_time_field(source: str, here: str, time_field: str | None) -> str | None:
    """The time field of a batch declared on `source` as read from its copy `here` (a rollup's day or
    month column)."""
    if time_field is not None and here != source and time_field == S.TIME_COLUMNS.get(source) \
            and here in S.TIME_COLUMNS:
        return S.TIME_COLUMNS[here]
    return time_field


def rollup_serves(form, req: Request) -> bool:  # noqa: ANN001 - an indicators.case_rollup.RollupForm
    """A per-case indicator's rollup form gives the figure this request asks for: not for department
    staff (their figures count the cases their department holds now, a state only the case rows carry),
    per department only for milestone measures, only at the levels the form is read at, and only where
    some copy serves the levels and periods."""
    if form is None or req.viewer.role == "department" or (req.by_department and not form.by_department):
        return False
    levels = {req.child_level or level_of(req.scope), level_of(req.scope), level_of(req.viewer.zone_code)}
    if form.levels is not None and not levels <= set(form.levels):
        return False
    batches: dict[tuple, list[SqlMeasure]] = {}
    for m in form.plan.measures:
        batches.setdefault((m.source, m.time_field), []).append(m)
    return all(read_source(ms, req) is not None for ms in batches.values())


def _moved(expr, fine, coarse):  # noqa: ANN001, ANN202
    """The expression with the fine table's columns replaced by the coarse table's namesakes."""
    if expr is None:
        return None
    return replacement_traverse(
        expr, {}, lambda el: coarse.c[el.name] if isinstance(el, Column) and el.table is fine else None)


def batched_group(measures: list[SqlMeasure], req: Request, names: dict[str, str]):  # noqa: ANN201
    m0 = measures[0]
    source = read_source(measures, req)
    if source is None:
        return None
    spec = S.SOURCES[source]
    fine, here = S.table(m0.source), S.table(source)
    cols = []
    for i, m in enumerate(measures):
        where, value = _moved(m.where, fine, here), _moved(m.value, fine, here)
        if m.agg == "count":
            expr = case((where, literal(1))) if where is not None else literal(1)
        else:
            expr = case((where, value)) if where is not None else value
        cols.append(expr.label(f"c{i}"))
    pushed = _shared_narrowing(measures, source)
    inner = _inner(spec, req, read_time_field(m0.source, source, m0.time_field), cols, pushed)
    if inner is None:
        return None
    parts = _parts(inner, req, m0.time_field is not None)
    aggs = [_BATCHED[m.agg](inner.c[f"c{i}"]).label(names[m.name]) for i, m in enumerate(measures)]
    stmt = select(*parts, *aggs)
    return (stmt.group_by(*parts) if parts else stmt).subquery()


def _shared_narrowing(measures: list[SqlMeasure], source: str | None = None):  # noqa: ANN202
    """When every measure of a batch pins the same column to a set of values, a row outside their union
    adds nothing to any aggregate: that union goes into WHERE too, so an index serves the read (open
    cases by status instead of every case ever). A group left with no row comes back as no data, and
    counts are then 0 through the coverage check (zero_if_covered), exactly as before."""
    common = set.intersection(*(set(dict(m.narrow)) for m in measures)) if measures else set()
    if not common:
        return None
    source = source or measures[0].source
    conds = []
    for name in sorted(common):
        values = frozenset().union(*(dict(m.narrow)[name] for m in measures))
        cond = column(source, name).in_(sorted(values))
        conds.append(rare(cond) if values <= S.rare_values(source, name) else cond)
    return and_(*conds)


def percentile_group(m: SqlMeasure, req: Request, names: dict[str, str]):  # noqa: ANN201
    """Nearest-rank percentile: the smallest value whose rank r satisfies r ≥ p% × n."""
    if req.by_department and department_source(m.source, req) != m.source:
        return None
    spec = S.SOURCES[m.source]
    inner = _inner(spec, req, m.time_field, [m.value.label("v")], m.where)
    if inner is None:
        return None
    parts = _parts(inner, req, m.time_field is not None)
    over = {"partition_by": parts} if parts else {}
    ranked = select(*parts, inner.c.v,
                    func.row_number().over(order_by=inner.c.v, **over).label("rn"),
                    func.count().over(**over).label("n")).subquery()
    rparts = _parts(ranked, req, m.time_field is not None)
    pick = func.min(case((ranked.c.rn * 100 >= ranked.c.n * m.percentile, ranked.c.v))).label(names[m.name])
    stmt = select(*rparts, pick)
    return (stmt.group_by(*rparts) if rparts else stmt).subquery()


def latest_group(m: SqlMeasure, req: Request, names: dict[str, str]):  # noqa: ANN201
    """Each entity's last row in the period, then aggregated across entities."""
    if req.by_department and department_source(m.source, req) != m.source:
        return None
    spec = S.SOURCES[m.source]
    inner = _inner(spec, req, m.time_field, [m.value.label("v"), m.entity.label("e"), m.order.label("o")], m.where)
    if inner is None:
        return None
    parts = _parts(inner, req, True)
    ranked = select(*parts, inner.c.v, func.row_number().over(
        partition_by=[*parts, inner.c.e], order_by=inner.c.o.desc()).label("rn")).subquery()
    rparts = _parts(ranked, req, True)
    agg = {"mean": func.avg, "sum": func.sum, "max": func.max, "min": func.min}[m.latest_agg]
    stmt = select(*rparts, agg(ranked.c.v).label(names[m.name])).where(ranked.c.rn == 1)
    return (stmt.group_by(*rparts) if rparts else stmt).subquery()


def external_group(m: SqlMeasure, req: Request, names: dict[str, str]):  # noqa: ANN201
    """Imported values of one indicator, combined over the months of each bucket (sum / mean / last)."""
    if req.by_department:  # statistics are per region, never per department
        return None
    spec = S.SOURCES[S.EXTERNAL_TABLE]
    ev = S.table(S.EXTERNAL_TABLE)
    key_len = 7 if m.grain == "month" else 4
    extra = and_(ev.c.indicator_id == m.indicator_id, func.length(ev.c.period) == key_len)
    inner = _inner(spec, req, "period", [ev.c.value.label("v"), ev.c.period.label("per")], extra, grain=m.grain)
    if inner is None:
        return None
    parts = _parts(inner, req, True)
    n, asof = names[m.name + "#n"], names[m.name + "#asof"]
    if m.period_agg == "last":
        ranked = select(*parts, inner.c.v, inner.c.per, func.row_number().over(
            partition_by=parts, order_by=inner.c.per.desc()).label("rn")).subquery()
        rparts = _parts(ranked, req, True)
        stmt = select(*rparts, func.max(case((ranked.c.rn == 1, ranked.c.v))).label(names[m.name]),
                      func.count().label(n), func.max(ranked.c.per).label(asof))
    else:
        agg = func.sum if m.period_agg == "sum" else func.avg
        rparts = parts
        stmt = select(*parts, agg(inner.c.v).label(names[m.name]), func.count().label(n),
                      func.max(inner.c.per).label(asof))
    return stmt.group_by(*rparts).subquery()


def coverage_group(source: str, time_field: str | None, req: Request, label: str):  # noqa: ANN201
    """Per bucket: does the source hold any row for the city in that period? (No rows at all means
    the data is not there — "no data" — rather than a count of zero.)"""
    spec = S.SOURCES[source]
    # coalesce() keeps the planner off the city index (every row of a one-city store matches it) and on
    # the time index, so a period without data costs an index probe instead of a scan.
    city = S.in_area(spec, req.area, indexed=False)

    def has(extra=None):  # noqa: ANN001, ANN202
        q = select(literal(1)).select_from(S.from_clause(spec)).where(city)
        return exists(q.where(extra) if extra is not None else q).label(label)

    if time_field is None:
        return select(has()).subquery()
    tcol = column(source, time_field)
    parts = []
    for i, b in enumerate(req.buckets):
        lo, hi, _ = bound_args(tcol, b, i)
        parts.append(select(bucket_key(b, i).label("b"), has(and_(tcol >= lo, tcol < hi))))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


# -- the statement ---------------------------------------------------------------------------------------

def build(measures: list[SqlMeasure], req: Request):  # noqa: ANN201
    """The statement and the map from its column labels back to measure names / coverage keys."""
    names: dict[str, str] = {}
    label_of: dict[str, str] = {}
    for i, m in enumerate(measures):
        names[m.name] = f"m{i}"
        label_of[f"m{i}"] = m.name
        if m.agg == "external":
            for suffix in ("#n", "#asof"):
                names[m.name + suffix] = f"m{i}{suffix.replace('#', '_')}"
                label_of[names[m.name + suffix]] = m.name + suffix

    # The frame (regions × buckets) is ONE subquery, not a join of two: SQLite's planner then drives
    # the query from it and indexes each grouped subquery automatically. With "keys JOIN buckets ON 1=1"
    # it scanned every grouped subquery once per region (288 ms → 19 ms for every grid of a tenth city).
    def frame_rows(i: int | None):  # noqa: ANN202
        b = bucket_key(req.buckets[i], i).label("b") if i is not None else literal(None, String).label("b")
        if req.by_department:
            return select(Department.code.label("k"), Department.name.label("name"), b) \
                .where(departments_serving(req.scope))
        if req.child_level is not None:
            return select(Region.code.label("k"), Region.name.label("name"), b).where(child_regions(req))
        return select(cast(_arg("scope", req.scope), String).label("k"), _text("").label("name"), b)

    parts = [frame_rows(i) for i in range(len(req.buckets))] or [frame_rows(None)]
    keys = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("keys")
    has_buckets = bool(req.buckets)
    out_cols = [keys.c.k, keys.c.name, keys.c.b]

    groups: list[tuple[object, bool, list[str]]] = []
    batches: dict[tuple, list[SqlMeasure]] = {}
    for m in measures:
        if m.agg in _BATCHED:
            batches.setdefault((m.source, m.time_field), []).append(m)
        else:
            maker = {"pct": percentile_group, "latest": latest_group, "external": external_group}[m.agg]
            cols = [names[m.name]] + ([names[m.name + "#n"], names[m.name + "#asof"]] if m.agg == "external" else [])
            groups.append((maker(m, req, names), m.time_field is not None, cols))
    for (source, time_field), ms in batches.items():
        groups.append((batched_group(ms, req, names), time_field is not None, [names[m.name] for m in ms]))

    coverage: dict[str, tuple[str, str | None]] = {}
    for (source, time_field), ms in batches.items():
        if any(m.zero_if_covered for m in ms):
            label = f"cov{len(coverage)}"
            coverage[label] = (source, time_field)
            # Asked of the table the batch reads: a monthly table cannot say whether a day has rows.
            here = read_source(ms, req) or source
            groups.append((coverage_group(here, read_time_field(source, here, time_field), req, label),
                           time_field is not None, [label]))

    stmt_from = keys
    for i, (sub, timed, cols) in enumerate(groups):
        if sub is None:  # no bucket applies (a yearly figure asked for a month)
            out_cols += [literal(None).label(c) for c in cols]
            continue
        on = []
        if req.keyed and "k" in sub.c:
            on.append(sub.c.k == keys.c.k)
        if timed and has_buckets:
            on.append(sub.c.b == keys.c.b)
        stmt_from = stmt_from.outerjoin(sub, and_(*on) if on else true())
        out_cols += [sub.c[c] for c in cols]
    stmt = select(*out_cols).select_from(stmt_from)
    return stmt, label_of, coverage


@dataclass(frozen=True)
class Built:
    """A built statement and its label maps: runs for any request of the same `shape` with that request's
    `params` (SQLAlchemy takes the parameters the statement names and leaves the others)."""

    stmt: object
    label_of: dict
    coverage: dict


def shape(req: Request) -> tuple:
    """What a statement depends on besides its named parameters: levels, keying, whether the viewer is a
    department's (the only role the SQL differs for), their zone level and whether they have a department, and how the periods fall (runs of adjacent buckets; whole
    months, read from a monthly copy; whole years, what yearly statistics can answer)."""
    index = {b.key: i for i, b in enumerate(req.buckets)}
    runs = tuple(tuple(index[b.key] for b in run) for run in bucket_runs(req))
    falls = tuple((_month_aligned(b.period), bounds(None, b.period, "year") is not None) for b in req.buckets)
    # Of the viewer's role only what changes the SQL: a department's reads are cut to its department.
    return (level_of(req.scope), req.child_level, req.by_department, req.viewer.role == "department",
            level_of(req.viewer.zone_code), req.viewer.department_code is None, runs, falls)


def build_once(measures: list[SqlMeasure], req: Request) -> Built:
    return Built(*build(measures, req))


class Collected(NamedTuple):
    """A statement's answer: `rows[(key, bucket)]` is the result row, read by position — `at[measure name]`,
    `covered_at[(source, time field)]` — so no dict is built per region (a city's 9,915 grids made two
    dicts each: ~10 ms)."""

    rows: dict
    at: dict
    covered_at: dict
    names: dict


def run_built(session: Session, built: Built, req: Request, now) -> Collected:  # noqa: ANN001
    """Execute a built statement with this request's values (see `run`)."""
    return _collect(session.connection().execute(built.stmt, params(req, now)), built.label_of, built.coverage)


def run(session: Session, measures: list[SqlMeasure], req: Request) -> Collected:
    """Execute the measures' statement for the request."""
    stmt, label_of, coverage = build(measures, req)
    return _collect(session.connection().execute(stmt), label_of, coverage)


def _collect(result, label_of: dict, coverage: dict) -> Collected:  # noqa: ANN001
    at = {c: i for i, c in enumerate(result.keys())}
    ik, ib, iname = at["k"], at["b"], at["name"]
    rows: dict[tuple, tuple] = {}
    names: dict[str, str] = {}
    for row in result.all():  # one fetch: iterating fetched row by row (a city's grids: ~45 ms more)
        rows[(row[ik], row[ib])] = row
        names[row[ik]] = row[iname]
    return Collected(rows, {name: at[c] for c, name in label_of.items()},
                     {key: at[c] for c, key in coverage.items()}, names)


EMPTY = Collected({}, {}, {}, {})
