"""Accounts and sign-in: create users, authenticate with lockout, change passwords, deactivate.

Every function works in the caller's session (one transaction) and writes its audit row there.
Messages are Simplified Chinese and shown to the user as they are.

Lockout:
- per account: `[auth].max_failed_logins` wrong passwords in a row lock the account for
  `lockout_minutes` (a success resets the count);
- per client address: `max_failed_per_client` failures within `lockout_minutes` block that address
  until the oldest of them leaves the window (a success does not reset it, so one valid account
  cannot launder a password-spraying run).
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

import settings
from auth import audit, passwords, sessions
from auth.roles import ROLE_NAMES, can
from store.db import session_scope
from store.models import Department, LoginAttempt, Region, User, utcnow
from store.scope import PermissionDenied, Viewer, ensure_region_visible

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,49}$")
SYSTEM_ACTOR = "system"


class UserError(ValueError):
    """Invalid account data (Chinese message)."""


class LoginFailed(Exception):
    """Sign-in refused. `code` travels in the redirect URL (never the message text); `wait_minutes`
    is set for lockouts."""

    def __init__(self, code: str, message: str, wait_minutes: int | None = None):
        super().__init__(message)
        self.code = code
        self.wait_minutes = wait_minutes


# code → message template; the login page renders these from the code in the URL.
LOGIN_MESSAGES = {
    "missing": "请输入用户名和密码",
    "invalid": "用户名或密码错误（连续失败 {max_failed} 次账号将被锁定 {lockout} 分钟）",
    "locked": "账号因连续登录失败已被锁定，请 {wait} 分钟后再试，或联系管理员解锁",
    "client_locked": "本终端登录失败次数过多，已被暂时限制登录，请 {wait} 分钟后再试",
    "inactive": "账号已停用，请联系管理员",
    "origin": "登录请求来源无效，请刷新页面后重试",
    "expired": "登录已过期，请重新登录",
    "idle": "长时间未操作，已自动退出，请重新登录",
    "revoked": "会话已结束，请重新登录",
    "error": "登录服务暂时不可用，请稍后再试",
}


def login_message(code: str, wait_minutes: int | None = None) -> str:
    cfg = _cfg()
    template = LOGIN_MESSAGES.get(code, LOGIN_MESSAGES["invalid"])
    return template.format(max_failed=int(cfg.get("max_failed_logins", 5)),
                           lockout=int(cfg.get("lockout_minutes", 15)), wait=max(1, int(wait_minutes or 1)))


def _cfg() -> dict:
    return settings.get_settings()["auth"]


def _fail(code: str, wait_minutes: int | None = None) -> LoginFailed:
    return LoginFailed(code, login_message(code, wait_minutes), wait_minutes)


def normalize_username(username: str) -> str:
    """NFKC (full-width IME input folds to ASCII), trimmed, lower case. Control characters become
    U+FFFD: such a name can match no account, and PostgreSQL refuses NUL bytes in text."""
    text = unicodedata.normalize("NFKC", username or "").strip().lower()
    return "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _minutes_until(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds() / 60))


def _viewer_of(user: User) -> Viewer:
    return Viewer(username=user.username, role=user.role, zone_code=user.zone_code,
                  department_code=user.department_code, display_name=user.display_name)


def _get_user(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def _require_manager(actor: Viewer | str, zone_code: str | None = None) -> None:
    """A Viewer actor must hold manage_users and manage only inside their zone; a plain string
    actor is the operator at the command line (manage.py), who has shell access anyway."""
    if isinstance(actor, Viewer):
        if not can(actor.role, "manage_users"):
            raise PermissionDenied("无权管理用户账号")
        if zone_code:
            ensure_region_visible(actor, zone_code)


def _clean_text(value: str | None, label: str, max_len: int, required: bool = True) -> str | None:
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        if required:
            raise UserError(f"请填写{label}")
        return None
    if len(text) > max_len:
        raise UserError(f"{label}不能超过 {max_len} 个字符")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise UserError(f"{label}含有不可见的控制字符")
    return text


# ---------------------------------------------------------------- accounts

def create_user(session: Session, username: str, display_name: str, role: str, zone_code: str,
                department_code: str | None = None, *, password: str | None,
                actor: Viewer | str = SYSTEM_ACTOR, client: str | None = None) -> User:
    """Create a local account (password None = OIDC-only account). Raises UserError /
    PasswordRuleError / PermissionDenied with a Chinese message; nothing is written on error."""
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        raise UserError("用户名须为 3–50 位小写字母、数字或 _ . -，并以字母或数字开头")
    display = _clean_text(display_name, "姓名", 50)
    if role not in ROLE_NAMES:
        raise UserError(f"未知角色：{role}（可选：{'、'.join(f'{k} {v}' for k, v in ROLE_NAMES.items())}）")
    zone = (zone_code or "").strip()
    if not zone.isdigit() or session.get(Region, zone) is None:
        raise UserError(f"管辖区划代码 {zone or '（空）'} 不存在，请先导入行政区划")
    _require_manager(actor, zone)
    dept = _clean_text(department_code, "部门代码", 40, required=False)
    if role == "department" and not dept:
        raise UserError("部门处置人员必须指定所属部门代码")
    if dept and session.execute(select(func.count()).select_from(Department)).scalar_one() \
            and session.get(Department, dept) is None:
        # Departments are checked once any are registered (demo users are made before the events
        # generator registers the departments).
        raise UserError(f"部门代码 {dept} 不存在")
    if _get_user(session, name) is not None:
        raise UserError(f"用户名 {name} 已存在")
    password_hash = None
    if password is not None:
        passwords.validate_password(password, name)
        password_hash = passwords.hash_password(password)
    now = utcnow()
    user = User(username=name, display_name=display, role=role, zone_code=zone, department_code=dept,
                password_hash=password_hash, active=True, failed_logins=0, created_at=now,
                password_changed_at=now if password_hash else None)
    session.add(user)
    session.flush()  # a concurrent insert of the same name fails here, inside the transaction
    audit.record(session, actor, "user_create", object_type="user", object_id=name, scope=zone, client=client,
                 detail={"role": role, "zone_code": zone, "department_code": dept, "display_name": display})
    return user


def _target(session: Session, username: str, actor: Viewer | str) -> User:
    user = _get_user(session, normalize_username(username))
    if user is None:
        raise UserError(f"用户 {username} 不存在")
    _require_manager(actor, user.zone_code)
    return user


def set_password(session: Session, username: str, new_password: str, *, actor: Viewer | str = SYSTEM_ACTOR,
                 client: str | None = None) -> None:
    """Set a new password; clears any lockout and ends the user's live sessions."""
    user = _target(session, username, actor)
    passwords.validate_password(new_password, user.username)
    now = utcnow()
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    ended = sessions.revoke_user_sessions(session, user.username, now=now)
    audit.record(session, actor, "user_password_set", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client, detail={"sessions_ended": ended})


