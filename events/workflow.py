"""The 数字城管 case workflow as a table, and the one function that moves a case along it.

上报 → 立案 (or 不予立案) → 派遣 → 签收/处置 → 处置反馈 → 核查 → 结案, with 退回 (a department sends a wrong
dispatch back), 重新派遣, 延期申请/批准/驳回, 挂账 (long-term, with a reason; approved by a leader),
解除挂账 and 返工 (verification fails → back to the department).

`TABLE` lists every legal (state, action, capability) → next state; anything not listed is illegal.
A transition is one transaction in the caller's session: a conditional UPDATE on the expected state
and version (so two dispatchers cannot both take a case), a transition-log row, an audit row and the
daily rollup counters.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import settings
from auth import audit
from auth.roles import ROLE_NAMES, can
from events import deadlines, photos as photo_store, routing, rollup, status_cohort
from events.limits import too_long
# The state vocabulary lives in events.statuses; other modules and tests also read it from here.
from events.statuses import OPEN_STATUSES, STATUS_NAMES, TERMINAL, WITH_DEPARTMENT  # noqa: F401
from store import outbox
from store.models import Event, EventTransition
from store.scope import PermissionDenied, Viewer, ensure_visible

# -- states (their names and the groups screens use: events.statuses) ------------------------------------
# Which SLA stage (config [sla.*]) a case is in while in each state; None = no running deadline.
STAGE_OF: dict[str, str | None] = {
    "reported": "register", "registered": "dispatch",
    "dispatched": "handle", "handling": "handle", "extension_requested": "handle", "hang_requested": "handle",
    "handled": "verify", "verified": "verify", "verify_failed": "verify",
    "hung": None, "rejected": None, "closed": None, "duplicate": None,
}


# -- actions --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    id: str
    label: str
    comment: str | None = None   # label of the comment field when a comment is REQUIRED
    kind: str = "secondary"      # button style hint for pages: primary / secondary


ACTIONS: dict[str, Action] = {a.id: a for a in (
    Action("register", "立案", kind="primary"),
    Action("reject", "不予立案", comment="不予立案原因"),
    Action("dispatch", "派遣", kind="primary"),
    Action("redispatch", "重新派遣", comment="改派原因"),
    Action("accept", "签收", kind="primary"),
    Action("return", "退回", comment="退回原因（如：不属于本部门职责）"),
    Action("feedback", "处置反馈", comment="处置情况", kind="primary"),
    Action("request_extension", "延期申请", comment="延期理由"),
    Action("approve_extension", "批准延期", kind="primary"),
    Action("reject_extension", "驳回延期", comment="驳回理由"),
    Action("request_hang", "挂账申请", comment="挂账原因（长期无法解决的理由）"),
    Action("approve_hang", "批准挂账", kind="primary"),
    Action("reject_hang", "驳回挂账", comment="驳回理由"),
    Action("resume", "解除挂账"),
    Action("verify_pass", "核查通过", kind="primary"),
    Action("verify_fail", "核查不通过", comment="核查发现的问题"),
    Action("rework", "返工", comment="返工要求"),
    Action("close", "结案", kind="primary"),
    # 重复上报 (events.duplicates): the report is closed as 重复 of an earlier open case (`duplicate_of`).
    Action("merge", "合并为重复"),
)}
# Creation is logged with this action (None → reported); it is not in TABLE because no case exists yet.
REPORT_ACTION = Action("report", "上报")
# A remark on the timeline (e.g. a sensor alert escalating); the state and version stay as they are.
NOTE_ACTION = Action("note", "备注")
# 重复上报 (events.duplicates): the earlier case's own record of having gained a reporter when a report
# is merged into it (the "merge" action above); a report confirmed as new after the check.
LINK_DUPLICATE_ACTION = Action("link_duplicate", "收到重复上报")
CONFIRM_NEW_ACTION = Action("confirm_new", "确认非重复")
# 督办 and automatic escalation (supervision/): recorded on the case's timeline by that domain, with
# these ids; they change neither the state nor the version.
SUPERVISE_ACTION = Action("supervise", "挂牌督办")
ESCALATE_ACTION = Action("escalate", "超期升级")
SPECIAL_ACTIONS = (REPORT_ACTION, NOTE_ACTION, LINK_DUPLICATE_ACTION, CONFIRM_NEW_ACTION, SUPERVISE_ACTION,
                   ESCALATE_ACTION)
# Timeline rows that leave the case where it was (skipped when saying who last moved a case).
NON_STATE_ACTIONS = (NOTE_ACTION.id, LINK_DUPLICATE_ACTION.id, SUPERVISE_ACTION.id, ESCALATE_ACTION.id)


@dataclass(frozen=True)
class Rule:
    from_status: str
    action: str
    capability: str   # auth.roles capability the actor's role must hold
    to_status: str


TABLE: tuple[Rule, ...] = (
    Rule("reported", "register", "register_event", "registered"),
    Rule("reported", "reject", "register_event", "rejected"),
    Rule("registered", "dispatch", "dispatch_event", "dispatched"),
    Rule("dispatched", "accept", "handle_event", "handling"),
    Rule("dispatched", "feedback", "handle_event", "handled"),
    Rule("dispatched", "return", "handle_event", "registered"),
    Rule("dispatched", "redispatch", "dispatch_event", "dispatched"),
    Rule("handling", "feedback", "handle_event", "handled"),
    Rule("handling", "return", "handle_event", "registered"),
    Rule("handling", "request_extension", "handle_event", "extension_requested"),
    Rule("handling", "request_hang", "handle_event", "hang_requested"),
    Rule("handling", "request_hang", "dispatch_event", "hang_requested"),
    Rule("handling", "redispatch", "dispatch_event", "dispatched"),
    Rule("extension_requested", "approve_extension", "approve_extension", "handling"),
    Rule("extension_requested", "reject_extension", "approve_extension", "handling"),
    Rule("extension_requested", "feedback", "handle_event", "handled"),
    Rule("hang_requested", "approve_hang", "approve_hang", "hung"),
    Rule("hang_requested", "reject_hang", "approve_hang", "handling"),
    Rule("hung", "resume", "approve_hang", "handling"),
    Rule("hung", "resume", "dispatch_event", "handling"),
    Rule("handled", "verify_pass", "verify_event", "verified"),
    Rule("handled", "verify_fail", "verify_event", "verify_failed"),
    Rule("handled", "rework", "close_event", "handling"),
    Rule("verified", "close", "close_event", "closed"),
    Rule("verified", "rework", "close_event", "handling"),
    Rule("verify_failed", "rework", "close_event", "handling"),
    # The command centre, or a grid officer on a report in their own zone (at the report form, their
    # own), answers the duplicate check by closing the report as 重复 of an open case.
    Rule("reported", "merge", "report_event", "duplicate"),
)

MAX_EXTENSION_HOURS = 240.0
# Hotline (12345) cases are closed only with the caller's satisfaction score from the return visit.
SATISFACTION_REQUIRED_SOURCES = frozenset({"12345"})


# -- errors ---------------------------------------------------------------------------------------------
class WorkflowError(ValueError):
    """A transition was refused; the message is for the user (Chinese)."""


class EventNotFound(WorkflowError):
    pass


class IllegalTransition(WorkflowError):
    def __init__(self, status: str, action: str):
        self.status, self.action = status, action
        label = ACTIONS[action].label if action in ACTIONS else action
        super().__init__(f"案件当前状态为「{STATUS_NAMES.get(status, status)}」，不能执行「{label}」")


class ConcurrentChange(WorkflowError):
    """Someone else changed the case between the viewer's read and this write."""

    def __init__(self, event_id: int, by: str | None, by_role: str | None, action: str | None,
                 at: datetime | None, status: str):
        self.event_id, self.by, self.by_role, self.action, self.at, self.status = event_id, by, by_role, action, at, status
        tz = ZoneInfo(settings.get_settings()["app"]["timezone"])
        who = f"{by}（{ROLE_NAMES.get(by_role or '', by_role or '')}）" if by else "其他用户"
        when = f"于 {at.astimezone(tz):%m-%d %H:%M:%S} " if at else ""
        what = f"执行了「{_action_label(action)}」" if action else "修改了该案件"
        super().__init__(f"操作未生效：案件 #{event_id} 已被 {who} {when}{what}，"
                         f"当前状态「{STATUS_NAMES.get(status, status)}」。请刷新后再操作。")


