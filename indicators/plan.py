"""From a definition to SQL measures: what to aggregate, over which rows, and how to combine them.

A `Plan` is a list of `SqlMeasure`s (each one aggregate over one source, filtered) plus a function
that combines their values for one region and period into the indicator's value. The SQL builder
(`indicators.sqlbuild`) batches measures of many indicators that share a source into one statement.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Float, and_, bindparam, cast, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from indicators import sources as S
from indicators.schema import NOW, TIME_UNITS, Filter, Formula, Indicator, Measure


@dataclass(frozen=True)
class Options:
    now: datetime
    edition: str = "auto"  # air: "auto" = edition in force on each day; "2026" = 同口径


@dataclass(frozen=True, eq=False)
class SqlMeasure:
    """One aggregate. `agg`: sum / count / avg / min / max (batched), pct (nearest-rank percentile),
    latest (last row per entity, then `latest_agg` across entities), external (imported values)."""

    name: str
    source: str
    time_field: str | None
    agg: str
    value: ColumnElement | None = None
    where: ColumnElement | None = None
    zero_if_covered: bool = False  # count/sum: no matching rows in a period that has data = 0
    percentile: float | None = None
    entity: ColumnElement | None = None
    order: ColumnElement | None = None
    latest_agg: str = "mean"
    indicator_id: str | None = None
    period_agg: str = "last"
    grain: str = "month"
    # (column, allowed values) implied by the filters: every counted row has one of these values.
    narrow: tuple[tuple[str, frozenset], ...] = ()


@dataclass(eq=False)
class Plan:
    measures: list[SqlMeasure]
    combine: Callable[[Callable[[str], Any]], float | None]
    note: Callable[[Callable[[str], Any]], str | None] | None = None
    custom: Callable | None = None  # (session, request) -> DataFrame[k, b, value, note]
    snapshot: bool = False
    # The same figure from the event rollups (indicators.case_rollup.RollupForm), for a per-case indicator
    # that has one; the engine reads it whenever the request allows (indicators.sqlbuild.rollup_serves).
    rollup: Any = None


# -- portable SQL pieces ------------------------------------------------------------------------------

class hours_between(FunctionElement):  # noqa: N801 - SQL function style
    """Hours from `start` to `end` (two timestamp columns), the same on SQLite and PostgreSQL."""

    type = Float()
    name = "hours_between"
    inherit_cache = True


@compiles(hours_between, "sqlite")
def _hours_sqlite(element, compiler, **kw):  # noqa: ANN001, ANN202
    # Whole seconds from strftime('%s') plus the stored microseconds ("YYYY-MM-DD HH:MM:SS.ffffff"):
    # julianday() differences would carry ~10 µs of floating-point error and differ from PostgreSQL.
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return (f"(((strftime('%s', {end}) - strftime('%s', {start})) + "
            f"(CAST(substr({end}, 20) AS REAL) - CAST(substr({start}, 20) AS REAL))) / 3600.0)")


@compiles(hours_between, "postgresql")
def _hours_pg(element, compiler, **kw):  # noqa: ANN001, ANN202
    start, end = list(element.clauses)
    return f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)})) / 3600.0)"


def column(source: str, name: str) -> ColumnElement:
    col = S.resolve_column(S.SOURCES[source], name)
    if col is None:  # validated at load; reaching here means the schema changed under a cached library
        raise KeyError(f"{source}.{name}")
    return col


def filter_clause(source: str, f: Filter, now: datetime) -> ColumnElement:
    if f.any_of:
        return or_(*[filter_clause(source, g, now) for g in f.any_of])
    col = column(source, f.column)
    # The moment of computation is a named parameter: a statement compiled once runs again later with
    # the new moment (indicators.sqlbuild.params).
    value = bindparam("now", now, type_=col.type) if f.value == NOW else f.value
    op = f.op
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == "in":
        return col.in_(list(value))
    if op == "not_in":
        domain = S.closed_domain(source, f.column)
        if domain is not None:  # "still open" = the open states: an index range instead of a scan
            return col.in_(sorted(domain - set(value)))
        return col.not_in(list(value))
    if op == ">=":
        return col >= value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == "<":
        return col < value
    if op == "is_null":
        return col.is_(None)
    if op == "not_null":
        return col.is_not(None)
    raise ValueError(op)


def narrowing(source: str, filters: tuple[Filter, ...]) -> tuple[tuple[str, frozenset], ...]:
    """The value sets that top-level filters pin columns to ("=", "in", and "not in" over a column whose
    every value is known). The SQL builder pushes their union into a batch's WHERE."""
    allowed: dict[str, frozenset] = {}
    for f in filters:
        if f.any_of or f.op not in ("=", "in", "not_in"):
            continue
        if f.op == "not_in":
            domain = S.closed_domain(source, f.column)
            if domain is None:
                continue
            values = domain - set(f.value)
        else:
            values = frozenset([f.value] if f.op == "=" else f.value)
        allowed[f.column] = allowed[f.column] & values if f.column in allowed else frozenset(values)
    return tuple(sorted(allowed.items(), key=lambda kv: kv[0]))


