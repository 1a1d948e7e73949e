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
    def from_settings(cls) -> "SessionLimits":
        cfg = settings.get_settings()["auth"]
        return cls(idle=timedelta(minutes=float(cfg.get("session_idle_minutes", 120))),
                   absolute=timedelta(hours=float(cfg.get("session_max_hours", 12))))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(session: Session, username: str, *, client: str | None = None, user_agent: str | None = None,
                 method: str = "local", now: datetime | None = None, limits: SessionLimits | None = None) -> str:
    """Create a session row and return the raw token (to be signed into the cookie). Expired rows
    of any user are purged here, so the table stays small without a scheduled job."""
    now = now or utcnow()
    limits = limits or SessionLimits.from_settings()
    purge_expired(session, now, limits)
    token = secrets.token_urlsafe(32)
    session.add(AuthSession(
        token_hash=token_hash(token), username=username, method=method, created_at=now, last_seen_at=now,
        expires_at=now + limits.absolute, client=(client or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    ))
    return token


def check_session(session: Session, token: str, *, now: datetime | None = None,
                  limits: SessionLimits | None = None) -> tuple[Viewer, datetime]:
    """The Viewer for a live session and when it was last seen; raises SessionInvalid otherwise.
    Read-only, so it runs in a deferred (non-locking) transaction on every rerun.

    Re-reads the user on every call, so a deactivated user or a changed role/zone takes effect on
    the next rerun rather than at the next login.
    """
    now = now or utcnow()
    limits = limits or SessionLimits.from_settings()
    row = session.get(AuthSession, token_hash(token))
    if row is None:
        raise SessionInvalid("unknown", "登录状态无效，请重新登录")
    if row.revoked_at is not None:
        raise SessionInvalid("revoked", "您已退出登录或会话已被管理员终止，请重新登录")
    if now >= row.expires_at:
        raise SessionInvalid("expired", "登录已超过最长有效期，请重新登录")
    if now - row.last_seen_at > limits.idle:
        minutes = int(limits.idle.total_seconds() // 60)
        raise SessionInvalid("idle", f"超过 {minutes} 分钟未操作，已自动退出，请重新登录")
    user = session.execute(select(User).where(User.username == row.username)).scalar_one_or_none()
    if user is None or not user.active:
        raise SessionInvalid("inactive", "账号已停用，请联系管理员")
    viewer = Viewer(username=user.username, role=user.role, zone_code=user.zone_code,
                    department_code=user.department_code, display_name=user.display_name)
    return viewer, row.last_seen_at


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
                  limits: SessionLimits | None = None) -> Viewer:
    """check_session in a read-only transaction, then a short write only when the idle timer is due
    (so ordinary reruns never take SQLite's write lock)."""
    now = now or utcnow()
    with session_scope(engine, readonly=True) as s:
        viewer, last_seen = check_session(s, token, now=now, limits=limits)
    if now - last_seen >= TOUCH_INTERVAL:
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


def revoke_user_sessions(session: Session, username: str, *, now: datetime | None = None) -> int:
    """End every live session of a user (deactivation, password reset). Returns how many."""
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.username == username, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
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
