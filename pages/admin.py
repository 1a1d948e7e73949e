"""系统管理, split three ways (三权分立): each administrator sees only their own tab(s).

- 系统管理员 (sys_admin): 账号管理 — list, create business accounts, reset passwords, deactivate/activate;
- 安全管理员 (sec_admin): 授权与解锁 (grant roles, unlock, reset a second factor, end sessions) and
  安全策略 (the policy in force);
- 审计管理员 (audit_admin): 审计日志 — read and export.
Reads come from auth.views.AuthViews, writes go through auth.actions; both re-check the role.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from auth import actions, exports, passwords, service, totp
from auth.roles import ADMIN_ROLES, BUSINESS_ROLES, ROLE_NAMES, is_admin_role, role_label
from auth.views import AuthViews, password_policy, security_policy
from events.catalog import get_catalog
from events.intake import SOURCES
from open311 import actions as api_actions
from open311.keys import KeyProblem
from open311.views import ApiKeyViews
from store.period import local_tz
from store.scope import PermissionDenied
from ui import exchange_status, plain
from ui.audit_format import action_label, format_audit_detail
from ui.audit_trail import refuse
from ui.data import app_engine
from ui.session import client_address, require_viewer

viewer = require_viewer()
if not is_admin_role(viewer.role):
    refuse(viewer, "您的角色无权使用系统管理（仅系统管理员、安全管理员、审计管理员）", what="页面 系统管理",
           object_id="admin")
engine = app_engine()
client = client_address()
FORM_ERRORS = (service.UserError, passwords.PasswordRuleError, PermissionDenied, totp.SecondFactorError)
TABS = {"sys_admin": ["账号管理", "接入密钥", "数据交换"], "sec_admin": ["授权与解锁", "安全策略"], "audit_admin": ["审计日志"]}


def _local(ts: datetime | None) -> str:
    return ts.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _flash(kind: str, text: str) -> None:
    st.session_state["admin_flash"] = (kind, text)


def _show_flash() -> None:
    flash = st.session_state.pop("admin_flash", None)
    if flash:
        plain.show(flash[0], flash[1])  # the message names accounts


def _run(action, success: str) -> bool:  # noqa: ANN001
    """Run one auth.actions call; show the Chinese error on bad input."""
    try:
        action()
    except FORM_ERRORS as exc:
        plain.error(str(exc))  # the message may quote what was typed
        return False
    _flash("success", success)
    return True


def _user_filters(prefix: str) -> dict:
    c1, c2, c3 = st.columns([2, 1, 1])
    search = c1.text_input("查找（用户名或姓名）", max_chars=50, key=f"{prefix}-search")
    role = c2.selectbox("角色", [None, *ROLE_NAMES], key=f"{prefix}-role-filter",
                        format_func=lambda r: "全部" if r is None else ROLE_NAMES[r])
    state = c3.selectbox("状态", ["全部", "启用", "停用"], key=f"{prefix}-state")
    return {"search": search or None, "role": role, "active": {"全部": None, "启用": True, "停用": False}[state]}


def _user_table(users: list[dict]) -> None:
    now = datetime.now(local_tz())
    table = pd.DataFrame([
        {"用户名": u["username"], "姓名": u["display_name"], "角色": u["role_name"],
         "管辖区划": f"{u['zone_code']} {u['zone_name']}".strip(), "部门": u["department_code"] or "",
         "状态": "启用" if u["active"] else "停用",
         "二次验证": "已启用" if u["totp_enabled"] else totp.POLICY_NAMES[u["totp_policy"]] + "（未启用）",
         "密码": ("须修改" if u["password_expired"] else "有效") if u["local_password"] else "—",
         "暂停登录至": _local(u["totp_blocked_until"]) if u["totp_blocked_until"] and u["totp_blocked_until"] > now else "",
         "最近登录": _local(u["last_login_at"]), "登录方式": "本地密码" if u["local_password"] else "统一身份认证"}
        for u in users
    ], columns=["用户名", "姓名", "角色", "管辖区划", "部门", "状态", "二次验证", "密码", "暂停登录至", "最近登录", "登录方式"])
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(f"共 {len(users)} 个账号")


def accounts_tab() -> None:
    """系统管理员: accounts."""
    filters = _user_filters("user")
    with AuthViews.open(engine, viewer) as views:
        users = views.users(**filters)
    _user_table(users)
    left, right = st.columns(2)
    with left, st.form("create-user", clear_on_submit=False):
        st.subheader("新建用户")
        new_name = st.text_input("用户名", max_chars=50, help="3–50 位小写字母、数字或 _ . -")
        new_display = st.text_input("姓名", max_chars=50)
        new_role = st.selectbox("角色", list(BUSINESS_ROLES), format_func=ROLE_NAMES.get, key="new-role",
                                help="管理员角色由安全管理员授予（三权分立）")
        new_zone = st.text_input("管辖区划代码", max_chars=15, value=viewer.zone_code,
                                 help="市/区县 6 位、街道 9 位、社区 12 位、网格 15 位")
        new_dept = st.text_input("部门代码（部门处置人员必填）", max_chars=40)
        new_pw = st.text_input("初始密码", type="password", max_chars=passwords.MAX_LENGTH, help=passwords.rules_text() + "。用户首次登录须修改")
        new_pw2 = st.text_input("确认密码", type="password", max_chars=passwords.MAX_LENGTH)
        if st.form_submit_button("创建", type="primary"):
            if new_pw != new_pw2:
                st.error("两次输入的密码不一致")
            elif _run(lambda: actions.create_user(engine, viewer, new_name, new_display, new_role, new_zone,
                                                  new_dept or None, new_pw, client=client),
                      f"已创建用户 {service.normalize_username(new_name)}"):
                st.rerun()

    with right, st.form("user-action", clear_on_submit=True):
        st.subheader("账号操作")
        target = st.selectbox("账号", [u["username"] for u in users], index=None, placeholder="选择账号")
        action = st.radio("操作", ["重置密码", "停用", "启用"], horizontal=True)
        reset_pw = st.text_input("新密码（重置密码时填写）", type="password", max_chars=passwords.MAX_LENGTH, help=passwords.rules_text())
        reset_pw2 = st.text_input("确认新密码", type="password", max_chars=passwords.MAX_LENGTH)
        confirm = st.checkbox("我确认执行此操作")
        st.caption("解除锁定、重置二次验证、变更角色由安全管理员办理。")
        if st.form_submit_button("执行"):
            if not target:
                st.error("请选择账号")
            elif not confirm:
                st.error("请勾选“我确认执行此操作”")
            elif action == "重置密码" and reset_pw != reset_pw2:
                st.error("两次输入的密码不一致")
            else:
                done = {
                    "重置密码": (lambda: actions.reset_password(engine, viewer, target, reset_pw, client=client),
                             f"已重置 {target} 的密码，其登录会话已全部结束，下次登录须修改密码"),
                    "停用": (lambda: actions.deactivate(engine, viewer, target, client=client),
                           f"已停用 {target}，其登录会话已全部结束"),
                    "启用": (lambda: actions.activate(engine, viewer, target, client=client), f"已启用 {target}"),
                }[action]
                if _run(*done):
                    st.rerun()


def grants_tab() -> None:
    """安全管理员: roles, unlock, second-factor reset, sessions."""
    filters = _user_filters("sec")
    with AuthViews.open(engine, viewer) as views:
        users = views.users(**filters)
    _user_table(users)
    with st.form("security-action", clear_on_submit=True):
        st.subheader("授权与解锁")
        target = st.selectbox("授权账号", [u["username"] for u in users], index=None, placeholder="选择账号",
                              key="sec-target")
        action = st.radio("安全操作", ["变更角色", "解除锁定", "重置二次验证", "结束全部会话"], horizontal=True,
                          key="sec-op")
        role = st.selectbox("新角色（变更角色时选择）", list(ROLE_NAMES), format_func=ROLE_NAMES.get, key="sec-role",
                            help="一个账号只有一个角色：授予新角色即收回原角色（三权分立：管理员角色互不兼任）")
        confirm = st.checkbox("我确认执行此安全操作", key="sec-confirm")
        if st.form_submit_button("执行安全操作"):
            if not target:
                st.error("请选择账号")
            elif not confirm:
                st.error("请勾选“我确认执行此安全操作”")
            else:
                done = {
                    "变更角色": (lambda: actions.change_role(engine, viewer, target, role, client=client),
                             f"已将 {target} 的角色改为{role_label(role)}，其登录会话已全部结束"),
                    "解除锁定": (lambda: actions.unlock(engine, viewer, target, client=client), f"已解除 {target} 的登录限制"),
                    "重置二次验证": (lambda: actions.reset_second_factor(engine, viewer, target, client=client),
                               f"已重置 {target} 的二次验证，下次登录时须重新设置"),
                    "结束全部会话": (lambda: actions.end_sessions(engine, viewer, target, client=client),
                               f"已结束 {target} 的全部登录会话"),
                }[action]
                if _run(*done):
                    st.rerun()


def policy_tab() -> None:
    """安全管理员: the policy in force (config.toml [auth] / [security]; changed by the deployment)."""
    st.caption("以下策略来自部署配置（config.toml 的 [auth] 与 [security] 段），修改后重启生效。")
    st.dataframe(pd.DataFrame(password_policy(), columns=["项目", "要求"]), hide_index=True, width="stretch")
    st.dataframe(pd.DataFrame([
        {"角色": r["role_name"], "二次验证": r["second_factor"], "空闲超时（分钟）": r["idle_minutes"],
         "最长会话（小时）": r["session_max_hours"], "同时在线会话上限": r["max_sessions"] or "不限"}
        for r in security_policy()
    ]), hide_index=True, width="stretch")
    st.caption("三权分立：" + "；".join(f"{role_label(r)}" for r in ADMIN_ROLES) + " 互不兼任，一个账号只有一个角色。")


def audit_tab() -> None:
    """审计管理员: the audit log, read and export."""
    with AuthViews.open(engine, viewer) as views:
        known = views.audit_actions()
    today = datetime.now(local_tz()).date()
    f1, f2, f3, f4 = st.columns([1, 1, 1, 2])
    actor = f1.text_input("操作人", max_chars=50, key="audit-actor")
    action = f2.selectbox("动作", [None, *known], key="audit-action",
                          format_func=lambda a: "全部" if a is None else action_label(a))
    object_text = f3.text_input("对象（类型或编号）", max_chars=60, key="audit-object")
    span = f4.date_input("日期范围", value=(today - timedelta(days=6), today), max_value=today,
                         format="YYYY-MM-DD", key="audit-dates")
    since, until = (span if isinstance(span, tuple) and len(span) == 2
                    else (span[0], span[0]) if isinstance(span, tuple) and span else (None, None))
    limit = st.select_slider("最多显示", options=[100, 500, 1000, 5000], value=500, key="audit-limit")
    with AuthViews.open(engine, viewer) as views:
        rows = views.audit_log(actor=actor or None, action=action, object_text=object_text or None,
                               start=since if isinstance(since, date) else None,
                               end=until if isinstance(until, date) else None, limit=limit)
    log = pd.DataFrame([
        {"时间": _local(r["at"]), "操作人": r["actor"], "角色": role_label(r["actor_role"]),
         "动作": action_label(r["action"]), "对象类型": r["object_type"] or "",
         "对象": r["object_id"] or "", "范围": r["scope"] or "", "终端": r["client"] or "",
         "详情": format_audit_detail(r["detail"])}
        for r in rows
    ], columns=["时间", "操作人", "角色", "动作", "对象类型", "对象", "范围", "终端", "详情"])
    st.dataframe(log, hide_index=True, width="stretch")
    st.caption(f"显示 {len(rows)} 条（最新在前）")
    st.download_button(
        "导出审计日志 (Excel)", data=exports.deferred_export(engine, viewer, "审计日志", viewer.zone_code, log,
                                                             client=client),
        file_name=exports.export_file_name("审计日志", viewer.zone_code), mime=exports.XLSX_MIME,
        disabled=log.empty, icon=":material/download:",
    )


def api_keys_tab() -> None:
    """系统管理员: the open intake API's keys (open311) — list, create (shown once), revoke."""
    with ApiKeyViews.open(engine, viewer) as views:
        rows = views.api_keys()
    st.table(pd.DataFrame([{
        "名称": r["name"], "密钥前缀": f"o311_{r['prefix']}_…", "区域": r["zone_code"],
        "类别": "、".join(r["categories"] or []) or "全部", "来源": r["source"], "每分钟上限": r["rate_per_minute"],
        "方式": "延迟创建" if r["deferred"] else "实时", "创建": f"{_local(r['created_at'])} {r['created_by']}",
        "状态": f"已吊销 {_local(r['revoked_at'])}" if r["revoked_at"] else "有效", "最近使用": _local(r["last_used_at"]),
    } for r in rows], columns=["名称", "密钥前缀", "区域", "类别", "来源", "每分钟上限", "方式", "创建", "状态",
                               "最近使用"]).set_index("名称"))
    left, right = st.columns(2)
    with left, st.form("create-api-key"):
        st.subheader("新建接入密钥")
        name = st.text_input("接入系统名称", max_chars=40, help="如 12345热线、巡查平台")
        zone = st.text_input("受理与查询区域代码", max_chars=15, value=viewer.zone_code)
        cats = st.multiselect("允许的大类（不选为全部）", get_catalog().categories())
        source = st.selectbox("案件来源", SOURCES, index=SOURCES.index("12345"))
        rate = st.number_input("每分钟调用上限", min_value=1, max_value=10_000, value=120)
        deferred = st.checkbox("延迟创建（先返回 token）")
        if st.form_submit_button("创建", type="primary"):
            try:
                key, text = api_actions.create_key(engine, viewer, name, zone, categories=cats or None, source=source,
                                                   rate_per_minute=int(rate), deferred=deferred, client=client)
            except (KeyProblem, PermissionDenied) as exc:
                plain.error(str(exc))
            else:
                plain.show("success", f"已创建接入密钥「{key.name}」。密钥只显示这一次，请立即交给接入系统保管：")
                st.code(text, language=None)
    with right, st.form("revoke-api-key"):
        st.subheader("吊销接入密钥")
        target = st.selectbox("密钥", [r["name"] for r in rows if not r["revoked_at"]], index=None,
                              placeholder="选择密钥")
        confirm = st.checkbox("我确认吊销（此后使用它的调用一律拒绝）")
        if st.form_submit_button("吊销"):
            if not target or not confirm:
                st.error("请选择密钥并勾选确认")
            else:
                try:
                    api_actions.revoke_key(engine, viewer, target, client=client)
                except (KeyProblem, PermissionDenied) as exc:
                    plain.error(str(exc))
                else:
                    _flash("success", f"已吊销接入密钥「{target}」")
                    st.rerun()


