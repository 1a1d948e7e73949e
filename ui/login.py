"""Sign-in for the Streamlit script: who is looking (from the session cookie), the login screen, and
the sidebar's sign-out.

The cookie is set and cleared by the HTTP routes in auth/web.py (served by server.py); the script
only reads it, through `st.context.cookies` (the cookies of the websocket handshake, so they are
fixed for the life of a browser tab). Every rerun re-checks the server-side session, so idle expiry,
logout elsewhere and deactivation take effect on the next interaction.
"""
from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

import streamlit as st

import settings
from auth import cookies, csrf, oidc, roles, service, sessions
from auth.demo import DEMO_PASSWORD, demo_users
from auth.roles import ROLE_NAMES
from auth.service import LOGIN_MESSAGES, LoginFailed, login_message
from auth.web import AUTH_PARAMS, ERROR_PARAM, LOGIN_PATH, NOTICE_PARAM, WAIT_PARAM
from store.db import session_scope
from store.meta import is_demo
from store.scope import Viewer
from ui import sign_in_steps
from ui.data import app_engine
from ui.session import client_address, current_viewer

_REASON_KEY = "auth_reason"
_OIDC_AUDITED_KEY = "auth_oidc_audited"
_LOGGED_OUT_KEY = "auth_logged_out"


def _cookie_value(name: str | None = None) -> str | None:
    """A cookie of this browser tab (default: the session cookie; None when absent)."""
    try:
        value = st.context.cookies.get(name or cookies.cookie_name())
    except Exception:  # noqa: BLE001 - no browser context (bare script run)
        return None
    # Only a real request header yields a string (AppTest's stand-in client does not).
    return value if isinstance(value, str) and value else None


def current_token() -> str | None:
    """The session token in this tab's cookie (signature checked; None when absent or tampered)."""
    raw = _cookie_value()
    return cookies.unsign_token(raw) if raw else None


def form_csrf(purpose: str) -> str:
    """The CSRF token for a form posting to an auth route, bound to this browser's csrf cookie
    (auth/csrf.py; "" without the cookie — the route then asks for a refresh)."""
    return csrf.form_token(purpose, _cookie_value(csrf.COOKIE_NAME))


def _forget(reason: str) -> None:
    st.session_state.pop("viewer", None)
    st.session_state[_REASON_KEY] = reason


def _oidc_enabled() -> bool:
    try:
        return oidc.secrets_have_provider(st.secrets.to_dict())
    except Exception:  # noqa: BLE001 - no secrets.toml, or unreadable
        return False


def _oidc_viewer() -> Viewer | None:
    """The Viewer of a user signed in through st.login, mapped by [auth.oidc]; audited once per tab."""
    try:
        if not st.user.is_logged_in:
            return None
        claims = st.user.to_dict()
    except Exception:  # noqa: BLE001 - auth not configured
        return None
    try:
        viewer = oidc.map_claims(claims)
        engine = app_engine()
        if not st.session_state.get(_OIDC_AUDITED_KEY):
            oidc.sign_in(engine, viewer, client=client_address())
            st.session_state[_OIDC_AUDITED_KEY] = True
        else:
            with session_scope(engine, readonly=True) as s:
                if not oidc.user_is_active(s, viewer.username):
                    raise LoginFailed("inactive", login_message("inactive"))
    except (oidc.OidcMappingError, LoginFailed) as exc:
        st.session_state[_REASON_KEY] = str(exc)
        st.session_state.pop("viewer", None)
        return None
    st.session_state["viewer"] = viewer
    return viewer


def resolve_viewer(*, touch: bool = True) -> Viewer | None:
    """The signed-in Viewer for this rerun (also kept in st.session_state["viewer"]), or None.

    1. A session cookie is present: its signature, the server-side session (idle / absolute expiry,
       revocation) and the user's active flag decide; a bad cookie signs the tab out.
    2. Otherwise a user signed in through st.login (OIDC), mapped to a role and zone.
    3. Otherwise whatever st.session_state holds (set only by server code, e.g. tests).
    """
    raw = _cookie_value()
    if raw:
        token = cookies.unsign_token(raw)
        if token is None:
            _forget("expired")
            return None
        try:
            viewer = sessions.resolve_token(app_engine(), token, touch=touch)
        except sessions.SessionInvalid as exc:
            _forget(exc.reason)
            return None
        st.session_state["viewer"] = viewer
        return viewer
    if _oidc_enabled():
        viewer = _oidc_viewer()
        if viewer is not None:
            return viewer
    return current_viewer()


def _next_target() -> str:
    """Where to come back after signing in: this page with its query (scope, period...), minus our
    own auth parameters; the login page's own path maps to the home page."""
    try:
        path = urlsplit(st.context.url or "/").path or "/"
    except Exception:  # noqa: BLE001
        path = "/"
    if path.rstrip("/").endswith("/login"):
        path = path.rstrip("/")[: -len("login")] or "/"
    query = {k: v for k, v in st.query_params.to_dict().items() if k not in AUTH_PARAMS}
    return path + (f"?{urlencode(query)}" if query else "")


def _message() -> tuple[str, str] | None:
    """(kind, text) to show above the form: a failed attempt, a lockout, or why the session ended."""
    code = st.query_params.get(ERROR_PARAM)
    if code:
        wait = st.query_params.get(WAIT_PARAM)
        wait_seconds = int(wait) if wait and wait.isascii() and wait.isdigit() and len(wait) < 6 else None
        return "error", login_message(code if code in LOGIN_MESSAGES else "invalid", wait_seconds)
    if st.query_params.get(NOTICE_PARAM) == "logged_out" or st.session_state.get(_LOGGED_OUT_KEY):
        return "success", "您已安全退出登录"
    reason = st.session_state.get(_REASON_KEY)
    if reason:
        if reason in LOGIN_MESSAGES:
            return "warning", login_message(reason)
        if reason == "unknown":
            return "warning", login_message("expired")
        return "warning", str(reason)
    return None


