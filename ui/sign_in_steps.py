"""The steps of signing in that come after a correct password, drawn in place of the login form while
the browser's session is half signed in (auth.sessions stage ≠ "full"):

- "enrol": set up the second factor (roles that require it, first sign-in);
- "totp": type the authenticator's code, or a recovery code;
- "password": change an expired password, or one an administrator set.

The password was checked by the POST /auth/login route, which set the session cookie; each step here
moves that same server-side session on (auth.actions), and the next rerun signs the tab in. Until the
last step the session resolves to no Viewer at all, so nothing else of the app can run.
"""
from __future__ import annotations

import streamlit as st

from auth import actions, passwords, service, sessions, totp
from auth.roles import role_label
from store.scope import Viewer
from ui import plain, second_factor
from ui.data import app_engine
from ui.session import client_address

_ENROL_KEY = "sign-in-enrol"
TITLES = {"enrol": "设置二次验证", "totp": "二次验证", "password": "修改密码"}


def render_pending(token: str | None) -> bool:
    """Draw the step this browser's session still owes. False (nothing drawn) when the session is
    not half signed in — the caller then shows the login form."""
    if not token:
        return False
    engine = app_engine()
    try:
        viewer, stage, _enabled = actions.pending_step(engine, token)
    except sessions.SessionInvalid:
        return False
    st.subheader(TITLES[stage])
    st.caption(f"{plain.md(viewer.display_name or viewer.username)}（{plain.md(viewer.username)}）· {role_label(viewer.role)}")
    {"enrol": _enrol, "totp": _code, "password": _password}[stage](engine, token, viewer)
    st.divider()
    if st.button("返回登录（换一个账号）", key="sign-in-cancel"):
        actions.cancel_sign_in(engine, token, client=client_address())
        second_factor.forget(_ENROL_KEY)
        st.rerun()
    return True


def _enrol(engine, token: str, viewer: Viewer) -> None:  # noqa: ANN001
    st.info(f"您的角色（{role_label(viewer.role)}）必须使用二次验证：登录时除密码外，还需输入手机验证器 App 生成的动态验证码。")
    submitted = second_factor.enrolment(viewer.username, _ENROL_KEY)
    if submitted is None:
        return
    try:
        codes, _stage = actions.enrol_at_sign_in(engine, token, *submitted, client=client_address())
    except totp.SecondFactorError as exc:
        st.error(str(exc))
        return
    second_factor.forget(_ENROL_KEY)
    # The session is already signed in: the next rerun (the button below) opens the app, so the
    # codes are shown in this run, once.
    st.success("二次验证已启用。")
    second_factor.show_codes(codes)
    st.button("我已保存恢复码，进入系统", type="primary", key="sign-in-continue")


def _code(engine, token: str, viewer: Viewer) -> None:  # noqa: ANN001
    with st.form("sign-in-totp"):
        code = st.text_input("动态验证码", max_chars=24, key="sign-in-code",
                             help="验证器 App 显示的 6 位数字；手机不在身边时，可输入一个恢复码（xxxx-xxxx-xxxx-xxxx）")
        if st.form_submit_button("验证并登录", type="primary"):
            try:
                actions.verify_second_factor(engine, token, code, client=client_address())
            except totp.SecondFactorError as exc:
                st.error(str(exc))
                return
            except sessions.SessionInvalid as exc:
                st.error(str(exc))
                return
            st.rerun()


def _password(engine, token: str, viewer: Viewer) -> None:  # noqa: ANN001
    st.info("您的密码已过期，或由管理员重置，请设置一个新密码后继续。")
    with st.form("sign-in-password"):
        current = st.text_input("当前密码", type="password", max_chars=passwords.MAX_LENGTH, key="sign-in-current")
        new = st.text_input("新密码", type="password", max_chars=passwords.MAX_LENGTH, help=passwords.rules_text(), key="sign-in-new")
        again = st.text_input("确认新密码", type="password", max_chars=passwords.MAX_LENGTH, key="sign-in-again")
        if st.form_submit_button("修改密码并登录", type="primary"):
            if new != again:
                st.error("两次输入的新密码不一致")
                return
            try:
                actions.change_own_password(engine, viewer.username, current, new, token=token,
                                            client=client_address())
            except (service.UserError, passwords.PasswordRuleError) as exc:
                st.error(str(exc))
                return
            st.rerun()
