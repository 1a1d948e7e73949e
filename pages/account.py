"""我的账号 (every role): change one's own password (current password required), the second factor
(set up, recovery codes, turn off where optional), and the account's password age and sessions."""
from __future__ import annotations

from datetime import datetime

import streamlit as st

from auth import actions, passwords, service, totp
from auth.views import AuthViews
from store.period import local_tz
from ui import plain, second_factor
from ui.data import app_engine
from ui.login import current_token
from ui.session import client_address, require_viewer

viewer = require_viewer()
engine = app_engine()
client = client_address()
ENROL_KEY = "account-enrol"


def _local(ts: datetime | None) -> str:
    return ts.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M") if ts else "—"


st.title("我的账号")
with AuthViews.open(engine, viewer) as views:
    me = views.account()
if me is None:
    st.info("当前登录身份没有本地账号记录。")
    st.stop()
flash = st.session_state.pop("account-flash", None)
if flash:
    st.success(flash)
second_factor.show_codes_once()

st.caption(f"{plain.md(me['display_name'])}（{plain.md(me['username'])}）· {me['role_name']} · 管辖 {me['zone_code']}"
           f" · 最近登录 {_local(me['last_login_at'])} · 当前在线会话 {me['live_sessions']} 个")

# -- password -----------------------------------------------------------------------------------------
st.subheader("修改密码")
if not me["local_password"]:
    st.info("您通过统一身份认证登录，请在身份认证平台修改密码。")
else:
    expires = me["password_expires_at"]
    st.caption(f"上次修改：{_local(me['password_changed_at'])}" + (f"　·　有效期至：{_local(expires)}" if expires else ""))
    with st.form("own-password", clear_on_submit=True):
        current = st.text_input("当前密码", type="password", max_chars=passwords.MAX_LENGTH)
        new = st.text_input("新密码", type="password", max_chars=passwords.MAX_LENGTH, help=passwords.rules_text())
        again = st.text_input("确认新密码", type="password", max_chars=passwords.MAX_LENGTH)
        if st.form_submit_button("修改密码", type="primary"):
            if new != again:
                st.error("两次输入的新密码不一致")
            else:
                try:
                    ended = actions.change_own_password(engine, viewer.username, current, new, token=current_token(),
                                                        client=client)
                except (service.UserError, passwords.PasswordRuleError) as exc:
                    st.error(str(exc))
                else:
                    st.session_state["account-flash"] = "密码已修改" + (f"，已结束您的其他 {ended} 个登录会话" if ended else "")
                    st.rerun()

# -- second factor --------------------------------------------------------------------------------------
st.subheader("二次验证（动态验证码）")
policy = me["totp_policy"]
if policy == "off":
    st.info("您的角色不使用二次验证。")
elif me["totp_enabled"]:
    st.success(f"已启用（{_local(me['totp_enabled_at'])}）· 剩余恢复码 {me['recovery_left']} 个")
    if me["recovery_left"] <= 2:
        st.warning("恢复码所剩不多，请重新生成并妥善保管。")
    if st.button("重新生成恢复码（旧的全部作废）", key="regen-codes"):
        try:
            second_factor.keep_codes(actions.regenerate_recovery_codes(engine, viewer, client=client))
        except totp.SecondFactorError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    if policy == "optional":
        with st.form("disable-2fa", clear_on_submit=True):
            code = st.text_input("停用二次验证：输入当前动态验证码或一个恢复码", max_chars=24)
            if st.form_submit_button("停用二次验证"):
                try:
                    actions.disable_second_factor(engine, viewer, code, client=client)
                except totp.SecondFactorError as exc:
                    st.error(str(exc))
                else:
                    st.session_state["account-flash"] = "二次验证已停用"
                    st.rerun()
    else:
        st.caption("您的角色必须使用二次验证。更换手机请联系安全管理员重置，下次登录时重新设置。")
else:
    st.caption("启用后，登录时除密码外还需输入手机验证器 App 生成的 6 位动态验证码。")
    submitted = second_factor.enrolment(viewer.username, ENROL_KEY)
    if submitted is not None:
        try:
            codes = actions.enrol(engine, viewer, *submitted, client=client)
        except totp.SecondFactorError as exc:
            st.error(str(exc))
        else:
            second_factor.forget(ENROL_KEY)
            second_factor.keep_codes(codes)
            st.session_state["account-flash"] = "二次验证已启用，下次登录起生效"
            st.rerun()
