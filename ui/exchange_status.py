"""数据交换 on 系统管理 (系统管理员): each destination's backlog, last success, pause and last error; the
rows that failed or wait to retry, with their reasons; upward timeliness; and replay. Records are named
by kind and object number only, never their content (三权分立: no business data for administrators).
Reads come from exchange.views, the replay from exchange.actions (both re-check manage_exchange)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from exchange import actions
from exchange.destinations import LABELS
from exchange.views import ExchangeViews
from store.period import local_tz
from store.scope import PermissionDenied, Viewer
from ui import plain

STATES = {"pending": "等待重试", "failed": "已失败", "delivered": "已送达"}


def _local(ts: datetime | None) -> str:
    return ts.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def section(engine: Engine, viewer: Viewer, *, client: str | None = None) -> None:
    now = datetime.now(timezone.utc)
    flash = st.session_state.pop("exchange-flash", None)
    if flash:
        plain.show(*flash)
    try:
        with ExchangeViews.open(engine, viewer) as views:
            status = views.destination_status(now=now)
            failures = views.failures(limit=100)
            timely = views.timeliness()
    except PermissionDenied as exc:
        plain.error(str(exc))
        return
    st.subheader("各目的地")
    if not status:
        st.info("还没有交换记录。上级平台在 config.toml [exchange].upper_url 配置后开始上报。")
    else:
        st.dataframe(pd.DataFrame([{
            "目的地": r["label"], "待发送": r["pending"], "最早待发送": _local(r["oldest_pending"]),
            "失败": r["failed"], "最近成功": _local(r["last_success_at"]), "最近失败": _local(r["last_failure_at"]),
            "暂停至": _local(r["paused_until"]), "最近错误": r["last_error"] or ""} for r in status]),
            hide_index=True, width="stretch")
    done = timely["on_time"] + timely["late"]
    rate = f"{timely['on_time'] / done * 100:.1f}%" if done else "—"
    st.caption(f"上报上级平台：按时送达 {timely['on_time']} 条，超时送达 {timely['late']} 条，未送达 {timely['waiting']} 条；"
               f"及时率 {rate}（指标库「上报及时率」按区域、统计期计算）")

    st.subheader("失败与重试")
    if not failures:
        st.success("没有失败或等待重试的记录")
    else:
        st.dataframe(pd.DataFrame([{
            "编号": f["delivery_id"], "目的地": f["label"], "状态": STATES.get(f["state"], f["state"]),
            "已尝试": f["attempts"], "HTTP": f["last_status"] or "", "原因": f["last_error"] or "",
            "下次尝试": _local(f["next_attempt_at"]), "记录类型": f["kind"],
            "对象": f"{f['object_type'] or ''} {f['object_ref'] or ''}".strip(), "产生时间": _local(f["created_at"])}
            for f in failures]), hide_index=True, width="stretch")

    st.subheader("重发")
    with st.form("exchange-replay"):
        destination = st.selectbox("目的地", list(LABELS), format_func=LABELS.get)
        waiting = st.checkbox("连同正在退避等待的记录立即重发", help="默认只重发已失败的记录")
        if st.form_submit_button("重发", type="primary"):
            try:
                message = actions.replay(engine, viewer, destination, include_waiting=waiting, client=client)
            except (PermissionDenied, LookupError) as exc:
                plain.error(str(exc))
            else:
                st.session_state["exchange-flash"] = ("success", message)
                st.rerun()
