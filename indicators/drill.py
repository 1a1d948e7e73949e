"""The cases behind a number: for an indicator computed from cases, the cases its figure counts in a period
and region (or department), read from the indicator's own definition, so the list and the number follow
the one YAML block.

A ratio lists its denominator's cases and marks those its numerator counts (按期 / 超期, 返工…); a count
or a sum lists the cases it counts. A definition on the cases table is applied as it stands (time field,
filters). One on the daily rollup is read through the milestone each counter counts (MILESTONES: the
`handled` counter counts a case on the day of its first feedback…), with the rollup's filters (source,
大类) applied to the case. Per department the list holds the cases now with that department (the
rollup counts a milestone for the department the case was with then; the two differ only for a case
re-dispatched after that milestone). Indicators on other sources have no cases behind them.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import and_, exists, false, literal, or_, select

from indicators.library import load_library
from indicators.plan import filter_clause
from indicators.schema import Filter, Indicator, Measure
from store.models import Event, EventTransition
from store.period import Period, local_tz
from store.scope import ReadFace

# Rollup counter → (the case's milestone time, what else the case must be for the counter to count it).
MILESTONES: dict[str, tuple[str, tuple]] = {
    "reported": ("reported_at", (Event.duplicate_of.is_(None),)),
    "registered": ("registered_at", ()),
    "rejected": ("rejected_at", ()),
    "dispatched": ("dispatched_at", ()),
    "dispatched_on_time": ("dispatched_at", (Event.dispatched_on_time.is_(True),)),
    "handled": ("handled_at", ()),
    "handled_on_time": ("handled_at", (Event.handled_on_time.is_(True),)),
    "handle_hours_sum": ("handled_at", ()),
    "closed": ("closed_at", ()),
    "closed_on_time": ("closed_at", (Event.closed_on_time.is_(True),)),
    "rated": ("closed_at", (Event.satisfaction.is_not(None),)),
    "satisfied": ("closed_at", (Event.satisfaction >= 4,)),
    "reworked": ("", ()),  # a 返工 log row in the period (a case reworked twice counts twice in the figure)
    "merged": ("reported_at", (Event.duplicate_of.is_not(None),)),
    "verified": ("verified_at", ()),
    "verified_on_time": ("verified_at", (Event.verified_on_time.is_(True),)),
    "supervised_closed": ("closed_at", (Event.supervised_at.is_not(None),)),
    "supervised_closed_on_time": ("closed_at", (Event.supervised_at.is_not(None),
                                                Event.supervision_on_time.is_(True))),
}
ROLLUP = "event_daily_rollup"
CASES = "events"


class NoCasesBehind(ValueError):
    """The indicator is not computed from cases (Chinese message)."""


def _in_period(time_field: str, start: datetime, end: datetime):  # noqa: ANN202
    if time_field == "":
        return exists(select(literal(1)).where(EventTransition.event_id == Event.id, EventTransition.action == "rework",
                                               EventTransition.at >= start, EventTransition.at < end))
    col = getattr(Event, time_field)
    return and_(col >= start, col < end)


def _measure_condition(ind: Indicator, measure: Measure | None, start: datetime, end: datetime, now: datetime):  # noqa: ANN202
    """SQL condition on events: the case counts in this measure (or the whole formula) for the period."""
    f = ind.formula
    source = (measure.source if measure else None) or f.source
    time_field = (measure.time_field if measure else None) or f.time_field
    filters: tuple[Filter, ...] = tuple(f.filters) + (tuple(measure.filters) if measure else ())
    if source == CASES:
        parts = [filter_clause(CASES, x, now) for x in filters]
        if time_field:
            parts.append(_in_period(time_field, start, end))
        return and_(*parts) if parts else literal(True)
    if source == ROLLUP:
        terms = (measure.terms if measure else f.terms) or ((1, f.column),)
        counters = [name for sign, name in terms if sign > 0 and name]
        unknown = [c for c in counters if c not in MILESTONES]
        if not counters or unknown:
            raise NoCasesBehind(f"「{ind.name}」的计数「{'、'.join(unknown)}」不对应案件的某个环节")
        # A sum of counters (立案 + 不予立案 + 重复) counts a case that reached any of the milestones.
        reached = [and_(*MILESTONES[c][1], _in_period(MILESTONES[c][0], start, end)) for c in counters]
        return and_(*[filter_clause(CASES, x, now) for x in filters], or_(*reached))
    raise NoCasesBehind(f"「{ind.name}」不是由案件计算的指标，没有可下钻的案件")


def case_conditions(ind: Indicator, period: Period, now: datetime):  # noqa: ANN201
    """(the cases the figure is about, the cases its numerator counts or None) as conditions on events."""
    start, end = period.utc_bounds()
    f = ind.formula
    if f.kind == "ratio":
        if (f.denominator.source or f.source) not in (CASES, ROLLUP):
            raise NoCasesBehind(f"「{ind.name}」的分母不是案件，没有可下钻的案件")
        return (_measure_condition(ind, f.denominator, start, end, now),
                _measure_condition(ind, f.numerator, start, end, now))
    if f.kind in ("count", "sum", "duration", "mean"):
        return _measure_condition(ind, None, start, end, now), None
    raise NoCasesBehind(f"「{ind.name}」不是由案件计算的指标，没有可下钻的案件")


class CaseDrill(ReadFace):
    """The cases behind an indicator's figure, restricted to the viewer (zone, and department for staff)."""

    def cases_behind(self, period: Period, region: str | None = None, *, indicator_id: str = "cm_handle_ontime_rate",
                     department_code: str | None = None, now: datetime | None = None,
                     limit: int = 500) -> list[dict]:
        """Up to `limit` cases the figure of `indicator_id` counts for `period` in `region` (default the
        zone) — and for one department when given — newest first: id, title, 小类, status, department,
        grid_code, reported_at, and `counted` (in the numerator, for a ratio; None otherwise). Raises
        NoCasesBehind for an indicator not computed from cases, KeyError for an unknown one."""
        library = load_library()
        if indicator_id not in library:
            raise KeyError(f"指标库中没有指标「{indicator_id}」")
        now = now or datetime.now(timezone.utc)
        about, counted = case_conditions(library[indicator_id], period, now)
        flag = counted.label("counted") if counted is not None else literal(None).label("counted")
        stmt = self.within(self.scoped(Event, Event.id, Event.title, Event.subcategory, Event.status,
                                       Event.department_code, Event.grid_code, Event.reported_at, flag),
                           Event, region).where(about)
        if department_code is not None:
            stmt = stmt.where(Event.department_code == department_code) if department_code else \
                stmt.where(false())
        rows = self.session.execute(stmt.order_by(Event.reported_at.desc(), Event.id.desc()).limit(limit)).all()
        tz = local_tz()
        return [{"id": r.id, "title": r.title, "subcategory": r.subcategory, "status": r.status,
                 "department_code": r.department_code, "grid_code": r.grid_code,
                 "reported_at": r.reported_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                 "counted": None if counted is None else bool(r.counted)} for r in rows]
