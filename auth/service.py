"""Accounts and sign-in: create users, authenticate with lockout, change passwords, deactivate.

Every function works in the caller's session (one transaction) and writes its audit row there.
Messages are Simplified Chinese and shown to the user as they are.

Sign-in throttling (auth/throttle.py): by account AND client with a progressive delay, never a
lockout that someone else's failures could trigger; unknown and known names answer alike. The
password hash is checked outside any write transaction (`sign_in`), so a flood of bad passwords never
holds SQLite's write lock while Argon2 runs.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

import settings
from auth import audit, passwords, sessions, throttle, totp
from auth.roles import ADMIN_ROLES, ROLE_NAMES, can, role_label
from store.db import session_scope
from store.models import Department, PasswordHistory, Region, User, utcnow
from store.scope import PermissionDenied, Viewer, ensure_region_visible

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,49}$")
SYSTEM_ACTOR = "system"


class UserError(ValueError):
    """Invalid account data (Chinese message)."""


class LoginFailed(Exception):
    """Sign-in refused. `code` travels in the redirect URL (never the message text); `wait_seconds`
    is set when the throttle holds this client back."""

    def __init__(self, code: str, message: str, wait_seconds: int | None = None):
        super().__init__(message)
        self.code = code
        self.wait_seconds = wait_seconds

    @property
    def wait_minutes(self) -> int | None:
        return None if self.wait_seconds is None else max(1, math.ceil(self.wait_seconds / 60))


# code → message template; the login page renders these from the code in the URL.
LOGIN_MESSAGES = {
    "missing": "请输入用户名和密码",
    "invalid": "用户名或密码错误（多次输错后须等待一段时间才能再试）",
    # The same words for an existing and an unknown name: the throttle keys on the name as typed.
    "locked": "该账号在本终端登录失败次数过多，请 {wait}后再试；如忘记密码请联系管理员",
    "client_locked": "本终端登录失败次数过多，已暂时限制登录，请 {wait}后再试",
    "inactive": "账号已停用，请联系管理员",
    "origin": "登录请求来源无效，请刷新页面后重试",
    "csrf": "登录页面已过期，请刷新页面后重新登录",
    "expired": "登录已过期，请重新登录",
    "idle": "长时间未操作，已自动退出，请重新登录",
    "revoked": "会话已结束，请重新登录",
    "error": "登录服务暂时不可用，请稍后再试",
}


def wait_text(seconds: int | None) -> str:
    seconds = max(1, int(seconds or 1))
    return f"{seconds} 秒" if seconds < 120 else f"{math.ceil(seconds / 60)} 分钟"


def login_message(code: str, wait_seconds: int | None = None) -> str:
    template = LOGIN_MESSAGES.get(code, LOGIN_MESSAGES["invalid"])
    return template.format(wait=wait_text(wait_seconds))


def _cfg() -> dict:
    return settings.get_settings()["auth"]


def _fail(code: str, wait_seconds: int | None = None) -> LoginFailed:
    return LoginFailed(code, login_message(code, wait_seconds), wait_seconds)


def normalize_username(username: str) -> str:
    """NFKC (full-width IME input folds to ASCII), trimmed, lower case. Control characters become
    U+FFFD: such a name can match no account, and PostgreSQL refuses NUL bytes in text."""
    text = unicodedata.normalize("NFKC", username or "").strip().lower()
    return "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _viewer_of(user: User) -> Viewer:
    return Viewer(username=user.username, role=user.role, zone_code=user.zone_code,
                  department_code=user.department_code, display_name=user.display_name)


def _get_user(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


_DENIED = {
    "manage_accounts": "无权管理用户账号（系统管理员的职责）",
    "manage_roles": "无权授予或变更角色（安全管理员的职责）",
    "unlock_accounts": "无权解锁账号、重置二次验证或结束会话（安全管理员的职责）",
}


def _require_manager(actor: Viewer | str, zone_code: str | None = None,
                     capability: str = "manage_accounts") -> None:
    """A Viewer actor must hold `capability` (separation of duties: auth/roles.py) and act only
    inside their zone; a plain string actor is the operator at the command line (manage.py), who
    has shell access anyway."""
    if isinstance(actor, Viewer):
        if not can(actor.role, capability):
            raise PermissionDenied(_DENIED.get(capability, "无权执行该操作"))
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
                actor: Viewer | str = SYSTEM_ACTOR, client: str | None = None,
                password_hash: str | None = None) -> User:
    """Create a local account (password None = OIDC-only account). Raises UserError /
    PasswordRuleError / PermissionDenied with a Chinese message; nothing is written on error.

    `password_hash` is a hash made by `prepare_password` beforehand (auth.actions does, so Argon2
    does not run inside the write transaction); otherwise `password` is checked and hashed here.
    A system administrator creates business accounts only: an administrator role is granted by the
    security administrator (`change_role`) or at the command line."""
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
    if isinstance(actor, Viewer) and role in ADMIN_ROLES:
        raise PermissionDenied("系统管理员不能创建管理员账号：请先建普通账号，再由安全管理员授予管理员角色")
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
    if password_hash is None and password is not None:
        password_hash = prepare_password(password, name)
    now = utcnow()
    user = User(username=name, display_name=display, role=role, zone_code=zone, department_code=dept,
                password_hash=password_hash, active=True, failed_logins=0, created_at=now,
                password_changed_at=now if password_hash else None)
    session.add(user)
    session.flush()  # a concurrent insert of the same name fails here, inside the transaction
    audit.record(session, actor, "user_create", object_type="user", object_id=name, scope=zone, client=client,
                 detail={"role": role, "zone_code": zone, "department_code": dept, "display_name": display})
    return user


def prepare_password(password: str, username: str) -> str:
    """Check a new password against the rules (PasswordRuleError) and hash it. Slow (Argon2): call
    it before opening a write transaction."""
    passwords.validate_password(password, username)
    return passwords.hash_password(password)


def _target(session: Session, username: str, actor: Viewer | str, capability: str = "manage_accounts") -> User:
    user = _get_user(session, normalize_username(username))
    if user is None:
        raise UserError(f"用户 {username} 不存在")
    _require_manager(actor, user.zone_code, capability)
    return user


def _remember_password(session: Session, user: User, now: datetime) -> None:
    """Keep the outgoing hash in the history, trimmed to [security].password_history entries."""
    keep = passwords.history_size()
    if not keep or not user.password_hash:
        return
    session.add(PasswordHistory(username=user.username, password_hash=user.password_hash, created_at=now))
    session.flush()
    ids = session.execute(select(PasswordHistory.id).where(PasswordHistory.username == user.username)
                          .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())).scalars().all()
    if len(ids) > keep:
        session.execute(PasswordHistory.__table__.delete().where(PasswordHistory.id.in_(ids[keep:])))


def password_history(session: Session, username: str) -> list[str]:
    """The hashes a new password may not match: the current one and the kept previous ones."""
    user = _get_user(session, username)
    if user is None:
        return []
    older = session.execute(select(PasswordHistory.password_hash).where(PasswordHistory.username == username)
                            .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
                            .limit(passwords.history_size())).scalars().all() if passwords.history_size() else []
    return [h for h in [user.password_hash, *older] if h]


def set_password(session: Session, username: str, new_password: str | None = None, *,
                 actor: Viewer | str = SYSTEM_ACTOR, client: str | None = None,
                 password_hash: str | None = None) -> None:
    """An administrator (or the operator) sets someone's password: clears any lockout, ends the
    user's live sessions, and makes them choose their own at the next sign-in. Your own password is
    changed with `change_own_password` (which asks for the current one)."""
    user = _target(session, username, actor)
    if isinstance(actor, Viewer) and actor.username == user.username:
        raise UserError("请在“我的账号”中修改自己的密码（需要输入当前密码）")
    if password_hash is None:
        password_hash = prepare_password(new_password or "", user.username)
    now = utcnow()
    _remember_password(session, user, now)
    user.password_hash = password_hash
    user.password_changed_at = now
    user.password_must_change = True
    user.failed_logins = 0
    user.locked_until = None
    ended = sessions.revoke_user_sessions(session, user.username, now=now)
    audit.record(session, actor, "user_password_set", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client, detail={"sessions_ended": ended})


def change_own_password(session: Session, username: str, *, expected_hash: str, new_hash: str,
                        keep_token: str | None = None, client: str | None = None,
                        now: datetime | None = None) -> int:
    """Write a password change the owner has proven (current password checked, new one checked
    against rules and history, hashed — all by auth.actions before this short write). Refuses if the
    password changed meanwhile (`expected_hash`). Ends the user's other sessions; a half-signed-in
    `keep_token` (forced change at sign-in) becomes a full session. Returns sessions ended."""
    now = now or utcnow()
    user = _get_user(session, username)
    if user is None or not user.active:
        raise UserError("账号不存在或已停用")
    if user.password_hash != expected_hash:
        raise UserError("密码刚刚已被修改，请重新登录后再试")
    _remember_password(session, user, now)
    user.password_hash = new_hash
    user.password_changed_at = now
    user.password_must_change = False
    ended = sessions.revoke_user_sessions(session, username, now=now, except_token=keep_token)
    if keep_token:
        sessions.advance(session, keep_token, sessions.FULL, now=now)
    audit.record(session, _viewer_of(user), "password_change", object_type="user", object_id=username,
                 client=client, detail={"sessions_ended": ended})
    return ended


def sign_in_stage(user: User, now: datetime, *, after_second_factor: bool = False) -> str:
    """The step a session still owes after a correct password (or, with `after_second_factor`,
    after the second factor): set up or enter the second factor when the role requires it or the
    user turned it on, then change an expired or administrator-set password, else "full"."""
    if not after_second_factor:
        if totp.enabled(user):
            return "totp"
        if totp.required(user.role):
            return "enrol"
    if user.password_hash and (user.password_must_change or passwords.expired(user.password_changed_at, now)):
        return "password"
    return sessions.FULL


def _count_active(session: Session, role: str) -> int:
    return session.execute(
        select(func.count()).select_from(User).where(User.role == role, User.active.is_(True))
    ).scalar_one()


def _guard_last_admin(session: Session, user: User, doing: str) -> None:
    """Never leave an administrator role without an active holder (nobody could then manage
    accounts, grant roles or read the audit)."""
    if user.role in ADMIN_ROLES and user.active and _count_active(session, user.role) <= 1:
        raise UserError(f"这是最后一个启用的{role_label(user.role)}账号，不能{doing}")


def deactivate(session: Session, username: str, *, actor: Viewer | str = SYSTEM_ACTOR,
               client: str | None = None) -> None:
    """Disable an account and end its sessions at once. Refuses to disable oneself or the last
    active administrator (which would leave nobody able to manage accounts)."""
    user = _target(session, username, actor)
    if isinstance(actor, Viewer) and actor.username == user.username:
        raise UserError("不能停用自己的账号")
    if not user.active:
        raise UserError(f"用户 {user.username} 已是停用状态")
    _guard_last_admin(session, user, "停用")
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
    """Lift the sign-in throttle on an account before it runs out (e.g. after confirming the user by
    phone): its recorded failures are dropped (the audit log keeps them). A security administrator's
    duty; it also lifts a second-factor throttle."""
    user = _target(session, username, actor, "unlock_accounts")
    user.totp_failures = 0
    user.totp_blocked_until = None
    user.failed_logins = 0
    user.locked_until = None
    throttle.forget(session, user.username)
    audit.record(session, actor, "user_unlock", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client)


def change_role(session: Session, username: str, role: str, *, actor: Viewer | str = SYSTEM_ACTOR,
                client: str | None = None) -> None:
    """Grant a role (the security administrator's duty; the only way to make an administrator in the
    app). An account holds one role, so granting one takes the other away; the user's sessions end,
    so the new rights (and a second factor the new role may require) apply at the next sign-in."""
    user = _target(session, username, actor, "manage_roles")
    if role not in ROLE_NAMES:
        raise UserError(f"未知角色：{role}")
    if isinstance(actor, Viewer) and actor.username == user.username:
        raise UserError("不能变更自己的角色")
    if role == user.role:
        raise UserError(f"用户 {user.username} 已是{role_label(role)}")
    if role == "department" and not user.department_code:
        raise UserError("部门处置人员必须有所属部门代码：请由系统管理员新建部门账号")
    _guard_last_admin(session, user, "变更角色")
    old = user.role
    user.role = role
    ended = sessions.revoke_user_sessions(session, user.username)
    audit.record(session, actor, "user_role_change", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client, detail={"from": old, "to": role, "sessions_ended": ended})


def reset_second_factor(session: Session, username: str, *, actor: Viewer | str = SYSTEM_ACTOR,
                        client: str | None = None) -> None:
    """Forget a user's TOTP seed and recovery codes (lost phone), ending their sessions; a role that
    requires the second factor enrols again at the next sign-in. Security administrator's duty."""
    user = _target(session, username, actor, "unlock_accounts")
    if isinstance(actor, Viewer) and actor.username == user.username:
        raise UserError("不能重置自己的二次验证，请联系另一位安全管理员")
    if not totp.enabled(user):
        raise UserError(f"用户 {user.username} 未启用二次验证")
    totp.clear(session, user)
    ended = sessions.revoke_user_sessions(session, user.username)
    audit.record(session, actor, "user_mfa_reset", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client, detail={"sessions_ended": ended})


