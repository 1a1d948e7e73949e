"""督办研判: supervised cases (挂牌督办 one case or a department's whole overdue list), the cases the rules
escalated, and the day's 研判 — hotspots and 12345 surges on a map, each with the cases behind it.
Leaders and the command centre."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from events.statuses import STATUS_NAMES
from geo import layers as L
from supervision.layers import hotspot_layer, supervised_layer
from supervision.rules import UNITS, load_rules
from supervision.views import SupervisionViews
from ui import case_panel, plain, supervision as supervision_parts
from ui.chrome import resolve_scope
from ui.data import app_engine
from ui.params import int_param, parse_id
from ui.session import client_address, require_viewer

viewer = require_viewer()
code, crumbs, _kids = resolve_scope(viewer)
engine = app_engine()
now = datetime.now(timezone.utc)

st.markdown(f"### 督办研判 · {' › '.join(plain.md(c['name']) for c in crumbs)}")

with SupervisionViews.open(engine, viewer) as v:
    supervised = v.supervised_cases(code, now=now)
    escalated = v.escalated_cases(code, now=now, limit=200)
    escalations = v.escalations(code, limit=200)
    found = v.hotspots(code)
    day = v.hotspot_day(code)
    overdue_by_dept = v.department_overdue(code, now=now)

late = sum(1 for r in supervised if r["supervision_late"])
m = st.columns(4)
m[0].metric("在办督办件", len(supervised))
m[1].metric("督办逾期", late)
m[2].metric("超期升级（本级及以上）", len(escalated))
m[3].metric("今日研判发现", len(found))

tab_sv, tab_esc, tab_hot = st.tabs(["督办", "超期升级", "研判"])


def _cases_table(rows: list[dict], key: str) -> list[int]:
    """A case table; returns the ids of the rows picked."""
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    shown = pd.DataFrame({
        "编号": frame["id"], "标题": frame["title"], "小类": frame["subcategory"],
        "状态": [STATUS_NAMES.get(s, s) for s in frame["status"]], "督办": frame["supervision_name"],
        "督办时限": frame["supervision_deadline"], "升级": frame["escalation_name"], "环节时限": frame["deadline"]})
    picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key=key)
    return [int(frame.iloc[i]["id"]) for i in (picked.selection.rows if picked is not None else [])]


with tab_sv:
    if supervised:
        box = (min(r["lon"] for r in supervised) - 0.01, min(r["lat"] for r in supervised) - 0.01,
               max(r["lon"] for r in supervised) + 0.01, max(r["lat"] for r in supervised) + 0.01)
        st.pydeck_chart(L.deck([supervised_layer(supervised)], L.view_for_bbox(box, width=900, height=320)),
                        height=320, key="sv_map")
        picked = _cases_table(supervised, "sv_table")
        if picked:
            st.query_params["case"] = str(picked[0])
    else:
        st.info("当前范围没有在办的督办件")
    st.markdown("##### 挂牌督办某一案件")
    st.session_state.setdefault("sv_case", st.query_params.get("case", ""))
    case_id, problem = parse_id(st.text_input("案件编号", key="sv_case"), "案件编号")
    if problem:
        plain.warning(problem)
    if case_id is not None:
        case_panel.render(engine, viewer, case_id, key="supervision")
    st.markdown("##### 部门超期清单整体督办")
    if overdue_by_dept:
        names = {d["department_code"]: f"{d['department']}（超期 {d['overdue']} 件）" for d in overdue_by_dept}
        dept = st.selectbox("处置部门", list(names), format_func=lambda c: names[c], key="sv_dept")
        supervision_parts.supervise_form(engine, viewer, key=f"sv-dept-{dept}", department_code=dept, region=code,
                                         client=client_address())
    else:
        st.caption("当前范围内没有部门有超期案件")

with tab_esc:
    st.caption("升级规则（supervision/escalation.yaml）：" + "；".join(r.describe() for r in load_rules()))
    st.markdown("##### 已升级到本级及以上的在办案件")
    if escalated:
        picked = _cases_table(escalated, "esc_table")
        if picked:
            st.query_params["case"] = str(picked[0])
            case_panel.render(engine, viewer, picked[0], key="escalated")
    else:
        st.info("没有升级到本级的在办案件")
    st.markdown("##### 升级记录")
    if escalations:
        st.dataframe(pd.DataFrame([{"时间": e["at"], "案件": e["case_id"], "标题": e["title"], "升级至": e["level_name"],
                                    "超期": f"{e['overdue']:g} {UNITS[e['unit']]}",
                                    "规则": e["rule"]} for e in escalations]), hide_index=True, width="stretch")
    else:
        st.caption("暂无升级记录")

with tab_hot:
    if day is None:
        st.info("尚无研判结果：研判每日运行（python manage.py supervision hotspots）")
    else:
        st.caption(f"{day:%Y-%m-%d} 研判：本周（前 7 天）案件数显著高于自身前 8 周基线的网格、街道（按大类），以及全市"
                   "激增的 12345 诉求（按小类）。检验为两 Poisson 计数的精确条件检验，按 Benjamini–Hochberg 控制"
                   "错误发现率。")
    if found:
        located = [r for r in found if r["lon"] is not None]
        if located:
            st.pydeck_chart(L.deck([hotspot_layer(located)], L.view_for_bbox(
                (min(r["lon"] for r in located) - 0.05, min(r["lat"] for r in located) - 0.05,
                 max(r["lon"] for r in located) + 0.05, max(r["lat"] for r in located) + 0.05),
                width=900, height=360)), height=360, key="hot_map")
        frame = pd.DataFrame([{"编号": r["id"], "类型": r["kind_name"], "区域": r["region_name"], "类别": r["topic"],
                               "本周": r["observed"], "基线（周均）": round(r["expected"], 1), "倍数": r["ratio"],
                               "q 值": f"{r['q_value']:.3g}", "案件": r["cases"]} for r in found])
        picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                              key="hot_table")
        rows = picked.selection.rows if picked is not None else []
        wanted = int(found[rows[0]]["id"]) if rows else int_param("hotspot", "研判编号")
        if wanted is not None:
            with SupervisionViews.open(engine, viewer) as v:
                behind = v.hotspot_cases(wanted)
            st.markdown(f"##### 研判 #{wanted} 背后的案件（{len(behind)} 件）")
            if behind:
                _cases_table(behind, "hot_cases")
            else:
                st.caption("没有可查看的案件")
    elif day is not None:
        st.success("本次研判没有发现超出基线的热点或激增")
