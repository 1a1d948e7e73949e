"""The workflow table, exhaustively: every (state, action, role) either moves the case to the table's
next state or is refused with the right error; plus the rules around each action."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from auth.roles import can
from events import deadlines, rollup, workflow
from events.views import EventViews
from events.workflow import ACTIONS, STATUS_NAMES, TABLE, ConcurrentChange, IllegalTransition, WorkflowError
from store.db import session_scope
from store.models import AuditEntry, Event, EventTransition
from store.scope import PermissionDenied
from tests.test_events_support import (
    ADMIN, CITY_CGJ, DUTY, GRID_OFFICER, LEADER, OTHER_GRID_OFFICER, OTHER_POINT, STREET_OFFICE, T0, dept, drive,
    new_case, prepare,
)

ROLES = {"duty_officer": DUTY, "leader": LEADER, "department": dept(), "grid_officer": GRID_OFFICER,
         "admin": ADMIN}
KWARGS = {"dispatch": {"department_code": STREET_OFFICE}, "redispatch": {"department_code": CITY_CGJ},
          "request_extension": {"hours": 8}}


def _visible(role: str, event: Event) -> bool:
    return role != "department" or event.department_code == STREET_OFFICE


@pytest.mark.parametrize("status", list(STATUS_NAMES))
def test_every_state_action_role(sqlite_city_engine, status):
    """All 18 actions × 5 roles from this state, each tried inside a savepoint that is rolled back."""
    prepare(sqlite_city_engine)
    mismatches = []
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, status)
        assert s.get(Event, event.id).status == status
        original = new_case(s, reported_at=t)  # an open case to merge a report into (重复)
        kwargs = {**KWARGS, "merge": {"duplicate_of": original.id}}
        for role, viewer in ROLES.items():
            expected_allowed = set()
            for action in ACTIONS:
                current = s.get(Event, event.id)
                rules = workflow.rules_from(status, action)
                if not _visible(role, current):
                    expect = PermissionDenied
                elif not rules:
                    # Someone else (able to do the same) just did exactly this: reported as a concurrent change.
                    last = workflow.latest_transition(s, event.id)
                    capable = any(can(role, r.capability) for r in TABLE if r.action == action)
                    expect = ConcurrentChange if capable and last.action == action and last.actor != viewer.username \
                        else IllegalTransition
                elif not any(can(role, r.capability) for r in rules):
                    expect = PermissionDenied
                else:
                    expect = next(r.to_status for r in rules if can(role, r.capability))
                    expected_allowed.add(action)
                nested = s.begin_nested()
                try:
                    result = workflow.transition(s, event.id, action, viewer, "测试意见", now=t + timedelta(minutes=5),
                                                 **kwargs.get(action, {}))
                    got = result.status
                except (WorkflowError, PermissionDenied) as exc:
                    got = type(exc)
                finally:
                    nested.rollback()
                    s.expire_all()  # the savepoint rollback does not expire rows changed by Core UPDATEs
                ok = got == expect or (isinstance(expect, type) and isinstance(got, type) and issubclass(got, expect))
                if not ok:
                    mismatches.append((status, action, role, expect, got))
            allowed = {a.id for a in workflow.allowed_actions(s.get(Event, event.id), viewer)}
            if allowed != expected_allowed:
                mismatches.append((status, "allowed_actions", role, sorted(expected_allowed), sorted(allowed)))
    assert not mismatches, "\n".join(map(str, mismatches))


def test_table_covers_the_standard_flow():
    actions = {r.action for r in TABLE}
    assert set(ACTIONS) == actions
    # every state is reachable and every non-terminal state has a way forward
    reachable = {"reported"} | {r.to_status for r in TABLE}
    assert reachable == set(STATUS_NAMES)
    for s in workflow.OPEN_STATUSES:
        assert any(r.from_status == s for r in TABLE), s
    for terminal in workflow.TERMINAL:
        assert not any(r.from_status == terminal for r in TABLE)
    # every capability named in the table exists in auth.roles
    for r in TABLE:
        can("duty_officer", r.capability)


def test_the_open_cases_index_holds_exactly_the_open_states():
    # store.models.events repeats the terminal states for its partial index (the store imports no domain).
    from store.models.events import TERMINAL_STATUSES
    assert frozenset(TERMINAL_STATUSES) == workflow.TERMINAL
    index = next(i for i in Event.__table__.indexes if i.name == "ix_events_open_by_district")
    assert str(index.dialect_options["postgresql"]["where"]) == \
        "status NOT IN ({})".format(", ".join(f"'{s}'" for s in TERMINAL_STATUSES))


def test_illegal_transition_message_names_state_and_action(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        with pytest.raises(IllegalTransition) as info:
            workflow.transition(s, event.id, "close", DUTY, now=T0)
    assert "待立案" in str(info.value) and "结案" in str(info.value)


def test_department_acts_only_on_its_own_cases(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        drive(s, event.id, "dispatched")
        with pytest.raises(PermissionDenied, match="不是派给本部门"):
            workflow.transition(s, event.id, "accept", dept(CITY_CGJ), now=T0 + timedelta(hours=1))
        workflow.transition(s, event.id, "accept", dept(), now=T0 + timedelta(hours=1))


def test_grid_officer_verifies_only_in_own_zone(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        drive(s, event.id, "handled")
        with pytest.raises(PermissionDenied, match="管辖范围"):
            workflow.transition(s, event.id, "verify_pass", OTHER_GRID_OFFICER, now=T0 + timedelta(hours=2))
        assert workflow.transition(s, event.id, "verify_pass", GRID_OFFICER, now=T0 + timedelta(hours=2)).status == "verified"


@pytest.mark.parametrize("action,status,kw", [
    ("reject", "reported", {}), ("return", "dispatched", {}), ("feedback", "handling", {}),
    ("request_hang", "handling", {}), ("verify_fail", "handled", {}), ("rework", "verify_failed", {}),
    ("request_extension", "handling", {"hours": 8}),
])
def test_required_comments(sqlite_city_engine, action, status, kw):
    prepare(sqlite_city_engine)
    who = {"reject": DUTY, "return": dept(), "feedback": dept(), "request_hang": dept(), "verify_fail": GRID_OFFICER,
           "rework": DUTY, "request_extension": dept()}[action]
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, status)
        with pytest.raises(WorkflowError, match="须填写"):
            workflow.transition(s, event.id, action, who, "  ", now=t + timedelta(minutes=1), **kw)


def test_dispatch_override_needs_a_reason_and_is_logged(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, "registered")
        with pytest.raises(WorkflowError, match="改派其他部门须填写原因"):
            workflow.transition(s, event.id, "dispatch", DUTY, department_code=CITY_CGJ, now=t)
        with pytest.raises(WorkflowError, match="不存在"):
            workflow.transition(s, event.id, "dispatch", DUTY, department_code="NOPE", now=t)
        e = workflow.transition(s, event.id, "dispatch", DUTY, department_code=CITY_CGJ, reason="市城管局专项整治",
                                now=t + timedelta(minutes=1))
        assert e.department_code == CITY_CGJ
        row = s.execute(select(EventTransition).where(EventTransition.event_id == event.id,
                                                      EventTransition.action == "dispatch")).scalar_one()
        assert row.detail == {"department_code": CITY_CGJ, "suggested": STREET_OFFICE,
                              "override_reason": "市城管局专项整治"}
        with pytest.raises(WorkflowError, match="不同的部门"):
            workflow.transition(s, event.id, "redispatch", DUTY, "改派", department_code=CITY_CGJ, now=t)


def test_return_and_redispatch(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, "dispatched")
        first_dispatch = s.get(Event, event.id).dispatched_at
        e = workflow.transition(s, event.id, "return", dept(), "不属于本部门", now=t + timedelta(minutes=30))
        assert (e.status, e.department_code, e.return_count) == ("registered", None, 1)
        e = workflow.transition(s, event.id, "dispatch", DUTY, department_code=CITY_CGJ, reason="退回后改派",
                                now=t + timedelta(hours=1))
        assert e.status == "dispatched" and e.dispatched_at == first_dispatch  # 派遣数 counts the first dispatch
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


def test_extension_moves_the_deadline_by_working_hours(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, "extension_requested")
        before = s.get(Event, event.id).handle_deadline
        with pytest.raises(PermissionDenied):
            workflow.transition(s, event.id, "approve_extension", dept(), now=t)
        e = workflow.transition(s, event.id, "approve_extension", LEADER, now=t + timedelta(minutes=5))
        cal = deadlines.get_calendar()
        assert e.status == "handling"
        assert e.handle_deadline == cal.add_working_hours(before, 8)
        assert e.stage_deadline == e.handle_deadline
        verify = deadlines.stage_limit("市容环境", "暴露垃圾", "normal", "verify")
        assert e.close_deadline == deadlines.add_limit(e.handle_deadline, verify)


def test_hang_needs_a_leader_and_stops_the_clock(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, "hang_requested")
        assert s.get(Event, event.id).hang_reason == "需列入年度计划"
        with pytest.raises(PermissionDenied, match="无权"):
            workflow.transition(s, event.id, "approve_hang", DUTY, now=t)
        e = workflow.transition(s, event.id, "approve_hang", LEADER, now=t + timedelta(minutes=1))
        assert (e.status, e.stage_deadline, e.stage_warn_at) == ("hung", None, None)
        e = workflow.transition(s, event.id, "resume", DUTY, now=t + timedelta(days=30))
        assert e.status == "handling" and e.stage_deadline > t + timedelta(days=30)
        assert e.handle_deadline == e.stage_deadline


def test_hotline_close_requires_satisfaction(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s, source="12345", source_id="H-1", reporter_name="张三", reporter_phone="13812341234")
        t = drive(s, event.id, "verified")
        with pytest.raises(WorkflowError, match="满意度"):
            workflow.transition(s, event.id, "close", DUTY, now=t)
        with pytest.raises(WorkflowError, match="1–5"):
            workflow.transition(s, event.id, "close", DUTY, satisfaction=9, now=t)
        e = workflow.transition(s, event.id, "close", DUTY, satisfaction=4, now=t + timedelta(minutes=1))
        assert (e.status, e.satisfaction, e.closed_on_time) == ("closed", 4, True)
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


def test_full_cycle_on_both_backends(city_engine):
    """上报 → 立案 → 派遣 → 签收 → 反馈 → 核查不通过 → 返工 → 反馈 → 核查 → 结案: one log row and one audit row
    per step, version counts the steps, milestones keep their first time, rollup equals the recount."""
    prepare(city_engine)
    with session_scope(city_engine) as s:
        event = new_case(s, actor=GRID_OFFICER, source="网格员")
        eid = event.id
    steps = [("register", DUTY, {}), ("dispatch", DUTY, {"department_code": STREET_OFFICE}), ("accept", dept(), {}),
             ("feedback", dept(), {"comment": "已清理"}), ("verify_fail", GRID_OFFICER, {"comment": "未清干净"}),
             ("rework", DUTY, {"comment": "返工"}), ("feedback", dept(), {"comment": "二次清理"}),
             ("verify_pass", GRID_OFFICER, {}), ("close", DUTY, {})]
    t = T0
    first_handled = None
    for n, (action, who, kw) in enumerate(steps, start=2):
        t += timedelta(minutes=20)
        kw = dict(kw)
        with session_scope(city_engine) as s:
            e = workflow.transition(s, eid, action, who, kw.pop("comment", ""), expected_version=n - 1, now=t, **kw)
            assert e.version == n
            if action == "feedback" and first_handled is None:
                first_handled = e.handled_at
    with session_scope(city_engine, readonly=True) as s:
        e = s.get(Event, eid)
        assert (e.status, e.rework_count, e.handled_at) == ("closed", 1, first_handled)
        assert e.closed_on_time and e.handled_on_time and e.dispatched_on_time
        log = s.execute(select(EventTransition.action).where(EventTransition.event_id == eid)
                        .order_by(EventTransition.id)).scalars().all()
        assert log == ["report"] + [a for a, _, _ in steps]
        audits = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.object_id == str(eid)))
        assert audits == len(steps) + 1
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty
        stored = rollup.stored(s).sum()
        assert (stored["reported"], stored["registered"], stored["dispatched"], stored["handled"],
                stored["reworked"], stored["closed"]) == (1, 1, 1, 1, 1, 1)


def test_failed_transition_writes_nothing(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        eid = new_case(s).id
    with pytest.raises(IllegalTransition):
        with session_scope(city_engine) as s:
            workflow.transition(s, eid, "accept", DUTY, now=T0)
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(EventTransition)) == 1
        assert s.get(Event, eid).version == 1


def test_case_in_other_district_routes_to_its_street(sqlite_city_engine):
    from events import routing

    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        e = new_case(s, point=OTHER_POINT)
        assert routing.suggest(s, e).department_code == "440904002-JD"
        e2 = new_case(s, point=OTHER_POINT, category="突发事件", subcategory="自来水管破裂", priority="urgent")
        assert routing.suggest(s, e2).department_code == "SWJT"


def test_notes_keep_state_and_version(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        event = new_case(s)
        t = drive(s, event.id, "dispatched")
        workflow.add_note(s, event.id, "告警升级：积水深度 35 cm", actor="system:sensor-alerts", at=t)
        e = s.get(Event, event.id)
        assert (e.status, e.version) == ("dispatched", 3)
        with pytest.raises(WorkflowError, match="备注不能为空"):
            workflow.add_note(s, event.id, " ", actor=DUTY)
        with pytest.raises(PermissionDenied):
            workflow.add_note(s, event.id, "x", actor=OTHER_GRID_OFFICER)
        # a late submit still names the last real step, not the note
        with pytest.raises(ConcurrentChange, match="派遣"):
            workflow.transition(s, event.id, "accept", dept(), expected_version=2)
        timeline = EventViews(s, DUTY).case_detail(event.id)["timeline"]
        assert timeline[-1]["action"] == "备注" and "35 cm" in timeline[-1]["comment"]


def test_status_stages_partition_the_states():
    from events import statuses

    stages = [s for g in statuses.STAGES for s in g.statuses]
    assert sorted(stages) == sorted(STATUS_NAMES) and len(stages) == len(set(stages))
    assert sorted(s for g in statuses.OPEN_STAGES for s in g.statuses) == sorted(workflow.OPEN_STATUSES)
    assert set(statuses.QUEUE.statuses) | set(statuses.AWAITING_APPROVAL.statuses) <= set(workflow.OPEN_STATUSES)
    assert statuses.map_state("closed", None) == "closed" and statuses.map_state("handling", "ok") == "open"


def test_screen_rules_come_from_the_table():
    assert workflow.statuses_allowing("register") == ("reported",)
    assert workflow.statuses_allowing("dispatch") == ("registered",)
    assert workflow.statuses_allowing("verify_pass") == ("handled",)
    assert set(workflow.statuses_allowing("rework")) == {"handled", "verified", "verify_failed"}
    assert workflow.role_may("duty_officer", "dispatch") and not workflow.role_may("leader", "dispatch")
    assert workflow.role_may("leader", "approve_hang")
    assert workflow.satisfaction_required("12345") and not workflow.satisfaction_required("巡查")