def where_all(source: str, filters: tuple[Filter, ...], now: datetime, *extra: ColumnElement) -> ColumnElement | None:
    parts = [filter_clause(source, f, now) for f in filters] + [e for e in extra if e is not None]
    if not parts:
        return None
    return and_(*parts) if len(parts) > 1 else parts[0]


def terms_expr(source: str, terms: tuple[tuple[int, str], ...]) -> ColumnElement:
    expr = None
    for sign, name in terms:
        col = cast(column(source, name), Float) if len(terms) > 1 else column(source, name)
        part = col if sign > 0 else -col
        expr = part if expr is None else expr + part
    return expr


# -- generic kinds ------------------------------------------------------------------------------------

def _measure_sql(name: str, m: Measure, now: datetime) -> SqlMeasure:
    where = where_all(m.source, m.filters, now)
    narrow = narrowing(m.source, m.filters)
    if m.agg == "count":
        return SqlMeasure(name, m.source, m.time_field, "count", where=where, zero_if_covered=True, narrow=narrow)
    return SqlMeasure(name, m.source, m.time_field, "sum", value=terms_expr(m.source, m.terms), where=where,
                      zero_if_covered=True, narrow=narrow)


def ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return float(num) * scale / float(den)


def plan_for(ind: Indicator, opts: Options) -> Plan:
    f = ind.formula
    p = ind.id
    if f.kind == "standard":
        raise ValueError(f"{ind.id}: 标准计算器的计算方案由 indicators.planner 给出")
    if f.kind == "ratio":
        num, den = _measure_sql(f"{p}:num", f.numerator, opts.now), _measure_sql(f"{p}:den", f.denominator, opts.now)
        return Plan([num, den], lambda get: ratio(get(num.name), get(den.name), f.scale),
                    snapshot=ind.is_snapshot)
    if f.kind == "external":
        m = SqlMeasure(f"{p}:ext", S.EXTERNAL_TABLE, "period", "external", indicator_id=ind.id,
                       period_agg=f.period_agg, grain=ind.grain)
        return Plan([m], lambda get: get(m.name), note=_external_note(m.name, f, ind.grain))
    where = where_all(f.source, f.filters, opts.now)
    name = f"{p}:v"
    if f.kind == "count":
        m = SqlMeasure(name, f.source, f.time_field, "count", where=where, zero_if_covered=True)
    elif f.kind == "sum":
        m = SqlMeasure(name, f.source, f.time_field, "sum", value=terms_expr(f.source, f.terms), where=where,
                       zero_if_covered=True)
    elif f.kind == "mean":
        value = column(f.source, f.column)
        if f.percentile is not None:
            m = SqlMeasure(name, f.source, f.time_field, "pct", value=value,
                           where=where_all(f.source, f.filters, opts.now, value.is_not(None)), percentile=f.percentile)
        else:
            m = SqlMeasure(name, f.source, f.time_field, "avg", value=value, where=where)
    elif f.kind == "duration":
        start, end = column(f.source, f.start), column(f.source, f.end)
        hours = hours_between(start, end) * TIME_UNITS[f.time_unit]
        cond = where_all(f.source, f.filters, opts.now, start.is_not(None), end.is_not(None))
        if f.stat == "mean":
            m = SqlMeasure(name, f.source, f.time_field, "avg", value=hours, where=cond)
        else:
            m = SqlMeasure(name, f.source, f.time_field, "pct", value=hours, where=cond,
                           percentile=float(f.stat[1:]))
    elif f.kind == "latest":
        value = column(f.source, f.column)
        cond = where_all(f.source, f.filters, opts.now, value.is_not(None))
        if f.entity is not None and f.time_field is not None:
            m = SqlMeasure(name, f.source, f.time_field, "latest", value=value, where=cond,
                           entity=column(f.source, f.entity), order=column(f.source, f.time_field),
                           latest_agg=f.agg)
        else:
            agg = {"mean": "avg", "sum": "sum", "max": "max", "min": "min"}[f.agg]
            m = SqlMeasure(name, f.source, f.time_field, agg, value=value, where=cond)
    else:  # pragma: no cover - kinds are validated at load
        raise ValueError(f.kind)
    m = replace(m, narrow=narrowing(f.source, f.filters))
    return Plan([m], lambda get: get(m.name), snapshot=ind.is_snapshot)


def _external_note(name: str, f: Formula, grain: str):  # noqa: ANN202
    def note(get) -> str | None:  # noqa: ANN001
        n, expected, asof = get(f"{name}#n"), get(f"{name}#expected"), get(f"{name}#asof")
        if not n:
            return None
        if f.period_agg == "last" and asof:
            return f"取 {asof} 数据"
        if expected and n < expected:
            return f"本期仅有 {int(n)}/{int(expected)} 个{'月' if grain == 'month' else '年'}的数据"
        return None
    return note


def finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v

