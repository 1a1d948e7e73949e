"""Writes that screens trigger on accounts, the second factor and the audit trail: each function takes
the engine and is one transaction (store.db.session_scope), so pages and ui/ never open one.

Slow work happens before the write transaction: Argon2 hashing of a new password and the checks of
the current password and the password history run first (in a read-only transaction or none), then
a short write applies the result — SQLite has one writer, and a dispatcher's 立案 must not wait on a
password hash.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from auth import audit, passwords, service, sessions, totp
from auth.masking import may_view_personal
from auth.roles import can
from store.db import session_scope
from store.models import User, utcnow
from store.scope import PermissionDenied, Viewer, ensure_region_visible

# ---------------------------------------------------------------- accounts (系统管理员 / 安全管理员)


def create_user(engine: Engine, actor: Viewer, username: str, display_name: str, role: str, zone_code: str,
                department_code: str | None, password: str, *, client: str | None = None) -> str:
    """A new local account. Returns the normalised user name."""
    name = service.normalize_username(username)
    password_hash = service.prepare_password(password, name)
    with session_scope(engine) as s:
        user = service.create_user(s, username, display_name, role, zone_code, department_code, password=None,
                                   password_hash=password_hash, actor=actor, client=client)
        return user.username


def reset_password(engine: Engine, actor: Viewer, username: str, password: str, *, client: str | None = None) -> None:
    password_hash = service.prepare_password(password, service.normalize_username(username))
    with session_scope(engine) as s:
        service.set_password(s, username, password_hash=password_hash, actor=actor, client=client)


def deactivate(engine: Engine, actor: Viewer, username: str, *, client: str | None = None) -> None:
    with session_scope(engine) as s:
        service.deactivate(s, username, actor=actor, client=client)


def activate(engine: Engine, actor: Viewer, username: str, *, client: str | None = None) -> None:
    with session_scope(engine) as s:
        service.activate(s, username, actor=actor, client=client)


def unlock(engine: Engine, actor: Viewer, username: str, *, client: str | None = None) -> None:
    with session_scope(engine) as s:
        service.unlock(s, username, actor=actor, client=client)


def change_role(engine: Engine, actor: Viewer, username: str, role: str, *, client: str | None = None) -> None:
    with session_scope(engine) as s:
        service.change_role(s, username, role, actor=actor, client=client)


def reset_second_factor(engine: Engine, actor: Viewer, username: str, *, client: str | None = None) -> None:
    with session_scope(engine) as s:
        service.reset_second_factor(s, username, actor=actor, client=client)


def end_sessions(engine: Engine, actor: Viewer, username: str, *, client: str | None = None) -> int:
    with session_scope(engine) as s:
        return service.end_sessions(s, username, actor=actor, client=client)


# ---------------------------------------------------------------- one's own password

def change_own_password(engine: Engine, username: str, current: str, new: str, *, token: str | None = None,
                        client: str | None = None, now: datetime | None = None) -> int:
    """Change the signed-in user's own password (current password required). `token` is the
    caller's session: it stays (a forced change at sign-in turns it into a full session), every other
    session of the user ends. Returns how many ended. Raises UserError / PasswordRuleError."""
    with session_scope(engine, readonly=True) as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None or not user.active or not user.password_hash:
            raise service.UserError("该账号没有本地密码（统一身份认证账号请在身份认证平台修改密码）")
        expected = user.password_hash
        previous = service.password_history(s, username)
    if not passwords.verify_password(expected, current or ""):
        with session_scope(engine) as s:
            audit.record(s, username, "password_change_failed", object_type="user", object_id=username,
                         client=client, detail={"reason": "bad_current_password"})
        raise service.UserError("当前密码不正确")
    if new == current:
        raise passwords.PasswordRuleError("新密码不能与当前密码相同")
    passwords.validate_password(new, username)
    if passwords.reuses(new, previous):
        raise passwords.PasswordRuleError(f"新密码不能与最近 {max(1, passwords.history_size())} 次使用过的密码相同")
    new_hash = passwords.hash_password(new)
    with session_scope(engine) as s:
        return service.change_own_password(s, username, expected_hash=expected, new_hash=new_hash,
                                           keep_token=token, client=client, now=now)


# ---------------------------------------------------------------- the second step of signing in

def pending_step(engine: Engine, token: str, *, now: datetime | None = None) -> tuple[Viewer, str, bool]:
    """(viewer, stage, totp enabled) of a half-signed-in session, for the step screen; raises
    sessions.SessionInvalid when there is none."""
    with session_scope(engine, readonly=True) as s:
        viewer, stage = sessions.pending(s, token, now=now)
        user = s.execute(select(User).where(User.username == viewer.username)).scalar_one()
        return viewer, stage, totp.enabled(user)


def _advance_after_second_factor(s, token: str, username: str, now: datetime) -> str:  # noqa: ANN001
    user = s.execute(select(User).where(User.username == username)).scalar_one()
    stage = service.sign_in_stage(user, now, after_second_factor=True)
    sessions.advance(s, token, stage, now=now)
    return stage


def verify_second_factor(engine: Engine, token: str, code: str, *, client: str | None = None,
                         now: datetime | None = None) -> str:
    """Check the code typed on the step screen for this half-signed-in session; on success the session
    moves on ("full", or "password" when the password must be changed). Returns the new stage.
    Raises totp.SecondFactorError (its bookkeeping committed; when throttled, the user's
    half-signed-in sessions end) or sessions.SessionInvalid."""
    now = now or utcnow()
    failure: totp.SecondFactorError | None = None
    with session_scope(engine) as s:
        viewer, stage = sessions.pending(s, token, now=now)
        if stage != "totp":
            raise sessions.SessionInvalid("unknown", "登录状态无效，请重新登录")
        try:
            totp.verify(s, viewer.username, code, now=now, client=client)
        except totp.SecondFactorError as exc:
            failure = exc  # leave the block normally so the failure records commit
            if exc.code == "blocked":
                sessions.revoke_pending(s, viewer.username, now=now)
        else:
            stage = _advance_after_second_factor(s, token, viewer.username, now)
    if failure is not None:
        raise failure
    return stage


def enrol_at_sign_in(engine: Engine, token: str, secret: str, code: str, *, client: str | None = None,
                     now: datetime | None = None) -> tuple[list[str], str]:
    """Finish the enrolment owed by a half-signed-in session: returns (recovery codes to show once,
    the session's new stage)."""
    now = now or utcnow()
    failure: totp.SecondFactorError | None = None
    with session_scope(engine) as s:
        viewer, stage = sessions.pending(s, token, now=now)
        if stage != "enrol":
            raise sessions.SessionInvalid("unknown", "登录状态无效，请重新登录")
        try:
            codes = totp.confirm_enrolment(s, viewer.username, secret, code, now=now, client=client)
        except totp.SecondFactorError as exc:
            failure = exc  # commit the failure's audit row
        else:
            stage = _advance_after_second_factor(s, token, viewer.username, now)
    if failure is not None:
        raise failure
    return codes, stage


def cancel_sign_in(engine: Engine, token: str, *, client: str | None = None) -> None:
    """Abandon a half-signed-in session (the step screen's 返回登录)."""
    with session_scope(engine) as s:
        username = sessions.revoke(s, token)
        if username:
            audit.record(s, username, "logout", object_type="user", object_id=username, client=client,
                         detail={"reason": "second_step_abandoned"})


# ---------------------------------------------------------------- one's own second factor (我的账号)

def enrol(engine: Engine, viewer: Viewer, secret: str, code: str, *, client: str | None = None) -> list[str]:
    """Turn the second factor on from 我的账号 (roles where it is optional, or re-enrolment after
    a reset). Returns the recovery codes, to be shown once."""
    if not totp.offered(viewer.role):
        raise totp.SecondFactorError("off", "您的角色不使用二次验证")
    failure: totp.SecondFactorError | None = None
    with session_scope(engine) as s:
        try:
            codes = totp.confirm_enrolment(s, viewer.username, secret, code, client=client)
        except totp.SecondFactorError as exc:
            failure = exc  # commit the failure's audit row
    if failure is not None:
        raise failure
    return codes


def disable_second_factor(engine: Engine, viewer: Viewer, code: str, *, client: str | None = None) -> None:
    """Turn an optional second factor off, with a current code (or a recovery code) as proof."""
    if totp.required(viewer.role):
        raise totp.SecondFactorError("required", "您的角色必须使用二次验证，不能停用；更换设备请联系安全管理员重置")
    failure: totp.SecondFactorError | None = None
    with session_scope(engine) as s:
        try:
            totp.verify(s, viewer.username, code, client=client)
        except totp.SecondFactorError as exc:
            failure = exc
        else:
            user = s.execute(select(User).where(User.username == viewer.username)).scalar_one()
            totp.clear(s, user)
            audit.record(s, viewer, "mfa_disable", object_type="user", object_id=viewer.username, client=client)
    if failure is not None:
        raise failure


def regenerate_recovery_codes(engine: Engine, viewer: Viewer, *, client: str | None = None) -> list[str]:
    with session_scope(engine) as s:
        return totp.regenerate_recovery_codes(s, viewer.username, client=client)


# ---------------------------------------------------------------- the audit trail of reads

def record_refusal(engine: Engine, viewer: Viewer, what: str, *, reason: str, object_type: str | None = None,
                   object_id: str | int | None = None, scope: str | None = None, client: str | None = None) -> None:
    """A refusal shown to a user (a page the role may not open, an object outside their zone, a
    capability they lack): who tried what, and why it was refused."""
    with session_scope(engine) as s:
        audit.record(s, viewer, "access_denied", object_type=(object_type or "page")[:30],
                     object_id=None if object_id is None else str(object_id)[:60], scope=scope, client=client,
                     detail={"what": str(what)[:200], "reason": str(reason)[:200]})


def record_personal_view(engine: Engine, viewer: Viewer, object_type: str, object_id: str | int, *,
                         fields: list[str], scope: str | None = None, client: str | None = None) -> bool:
    """A view of unmasked personal data (a case's reporter name, phone, ID number shown to a role with
    view_personal). Nothing is written (False) when the role sees only masked values."""
    if not may_view_personal(viewer) or not fields:
        return False
    with session_scope(engine) as s:
        audit.record(s, viewer, "personal_data_view", object_type=object_type[:30], object_id=str(object_id)[:60],
                     scope=scope, client=client, detail={"fields": list(fields)})
    return True


def record_export(engine: Engine, viewer: Viewer, what: str, scope: str, *, detail: dict | None = None,
                  client: str | None = None) -> None:
    """An export that is not a workbook built by auth.exports (e.g. the HTML briefing): checked like
    one (the role may export, the scope is the viewer's) and audited."""
    if not can(viewer.role, "export"):
        raise PermissionDenied("无权导出数据")
    ensure_region_visible(viewer, scope)
    with session_scope(engine) as s:
        audit.record(s, viewer, "export", object_type=what[:30], scope=scope, client=client,
                     detail={"what": what, **(detail or {})})


def record_import(engine: Engine, viewer: Viewer, kind: str, file_name: str, *, check_only: bool, outcome: str,
                  detail: dict | None = None, client: str | None = None) -> None:
    """One run of the 数据导入 screen — a check or an import, passed or failed — in its own transaction:
    a failed import has rolled back, and a check writes nothing of its own. `outcome` is passed /
    imported / failed / refused; `detail` carries the counts."""
    with session_scope(engine) as s:
        audit.record(s, viewer, "data_import", object_type=kind[:30], object_id=file_name[:60], client=client,
                     detail={"kind": kind, "file": file_name, "mode": "check" if check_only else "import",
                             "outcome": outcome, **(detail or {})})
