"""Server-side login sessions: open, check (idle and absolute expiry), revoke.

Why a table and not just a re-issued cookie: Streamlit reruns travel over a websocket, so the app can
never set a fresh cookie after login; the idle timer therefore has to live on the server. The table
also lets logout, deactivation and password resets end a session immediately, which a government
system needs (a stolen cookie must stop working when the account is disabled).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.orm import Session

import settings
from store.db import session_scope
from store.models import User, utcnow
from store.models.auth import AuthSession
from store.scope import Viewer

# last_seen_at is written at most this often, so that every rerun does not take the write lock.
TOUCH_INTERVAL = timedelta(seconds=60)

# A session's stage: "full" = signed in. The others are owed after a correct password (auth.service
# decides which, ui/login.py shows the step); such a session never resolves to a Viewer.
FULL = "full"
PENDING_STAGES = {
    "enrol": "请先设置二次验证（动态验证码）后再使用系统",
    "totp": "请输入动态验证码完成登录",
    "password": "密码已过期或由管理员重置，请先修改密码",
}


class SessionInvalid(Exception):
    """The session cannot be used. `reason` is a code for the login page, `str(exc)` Chinese."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, role: str | None = None) -> "SessionLimits":
        """Limits for `role`: idle from [security].idle_minutes (the role's entry, else "default",
        else [auth].session_idle_minutes); None = the longest idle of any role (for purging)."""
        cfg = settings.get_settings()["auth"]
        per_role = dict(settings.get_settings().get("security", {}).get("idle_minutes", {}))
        fallback = float(per_role.get("default", cfg.get("session_idle_minutes", 120)))
        if role is None:
            minutes = max([fallback, *(float(v) for v in per_role.values())])
        else:
            minutes = float(per_role.get(role, fallback))
        return cls(idle=timedelta(minutes=minutes), absolute=timedelta(hours=float(cfg.get("session_max_hours", 12))))


def max_sessions(role: str | None) -> int:
    """Live sessions an account of `role` may hold ([security].max_sessions; 0 = no cap)."""
    caps = dict(settings.get_settings().get("security", {}).get("max_sessions", {}))
    return max(0, int(caps.get(role or "", caps.get("default", 0))))


def second_step_limit() -> timedelta:
    """How long a half-signed-in session may wait for its next step."""
    return timedelta(minutes=float(settings.get_settings().get("security", {}).get("second_step_minutes", 10)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(session: Session, username: str, *, client: str | None = None, user_agent: str | None = None,
                 method: str = "local", now: datetime | None = None, limits: SessionLimits | None = None,
                 stage: str = FULL) -> str:
    """Create a session row and return the raw token (to be signed into the cookie). Expired rows
    of any user are purged here, so the table stays small without a scheduled job; beyond the
    role's [security].max_sessions the user's oldest live sessions are ended."""
    now = now or utcnow()
    limits = limits or SessionLimits.from_settings()
    purge_expired(session, now, limits)
    _cap_sessions(session, username, now)
    token = secrets.token_urlsafe(32)
    session.add(AuthSession(
        token_hash=token_hash(token), username=username, method=method, stage=stage, created_at=now,
        last_seen_at=now, expires_at=now + limits.absolute, client=(client or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    ))
    return token


def _cap_sessions(session: Session, username: str, now: datetime) -> int:
    """Revoke the oldest live sessions so that one more fits under the cap. Returns how many."""
    role = session.execute(select(User.role).where(User.username == username)).scalar_one_or_none()
    cap = max_sessions(role)
    if not cap:
        return 0
    live = session.execute(
        select(AuthSession.token_hash)
        .where(AuthSession.username == username, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
        .order_by(AuthSession.created_at.desc(), AuthSession.token_hash)
    ).scalars().all()
    extra = live[cap - 1:]
    if extra:
        session.execute(update(AuthSession).where(AuthSession.token_hash.in_(extra)).values(revoked_at=now))
    return len(extra)


def _live_row(session: Session, token: str, now: datetime, limits: SessionLimits | None) -> tuple[AuthSession, User]:
    """The session row and its user when the session may still be used at some stage; raises
    SessionInvalid otherwise. The idle limit is the user's role's unless `limits` is given."""
    row = session.get(AuthSession, token_hash(token))
    if row is None:
        raise SessionInvalid("unknown", "登录状态无效，请重新登录")
    if row.revoked_at is not None:
        raise SessionInvalid("revoked", "您已退出登录或会话已被管理员终止，请重新登录")
    if now >= row.expires_at:
        raise SessionInvalid("expired", "登录已超过最长有效期，请重新登录")
    user = session.execute(select(User).where(User.username == row.username)).scalar_one_or_none()
    idle = (limits or SessionLimits.from_settings(user.role if user else None)).idle
    if now - row.last_seen_at > idle:
        minutes = int(idle.total_seconds() // 60)
        raise SessionInvalid("idle", f"超过 {minutes} 分钟未操作，已自动退出，请重新登录")
    if user is None or not user.active:
        raise SessionInvalid("inactive", "账号已停用，请联系管理员")
    if row.stage != FULL and now - row.created_at > second_step_limit():
        raise SessionInvalid("expired", "登录验证超时，请重新登录")
    return row, user


def _viewer(user: User) -> Viewer:
    return Viewer(username=user.username, role=user.role, zone_code=user.zone_code,
                  department_code=user.department_code, display_name=user.display_name)


def check_session(session: Session, token: str, *, now: datetime | None = None,
                  limits: SessionLimits | None = None) -> tuple[Viewer, datetime]:
    """The Viewer for a live, fully signed-in session and when it was last seen; raises
    SessionInvalid otherwise (reason = the stage still owed, for a half-signed-in one).
    Read-only, so it runs in a deferred (non-locking) transaction on every rerun.

    Re-reads the user on every call, so a deactivated user or a changed role/zone takes effect on
    the next rerun rather than at the next login.
    """
    now = now or utcnow()
    row, user = _live_row(session, token, now, limits)
    if row.stage != FULL:
        raise SessionInvalid(row.stage if row.stage in PENDING_STAGES else "unknown",
                             PENDING_STAGES.get(row.stage, "登录状态无效，请重新登录"))
    return _viewer(user), row.last_seen_at


def pending(session: Session, token: str, *, now: datetime | None = None) -> tuple[Viewer, str]:
    """(viewer, stage) of a session still owed a step after the password — for the sign-in step
    screen only (the Viewer must not be used to show anything else). Raises SessionInvalid when
    the session is unusable or already full."""
    now = now or utcnow()
    row, user = _live_row(session, token, now, None)
    if row.stage not in PENDING_STAGES:
        raise SessionInvalid("unknown", "登录状态无效，请重新登录")
    return _viewer(user), row.stage


def advance(session: Session, token: str, stage: str, *, now: datetime | None = None) -> bool:
    """Move a half-signed-in session on to `stage` ("full" or another pending one); the idle timer
    restarts. False when the session is no longer pending (revoked meanwhile, or already full)."""
    now = now or utcnow()
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.revoked_at.is_(None),
               AuthSession.stage != FULL)
        .values(stage=stage, last_seen_at=now)
    )
    return bool(result.rowcount)


def revoke_pending(session: Session, username: str, *, now: datetime | None = None) -> int:
    """End a user's half-signed-in sessions (the second step was throttled)."""
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.username == username, AuthSession.revoked_at.is_(None), AuthSession.stage != FULL)
        .values(revoked_at=now or utcnow())
    )
    return result.rowcount or 0


def touch_session(session: Session, token: str, *, now: datetime | None = None) -> bool:
    """Restart the idle timer (conditional update: a no-op within TOUCH_INTERVAL or once revoked)."""
    now = now or utcnow()
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.revoked_at.is_(None),
               AuthSession.last_seen_at <= now - TOUCH_INTERVAL)
        .values(last_seen_at=now)
    )
    return bool(result.rowcount)