def deactivate(session: Session, username: str, *, actor: Viewer | str = SYSTEM_ACTOR,
               client: str | None = None) -> None:
    """Disable an account and end its sessions at once. Refuses to disable oneself or the last
    active administrator (which would leave nobody able to manage accounts)."""
    user = _target(session, username, actor)
    if isinstance(actor, Viewer) and actor.username == user.username:
        raise UserError("不能停用自己的账号")
    if not user.active:
        raise UserError(f"用户 {user.username} 已是停用状态")
    if user.role == "admin":
        admins = session.execute(
            select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))
        ).scalar_one()
        if admins <= 1:
            raise UserError("这是最后一个启用的管理员账号，不能停用")
    now = utcnow()
    user.active = False
    ended = sessions.revoke_user_sessions(session, user.username, now=now)
    audit.record(session, actor, "user_deactivate", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client, detail={"sessions_ended": ended})


def activate(session: Session, username: str, *, actor: Viewer | str = SYSTEM_ACTOR,
             client: str | None = None) -> None:
    user = _target(session, username, actor)
    if user.active:
        raise UserError(f"用户 {user.username} 已是启用状态")
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user_activate", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client)


def unlock(session: Session, username: str, *, actor: Viewer | str = SYSTEM_ACTOR,
           client: str | None = None) -> None:
    """Lift an account lockout before it runs out (e.g. after confirming the user by phone)."""
    user = _target(session, username, actor)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user_unlock", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client)


def list_users(session: Session, viewer: Viewer | None = None, **filters) -> list[dict]:  # noqa: ANN003
    """Accounts visible to `viewer` (None = every account, for the command line)."""
    from auth.queries import list_users as _list

    return _list(session, viewer, **filters)


# ---------------------------------------------------------------- sign-in

@dataclass(frozen=True)
class _Window:
    now: datetime
    lockout: timedelta
    max_failed: int
    max_per_client: int

    @classmethod
    def current(cls, now: datetime | None) -> "_Window":
        cfg = _cfg()
        return cls(now=now or utcnow(), lockout=timedelta(minutes=float(cfg.get("lockout_minutes", 15))),
                   max_failed=int(cfg.get("max_failed_logins", 5)),
                   max_per_client=int(cfg.get("max_failed_per_client", 20)))


