"""部门处置: the cases dispatched to the viewer's department — to sign for, in hand, waiting for approval,
挂账, and fed back — with feedback (photos), extension requests, 挂账 requests and 退回 on the case panel."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

import settings
from events import queries as Q
from store.db import session_scope
from ui import case_panel
from ui.context import current_period
from ui.data import app_engine
from ui.session import require_viewer

viewer = require_viewer()
engine = app_engine()
period = current_period()
refresh = int(settings.get_settings()["app"].get("refresh_seconds", 30))

if viewer.role == "department" and not viewer.department_code:
    st.error("您的账号未关联处置部门，请联系管理员")
    st.stop()

with session_scope(engine, readonly=True) as s:
    names = Q.department_names(s, [viewer.department_code])
dept_name = names.get(viewer.department_code, viewer.department_code or "")
st.markdown(f"### 部门处置 · {dept_name}")

TABS = {
    "待签收": ["dispatched"],
    "处置中": ["handling", "extension_requested", "hang_requested"],
    "已反馈": ["handled", "verified", "verify_failed"],
    "挂账": ["hung"],
}


@st.fragment(run_every=refresh)
def overview() -> None:
    now = datetime.now(timezone.utc)
    with session_scope(engine, readonly=True) as s:
        figures = Q.department_figures(s, viewer, period, now=now)
        counts = Q.status_counts(s, viewer, now=now)
    c = st.columns(4)
    c[0].metric("在办", figures["open"])
    c[1].metric("已超期", figures["overdue"])
    c[2].metric(f"{period.label}处置", figures["handled"])
    rate = figures["handle_on_time_rate"]
    c[3].metric("按期处置率", "—" if rate is None else f"{rate:.1f}%")
    st.caption(f"待签收 {counts['dispatched']} · 处置中 {counts['handling']} · 延期待批 {counts['extension_requested']}"
               f" · 挂账待批 {counts['hang_requested']} · 每 {refresh} 秒自动刷新")


overview()

tab = st.segmented_control("案件", list(TABS), default="待签收", key="dept_tab") or "待签收"
with session_scope(engine, readonly=True) as s:
    page = Q.department_cases(s, viewer, statuses=TABS[tab], page_size=200)
if not page.rows:
    st.info(f"没有「{tab}」的案件")
else:
    frame = pd.DataFrame(page.rows)
    shown = frame[["id", "deadline_state_name", "remaining", "status_name", "priority_name", "subcategory", "title",
                   "street"]].rename(columns={"id": "编号", "deadline_state_name": "时限", "remaining": "剩余/超期",
                                              "status_name": "状态", "priority_name": "紧急", "subcategory": "小类",
                                              "title": "标题", "street": "街道"})
    picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="single-row", key=f"dept_table_{tab}")
    rows = picked.selection.rows if picked is not None else []
    if rows:
        st.session_state["dept_case"] = int(frame.iloc[rows[0]]["id"])
    ids = frame["id"].astype(int).tolist()
    current = st.session_state.get("dept_case")
    choice = st.selectbox("查看案件", ids, index=ids.index(current) if current in ids else 0, key=f"dept_pick_{tab}",
                          format_func=lambda i: f"#{i} {frame.loc[frame['id'] == i, 'title'].iloc[0]}")
    st.session_state["dept_case"] = choice
    st.divider()
    case_panel.render(engine, viewer, int(choice), key="department")
