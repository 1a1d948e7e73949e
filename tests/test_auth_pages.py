"""AppTest: app.py registers exactly the signed-in role's pages (a page outside the role cannot be
opened, not even by URL), the login gate (cookie → viewer, expired/revoked sessions, messages), and
pages/admin.py as an administrator (and refused to other roles)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

import settings
from auth import cookies, roles, service, sessions
from auth.roles import ROLE_NAMES, PageSpec
from store.db import dispose_engines, session_scope
from store.models import User
from store.scope import Viewer
from tests.test_auth_support import PW, audit_rows, auth_test_settings, make_user  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
ADMIN = Viewer("xitong", "sys_admin", "440900", display_name="系统管理员")
AUDITOR = Viewer("shenji", "audit_admin", "440900", display_name="审计管理员")


def _point_app_at(engine, monkeypatch):  # noqa: ANN001
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    dispose_engines()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def app_db(city_engine, monkeypatch):
    _point_app_at(city_engine, monkeypatch)
    yield city_engine
    st.cache_resource.clear()
    st.cache_data.clear()


def _app(**state) -> AppTest:  # noqa: ANN003
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "success", "info", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


# ------------------------------------------------------------------ roles → pages

@pytest.fixture
def synthetic_pages(tmp_path, monkeypatch):
    """A page table of marker pages, so the test exercises app.py's registration (not the content of
    the product's pages): each page only writes its marker."""
    specs = []
    plan = [("p_duty", {"duty_officer"}), ("p_lead", {"duty_officer", "leader"}), ("p_dept", {"department"}),
            ("p_grid", {"grid_officer"}), ("p_admin", set(roles.ADMIN_ROLES)), ("p_all", set(ROLE_NAMES))]
    for name, allowed in plan:
        path = tmp_path / f"{name}.py"
        path.write_text(f"import streamlit as st\nst.markdown('MARKER-{name}')\n", encoding="utf-8")
        specs.append(PageSpec(str(path), name, ":material/circle:", frozenset(allowed), name,
                              default_for=frozenset(ROLE_NAMES) if name == "p_all" else frozenset()))
    monkeypatch.setattr(roles, "PAGES", tuple(specs))
    return specs


@pytest.mark.parametrize("role", sorted(ROLE_NAMES))
def test_app_registers_exactly_the_roles_pages(sqlite_city_engine, monkeypatch, synthetic_pages, role):
    _point_app_at(sqlite_city_engine, monkeypatch)
    zone = "440902001001001" if role == "grid_officer" else "440900"
    viewer = Viewer(f"u_{role}", role, zone, "CGJ" if role == "department" else None, "测试")
    at = _app(viewer=viewer).run()
    assert not at.exception, at.exception
    registered = {str(Path(info["script_path"]).resolve()) for info in at._registered_pages.values()}  # noqa: SLF001
    allowed = {str(Path(p.path).resolve()) for p in synthetic_pages if role in p.roles}
    assert registered == allowed
    assert "MARKER-p_all" in _texts(at)  # the role's default page ran
    for spec in synthetic_pages:
        if role in spec.roles:
            at.switch_page(spec.path).run()
            assert f"MARKER-{spec.url_path}" in _texts(at) and not at.exception
        else:
            # Not registered: there is no way to reach it, not even by its file or URL.
            with pytest.raises(ValueError):
                at.switch_page(spec.path)


def test_signed_out_registers_only_the_login_screen(sqlite_city_engine, monkeypatch, synthetic_pages):
    _point_app_at(sqlite_city_engine, monkeypatch)
    at = _app().run()
    assert not at.exception
    texts = _texts(at)
    assert "请登录后使用" in texts and "MARKER" not in texts
    # Every page URL shows the login form (deep links survive), no page script is registered.
    infos = list(at._registered_pages.values())  # noqa: SLF001
    # (the default page is served at the root, so its url_pathname is "")
    assert {i.get("url_pathname") for i in infos} == {"", *(p.url_path for p in synthetic_pages)}
    assert all(not i.get("script_path") for i in infos)


def test_real_page_table_is_consistent():
    for role in ROLE_NAMES:
        pages = roles.pages_for(role)
        assert pages, f"role {role} has no page"
        assert sum(role in p.default_for for p in pages) <= 1
        assert all(role in p.roles for p in pages)
    assert [p.url_path for p in roles.PAGES if p.path == "pages/admin.py"] == ["admin"]
    # Administrators see 系统管理 and 我的账号 only (no business data); everyone has 我的账号.
    for role in roles.ADMIN_ROLES:
        assert [p.url_path for p in roles.pages_for(role)] == ["admin", "account"]
    assert all(any(p.url_path == "account" for p in roles.pages_for(r)) for r in ROLE_NAMES)
    assert len({p.url_path for p in roles.PAGES}) == len(roles.PAGES)
    for p in roles.PAGES:
        assert (ROOT / p.path).is_file(), p.path
        assert set(p.roles) <= set(ROLE_NAMES)
        if "admin" in p.path:
            assert p.roles == set(roles.ADMIN_ROLES)


