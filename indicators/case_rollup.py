"""The same figure from the rollups: per-case indicators whose definition matches a per-case measure kept
in the event rollups (store.models.CaseMeasures, events/rollup.py) get a second plan that reads it.

A library entry still says what it means case by case (`source: events`); this module recognises the
definitions whose every part has a rollup column counting exactly the same cases, so the engine can sum
rollup rows instead of reading cases (indicators.engine picks the form per request, through
indicators.sqlbuild.rollup_serves):

  cohort rates (ratio of two counts over events, the numerator = the denominator + "X 非空"):
    report cohort, 不予立案 and 重复 excluded:  立案 → rep_registered / (reported − rep_rejected)
                                              结案 → rep_closed / (reported − rep_rejected)
    立案 cohort:                                结案 → reg_closed / registered
    first-dispatch cohort:                      处置反馈 → disp_handled / dispatched
  durations over events:
    上报 → 结案, mean, by 结案 time:            close_hours_sum / closed
    first dispatch → first feedback, pNN, by feedback time: the percentile of the summed handle_hist bins
                                              (store.histogram: within one bin's width of the exact value)

Other filters must be on columns the rollups are keyed by (source, category). Anything else — a filter
on another column, a current-state figure (在办、超期: they change with the clock and the case's state,
so they need the rows) — has no rollup form and is read case by case.
"""
from __future__ import annotations

from dataclasses import dataclass

from indicators import plan as P
from indicators.schema import NOW, TIME_UNITS, Filter, Indicator
from store import histogram
from store.models.events import HANDLE_HIST

CASES = "events"
# The declared source of every rollup form: it holds every column at every level (for whole months); the
# SQL builder reads its district copy (any days) or department copy (per department) when those serve.
ROLLUP = "event_grid_monthly"
KEY_COLUMNS = frozenset({"source", "category"})  # what the rollups are keyed by besides region and time

NOT_REJECTED = ("rejected_at", "is_null")
NOT_MERGED = ("duplicate_of", "is_null")
# cohort time field → (filters every counted case must have, {numerator's extra "not null" column:
# (numerator column, denominator terms)})
COHORTS: dict[str, tuple[frozenset, dict[str, tuple[str, tuple[tuple[int, str], ...]]]]] = {
    "reported_at": (frozenset({NOT_REJECTED, NOT_MERGED}), {
        "registered_at": ("rep_registered", ((1, "reported"), (-1, "rep_rejected"))),
        "closed_at": ("rep_closed", ((1, "reported"), (-1, "rep_rejected"))),
    }),
    "registered_at": (frozenset(), {"closed_at": ("reg_closed", ((1, "registered"),))}),
    "dispatched_at": (frozenset(), {"handled_at": ("disp_handled", ((1, "dispatched"),))}),
}


# Where a percentile is read from summed bins. Below the district a grid-month holds about as many rollup
# rows as cases (demo and tenth scale: 8,040 rows of event_grid_monthly for 7,587 first feedbacks in a
# month), and summing fifty bins per row costs more than ranking the cases (every grid at tenth scale:
# ~300 ms from the bins against ~70–200 ms case by case), so there the cases are ranked; the monthly copy
# keeps its bins, consistent like every other column, for a deployment where grids are denser.
HISTOGRAM_LEVELS = ("province", "city", "district")


@dataclass(frozen=True)
class RollupForm:
    plan: P.Plan
    by_department: bool  # a per-department figure may read it (milestone measures: yes; cohorts: no)
    columns: tuple[str, ...]  # the rollup columns it reads (the catalogue's words)
    levels: tuple[str, ...] | None = None  # the levels it is read at (None: wherever a copy serves)


def _key(f: Filter) -> tuple:
    return (f.column, f.op, repr(f.value), tuple(_key(g) for g in f.any_of))


def _simple(f: Filter) -> tuple | None:
    """(column, op) of a null test (what a cohort requires), else None."""
    return (f.column, f.op) if not f.any_of and f.op in ("is_null", "not_null") else None


