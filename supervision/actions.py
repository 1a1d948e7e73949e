"""The writes of supervision, each one transaction on the engine: place cases under supervision (督办, one
case or a department's whole overdue list), run the escalation rules, run the day's 研判. They return
plain outcomes with a Chinese message, so pages and the command line neither open sessions nor catch
exceptions themselves.

督办 annotates a case; it does not move it along the workflow: the case keeps its state, version and
stage deadline, and gains its supervision level and deadline (the facts 督办件按期办结率 judges at 结案,
events.workflow), a Supervision record (who, level, deadline, note, notified department), a line on its
timeline and an audit row. Placing a case again replaces the deadline and never lowers the level.
"""
from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, update

import settings
from auth import audit
from auth.roles import can
from store import outbox, region_codes
from store.db import session_scope
from store.models import Department, Event, EventTransition, Supervision
from store.period import local_tz
from store.scope import PermissionDenied, ReadFace, Viewer, ensure_visible
from supervision import escalation, hotspots

# The timeline action 督办 is logged with (events.workflow.SUPERVISE_ACTION labels it 挂牌督办).
SUPERVISE_ACTION = "supervise"
SUPERVISION_LEVELS = {"district": "区级督办", "city": "市级督办"}
_RANK = {"district": 0, "city": 1}
NOTE_MAX = 500


