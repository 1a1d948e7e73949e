"""指挥调度: the queue of cases to register and dispatch (most urgent deadline first), filters, batch
立案/派遣, live refresh, and the case panel with map, photos, timeline and the allowed actions.
Leaders see everything and may approve extensions and 挂账, but not register or dispatch."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

import settings
from auth.roles import can
from events import queries as Q
from events import workflow
from events.batch import batch_transition
from events.intake import SOURCES
from store.db import session_scope
from ui import case_panel
from ui.chrome import resolve_scope
from ui.data import app_engine
from ui.session import require_viewer

viewer = require_viewer()
code, crumbs, _kids = resolve_scope(viewer)
engine = app_engine()
cfg = settings.get_settings()
refresh = int(cfg["app"].get("refresh_seconds", 30))
may_dispatch = can(viewer.role, "dispatch_event")
may_register = can(viewer.role, "register_event")

st.markdown(f"### 指挥调度 · {' › '.join(c['name'] for c in crumbs)}")

STATUS_VIEWS = {
    "待办（待立案 + 待派遣）": list(Q.QUEUE_STATUSES),
    "全部在办": list(workflow.OPEN_STATUSES),
    "待核查 / 待结案": ["handled", "verified", "verify_failed"],
    "待审批（延期 / 挂账）": ["extension_requested", "hang_requested"],
    **{f"仅「{name}」": [s] for s, name in workflow.STATUS_NAMES.items()},
}
default_view = "待审批（延期 / 挂账）" if viewer.role == "leader" else "待办（待立案 + 待派遣）"
categories = sorted({c for kinds in Q.category_tree().values() for c in kinds})

with st.container(border=True):
    f1, f2, f3, f4 = st.columns(4)
    view = f1.selectbox("状态", list(STATUS_VIEWS), index=list(STATUS_VIEWS).index(default_view), key="dq_view")
    category = f2.selectbox("大类", [None, *categories], format_func=lambda v: "全部大类" if v is None else v,
                            key="dq_category")
    source = f3.selectbox("来源", [None, *SOURCES], format_func=lambda v: "全部来源" if v is None else v,
                          key="dq_source")
    deadline = f4.selectbox("时限", [None, "overdue", "warning"], key="dq_deadline",
                            format_func=lambda v: {None: "全部", "overdue": "已超期", "warning": "即将超期"}[v])
    g1, g2 = st.columns([3, 1])
    search = g1.text_input("搜索（案件编号或标题）", key="dq_search", placeholder="如 1024 或 占道经营")
    page_no = g2.number_input("页码", min_value=1, value=1, step=1, key="dq_page")


@st.fragment(run_every=refresh)
def live_queue() -> None:
    now = datetime.now(timezone.utc)
    with session_scope(engine, readonly=True) as s:
        counts = Q.status_counts(s, viewer, code, now=now)
        page = Q.queue(s, viewer, statuses=STATUS_VIEWS[view], category=category, source=source, region=code,
                       deadline=deadline, search=search or None, page=int(page_no), now=now)
    m = st.columns(6)
    m[0].metric("待立案", counts["reported"])
    m[1].metric("待派遣", counts["registered"])
    m[2].metric("处置中", counts["dispatched"] + counts["handling"] + counts["extension_requested"])
    m[3].metric("待核查/结案", counts["handled"] + counts["verified"] + counts["verify_failed"])
    m[4].metric("已超期", counts["overdue"])
    m[5].metric("即将超期", counts["warning"])
    st.caption(f"共 {page.total} 件，第 {page.page}/{page.pages} 页 · 每 {refresh} 秒自动刷新 · "
               f"更新于 {Q.fmt_time(now, '%H:%M:%S')}")
    if not page.rows:
        st.info("没有符合条件的案件")
        return
    frame = pd.DataFrame(page.rows)
    shown = frame[["id", "deadline_state_name", "remaining", "status_name", "priority_name", "category",
                   "subcategory", "title", "source", "street", "department", "reported_at"]].rename(columns={
        "id": "编号", "deadline_state_name": "时限状态", "remaining": "剩余/超期", "status_name": "状态",
        "priority_name": "紧急", "category": "大类", "subcategory": "小类", "title": "标题", "source": "来源",
        "street": "街道", "department": "处置部门", "reported_at": "上报时间"})
    picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="multi-row", key="dq_table")
    rows = picked.selection.rows if picked is not None else []
    chosen = frame.iloc[rows] if rows else frame.iloc[0:0]
    st.session_state["dq_chosen"] = chosen[["id", "version", "status"]].to_dict("records")
    if len(rows) == 1 and str(chosen.iloc[0]["id"]) != st.query_params.get("case"):
        st.query_params["case"] = str(int(chosen.iloc[0]["id"]))
        st.rerun()
    if len(rows) > 1 and (may_dispatch or may_register):
        batch(chosen)


def batch(chosen: pd.DataFrame) -> None:
    reported = [(int(r.id), int(r.version)) for r in chosen.itertuples() if r.status == "reported"]
    registered = [(int(r.id), int(r.version)) for r in chosen.itertuples() if r.status == "registered"]
    with st.container(border=True):
        st.markdown(f"**批量处理** · 已选 {len(chosen)} 件（待立案 {len(reported)}，待派遣 {len(registered)}）")
        c1, c2 = st.columns(2)
        if may_register and reported and c1.button(f"批量立案（{len(reported)} 件）", key="dq_batch_register"):
            show(batch_transition(engine, viewer, reported, "register"))
        if may_dispatch and registered:
            with session_scope(engine, readonly=True) as s:
                options = Q.list_department_options(s, code)
            names = {d["code"]: d["name"] for d in options}
            target = c2.selectbox("派往", [None, *names], key="dq_batch_dept",
                                  format_func=lambda v: "各案按系统推荐部门" if v is None else names[v])
            reason = c2.text_input("改派原因（指定部门时必填）", key="dq_batch_reason")
            if c2.button(f"批量派遣（{len(registered)} 件）", key="dq_batch_dispatch", type="primary"):
                show(batch_transition(engine, viewer, registered, "dispatch", department_code=target, reason=reason))


def show(results) -> None:  # noqa: ANN001
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    if good:
        st.success(f"成功 {len(good)} 件：" + "；".join(r.message for r in good[:10]))
    for r in bad:
        st.warning(r.message)


live_queue()

st.divider()
qp_case = st.query_params.get("case", "")
if st.session_state.get("dq_seen_case") != qp_case:  # a row was picked (or a deep link opened)
    st.session_state["dq_case_input"] = qp_case
    st.session_state["dq_seen_case"] = qp_case
case_text = st.text_input("打开案件（编号）", key="dq_case_input").strip().lstrip("#")
if case_text.isdigit():
    if case_text != qp_case:
        st.query_params["case"] = case_text
        st.session_state["dq_seen_case"] = case_text
    case_panel.render(engine, viewer, int(case_text), key="dispatch")
elif case_text:
    st.warning("案件编号应为数字")
else:
    st.caption("在上方列表中选中一件案件（或输入编号）查看详情与可执行的操作；选中多件可批量立案、派遣。")
