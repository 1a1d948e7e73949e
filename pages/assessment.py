"""考核评价: the monthly / quarterly / yearly assessment of departments, districts and grid officers — the
数字化城市管理 evaluation figures, the weighted score, the ranking with 环比, the cases behind any figure,
and the Excel 考核通报. Leaders and the duty room see all three rankings of their zone; a department its
own row in the departments' ranking; a grid officer their own grid."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from auth.roles import can
from events.statuses import STATUS_NAMES
from indicators.drill import NoCasesBehind
from situation import assessment as A
from store.period import Period, local_tz
from store.scope import PermissionDenied
from ui import plain
from ui.chrome import resolve_scope
from ui.data import app_engine
from ui.session import client_address, require_viewer

viewer = require_viewer()
code, crumbs, _kids = resolve_scope(viewer)
engine = app_engine()
today = datetime.now(local_tz()).date()

st.markdown(f"### 考核评价 · {' › '.join(plain.md(c['name']) for c in crumbs)}")

c1, c2 = st.columns([1, 2])
grain = c1.radio("考核周期", list(A.GRAINS), format_func=A.GRAINS.get, horizontal=True, key="as_grain")
if grain == "month":
    options, p = [], Period.current_month(today)
    for _ in range(24):
        options.append(p)
        p = p.previous()
elif grain == "quarter":
    q = (today.month - 1) // 3 + 1
    options = []
    p = A.quarter(today.year, q)
    for _ in range(8):
        options.append(p)
        p = A.previous(p)
else:
    options = [Period.parse(str(y)) for y in range(today.year, today.year - 5, -1)]
period = c2.selectbox("统计期", options, format_func=A.period_label, key=f"as_period_{grain}")

subjects = A.subjects_for(viewer)
if not subjects:
    st.info("您的角色没有考核评价")
    st.stop()
tabs = st.tabs([A.SUBJECT_NAMES[s] + "考核" for s in subjects])
results: list[A.Assessment] = []
for subject, tab in zip(subjects, tabs):
    with tab:
        try:
            a = A.assess(viewer, code, period, subject, engine=engine)
        except PermissionDenied as exc:
            plain.warning(str(exc))
            continue
        results.append(a)
        st.caption(f"{A.period_label(a.period)}，环比 {A.period_label(a.previous)}；权重："
                   + "、".join(f"{i['name']} {i['weight']:g}" for i in a.indicators if i["weight"]))
        for note in a.notes:
            st.caption(note)
        table = a.table
        if table.empty:
            st.info("当前范围没有考核对象")
            continue
        shown = pd.DataFrame({"名次": table["rank"], "名次变化": table["rank_change"], a.scheme.subject_label: table["name"]})
        if subject == "officer":
            shown["网格员"] = table["officer"]
        for i in a.indicators:
            shown[f"{i['name']}（{i['unit']}）"] = [None if v is None else round(float(v), i["decimals"])
                                                   for v in table.get(i["id"], [None] * len(table))]
        shown["综合得分"] = table["score"]
        shown["上期得分"] = table["prev_score"]
        shown["得分变化"] = table["score_change"]
        shown["本单位"] = ["★" if own else "" for own in table["own"]]
        picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                              key=f"as_table_{subject}")
        rows = picked.selection.rows if picked is not None else []
        st.markdown("##### 下钻到案件")
        keys = table["key"].tolist()
        names = dict(zip(table["key"], table["name"]))
        own_rows = [k for k, own in zip(keys, table["own"]) if own]
        default = keys[rows[0]] if rows else (own_rows[0] if own_rows else keys[0])
        d1, d2 = st.columns(2)
        key = d1.selectbox(a.scheme.subject_label, keys, index=keys.index(default), format_func=names.get,
                           key=f"as_drill_key_{subject}")
        ind = d2.selectbox("指标", [i["id"] for i in a.indicators], key=f"as_drill_ind_{subject}",
                           format_func={i["id"]: i["name"] for i in a.indicators}.get)
        try:
            cases = A.cases_behind(engine, viewer, a, key, ind)
        except (NoCasesBehind, KeyError, PermissionDenied) as exc:
            plain.info(str(exc))
            cases = None
        if cases is not None:
            if not cases:
                st.caption("没有可查看的案件（部门人员只能查看本部门的案件）")
            else:
                st.dataframe(pd.DataFrame({
                    "编号": [c["id"] for c in cases], "标题": [c["title"] for c in cases],
                    "小类": [c["subcategory"] for c in cases], "状态": [STATUS_NAMES.get(c["status"], c["status"])
                                                                   for c in cases],
                    "上报时间": [c["reported_at"] for c in cases],
                    "计入分子": ["" if c["counted"] is None else ("是" if c["counted"] else "否") for c in cases]}),
                    hide_index=True, width="stretch")
                st.caption(f"共 {len(cases)} 件（最多列出 500 件）；「计入分子」指该案件计入比率的分子（如按期处置）。")

if results and can(viewer.role, "export"):
    if st.button("生成考核通报（Excel）", key="as_export"):
        data = A.report_workbook(engine, viewer, results, scope_name=crumbs[-1]["name"] if crumbs else "",
                                 client=client_address())
        st.session_state["as_workbook"] = data
    if st.session_state.get("as_workbook"):
        st.download_button("下载考核通报", st.session_state["as_workbook"], mime=A.XLSX_MIME,
                           file_name=f"考核通报-{period.key}.xlsx", key="as_download")