def _action_label(action: str | None) -> str:
    for special in SPECIAL_ACTIONS:
        if action == special.id:
            return special.label
    return ACTIONS[action].label if action in ACTIONS else (action or "")


def action_label(action: str | None) -> str:
    """Chinese label of any logged action (table actions, 上报, 备注, 重复, 督办, 升级)."""
    return _action_label(action)


# -- queries on the table -------------------------------------------------------------------------------
def rules_from(status: str, action: str) -> list[Rule]:
    return [r for r in TABLE if r.from_status == status and r.action == action]


def statuses_allowing(action: str) -> tuple[str, ...]:
    """The states from which `action` is legal (for someone), in table order."""
    return tuple(dict.fromkeys(r.from_status for r in TABLE if r.action == action))


def role_may(role: str, action: str) -> bool:
    """The role holds a capability that takes `action` in some state."""
    return any(can(role, r.capability) for r in TABLE if r.action == action)


def satisfaction_required(source: str | None) -> bool:
    """Closing a case from this source requires the return visit's satisfaction score."""
    return source in SATISFACTION_REQUIRED_SOURCES


def may_act(event: Event, actor: Viewer) -> bool:
    """The actor may act on this case at all: inside the zone, and for a department, dispatched to it."""
    try:
        ensure_visible(actor, event)
    except PermissionDenied:
        return False
    return True