# ------------------------------------------------------------------ cookie → viewer

def _signed_cookie(engine, name: str, now=None) -> str:  # noqa: ANN001
    with session_scope(engine) as s:
        token = sessions.open_session(s, name, client="127.0.0.1", now=now)
    return cookies.sign_token(token)


def test_cookie_signs_in_and_scopes_the_viewer(app_db, monkeypatch, synthetic_pages):
    make_user(app_db, "wangge", "grid_officer", "440902001001001", display_name="网格员")
    value = _signed_cookie(app_db, "wangge")
    monkeypatch.setattr("ui.login._cookie_value", lambda name=None: value if name is None else None)
    at = _app().run()
    assert not at.exception
    assert at.session_state["viewer"] == Viewer("wangge", "grid_officer", "440902001001001", None, "网格员")
    registered = {Path(info["script_path"]).stem for info in at._registered_pages.values()}  # noqa: SLF001
    assert registered == {"p_grid", "p_all"}


@pytest.mark.parametrize("case, expected", [
    ("idle", "未操作"), ("revoked", "会话已结束"), ("tampered", "登录已过期"), ("inactive", "账号已停用"),
])
def test_bad_sessions_show_the_login_screen_with_the_reason(app_db, monkeypatch, synthetic_pages, case, expected):
    make_user(app_db, "zhiban")
    value = _signed_cookie(app_db, "zhiban",
                           now=sessions.utcnow() - timedelta(minutes=200) if case == "idle" else None)
    if case == "revoked":
        service.sign_out(app_db, cookies.unsign_token(value))
    elif case == "tampered":
        value = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    elif case == "inactive":
        with session_scope(app_db) as s:
            s.execute(User.__table__.update().values(active=False))
    monkeypatch.setattr("ui.login._cookie_value", lambda name=None: value if name is None else None)
    # A viewer left in session_state from earlier reruns must not survive a bad cookie.
    at = _app(viewer=Viewer("zhiban", "duty_officer", "440900")).run()
    assert not at.exception
    texts = _texts(at)
    assert "请登录后使用" in texts and expected in texts and "MARKER" not in texts
    assert "viewer" not in at.session_state


@pytest.mark.parametrize("params, expected", [
    ({"auth_error": "locked", "auth_wait": "420"}, "请 7 分钟后再试"),
    ({"auth_error": "locked", "auth_wait": "7"}, "请 7 秒后再试"),
    ({"auth_error": "client_locked", "auth_wait": "3"}, "本终端"),
    ({"auth_error": "invalid"}, "用户名或密码错误"),
    ({"auth_error": "<script>alert(1)</script>"}, "用户名或密码错误"),
    ({"auth_error": "locked", "auth_wait": "99999999"}, "请 1 秒后再试"),
    ({"auth_notice": "logged_out"}, "已安全退出"),
])
def test_login_screen_messages_from_the_redirect(app_db, monkeypatch, synthetic_pages, params, expected):
    at = _app()
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert expected in _texts(at)
    assert "<script>" not in _texts(at)


def test_login_form_posts_to_the_route_and_keeps_the_deep_link(app_db, monkeypatch, synthetic_pages):
    from ui import login

    html = login.login_form_html('/dispatch?region=440902&x="><script>')
    assert 'action="/auth/login"' in html and 'method="post"' in html
    assert 'value="/dispatch?region=440902&amp;x=&quot;&gt;&lt;script&gt;"' in html


# ------------------------------------------------------------------ pages/admin.py

def _admin_page(viewer: Viewer = ADMIN) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=90)
    at.session_state["viewer"] = viewer
    return at


def _by_label(widgets, label):  # noqa: ANN001
    return next(w for w in widgets if w.label == label)


@pytest.fixture
def admin_db(app_db):
    make_user(app_db, "xitong", "sys_admin", "440900", display_name="系统管理员")
    make_user(app_db, "maonan", "leader", "440902", display_name="区领导")
    make_user(app_db, "dianbai", "leader", "440904", display_name="电白领导")
    return app_db


def test_admin_page_lists_users_and_audit(admin_db):
    at = _admin_page().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "系统管理"
    users = at.dataframe[0].value
    assert list(users["用户名"]) == ["dianbai", "maonan", "xitong"]
    assert set(users["角色"]) == {"系统管理员", "领导"}
    assert len(at.dataframe) == 1  # no audit log for the account administrator
    at = _admin_page(AUDITOR).run()
    assert not at.exception, at.exception
    log = at.dataframe[0].value
    assert (log["动作"] == "新建用户").sum() == 3


