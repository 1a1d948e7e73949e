"""指挥调度: the queue of cases to register and dispatch (most urgent deadline first), filters, batch
立案/派遣, live refresh, and the case panel with map, photos, timeline and the allowed actions.
Leaders see everything and may approve extensions and 挂账, but not register or dispatch."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

import settings
from events import actions, placement, statuses, workflow
from events.catalog import get_catalog
from events.deadlines import DEADLINE_STATE_NAMES
from events.format import fmt_time
from events.intake import SOURCES
from events.limits import LIMITS
from events.views import EventViews
from geo import geocode
from store.scope import PermissionDenied
from ui import case_panel, duplicates as duplicate_parts, plain, supervision as supervision_parts
from ui.chrome import resolve_scope
from ui.data import app_engine
from ui.params import parse_id
from ui.session import live_fragment, require_viewer

viewer = require_viewer()
code, crumbs, _kids = resolve_scope(viewer)
engine = app_engine()
cfg = settings.get_settings()
refresh = int(cfg["app"].get("refresh_seconds", 30))
may_dispatch = workflow.role_may(viewer.role, "dispatch")
may_register = workflow.role_may(viewer.role, "register")

st.markdown(f"### 指挥调度 · {plain.md(' › '.join(c['name'] for c in crumbs))}")

# The views: the queue, everything open, each stage of more than one state, what awaits approval, one state.
STATUS_VIEWS = {
    statuses.QUEUE.label: list(statuses.QUEUE.statuses),
    statuses.OPEN.label: list(statuses.OPEN.statuses),
    **{g.label: list(g.statuses) for g in statuses.OPEN_STAGES if len(g.statuses) > 1},
    statuses.AWAITING_APPROVAL.label: list(statuses.AWAITING_APPROVAL.statuses),
    **{f"仅「{name}」": [s] for s, name in statuses.STATUS_NAMES.items()},
}
default_view = statuses.AWAITING_APPROVAL.label if viewer.role == "leader" else statuses.QUEUE.label
categories = sorted({c for kinds in get_catalog().tree().values() for c in kinds})

with st.container(border=True):
    f1, f2, f3, f4 = st.columns(4)
    view = f1.selectbox("状态", list(STATUS_VIEWS), index=list(STATUS_VIEWS).index(default_view), key="dq_view")
    category = f2.selectbox("大类", [None, *categories], format_func=lambda v: "全部大类" if v is None else v,
                            key="dq_category")
    source = f3.selectbox("来源", [None, *SOURCES], format_func=lambda v: "全部来源" if v is None else v,
                          key="dq_source")
    deadline = f4.selectbox("时限", [None, "overdue", "warning"], key="dq_deadline",
                            format_func=lambda v: "全部" if v is None else DEADLINE_STATE_NAMES[v])
    g1, g2 = st.columns([3, 1])
    search = g1.text_input("搜索（案件编号或标题）", key="dq_search", placeholder="如 1024 或 占道经营",
                           max_chars=LIMITS["title"])
    page_no = g2.number_input("页码", min_value=1, value=1, step=1, key="dq_page")


@live_fragment(run_every=refresh)
def live_queue() -> None:
    now = datetime.now(timezone.utc)
    notice = st.empty()  # a batch's outcome goes here: the figures and the list keep their places
    done = st.session_state.pop("dq_batch_results", None)
    if done:
        with notice.container():
            show(done)
    with EventViews.open(engine, viewer) as v:
        counts = v.status_counts(code, now=now)
        page = v.queue(statuses=STATUS_VIEWS[view], category=category, source=source, region=code,
                       deadline=deadline, search=search or None, page=int(page_no), now=now)
    m = st.columns(len(statuses.OPEN_STAGES) + 2)
    for col, group in zip(m, statuses.OPEN_STAGES):
        col.metric(group.label, statuses.count_in(counts, group))
    m[-2].metric(DEADLINE_STATE_NAMES["overdue"], counts["overdue"])
    m[-1].metric(DEADLINE_STATE_NAMES["warning"], counts["warning"])
    st.caption(f"共 {page.total} 件，第 {page.page}/{page.pages} 页 · 每 {refresh} 秒自动刷新 · "
               f"更新于 {fmt_time(now, '%H:%M:%S')}")
    if not page.rows:
        st.info("没有符合条件的案件")
        return
    frame = pd.DataFrame(page.rows)
    # 待定位: created from an address the geocoder could not match; it waits here to be placed (below).
    frame["status_name"] = [f"【待定位】{name}" if pending else name
                            for name, pending in zip(frame["status_name"], frame["location_pending"])]
    shown = frame[["id", "deadline_state_name", "remaining", "status_name", "priority_name", "category",
                   "subcategory", "title", "source", "street", "department", "reported_at"]].rename(columns={
        "id": "编号", "deadline_state_name": "时限状态", "remaining": "剩余/超期", "status_name": "状态",
        "priority_name": "紧急", "category": "大类", "subcategory": "小类", "title": "标题", "source": "来源",
        "street": "街道", "department": "处置部门", "reported_at": "上报时间"})
    shown.insert(1, "标记", supervision_parts.marks(frame))  # 督办, 超期升级, 疑似重复
    ids = frame["id"].astype(int).tolist()
    state = st.session_state
    # The selection is kept as case numbers ("dq_selected"), never as row positions: a table is drawn
    # afresh (a new key) whenever the listed cases or their order change, ticked where the chosen cases
    # now stand, so a refresh, a filter or a batch action can never move a tick onto another case.
    selected = [i for i in state.get("dq_selected", []) if i in ids]
    digest = hashlib.blake2s(",".join(map(str, ids)).encode(), digest_size=6).hexdigest()
    table_key = f"dq_table_{digest}_{state.get('dq_table_n', 0)}"
    st.dataframe(shown, hide_index=True, width="stretch", on_select=_rows_picked(table_key, ids),
                 selection_mode="multi-row", key=table_key,
                 selection_default={"selection": {"rows": [ids.index(i) for i in selected]}})
    state["dq_selected"] = selected
    if state.pop("dq_open_picked", False) and len(selected) == 1:  # one row ticked: open it below
        st.query_params["case"] = str(selected[0])
        st.rerun()
    chosen = frame[frame["id"].astype(int).isin(selected)]
    if len(chosen) > 1 and (may_dispatch or may_register):
        batch(chosen)


def _rows_picked(table_key: str, ids: list[int]):  # noqa: ANN202 - a Streamlit callback
    """Runs when the user changes the ticks of the table drawn with `ids` (the positions are its own)."""
    def picked() -> None:
        rows = st.session_state[table_key]["selection"]["rows"]
        st.session_state["dq_selected"] = [ids[r] for r in rows if r < len(ids)]
        st.session_state["dq_open_picked"] = True
    return picked


def batch(chosen: pd.DataFrame) -> None:
    def ready_for(action: str) -> list[tuple[int, int]]:
        legal = workflow.statuses_allowing(action)
        return [(int(r.id), int(r.version)) for r in chosen.itertuples() if r.status in legal]

    reported, registered = ready_for("register"), ready_for("dispatch")
    with st.container(border=True):
        st.markdown(f"**批量处理** · 已选 {len(chosen)} 件（待立案 {len(reported)}，待派遣 {len(registered)}）")
        c1, c2 = st.columns(2)
        if may_register and reported and c1.button(f"批量立案（{len(reported)} 件）", key="dq_batch_register"):
            redraw_after(actions.batch_transition(engine, viewer, reported, "register"))
        if may_dispatch and registered:
            with EventViews.open(engine, viewer) as v:
                options = v.department_options(code)
            names = {d["code"]: d["name"] for d in options}
            target = c2.selectbox("派往", [None, *names], key="dq_batch_dept",
                                  format_func=lambda v: "各案按系统推荐部门" if v is None else names[v])
            reason = c2.text_input("改派原因（指定部门时必填）", key="dq_batch_reason", max_chars=LIMITS["comment"])
            if c2.button(f"批量派遣（{len(registered)} 件）", key="dq_batch_dispatch", type="primary"):
                redraw_after(actions.batch_transition(engine, viewer, registered, "dispatch",
                                                      department_code=target, reason=reason))


def redraw_after(results) -> None:  # noqa: ANN001
    """A batch changed the cases under the list: keep its outcome for the next run and redraw the
    whole console, so the list, the figures and the ticks show where the cases are now."""
    st.session_state["dq_batch_results"] = list(results)
    st.session_state["dq_table_n"] = st.session_state.get("dq_table_n", 0) + 1
    st.rerun()


def show(results) -> None:  # noqa: ANN001
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    if good:
        plain.success(f"成功 {len(good)} 件：" + "；".join(r.message for r in good[:10]))
    for r in bad:
        plain.warning(r.message)


def place_pending(case_id: int) -> None:
    """A 待定位 case: find the place by a corrected address (standard address base) or type the point."""
    try:
        with EventViews.open(engine, viewer) as v:
            case = v.case_detail(case_id)
    except (LookupError, PermissionDenied):
        return  # the case panel above already says why
    if not case.get("location_pending") or case["status"] not in placement.PLACEABLE:
        return
    with st.container(border=True):
        st.markdown("**待定位** · 上报的地址未能匹配标准地址，案件暂放在所述区域的中心。请确定位置：")
        st.text(f"上报地址：{case.get('address') or '（未填写）'}")
        text = st.text_input("按地址查找（标准地址库）", value=case.get("address") or "", key=f"dq_geo_{case_id}")
        point_keys = (f"dq_lon_{case_id}", f"dq_lat_{case_id}")
        for k, v in zip(point_keys, (case["lon"], case["lat"])):
            st.session_state.setdefault(k, float(v))
        if text.strip():
            match = geocode.geocode(engine, text)
            if match.kind is not None:
                st.text(f"匹配：{match.text}（{match.kind_name}，置信度 {match.confidence:.2f}）")
                if st.session_state.get(f"dq_geo_seen_{case_id}") != text:  # a new search moves the point
                    st.session_state[point_keys[0]], st.session_state[point_keys[1]] = match.lon, match.lat
            else:
                plain.caption(f"未匹配：{match.note}")
            st.session_state[f"dq_geo_seen_{case_id}"] = text
        c1, c2 = st.columns(2)
        lon = c1.number_input("经度（WGS-84）", format="%.6f", key=point_keys[0])
        lat = c2.number_input("纬度（WGS-84）", format="%.6f", key=point_keys[1])
        if st.button("定位到此处", key=f"dq_place_{case_id}", type="primary"):
            result = actions.place_case(engine, viewer, case_id, lon, lat, version=case["version"])
            (plain.success if result.ok else plain.warning)(result.message)


live_queue()
duplicate_parts.bulk_merge_panel(engine, viewer, code, key="dq_dups")  # reports waiting for a 重复 answer

st.divider()
qp_case = st.query_params.get("case", "")
if st.session_state.get("dq_seen_case") != qp_case:  # a row was picked (or a deep link opened)
    st.session_state["dq_case_input"] = qp_case
    st.session_state["dq_seen_case"] = qp_case
case_id, case_problem = parse_id(st.text_input("打开案件（编号）", key="dq_case_input"), "案件编号")
if case_id is not None:
    if str(case_id) != qp_case:
        st.query_params["case"] = str(case_id)
        st.session_state["dq_seen_case"] = str(case_id)
    case_panel.render(engine, viewer, case_id, key="dispatch")
    if may_register:
        place_pending(case_id)
elif case_problem:
    st.warning(case_problem)
else:
    st.caption("在上方列表中选中一件案件（或输入编号）查看详情与可执行的操作；选中多件可批量立案、派遣。")
