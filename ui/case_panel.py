"""The case panel shared by 指挥调度, 部门处置 and 我的网格: facts, map, photos, timeline and the actions
the viewer may take (as buttons; each opens a short form, and every submit is one transition with the
version the viewer was looking at, so a colleague's earlier change is reported, never overwritten).
Reads come from the events read face (events.views), writes go through events.actions.

After a submit the outcome is kept for the next run and shown above the panel of the case acted on —
never above another case's panel (pages whose lists move a case elsewhere follow it with
`pending_outcome`, or show it on its own with `show_outcome`). Every text from the case is shown
through ui.plain."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from events import actions as event_actions, statuses, workflow
from events.deadlines import DEADLINE_STATE_NAMES
from events.grids import bbox_of
from events.layers import case_point_layer
from events.limits import LIMITS
from events.photos import photo_rules
from events.views import EventViews
from geo import layers as L
from store.scope import PermissionDenied, Viewer
from ui import audit_trail, duplicates as duplicate_parts, plain, supervision as supervision_parts
from ui.session import client_address


def _client() -> str | None:
    # The same address the sign-in routes see (X-Forwarded-For only from trusted proxies).
    return client_address()


def _badge(color: str, text: str) -> str:
    return f":{color}-badge[{plain.md(text)}]"


def _outcome_key(key: str) -> str:
    return f"{key}-outcome"


def pending_outcome(key: str) -> event_actions.Outcome | None:
    """The outcome of the action submitted on the panel `key` in the previous run, not yet shown
    (its case_id and new status let a page keep that case selected)."""
    return st.session_state.get(_outcome_key(key))


def show_outcome(key: str, slot=None) -> None:  # noqa: ANN001 - a Streamlit placeholder
    """Show the pending outcome on its own (once): for a page whose acted-on case has left its list.
    With `slot` (an st.empty() the page always draws at that spot) the message fills the slot, so the
    elements below keep their places in the page and the browser does not rebuild them (a map torn
    down and redrawn after every action cost ~1 s of software WebGL)."""
    outcome = st.session_state.pop(_outcome_key(key), None)
    if outcome is not None:
        with slot if slot is not None else st.container():
            (plain.success if outcome.ok else plain.warning)(outcome.message)


def load(engine: Engine, viewer: Viewer, case_id: int) -> tuple[dict, dict | None] | None:
    """The case's detail and its grid's boundary, or None (with the reason shown) when it cannot be seen."""
    try:
        with EventViews.open(engine, viewer) as v:
            case = v.case_detail(int(case_id))
            shape = v.grid_shape(case["grid_code"]) if case["grid_code"] else None
    except (PermissionDenied, LookupError) as exc:
        st.error(str(exc))
        if isinstance(exc, PermissionDenied):
            audit_trail.note_refusal(viewer, str(exc), what=f"案件 #{case_id}", object_type="event", object_id=case_id)
        return None
    # Unmasked reporter details shown to a role with view_personal are audited (once per tab and case).
    shown = [f for f in ("reporter_name", "reporter_phone", "reporter_id_no") if case.get(f)]
    audit_trail.note_personal_view(viewer, "event", case["id"], shown, scope=case.get("grid_code"))
    return case, shape


def _map(case: dict, shape: dict | None) -> None:
    point = pd.DataFrame([{"id": case["id"], "lon": case["lon"], "lat": case["lat"],
                           "state": statuses.map_state(case["status"], case["deadline_state"]),
                           "tip": f"#{case['id']} {case['title']}"}])  # tooltips are text (geo.layers)
    layers = ([L.outline_layer([shape], layer_id="case-grid")] if shape else []) + [
        case_point_layer(point, layer_id="case-point")]
    # Frame the whole grid (the case's context), never less than a few hundred metres around the point.
    box = bbox_of(shape) if shape else (case["lon"], case["lat"], case["lon"], case["lat"])
    view = L.view_for_bbox((min(box[0], case["lon"] - 0.003), min(box[1], case["lat"] - 0.002),
                            max(box[2], case["lon"] + 0.003), max(box[3], case["lat"] + 0.002)),
                           width=360, height=260)  # the narrow right-hand column (or a phone)
    st.pydeck_chart(L.deck(layers, view), height=260, key=f"case-map-{case['id']}")


def render(engine: Engine, viewer: Viewer, case_id: int, key: str = "case") -> dict | None:
    """Draw one case; returns its detail dict (None when it cannot be shown)."""
    loaded = load(engine, viewer, case_id)
    if loaded is None:
        return None
    case, shape = loaded
    notice = st.empty()  # always drawn: a message in it does not move the panel's map (see show_outcome)
    outcome = pending_outcome(key)
    if outcome is not None and outcome.case_id == case["id"]:
        show_outcome(key, notice)
    state = case["deadline_state"]
    badge = _badge(statuses.DEADLINE_COLORS[state], DEADLINE_STATE_NAMES[state]) if state else ""
    urgent = " :red-badge[紧急]" if case["priority"] == "urgent" else ""
    urgent += f" {supervision_parts.badges(case)}" if case.get("supervision") or case.get("escalation_level") else ""
    st.markdown(f"#### #{case['id']} {plain.md(case['title'])}")
    st.markdown(f"{_badge(statuses.stage_of(case['status']).color, case['status_name'])} {badge}{urgent} · "
                f"{plain.md(case['kind'])} · "
                f"{plain.md(case['category'])}/{plain.md(case['subcategory'])} · 来源 {plain.md(case['source'])}")
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
        if case.get("duplicate_of"):
            facts["重复上报"] = f"已合并到案件 #{case['duplicate_of']}"
        if case.get("duplicates"):  # the reporters this case gained (events.duplicates)
            facts["同一问题的其他反映"] = "、".join(f"#{d['id']}（{d['source']}，{d['reported_at']}）"
                                               for d in case["duplicates"])
        st.markdown("\n".join(f"- **{k}**：{plain.md(v)}" for k, v in facts.items()))
        if case["description"]:
            # A long description scrolls in its own box, so the action buttons stay in reach.
            box = st.container(height=180) if len(case["description"]) > 300 else st.container()
            box.caption(plain.md_block(case["description"]))
        if case["deadlines"]:
            st.caption(" · ".join(f"{label} {t}" + ("" if ok is None else (" ✓按期" if ok else " ✗超期"))
                                  for label, t, ok in case["deadlines"]))
    with right:
        _map(case, shape)
    if case["photos"]:
        cols = st.columns(3)  # always a third of the width: a single photo is not blown up to the page
        for i, photo in enumerate(case["photos"]):
            cols[i % len(cols)].image(photo["path"], caption=plain.md(f"{photo['stage']} · {photo['name']}"),
                                      width="stretch")
    with st.expander(f"流转记录（{len(case['timeline'])} 条）", expanded=False):
        frame = pd.DataFrame(case["timeline"]).rename(columns={
            "at": "时间", "action": "操作", "actor": "操作人", "role": "角色", "from": "原状态", "to": "新状态",
            "comment": "意见", "note": "说明"})
        st.dataframe(frame, hide_index=True, width="stretch")
    duplicate_parts.case_suspects(engine, viewer, case, key, client=_client(),
                                  remember=lambda out: st.session_state.__setitem__(_outcome_key(key), out))
    actions(engine, viewer, case, key)
    supervision_parts.case_supervision(engine, viewer, case, key, client=_client())
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
                st.caption(f"系统推荐：{plain.md(suggestion['name'])} —— {plain.md(suggestion['reason'])}")
            values["department_code"] = st.selectbox("处置部门", codes, index=default if codes else None,
                                                     format_func=lambda c: names.get(c, c), key=f"{k}-dept")
            values["reason"] = st.text_input("改派原因（选择非推荐部门时必填）", key=f"{k}-reason",
                                             max_chars=LIMITS["comment"])
        if action.id == "merge":
            values["duplicate_of"] = duplicate_parts.merge_target(case, k)
        if action.id == "request_extension":
            values["hours"] = st.number_input("延期时长（小时，一般案件按工作小时计）", min_value=1.0,
                                              max_value=workflow.MAX_EXTENSION_HOURS, value=8.0, step=1.0,
                                              key=f"{k}-hours")
        if action.id == "approve_extension" and case.get("extension_request"):
            req = case["extension_request"]
            st.caption(f"申请延期 {req['hours']:g} 小时，理由：{plain.md(req['reason'])}")
        if action.id == "close":
            required = case["satisfaction_required"]
            values["satisfaction"] = st.selectbox(
                "回访满意度" + ("（12345 工单必填）" if required else "（可选）"), [None, 5, 4, 3, 2, 1],
                format_func=lambda v: "—" if v is None else f"{v} 分", key=f"{k}-score")
        if action.id in ("feedback", "verify_pass", "verify_fail"):
            # Any file is taken, so that a wrong one is refused by the domain with a Chinese reason
            # (Streamlit's own type filter would drop it with an English hover text).
            values["photos"] = st.file_uploader(f"现场照片（{photo_rules()}）", accept_multiple_files=True,
                                                key=f"{k}-photos")
        comment = st.text_area(action.comment or "意见（可选）", key=f"{k}-comment", height=80,
                               max_chars=LIMITS["comment"])  # the widget shows the count against it
        c1, c2 = st.columns(2)
        submitted = c1.form_submit_button(f"确认{action.label}", type="primary", width="stretch")
        cancelled = c2.form_submit_button("取消", width="stretch")
    if cancelled:
        st.session_state.pop(chosen_key, None)
        st.rerun()
    if submitted:
        outcome = event_actions.transition(engine, viewer, case["id"], action.id, comment, version=seen_version,
                                           client=_client(), **values)
        st.session_state[_outcome_key(key)] = outcome
        if outcome.ok or outcome.stale:  # done, or moot: the case has moved on since the form was opened
            st.session_state.pop(chosen_key, None)
        st.rerun()
