"""Automatic escalation: the periodic job that applies the rules (supervision.rules) to overdue cases.

A case is overdue when its current stage's deadline (Event.stage_deadline, set by the workflow) has
passed; a case without a running deadline (closed, 挂账, 重复…) has none. How long it has been overdue is
measured in working hours on the [workday] calendar (store.worktime) — in calendar hours for urgent
cases, whose deadlines run on calendar time — and in calendar hours and days. Each escalation moves
the case's `escalation_level` up with a conditional UPDATE (on the level read), adds an Escalation row
(unique per case and level), a line on the case's timeline and an audit row, in one transaction: a
second run, or two runs at once, escalate a case once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth import audit
from store import outbox
from store.models import Escalation, Event, EventTransition
from store.worktime import get_calendar
from supervision.rules import LEVEL_NAMES, UNITS, Overdue, Rule, escalation_due, load_rules

# The timeline action an escalation is logged with (events.workflow.ESCALATE_ACTION labels it 超期升级).
ESCALATE_ACTION = "escalate"
SYSTEM_ACTOR = "system:escalation"


@dataclass
class EscalationRun:
    checked: int = 0  # overdue cases looked at
    escalated: list[dict] = field(default_factory=list)  # {id, from, to, rule, overdue, unit}

    def summary(self) -> str:
        if not self.escalated:
            return f"检查超期案件 {self.checked} 件，没有需要升级的案件"
        by_level: dict[str, int] = {}
        for e in self.escalated:
            by_level[e["to"]] = by_level.get(e["to"], 0) + 1
        parts = "、".join(f"升级至{LEVEL_NAMES[k]} {v} 件" for k, v in by_level.items())
        return f"检查超期案件 {self.checked} 件：{parts}"


def overdue_measures(deadlines: list[datetime], urgent: list[bool], now: datetime) -> list[Overdue]:
    """How long each deadline is past `now`: working hours (calendar hours for urgent cases, as their
    deadlines count) and calendar hours."""
    if not deadlines:
        return []
    starts = np.array([d.timestamp() for d in deadlines], dtype=float)
    ends = np.full(starts.shape, now.timestamp())
    working = get_calendar().working_seconds_between_array(starts, ends) / 3600.0
    calendar_hours = (ends - starts) / 3600.0
    return [Overdue(float(c if u else w), float(c)) for w, c, u in zip(working, calendar_hours, urgent)]


def run(session: Session, *, now: datetime | None = None, rules: tuple[Rule, ...] | None = None,
        actor: str = SYSTEM_ACTOR) -> EscalationRun:
    """Escalate every overdue case a rule takes higher than it already is, in the caller's transaction."""
    now = now or datetime.now(timezone.utc)
    rules = rules or load_rules()
    rows = session.execute(
        select(Event.id, Event.status, Event.priority, Event.stage_deadline, Event.escalation_level,
               Event.department_code, Event.city_code, Event.district_code, Event.street_code,
               Event.community_code, Event.grid_code)
        .where(Event.stage_deadline.is_not(None), Event.stage_deadline < now).order_by(Event.id)).all()
    out = EscalationRun(checked=len(rows))
    measures = overdue_measures([r.stage_deadline for r in rows], [r.priority == "urgent" for r in rows], now)
    for r, overdue in zip(rows, measures):
        rule = escalation_due(r.escalation_level, overdue, rules)
        if rule is None:
            continue
        level_now = Event.escalation_level == r.escalation_level if r.escalation_level \
            else Event.escalation_level.is_(None)
        changed = session.execute(update(Event).where(Event.id == r.id, level_now)
                                  .values(escalation_level=rule.level)
                                  .execution_options(synchronize_session=False)).rowcount
        if changed != 1:  # another run escalated it meanwhile
            continue
        amount = overdue.measure(rule.unit)
        text = f"超期 {amount:.1f} {UNITS[rule.unit]}，按规则「{rule.name}」升级至{LEVEL_NAMES[rule.level]}"
        codes = {k: getattr(r, k) for k in ("city_code", "district_code", "street_code", "community_code",
                                            "grid_code")}
        session.add(Escalation(event_id=r.id, rule_id=rule.id, level=rule.level, overdue_hours=round(amount, 3),
                               unit=rule.unit, department_code=r.department_code, at=now, **codes))
        session.add(EventTransition(event_id=r.id, action=ESCALATE_ACTION, from_status=r.status, to_status=r.status,
                                    actor=actor, actor_role="system", at=now, comment=text,
                                    department_code=r.department_code,
                                    detail={"level": rule.level, "rule": rule.id, "overdue": round(amount, 3),
                                            "unit": rule.unit, "from_level": r.escalation_level}))
        audit.record(session, actor, "event_escalate", object_type="event", object_id=r.id,
                     scope=r.grid_code or r.city_code,
                     detail={"level": rule.level, "rule": rule.id, "overdue": round(amount, 3), "unit": rule.unit})
        outbox.record_object(session, "case.escalate", session.get(Event, r.id, populate_existing=True), actor=actor,
                             at=now, extra={"level": rule.level, "rule": rule.id, "overdue": round(amount, 3),
                                            "unit": rule.unit, "from_level": r.escalation_level})  # same transaction
        out.escalated.append({"id": r.id, "from": r.escalation_level, "to": rule.level, "rule": rule.id,
                              "overdue": amount, "unit": rule.unit})
    session.flush()
    return out