def allowed_actions(event: Event, actor: Viewer) -> list[Action]:
    """The actions `actor` may take on `event` now, in table order (for buttons)."""
    if not may_act(event, actor):
        return []
    seen: dict[str, Action] = {}
    for rule in TABLE:
        if rule.from_status == event.status and can(actor.role, rule.capability):
            seen.setdefault(rule.action, ACTIONS[rule.action])
    return list(seen.values())


def _resolve_rule(event: Event, action: str, actor: Viewer) -> Rule:
    if action not in ACTIONS:
        raise WorkflowError(f"未知的操作「{action}」")
    candidates = rules_from(event.status, action)
    if not candidates:
        raise IllegalTransition(event.status, action)
    for rule in candidates:
        if can(actor.role, rule.capability):
            return rule
    raise PermissionDenied(f"您的角色「{ROLE_NAMES.get(actor.role, actor.role)}」无权在"
                           f"「{STATUS_NAMES[event.status]}」状态执行「{ACTIONS[action].label}」")


def latest_transition(session: Session, event_id: int) -> EventTransition | None:
    """The latest state-changing log row (notes, 督办 and the like are skipped)."""
    return session.execute(
        select(EventTransition).where(EventTransition.event_id == event_id,
                                      EventTransition.action.not_in(NON_STATE_ACTIONS))
        .order_by(EventTransition.id.desc()).limit(1)
    ).scalar_one_or_none()


def add_note(session: Session, event_id: int, text: str, *, actor: Viewer | str,
             at: datetime | None = None) -> EventTransition:
    """Add a remark to a case's timeline without changing its state (used by sensor alerts to record
    escalations on the case they opened). A Viewer must be able to see the case; a plain string is a
    system channel. Audited like every other write."""
    text = (text or "").strip()
    if not text:
        raise WorkflowError("备注不能为空")
    if too_long("comment", text, "备注"):
        raise WorkflowError(too_long("comment", text, "备注"))
    event = session.get(Event, event_id)
    if event is None:
        raise EventNotFound(f"案件 #{event_id} 不存在")
    if isinstance(actor, Viewer):
        ensure_visible(actor, event)
        name, role = actor.username, actor.role
    else:
        name, role = str(actor), "system"
    row = EventTransition(event_id=event_id, action=NOTE_ACTION.id, from_status=event.status,
                          to_status=event.status, actor=name, actor_role=role,
                          at=at or datetime.now(timezone.utc), comment=text[:2000],
                          department_code=event.department_code)
    session.add(row)
    audit.record(session, actor, "event_note", object_type="event", object_id=event_id,
                 detail={"comment": text[:500]})
    session.flush()
    return row


def _concurrent(session: Session, event_id: int) -> ConcurrentChange:
    last = latest_transition(session, event_id)
    status = session.execute(select(Event.status).where(Event.id == event_id)).scalar_one_or_none() or "?"
    if last is None:
        return ConcurrentChange(event_id, None, None, None, None, status)
    return ConcurrentChange(event_id, last.actor, last.actor_role, last.action, last.at, status)


