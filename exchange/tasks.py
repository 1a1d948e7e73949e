"""Tasks handed down by the upper platform (交办 / 督办): checked, then turned into a case or applied to
an existing one, in one transaction that also records the task and tells the upper platform it arrived.

A task is a JSON object:

    {"taskId": "GD-2026-000123", "taskType": "交办",            # or 督办
     "caseCode": "1024",                                         # an existing case of ours → raise it
     "mainType": "市容环境", "subType": "暴露垃圾",              # otherwise: a new case, as intake takes it
     "title": "…", "description": "…", "address": "…",
     "lon": 110.9, "lat": 21.6, "coordSys": "wgs84",             # wgs84 / gcj02 / bd09
     "priority": "紧急", "deadline": "2026-11-25T18:00:00+08:00"}

- A new case goes through events.intake.create_event (every check a report gets) with source 上级交办 and
  the task id as its source_id, so the case keeps the upper level's id.
- A task naming an existing open case makes it 紧急 and pulls its running deadlines in to the task's
  deadline when that is earlier (a note on its timeline says so, and an outbox record carries the change).
- The same task id again changes nothing and answers with the case it made the first time.
- Anything malformed is refused with a reason (TaskRefused) and nothing is written.
When the case ends (结案 / 不予立案 / 合并), the local destination writes a task.result record that goes
upward with the result (exchange.destinations.LocalDestination).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth import audit
from events import intake, workflow
from events.catalog import UnknownCategory
from events.photos import PhotoError
from events.statuses import STATUS_NAMES, TERMINAL
from store import outbox
from store.db import session_scope
from store.models import Event, ExchangeTask
from store.outbox import region_codes_of
from store.period import local_tz
from store.scope import PermissionDenied

SOURCE = "上级交办"
KINDS = ("交办", "督办")
ACTOR = "system:exchange"
RESULT_ACTIONS = {"close": "结案", "reject": "不予立案", "merge": "合并为重复"}
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
MAX_AHEAD = timedelta(days=366)


class TaskRefused(ValueError):
    """The task is not acceptable; `reason` is Chinese and names the field."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Task:
    task_id: str
    kind: str
    case_id: int | None
    title: str
    description: str
    category: str | None
    subcategory: str | None
    lon: float | None
    lat: float | None
    crs: str
    address: str | None
    priority: str
    deadline: datetime | None
    raw: dict


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    case_id: int
    outcome: str  # created / escalated
    repeated: bool = False

    def as_json(self) -> dict:
        return {"taskId": self.task_id, "caseCode": str(self.case_id), "outcome": self.outcome,
                "repeated": self.repeated}


def parse_body(body: bytes, max_bytes: int) -> dict:
    if len(body) > max_bytes:
        raise TaskRefused(f"任务超过 {max_bytes} 字节", 413)
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TaskRefused("任务不是 UTF-8 编码的 JSON") from None
    if not isinstance(doc, dict):
        raise TaskRefused("任务应为一个 JSON 对象")
    return doc


def _text(doc: dict, key: str, label: str, *, required: bool = False, limit: int = 200) -> str | None:
    value = doc.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise TaskRefused(f"缺少{label}（{key}）")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise TaskRefused(f"{label}（{key}）应为文本")
    text = str(value).strip()
    if len(text) > limit:
        raise TaskRefused(f"{label}（{key}）不能超过 {limit} 字")
    return text


