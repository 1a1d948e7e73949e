"""The case panel shared by 指挥调度, 部门处置 and 我的网格: facts, map, photos, timeline and the actions
the viewer may take (as buttons; each opens a short form, and every submit is one transition with the
version the viewer was looking at, so a colleague's earlier change is reported, never overwritten).
Owned by the events helper; data comes from events.queries, writes go through events.workflow."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from events import queries as Q
from events import workflow
from events.photos import PhotoError, max_photos
from geo import layers as L
from store.db import session_scope
from store.scope import PermissionDenied, Viewer

STATE_BADGE = {"overdue": ":red-badge[已超期]", "warning": ":orange-badge[即将超期]", "ok": ":green-badge[正常]"}


def _client() -> str | None:
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - not available in every runtime
        return None
    return ip[:64] if isinstance(ip, str) else None  # AppTest hands back a mock


def load(engine: Engine, viewer: Viewer, case_id: int) -> dict | None:
    try:
        with session_scope(engine, readonly=True) as s:
            return Q.case_detail(s, viewer, int(case_id))
    except (PermissionDenied, LookupError) as exc:
        st.error(str(exc))
        return None


def _map(engine: Engine, viewer: Viewer, case: dict) -> None:
    with session_scope(engine, readonly=True) as s:
        shape = Q.grid_shape(s, viewer, case["grid_code"]) if case["grid_code"] else None
    state = "closed" if case["status"] in workflow.TERMINAL else {
        "overdue": "overdue", "warning": "warning"}.get(case["deadline_state"], "open")
    point = pd.DataFrame([{"id": case["id"], "lon": case["lon"], "lat": case["lat"], "state": state,
                           "tip": f"#{case['id']} {case['title']}"}])
    layers = ([L.outline_layer([shape], layer_id="case-grid")] if shape else []) + [
        L.event_point_layer(point, layer_id="case-point")]
    # Frame the whole grid (the case's context), never less than a few hundred metres around the point.
    box = Q.bbox_of(shape) if shape else (case["lon"], case["lat"], case["lon"], case["lat"])
    view = L.view_for_bbox((min(box[0], case["lon"] - 0.003), min(box[1], case["lat"] - 0.002),
                            max(box[2], case["lon"] + 0.003), max(box[3], case["lat"] + 0.002)),
                           width=360, height=260)  # the narrow right-hand column (or a phone)
    st.pydeck_chart(L.deck(layers, view), height=260, key=f"case-map-{case['id']}")


def render(engine: Engine, viewer: Viewer, case_id: int, key: str = "case") -> dict | None:
    """Draw one case; returns its detail dict (None when it cannot be shown)."""
    case = load(engine, viewer, case_id)
    if case is None:
        return None
    flash = st.session_state.pop(f"{key}-flash", None)
    if flash:
        (st.success if flash[0] == "ok" else st.warning)(flash[1])
    badge = STATE_BADGE.get(case["deadline_state"], "")
    urgent = " :red-badge[紧急]" if case["priority"] == "urgent" else ""
    st.markdown(f"#### #{case['id']} {case['title']}")
    st.markdown(f":blue-badge[{case['status_name']}] {badge}{urgent} · {case['kind']} · "
                f"{case['category']}/{case['subcategory']} · 来源 {case['source']}")
    left, right = st.columns([3, 2])
    with left:
        facts = {
            "位置": case["region_path"] or "—",
            "地址": case["address"] or "—",
            "坐标（WGS-84）": f"{case['lon']:.6f}, {case['lat']:.6f}",
            "反映人": " ".join(x for x in (case["reporter_name"], case["reporter_phone"]) if x) or "—",
            "证件号": case["reporter_id_no"] or "—",
            "来源编号": case["source_id"] or "—",
            "处置部门": case["department"] or "—",
            "本环节时限": f"{case['deadline']}（{case['remaining']}）" if case["deadline"] != "—" else "—",
        }
        if case.get("hang_reason"):
            facts["挂账原因"] = case["hang_reason"]
        if case.get("satisfaction"):
            facts["满意度"] = f"{case['satisfaction']} 分"
        st.markdown("\n".join(f"- **{k}**：{v}" for k, v in facts.items()))
        if case["description"]:
            st.caption(case["description"])
        if case["deadlines"]:
            st.caption(" · ".join(f"{label} {t}" + ("" if ok is None else (" ✓按期" if ok else " ✗超期"))
                                  for label, t, ok in case["deadlines"]))
    with right:
        _map(engine, viewer, case)
    if case["photos"]:
        cols = st.columns(min(3, len(case["photos"])))
        for i, photo in enumerate(case["photos"]):
            cols[i % len(cols)].image(photo["path"], caption=f"{photo['stage']} · {photo['name']}",
                                      width="stretch")
    with st.expander(f"流转记录（{len(case['timeline'])} 条）", expanded=False):
        frame = pd.DataFrame(case["timeline"]).rename(columns={
            "at": "时间", "action": "操作", "actor": "操作人", "role": "角色", "from": "原状态", "to": "新状态",
            "comment": "意见", "note": "说明"})
        st.dataframe(frame, hide_index=True, width="stretch")
    actions(engine, viewer, case, key)
    return case


def actions(engine: Engine, viewer: Viewer, case: dict, key: str) -> None:
    """One button per allowed action; the chosen one opens its form. The form remembers the version the
    viewer saw when choosing, so if a colleague acts in between, submitting says who got there first
    instead of silently acting on (or hiding) a case that has moved on."""
    allowed = case["actions"]
    chosen_key = f"{key}-action-{case['id']}"
    if allowed:
        cols = st.columns(min(4, len(allowed)))
        for i, a in enumerate(allowed):
            if cols[i % len(cols)].button(a["label"], key=f"{key}-btn-{case['id']}-{a['id']}",
                                          type="primary" if a["kind"] == "primary" else "secondary",
                                          width="stretch"):
                st.session_state[chosen_key] = {"id": a["id"], "version": case["version"]}
    else:
        st.caption("当前状态下您没有可执行的操作")
    chosen = st.session_state.get(chosen_key)
    if not chosen:
        return
    action = workflow.ACTIONS[chosen["id"]]
    seen_version = chosen["version"]
    k = f"{key}-{case['id']}-{action.id}"  # widget keys per case and action: no stale input across them
    with st.form(f"{k}-form", clear_on_submit=False):
        st.markdown(f"**{action.label}** · 案件 #{case['id']}")
        if seen_version != case["version"]:
            st.caption(":orange[该案件在您选择操作后已有更新，提交时将核对]")
        values: dict = {}
        if action.id in ("dispatch", "redispatch"):
            options = case.get("department_options") or []
            names = {d["code"]: f"{d['name']}（{d['kind']}）" for d in options}
            suggestion = case.get("suggestion")
            codes = list(names)
            default = codes.index(suggestion["code"]) if suggestion and suggestion["code"] in names else 0
            if suggestion:
                st.caption(f"系统推荐：{suggestion['name']} —— {suggestion['reason']}")
            values["department_code"] = st.selectbox("处置部门", codes, index=default if codes else None,
                                                     format_func=lambda c: names.get(c, c), key=f"{k}-dept")
            values["reason"] = st.text_input("改派原因（选择非推荐部门时必填）", key=f"{k}-reason")
        if action.id == "request_extension":
            values["hours"] = st.number_input("延期时长（小时，一般案件按工作小时计）", min_value=1.0,
                                              max_value=workflow.MAX_EXTENSION_HOURS, value=8.0, step=1.0,
                                              key=f"{k}-hours")
        if action.id == "approve_extension" and case.get("extension_request"):
            req = case["extension_request"]
            st.caption(f"申请延期 {req['hours']:g} 小时，理由：{req['reason']}")
        if action.id == "close":
            required = case["source"] == "12345"
            values["satisfaction"] = st.selectbox(
                "回访满意度" + ("（12345 工单必填）" if required else "（可选）"), [None, 5, 4, 3, 2, 1],
                format_func=lambda v: "—" if v is None else f"{v} 分", key=f"{k}-score")
        if action.id in ("feedback", "verify_pass", "verify_fail"):
            values["photos"] = st.file_uploader(f"现场照片（JPEG/PNG，最多 {max_photos()} 张）",
                                                type=["jpg", "jpeg", "png"], accept_multiple_files=True,
                                                key=f"{k}-photos")
        comment = st.text_area(action.comment or "意见（可选）", key=f"{k}-comment", height=80)
        c1, c2 = st.columns(2)
        submitted = c1.form_submit_button(f"确认{action.label}", type="primary", width="stretch")
        cancelled = c2.form_submit_button("取消", width="stretch")
    if cancelled:
        st.session_state.pop(chosen_key, None)
        st.rerun()
    if submitted:
        ok, message = submit(engine, viewer, case["id"], seen_version, action.id, comment, values)
        st.session_state[f"{key}-flash"] = ("ok" if ok else "warn", message)
        if ok or "操作未生效" in message:
            st.session_state.pop(chosen_key, None)
        st.rerun()


def submit(engine: Engine, viewer: Viewer, case_id: int, version: int, action: str, comment: str,
           values: dict) -> tuple[bool, str]:
    """Run one transition against the version the viewer saw; (ok, message for the user)."""
    values = {k: v for k, v in values.items() if v not in (None, [], "")}
    try:
        with session_scope(engine) as s:
            event = workflow.transition(s, case_id, action, viewer, comment, expected_version=version,
                                        client=_client(), **values)
            status = workflow.STATUS_NAMES[event.status]
        return True, f"案件 #{case_id} 已{workflow.ACTIONS[action].label}，当前状态「{status}」"
    except workflow.ConcurrentChange as exc:
        return False, str(exc)
    except (workflow.WorkflowError, PermissionDenied, PhotoError) as exc:
        return False, f"操作未完成：{exc}"