def end_sessions(session: Session, username: str, *, actor: Viewer | str = SYSTEM_ACTOR,
                 client: str | None = None) -> int:
    """End every live session of a user (a suspected stolen session). Security administrator's duty."""
    user = _target(session, username, actor, "unlock_accounts")
    ended = sessions.revoke_user_sessions(session, user.username)
    audit.record(session, actor, "user_sessions_end", object_type="user", object_id=user.username,
                 scope=user.zone_code, client=client, detail={"sessions_ended": ended})
    return ended


# ---------------------------------------------------------------- sign-in

@dataclass(frozen=True)
class _Account:
    """What the slow part of a sign-in needs from the users row, read in a read-only transaction."""
    password_hash: str | None


def _read_account(session: Session, name: str) -> _Account | None:
    user = _get_user(session, name)
    return None if user is None else _Account(user.password_hash)


def _refuse(session: Session, client: str, name: str, block: throttle.Block, now: datetime,
            policy: throttle.Policy) -> LoginFailed:
    throttle.record_blocked(session, client, name, block, now, policy)
    return _fail("client_locked" if block.reason == "client" else "locked", block.wait_seconds(now))


def sign_in(engine: Engine, username: str, password: str, client: str | None, *, user_agent: str | None = None,
            now: datetime | None = None) -> tuple[Viewer, str]:
    """Check a username and password and open a server-side session. Returns (viewer, raw token), or
    raises LoginFailed with a Chinese message (its bookkeeping committed).

    Three steps, so that no write lock is held while Argon2 runs (SQLite has one writer at a time; a
    login flood must not stall a dispatcher's 立案):
    1. read (no write lock): is this client/name throttled, and the account's hash;
    2. verify the password (and compute an upgraded hash) in no transaction at all;
    3. one short write: re-check the throttle (attempts that landed meanwhile count — a burst of
       parallel guesses cannot slip past it, and a refused one reveals nothing), then the attempt
       row, the audit row, the account's counters and the session.
    """
    now = now or utcnow()
    client = (client or "unknown")[:64]
    name = normalize_username(username)[:50]
    if not name or not password:
        raise _fail("missing")
    policy = throttle.Policy.from_settings()

    with session_scope(engine, readonly=True) as session:
        block = throttle.check(session, client, name, now, policy)
        account = None if block else _read_account(session, name)
    if block is not None:
        with session_scope(engine) as session:
            failure = _refuse(session, client, name, block, now, policy)
            throttle.flush_blocked(session, now, policy)
        raise failure

    stored_hash = account.password_hash if account else None
    ok = passwords.verify_password(stored_hash or passwords.dummy_hash(), password) and account is not None \
        and stored_hash is not None
    new_hash = passwords.hash_password(password) if ok and passwords.needs_rehash(stored_hash) else None

    failure: LoginFailed | None = None
    token = ""
    with session_scope(engine) as session:
        block = throttle.check(session, client, name, now, policy)
        user = _get_user(session, name)
        if block is not None:
            failure = _refuse(session, client, name, block, now, policy)
        elif not ok or user is None or user.password_hash != stored_hash:
            # The same statements for an unknown name (the UPDATE matches no row) as for a known one.
            throttle.note(session, client, name, False, now)
            count = session.execute(
                update(User).where(User.username == name).values(failed_logins=User.failed_logins + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            audit.record(session, name, "login_failed", object_type="user", object_id=name,
                         scope=user.zone_code if user else None, client=client,
                         detail={"reason": "bad_password" if count else "unknown_user"})
            failure = _fail("invalid")
        elif not user.active:
            throttle.note(session, client, name, False, now)
            audit.record(session, name, "login_failed", object_type="user", object_id=name, scope=user.zone_code,
                         client=client, detail={"reason": "inactive"})
            failure = _fail("inactive")
        else:
            values: dict = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
            if new_hash:
                values["password_hash"] = new_hash
            session.execute(update(User).where(User.id == user.id).values(**values)
                            .execution_options(synchronize_session=False))
            throttle.note(session, client, name, True, now)
            throttle.purge(session, now, policy)
            viewer = _viewer_of(user)
            audit.record(session, viewer, "login", object_type="user", object_id=name, client=client,
                         detail={"method": "local"})
            token = sessions.open_session(session, viewer.username, client=client, user_agent=user_agent, now=now,
                                          stage=sign_in_stage(user, now))
        throttle.flush_blocked(session, now, policy)
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
