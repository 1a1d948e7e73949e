"""督办 and automatic escalation: the rules file, overdue time on the working-hour calendar (lunch, weekends,
holidays; calendar hours for urgent cases), boundaries exactly at a threshold, idempotent reruns, the
case history and audit; placing cases and a department's overdue list under supervision, who may, and
督办件按期办结率."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from events import workflow
from events.views import EventViews
from indicators import engine as indicator_engine
from store.db import session_scope
from store.models import AuditEntry, Escalation, Event, EventTransition, Supervision
from store.scope import Viewer
from supervision import actions, escalation, rules
from supervision.views import SupervisionViews
from tests.test_events_support import (DUTY, GRID_OFFICER, LEADER, OTHER_POINT, STREET_OFFICE, T0, dept, drive, new_case,
                                       prepare)

TZ = ZoneInfo("Asia/Shanghai")
DISTRICT_LEADER = Viewer("d-boss", "leader", "440902")


def local(*args) -> datetime:  # noqa: ANN002
    return datetime(*args, tzinfo=TZ).astimezone(timezone.utc)


def test_the_shipped_rules_load_and_rise_in_order():
    loaded = rules.load_rules()
    assert [r.level for r in loaded] == ["street", "district", "city"]
    assert loaded[0].overdue == 24 and loaded[0].unit == "working_hours"


@pytest.mark.parametrize("data,message", [
    ({"rules": []}, "至少一条"),
    ({"rules": [{"id": "a", "level": "province", "overdue": 1}]}, "level"),
    ({"rules": [{"id": "a", "level": "street", "overdue": 0}]}, "正数"),
    ({"rules": [{"id": "a", "level": "street", "overdue": 1, "unit": "weeks"}]}, "unit"),
    ({"rules": [{"id": "a", "level": "district", "overdue": 1}, {"id": "b", "level": "street", "overdue": 2}]},
     "由低到高"),
    ({"rules": [{"id": "a", "level": "street", "overdue": 5}, {"id": "b", "level": "district", "overdue": 5}]},
     "阈值应大于"),
    ({"rules": [{"id": "a", "level": "street", "overdue": 5, "colour": "red"}]}, "未知的字段"),
])
def test_bad_rules_are_refused_with_a_reason(data, message):
    with pytest.raises(rules.RuleError, match=message):
        rules.parse_rules(data)


def test_highest_rule_reached_and_never_down():
    r = rules.load_rules()
    at = rules.Overdue
    assert rules.escalation_due(None, at(23.99, 100), r) is None
    assert rules.escalation_due(None, at(24.0, 100), r).level == "street"  # exactly the threshold
    assert rules.escalation_due(None, at(80, 300), r).level == "district"  # straight past the street
    assert rules.escalation_due("district", at(80, 300), r) is None
    assert rules.escalation_due("city", at(1, 1), r) is None


def test_overdue_counts_working_hours_across_lunch_weekends_and_holidays():
    friday_17 = local(2026, 11, 27, 17, 0)
    monday_9 = local(2026, 11, 30, 9, 0)
    o = escalation.overdue_measures([friday_17], [False], monday_9)[0]
    assert o.hours == pytest.approx(64.0)
    assert o.working_hours == pytest.approx(1.0)  # 17:00–17:30 Friday + 08:30–09:00 Monday
    urgent = escalation.overdue_measures([friday_17], [True], monday_9)[0]
    assert urgent.working_hours == pytest.approx(64.0)  # urgent cases run on calendar hours
    # New Year's Day 2027 is a holiday: Thursday 16:30 → Monday 09:30 is two working hours.
    o = escalation.overdue_measures([local(2026, 12, 31, 16, 30)], [False], local(2027, 1, 4, 9, 30))[0]
    assert o.working_hours == pytest.approx(2.0)
    # Lunch does not count: 11:00 → 15:00 is 1 + 1 hours.
    o = escalation.overdue_measures([local(2026, 11, 24, 11, 0)], [False], local(2026, 11, 24, 15, 0))[0]
    assert o.working_hours == pytest.approx(2.0)


def _escalate(engine, now):  # noqa: ANN001
    with session_scope(engine) as s:
        return escalation.run(s, now=now)


def test_escalation_by_working_hours_exactly_at_the_threshold_and_idempotent(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        case = new_case(s, reported_at=T0)  # Monday 09:00; 立案 within 2 working hours: Monday 11:00
        deadline = case.stage_deadline
    assert deadline == local(2026, 11, 23, 11, 0)
    # Monday 11–12 and 14–17:30 (4.5), Tuesday and Wednesday (7 each) = 18.5; Thursday 08:30–12:00 (22),
    # 14:00–16:00: 24 working hours at Thursday 16:00.
    threshold = local(2026, 11, 26, 16, 0)
    assert not _escalate(city_engine, threshold - timedelta(minutes=1)).escalated
    first = _escalate(city_engine, threshold)
    assert [(e["id"], e["to"]) for e in first.escalated] == [(case.id, "street")]
    again = _escalate(city_engine, threshold + timedelta(minutes=5))
    assert not again.escalated and again.checked == 1
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(Event, case.id).escalation_level == "street"
        assert s.scalar(select(func.count()).select_from(Escalation)) == 1
        log = s.execute(select(EventTransition).where(EventTransition.event_id == case.id,
                                                      EventTransition.action == "escalate")).scalars().all()
        assert len(log) == 1 and "升级至街道" in log[0].comment and log[0].actor_role == "system"
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "event_escalate")) == 1
        assert s.get(Event, case.id).version == 1  # an annotation, not a workflow step
    # 72 working hours later it rises again (one more record), then the city at 120.
    later = _escalate(city_engine, local(2026, 12, 7, 15, 0))  # 4.5 + 9 × 7 + 3.5 + 1 = 72
    assert [e["to"] for e in later.escalated] == ["district"]
    with EventViews.open(city_engine, DUTY) as v:
        detail = v.case_detail(case.id)
    assert detail["escalation_level"] == "district"
    assert [t["action"] for t in detail["timeline"]].count("超期升级") == 2


def test_a_long_overdue_case_rises_once_to_the_highest_level(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        case = new_case(s, reported_at=T0)
    run = _escalate(sqlite_city_engine, T0 + timedelta(days=40))
    assert [(e["from"], e["to"]) for e in run.escalated] == [(None, "city")]
    with SupervisionViews.open(sqlite_city_engine, DUTY) as v:
        rows = v.escalated_cases("440900", now=T0 + timedelta(days=40))
        assert [r["id"] for r in rows] == [case.id]
    with SupervisionViews.open(sqlite_city_engine, DISTRICT_LEADER) as v:
        assert [r["id"] for r in v.escalated_cases(now=T0 + timedelta(days=40))] == [case.id]


def test_closed_and_hung_cases_are_not_escalated(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        done = new_case(s, reported_at=T0)
        drive(s, done.id, "closed")
        hung = new_case(s, reported_at=T0)
        drive(s, hung.id, "hung")
    assert not _escalate(sqlite_city_engine, T0 + timedelta(days=40)).escalated


def test_urgent_cases_count_calendar_hours(sqlite_city_engine):
    prepare(sqlite_city_engine)
    custom = rules.parse_rules({"rules": [{"id": "s", "level": "street", "overdue": 24, "unit": "working_hours"}]})
    with session_scope(sqlite_city_engine) as s:
        urgent = new_case(s, priority="urgent", reported_at=T0)  # 立案 within 0.5 calendar hours
        normal = new_case(s, point=OTHER_POINT, reported_at=T0)
    with session_scope(sqlite_city_engine) as s:
        run = escalation.run(s, now=T0 + timedelta(hours=25), rules=custom)
    assert [e["id"] for e in run.escalated] == [urgent.id]
    assert normal.id != urgent.id


# -- 督办 --------------------------------------------------------------------------------------------------
def _deadline(days: float = 3) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=days)


def test_supervise_a_case_records_everything(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        case = new_case(s, reported_at=T0)
        drive(s, case.id, "handling")
    deadline = _deadline()
    out = actions.supervise_cases(city_engine, DUTY, [case.id], level="city", deadline=deadline,
                                  note="请两日内处置完毕", notified_department=STREET_OFFICE)
    assert out.ok, out.message
    with session_scope(city_engine, readonly=True) as s:
        e = s.get(Event, case.id)
        assert (e.supervision_level, e.status) == ("city", "handling")
        assert abs((e.supervision_deadline - deadline).total_seconds()) < 1
        rec = s.execute(select(Supervision)).scalar_one()
        assert (rec.level, rec.note, rec.notified_department, rec.created_by) == \
            ("city", "请两日内处置完毕", STREET_OFFICE, DUTY.username)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "event_supervise")) == 1
    with EventViews.open(city_engine, dept()) as v:  # the department sees the mark on its case
        detail = v.case_detail(case.id)
        queue = v.department_cases()
    assert detail["supervision"]["level"] == "city" and detail["timeline"][-1]["action"] == "挂牌督办"
    assert queue.rows[0]["supervision_level"] == "city"
    with SupervisionViews.open(city_engine, dept()) as v:
        assert [r["case_id"] for r in v.supervision_records()] == [case.id]
    # A district-level order afterwards replaces the deadline but never lowers the level.
    assert actions.supervise_cases(city_engine, DUTY, [case.id], level="district", deadline=_deadline(5),
                                   note="再次督办").ok
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(Event, case.id).supervision_level == "city"


@pytest.mark.parametrize("viewer,kw,message", [
    (GRID_OFFICER, {}, "无权"),
    (dept(), {}, "无权"),
    (DISTRICT_LEADER, {"level": "city"}, "市级督办"),
    (DUTY, {"deadline": datetime(2020, 1, 1, tzinfo=timezone.utc)}, "晚于当前"),
    (DUTY, {"deadline": datetime.now(timezone.utc) + timedelta(days=400)}, "不能超过"),
    (DUTY, {"note": "   "}, "督办意见"),
    (DUTY, {"level": "street"}, "督办级别"),
    (DUTY, {"notified_department": "NOPE"}, "不存在"),
])
def test_refusals_write_nothing(sqlite_city_engine, viewer, kw, message):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        case = new_case(s, reported_at=T0)
    args = {"level": "district", "deadline": _deadline(), "note": "督办", **kw}
    out = actions.supervise_cases(sqlite_city_engine, viewer, [case.id], **args)
    assert not out.ok and message in out.message
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Supervision)) == 0
        assert s.get(Event, case.id).supervision_level is None


def test_one_closed_case_refuses_the_whole_order(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        a = new_case(s, reported_at=T0)
        b = new_case(s, reported_at=T0)
        drive(s, b.id, "closed")
    out = actions.supervise_cases(sqlite_city_engine, LEADER, [a.id, b.id], level="city", deadline=_deadline(),
                                  note="督办")
    assert not out.ok and "已办结" in out.message
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Supervision)) == 0
        assert s.get(Event, a.id).supervision_level is None


def test_a_departments_overdue_list_at_once(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        late = [new_case(s, reported_at=T0) for _ in range(2)]
        for c in late:
            drive(s, c.id, "handling")
        fresh = new_case(s, reported_at=datetime.now(timezone.utc) - timedelta(minutes=5))
        drive(s, fresh.id, "handling", start=datetime.now(timezone.utc) - timedelta(minutes=4),
              step=timedelta(seconds=10))
    with SupervisionViews.open(sqlite_city_engine, LEADER) as v:
        overdue = v.department_overdue()
    assert overdue == [{"department_code": STREET_OFFICE, "department": overdue[0]["department"], "overdue": 2}]
    out = actions.supervise_department_overdue(sqlite_city_engine, LEADER, STREET_OFFICE, level="city",
                                               deadline=_deadline(), note="部门超期件集中督办")
    assert out.ok and sorted(out.case_ids) == sorted(c.id for c in late)
    with session_scope(sqlite_city_engine, readonly=True) as s:
        recs = s.execute(select(Supervision)).scalars().all()
        assert len(recs) == 2 and len({r.batch_id for r in recs}) == 1
        assert all(r.notified_department == STREET_OFFICE for r in recs)
        assert s.get(Event, fresh.id).supervision_level is None


def test_supervised_ontime_rate(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        kept = new_case(s, reported_at=T0)
        missed = new_case(s, reported_at=T0)
        plain_case = new_case(s, reported_at=T0)
        for c in (kept, missed, plain_case):
            drive(s, c.id, "verified")
    now = datetime.now(timezone.utc)
    assert actions.supervise_cases(city_engine, DUTY, [kept.id, missed.id], level="city",
                                   deadline=now + timedelta(hours=2), note="督办").ok
    with session_scope(city_engine) as s:
        workflow.transition(s, kept.id, "close", DUTY, now=now + timedelta(hours=1))
        workflow.transition(s, missed.id, "close", DUTY, now=now + timedelta(hours=3))
        workflow.transition(s, plain_case.id, "close", DUTY, now=now + timedelta(hours=3))
        assert (s.get(Event, kept.id).supervision_on_time, s.get(Event, missed.id).supervision_on_time,
                s.get(Event, plain_case.id).supervision_on_time) == (True, False, None)
    period = (now + timedelta(hours=3)).astimezone(TZ).strftime("%Y-%m")
    r = indicator_engine.compute("sv_supervised_ontime_rate", "440900", period, DUTY, engine=city_engine,
                                 now=now + timedelta(hours=4))
    assert r.value == pytest.approx(50.0)