def _on_keys(f: Filter) -> bool:
    """A filter the rollups can apply: on source / category only, never the clock."""
    if f.any_of:
        return all(_on_keys(g) for g in f.any_of)
    return f.column in KEY_COLUMNS and f.op in ("=", "!=", "in", "not_in") and f.value != NOW


def _split(filters: tuple[Filter, ...], required: frozenset) -> tuple[Filter, ...] | None:
    """The filters beyond `required`, when `required` are all there and the rest are on key columns."""
    found = {_simple(f) for f in filters} & required
    if found != required:
        return None
    rest = tuple(f for f in filters if _simple(f) not in required)
    return rest if all(_on_keys(f) for f in rest) else None


def _sum(name: str, terms: tuple[tuple[int, str], ...], filters: tuple[Filter, ...], opts: P.Options,
         zero: bool = True) -> P.SqlMeasure:
    return P.SqlMeasure(name, ROLLUP, "month", "sum", value=P.terms_expr(ROLLUP, terms),
                        where=P.where_all(ROLLUP, filters, opts.now), zero_if_covered=zero,
                        narrow=P.narrowing(ROLLUP, filters))


def _cohort(ind: Indicator, opts: P.Options) -> RollupForm | None:
    f = ind.formula
    num, den = f.numerator, f.denominator
    if num is None or den is None or {num.source, den.source} != {CASES} or num.agg != "count" \
            or den.agg != "count" or num.time_field != den.time_field or num.time_field not in COHORTS:
        return None
    required, done = COHORTS[num.time_field]
    keys = {_key(x) for x in den.filters}
    extra = [x for x in num.filters if _key(x) not in keys]
    if len(extra) != 1 or len(num.filters) != len(den.filters) + 1 or extra[0].op != "not_null" \
            or extra[0].column not in done:
        return None
    rest = _split(den.filters, required)
    if rest is None:
        return None
    column, terms = done[extra[0].column]
    n = _sum(f"{ind.id}:rnum", ((1, column),), rest, opts)
    d = _sum(f"{ind.id}:rden", terms, rest, opts)
    plan = P.Plan([n, d], lambda get: P.ratio(get(n.name), get(d.name), f.scale))
    return RollupForm(plan, False, (column, *(c for _, c in terms)))


def _duration(ind: Indicator, opts: P.Options) -> RollupForm | None:
    f = ind.formula
    if f.source != CASES:
        return None
    rest = _split(f.filters, frozenset())
    if rest is None:
        return None
    unit = TIME_UNITS[f.time_unit]
    if (f.start, f.end, f.time_field, f.stat) == ("reported_at", "closed_at", "closed_at", "mean"):
        s = _sum(f"{ind.id}:rsum", ((1, "close_hours_sum"),), rest, opts)
        n = _sum(f"{ind.id}:rn", ((1, "closed"),), rest, opts)
        plan = P.Plan([s, n], lambda get: P.ratio(get(s.name), get(n.name), unit))
        return RollupForm(plan, True, ("close_hours_sum", "closed"))
    if (f.start, f.end, f.time_field) == ("dispatched_at", "handled_at", "handled_at") and f.stat != "mean":
        p = float(f.stat[1:])
        bins = [_sum(f"{ind.id}:rh{k:02d}", ((1, c),), rest, opts, zero=False) for k, c in enumerate(HANDLE_HIST)]

        def combine(get):  # noqa: ANN001, ANN202
            hours = histogram.percentile([get(b.name) for b in bins], p)
            return None if hours is None else hours * unit
        return RollupForm(P.Plan(bins, combine), True, ("handle_hist_00…49",), HISTOGRAM_LEVELS)
    return None


def rollup_form(ind: Indicator, opts: P.Options) -> RollupForm | None:
    """The rollup form of a per-case indicator, or None when it has none (see the module's list)."""
    f = ind.formula
    if ind.is_snapshot:
        return None
    if f.kind == "ratio":
        return _cohort(ind, opts)
    if f.kind == "duration":
        return _duration(ind, opts)
    return None
