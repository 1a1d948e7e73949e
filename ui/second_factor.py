"""Screens of the second factor shared by the sign-in step (ui/login.py) and 我的账号 (pages/account.py):
the enrolment panel (QR code drawn locally, the seed as text and as an otpauth:// link) and the
one-time display of recovery codes."""
from __future__ import annotations

import streamlit as st

from auth import totp

_CODES_KEY = "second_factor_codes_once"


def enrolment(username: str, key: str) -> tuple[str, str] | None:
    """Draw the enrolment panel. The seed lives in this tab's session state until confirmed (nothing
    is stored before the user proves their app holds it). Returns (seed, typed code) on submit."""
    secret = st.session_state.setdefault(f"{key}-secret", totp.new_secret())
    uri = totp.provisioning_uri(secret, username)
    st.markdown("1. 在手机上打开验证器 App（如 FreeOTP、Google Authenticator、Microsoft Authenticator、"
                "阿里云 App 等支持 TOTP 的应用）；\n"
                "2. 扫描二维码，或手动输入下面的密钥；\n"
                "3. 输入 App 显示的 6 位数字完成设置。")
    left, right = st.columns([1, 2])
    left.image(totp.qr_png(uri), caption="用验证器 App 扫描", width=220)
    with right:
        st.markdown("**手动输入的密钥**（基于时间 TOTP，6 位，30 秒）")
        st.code(totp.grouped(secret), language=None)
        with st.expander("otpauth:// 链接"):
            st.code(uri, language=None, wrap_lines=True)
    with st.form(f"{key}-form"):
        code = st.text_input("验证器显示的 6 位数字", max_chars=8, key=f"{key}-code")
        if st.form_submit_button("确认启用", type="primary"):
            return secret, code
    return None


def forget(key: str) -> None:
    st.session_state.pop(f"{key}-secret", None)


def keep_codes(codes: list[str]) -> None:
    """Remember freshly made recovery codes for the next run, which shows them once."""
    st.session_state[_CODES_KEY] = list(codes)


def show_codes_once() -> bool:
    """Show recovery codes kept by `keep_codes` (then forget them). True when some were shown."""
    codes = st.session_state.pop(_CODES_KEY, None)
    if not codes:
        return False
    show_codes(codes)
    return True


def show_codes(codes: list[str]) -> None:
    st.warning("请立即抄写或打印下面的恢复码并妥善保管：手机丢失时，可在登录时用一个恢复码代替动态验证码，"
               "每个只能使用一次。离开本页后将不再显示。")
    st.code("\n".join(codes), language=None)