def _number(doc: dict, key: str, label: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TaskRefused(f"缺少{label}（{key}）或不是数字")
    try:
        x = float(value)
    except ValueError:
        raise TaskRefused(f"{label}（{key}）不是数字") from None
    if not math.isfinite(x):
        raise TaskRefused(f"{label}（{key}）不是有效数字")
    return x


def _deadline(doc: dict, now: datetime) -> datetime | None:
    text = _text(doc, "deadline", "办理时限", limit=40)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise TaskRefused("办理时限（deadline）应为 ISO 8601 时间，如 2026-11-25T18:00:00+08:00") from None
    if at.tzinfo is None:
        raise TaskRefused("办理时限（deadline）须带时区，如 +08:00")
    if at <= now:
        raise TaskRefused("办理时限（deadline）已过")
    if at > now + MAX_AHEAD:
        raise TaskRefused("办理时限（deadline）超过一年")
    return at.astimezone(timezone.utc)


def parse(doc: dict, now: datetime | None = None) -> Task:
    """A task document → Task, or TaskRefused naming the first problem."""
    now = now or datetime.now(timezone.utc)
    task_id = _text(doc, "taskId", "任务编号", required=True, limit=64)
    if not _TASK_ID.match(task_id):
        raise TaskRefused("任务编号（taskId）只能含字母、数字和 _ . : -，最长 64 位")
    kind = _text(doc, "taskType", "任务类型", limit=10) or "交办"
    if kind not in KINDS:
        raise TaskRefused(f"任务类型（taskType）应为 {'、'.join(KINDS)}")
    try:
        priority = intake.normalize_priority(_text(doc, "priority", "紧急程度", limit=10))
    except intake.IntakeError as exc:
        raise TaskRefused(str(exc)) from None
    title = _text(doc, "title", "任务标题", limit=200) or ""
    description = _text(doc, "description", "任务描述", limit=4000) or ""
    deadline = _deadline(doc, now)
    case_text = _text(doc, "caseCode", "案件编号", limit=12)
    if case_text is not None:
        if not case_text.isdigit() or not 0 < int(case_text) < 2**31:
            raise TaskRefused("案件编号（caseCode）应为本系统的案件编号（数字）")
        return Task(task_id, kind, int(case_text), title, description, None, None, None, None, "wgs84", None,
                    priority, deadline, doc)
    if not title:
        raise TaskRefused("缺少任务标题（title）")
    category = _text(doc, "mainType", "大类", required=True, limit=20)
    subcategory = _text(doc, "subType", "小类", required=True, limit=40)
    lon, lat = _number(doc, "lon", "经度"), _number(doc, "lat", "纬度")
    crs = (_text(doc, "coordSys", "坐标系", limit=10) or "wgs84").lower()
    return Task(task_id, kind, None, title, description, category, subcategory, lon, lat, crs,
                _text(doc, "address", "地址", limit=200), priority, deadline, doc)


def apply(engine: Engine, task: Task, *, via: str, now: datetime | None = None) -> TaskResult:
    """Turn the task into a case, or raise the case it names; all or nothing. TaskRefused says why not."""
    now = now or datetime.now(timezone.utc)
    try:
        with session_scope(engine) as s:
            earlier = _earlier(s, task.task_id)
            if earlier is not None:
                return earlier
            event = _raise(s, task, now) if task.case_id is not None else _create(s, task, now)
            _remember(s, task, event, via, now)
            outcome = "escalated" if task.case_id is not None else "created"
            result = TaskResult(task.task_id, event.id, outcome)
    except IntegrityError:
        # The same task arriving twice at once: the unique task id (or the case's source id) let one in.
        with session_scope(engine, readonly=True) as s:
            earlier = _earlier(s, task.task_id)
        if earlier is None:
            raise
        return earlier
    except (intake.IntakeError, UnknownCategory, PhotoError, PermissionDenied, workflow.WorkflowError) as exc:
        raise TaskRefused(str(exc)) from None
    return result


def _earlier(session: Session, task_id: str) -> TaskResult | None:
    row = session.scalar(select(ExchangeTask).where(ExchangeTask.task_id == task_id))
    return TaskResult(row.task_id, row.event_id, row.outcome, repeated=True) if row is not None else None


def _create(session: Session, task: Task, now: datetime) -> Event:
    description = task.description or task.title
    return intake.create_event(
        session, source=SOURCE, source_id=task.task_id, category=task.category, subcategory=task.subcategory,
        title=task.title, description=f"【上级{task.kind}】{description}", lon=task.lon, lat=task.lat, crs=task.crs,
        priority=task.priority, address=task.address, actor=None, now=now, audit_action="event_report",
        detail={"upper_task": task.task_id, "task_kind": task.kind})


def _earliest(current: datetime | None, new: datetime | None) -> datetime | None:
    if new is None:
        return current
    return new if current is None or new < current else current


def _raise(session: Session, task: Task, now: datetime) -> Event:
    """Make the named case 紧急 and pull its running deadlines in to the task's, under its version."""
    event = session.get(Event, task.case_id, populate_existing=True)
    if event is None:
        raise TaskRefused(f"案件编号 {task.case_id} 不存在", 404)
    if event.status in TERMINAL:
        raise TaskRefused(f"案件 #{event.id} 已「{STATUS_NAMES.get(event.status, event.status)}」，不能再交办", 409)
    changes: dict = {"priority": "urgent"}
    if task.deadline is not None and event.stage_deadline is not None and task.deadline < event.stage_deadline:
        lead = (event.stage_deadline - event.stage_warn_at) if event.stage_warn_at else timedelta(0)
        changes.update(stage_deadline=task.deadline, stage_warn_at=max(now, task.deadline - lead))
    for column in ("handle_deadline", "close_deadline"):
        current = getattr(event, column)
        if current is not None and _earliest(current, task.deadline) != current:
            changes[column] = task.deadline
    moved = session.execute(update(Event).where(Event.id == event.id, Event.version == event.version)
                            .values(**changes, version=event.version + 1, updated_at=now)
                            .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise TaskRefused(f"案件 #{event.id} 正被他人修改，请稍后重发任务", 409)
    when = task.deadline.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M") if task.deadline else "未指定"
    workflow.add_note(session, event.id, f"上级{task.kind}任务 {task.task_id}：提升为紧急，办理时限 {when}。"
                      f"{task.title or task.description}"[:1000], actor=ACTOR, at=now)
    session.refresh(event)
    outbox.record_object(session, "case.task_escalate", event, actor=ACTOR, at=now,
                         extra={"task_id": task.task_id, "task_kind": task.kind, "deadline": task.deadline})
    return event


def _remember(session: Session, task: Task, event: Event, via: str, now: datetime) -> None:
    outcome = "escalated" if task.case_id is not None else "created"
    codes = region_codes_of(event)
    row = ExchangeTask(task_id=task.task_id, kind=task.kind, via=via, event_id=event.id, outcome=outcome,
                       received_at=now, deadline=task.deadline, payload=task.raw, **codes)
    session.add(row)
    session.flush()
    outbox.record(session, "task.received", "task", row.id, region=codes, order_key=f"event:{event.id}", actor=ACTOR,
                  at=now, payload={"task_id": task.task_id, "task_kind": task.kind, "case_id": event.id,
                                   "outcome": outcome, "task_title": task.title, "priority": event.priority,
                                   "deadline": outbox.json_value(task.deadline), "via": via})
    audit.record(session, ACTOR, "exchange_task", object_type="event", object_id=event.id,
                 scope=codes.get("grid_code") or codes.get("city_code"),
                 detail={"task_id": task.task_id, "kind": task.kind, "outcome": outcome, "via": via})


def result_payload(task: ExchangeTask, p: dict, action: str) -> dict:
    """What goes upward when a task's case ends: the result, and whether it came by the task's deadline."""
    ended = p.get("closed_at") or p.get("rejected_at") or p.get("updated_at")
    by_deadline = None
    if task.deadline is not None and ended:
        by_deadline = datetime.fromisoformat(ended) <= task.deadline
    change = p.get("_change") or {}
    return {"task_id": task.task_id, "task_kind": task.kind, "case_id": task.event_id, "result": RESULT_ACTIONS[action],
            "status": p.get("status"), "status_name": STATUS_NAMES.get(p.get("status") or "", ""),
            "ended_at": ended, "task_deadline": outbox.json_value(task.deadline), "on_time": by_deadline,
            "closed_on_time": p.get("closed_on_time"), "satisfaction": p.get("satisfaction"),
            "department_code": p.get("department_code"), "comment": change.get("comment"),
            "duplicate_of": p.get("duplicate_of")}


def record_results(session: Session, rec, now: datetime) -> int:  # noqa: ANN001 - an OutboxRecord
    """For a case that just ended (结案 / 不予立案 / 合并), a task.result record per task it came from or was
    raised by, once: the task's result_record_id is claimed first with a conditional UPDATE."""
    action = rec.kind.split(".", 1)[-1]
    if rec.object_type != "event" or action not in RESULT_ACTIONS:
        return 0
    written = 0
    for task in session.scalars(select(ExchangeTask).where(ExchangeTask.event_id == int(rec.object_id),
                                                           ExchangeTask.result_record_id.is_(None))).all():
        if session.execute(update(ExchangeTask).where(ExchangeTask.id == task.id,
                                                      ExchangeTask.result_record_id.is_(None))
                           .values(result_record_id=-1).execution_options(synchronize_session=False)).rowcount != 1:
            continue
        row = outbox.record(session, "task.result", "task", task.id, result_payload(task, rec.payload or {}, action),
                            region=task, order_key=f"event:{task.event_id}", actor=ACTOR, at=now)
        session.execute(update(ExchangeTask).where(ExchangeTask.id == task.id).values(result_record_id=row.id)
                        .execution_options(synchronize_session=False))
        written += 1
    return written