# -- the transition -------------------------------------------------------------------------------------
def transition(session: Session, event_id: int, action: str, actor: Viewer, comment: str = "", *,
               expected_version: int | None = None, now: datetime | None = None, client: str | None = None,
               **kw) -> Event:
    """Apply `action` to case `event_id` as `actor`, in the caller's transaction.

    Keyword parameters by action: dispatch/redispatch `department_code` (+ `reason` when it differs from
    the routing suggestion); request_extension `hours`; feedback/verify_* `photos` (list of
    (filename, bytes) or uploaded files); close `satisfaction` (1–5, required for 12345 cases).
    `expected_version` is the version the actor was looking at: if the case changed since, the call
    fails with ConcurrentChange naming who got there first.
    Raises EventNotFound, IllegalTransition, PermissionDenied, ConcurrentChange or WorkflowError.
    """
    now = now or datetime.now(timezone.utc)
    comment = (comment or "").strip()
    for text, label in ((comment, None), (str(kw.get("reason") or "").strip(), "改派原因")):
        if too_long("comment", text, label):
            raise WorkflowError(too_long("comment", text, label))
    event = session.execute(
        select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if event is None:
        raise EventNotFound(f"案件 #{event_id} 不存在")
    ensure_visible(actor, event)
    if expected_version is not None and event.version != expected_version:
        raise _concurrent(session, event_id)
    if not rules_from(event.status, action):
        # A colleague just did exactly this (two dispatchers on one case, no version given): say who.
        last = latest_transition(session, event_id)
        if role_may(actor.role, action) and last is not None and last.action == action \
                and last.actor != actor.username:
            raise _concurrent(session, event_id)
    rule = _resolve_rule(event, action, actor)
    spec = ACTIONS[action]
    if spec.comment and not comment:
        raise WorkflowError(f"「{spec.label}」须填写{spec.comment}")

    changes, detail, counters = _effects(session, event, rule, actor, comment, now, kw)
    attachments = None
    if kw.get("photos"):
        if action not in ("feedback", "verify_pass", "verify_fail"):
            raise WorkflowError(f"「{spec.label}」不能附带照片")
        attachments = photo_store.store_photos(session, kw["photos"], event_id=event.id)
        if action == "feedback":
            changes["photos"] = list(event.photos or []) + attachments

    from_status, version = event.status, event.version
    placed = status_cohort.snapshot(event)
    changes.update(status=rule.to_status, version=version + 1, updated_at=now)
    result = session.execute(
        update(Event).where(Event.id == event.id, Event.status == from_status, Event.version == version)
        .values(**changes).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _concurrent(session, event_id)

    session.add(EventTransition(
        event_id=event.id, action=action, from_status=from_status, to_status=rule.to_status,
        actor=actor.username, actor_role=actor.role, at=now, comment=comment,
        department_code=changes.get("department_code", event.department_code), attachments=attachments,
        detail=detail or None,
    ))
    audit.record(session, actor, f"event_{action}", object_type="event", object_id=event.id, client=client,
                 detail={"from": from_status, "to": rule.to_status, "comment": comment[:500], **(detail or {})})
    if action == "merge":
        _record_on_original(session, event, detail["duplicate_of"], actor, now)
    if counters:
        # The department rollup counts a milestone for the department on this log row (the new one for
        # a dispatch): `event` still holds the values from before the update.
        rollup.bump(session, event, now, department=changes.get("department_code", event.department_code),
                    **counters)
    session.flush()
    session.refresh(event)
    status_cohort.move(session, placed, event)
    # The change as an outbox record, in this same transaction: the exchange worker tells the upper
    # platform and the people the message rules name, after the commit (never from here).
    outbox.record_object(session, f"case.{action}", event, actor=actor.username, at=now,
                         extra={"action": action, "from": from_status, "comment": comment[:500], **(detail or {})})
    return event


def _duplicate_target(session: Session, event: Event, actor: Viewer, target_id) -> Event:  # noqa: ANN001
    """The open case a report is merged into: visible to the actor, not the report itself."""
    try:
        target_id = int(target_id)
    except (TypeError, ValueError):
        raise WorkflowError("「合并为重复」须填写所重复的在办案件编号") from None
    if target_id == event.id:
        raise WorkflowError("不能把案件合并到它自己")
    target = session.get(Event, target_id)
    if target is None:
        raise EventNotFound(f"案件 #{target_id} 不存在")
    ensure_visible(actor, target)
    if target.status not in OPEN_STATUSES:
        raise WorkflowError(f"案件 #{target.id} 已「{STATUS_NAMES.get(target.status, target.status)}」，只能合并到"
                            "在办案件；请确认为新案件")
    return target


def _record_on_original(session: Session, event: Event, target_id: int, actor: Viewer, now: datetime) -> None:
    """A merged report: the original case records that it gained a reporter, and the report stops counting
    as a report of its own (rollup `reported` − 1 on the day it was reported), so every figure counts the
    problem once."""
    target = session.get(Event, target_id)
    session.add(EventTransition(event_id=target.id, action=LINK_DUPLICATE_ACTION.id, from_status=target.status,
                                to_status=target.status, actor=actor.username, actor_role=actor.role, at=now,
                                comment=f"#{event.id}（来源 {event.source}）反映同一问题，已合并到本案",
                                department_code=target.department_code,
                                detail={"duplicate": event.id, "source": event.source,
                                        "reporter_user": event.reporter_user}))
    rollup.bump(session, event, event.reported_at, department=None, reported=-1, merged=1)


def _stage(event: Event, stage: str, start: datetime, extra_hours: float = 0.0) -> deadlines.StageDeadline:
    return deadlines.stage_deadline(start, event.category, event.subcategory, event.priority, stage,
                                    extra_hours=extra_hours)


def _effects(session: Session, event: Event, rule: Rule, actor: Viewer, comment: str, now: datetime,
             kw: dict) -> tuple[dict, dict, dict]:
    """Column changes, transition detail and rollup increments for one rule. Pure decisions plus the
    reads they need (routing suggestion, the pending extension request)."""
    a = rule.action
    changes: dict = {}
    detail: dict = {}
    counters: dict = {}

    def run_stage(stage: str, start: datetime = now) -> deadlines.StageDeadline:
        dl = _stage(event, stage, start)
        changes.update(stage_deadline=dl.deadline, stage_warn_at=dl.warn_at)
        return dl

    def no_stage() -> None:
        changes.update(stage_deadline=None, stage_warn_at=None)

    if a == "register":
        dl = run_stage("dispatch")
        changes.update(registered_at=now, dispatch_deadline=dl.deadline)
        counters["registered"] = 1
    elif a == "reject":
        no_stage()
        changes.update(rejected_at=now)
        counters["rejected"] = 1
    elif a in ("dispatch", "redispatch"):
        code = (kw.get("department_code") or "").strip()
        if not code:
            raise WorkflowError(f"「{ACTIONS[a].label}」须选择处置部门")
        if not routing.department_exists(session, code):
            raise WorkflowError(f"处置部门「{code}」不存在")
        if a == "redispatch" and code == event.department_code:
            raise WorkflowError("重新派遣须选择与当前不同的部门")
        suggestion = routing.suggest(session, event)
        reason = (kw.get("reason") or "").strip()
        if a == "dispatch" and suggestion and code != suggestion.department_code and not (reason or comment):
            raise WorkflowError(f"系统推荐「{suggestion.department_name}」；改派其他部门须填写原因")
        detail.update(department_code=code, suggested=suggestion.department_code if suggestion else None)
        if reason:
            detail["override_reason"] = reason
        dl = run_stage("handle")
        verify = deadlines.stage_limit(event.category, event.subcategory, event.priority, "verify")
        changes.update(department_code=code, handle_deadline=dl.deadline,
                       close_deadline=deadlines.add_limit(dl.deadline, verify))
        if event.dispatched_at is None:
            on_time = event.dispatch_deadline is None or now <= event.dispatch_deadline
            changes.update(dispatched_at=now, dispatched_on_time=on_time)
            counters.update(dispatched=1, dispatched_on_time=int(on_time))
    elif a == "accept":
        pass
    elif a == "return":
        run_stage("dispatch")
        changes.update(department_code=None, return_count=event.return_count + 1)
        detail["returned_by"] = event.department_code
    elif a == "feedback":
        run_stage("verify")
        if event.handled_at is None:
            on_time = event.handle_deadline is None or now <= event.handle_deadline
            hours = max(0.0, (now - (event.dispatched_at or event.reported_at)).total_seconds() / 3600)
            changes.update(handled_at=now, handled_on_time=on_time)
            counters.update(handled=1, handled_on_time=int(on_time), handle_hours_sum=hours)
    elif a == "request_extension":
        try:
            hours = float(kw.get("hours"))
        except (TypeError, ValueError):
            raise WorkflowError("延期申请须填写延期时长（小时）") from None
        if not 0 < hours <= MAX_EXTENSION_HOURS:
            raise WorkflowError(f"延期时长须在 0 到 {MAX_EXTENSION_HOURS:g} 小时之间")
        detail["hours"] = hours
    elif a == "approve_extension":
        request = session.execute(
            select(EventTransition).where(EventTransition.event_id == event.id,
                                          EventTransition.action == "request_extension")
            .order_by(EventTransition.id.desc()).limit(1)
        ).scalar_one()
        hours = float((request.detail or {}).get("hours", 0))
        detail["hours"] = hours
        if event.stage_deadline is not None:
            new_deadline = deadlines.extend(event.stage_deadline, hours, event.priority)
            new_warn = deadlines.extend(event.stage_warn_at or event.stage_deadline, hours, event.priority)
            changes.update(stage_deadline=new_deadline, stage_warn_at=new_warn)
            if event.handled_at is None:
                verify = deadlines.stage_limit(event.category, event.subcategory, event.priority, "verify")
                changes.update(handle_deadline=new_deadline,
                               close_deadline=deadlines.add_limit(new_deadline, verify))
    elif a == "reject_extension":
        pass
    elif a == "request_hang":
        changes["hang_reason"] = comment
    elif a == "approve_hang":
        no_stage()
    elif a == "reject_hang":
        changes["hang_reason"] = None
    elif a == "resume":
        dl = run_stage("handle")
        if event.handled_at is None:
            # A long-term case is judged from the day it is taken up again, not from its first dispatch.
            verify = deadlines.stage_limit(event.category, event.subcategory, event.priority, "verify")
            changes.update(handle_deadline=dl.deadline, close_deadline=deadlines.add_limit(dl.deadline, verify))
    elif a == "merge":
        target = _duplicate_target(session, event, actor, kw.get("duplicate_of"))
        no_stage()
        changes.update(duplicate_of=target.id, duplicate_suspects=None)
        detail["duplicate_of"] = target.id
    elif a in ("verify_pass", "verify_fail"):
        if event.verified_at is None:  # the first 核查 of the case is what 按期核查率 judges
            on_time = event.stage_deadline is None or now <= event.stage_deadline
            changes.update(verified_at=now, verified_on_time=on_time)
            counters.update(verified=1, verified_on_time=int(on_time))
    elif a == "rework":
        run_stage("handle")
        changes["rework_count"] = event.rework_count + 1
        counters["reworked"] = 1
    elif a == "close":
        score = kw.get("satisfaction")
        if score is None and satisfaction_required(event.source):
            raise WorkflowError("12345 工单结案须录入回访满意度（1–5）")
        if score is not None:
            try:
                score = int(score)
            except (TypeError, ValueError):
                raise WorkflowError("满意度须为 1–5 的整数") from None
            if not 1 <= score <= 5:
                raise WorkflowError("满意度须为 1–5 的整数")
            changes["satisfaction"] = score
            detail["satisfaction"] = score
            counters.update(rated=1, satisfied=int(score >= 4))
        no_stage()
        on_time = event.close_deadline is None or now <= event.close_deadline
        changes.update(closed_at=now, closed_on_time=on_time)
        if event.supervised_at is not None:  # 督办件按期办结: closed by the supervision's own deadline
            due = event.supervision_deadline
            kept = due is None or now <= due
            changes["supervision_on_time"] = kept
            counters.update(supervised_closed=1, supervised_closed_on_time=int(kept))
        counters.update(closed=1, closed_on_time=int(on_time))
    else:  # pragma: no cover - TABLE and this function are kept in step by test_events_workflow
        raise WorkflowError(f"操作「{a}」未实现")
    return changes, detail, counters
