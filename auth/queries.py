"""Scoped reads for the 系统管理 page: accounts and the audit log. No page builds its own query.

Free-text filters are case-insensitive substring matches, bound parameters with LIKE wildcards
escaped (`autoescape=True`), so `%`, `_` and `\\` typed into a filter match themselves.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

import settings
from auth.roles import ROLE_NAMES, can
from store.models import AuditEntry, Region, User
from store.scope import PermissionDenied, Viewer, level_of

MAX_AUDIT_ROWS = 5000


def zone_condition(column, zone_code: str) -> ColumnElement[bool]:  # noqa: ANN001 - a string column
    """SQL twin of store.scope.is_within(column, zone_code) for a column holding region codes."""
    if len(zone_code) == 6 and zone_code.endswith("0000"):
        return column.startswith(zone_code[:2], autoescape=True)
    if level_of(zone_code) == "city":
        return column.startswith(zone_code[:4], autoescape=True)
    return column.startswith(zone_code, autoescape=True)


def clean_filter(text: str | None) -> str | None:
    """A free-text filter as data: trimmed, control characters dropped (PostgreSQL refuses NUL),
    bounded; None when nothing is left."""
    if not text:
        return None
    cleaned = "".join(ch for ch in text if ch.isprintable()).strip()[:100]
    return cleaned or None


def _require(viewer: Viewer | None, capability: str, message: str) -> None:
    if viewer is not None and not can(viewer.role, capability):
        raise PermissionDenied(message)


def list_users(session: Session, viewer: Viewer | None, *, search: str | None = None, role: str | None = None,
               active: bool | None = None) -> list[dict]:
    """Accounts whose zone lies in the viewer's zone (viewer None = all, for the command line)."""
    _require(viewer, "manage_users", "无权查看用户账号")
    stmt: Select = select(User).order_by(User.username)
    if viewer is not None:
        stmt = stmt.where(zone_condition(User.zone_code, viewer.zone_code))
    text = clean_filter(search)
    if text:
        stmt = stmt.where(or_(User.username.icontains(text, autoescape=True),
                              User.display_name.icontains(text, autoescape=True)))
    if role:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    users = session.execute(stmt).scalars().all()
    names = _region_names(session, {u.zone_code for u in users})
    return [
        {
            "username": u.username, "display_name": u.display_name, "role": u.role,
            "role_name": ROLE_NAMES.get(u.role, u.role), "zone_code": u.zone_code,
            "zone_name": names.get(u.zone_code, ""), "department_code": u.department_code,
            "active": bool(u.active), "locked_until": u.locked_until, "failed_logins": u.failed_logins or 0,
            "last_login_at": u.last_login_at, "created_at": u.created_at,
            "local_password": u.password_hash is not None,
        }
        for u in users
    ]


def _region_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(sorted(codes)))).all()
    return {code: name for code, name in rows}


def _local_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Local calendar dates (inclusive) → UTC instants [start, end)."""
    tz = ZoneInfo(settings.get_settings()["app"]["timezone"])
    start = datetime.combine(since, time(0), tzinfo=tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz) if until else None
    return start, end


def _audit_scope(viewer: Viewer) -> ColumnElement[bool]:
    """A city-level (or wider) administrator also sees rows without a scope (failed logins of
    unknown names, system actions); a narrower one sees only rows inside their zone."""
    inside = zone_condition(AuditEntry.scope, viewer.zone_code)
    wide = len(viewer.zone_code) == 6 and viewer.zone_code.endswith("00")
    return or_(inside, AuditEntry.scope.is_(None)) if wide else inside


def audit_log(session: Session, viewer: Viewer, *, actor: str | None = None, action: str | None = None,
              object_text: str | None = None, since: date | None = None, until: date | None = None,
              limit: int = 500) -> list[dict]:
    """Audit rows visible to an administrator, newest first. Filters: actor (substring), action
    (exact), object (substring of type or id), local date range (inclusive)."""
    _require(viewer, "view_audit", "无权查看审计日志")
    conditions: list[ColumnElement[bool]] = [_audit_scope(viewer)]
    actor, object_text = clean_filter(actor), clean_filter(object_text)
    if actor:
        conditions.append(AuditEntry.actor.icontains(actor, autoescape=True))
    action = clean_filter(action)
    if action:
        conditions.append(AuditEntry.action == action)
    if object_text:
        conditions.append(or_(AuditEntry.object_type.icontains(object_text, autoescape=True),
                              AuditEntry.object_id.icontains(object_text, autoescape=True)))
    start, end = _local_bounds(since, until)
    if start is not None:
        conditions.append(AuditEntry.at >= start)
    if end is not None:
        conditions.append(AuditEntry.at < end)
    limit = max(1, min(int(limit), MAX_AUDIT_ROWS))
    stmt = select(AuditEntry).where(and_(*conditions)).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()) \
        .limit(limit)
    return [
        {"id": e.id, "at": e.at, "actor": e.actor, "actor_role": e.actor_role, "action": e.action,
         "object_type": e.object_type, "object_id": e.object_id, "scope": e.scope, "client": e.client,
         "detail": e.detail}
        for e in session.execute(stmt).scalars()
    ]


def audit_actions(session: Session, viewer: Viewer) -> list[str]:
    """Distinct action names present in the viewer's part of the log (for the filter menu)."""
    _require(viewer, "view_audit", "无权查看审计日志")
    stmt = select(AuditEntry.action).distinct().where(_audit_scope(viewer)).order_by(AuditEntry.action)
    return [a for a in session.execute(stmt).scalars()]


# Chinese labels of the audit actions this package writes; other domains' actions show as written.
ACTION_NAMES = {
    "login": "登录成功", "login_failed": "登录失败", "logout": "退出登录", "export": "导出数据",
    "user_create": "新建用户", "user_password_set": "重置密码", "user_deactivate": "停用用户",
    "user_activate": "启用用户", "user_unlock": "解除锁定",
}