def resolve_token(engine: Engine, token: str, *, now: datetime | None = None,
                  limits: SessionLimits | None = None, touch: bool = True) -> Viewer:
    """check_session in a read-only transaction, then a short write only when the idle timer is due
    (so ordinary reruns never take SQLite's write lock). `touch=False` checks without counting as
    activity: a screen refreshing itself is not a person at the keyboard, so it must not keep an
    unattended session from reaching its idle timeout."""
    now = now or utcnow()
    with session_scope(engine, readonly=True) as s:
        viewer, last_seen = check_session(s, token, now=now, limits=limits)
    if touch and now - last_seen >= TOUCH_INTERVAL:
        with session_scope(engine) as s:
            touch_session(s, token, now=now)
    return viewer


def revoke(session: Session, token: str, *, now: datetime | None = None) -> str | None:
    """Revoke one session; returns its username (None when there was no such live session)."""
    row = session.get(AuthSession, token_hash(token))
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = now or utcnow()
    return row.username


def revoke_user_sessions(session: Session, username: str, *, now: datetime | None = None,
                         except_token: str | None = None) -> int:
    """End every live session of a user (deactivation, password reset) but `except_token`'s (the
    one changing its own password). Returns how many."""
    conditions = [AuthSession.username == username, AuthSession.revoked_at.is_(None)]
    if except_token:
        conditions.append(AuthSession.token_hash != token_hash(except_token))
    result = session.execute(update(AuthSession).where(*conditions).values(revoked_at=now or utcnow()))
    return result.rowcount or 0


def purge_expired(session: Session, now: datetime, limits: SessionLimits) -> int:
    """Delete sessions that can no longer be used (these are not audit rows: logins and logouts are
    audited separately)."""
    result = session.execute(
        delete(AuthSession).where(or_(
            AuthSession.expires_at <= now,
            AuthSession.last_seen_at < now - limits.idle,
            AuthSession.revoked_at < now - limits.idle,
        ))
    )
    return result.rowcount or 0


def live_sessions(session: Session, username: str, *, now: datetime | None = None,
                  limits: SessionLimits | None = None) -> int:
    now = now or utcnow()
    limits = limits or SessionLimits.from_settings()
    rows = session.execute(
        select(AuthSession.token_hash).where(
            AuthSession.username == username, AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now, AuthSession.last_seen_at >= now - limits.idle,
        )
    ).all()
    return len(rows)
