"""AppTest, per role, of the identity screens of issue 19: 系统管理 split three ways (each administrator
sees only their tab), 我的账号 for every role (own password, second factor), the sign-in steps after
the password (enrol / code / password change) driven through app.py with a real session cookie, and
the audit rows of refused pages and personal-data views."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from auth import cookies, roles, service, sessions, totp
from auth.roles import ROLE_NAMES
from store.db import session_scope
from store.models import User
from store.models.auth import AuthSession
from store.scope import Viewer
from tests.test_auth_pages import _app, _by_label, _texts, app_db, synthetic_pages  # noqa: F401
from tests.test_auth_support import PW, audit_rows, auth_test_settings, make_user  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
NEW_PW = "Lantern#River72"
# The system administrator runs the system: accounts, the intake API keys and the exchange status (no
# business data on any of them); security and audit keep their own tabs (三权分立).
TABS = {"sys_admin": ["账号管理", "接入密钥", "数据交换"], "sec_admin": ["授权与解锁", "安全策略"], "audit_admin": ["审计日志"]}


def _page(name: str, viewer: Viewer) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=90)
    at.session_state["viewer"] = viewer
    return at


@pytest.fixture
def people(app_db):
    for name, role, zone in (("xitong", "sys_admin", "440900"), ("anquan", "sec_admin", "440900"),
                             ("shenji", "audit_admin", "440900"), ("maonan", "leader", "440902"),
                             ("zhiban", "duty_officer", "440900"), ("daping", "wall_display", "440900")):
        make_user(app_db, name, role, zone, display_name=ROLE_NAMES[role])
    return app_db


def _viewer(name: str, role: str, zone: str = "440900") -> Viewer:
    return Viewer(name, role, zone, display_name=ROLE_NAMES[role])


# ------------------------------------------------------------------ 系统管理, one tab set per administrator

@pytest.mark.parametrize("role", roles.ADMIN_ROLES)
def test_each_administrator_sees_only_their_tabs(people, role):
    name = {"sys_admin": "xitong", "sec_admin": "anquan", "audit_admin": "shenji"}[role]
    at = _page("admin.py", _viewer(name, role)).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == TABS[role]
    labels = {b.label for b in at.button}
    assert ("创建" in labels) == (role == "sys_admin")
    assert ("执行安全操作" in labels) == (role == "sec_admin")
    texts = {t.key for t in at.text_input if t.key}
    assert ("audit-actor" in texts) == (role == "audit_admin")
    if role == "sys_admin":  # the account administrator offers business roles only
        assert set(at.selectbox(key="new-role").options) == {ROLE_NAMES[r] for r in roles.BUSINESS_ROLES}


def test_security_administrator_grants_a_role_and_resets_a_second_factor(people):
    at = _page("admin.py", _viewer("anquan", "sec_admin")).run()
    at.selectbox(key="sec-target").select("maonan")
    at.radio(key="sec-op").set_value("变更角色")
    at.selectbox(key="sec-role").select("audit_admin")
    at.checkbox(key="sec-confirm").check()
    _by_label(at.button, "执行安全操作").click().run()
    assert not at.exception, at.exception
    assert any("已将 maonan 的角色改为审计管理员" in s.value for s in at.success)
    with session_scope(people, readonly=True) as s:
        assert s.execute(select(User.role).where(User.username == "maonan")).scalar_one() == "audit_admin"
    at.selectbox(key="sec-target").select("zhiban")
    at.radio(key="sec-op").set_value("重置二次验证")
    at.checkbox(key="sec-confirm").check()
    _by_label(at.button, "执行安全操作").click().run()
    assert any("未启用二次验证" in e.value for e in at.error)  # a clear Chinese refusal
    policy = at.dataframe[2].value  # users, password rules, then the per-role table
    assert set(policy["角色"]) == set(ROLE_NAMES.values())
    assert policy.set_index("角色").loc["安全管理员", "二次验证"] == "必须启用"


def test_audit_administrator_reads_the_log_with_the_grants(people):
    service_rows = len(audit_rows(people))
    at = _page("admin.py", _viewer("shenji", "audit_admin")).run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == service_rows
    assert any(b.label == "导出审计日志 (Excel)" for b in at.get("download_button"))


@pytest.mark.parametrize("role", ["duty_officer", "leader", "wall_display"])
def test_refused_admin_page_is_audited_once(people, role):
    viewer = _viewer({"duty_officer": "zhiban", "leader": "maonan", "wall_display": "daping"}[role], role,
                     "440902" if role == "leader" else "440900")
    at = _page("admin.py", viewer).run()
    assert any("无权使用系统管理" in e.value for e in at.error) and len(at.dataframe) == 0
    at.run()  # a rerun of the same tab does not write again
    [row] = audit_rows(people, "access_denied")
    assert (row.actor, row.actor_role, row.object_id) == (viewer.username, role, "admin")


def test_a_product_page_outside_the_role_is_refused_and_audited(people, monkeypatch):
    monkeypatch.setattr(type(st.context), "url", property(lambda self: "http://dash.local:8501/admin"))
    at = _app(viewer=_viewer("maonan", "leader", "440902")).run()
    assert any("无权打开“系统管理”" in e.value for e in at.error), (at.exception, [e.value for e in at.error])
    [row] = audit_rows(people, "access_denied")
    assert (row.actor, row.object_type, row.object_id) == ("maonan", "page", "admin")


# ------------------------------------------------------------------ 我的账号, every role

@pytest.mark.parametrize("role", sorted(ROLE_NAMES))
def test_account_page_for_every_role(app_db, role):
    zone = "440902001001001" if role == "grid_officer" else "440900"
    make_user(app_db, "someone", role, zone, department="CGJ" if role == "department" else None)
    at = _page("account.py", Viewer("someone", role, zone, "CGJ" if role == "department" else None)).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "我的账号"
    texts = _texts(at)
    assert "修改密码" in texts
    policy = totp.policy(role)
    if policy == "off":
        assert "不使用二次验证" in texts
    else:
        assert any(b.label == "确认启用" for b in at.button)  # not enrolled yet: the enrolment panel


def test_change_own_password_on_the_account_page(people):
    at = _page("account.py", _viewer("maonan", "leader", "440902")).run()
    _by_label(at.text_input, "当前密码").input("Wrong@2026!!")
    _by_label(at.text_input, "新密码").input(NEW_PW)
    _by_label(at.text_input, "确认新密码").input(NEW_PW)
    _by_label(at.button, "修改密码").click().run()
    assert any("当前密码不正确" in e.value for e in at.error)
    _by_label(at.text_input, "当前密码").input(PW)
    _by_label(at.text_input, "新密码").input("Password123")
    _by_label(at.text_input, "确认新密码").input("Password123")
    _by_label(at.button, "修改密码").click().run()
    assert any("过于常见" in e.value for e in at.error)
    _by_label(at.text_input, "当前密码").input(PW)
    _by_label(at.text_input, "新密码").input(NEW_PW)
    _by_label(at.text_input, "确认新密码").input(NEW_PW)
    _by_label(at.button, "修改密码").click().run()
    assert not at.exception and any("密码已修改" in s.value for s in at.success)
    assert service.sign_in(people, "maonan", NEW_PW, "10.0.0.1")[0].username == "maonan"


def test_leader_turns_the_optional_second_factor_on_and_sees_recovery_codes(people):
    at = _page("account.py", _viewer("maonan", "leader", "440902")).run()
    secret = at.session_state["account-enrol-secret"]
    assert any(totp.grouped(secret) == c.value for c in at.code)  # the seed as text
    assert len(at.get("image")) == 1  # the QR code, drawn locally
    at.text_input(key="account-enrol-code").input("000000")
    _by_label(at.button, "确认启用").click().run()
    assert any("验证码不正确" in e.value for e in at.error)
    at.text_input(key="account-enrol-code").input(totp.code_at(secret, sessions.utcnow()))
    _by_label(at.button, "确认启用").click().run()
    assert not at.exception, at.exception
    assert any("恢复码" in w.value for w in at.warning)
    codes = [c.value for c in at.code][-1].split("\n")
    assert len(codes) == 10
    with session_scope(people, readonly=True) as s:
        assert s.execute(select(User.totp_enabled_at).where(User.username == "maonan")).scalar_one() is not None
    at.run()
    assert "剩余恢复码 10 个" in _texts(at) and not any(c.value.count("-") == 30 for c in at.code)  # shown once


# ------------------------------------------------------------------ the sign-in steps (app.py, cookie)

def _half_signed_in(engine, name: str, password: str = PW) -> str:  # noqa: ANN001
    _viewer_, token = service.sign_in(engine, name, password, "10.0.0.1")
    return token


def _with_cookie(monkeypatch, token: str) -> None:  # noqa: ANN001
    value = cookies.sign_token(token)
    monkeypatch.setattr("ui.login._cookie_value", lambda name=None: value if name is None else None)


def _registered(at: AppTest) -> set[str]:
    return {Path(i["script_path"]).stem for i in at._registered_pages.values() if i.get("script_path")}  # noqa: SLF001


def test_duty_officer_enrols_then_enters_codes_through_the_app(people, monkeypatch, synthetic_pages):
    token = _half_signed_in(people, "zhiban")
    _with_cookie(monkeypatch, token)
    at = _app().run()
    assert not at.exception, at.exception
    assert "设置二次验证" in _texts(at) and "MARKER" not in _texts(at)
    assert "viewer" not in at.session_state  # nothing of the app runs before the second factor
    secret = at.session_state["sign-in-enrol-secret"]
    at.text_input(key="sign-in-enrol-code").input(totp.code_at(secret, sessions.utcnow()))
    _by_label(at.button, "确认启用").click().run()
    assert not at.exception, at.exception
    assert any("恢复码" in w.value for w in at.warning)
    _by_label(at.button, "我已保存恢复码，进入系统").click().run()
    assert at.session_state["viewer"].username == "zhiban"
    assert "MARKER-p_all" in _texts(at) and "p_duty" in _registered(at)

    # The next sign-in asks for a code; a wrong one is refused with the attempts left.
    token2 = _half_signed_in(people, "zhiban")
    _with_cookie(monkeypatch, token2)
    at = _app().run()
    assert "二次验证" in _texts(at) and "MARKER" not in _texts(at)
    at.text_input(key="sign-in-code").input("000000")
    _by_label(at.button, "验证并登录").click().run()
    assert any("再错 4 次" in e.value for e in at.error)
    later = sessions.utcnow() + timedelta(seconds=30)  # the enrolment used this step's code
    at.text_input(key="sign-in-code").input(totp.code_at(secret, later))
    _by_label(at.button, "验证并登录").click().run()
    assert not at.exception, at.exception
    assert at.session_state["viewer"].role == "duty_officer" and "MARKER-p_all" in _texts(at)


def test_reset_password_is_changed_at_sign_in(people, monkeypatch, synthetic_pages):
    with session_scope(people) as s:
        service.set_password(s, "maonan", "Copper&Valley81", actor=Viewer("xitong", "sys_admin", "440900"))
    token = _half_signed_in(people, "maonan", "Copper&Valley81")
    _with_cookie(monkeypatch, token)
    at = _app().run()
    assert "修改密码" in _texts(at) and "MARKER" not in _texts(at)
    at.text_input(key="sign-in-current").input("Copper&Valley81")
    at.text_input(key="sign-in-new").input(NEW_PW)
    at.text_input(key="sign-in-again").input(NEW_PW)
    _by_label(at.button, "修改密码并登录").click().run()
    assert not at.exception, at.exception
    assert at.session_state["viewer"].username == "maonan" and "MARKER-p_all" in _texts(at)


def test_abandoning_the_second_step_ends_the_session(people, monkeypatch, synthetic_pages):
    token = _half_signed_in(people, "anquan")
    _with_cookie(monkeypatch, token)
    at = _app().run()
    _by_label(at.button, "返回登录（换一个账号）").click().run()
    assert "请登录后使用" in _texts(at) and "设置二次验证" not in _texts(at)
    with session_scope(people, readonly=True) as s:
        assert s.get(AuthSession, sessions.token_hash(token)).revoked_at is not None


# ------------------------------------------------------------------ audit trail helpers in a screen

def test_personal_data_views_are_audited_once_per_tab(people):
    def screen():
        from store.scope import Viewer as V
        from ui import audit_trail

        for _ in range(2):
            audit_trail.note_personal_view(V("zhiban", "duty_officer", "440900"), "event", 7, ["reporter_phone"],
                                           scope="440902001001001")
            audit_trail.note_personal_view(V("maonan", "leader", "440902"), "event", 8, ["reporter_phone"])

    at = AppTest.from_function(screen, default_timeout=60).run()
    assert not at.exception, at.exception
    at.run()
    rows = audit_rows(people, "personal_data_view")
    assert [(r.actor, r.object_id) for r in rows] == [("zhiban", "7")]  # masked views are not personal-data views