_FORM_CSS = """
<style>
.cityops-login {margin: 0 auto;}
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.cityops-login label {display:block; font-size: .9rem; margin: .9rem 0 .3rem; color: #E6EDF7;}
.cityops-login input[type=text], .cityops-login input[type=password] {
  width: 100%; box-sizing: border-box; padding: .6rem .75rem; font-size: 1rem; border-radius: .5rem;
  border: 1px solid rgba(230,237,247,.25); background: #111B2E; color: #E6EDF7; outline: none;}
.cityops-login input:focus {border-color: #3BA3FF;}
.cityops-login button {width: 100%; margin-top: 1.4rem; padding: .65rem; font-size: 1rem; border: 0;
  border-radius: .5rem; background: #3BA3FF; color: #0B1220; font-weight: 600; cursor: pointer;}
.cityops-login .hint {font-size: .8rem; opacity: .7; margin-top: .8rem;}
</style>
"""


def login_form_html(next_target: str, csrf_token: str = "") -> str:
    """The login form: a plain HTML form posting to /auth/login, because only an HTTP response can
    set the HttpOnly cookie (st.html renders it into the page; no JavaScript involved)."""
    nxt = html.escape(next_target, quote=True)
    token = html.escape(csrf_token, quote=True)
    return f"""{_FORM_CSS}
<form class="cityops-login" method="post" action="{LOGIN_PATH}" autocomplete="on">
  <input type="hidden" name="next" value="{nxt}">
  <input type="hidden" name="{csrf.FIELD}" value="{token}">
  <label for="cityops-username">用户名</label>
  <input id="cityops-username" type="text" name="username" required maxlength="50" autocomplete="username"
         autocapitalize="none" spellcheck="false">
  <label for="cityops-password">密码</label>
  <input id="cityops-password" type="password" name="password" required maxlength="256"
         autocomplete="current-password">
  <button type="submit">登录</button>
  <div class="hint">连续输错密码将暂时锁定账号；长时间未操作会自动退出。</div>
</form>
"""


def _demo_accounts() -> list[dict] | None:
    """The demo accounts, only on a database built by the demo seeder (never in production)."""
    try:
        with session_scope(app_engine(), readonly=True) as s:
            if not is_demo(s):
                return None
            return [dict(u, password=DEMO_PASSWORD) for u in demo_users(s)]
    except Exception:  # noqa: BLE001 - no database yet: no hint
        return None


def render() -> None:
    """The login screen (registered by app.py as the only page while nobody is signed in)."""
    title = settings.get_settings()["app"]["title"]
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.markdown(f"<h2 style='text-align:center;margin-top:8vh'>{html.escape(title)}</h2>",
                    unsafe_allow_html=True)
        st.caption("请登录后使用。本系统含政务数据与个人信息，所有操作均记录审计日志。")
        # Password accepted, a step still owed (second factor, password change): that step, not the form.
        if sign_in_steps.render_pending(current_token()):
            return
        message = _message()
        if message:
            getattr(st, message[0])(message[1])
        st.html(login_form_html(_next_target(), form_csrf("login")))
        if _oidc_enabled():
            st.divider()
            try:
                names = oidc.provider_names(st.secrets.to_dict())
            except Exception:  # noqa: BLE001
                names = []
            for name in names or [None]:
                label = "统一身份认证登录" + (f"（{name}）" if name else "")
                if st.button(label, key=f"oidc-{name}", width="stretch"):
                    if name:
                        st.login(name)
                    else:
                        st.login()
        demo = _demo_accounts()
        if demo:
            with st.expander("演示环境账号"):
                st.caption(f"演示数据库：所有演示账号的密码均为 {demo[0]['password']}。值班员和三类管理员首次登录时须用手机验证器 App 设置二次验证。")
                st.dataframe(
                    [{"用户名": u["username"], "姓名": u["display_name"], "角色": ROLE_NAMES[u["role"]],
                      "管辖区划": u["zone_code"], "部门": u.get("department_code") or ""} for u in demo],
                    hide_index=True, width="stretch",
                )


def signed_out_pages() -> list:
    """What app.py registers while nobody is signed in: the login screen at the home URL and under
    every page's URL path, so a shared deep link (/dispatch?region=…) shows the login form instead of
    Streamlit's "page not found", and keeps its path for the redirect after signing in. No page
    script is registered, so nothing of a page runs before sign-in."""
    pages = [st.Page(render, title="登录", url_path="login", default=True)]
    for path in dict.fromkeys(p.url_path for p in roles.PAGES):
        if path != "login":
            pages.append(st.Page(render, title="登录", url_path=path))
    return pages


def logout() -> None:
    """Sign this tab out (called by the sidebar's 退出登录 button). The server-side session is
    revoked and audited here — the cookie left in the browser no longer opens anything — and the
    rerun shows the sign-in form. (The POST /auth/logout route does the same for a form post and also
    deletes the cookie; a link or image can never sign anyone out.) OIDC sessions end via st.logout."""
    raw = _cookie_value()
    token = cookies.unsign_token(raw) if raw else None
    if token:
        service.sign_out(app_engine(), token, client_address())
    st.session_state.pop("viewer", None)
    st.session_state.pop(_OIDC_AUDITED_KEY, None)
    st.session_state[_LOGGED_OUT_KEY] = True
    if token is None and _oidc_enabled():
        try:
            if st.user.is_logged_in:
                st.logout()
                return
        except Exception:  # noqa: BLE001 - auth not configured
            pass
    st.rerun()
