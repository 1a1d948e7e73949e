"""Resource status machine: which moves exist, who may make them, and the guarded update that makes one.

    available ──(confirm a plan)──► dispatched ──出发──► en_route ──到达──► on_site
        ▲  ▲                            │取消               │中途返回          │撤离
        │  └────────────────────────────┘                  ▼                 ▼
        │                                               returning ◄──────────┘
        └─────────────────────归队───────────────────────┘
    available ◄──恢复── out_of_service ◄──停用── available

Every move is one conditional UPDATE (`WHERE id = :id AND status = :from [AND version = :v]`) whose row
count is checked, so two people pressing buttons at once cannot both move the same unit; it bumps
`version`, and writes an audit row (and an incident-log row when the unit serves an incident) in the
caller's transaction. Entering `dispatched` needs an incident and happens only in
`emergency.dispatch.confirm`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from emergency import catalog
from store.models import Dispatch, IncidentLog, Resource, utcnow
from store.scope import PermissionDenied, Viewer, ensure_visible

# (from, to) → the action's Chinese name. `dispatched` is entered only by dispatch.confirm.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("dispatched", "en_route"): "出发",
    ("dispatched", "available"): "取消调派",
    ("en_route", "on_site"): "到达现场",
    ("en_route", "returning"): "中途返回",
    ("on_site", "returning"): "撤离返回",
    ("returning", "available"): "归队待命",
    ("available", "out_of_service"): "停用",
    ("out_of_service", "available"): "恢复待命",
}
CONFIRM_MOVE = ("available", "dispatched")


class StaleState(Exception):
    """Someone else moved the resource first (message in Chinese, shown to the user)."""


@dataclass(frozen=True)
class Move:
    resource_id: str
    from_status: str
    to_status: str
    incident_id: int | None
    version: int


def next_moves(status: str) -> list[tuple[str, str]]:
    """(to_status, action name) pairs allowed from `status`, in table order."""
    return [(to, name) for (frm, to), name in TRANSITIONS.items() if frm == status]


def require_command(actor: Viewer) -> None:
    if not can(actor.role, "emergency_command"):
        raise PermissionDenied("无权执行应急指挥操作：仅指挥中心值班员可调派、变更状态或释放资源")


def guarded_set_status(session: Session, resource_id: str, from_status: str, to_status: str, *,
                       version: int | None = None, incident_id: int | None = None,
                       clear_incident: bool = False, now: datetime | None = None) -> bool:
    """The single conditional UPDATE behind every status change. True when the row moved."""
    values = {"status": to_status, "version": Resource.version + 1, "updated_at": now or utcnow()}
    if incident_id is not None:
        values["incident_id"] = incident_id
    if clear_incident:
        values["incident_id"] = None
    stmt = update(Resource).where(Resource.id == resource_id, Resource.status == from_status)
    if version is not None:
        stmt = stmt.where(Resource.version == version)
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def advance(session: Session, resource_id: str, to_status: str, actor: Viewer, *,
            expected_status: str | None = None, version: int | None = None, comment: str = "") -> Move:
    """Move one resource along the table. `expected_status`/`version` are what the user saw; if the
    resource changed since, StaleState is raised and nothing is written."""
    require_command(actor)
    row = session.get(Resource, resource_id)
    if row is None:
        raise ValueError(f"资源 {resource_id} 不存在")
    ensure_visible(actor, row)
    current = expected_status or row.status
    if (current, to_status) not in TRANSITIONS:
        raise ValueError(f"{row.name}：不能从“{catalog.status_label(current)}”变为“{catalog.status_label(to_status)}”")
    incident_id = row.incident_id
    name, seen_version = row.name, row.version
    # Back to available (cancel or returned) ends the unit's part in the incident.
    clear = to_status == "available"
    if not guarded_set_status(session, resource_id, current, to_status, version=version, clear_incident=clear):
        session.expire(row)
        raise StaleState(f"{name} 的状态已被他人更改（现为“{catalog.status_label(row.status)}”），请刷新后重试")
    session.expire(row)
    action = TRANSITIONS[(current, to_status)]
    if clear and incident_id is not None:
        session.execute(update(Dispatch).where(Dispatch.resource_id == resource_id, Dispatch.incident_id == incident_id,
                                               Dispatch.status == "active", Dispatch.item.is_(None))
                        .values(status="released", released_at=utcnow()).execution_options(synchronize_session=False))
    if incident_id is not None:
        text = f"{name}：{action}（{catalog.status_label(current)} → {catalog.status_label(to_status)}）"
        session.add(IncidentLog(incident_id=incident_id, actor=actor.username, kind="status",
                                message=text + (f"。{comment}" if comment else "")))
    audit.record(session, actor, "emergency_status", object_type="resource", object_id=resource_id,
                 detail={"from": current, "to": to_status, "incident_id": incident_id, "comment": comment or None})
    return Move(resource_id, current, to_status, incident_id, seen_version + 1)
