"""我的网格: a grid officer's own grid(s) — open cases by deadline, the zone map, the report form (location
by tapping the map or typed in WGS-84 / GCJ-02 / BD-09), and the actions the officer may take (核查).
Single-column friendly: works on a 390-px phone screen (Streamlit stacks columns below 640 px)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pydeck as pdk
import streamlit as st

from events import queries as Q
from events.catalog import get_catalog
from events.intake import IntakeError, create_event
from events.photos import PhotoError, max_photos
from geo import layers as L
from geo.crs import LABELS as CRS_LABELS
from store.db import session_scope
from store.scope import PermissionDenied
from ui import case_panel
from ui.data import app_engine
from ui.session import require_viewer

viewer = require_viewer()
engine = app_engine()
now = datetime.now(timezone.utc)

with session_scope(engine, readonly=True) as s:
    grids = Q.zone_grids(s, viewer)
    counts = Q.status_counts(s, viewer, now=now)
    cases = Q.grid_cases(s, viewer, page_size=200, now=now)
    points, _total = Q.map_points(s, viewer, now=now)

zone_name = "、".join(grids["name"].tolist()[:3]) + ("等" if len(grids) > 3 else "") if not grids.empty else viewer.zone_code
st.markdown(f"### 我的网格 · {zone_name}")
# One compact line rather than three stacked tiles: this page is used on a phone.
open_total = sum(counts[s] for s in counts if s not in ("overdue", "warning"))
st.markdown(f":blue-badge[在办案件 {open_total}] :red-badge[已超期 {counts['overdue']}] "
            f":orange-badge[即将超期 {counts['warning']}] :violet-badge[待核查 {counts['handled']}]")

tab_cases, tab_report, tab_map = st.tabs(["我的案件", "上报事件", "网格地图"])

# -- cases ---------------------------------------------------------------------------------------------
with tab_cases:
    if not cases.rows:
        st.info("网格内没有在办案件")
    else:
        frame = pd.DataFrame(cases.rows)
        only_verify = st.toggle("只看待核查", key="mg_only_verify", value=counts["handled"] > 0)
        if only_verify:
            frame = frame[frame["status"] == "handled"]
        if frame.empty:
            st.info("没有待核查的案件")
        else:
            shown = frame[["id", "deadline_state_name", "status_name", "subcategory", "remaining"]].rename(columns={
                "id": "编号", "deadline_state_name": "时限", "status_name": "状态", "subcategory": "小类",
                "remaining": "剩余/超期"})
            st.dataframe(shown, hide_index=True, width="stretch")
            ids = frame["id"].astype(int).tolist()
            titles = dict(zip(frame["id"].astype(int), frame["title"]))
            current = st.session_state.get("mg_case")
            choice = st.selectbox("查看案件", ids, index=ids.index(current) if current in ids else 0, key="mg_pick",
                                  format_func=lambda i: f"#{i} {titles[i]}")
            st.session_state["mg_case"] = choice
            case_panel.render(engine, viewer, int(choice), key="mygrid")

# -- zone map (also the place to pick a report location) ---------------------------------------------------
lattice = Q.location_lattice(grids, max_points=600)
with tab_map:
    if grids.empty:
        st.warning("未找到您的网格边界")
    else:
        regions = grids.assign(tip=grids["name"], status=None)
        layers = [L.region_layer(regions, layer_id="my-grids"),
                  L.event_point_layer(points.assign(tip=points["tip"]), layer_id="my-events")]
        if not lattice.empty:
            layers.append(pdk.Layer(
                "ScatterplotLayer", id="pick-lattice", data=lattice, get_position=["lon", "lat"],
                get_fill_color=[255, 255, 255, 22], get_radius=20, radius_min_pixels=2, radius_max_pixels=6,
                pickable=True, auto_highlight=True, highlight_color=[59, 163, 255, 255]))
        view = L.view_for_bbox(Q.zone_bbox(grids), width=360, height=420)  # sized for a phone screen
        picked = st.pydeck_chart(L.deck(layers, view), height=420,
                                 on_select="rerun", selection_mode="single-object", key="mg_map")
        objects = (picked.selection.objects if picked is not None and picked.selection else {}) or {}
        hit = (objects.get("pick-lattice") or [None])[0]
        if hit:
            st.session_state["mg_loc"] = (float(hit["lon"]), float(hit["lat"]))
            st.session_state["mg_crs"] = "wgs84"
            st.session_state["mg_lon"] = float(hit["lon"])
            st.session_state["mg_lat"] = float(hit["lat"])
        st.caption("点击网格内的小圆点即可选定上报位置（约每隔几十米一个点），然后到「上报事件」填写；"
                   "红色为已超期案件，黄色为即将超期。")

# -- report form ------------------------------------------------------------------------------------------
with tab_report:
    catalog = get_catalog()
    tree = catalog.tree()
    kind = st.radio("类型", list(tree), horizontal=True, key="mg_kind")
    category = st.selectbox("大类", list(tree[kind]), key="mg_category")
    subcategory = st.selectbox("小类", tree[kind][category], key="mg_subcategory")
    item = catalog.find(category, subcategory, kind)
    title = st.text_input("标题", value="", key="mg_title", placeholder=f"如：{subcategory}（某某路口）")
    description = st.text_area("问题描述", key="mg_description", height=80)
    urgent = st.toggle("紧急", value=item.urgent, key=f"mg_urgent_{kind}_{category}_{subcategory}",
                       help="紧急案件按自然小时计时，一般案件按工作小时计时")
    st.markdown("**位置**（地图上点选，或直接输入坐标）")
    if "mg_loc" in st.session_state:
        lon0, lat0 = st.session_state["mg_loc"]
        st.caption(f"已在地图上选定：{lon0:.6f}, {lat0:.6f}（WGS-84）")
    # Defaults go through session state (the map pick writes the same keys), never through value=.
    st.session_state.setdefault("mg_crs", "wgs84")
    st.session_state.setdefault("mg_lon", float(grids["lon"].iloc[0]) if not grids.empty else 0.0)
    st.session_state.setdefault("mg_lat", float(grids["lat"].iloc[0]) if not grids.empty else 0.0)
    crs = st.selectbox("坐标系", list(CRS_LABELS), format_func=lambda k: {
        "wgs84": "WGS-84（GPS / 天地图）", "gcj02": "GCJ-02（高德 / 腾讯）", "bd09": "BD-09（百度）"}[k], key="mg_crs")
    lon = st.number_input("经度", format="%.6f", key="mg_lon")
    lat = st.number_input("纬度", format="%.6f", key="mg_lat")
    address = st.text_input("地址（可选）", key="mg_address")
    photos = st.file_uploader(f"现场照片（JPEG/PNG，最多 {max_photos()} 张）", type=["jpg", "jpeg", "png"],
                              accept_multiple_files=True, key="mg_photos")
    with st.expander("反映人（群众当面反映时填写，可选）"):
        reporter_name = st.text_input("姓名", key="mg_rname")
        reporter_phone = st.text_input("电话", key="mg_rphone")
    if st.button("提交上报", type="primary", width="stretch", key="mg_submit"):
        try:
            with session_scope(engine) as s:
                event = create_event(
                    s, source="网格员", category=category, subcategory=subcategory,
                    title=title.strip() or f"{subcategory}（{address.strip() or '现场'}）", description=description,
                    lon=lon, lat=lat, crs=crs, priority="urgent" if urgent else "normal",
                    reporter_name=reporter_name or None, reporter_phone=reporter_phone or None, actor=viewer,
                    photos=photos or None, address=address or None)
                new_id = event.id
            st.session_state.pop("mg_loc", None)
            st.success(f"已上报，案件编号 #{new_id}，等待指挥中心立案")
        except (IntakeError, PermissionDenied, PhotoError) as exc:
            st.error(f"上报失败：{exc}")
