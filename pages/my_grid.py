"""我的网格: a grid officer's own grid(s) — open cases by deadline, the zone map, the report form (location
by tapping the map or typed in WGS-84 / GCJ-02 / BD-09), and the actions the officer may take (核查).
Single-column friendly: works on a 390-px phone screen (Streamlit stacks columns below 640 px).

The report form asks for what events.intake.report_problems requires (大类, 小类, a location, a
description; one Chinese message per missing field), holds every text to events.limits (max_chars shows
the count), says at once why a chosen photo would be refused, and carries a one-time token: a double tap
or a resent request finds the case the first submit created instead of creating another. After a
successful report the form is emptied and the new case number shown."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import pandas as pd
import pydeck as pdk
import streamlit as st

from events import actions, statuses, workflow
from events.catalog import get_catalog
from events.grids import location_lattice, zone_bbox
from events.layers import case_point_layer
from events.limits import LIMITS
from events.photos import photo_problems, photo_rules
from events.views import EventViews
from geo import layers as L
from geo.crs import LABELS as CRS_LABELS
from ui import case_panel, plain
from ui.duplicates import duplicate_check
from ui.data import app_engine
from ui.session import client_address, require_viewer

PANEL = "mygrid"  # the case panel's key
# The report form is emptied after a successful report by giving every one of its widgets a new key
# (the form number is part of each key): removing a key from session_state does not empty what the
# browser shows, so a reused key would keep the old values on screen and send them again.

viewer = require_viewer()
engine = app_engine()
now = datetime.now(timezone.utc)
state = st.session_state


def new_form() -> None:
    """An empty report form with a new one-time token (events.intake.case_for_token); the widgets of
    the previous form number are dropped from the session."""
    old = state.get("mg_form_n")
    if old is not None:
        for k in [k for k in state if isinstance(k, str) and k.endswith(f"__{old}")]:
            del state[k]
    state["mg_token"] = secrets.token_urlsafe(24)
    state["mg_form_n"] = (old or 0) + 1


# Before anything reads the form: a report succeeded in the previous run.
just_reset = bool(state.pop("mg_reset", False))
if just_reset or "mg_token" not in state:
    new_form()
form_n = state["mg_form_n"]
if just_reset:
    state["mg_only_verify"] = False  # the officer's new report is listed, not hidden by the 核查 filter


def fk(name: str) -> str:
    """The session key of a report-form widget in this form number."""
    return f"mg_{name}__{form_n}"


with EventViews.open(engine, viewer) as v:
    grids = v.zone_grids()
    counts = v.status_counts(now=now)
    cases = v.grid_cases(page_size=200, now=now)
    points, _total = v.map_points(now=now)
# What the officer checks on site: the states from which 核查 is legal.
to_verify = workflow.statuses_allowing("verify_pass")
to_verify_label = "/".join(statuses.STATUS_NAMES[s] for s in to_verify)

zone_name = "、".join(grids["name"].tolist()[:3]) + ("等" if len(grids) > 3 else "") if not grids.empty else viewer.zone_code
st.markdown(f"### 我的网格 · {plain.md(zone_name)}")
# One compact line rather than three stacked tiles: this page is used on a phone.
verify_total = sum(counts[s] for s in to_verify)
st.markdown(f":{statuses.OPEN.color}-badge[在办案件 {statuses.count_in(counts, statuses.OPEN)}] "
            f":{statuses.DEADLINE_COLORS['overdue']}-badge[已超期 {counts['overdue']}] "
            f":{statuses.DEADLINE_COLORS['warning']}-badge[即将超期 {counts['warning']}] "
            f":{statuses.stage_of(to_verify[0]).color}-badge[{to_verify_label} {verify_total}]")

tab_cases, tab_report, tab_map = st.tabs(["我的案件", "上报事件", "网格地图"])


def _case_picked() -> None:
    state["mg_case"] = state["mg_pick"]


# -- cases ---------------------------------------------------------------------------------------------
with tab_cases:
    notice = st.empty()  # an outcome shown here leaves the list and the panel's map where they are
    acted = case_panel.pending_outcome(PANEL)
    if not cases.rows:
        case_panel.show_outcome(PANEL, notice)
        st.info("网格内没有在办案件")
    else:
        frame = pd.DataFrame(cases.rows)
        state.setdefault("mg_only_verify", verify_total > 0)
        only_verify = st.toggle(f"只看{to_verify_label}", key="mg_only_verify")
        if only_verify:
            frame = frame[frame["status"].isin(to_verify)]
        ids = frame["id"].astype(int).tolist()
        if acted is not None and acted.case_id not in ids:
            case_panel.show_outcome(PANEL, notice)  # the case has left this list: say so, open no other
            state["mg_case"] = None
        if frame.empty:
            st.info(f"没有{to_verify_label}的案件")
        else:
            shown = frame[["id", "deadline_state_name", "status_name", "subcategory", "remaining"]].rename(columns={
                "id": "编号", "deadline_state_name": "时限", "status_name": "状态", "subcategory": "小类",
                "remaining": "剩余/超期"})
            st.dataframe(shown, hide_index=True, width="stretch")
            titles = dict(zip(frame["id"].astype(int), frame["title"]))
            # "mg_case" is the one selection: absent → the list's first case; None → none (the user picks).
            wanted = state.get("mg_case", ids[0])
            current = wanted if wanted in ids else (None if "mg_case" in state and wanted is None else ids[0])
            state["mg_case"] = state["mg_pick"] = current
            choice = st.selectbox("查看案件", ids, index=None, key="mg_pick", on_change=_case_picked,
                                  placeholder="选择要查看的案件", format_func=lambda i: f"#{i} {titles[i]}")
            if choice is not None:
                case_panel.render(engine, viewer, int(choice), key=PANEL)


def _map_picked() -> None:
    """A dot of the lattice was tapped: that is the report's location (only on a new tap, so typed
    coordinates are never overwritten by an old pick)."""
    objects = (state.get(fk("map")) or {}).get("selection", {}).get("objects", {}) or {}
    hit = (objects.get("pick-lattice") or [None])[0]
    if hit:
        state[fk("loc")] = (float(hit["lon"]), float(hit["lat"]))
        state[fk("crs")], state[fk("lon")], state[fk("lat")] = "wgs84", float(hit["lon"]), float(hit["lat"])


# -- zone map (also the place to pick a report location) ---------------------------------------------------
lattice = location_lattice(grids, max_points=600)
with tab_map:
    if grids.empty:
        st.warning("未找到您的网格边界")
    else:
        regions = grids.assign(tip=grids["name"], status=None)
        layers = [L.region_layer(regions, layer_id="my-grids"),
                  case_point_layer(points, layer_id="my-events")]
        if not lattice.empty:
            # Each dot names what a tap does (the shared tooltip shows a layer's "tip" column).
            tapped = lattice.assign(tip="点击选定此处为上报位置")
            layers.append(pdk.Layer(
                "ScatterplotLayer", id="pick-lattice", data=tapped, get_position=["lon", "lat"],
                get_fill_color=[255, 255, 255, 22], get_radius=20, radius_min_pixels=2, radius_max_pixels=6,
                pickable=True, auto_highlight=True, highlight_color=[59, 163, 255, 255]))
        view = L.view_for_bbox(zone_bbox(grids), width=360, height=420)  # sized for a phone screen
        st.pydeck_chart(L.deck(layers, view), height=420, on_select=_map_picked, selection_mode="single-object",
                        key=fk("map"))
        st.caption("点击网格内的小圆点即可选定上报位置（约每隔几十米一个点），然后到「上报事件」填写；"
                   "红色为已超期案件，黄色为即将超期。")

# -- report form ------------------------------------------------------------------------------------------
with tab_report:
    done = state.pop("mg_done", None)
    if done:
        plain.success(done)
    catalog = get_catalog()
    tree = catalog.tree()
    kind = st.radio("类型", list(tree), horizontal=True, key="mg_kind")
    category = st.selectbox("大类（必填）", list(tree[kind]), index=None, placeholder="请选择大类",
                            key=fk("category"))
    subcategory = st.selectbox("小类（必填）", tree[kind].get(category, []), index=None,
                               placeholder="请选择小类" if category else "请先选择大类", key=fk("subcategory"),
                               disabled=category is None)
    item = catalog.find(category, subcategory, kind) if subcategory in tree[kind].get(category, []) else None
    title = st.text_input("标题（可选）", key=fk("title"), max_chars=LIMITS["title"],
                          placeholder="不填则为「小类（地址）」")
    description = st.text_area("问题描述（必填）", key=fk("description"), height=80, max_chars=LIMITS["description"],
                               placeholder="现场看到的问题，如：路口东侧人行道堆放建筑垃圾约 2 立方米")
    urgent = st.toggle("紧急", value=bool(item and item.urgent), key=fk(f"urgent_{kind}_{category}_{subcategory}"),
                       help="紧急案件按自然小时计时，一般案件按工作小时计时")
    st.markdown("**位置（必填）**：在「网格地图」上点选，或输入坐标")
    if fk("loc") in state:
        lon0, lat0 = state[fk("loc")]
        st.caption(f"已在地图上选定：{lon0:.6f}, {lat0:.6f}（WGS-84）")
    state.setdefault(fk("crs"), "wgs84")
    crs = st.selectbox("坐标系", list(CRS_LABELS), format_func=lambda k: {
        "wgs84": "WGS-84（GPS / 天地图）", "gcj02": "GCJ-02（高德 / 腾讯）", "bd09": "BD-09（百度）"}[k], key=fk("crs"))
    lon = st.number_input("经度", value=None, format="%.6f", key=fk("lon"), placeholder="如 110.925000")
    lat = st.number_input("纬度", value=None, format="%.6f", key=fk("lat"), placeholder="如 21.663000")
    address = st.text_input("地址（可选）", key=fk("address"), max_chars=LIMITS["address"])
    # Any file is taken, so that a wrong one is refused with a Chinese reason (Streamlit's own type
    # filter would drop it with an English hover text and the report would go without it).
    photos = st.file_uploader(f"现场照片（可选；{photo_rules()}）", accept_multiple_files=True,
                              key=fk("photos"))
    refused = photo_problems(photos)
    for problem in refused:
        plain.error(problem)
    with st.expander("反映人（群众当面反映时填写，可选）"):
        reporter_name = st.text_input("姓名", key=fk("rname"), max_chars=LIMITS["reporter_name"])
        reporter_phone = st.text_input("电话", key=fk("rphone"), max_chars=LIMITS["reporter_phone"])
    # 重复上报: open cases of this 小类 nearby, shown before submit, and the officer's answer (ui.duplicates).
    answer = duplicate_check(engine, viewer, category=category, subcategory=subcategory, lon=lon, lat=lat, crs=crs,
                             key=fk("dup"))
    # A tap that arrives with the run that empties the form after a success is not a new report.
    if st.button("提交上报", type="primary", width="stretch", key="mg_submit") and not just_reset:
        outcome = actions.report_case(
            engine, viewer, category=category, subcategory=subcategory, title=title, description=description,
            lon=lon, lat=lat, crs=crs, urgent=urgent, address=address, reporter_name=reporter_name,
            reporter_phone=reporter_phone, photos=photos, client=client_address(), client_token=state["mg_token"],
            **answer)
        if outcome.ok:
            state["mg_reset"] = True
            state["mg_done"] = outcome.message
            state["mg_case"] = outcome.case_id
            st.rerun()
        elif outcome.problems:
            plain.error("上报未提交，请补全或改正：\n" + "\n".join(f"· {m}" for m in outcome.problems.values()))
        else:
            plain.error(f"上报未提交：{outcome.message}")
