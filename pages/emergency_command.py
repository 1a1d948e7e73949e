"""应急指挥: incidents, the map (incidents, resources, dispatch lines, range rings, coverage gaps), one-click
dispatch plans with confirmation, live unit status, release, and the incident log.

Commanders (capability emergency_command) act; leaders see everything but no action controls, and the
domain functions refuse them anyway (auth.roles.can is checked there, not only here)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import settings
from auth.roles import can
from emergency import actions, catalog
from emergency.incidents import TEXT_LIMITS
from emergency import maplayers as ml
from emergency.dispatch import Selection
from emergency.plans import load_plans
from emergency.resources import next_moves
from emergency.views import EmergencyViews
from geo.layers import view_for_bbox
from situation.escalation import EscalationViews
from ui import plain
from ui.chrome import resolve_scope
from ui.data import app_engine
from ui.params import int_param
from ui.session import live_fragment, require_viewer

viewer = require_viewer()
code, crumbs, _ = resolve_scope(viewer)
engine = app_engine()
commander = can(viewer.role, "emergency_command")
state = st.session_state
refresh = int(settings.get_settings()["app"].get("refresh_seconds", 30))


def flash(kind: str, text: str) -> None:
    state["em_flash"] = (kind, text)


def act(fn, success) -> bool:  # noqa: ANN001
    """Run one action (emergency.actions: its own transaction); show the outcome (Chinese) after the rerun.
    `success` is a template over the action's result (`{out}`), or a callable of it when the message
    names things from outside (a name with braces must not be read as a template)."""
    try:
        out = fn()
    except actions.ACTION_ERRORS as exc:
        flash("error", str(exc))
        return False
    if callable(success):
        flash("success", success(out))
    else:
        flash("success", success.format(out=out) if out is not None else success)
    return True


def open_and_focus(opener, success: str) -> bool:  # noqa: ANN001
    """Open an incident (`opener() -> incident id`) and make it the current one on the next run."""
    def run() -> int:
        new_id = opener()
        state["em_select_next"] = new_id
        return new_id
    return act(run, success)


def type_and_level(prefix: str, itype: str | None = None, level: str | None = None) -> tuple[str, str]:
    types, levels = list(catalog.INCIDENT_TYPES), list(catalog.LEVELS)
    a, b = st.columns(2)
    picked_type = a.selectbox("事件类型", types, key=f"{prefix}_type", index=types.index(itype) if itype in types else 0)
    picked_level = b.selectbox("响应级别", levels, format_func=catalog.LEVEL_NAMES.get, key=f"{prefix}_level",
                               index=levels.index(level) if level in levels else 3)
    return picked_type, picked_level


def read(fn):  # noqa: ANN001, ANN201
    """One read through the emergency read face (`fn(face)`), in its own read-only transaction."""
    with EmergencyViews.open(engine, viewer) as em:
        return fn(em)


def read_escalation(fn):  # noqa: ANN001, ANN201
    """Sensor alerts and grid events a commander may turn into an incident (situation.escalation)."""
    with EscalationViews.open(engine, viewer) as esc:
        return fn(esc)


# ---------------------------------------------------------------- selection handed over between reruns
linked = int_param("incident", "突发事件编号")
if "em_select_next" in state:
    state["em_incident_pick"] = state.pop("em_select_next")
elif linked is not None and str(linked) != state.get("em_linked"):
    # A deep link (?incident=…, e.g. from the overview's urgent list) selects that incident once.
    state["em_incident_pick"], state["em_linked"] = linked, str(linked)


def on_map_click() -> None:
    objects = (state.get("em-map") or {}).get("selection", {}).get("objects", {})
    if objects.get(ml.LAYER_IDS["incidents"]):
        state["em_incident_pick"] = int(objects[ml.LAYER_IDS["incidents"]][0]["id"])
    elif objects.get(ml.LAYER_IDS["click"]):
        region = objects[ml.LAYER_IDS["click"]][0]
        state["em_click"] = {"lon": round(float(region["lon"]), 6), "lat": round(float(region["lat"]), 6),
                             "name": region.get("name", "")}
        state["em_open_lon"], state["em_open_lat"] = state["em_click"]["lon"], state["em_click"]["lat"]
    elif objects.get(ml.LAYER_IDS["resources"]):
        state["em_resource"] = objects[ml.LAYER_IDS["resources"]][0]["id"]


st.markdown(f"### 应急指挥 · {plain.md(crumbs[-1]['name'])}")
if "em_flash" in state:
    kind, text = state.pop("em_flash")
    plain.show("success" if kind == "success" else "error", text)

head = read(lambda em: em.summary(code))
c1, c2, c3, c4 = st.columns(4)
c1.metric("未关闭事件", head["open_incidents"])
c2.metric("待命队伍/装备", head["available"])
c3.metric("执行任务中", head["busy"])
c4.metric("避难场所空余容量（人）", f"{head['shelter_free']:,}")
if not commander:
    st.info("当前账号可查看应急态势与调派情况；开设事件、调派、状态变更与释放由指挥中心值班员操作。", icon=":material/visibility:")

tab_cmd, tab_res, tab_cov = st.tabs(["指挥调度", "资源与库存", "覆盖分析"])

# ---------------------------------------------------------------- 指挥调度
with tab_cmd:
    show_closed = st.toggle("显示已关闭事件", key="em_show_closed")
    incidents = read(lambda em: em.incidents(code, include_closed=show_closed))
    ids = [int(i) for i in incidents["id"]] if len(incidents) else []
    if ids and state.get("em_incident_pick") not in ids:
        state["em_incident_pick"] = ids[0]
    left, right = st.columns([2, 3], gap="medium")
    with left:
        st.markdown("**事件列表**")
        if incidents.empty:
            st.caption("范围内暂无未关闭的应急事件")
        else:
            st.dataframe(incidents[["id", "type", "level", "title", "status_label", "opened", "active"]],
                         hide_index=True, width="stretch", height=min(320, 38 + 35 * len(incidents)),
                         column_config={"id": "编号", "type": "类型", "level": "级别", "title": "名称",
                                        "status_label": "状态", "opened": "开设时间", "active": "在派"})
            labels = {int(r.id): f"#{r.id} {r.title}（{r.level}级 {r.status_label}）" for r in incidents.itertuples()}
            st.selectbox("当前事件", options=ids, format_func=labels.get, key="em_incident_pick")
    selected = state.get("em_incident_pick") if ids else None
    current = read(lambda em: em.incident(selected)) if selected else None
    dispatches = read(lambda em: em.incident_dispatches(selected)) if selected else pd.DataFrame()
    proposal = state.get("em_proposal")
    if proposal is not None and proposal.incident_id != selected:
        proposal = None

    with right:
        layers_on = st.segmented_control("图层", ["资源", "调派线", "范围圈", "覆盖缺口", "点选开设"],
                                         selection_mode="multi", default=["资源", "调派线", "范围圈", "点选开设"],
                                         key="em_layers") or []
        layer_list = []
        if "点选开设" in layers_on and commander:
            click = read(lambda em: em.click_regions(code))
            if len(click):
                layer_list.append(ml.click_layer(click))
        if "覆盖缺口" in layers_on:
            _, gaps = read(lambda em: em.coverage(code))
            if len(gaps):
                layer_list.append(ml.gap_layer(gaps))
        if "资源" in layers_on:
            res_frame = read(lambda em: em.resources(code))
            if len(res_frame):
                layer_list.append(ml.resource_layer(res_frame))
        labels = []
        if current is not None:
            if "范围圈" in layers_on:
                layer_list.append(ml.rings(current["lon"], current["lat"], catalog.ring_km()))
                labels.append(ml.ring_labels(current["lon"], current["lat"], catalog.ring_km()))
            if "调派线" in layers_on and len(dispatches):
                live = dispatches[dispatches["status"] == "active"]
                if len(live):
                    layer_list.append(ml.dispatch_lines(live, current["lon"], current["lat"]))
                    units = live[live["item"].isna()]
                    labels.append(pd.DataFrame({"lon": units["lon"], "lat": units["lat"],
                                                "text": units["name"] + "（" + units["resource_id"].astype(str) + "）· "
                                                        + units["unit_status_label"]}))
            if proposal is not None:
                layer_list.append(ml.proposal_lines(proposal.units, proposal.stock, current["lon"], current["lat"]))
            labels.append(pd.DataFrame({"lon": [current["lon"]], "lat": [current["lat"]], "text": [current["title"]]}))
        if len(incidents):
            layer_list.append(ml.incident_layer(incidents, selected))
        if labels:
            layer_list.append(ml.label_layer(pd.concat(labels, ignore_index=True)))
        if current is not None:  # fit the incident, its units out and the proposal's sources
            pts = [(current["lon"], current["lat"])]
            if len(dispatches):
                pts += list(zip(dispatches.loc[dispatches["status"] == "active", "lon"],
                                dispatches.loc[dispatches["status"] == "active", "lat"]))
            if proposal is not None:
                pts += list(zip(proposal.units.loc[proposal.units["selected"], "lon"],
                                proposal.units.loc[proposal.units["selected"], "lat"]))
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            view = view_for_bbox((min(min(xs), current["lon"] - 0.1), min(min(ys), current["lat"] - 0.08),
                                  max(max(xs), current["lon"] + 0.1), max(max(ys), current["lat"] + 0.08)))
        else:
            view = view_for_bbox(read(lambda em: em.region_bbox(code)))
        st.pydeck_chart(ml.build_deck(layer_list, view), on_select=on_map_click, selection_mode="single-object",
                        key="em-map", height=520)
        st.caption(f"红圈：事件；彩色圆点：资源（填充色为类型，描边为状态：{ml.status_legend()}）；"
                   "青线：调派建议；紫线：物资。" + ("点击网格可在该处开设事件。" if commander else ""))

    if commander:
        if "em_click" in state:
            plain.info(f"已在地图上选中 {state['em_click']['name']}（网格中心 {state['em_click']['lon']:.5f}, "
                       f"{state['em_click']['lat']:.5f}），在下方“开设应急事件”中填写类型和级别后开设。",
                       icon=":material/place:")
        with st.expander("开设应急事件", expanded=current is None or "em_click" in state):
            source = st.radio("来源", ["地图选点", "传感器预警", "网格事件升级"], horizontal=True, key="em_open_source")
            if source == "地图选点":
                click = state.get("em_click")
                if click:
                    plain.caption(f"已在地图上选中：{click['name']}（网格中心，可微调坐标）")
                center = read(lambda em: em.region_bbox(code))
                state.setdefault("em_open_lon", round((center[0] + center[2]) / 2, 6))
                state.setdefault("em_open_lat", round((center[1] + center[3]) / 2, 6))
                with st.form("em_open_form"):
                    itype, level = type_and_level("em_open")
                    title = st.text_input("事件名称", key="em_open_title", placeholder="如：XX路口严重积水",
                                          max_chars=TEXT_LIMITS["title"])
                    a, b = st.columns(2)
                    lon = a.number_input("经度（WGS-84）", format="%.6f", key="em_open_lon")
                    lat = b.number_input("纬度（WGS-84）", format="%.6f", key="em_open_lat")
                    if st.form_submit_button("开设事件", type="primary"):
                        if open_and_focus(lambda: actions.open_incident(
                                engine, viewer, incident_type=itype, level=level, lon=lon, lat=lat, title=title),
                                "已开设事件 #{out}"):
                            state.pop("em_click", None)
                        st.rerun()
            elif source == "传感器预警":
                alerts = read_escalation(lambda esc: esc.alert_proposals(code))
                if alerts.empty:
                    st.caption("暂无建议开设应急事件的预警")
                else:
                    names = {int(r.id): f"#{r.id} {r.message}（建议：{r.proposed_type} {r.level}级）" for r in alerts.itertuples()}
                    aid = st.selectbox("预警", list(names), format_func=names.get, key="em_alert_pick")
                    row = alerts[alerts["id"] == aid].iloc[0]
                    itype, level = type_and_level("em_alert", row["type"], row["level"])
                    if st.button("按预警开设事件", type="primary", key="em_open_alert"):
                        open_and_focus(lambda: actions.open_from_alert(engine, viewer, aid, incident_type=itype,
                                                                       level=level),
                                        "已按预警开设事件 #{out}")
                        st.rerun()
            else:
                events = read_escalation(lambda esc: esc.escalatable_events(code))
                if events.empty:
                    st.caption("暂无可升级的紧急网格事件")
                else:
                    names = {int(r.id): f"#{r.id} {r.title}（{r.category}/{r.subcategory}，{r.reported}）" for r in events.itertuples()}
                    eid = st.selectbox("网格事件", list(names), format_func=names.get, key="em_event_pick")
                    itype, level = type_and_level("em_event")
                    if st.button("升级为应急事件", type="primary", key="em_open_event"):
                        open_and_focus(lambda: actions.open_from_event(engine, viewer, eid, incident_type=itype,
                                                                       level=level),
                                        "已将网格事件升级为应急事件 #{out}")
                        st.rerun()

    if current is not None:
        iid = current["id"]
        st.divider()
        st.markdown(f"#### #{iid} {plain.md(current['title'])}")
        plain.caption(f"{current['type']} · {current['level_label']} · {current['status_label']} · 指挥：{current['commander'] or '—'}"
                      f" · 开设于 {current['opened']}" + (f" · 来源预警 #{current['source_alert_id']}" if current["source_alert_id"] else "")
                      + (f" · 来源网格事件 #{current['source_event_id']}" if current["source_event_id"] else ""))
        is_open = current["status"] != "closed"

        # ---- plan proposal and confirmation
        st.markdown("**一键调派**")
        plans = load_plans()
        default_key = f"{current['type']}.{current['level']}"
        keys = list(plans)
        a, b = st.columns([3, 1])
        plan_key = a.selectbox("调派预案", keys, index=keys.index(default_key) if default_key in keys else 0,
                               format_func=lambda k: f"{plans[k].label}：{plans[k].describe()}", key=f"em_plan_{iid}")
        if b.button("一键生成调派方案", key=f"em_propose_{iid}", disabled=not is_open, width="stretch"):
            state["em_proposal"] = read(lambda em: em.proposal(iid, plan_key=plan_key))
            st.rerun()
        if proposal is not None:
            for sf in proposal.shortfalls:
                plain.warning(f"缺口 · {sf.describe()}", icon=":material/warning:")
            unit_view = proposal.units.assign(distance_km=proposal.units["distance_km"].round(2),
                                              eta_min=proposal.units["eta_min"].round(0))
            # The resource's number beside its name: two teams may share a name (e.g. 一中队).
            edited_units = st.data_editor(
                unit_view[["selected", "kind", "name", "resource_id", "distance_km", "eta_min", "version"]],
                key=f"em_units_{iid}", hide_index=True, width="stretch", disabled=not commander,
                column_config={"selected": st.column_config.CheckboxColumn("选用"), "kind": "类型", "name": "名称",
                               "resource_id": "编号", "distance_km": "直线距离(km)", "eta_min": "预计到达(分钟)",
                               "version": None})
            stock_view = proposal.stock.assign(distance_km=proposal.stock["distance_km"].round(2))
            if stock_view.empty:
                st.caption("该预案不调用储备物资")
            edited_stock = stock_view if stock_view.empty else st.data_editor(
                stock_view[["selected", "item", "take", "unit", "free", "name", "resource_id", "distance_km",
                            "inventory_id"]],
                key=f"em_stock_{iid}", hide_index=True, width="stretch", disabled=not commander,
                column_config={"selected": st.column_config.CheckboxColumn("选用"), "item": "物资",
                               "take": st.column_config.NumberColumn("调用数量", min_value=0, step=1),
                               "unit": "单位", "free": "可用", "name": "储备库", "resource_id": "储备库编号",
                               "distance_km": "直线距离(km)", "inventory_id": None})
            if commander:
                if st.button("确认调派", type="primary", key=f"em_confirm_{iid}", disabled=not is_open):
                    chosen = Selection.from_frames(edited_units.assign(selected=edited_units["selected"].fillna(False)),
                                                   edited_stock.assign(selected=edited_stock["selected"].fillna(False),
                                                                       take=edited_stock["take"].fillna(0).astype(int)))
                    if act(lambda: actions.confirm_dispatch(engine, viewer, iid, chosen),
                           f"调派已确认：{len(chosen.units)} 支队伍/装备、{len(chosen.stock)} 项物资"):
                        state.pop("em_proposal", None)
                    st.rerun()
            else:
                st.caption("调派须由指挥中心值班员确认。")

        # ---- live status of dispatched units (refreshes on its own)
        @live_fragment(run_every=refresh)
        def live_units() -> None:
            disp = read(lambda em: em.incident_dispatches(iid))
            st.markdown("**出动队伍实时状态**")
            units = disp[disp["item"].isna() & ((disp["status"] == "active") | (disp["unit_incident_id"] == iid))] \
                if len(disp) else disp
            if units.empty:
                st.caption("暂无出动队伍")
            for r in units.itertuples():
                cols = st.columns([3, 2, 2, 4])
                cols[0].markdown(plain.md(f"{r.name}（{r.kind} · {r.resource_id}）"))
                cols[1].markdown(plain.md(r.unit_status_label))
                cols[2].write(f"{r.distance_km:.1f} km · 约 {r.eta_minutes:.0f} 分钟")
                if commander and r.unit_incident_id == iid:
                    moves = [(to, name) for to, name in next_moves(r.unit_status)]
                    bcols = cols[3].columns(max(1, len(moves)))
                    for k, (to, name) in enumerate(moves):
                        if bcols[k].button(name, key=f"em_mv_{r.resource_id}_{to}"):
                            act(lambda r=r, to=to: actions.advance_resource(engine, viewer, r.resource_id, to,
                                                                            expected_status=r.unit_status,
                                                                            version=int(r.version)),
                                lambda _out, r=r, name=name: f"{r.name}：{name}")
                            st.rerun(scope="app")
            stock = disp[disp["item"].notna()] if len(disp) else disp
            if len(stock):
                st.markdown("**调用物资**")
                st.dataframe(stock[["item", "quantity", "unit", "name", "status", "used"]].assign(
                    status=stock["status"].map({"active": "在用", "released": "已释放"})), hide_index=True,
                    width="stretch", column_config={"item": "物资", "quantity": "数量", "unit": "单位",
                                                             "name": "储备库", "status": "状态", "used": "消耗"})

        live_units()

        active = dispatches[dispatches["status"] == "active"] if len(dispatches) else dispatches
        if commander and len(active):
            with st.expander("释放资源（处置结束）"):
                stock_active = active[active["item"].notna()]
                used_frame = st.data_editor(
                    stock_active[["dispatch_id", "item", "quantity", "unit", "name"]].assign(used=0),
                    key=f"em_used_{iid}", hide_index=True, width="stretch",
                    disabled=["dispatch_id", "item", "quantity", "unit", "name"],
                    column_config={"dispatch_id": None, "item": "物资", "quantity": "调用", "unit": "单位",
                                   "name": "储备库", "used": st.column_config.NumberColumn("实际消耗", min_value=0, step=1)})
                st.caption("未消耗的物资回到库存；已出发的队伍转为“返回途中”，尚未出发的立即恢复待命。")
                if st.button("释放全部调派", key=f"em_release_{iid}"):
                    used = {int(r.dispatch_id): int(r.used or 0) for r in used_frame.itertuples()}
                    act(lambda: actions.release(engine, viewer, iid, used=used),
                        "已释放：队伍 {out.units_available} 支恢复待命、{out.units_returning} 支返回途中；"
                        "物资归还 {out.stock_returned}、消耗 {out.stock_used}")
                    st.rerun()

        if commander and is_open:
            with st.expander("级别调整与关闭"):
                a, b = st.columns(2)
                new_level = a.selectbox("响应级别", list(catalog.LEVELS), index=catalog.LEVELS.index(current["level"]),
                                        format_func=catalog.LEVEL_NAMES.get, key=f"em_level_{iid}")
                reason = b.text_input("调整理由", key=f"em_level_reason_{iid}", max_chars=TEXT_LIMITS["reason"])
                if st.button("调整级别", key=f"em_level_btn_{iid}", disabled=new_level == current["level"]):
                    act(lambda: actions.change_level(engine, viewer, iid, new_level, reason), "响应级别已调整")
                    st.rerun()
                summary_text = st.text_input("处置小结", key=f"em_close_text_{iid}", max_chars=TEXT_LIMITS["summary"])
                if st.button("关闭事件", key=f"em_close_{iid}", disabled=len(active) > 0):
                    act(lambda: actions.close_incident(engine, viewer, iid, summary_text), "事件已关闭")
                    st.rerun()
                if len(active):
                    st.caption("释放全部调派后才能关闭事件。")

        st.markdown("**事件日志**")
        log = read(lambda em: em.incident_log(iid))
        st.dataframe(log[["time", "actor", "message"]], hide_index=True, width="stretch",
                     column_config={"time": "时间", "actor": "操作人", "message": "内容"})
        if commander and is_open:
            with st.form(f"em_note_form_{iid}", clear_on_submit=True):
                note = st.text_input("补充记录", key=f"em_note_{iid}", max_chars=TEXT_LIMITS["note"])
                if st.form_submit_button("添加记录"):
                    act(lambda: actions.add_note(engine, viewer, iid, note), "已记录")
                    st.rerun()

# ---------------------------------------------------------------- 资源与库存
with tab_res:
    res_all = read(lambda em: em.resources(code))
    if res_all.empty:
        st.caption("范围内暂无应急资源")
    else:
        pivot = res_all.pivot_table(index="kind", columns="status_label", values="id", aggfunc="count", fill_value=0)
        st.dataframe(pivot, width="stretch")
        a, b = st.columns(2)
        kinds = a.multiselect("类型", sorted(res_all["kind"].unique()), key="em_res_kinds")
        statuses = b.multiselect("状态", list(catalog.RESOURCE_STATUSES.values()), key="em_res_status")
        keep = pd.Series(True, index=res_all.index)
        if kinds:
            keep &= res_all["kind"].isin(kinds)
        if statuses:
            keep &= res_all["status_label"].isin(statuses)
        view_frame = res_all[keep]
        st.dataframe(view_frame[["id", "kind", "name", "status_label", "headcount", "capacity", "occupancy", "incident_id"]],
                     hide_index=True, width="stretch",
                     column_config={"id": "编号", "kind": "类型", "name": "名称", "status_label": "状态",
                                    "headcount": "人数", "capacity": "容量(人)", "occupancy": "已安置", "incident_id": "执行事件"})
        if commander:
            pick = state.get("em_resource")
            choices = list(view_frame["id"])
            if choices:
                names = dict(zip(res_all["id"], res_all["name"]))
                rid = st.selectbox("维护状态（停用/恢复）", choices, index=choices.index(pick) if pick in choices else 0,
                                   format_func=lambda r: f"{names[r]}（{r}）", key="em_res_pick")
                row = res_all[res_all["id"] == rid].iloc[0]
                for to, name in next_moves(row["status"]):
                    if to in ("out_of_service", "available") and row["status"] in ("available", "out_of_service"):
                        if st.button(name, key=f"em_res_{rid}_{to}"):
                            act(lambda: actions.advance_resource(engine, viewer, rid, to, expected_status=row["status"],
                                                                 version=int(row["version"])),
                                lambda _out: f"{row['name']}：{name}")
                            st.rerun()
    stock_all = read(lambda em: em.inventory(code))
    st.markdown("**物资库存**")
    if stock_all.empty:
        st.caption("范围内暂无物资储备")
    else:
        totals = stock_all.groupby(["item", "unit"], as_index=False)[["quantity", "reserved", "free"]].sum()
        st.dataframe(totals, hide_index=True, width="stretch",
                     column_config={"item": "物资", "unit": "单位", "quantity": "库存", "reserved": "已预留", "free": "可用"})
        with st.expander("按储备库查看"):
            st.dataframe(stock_all, hide_index=True, width="stretch",
                         column_config={"warehouse_id": "编号", "warehouse": "储备库", "item": "物资", "unit": "单位",
                                        "quantity": "库存", "reserved": "已预留", "free": "可用"})

# ---------------------------------------------------------------- 覆盖分析
with tab_cov:
    cfg = settings.get_settings()["emergency"]
    st.caption(f"服务半径：消防站 {cfg['fire_station_radius_km']} km，医疗点 {cfg['medical_radius_km']} km，"
               f"避难场所 {cfg['shelter_radius_km']} km（网格中心到最近设施的直线距离）；三项都满足的网格计为覆盖。")
    regions, gaps = read(lambda em: em.coverage(code))
    if regions.empty:
        st.caption("暂无网格数据")
    else:
        table = regions.assign(**{c: regions[c] * 100 for c in ("share_grids_covered", "share_population_covered",
                                                                "share_fire", "share_medical", "share_shelter")})
        pct = {"format": "%.1f%%"}
        st.dataframe(table[["name", "grids", "grids_covered", "share_grids_covered", "share_population_covered",
                            "share_fire", "share_medical", "share_shelter", "shelter_capacity", "shelter_capacity_per_resident"]],
                     hide_index=True, width="stretch",
                     column_config={"name": "区域", "grids": "网格数", "grids_covered": "覆盖网格",
                                    "share_grids_covered": st.column_config.NumberColumn("网格覆盖率", **pct),
                                    "share_population_covered": st.column_config.NumberColumn("人口覆盖率", **pct),
                                    "share_fire": st.column_config.NumberColumn("消防覆盖人口", **pct),
                                    "share_medical": st.column_config.NumberColumn("医疗覆盖人口", **pct),
                                    "share_shelter": st.column_config.NumberColumn("避难覆盖人口", **pct),
                                    "shelter_capacity": "避难容量(人)",
                                    "shelter_capacity_per_resident": st.column_config.NumberColumn("人均避难容量", format="%.3f")})
        st.markdown(f"**覆盖缺口网格**（{len(gaps)} 个，按常住人口排序；在“指挥调度”地图上打开“覆盖缺口”图层可见）")
        st.dataframe(gaps.sort_values("population", ascending=False).head(200)[
            ["grid_code", "name", "population", "fire_km", "medical_km", "shelter_km"]].round(2),
            hide_index=True, width="stretch",
            column_config={"grid_code": "网格编码", "name": "网格", "population": "常住人口", "fire_km": "最近消防站(km)",
                           "medical_km": "最近医疗点(km)", "shelter_km": "最近避难场所(km)"})