class SupervisionError(ValueError):
    """A 督办 was refused; the message says why (Chinese)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    case_ids: tuple[int, ...] = ()
    details: list = field(default_factory=list)


def _is_open(event: Event) -> bool:
    """Still being worked on: not closed, not refused, not merged into another case."""
    return event.closed_at is None and event.rejected_at is None and event.duplicate_of is None


def _check(viewer: Viewer, level: str, deadline: datetime, note: str, now: datetime) -> str:
    if not can(viewer.role, "supervise"):
        raise PermissionDenied("您的角色无权挂牌督办")
    if level not in SUPERVISION_LEVELS:
        raise SupervisionError(f"督办级别应为 {'、'.join(SUPERVISION_LEVELS.values())}")
    zone_level = region_codes.level_of(viewer.zone_code)
    if level == "city" and zone_level not in ("province", "city"):
        raise PermissionDenied("市级督办须由市级领导或市指挥中心挂牌")
    if level == "district" and zone_level not in ("province", "city", "district"):
        raise PermissionDenied("区级督办须由区级及以上领导或指挥中心挂牌")
    if not isinstance(deadline, datetime) or deadline.tzinfo is None:
        raise SupervisionError("督办时限须为带时区的时间")
    max_days = int(settings.get_settings().get("supervision", {}).get("max_deadline_days", 60))
    if deadline <= now:
        raise SupervisionError("督办时限须晚于当前时间")
    if deadline > now + timedelta(days=max_days):
        raise SupervisionError(f"督办时限不能超过 {max_days} 天")
    note = (note or "").strip()
    if not note:
        raise SupervisionError("须填写督办意见")
    if len(note) > NOTE_MAX:
        raise SupervisionError(f"督办意见不能超过 {NOTE_MAX} 字")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\r\n\t" for ch in note):
        raise SupervisionError("督办意见含有不可见的控制字符，请删除后重试")
    return note


def supervise_cases(engine: Engine, viewer: Viewer, case_ids: list[int], *, level: str, deadline: datetime,
                    note: str, notified_department: str | None = None, now: datetime | None = None,
                    client: str | None = None, batch: str | None = None) -> Outcome:
    """Place the cases under supervision, all or none (one order, one transaction)."""
    now = now or datetime.now(timezone.utc)
    ids = sorted({int(i) for i in case_ids})
    try:
        note = _check(viewer, level, deadline, note, now)
        if not ids:
            raise SupervisionError("没有选择要督办的案件")
        with session_scope(engine) as session:
            place(session, viewer, ids, level=level, deadline=deadline, note=note,
                  notified_department=notified_department, now=now, client=client, batch=batch)
    except (SupervisionError, PermissionDenied, LookupError) as exc:
        return Outcome(False, f"督办未完成：{exc}")
    label = SUPERVISION_LEVELS[level]
    what = f"案件 #{ids[0]}" if len(ids) == 1 else f"{len(ids)} 件案件"
    return Outcome(True, f"已对{what}挂牌{label}，督办时限 {deadline.astimezone(local_tz()):%Y-%m-%d %H:%M}",
                   tuple(ids))


def place(session, viewer: Viewer, case_ids: list[int], *, level: str, deadline: datetime, note: str,  # noqa: ANN001
          notified_department: str | None = None, now: datetime | None = None, client: str | None = None,
          batch: str | None = None) -> None:
    """Place the cases under supervision in the caller's transaction (checks as supervise_cases; raises
    SupervisionError, PermissionDenied or LookupError with a Chinese message)."""
    now = now or datetime.now(timezone.utc)
    note = _check(viewer, level, deadline, note, now)
    if notified_department and session.get(Department, notified_department) is None:
        raise SupervisionError(f"被通知部门「{notified_department}」不存在")
    for case_id in sorted({int(i) for i in case_ids}):
        _supervise(session, viewer, case_id, level, deadline, note, notified_department, now, client, batch)


def _supervise(session, viewer: Viewer, case_id: int, level: str, deadline: datetime, note: str,  # noqa: ANN001
               notified: str | None, now: datetime, client: str | None, batch: str | None) -> None:
    event = session.get(Event, case_id)
    if event is None:
        raise LookupError(f"案件 #{case_id} 不存在")
    ensure_visible(viewer, event)
    if not _is_open(event):
        raise SupervisionError(f"案件 #{case_id} 已办结，不能督办")
    new_level = level if _RANK[level] >= _RANK.get(event.supervision_level or "", -1) else event.supervision_level
    session.execute(update(Event).where(Event.id == case_id)
                    .values(supervision_level=new_level, supervision_deadline=deadline,
                            supervised_at=event.supervised_at or now, supervision_on_time=None)
                    .execution_options(synchronize_session=False))
    codes = {k: getattr(event, k) for k in ("city_code", "district_code", "street_code", "community_code",
                                            "grid_code")}
    session.add(Supervision(event_id=case_id, batch_id=batch, level=level, deadline=deadline, note=note,
                            notified_department=notified, department_code=event.department_code,
                            created_by=viewer.username, created_role=viewer.role, created_at=now, **codes))
    local = deadline.astimezone(local_tz())
    session.add(EventTransition(event_id=case_id, action=SUPERVISE_ACTION, from_status=event.status,
                                to_status=event.status, actor=viewer.username, actor_role=viewer.role, at=now,
                                comment=f"{SUPERVISION_LEVELS[level]}，时限 {local:%Y-%m-%d %H:%M}：{note}",
                                department_code=event.department_code,
                                detail={"level": level, "deadline": deadline.isoformat(), "batch": batch,
                                        "notified_department": notified}))
    audit.record(session, viewer, "event_supervise", object_type="event", object_id=case_id, client=client,
                 scope=event.grid_code or event.city_code,
                 detail={"level": level, "deadline": deadline.isoformat(), "note": note[:200], "batch": batch,
                         "notified_department": notified})
    session.flush()
    session.refresh(event)  # the UPDATE above went around the identity map; the record carries the new deadline
    outbox.record_object(session, "case.supervise", event, actor=viewer.username, at=now,  # same transaction
                         extra={"level": level, "deadline": deadline, "note": note[:200]})


def supervise_department_overdue(engine: Engine, viewer: Viewer, department_code: str, *, level: str,
                                 deadline: datetime, note: str, region: str | None = None,
                                 now: datetime | None = None, client: str | None = None) -> Outcome:
    """Place every overdue open case of a department (in the viewer's zone, or `region` within it) under
    supervision as one order; the department is the one notified."""
    now = now or datetime.now(timezone.utc)
    # The list an order is placed on is read from the primary: a replica a few milliseconds behind
    # could miss a case that just became overdue or still list one just closed.
    with ReadFace.open(engine, viewer, fresh=True) as face:
        stmt = face.scoped(Event, Event.id).where(Event.department_code == department_code,
                                                  Event.stage_deadline < now)
        if region is not None:
            stmt = face.within(stmt, Event, region)
        ids = [int(i) for i in face.session.scalars(stmt.order_by(Event.id))]
    if not ids:
        return Outcome(False, "该部门在此范围内没有超期案件")
    return supervise_cases(engine, viewer, ids, level=level, deadline=deadline, note=note,
                           notified_department=department_code, now=now, client=client,
                           batch=f"dept-{uuid.uuid4().hex[:12]}")


def run_escalation(engine: Engine, *, now: datetime | None = None) -> escalation.EscalationRun:
    """Apply the escalation rules once (the periodic job)."""
    with session_scope(engine) as session:
        return escalation.run(session, now=now)


def run_hotspots(engine: Engine, *, today=None, config: dict | None = None) -> hotspots.HotspotRun:  # noqa: ANN001
    """Find and store the day's hotspots and surges (the daily job)."""
    with session_scope(engine) as session:
        return hotspots.run(session, today=today, config=config)