def test_admin_creates_user_with_validation(admin_db):
    at = _admin_page().run()

    def fill(**values):  # noqa: ANN003
        for label, value in values.items():
            _by_label(at.text_input, label).input(value)

    fill(**{"用户名": "wangge2", "姓名": "网格员二", "管辖区划代码": "440902001001001", "初始密码": PW,
            "确认密码": PW + "x"})
    at.selectbox(key="new-role").select("grid_officer")
    _by_label(at.button, "创建").click().run()
    assert any("两次输入的密码不一致" in e.value for e in at.error)

    fill(**{"确认密码": PW, "管辖区划代码": "' OR 1=1 --"})
    _by_label(at.button, "创建").click().run()
    assert any("不存在" in e.value for e in at.error)

    fill(**{"管辖区划代码": "440902001001001"})
    _by_label(at.button, "创建").click().run()
    assert not at.exception
    assert any("已创建用户 wangge2" in s.value for s in at.success)
    with session_scope(admin_db, readonly=True) as s:
        u = s.execute(select(User).where(User.username == "wangge2")).scalar_one()
    assert (u.role, u.zone_code) == ("grid_officer", "440902001001001")
    [row] = [r for r in audit_rows(admin_db, "user_create") if r.object_id == "wangge2"]
    assert (row.actor, row.actor_role) == ("xitong", "sys_admin")


def test_admin_deactivates_and_resets(admin_db):
    at = _admin_page().run()
    _by_label(at.selectbox, "账号").select("maonan")
    _by_label(at.radio, "操作").set_value("停用")
    _by_label(at.button, "执行").click().run()
    assert any("请勾选" in e.value for e in at.error)  # confirmation required
    _by_label(at.selectbox, "账号").select("maonan")
    _by_label(at.radio, "操作").set_value("停用")
    _by_label(at.checkbox, "我确认执行此操作").check()
    _by_label(at.button, "执行").click().run()
    assert not at.exception and any("已停用 maonan" in s.value for s in at.success)
    users = at.dataframe[0].value
    assert users.set_index("用户名").loc["maonan", "状态"] == "停用"

    _by_label(at.selectbox, "账号").select("dianbai")
    _by_label(at.radio, "操作").set_value("重置密码")
    _by_label(at.text_input, "新密码（重置密码时填写）").input("weak")
    _by_label(at.text_input, "确认新密码").input("weak")
    _by_label(at.checkbox, "我确认执行此操作").check()
    _by_label(at.button, "执行").click().run()
    assert any("至少 10 位" in e.value for e in at.error)
    assert [r.object_id for r in audit_rows(admin_db, "user_deactivate")] == ["maonan"]
    assert audit_rows(admin_db, "user_password_set") == []


@pytest.mark.parametrize("text", ["' OR 1=1 --", "%", "_", "\\", "管理员\x00'--", "𠀀"])
def test_admin_filters_treat_input_as_data(admin_db, text):
    at = _admin_page().run()
    at.text_input(key="user-search").input(text)
    at.run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.empty
    at = _admin_page(AUDITOR).run()
    at.text_input(key="audit-actor").input(text)
    at.text_input(key="audit-object").input(text)
    at.run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.empty


def test_district_admin_sees_only_their_zone(admin_db):
    at = _admin_page(Viewer("dadmin", "sys_admin", "440902")).run()
    assert not at.exception
    assert list(at.dataframe[0].value["用户名"]) == ["maonan"]


@pytest.mark.parametrize("role", ["duty_officer", "leader", "department", "grid_officer", "wall_display"])
def test_admin_page_refuses_other_roles(admin_db, role):
    at = _admin_page(Viewer("x", role, "440900", "CGJ")).run()
    assert not at.exception
    assert any("无权" in e.value for e in at.error)
    assert len(at.dataframe) == 0


@pytest.mark.parametrize("role", sorted(ROLE_NAMES))
def test_app_registers_the_real_page_table_per_role(sqlite_city_engine, monkeypatch, role):
    """The product's own page table: app.py registers exactly pages_for(role) for each role. (Only the
    registration is checked here; each page's content has its own AppTests.)"""
    _point_app_at(sqlite_city_engine, monkeypatch)
    zone = "440902001001001" if role == "grid_officer" else "440900"
    at = _app(viewer=Viewer(f"u_{role}", role, zone, "CGJ" if role == "department" else None)).run()
    registered = {str(Path(i["script_path"]).resolve()) for i in at._registered_pages.values()}  # noqa: SLF001
    assert registered == {str((ROOT / p.path).resolve()) for p in roles.pages_for(role)}
