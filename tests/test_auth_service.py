"""Accounts and sign-in on both backends: validation, lockout per account and per client, audit rows,
password resets and deactivation ending sessions, injection strings in usernames."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import settings
from auth import service, sessions
from auth.passwords import PasswordRuleError
from store.db import session_scope
from store.models import Department, LoginAttempt, User
from store.scope import PermissionDenied, Viewer
from tests.test_auth_support import PW, T0, audit_rows, auth_test_settings, make_user  # noqa: F401

ADMIN = Viewer("root", "sys_admin", "440900", display_name="系统管理员")
SEC = Viewer("anquan", "sec_admin", "440900", display_name="安全管理员")
INJECTIONS = ["' OR 1=1 --", "admin'--", "%", "_", "\\", "a%b_c\\d", "张三", "zhiban\x00", "' OR ''='",
              "\"; DROP TABLE users; --", "𠀀𠀁"]


def _user(engine, name):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.execute(select(User).where(User.username == name)).scalar_one_or_none()


# ------------------------------------------------------------------ create_user

def test_create_user_stores_hash_and_audits(city_engine):
    make_user(city_engine, "Zhiban", "duty_officer", "440900", display_name="值班员")
    u = _user(city_engine, "zhiban")  # normalised to lower case
    assert u is not None and u.active and u.role == "duty_officer"
    assert u.password_hash.startswith("$argon2id$") and PW not in u.password_hash
    rows = audit_rows(city_engine, "user_create")
    assert [(r.object_id, r.scope, r.detail["role"]) for r in rows] == [("zhiban", "440900", "duty_officer")]


@pytest.mark.parametrize("kwargs, message", [
    (dict(username="ab"), "用户名须为"),
    (dict(username="bad name"), "用户名须为"),
    (dict(username="' OR 1=1 --"), "用户名须为"),
    (dict(role="superuser"), "未知角色"),
    (dict(zone="999999"), "不存在"),
    (dict(zone="4409' OR 1=1"), "不存在"),
    (dict(role="department", department=None), "必须指定所属部门"),
    (dict(display_name="  "), "请填写姓名"),
    (dict(display_name="张\x07三"), "控制字符"),
])
def test_create_user_rejects_bad_input_with_chinese_message(city_engine, kwargs, message):
    args = dict(username="newuser", display_name="新用户", role="leader", zone="440902", department=None)
    args.update(kwargs)
    with pytest.raises(service.UserError, match=message):
        with session_scope(city_engine) as s:
            service.create_user(s, args["username"], args["display_name"], args["role"], args["zone"],
                                args["department"], password=PW)
    with session_scope(city_engine, readonly=True) as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 0
    assert audit_rows(city_engine) == []  # nothing half-written


def test_create_user_checks_password_rules_and_uniqueness(city_engine):
    with pytest.raises(PasswordRuleError, match="至少 10 位"):
        make_user(city_engine, "weak", password="short")
    make_user(city_engine, "dup")
    with pytest.raises(service.UserError, match="已存在"):
        make_user(city_engine, "DUP")


def test_department_code_checked_once_departments_exist(city_engine):
    make_user(city_engine, "cg1", "department", "440900", department="CGJ")  # no departments yet: accepted
    with session_scope(city_engine) as s:
        s.add(Department(code="CGJ", name="城管局", kind="委办局"))
    make_user(city_engine, "cg2", "department", "440900", department="CGJ")
    with pytest.raises(service.UserError, match="部门代码 XXX 不存在"):
        make_user(city_engine, "cg3", "department", "440900", department="XXX")


def test_admin_may_only_manage_inside_their_zone(city_engine):
    district_admin = Viewer("dadmin", "sys_admin", "440902")
    with session_scope(city_engine) as s:
        service.create_user(s, "inzone", "区内", "leader", "440902001", password=PW, actor=district_admin)
    with pytest.raises(PermissionDenied):
        with session_scope(city_engine) as s:
            service.create_user(s, "outzone", "区外", "leader", "440904", password=PW, actor=district_admin)
    with pytest.raises(PermissionDenied, match="无权管理"):
        with session_scope(city_engine) as s:
            service.create_user(s, "byleader", "x", "leader", "440902", password=PW,
                                actor=Viewer("l", "leader", "440900"))
    rows = audit_rows(city_engine, "user_create")
    assert [(r.actor, r.actor_role, r.object_id) for r in rows] == [("dadmin", "sys_admin", "inzone")]


# ------------------------------------------------------------------ authenticate

def _login(engine, name, password=PW, client="10.0.0.1", now=T0):  # noqa: ANN001
    return service.sign_in(engine, name, password, client, now=now)


def test_successful_login_returns_viewer_session_and_audit(city_engine):
    make_user(city_engine, "maonan", "leader", "440902", display_name="区领导")
    viewer, token = _login(city_engine, "  MaoNan ")
    assert viewer == Viewer("maonan", "leader", "440902", None, "区领导")
    with session_scope(city_engine, readonly=True) as s:
        assert sessions.check_session(s, token, now=T0)[0] == viewer
    [row] = audit_rows(city_engine, "login")
    assert (row.actor, row.actor_role, row.scope, row.client, row.detail["method"]) == \
        ("maonan", "leader", "440902", "10.0.0.1", "local")
    assert _user(city_engine, "maonan").last_login_at == T0


def test_wrong_password_and_unknown_user_get_the_same_message_and_are_audited(city_engine):
    make_user(city_engine, "zhiban")
    with pytest.raises(service.LoginFailed) as wrong:
        _login(city_engine, "zhiban", "Wrong@2026!!")
    with pytest.raises(service.LoginFailed) as unknown:
        _login(city_engine, "nobody", "Wrong@2026!!")
    assert wrong.value.code == unknown.value.code == "invalid"
    assert str(wrong.value) == str(unknown.value) and "用户名或密码错误" in str(wrong.value)
    reasons = [(r.actor, r.detail["reason"]) for r in audit_rows(city_engine, "login_failed")]
    assert reasons == [("zhiban", "bad_password"), ("nobody", "unknown_user")]
    assert _user(city_engine, "zhiban").failed_logins == 1  # committed although sign_in raised


def test_account_is_throttled_progressively_from_one_address_only(city_engine):
    """Finding 4 (issue 19): failures slow down that account from that address (2 s, 4 s, …), never
    lock it: the right password from another address works at once."""
    make_user(city_engine, "zhiban")
    limit = settings.get_settings()["auth"]["max_failed_logins"]
    for i in range(limit):
        with pytest.raises(service.LoginFailed) as exc:
            _login(city_engine, "zhiban", "Wrong@2026!!", now=T0 + timedelta(seconds=i))
        assert exc.value.code == "invalid"
    last = T0 + timedelta(seconds=limit - 1)
    # The next try within 2 s of the last failure waits, even with the right password.
    with pytest.raises(service.LoginFailed) as exc:
        _login(city_engine, "zhiban", now=last + timedelta(seconds=1))
    assert exc.value.code == "locked" and exc.value.wait_seconds == 1 and "1 秒后再试" in str(exc.value)
    # A wrong try after the wait doubles the next one (4 s).
    with pytest.raises(service.LoginFailed) as exc:
        _login(city_engine, "zhiban", "Wrong@2026!!", now=last + timedelta(seconds=2))
    assert exc.value.code == "invalid"
    with pytest.raises(service.LoginFailed) as exc:
        _login(city_engine, "zhiban", now=last + timedelta(seconds=3))
    assert exc.value.code == "locked" and exc.value.wait_seconds == 3
    # The real user at another desk is not held back by these failures.
    assert _login(city_engine, "zhiban", client="10.0.0.2", now=last + timedelta(seconds=3))[0].username == "zhiban"
    # After the wait the right password works from the first address too, and resets its count.
    assert _login(city_engine, "zhiban", now=last + timedelta(seconds=6))[0].username == "zhiban"
    assert _user(city_engine, "zhiban").failed_logins == 0
    # Refused tries are not audited one by one (tests/test_security_throttle.py checks the counts).
    assert all(r.detail["reason"] == "bad_password" for r in audit_rows(city_engine, "login_failed"))


def test_success_resets_the_account_failure_count(city_engine):
    make_user(city_engine, "zhiban")
    limit = settings.get_settings()["auth"]["max_failed_logins"]
    for _round in range(2):
        for _ in range(limit - 1):
            with pytest.raises(service.LoginFailed):
                _login(city_engine, "zhiban", "Wrong@2026!!")
        _login(city_engine, "zhiban")  # never reaches the limit in a row
    assert _user(city_engine, "zhiban").locked_until is None


def test_client_is_throttled_after_many_failures_across_accounts(city_engine, monkeypatch):
    monkeypatch.setenv("CITYOPS_AUTH_MAX_FAILED_PER_CLIENT", "6")
    settings.reload_settings()
    make_user(city_engine, "zhiban")
    # Password spraying: one try per (mostly unknown) account, so no per-account throttle triggers.
    for i in range(6):
        with pytest.raises(service.LoginFailed) as exc:
            _login(city_engine, f"user{i}", "Wrong@2026!!", client="10.9.9.9", now=T0 + timedelta(seconds=i))
        assert exc.value.code == "invalid"
    # Now even a correct login from that address waits; a success does not reset the address.
    with pytest.raises(service.LoginFailed) as exc:
        _login(city_engine, "zhiban", client="10.9.9.9", now=T0 + timedelta(seconds=6))
    assert exc.value.code == "client_locked" and exc.value.wait_seconds == 1
    assert "本终端" in str(exc.value) and "1 秒" in str(exc.value)
    with pytest.raises(service.LoginFailed):
        _login(city_engine, "user9", "Wrong@2026!!", client="10.9.9.9", now=T0 + timedelta(seconds=7))
    with pytest.raises(service.LoginFailed) as exc:  # the 7th failure doubles the wait
        _login(city_engine, "zhiban", client="10.9.9.9", now=T0 + timedelta(seconds=8))
    assert exc.value.code == "client_locked" and exc.value.wait_seconds == 3
    # Another address is unaffected.
    assert _login(city_engine, "zhiban", client="10.0.0.2", now=T0 + timedelta(seconds=8))[0].username == "zhiban"
    # After the wait the address may try again.
    assert _login(city_engine, "zhiban", client="10.9.9.9", now=T0 + timedelta(seconds=11))[0]


def test_inactive_account_is_refused_only_with_the_right_password(city_engine):
    make_user(city_engine, "gone")
    with session_scope(city_engine) as s:
        service.deactivate(s, "gone", actor=ADMIN)
    with pytest.raises(service.LoginFailed) as wrong:
        _login(city_engine, "gone", "Wrong@2026!!")
    assert wrong.value.code == "invalid"  # does not reveal the account state to a guesser
    with pytest.raises(service.LoginFailed) as right:
        _login(city_engine, "gone")
    assert right.value.code == "inactive" and "已停用" in str(right.value)


def test_empty_credentials(city_engine):
    with pytest.raises(service.LoginFailed) as exc:
        _login(city_engine, "", "")
    assert exc.value.code == "missing" and "请输入用户名和密码" in str(exc.value)


@pytest.mark.parametrize("name", INJECTIONS)
def test_injection_strings_as_username_are_harmless(city_engine, name):
    make_user(city_engine, "zhiban")
    with pytest.raises(service.LoginFailed) as exc:
        _login(city_engine, name, PW)
    assert exc.value.code in {"invalid", "missing"}
    with pytest.raises(service.LoginFailed):
        _login(city_engine, name, "' OR 1=1 --")
    with session_scope(city_engine, readonly=True) as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 1
        attempts = s.execute(select(LoginAttempt.username)).scalars().all()
    assert _user(city_engine, "zhiban").failed_logins == 0  # nobody else's counter moved
    assert all(a != "zhiban" for a in attempts)


def test_fullwidth_username_is_the_same_account(city_engine):
    # NFKC folds full-width input (Chinese IMEs) to ASCII, so it cannot create look-alike accounts.
    make_user(city_engine, "zhiban")
    assert _login(city_engine, "ＺＨＩＢＡＮ")[0].username == "zhiban"
    with pytest.raises(service.UserError, match="已存在"):
        make_user(city_engine, "ｚｈｉｂａｎ")


def test_rehash_on_login_when_cost_changed(city_engine, monkeypatch):
    make_user(city_engine, "zhiban")
    old = _user(city_engine, "zhiban").password_hash
    monkeypatch.setenv("CITYOPS_AUTH_ARGON2_TIME_COST", "2")
    settings.reload_settings()
    _login(city_engine, "zhiban")
    new = _user(city_engine, "zhiban").password_hash
    assert new != old and "t=2" in new


# ------------------------------------------------------------------ account changes

def test_set_password_ends_sessions_clears_lock_and_audits(city_engine):
    make_user(city_engine, "zhiban")
    _, token = _login(city_engine, "zhiban")
    with session_scope(city_engine) as s:
        s.execute(User.__table__.update().values(locked_until=T0 + timedelta(hours=1), failed_logins=3))
    with session_scope(city_engine) as s:
        service.set_password(s, "zhiban", "N3w!Password", actor=ADMIN, client="10.1.1.1")
    with session_scope(city_engine, readonly=True) as s, pytest.raises(sessions.SessionInvalid) as exc:
        sessions.check_session(s, token, now=T0)
    assert exc.value.reason == "revoked"
    u = _user(city_engine, "zhiban")
    assert u.locked_until is None and u.failed_logins == 0
    assert _login(city_engine, "zhiban", "N3w!Password")[0].username == "zhiban"
    [row] = audit_rows(city_engine, "user_password_set")
    assert (row.actor, row.object_id, row.detail["sessions_ended"], row.client) == ("root", "zhiban", 1, "10.1.1.1")
    with pytest.raises(PasswordRuleError):
        with session_scope(city_engine) as s:
            service.set_password(s, "zhiban", "weak", actor=ADMIN)


def test_deactivate_ends_sessions_immediately_and_guards_admins(city_engine):
    make_user(city_engine, "zhiban")
    make_user(city_engine, "admin", "sys_admin")
    _, token = _login(city_engine, "zhiban")
    with session_scope(city_engine) as s:
        service.deactivate(s, "zhiban", actor=ADMIN)
    with session_scope(city_engine, readonly=True) as s, pytest.raises(sessions.SessionInvalid):
        sessions.check_session(s, token, now=T0)
    with pytest.raises(service.UserError, match="已是停用状态"):
        with session_scope(city_engine) as s:
            service.deactivate(s, "zhiban", actor=ADMIN)
    with pytest.raises(service.UserError, match="不能停用自己"):
        with session_scope(city_engine) as s:
            service.deactivate(s, "admin", actor=Viewer("admin", "sys_admin", "440900"))
    with pytest.raises(service.UserError, match="最后一个"):
        with session_scope(city_engine) as s:
            service.deactivate(s, "admin", actor=ADMIN)
    with session_scope(city_engine) as s:
        service.activate(s, "zhiban", actor=ADMIN)
    assert _user(city_engine, "zhiban").active
    actions = [r.action for r in audit_rows(city_engine) if r.object_id == "zhiban"]
    assert actions == ["user_create", "login", "user_deactivate", "user_activate"]


def test_unlock_lifts_lockout(city_engine):
    make_user(city_engine, "zhiban")
    for _ in range(settings.get_settings()["auth"]["max_failed_logins"]):
        with pytest.raises(service.LoginFailed):
            _login(city_engine, "zhiban", "Wrong@2026!!")
    with session_scope(city_engine) as s:
        service.unlock(s, "zhiban", actor=SEC)
    assert _login(city_engine, "zhiban")[0].username == "zhiban"
    assert len(audit_rows(city_engine, "user_unlock")) == 1


def test_unknown_target_user(city_engine):
    with pytest.raises(service.UserError, match="不存在"):
        with session_scope(city_engine) as s:
            service.deactivate(s, "' OR 1=1 --", actor=ADMIN)