def replica_section() -> None:
    """系统管理员, under 数据交换: the database's read replica (only when one is configured) — reachable,
    replaying, and how far behind the primary it is (docs/scale-out.md)."""
    try:
        with AuthViews.open(engine, viewer) as views:
            status = views.replica_status()
    except PermissionDenied:
        return
    if status is None:
        return
    st.subheader("数据库只读副本")
    st.caption(f"副本：{plain.md(status['replica'])}　·　看板读取走副本，写入与本会话刚写入后的读取走主库")
    if not status["reachable"]:
        plain.error(f"只读副本无法连接，读取已自动改由主库承担：{status.get('error') or ''}")
    else:
        lag = status["lag_seconds"]
        c1, c2, c3 = st.columns(3)
        c1.metric("复制延迟", "—" if lag is None else f"{lag:.3f} 秒")
        c2.metric("已接收未回放", "—" if status["unreplayed_bytes"] is None else f"{status['unreplayed_bytes']:,} 字节")
        c3.metric("最近回放的事务", _local(status["last_replay_at"]) or "—")
        if not status["in_recovery"]:
            st.warning("所配置的副本不是备库（未处于恢复状态）：请检查 [database].replica_url")
        elif status["replay_paused"]:
            st.warning("副本的回放已暂停：看板数据不再更新，本会话写入后的读取仍走主库")
    states = {"streaming": "流复制中", "catchup": "追赶中", "startup": "启动中", "backup": "备份中", "stopping": "停止中"}
    if status["standbys"]:
        st.dataframe(pd.DataFrame([{
            "备库": f"{s['name']} {s['client'] or ''}".strip(), "状态": states.get(s["state"], s["state"]),
            "发送落后（字节）": s["sent_behind_bytes"], "回放落后（字节）": s["replay_behind_bytes"],
            "回放延迟（秒）": s["replay_lag_seconds"]} for s in status["standbys"]]), hide_index=True, width="stretch")
    else:
        st.warning("主库上没有正在连接的备库（pg_stat_replication 为空）")


def exchange_tab() -> None:
    exchange_status.section(engine, viewer, client=client)  # backlog, failures, replay
    replica_section()


st.title("系统管理")
st.caption(f"{role_label(viewer.role)} · 管理范围：{viewer.zone_code}　·　所有账号变更、授权与登录均写入审计日志（只增不改）")
_show_flash()
DRAW = {"账号管理": accounts_tab, "接入密钥": api_keys_tab, "授权与解锁": grants_tab, "安全策略": policy_tab,
        "审计日志": audit_tab,
        "数据交换": exchange_tab}
for tab, name in zip(st.tabs(TABS[viewer.role]), TABS[viewer.role]):
    with tab:
        DRAW[name]()
