"""The auth read face: accounts, the audit log and one's own account, for 系统管理 and 我的账号.

Neither table is region-keyed (no city … grid columns), so `ReadFace.scoped` does not apply; each
read states its restriction instead, from the viewer's zone and role:
- accounts (`users`): only for the administrators who manage them (sys_admin, sec_admin), and only
  accounts whose zone lies inside the viewer's (`region_codes.code_inside(User.zone_code, zone)`);
- the audit log (`audit_log`, `audit_actions`): only for the audit administrator; rows whose scope
  lies inside the viewer's zone, and, for a city-level (or wider) auditor, also rows without a scope
  (failed logins of unknown names, command-line and system actions), which belong to no district;
- one's own account (`account`): the viewer's own row, nothing else.

Free-text filters are case-insensitive substring matches, bound parameters with LIKE wildcards
escaped (`autoescape=True`), so `%`, `_` and `\\` typed into a filter match themselves.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

import settings
from auth import passwords, sessions, totp
from auth.roles import ADMIN_ROLES, ROLE_NAMES, can, role_label
from store import db, region_codes
from store.models import AuditEntry, Region, User, utcnow
from store.models.auth import AuthSession
from store.period import local_tz
from store.scope import PermissionDenied, ReadFace

MAX_AUDIT_ROWS = 5000

# Chinese labels of the audit actions this package writes; other domains' actions show as written.
ACTION_NAMES = {
    "login": "登录（密码正确）", "login_failed": "登录失败", "logout": "退出登录", "export": "导出数据",
    "user_create": "新建用户", "user_password_set": "重置密码", "user_deactivate": "停用用户",
    "user_activate": "启用用户", "user_unlock": "解除锁定", "user_role_change": "变更角色",
    "user_mfa_reset": "重置二次验证", "user_sessions_end": "结束会话", "password_change": "修改本人密码",
    "password_change_failed": "修改本人密码失败",
    "mfa_enrol": "启用二次验证", "mfa_enrol_failed": "二次验证设置失败", "mfa_ok": "二次验证通过",
    "mfa_failed": "二次验证失败", "mfa_recovery_regenerated": "重新生成恢复码", "mfa_disable": "停用二次验证",
    "access_denied": "拒绝访问", "personal_data_view": "查看未脱敏个人信息", "data_import": "数据导入",
}
_ACCOUNT_MANAGERS = ("manage_accounts", "manage_roles", "unlock_accounts")


def clean_filter(text: str | None) -> str | None:
    """A free-text filter as data: trimmed, control characters dropped (PostgreSQL refuses NUL),
    bounded; None when nothing is left."""
    if not text:
        return None
    cleaned = "".join(ch for ch in str(text) if ch.isprintable()).strip()[:100]
    return cleaned or None


def _instant(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A filter bound as a UTC-comparable instant: a datetime as it is (naive = local time); a local
    calendar date as its midnight, the day after for an inclusive end."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=local_tz())
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(0), tzinfo=local_tz())


class AuthViews(ReadFace):
    """Reads of 系统管理 and 我的账号 (see the module docstring for each restriction)."""

    def _require(self, *capabilities: str, message: str) -> None:
        if not any(can(self.viewer.role, c) for c in capabilities):
            raise PermissionDenied(message)

    # ------------------------------------------------------------ accounts

    def users(self, *, search: str | None = None, role: str | None = None, active: bool | None = None,
              limit: int = 2000) -> list[dict]:
        """Accounts whose zone lies inside the viewer's, by user name."""
        self._require(*_ACCOUNT_MANAGERS, message="无权查看用户账号")
        stmt: Select = select(User).where(region_codes.code_inside(User.zone_code, self.viewer.zone_code)) \
            .order_by(User.username).limit(max(1, min(int(limit), 10_000)))
        text = clean_filter(search)
        if text:
            stmt = stmt.where(or_(User.username.icontains(text, autoescape=True),
                                  User.display_name.icontains(text, autoescape=True)))
        if role:
            stmt = stmt.where(User.role == role)
        if active is not None:
            stmt = stmt.where(User.active.is_(bool(active)))
        users = self.session.execute(stmt).scalars().all()
        names = self._region_names({u.zone_code for u in users})
        now = utcnow()
        return [
            {
                "username": u.username, "display_name": u.display_name, "role": u.role,
                "role_name": role_label(u.role), "zone_code": u.zone_code,
                "zone_name": names.get(u.zone_code, ""), "department_code": u.department_code,
                "active": bool(u.active), "locked_until": u.locked_until, "failed_logins": u.failed_logins or 0,
                "last_login_at": u.last_login_at, "created_at": u.created_at,
                "local_password": u.password_hash is not None,
                "password_changed_at": u.password_changed_at,
                "password_expired": bool(u.password_hash) and (
                    bool(u.password_must_change) or passwords.expired(u.password_changed_at, now)),
                "totp_enabled": totp.enabled(u), "totp_policy": totp.policy(u.role),
                "totp_blocked_until": u.totp_blocked_until,
                "administrator": u.role in ADMIN_ROLES,
            }
            for u in users
        ]

    def _region_names(self, codes: set[str]) -> dict[str, str]:
        if not codes:
            return {}
        rows = self.session.execute(select(Region.code, Region.name).where(Region.code.in_(sorted(codes)))).all()
        return {code: name for code, name in rows}

    # ------------------------------------------------------------ audit log

    def _audit_scope(self) -> ColumnElement[bool]:
        inside = region_codes.code_inside(AuditEntry.scope, self.viewer.zone_code)
        wide = region_codes.level_or_none(self.viewer.zone_code) in ("province", "city")
        return or_(inside, AuditEntry.scope.is_(None)) if wide else inside

    def audit_log(self, *, actor: str | None = None, action: str | None = None, object_text: str | None = None,
                  start: date | datetime | None = None, end: date | datetime | None = None,
                  limit: int = 500) -> list[dict]:
        """Audit rows visible to the audit administrator, newest first. Filters: actor (substring),
        action (exact), object (substring of type or id), start/end (local dates, inclusive; or
        instants)."""
        self._require("view_audit", message="无权查看审计日志（审计管理员的职责）")
        conditions: list[ColumnElement[bool]] = [self._audit_scope()]
        actor, object_text, action = clean_filter(actor), clean_filter(object_text), clean_filter(action)
        if actor:
            conditions.append(AuditEntry.actor.icontains(actor, autoescape=True))
        if action:
            conditions.append(AuditEntry.action == action)
        if object_text:
            conditions.append(or_(AuditEntry.object_type.icontains(object_text, autoescape=True),
                                  AuditEntry.object_id.icontains(object_text, autoescape=True)))
        since, until = _instant(start, end=False), _instant(end, end=True)
        if since is not None:
            conditions.append(AuditEntry.at >= since)
        if until is not None:
            conditions.append(AuditEntry.at < until)
        limit = max(1, min(int(limit), MAX_AUDIT_ROWS))
        stmt = select(AuditEntry).where(and_(*conditions)) \
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        return [
            {"id": e.id, "at": e.at, "actor": e.actor, "actor_role": e.actor_role, "action": e.action,
             "object_type": e.object_type, "object_id": e.object_id, "scope": e.scope, "client": e.client,
             "detail": e.detail}
            for e in self.session.execute(stmt).scalars()
        ]

    def audit_actions(self) -> list[str]:
        """Distinct action names present in the viewer's part of the log (for the filter menu)."""
        self._require("view_audit", message="无权查看审计日志（审计管理员的职责）")
        stmt = select(AuditEntry.action).distinct().where(self._audit_scope()).order_by(AuditEntry.action)
        return list(self.session.execute(stmt).scalars())

    # ------------------------------------------------------------ the database's read replica

    def replica_status(self) -> dict | None:
        """The read replica's state and lag (store.db.replica_status; None when none is configured), for
        the system administrator, who runs the servers. Read from both servers themselves, not this
        face's session (which may be on the replica)."""
        self._require("manage_exchange", message="无权查看数据库副本状态（系统管理员的职责）")
        return db.replica_status()

    # ------------------------------------------------------------ one's own account

    def account(self, *, now: datetime | None = None) -> dict | None:
        """The viewer's own account: second factor, password age, live sessions (None when the
        viewer has no local row, e.g. a test viewer)."""
        user = self.session.execute(select(User).where(User.username == self.viewer.username)).scalar_one_or_none()
        if user is None:
            return None
        now = now or utcnow()
        limit = passwords.max_age()
        live = self.session.execute(
            select(func.count()).select_from(AuthSession)
            .where(AuthSession.username == user.username, AuthSession.revoked_at.is_(None),
                   AuthSession.expires_at > now, AuthSession.stage == sessions.FULL)
        ).scalar_one()
        return {
            "username": user.username, "display_name": user.display_name, "role": user.role,
            "role_name": role_label(user.role), "zone_code": user.zone_code,
            "local_password": user.password_hash is not None,
            "password_changed_at": user.password_changed_at,
            "password_expires_at": (user.password_changed_at + limit) if limit and user.password_changed_at else None,
            "totp_policy": totp.policy(user.role), "totp_enabled": totp.enabled(user),
            "totp_enabled_at": user.totp_enabled_at,
            "recovery_left": totp.recovery_left(self.session, user.username) if totp.enabled(user) else 0,
            "live_sessions": int(live), "last_login_at": user.last_login_at,
        }


def security_policy() -> list[dict]:
    """The identity policy in force (config.toml [auth] and [security]), one row per role, for the
    security administrator's 安全策略 tab. Not a database read."""
    cfg = settings.get_settings()
    idle = {role: sessions.SessionLimits.from_settings(role).idle for role in ROLE_NAMES}
    return [
        {"role": role, "role_name": name, "second_factor": totp.POLICY_NAMES[totp.policy(role)],
         "idle_minutes": int(idle[role].total_seconds() // 60), "max_sessions": sessions.max_sessions(role) or None,
         "session_max_hours": float(cfg["auth"].get("session_max_hours", 12))}
        for role, name in ROLE_NAMES.items()
    ]


def password_policy() -> list[tuple[str, str]]:
    """The password rules in force, as (rule, value) pairs for display."""
    age = passwords.max_age()
    return [
        ("密码规则", passwords.rules_text()),
        ("密码有效期", f"{int(age.days)} 天" if age else "不过期"),
        ("不得重复使用", f"最近 {passwords.history_size()} 次" if passwords.history_size() else "不限制"),
        ("二次验证错误上限", f"连续 {totp.max_failures()} 次后暂停第二步"),
        ("恢复码", f"每人 {totp.recovery_count()} 个，一次性"),
    ]