def _client_blocked_until(session: Session, client: str, w: _Window) -> datetime | None:
    """When the client's block ends, or None if it is not blocked: with N failures in the window and
    a limit of M, the block lasts until the (N-M+1)-th oldest failure leaves the window."""
    failures = session.execute(
        select(LoginAttempt.at)
        .where(LoginAttempt.client == client, LoginAttempt.success.is_(False),
               LoginAttempt.at > w.now - w.lockout)
        .order_by(LoginAttempt.at)
    ).scalars().all()
    if len(failures) < w.max_per_client:
        return None
    return failures[len(failures) - w.max_per_client] + w.lockout


def _note_attempt(session: Session, client: str, username: str, success: bool, now: datetime) -> None:
    session.add(LoginAttempt(client=client, username=username[:50], at=now, success=success))


def authenticate(session: Session, username: str, password: str, client: str | None, *,
                 now: datetime | None = None) -> Viewer:
    """Check a username and password. Returns the Viewer, or raises LoginFailed with a Chinese
    message. Failure bookkeeping (counters, attempts, audit rows) is added to `session` before the
    exception: commit it anyway — `sign_in` does.
    """
    w = _Window.current(now)
    client = (client or "unknown")[:64]
    name = normalize_username(username)[:50]
    if not name or not password:
        raise _fail("missing")

    blocked_until = _client_blocked_until(session, client, w)
    if blocked_until is not None:
        wait = _minutes_until(blocked_until, w.now)
        audit.record(session, name, "login_failed", object_type="user", object_id=name, client=client,
                     detail={"reason": "client_locked", "wait_minutes": wait})
        raise _fail("client_locked", wait)

    user = _get_user(session, name)
    if user is not None and user.locked_until is not None and user.locked_until > w.now:
        wait = _minutes_until(user.locked_until, w.now)
        _note_attempt(session, client, name, False, w.now)
        audit.record(session, name, "login_failed", object_type="user", object_id=name, scope=user.zone_code,
                     client=client, detail={"reason": "locked", "wait_minutes": wait})
        raise _fail("locked", wait)

    ok = passwords.verify_password(user.password_hash if user else passwords.dummy_hash(), password)
    if user is None or not ok:
        _note_attempt(session, client, name, False, w.now)
        detail: dict = {"reason": "unknown_user" if user is None else "bad_password"}
        code, wait = "invalid", None
        if user is not None:
            count = session.execute(
                update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
                .returning(User.failed_logins).execution_options(synchronize_session=False)
            ).scalar_one()
            detail["failed_in_a_row"] = count
            if count >= w.max_failed:
                session.execute(update(User).where(User.id == user.id)
                                .values(locked_until=w.now + w.lockout, failed_logins=0)
                                .execution_options(synchronize_session=False))
                detail["locked_minutes"] = int(w.lockout.total_seconds() // 60)
                code, wait = "locked", _minutes_until(w.now + w.lockout, w.now)
        audit.record(session, name, "login_failed", object_type="user", object_id=name,
                     scope=user.zone_code if user else None, client=client, detail=detail)
        raise _fail(code, wait)

    if not user.active:
        _note_attempt(session, client, name, False, w.now)
        audit.record(session, name, "login_failed", object_type="user", object_id=name, scope=user.zone_code,
                     client=client, detail={"reason": "inactive"})
        raise _fail("inactive")

    values: dict = {"failed_logins": 0, "locked_until": None, "last_login_at": w.now}
    if passwords.needs_rehash(user.password_hash):
        values["password_hash"] = passwords.hash_password(password)
    session.execute(update(User).where(User.id == user.id).values(**values)
                    .execution_options(synchronize_session=False))
    _note_attempt(session, client, name, True, w.now)
    viewer = _viewer_of(user)
    audit.record(session, viewer, "login", object_type="user", object_id=name, client=client,
                 detail={"method": "local"})
    return viewer


def sign_in(engine: Engine, username: str, password: str, client: str | None, *, user_agent: str | None = None,
            now: datetime | None = None) -> tuple[Viewer, str]:
    """authenticate + open a server-side session, in one transaction. Returns (viewer, raw token).
    On failure the bookkeeping is committed and LoginFailed re-raised."""
    failure: LoginFailed | None = None
    with session_scope(engine) as session:
        try:
            viewer = authenticate(session, username, password, client, now=now)
        except LoginFailed as exc:
            failure = exc  # leave the block normally so the failure records commit
        else:
            token = sessions.open_session(session, viewer.username, client=client, user_agent=user_agent, now=now)
    if failure is not None:
        raise failure
    return viewer, token


def sign_out(engine: Engine, token: str, client: str | None = None, *, now: datetime | None = None) -> str | None:
    """Revoke the session behind `token` and audit the logout. Returns the username (or None)."""
    with session_scope(engine) as session:
        username = sessions.revoke(session, token, now=now)
        if username:
            audit.record(session, username, "logout", object_type="user", object_id=username, client=client)
    return username
