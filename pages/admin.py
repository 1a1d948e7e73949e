"""系统管理: accounts (list, create, reset password, deactivate/activate, unlock) and the audit log."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from auth import exports, passwords, queries, service
from auth.roles import ROLE_NAMES
from store.db import session_scope
from store.period import local_tz
from store.scope import PermissionDenied
from ui.data import app_engine
from ui.session import require_viewer

viewer = require_viewer("manage_users")
engine = app_engine()
FORM_ERRORS = (service.UserError, passwords.PasswordRuleError, PermissionDenied)


def _local(ts: datetime | None) -> str:
    return ts.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _flash(kind: str, text: str) -> None:
    st.session_state["admin_flash"] = (kind, text)


def _show_flash() -> None:
    flash = st.session_state.pop("admin_flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])


def _run(action, success: str) -> bool:  # noqa: ANN001
    """Run `action(session)` in one transaction; show the Chinese error on bad input."""
    try:
        with session_scope(engine) as s:
            action(s)
    except FORM_ERRORS as exc:
        st.error(str(exc))
        return False
    _flash("success", success)
    return True


st.title("系统管理")
st.caption(f"管理范围：{viewer.zone_code}　·　所有账号变更与登录均写入审计日志（只增不改）")
_show_flash()
users_tab, audit_tab = st.tabs(["用户管理", "审计日志"])

with users_tab:
    c1, c2, c3 = st.columns([2, 1, 1])
    search = c1.text_input("查找（用户名或姓名）", max_chars=50, key="user-search")
    role_filter = c2.selectbox("角色", [None, *ROLE_NAMES], format_func=lambda r: "全部" if r is None else ROLE_NAMES[r])
    state_filter = c3.selectbox("状态", ["全部", "启用", "停用"])
    active = {"全部": None, "启用": True, "停用": False}[state_filter]
    with session_scope(engine, readonly=True) as s:
        users = queries.list_users(s, viewer, search=search or None, role=role_filter, active=active)
    now = datetime.now(local_tz())
    table = pd.DataFrame([
        {"用户名": u["username"], "姓名": u["display_name"], "角色": u["role_name"],
         "管辖区划": f"{u['zone_code']} {u['zone_name']}".strip(), "部门": u["department_code"] or "",
         "状态": "启用" if u["active"] else "停用",
         "锁定至": _local(u["locked_until"]) if u["locked_until"] and u["locked_until"] > now else "",
         "最近登录": _local(u["last_login_at"]), "登录方式": "本地密码" if u["local_password"] else "统一身份认证"}
        for u in users
    ], columns=["用户名", "姓名", "角色", "管辖区划", "部门", "状态", "锁定至", "最近登录", "登录方式"])
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(f"共 {len(users)} 个账号")

    left, right = st.columns(2)
    with left, st.form("create-user", clear_on_submit=False):
        st.subheader("新建用户")
        new_name = st.text_input("用户名", max_chars=50, help="3–50 位小写字母、数字或 _ . -")
        new_display = st.text_input("姓名", max_chars=50)
        new_role = st.selectbox("角色", list(ROLE_NAMES), format_func=ROLE_NAMES.get, key="new-role")
        new_zone = st.text_input("管辖区划代码", max_chars=15, value=viewer.zone_code,
                                 help="市/区县 6 位、街道 9 位、社区 12 位、网格 15 位")
        new_dept = st.text_input("部门代码（部门处置人员必填）", max_chars=40)
        new_pw = st.text_input("初始密码", type="password", help=passwords.rules_text())
        new_pw2 = st.text_input("确认密码", type="password")
        if st.form_submit_button("创建", type="primary"):
            if new_pw != new_pw2:
                st.error("两次输入的密码不一致")
            elif _run(lambda s: service.create_user(s, new_name, new_display, new_role, new_zone, new_dept or None,
                                                    password=new_pw, actor=viewer),
                      f"已创建用户 {service.normalize_username(new_name)}"):
                st.rerun()

    with right, st.form("user-action", clear_on_submit=True):
        st.subheader("账号操作")
        names = [u["username"] for u in users]
        target = st.selectbox("账号", names, index=None, placeholder="选择账号")
        action = st.radio("操作", ["重置密码", "解除锁定", "停用", "启用"], horizontal=True)
        reset_pw = st.text_input("新密码（重置密码时填写）", type="password", help=passwords.rules_text())
        reset_pw2 = st.text_input("确认新密码", type="password")
        confirm = st.checkbox("我确认执行此操作")
        if st.form_submit_button("执行"):
            if not target:
                st.error("请选择账号")
            elif not confirm:
                st.error("请勾选“我确认执行此操作”")
            elif action == "重置密码" and reset_pw != reset_pw2:
                st.error("两次输入的密码不一致")
            else:
                done = {
                    "重置密码": (lambda s: service.set_password(s, target, reset_pw, actor=viewer),
                             f"已重置 {target} 的密码，其登录会话已全部结束"),
                    "解除锁定": (lambda s: service.unlock(s, target, actor=viewer), f"已解除 {target} 的登录锁定"),
                    "停用": (lambda s: service.deactivate(s, target, actor=viewer), f"已停用 {target}，其登录会话已全部结束"),
                    "启用": (lambda s: service.activate(s, target, actor=viewer), f"已启用 {target}"),
                }[action]
                if _run(*done):
                    st.rerun()

with audit_tab:
    with session_scope(engine, readonly=True) as s:
        actions = queries.audit_actions(s, viewer)
    today = datetime.now(local_tz()).date()
    f1, f2, f3, f4 = st.columns([1, 1, 1, 2])
    actor = f1.text_input("操作人", max_chars=50, key="audit-actor")
    action = f2.selectbox("动作", [None, *actions], key="audit-action",
                          format_func=lambda a: "全部" if a is None else queries.ACTION_NAMES.get(a, a))
    object_text = f3.text_input("对象（类型或编号）", max_chars=60, key="audit-object")
    span = f4.date_input("日期范围", value=(today - timedelta(days=6), today), max_value=today,
                         format="YYYY-MM-DD", key="audit-dates")
    since, until = (span if isinstance(span, tuple) and len(span) == 2
                    else (span[0], span[0]) if isinstance(span, tuple) and span else (None, None))
    limit = st.select_slider("最多显示", options=[100, 500, 1000, 5000], value=500, key="audit-limit")
    with session_scope(engine, readonly=True) as s:
        rows = queries.audit_log(s, viewer, actor=actor or None, action=action, object_text=object_text or None,
                                 since=since if isinstance(since, date) else None,
                                 until=until if isinstance(until, date) else None, limit=limit)
    log = pd.DataFrame([
        {"时间": _local(r["at"]), "操作人": r["actor"], "角色": ROLE_NAMES.get(r["actor_role"] or "", ""),
         "动作": queries.ACTION_NAMES.get(r["action"], r["action"]), "对象类型": r["object_type"] or "",
         "对象": r["object_id"] or "", "范围": r["scope"] or "", "终端": r["client"] or "",
         "详情": "" if r["detail"] is None else str(r["detail"])}
        for r in rows
    ], columns=["时间", "操作人", "角色", "动作", "对象类型", "对象", "范围", "终端", "详情"])
    st.dataframe(log, hide_index=True, width="stretch")
    st.caption(f"显示 {len(rows)} 条（最新在前）")
    st.download_button(
        "导出审计日志 (Excel)", data=exports.deferred_export(engine, viewer, "审计日志", viewer.zone_code, log),
        file_name=exports.export_file_name("审计日志", viewer.zone_code), mime=exports.XLSX_MIME,
        disabled=log.empty, icon=":material/download:",
    )
