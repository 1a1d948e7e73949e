"""重复上报 on screen: the candidates a report form shows before submit (a small map, distance, age) and the
reporter's answer; the suspects on a case panel with the two answers; the dispatch console's bulk
merge of suspected reports (imports, the open API). Reads through events.views, writes through
events.actions (events.duplicates decides)."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pydeck as pdk
import streamlit as st
from sqlalchemy import Engine

from events import actions as event_actions
from events.views import EventViews
from geo import layers as L
from geo.crs import UnknownCRS, to_wgs84
from store.scope import Viewer
from ui import plain

NEW = 0  # the radio's "a problem of its own" option


def _age(hours: float) -> str:
    if hours < 0:
        return f"晚 {abs(hours):.0f} 小时"
    return f"{hours:.0f} 小时前" if hours >= 1 else f"{hours * 60:.0f} 分钟前"


def _map(found: list[dict], here: tuple[float, float] | None, key: str) -> None:
    points = pd.DataFrame([{"lon": c["lon"], "lat": c["lat"], "tip": f"#{c['id']} {c['title']}",
                            "color": [231, 76, 60, 230]} for c in found]
                          + ([{"lon": here[0], "lat": here[1], "tip": "本次上报位置", "color": [59, 163, 255, 255]}]
                             if here else []))
    layer = pdk.Layer("ScatterplotLayer", id=f"{key}-points", data=points, get_position=["lon", "lat"],
                      get_fill_color="color", get_radius=6, radius_min_pixels=5, radius_max_pixels=10,
                      pickable=True, stroked=True, get_line_color=[255, 255, 255, 255], line_width_min_pixels=1)
    lons, lats = points["lon"], points["lat"]
    view = L.view_for_bbox((lons.min() - 0.0008, lats.min() - 0.0006, lons.max() + 0.0008, lats.max() + 0.0006),
                           width=360, height=200)
    st.pydeck_chart(L.deck([layer], view), height=200, key=f"{key}-map")


def _table(found: list[dict]) -> None:
    # Distance and age first: on a phone the table scrolls sideways after three columns.
    st.dataframe(pd.DataFrame([{"编号": c["id"], "距离（米）": round(c["distance_m"]), "上报": _age(c["age_hours"]),
                                "状态": c["status_name"], "标题": c["title"]} for c in found]),
                 hide_index=True, width="stretch")


def duplicate_check(engine: Engine, viewer: Viewer, *, category: str | None, subcategory: str | None,
                    lon: float | None, lat: float | None, crs: str = "wgs84", key: str = "dup") -> dict:
    """Before submit: the open cases this report may repeat and the reporter's answer, as keyword
    arguments for events.actions.report_case — {} (none found, or no answer: the duty officer decides),
    {"duplicate_of": id} or {"confirmed_new": True}."""
    with EventViews.open(engine, viewer) as v:
        found = v.duplicate_candidates(category=category, subcategory=subcategory, lon=lon, lat=lat, crs=crs)
    if not found:
        return {}
    with st.container(border=True, key=f"{key}-box"):
        st.markdown(f":orange-badge[疑似重复] 附近已有 **{len(found)}** 件同类在办案件，可能是同一问题：")
        try:
            here = to_wgs84(float(lon), float(lat), crs)
        except (UnknownCRS, TypeError, ValueError):
            here = None
        _map(found, here, key)
        _table(found)
        by_id = {c["id"]: c for c in found}
        choice = st.radio("是否为同一问题？", [NEW, *by_id], index=None, key=f"{key}-answer",
                          format_func=lambda i: "不是，作为新问题上报" if i == NEW else
                          f"是，与 #{i} 是同一问题（相距 {by_id[i]['distance_m']:.0f} 米，{_age(by_id[i]['age_hours'])}"
                          "上报；合并到该案件，本次上报记为重复）")
        if choice is None:
            st.caption("未选择时照常上报，由指挥中心判定是否重复。")
            return {}
    return {"confirmed_new": True} if choice == NEW else {"duplicate_of": int(choice)}


def merge_target(case: dict, key: str) -> int | None:
    """The open case a report is merged into (the 合并为重复 form): a suspect, or a typed case number."""
    suspects = [s["id"] for s in case.get("duplicate_suspects") or []]
    return st.number_input("所重复的在办案件编号", min_value=1, step=1, value=suspects[0] if suspects else None,
                           key=f"{key}-target", placeholder="如 1024")


def case_suspects(engine: Engine, viewer: Viewer, case: dict, key: str, *, remember: Callable,
                  client: str | None = None) -> None:
    """On a reported case that waits for a duplicate answer: its candidates and, for whoever may answer,
    the two answers (the outcome goes to `remember`, the case panel's, and the page reruns)."""
    suspects = case.get("duplicate_suspects") or []
    if not suspects or case["status"] != "reported":
        return
    with st.container(border=True, key=f"{key}-suspects-{case['id']}"):
        st.markdown(":orange-badge[疑似重复] 上报时发现附近有同类在办案件，待判定：")
        st.dataframe(pd.DataFrame([{"编号": s["id"], "距离（米）": round(s["distance_m"]), "上报": _age(s["age_hours"]),
                                    "状态": s.get("status_name", ""), "标题": s["title"]}
                                   for s in suspects]), hide_index=True, width="stretch")
        if not any(a["id"] == "merge" for a in case["actions"]):
            return
        c1, c2, c3 = st.columns([2, 1, 1])
        target = c1.selectbox("合并到", [s["id"] for s in suspects], key=f"{key}-merge-to-{case['id']}",
                              format_func=lambda i: f"#{i}")
        if c2.button("合并为重复", key=f"{key}-merge-{case['id']}", width="stretch"):
            remember(event_actions.merge_duplicates(engine, viewer, [(case["id"], int(target), case["version"])],
                                                    client=client)[0])
            st.rerun()
        if c3.button("确认非重复", key=f"{key}-new-{case['id']}", width="stretch"):
            remember(event_actions.confirm_new_case(engine, viewer, case["id"], version=case["version"],
                                                    client=client))
            st.rerun()


def bulk_merge_panel(engine: Engine, viewer: Viewer, region: str | None = None, key: str = "dups",
                     client: str | None = None) -> None:
    """The reports waiting for a duplicate answer in the scope (imports, the open API, forms sent without
    an answer), each with its nearest candidate; the chosen ones merged or confirmed as new at once."""
    with EventViews.open(engine, viewer) as v:
        rows = v.suspected_duplicates(region)
    if not rows:
        return
    with st.expander(f"疑似重复上报（{len(rows)} 件待判定）", expanded=False):
        frame = pd.DataFrame(rows)
        shown = frame[["id", "source", "subcategory", "title", "reported_at", "candidate_id", "distance_m",
                       "age_hours"]].rename(columns={
            "id": "编号", "source": "来源", "subcategory": "小类", "title": "标题", "reported_at": "上报时间",
            "candidate_id": "疑似重复于", "distance_m": "距离（米）", "age_hours": "相隔（小时）"})
        picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                              selection_mode="multi-row", key=f"{key}-table")
        chosen = frame.iloc[picked.selection.rows] if picked is not None and picked.selection.rows else frame.iloc[0:0]
        st.caption("选中若干件后：合并到各自「疑似重复于」的在办案件，或确认为新案件。不会自动合并。")
        c1, c2 = st.columns(2)
        if c1.button(f"合并为重复（{len(chosen)} 件）", key=f"{key}-merge", disabled=chosen.empty, width="stretch"):
            results = event_actions.merge_duplicates(
                engine, viewer, [(int(r.id), int(r.candidate_id), int(r.version)) for r in chosen.itertuples()],
                client=client)
            _show(results)
        if c2.button(f"确认为新案件（{len(chosen)} 件）", key=f"{key}-new", disabled=chosen.empty, width="stretch"):
            _show([event_actions.confirm_new_case(engine, viewer, int(r.id), version=int(r.version), client=client)
                   for r in chosen.itertuples()])


def _show(results) -> None:  # noqa: ANN001
    good = [r for r in results if r.ok]
    if good:
        plain.success(f"成功 {len(good)} 件：" + "；".join(r.message for r in good[:10]))
    for r in results:
        if not r.ok:
            plain.warning(r.message)
