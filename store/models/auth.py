"""Users, login sessions, login attempts and the append-only audit log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(50))
    # duty_officer / leader / department / grid_officer / wall_display, and the three separated
    # administrators sys_admin / sec_admin / audit_admin (auth/roles.py has the names and capabilities)
    role: Mapped[str] = mapped_column(String(20))
    zone_code: Mapped[str] = mapped_column(String(15))  # region code prefix the user may see
    department_code: Mapped[str | None] = mapped_column(String(40))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None for OIDC-only users
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when someone else set the password (an administrator's reset): the next sign-in must change it.
    password_must_change: Mapped[bool] = mapped_column(default=False)
    # Second factor (auth/totp.py). The TOTP seed is stored encrypted (Fernet, key derived from the
    # app secret), never in clear; totp_last_step is the time step of the last code accepted, so a code
    # cannot be replayed within its 30-second window.
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    totp_failures: Mapped[int] = mapped_column(Integer, default=0)
    totp_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RecoveryCode(Base):
    """One-time recovery codes for the second factor. Only the SHA-256 of each code is kept: the codes
    are 80-bit random strings, so a slow hash would add nothing but latency."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PasswordHistory(Base):
    """Previous password hashes of an account ([security].password_history of them are kept), so a
    password change cannot go back to a recent one."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuthSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so a copy
    of this table cannot be replayed. Server-side rows let logout, deactivation and password resets
    end a session at once, and hold the idle timer (the cookie cannot be re-issued from a rerun)."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(50), index=True)
    method: Mapped[str] = mapped_column(String(10), default="local")  # local / oidc
    # "full" = signed in; otherwise the step still owed after the password: "totp" (enter a code),
    # "enrol" (set up the second factor), "password" (expired or reset password must be changed).
    # Only a full session resolves to a Viewer (auth.sessions.check_session).
    stage: Mapped[str] = mapped_column(String(10), default="full")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # absolute limit
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class LoginAttempt(Base):
    """Sign-in attempts (not the refused ones), for throttling by account and client (auth/throttle.py)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    username: Mapped[str] = mapped_column(String(50), index=True)  # per-account throttle (auth/throttle.py)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    success: Mapped[bool] = mapped_column(default=False)


class AuditEntry(Base):
    """Append-only: the application never updates or deletes these rows."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(50), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40), index=True)  # login / login_failed / export / dispatch / transition ...
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[str | None] = mapped_column(String(60))
    scope: Mapped[str | None] = mapped_column(String(15))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
