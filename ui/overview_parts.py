"""Widgets of the overview page. Data comes from the situation read models and the indicator engine,
cached by what it was computed from (ui/versions.py): the data versions of the domains each figure reads,
and the clock for figures that compare with "now". A write shows at the next rerun; an unchanged
database is not recomputed. max_entries bounds each cache (scopes × periods × viewers)."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from auth import actions as auth_actions
from auth.roles import pages_for
from events.layers import case_heat_layer, case_point_layer
from events.views import EventViews
from geo import layers as L
from geo.views import RegionViews
from indicators.status import status_rgba
from situation import kpis
from situation.briefing import Tile, briefing_html, svg_map
from situation.events_map import event_map
from situation.regions_map import scope_shapes
from situation.report_progress import RATE, progress_table
from situation.urgent import urgent_items
from store.db import session_scope
from store.period import Period, local_tz
from store.scope import Viewer
from ui import charts, map_legend, plain, versions
from ui.kpi_tiles import show_grid as show_tile_grid
from ui.chrome import demo_loaded
from ui.context import set_region
from ui.data import app_engine
from ui.session import client_address

# Entries kept per cached function (least recently used go first). Entries of an old version are never
# asked for again and age out here; the big ones (map specs, event points, shapes) are kept fewer.
ENTRIES = 256
BIG_ENTRIES = 48
LAYERS = {"regions": "区域指标", "events": "网格事件", "sensors": "监测站点", "resources": "应急资源",
          "incidents": "突发事件"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- pickers ------------------------------------------------------------------------------------------
def indicator_picker(code: str) -> str:
    options = kpis.map_indicators(code)
    wanted = st.query_params.get("indicator")
    if wanted not in options:
        if wanted:
            st.warning(f"指标 {plain.md(wanted)} 不存在或不适用于当前层级，已改用默认指标")  # from the URL
        wanted = kpis.default_map_indicator(code)
    picked = st.selectbox("地图指标", options=list(options), index=list(options).index(wanted),
                          format_func=lambda i: options[i], key="indicator-picker")
    if picked != st.query_params.get("indicator"):
        st.query_params["indicator"] = picked
    return picked


def layer_picker() -> list[str]:
    return st.pills("图层", options=list(LAYERS), format_func=LAYERS.get, selection_mode="multi",
                    default=["regions", "events", "incidents"], key="layer-picker") or []


# -- cached data --------------------------------------------------------------------------------------
# Each cached function takes `inputs` (ui.versions) only as part of its key: it is never read inside.
EVENT_INPUTS = ("events", "regions")
URGENT_INPUTS = ("events", "sensors", "emergency", "supervision", "regions")
LAYER_INPUTS = {"sensors": ("sensors", "readings", "regions"), "resources": ("emergency", "regions"),
                "incidents": ("emergency", "regions")}


@st.cache_data(max_entries=BIG_ENTRIES, show_spinner=False)
def _shapes_for(viewer: Viewer, code: str, inputs: tuple):  # noqa: ANN202
    with RegionViews.open(app_engine(), viewer) as regions:
        return scope_shapes(regions, code)


def _shapes(viewer: Viewer, code: str):  # noqa: ANN202
    return _shapes_for(viewer, code, versions.versions("regions"))


@st.cache_data(max_entries=BIG_ENTRIES, show_spinner=False)
def _events_for(viewer: Viewer, code: str, period_key: str, inputs: tuple):  # noqa: ANN202
    with session_scope(app_engine(), readonly=True) as s:
        return event_map(s, viewer, code, Period.parse(period_key), _now())


# Each cached read is asked through a "call" (the cached function and the arguments its part passes), so
# the part and the prefetch below ask with the very same key.
def _value(call: tuple):  # noqa: ANN202
    fn, args = call
    return fn(*args)


def _events_call(viewer: Viewer, code: str, period_key: str) -> tuple:
    # Overdue marks compare with now: the clock is an input too.
    return _events_for, (viewer, code, period_key, versions.inputs(*EVENT_INPUTS, now=True))


def _events(viewer: Viewer, code: str, period_key: str):  # noqa: ANN202
    return _value(_events_call(viewer, code, period_key))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def _tiles_for(viewer: Viewer, code: str, period_key: str, ids: tuple[str, ...], inputs: tuple) -> list[Tile]:
    return kpis.tiles(viewer, code, Period.parse(period_key), ids=ids)


def cached_tiles(viewer: Viewer, code: str, period_key: str) -> list[Tile]:
    """The scope's tile grid, cached in groups by the data each group reads: a sensor batch (every second
    under live ingest) recomputes the environment tiles only, a case write the case tiles only."""
    order = kpis.tile_ids(code)
    by_id: dict[str, Tile] = {}
    for ids, call in _tile_calls(viewer, code, period_key, order):
        by_id.update(zip(ids, _value(call)))
    return [by_id[i] for i in order]


def _tile_calls(viewer: Viewer, code: str, period_key: str, order: list[str]) -> list[tuple[tuple, tuple]]:
    """(the group's indicator ids, its call) for each group of the scope's tiles."""
    return [(ids, (_tiles_for, (viewer, code, period_key, ids, inputs)))
            for ids, inputs in versions.indicator_groups(order)]


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def _children_for(viewer: Viewer, code: str, period_key: str, indicator_id: str, inputs: tuple):  # noqa: ANN202
    return kpis.children_values(viewer, code, Period.parse(period_key), indicator_id)


def _children_call(viewer: Viewer, code: str, period_key: str, indicator_id: str) -> tuple:
    return _children_for, (viewer, code, period_key, indicator_id, versions.indicator_inputs([indicator_id]))


def _children(viewer: Viewer, code: str, period_key: str, indicator_id: str):  # noqa: ANN202
    return _value(_children_call(viewer, code, period_key, indicator_id))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def _trend_for(viewer: Viewer, code: str, period_key: str, indicator_id: str, inputs: tuple):  # noqa: ANN202
    return kpis.trend(viewer, code, Period.parse(period_key), indicator_id)


def _trend_call(viewer: Viewer, code: str, period_key: str, indicator_id: str) -> tuple:
    return _trend_for, (viewer, code, period_key, indicator_id, versions.indicator_inputs([indicator_id]))


def _trend(viewer: Viewer, code: str, period_key: str, indicator_id: str):  # noqa: ANN202
    return _value(_trend_call(viewer, code, period_key, indicator_id))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def _urgent_for(viewer: Viewer, code: str, inputs: tuple):  # noqa: ANN202
    with session_scope(app_engine(), readonly=True) as s:
        return urgent_items(s, viewer, code, _now())


def _urgent_call(viewer: Viewer, code: str) -> tuple:
    # Overdue cases and escalations are "overdue now": the clock is an input too.
    return _urgent_for, (viewer, code, versions.inputs(*URGENT_INPUTS, now=True))


def _urgent(viewer: Viewer, code: str):  # noqa: ANN202
    return _value(_urgent_call(viewer, code))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def _progress_for(viewer: Viewer, code: str, period_key: str, inputs: tuple) -> pd.DataFrame:
    with EventViews.open(app_engine(), viewer) as events:
        return progress_table(events, RegionViews(events.session, viewer), code, Period.parse(period_key))


def _progress_call(viewer: Viewer, code: str, period_key: str) -> tuple:
    return _progress_for, (viewer, code, period_key, versions.inputs(*EVENT_INPUTS))


# -- prefetch -----------------------------------------------------------------------------------------
# A first view's reads are independent of one another, and each waits on the database for part of its
# time. So the run hands them to three background threads before it draws anything — the map's child
# values and cases, the tile groups, the urgent list, the report progress, the trend — each asked through
# the same `_…_call` its part uses, so the part finds the value cached, or waits on Streamlit's per-key
# compute lock for the thread still computing it. Nothing depends on it: a prefetch that fails or has not
# started leaves the part to compute its value itself, as without prefetching. The threads compute values
# only, never draw, and none outlives its run (`settle`: what has not started is cancelled, what runs is
# waited for).
# City PostgreSQL, first view of a district: median 506/418 ms without, 341/358 with (bench/RESULTS.md).
_PREFETCH = ThreadPoolExecutor(max_workers=3, thread_name_prefix="overview-prefetch")


def prefetch(viewer: Viewer, code: str, period: Period, indicator_id: str) -> list[Future]:
    calls = [_children_call(viewer, code, period.key, indicator_id), _events_call(viewer, code, period.key),
             *(call for _, call in _tile_calls(viewer, code, period.key, kpis.tile_ids(code))),
             _urgent_call(viewer, code),
             _progress_call(viewer, code, period.key), _trend_call(viewer, code, period.key, indicator_id)]
    return [_PREFETCH.submit(_value, call) for call in calls]


def settle(prefetched: list[Future]) -> None:
    for future in prefetched:
        future.cancel()  # not started (queued behind other sessions' prefetches): the page has its values
    wait(prefetched)


# -- map ----------------------------------------------------------------------------------------------
def build_layers(viewer: Viewer, code: str, period: Period, indicator_id: str, layers: list[str],
                 label_px: int = 13) -> tuple:
    """(deck layers, bbox, legend groups): the chosen layers, with the children's place names on top."""
    shapes, own, bbox = _shapes(viewer, code)
    deck_layers = []
    legend = None
    events_mode = "points"
    if "regions" in layers and not shapes.empty:
        values, legend = _children(viewer, code, period.key, indicator_id)
        frame = shapes.merge(values.drop(columns=["name"]), on="code", how="left")
        frame["tip"] = [f"{n}\n{legend['name']}：{t}" for n, t in zip(frame["name"], frame["value_text"].fillna("无数据"))]
        frame["color"] = [status_rgba(s) for s in frame["status"]]
        deck_layers += [L.region_layer(frame), L.region_outline_layer(frame)]
    if own:
        deck_layers.append(L.outline_layer([own]))
    if "events" in layers:
        em = _events(viewer, code, period.key)
        if em.mode == "points":
            deck_layers.append(case_point_layer(em.frame))
        elif not em.frame.empty:
            events_mode = "heat"
            deck_layers.append(case_heat_layer(em.frame))
    for extra in ("sensors", "resources", "incidents"):
        if extra in layers:
            layer = kpis.extra_layer(extra, viewer, code)
            if layer is not None:
                deck_layers.append(layer)
    if not shapes.empty:  # place names last, so no point or area hides them
        deck_layers.append(L.label_layer(L.region_labels(shapes), "region-labels", size=label_px))
    return deck_layers, bbox, map_legend.for_layers(layers, legend, events_mode)


@st.cache_data(max_entries=BIG_ENTRIES, show_spinner=False)
def _map_spec_for(viewer: Viewer, code: str, period_key: str, indicator_id: str, layers: tuple[str, ...],
                  size: tuple[int, int], margin: float, label_px: int, inputs: tuple) -> tuple[str, list]:
    deck_layers, bbox, legend = build_layers(viewer, code, Period.parse(period_key), indicator_id, list(layers),
                                             label_px)
    view = L.view_for_bbox(bbox, size[0], size[1], margin=margin)
    return L.deck_json(L.deck(deck_layers, view)), legend


def map_inputs(indicator_id: str, layers: tuple[str, ...]) -> tuple:
    """What the map of these layers is drawn from: the regions, the colouring indicator's inputs, and each
    object layer's domains; the clock when a layer marks something by its age (overdue cases, silent
    stations)."""
    domains = {"regions"}
    now = False
    if "regions" in layers:
        read, now = versions.indicator_reads([indicator_id])
        domains.update(read)
    if "events" in layers:
        domains.update(EVENT_INPUTS)
        now = True
    for extra in ("sensors", "resources", "incidents"):
        if extra in layers:
            domains.update(LAYER_INPUTS[extra])
            now = now or extra == "sensors"
    return versions.inputs(*domains, now=now)


def map_spec(viewer: Viewer, code: str, period_key: str, indicator_id: str, layers: tuple[str, ...],
             size: tuple[int, int], margin: float = 0.08, label_px: int = 13) -> tuple[str, list]:
    """The map's deck as JSON and its legend groups (ui.map_legend), cached like the data under it:
    serialising the deck is the most expensive step of drawing the page, and the same spec serves every
    viewer of the scope."""
    return _map_spec_for(viewer, code, period_key, indicator_id, tuple(layers), tuple(size), margin, label_px,
                         map_inputs(indicator_id, tuple(layers)))


def region_label_layer(viewer: Viewer, code: str, label_px: int = 13):  # noqa: ANN201
    """The place names of the scope's children, for maps drawn by other pages (生态环境)."""
    shapes, _, _ = _shapes(viewer, code)
    return L.label_layer(L.region_labels(shapes), "region-labels", size=label_px) if not shapes.empty else None


def situation_map(viewer: Viewer, code: str, period: Period, indicator_id: str, layers: list[str]) -> None:
    spec, legend = map_spec(viewer, code, period.key, indicator_id, tuple(layers), (820, 560))
    event = st.pydeck_chart(L.SerializedDeck(spec), on_select="rerun",
                            selection_mode="single-object", key=f"overview-map-{code}", height=560)
    picked = _picked_region(event)
    if picked and picked != code:
        set_region(picked)
        st.rerun()
    map_legend.show(legend)


def _picked_region(event) -> str | None:  # noqa: ANN001
    try:
        objects = event.selection["objects"].get("regions") or []
    except (AttributeError, KeyError, TypeError):
        return None
    if not objects:
        return None
    obj = objects[0]
    return (obj.get("properties") or {}).get("code") or obj.get("code")


# -- side panels --------------------------------------------------------------------------------------
def urgent_list(viewer: Viewer, code: str) -> None:
    st.markdown("##### 重点事项")
    items = _urgent(viewer, code)
    if not items:
        st.success("当前无超期案件、开放预警或突发事件")
        return
    allowed = {p.path for p in pages_for(viewer.role)}
    icons = {"突发事件": ":material/emergency_home:", "预警": ":material/warning:", "超期案件": ":material/timer_off:"}
    with st.container(height=260):
        for item in items[:24]:
            label = f"**{item.kind}** {plain.md(item.text)}"
            if item.page in allowed:
                try:
                    st.page_link(item.page, label=label, icon=icons.get(item.kind), query_params=item.params)
                    continue
                except StreamlitPageNotFoundError:
                    pass  # the page script runs outside app.py's navigation (tests, embedding)
            st.markdown(f"{icons.get(item.kind, '')} {label}")


def ranking(viewer: Viewer, code: str, period: Period, indicator_id: str) -> None:
    values, legend = _children(viewer, code, period.key, indicator_id)
    st.markdown(f"##### 下级排名 · {legend['name']}")
    ranked = kpis.rank(values, legend)
    if ranked.empty:
        st.info("当前范围没有下级区域或暂无数据")
        return
    st.dataframe(ranked, hide_index=True, width="stretch", height=min(36 * (len(ranked) + 1) + 4, 320))


def report_progress(viewer: Viewer, code: str, period: Period) -> None:
    """Of the period's reports, how many sit at each stage now, per child region (situation.report_progress)."""
    table = _value(_progress_call(viewer, code, period.key))
    if table.empty:
        return
    st.markdown("##### 本期上报案件办理进度")
    st.caption("统计期内上报的案件，按各下级区域，当前所处环节的件数；办结率 = 已办结（结案、不予立案、重复合并）÷ 上报。")
    st.dataframe(table, hide_index=True, width="stretch", height=min(36 * (len(table) + 1) + 4, 320),
                 column_config={RATE: st.column_config.ProgressColumn(RATE, format="%.1f%%", min_value=0,
                                                                       max_value=100)})


def kpi_tiles(viewer: Viewer, code: str, period: Period) -> None:
    tiles = cached_tiles(viewer, code, period.key)
    domains = list(dict.fromkeys(t.domain for t in tiles))
    for tab, domain in zip(st.tabs(domains), domains):
        with tab:
            show_tile_grid([t for t in tiles if t.domain == domain])


def trend(viewer: Viewer, code: str, period: Period, indicator_id: str) -> None:
    frame, legend = _trend(viewer, code, period.key, indicator_id)
    st.markdown(f"##### 趋势 · {legend['name']}（近 12 个月）")
    if frame.empty or frame["value"].isna().all():
        st.info("暂无趋势数据")
        return
    fig = go.Figure(go.Scatter(x=frame["period"], y=frame["value"], mode="lines+markers", name=legend["name"],
                               hovertemplate=f"{charts.hover_date('month')}<br>%{{y}} {plain.html(legend.get('unit', ''))}"
                                             "<extra></extra>"))
    if legend.get("target") is not None:
        fig.add_hline(y=legend["target"], line_dash="dot", annotation_text="目标")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), yaxis_title=legend.get("unit", ""),
                      template=charts.DARK)
    charts.show(charts.time_axis(fig, "month"))


# -- briefing -----------------------------------------------------------------------------------------
def briefing_downloads(viewer: Viewer, code: str, period: Period, indicator_id: str, crumbs: list[dict]) -> None:
    """Both files are generated when clicked (deferred download data), so rendering the page costs
    nothing and every export is audited at the moment it happens."""
    st.markdown("##### 会议材料")
    c1, c2 = st.columns(2)
    scope_name = " › ".join(c["name"] for c in crumbs)

    def workbook() -> bytes:
        return kpis.workbook(viewer, code, period, cached_tiles(viewer, code, period.key))

    engine, client = app_engine(), client_address()  # read now: the download runs outside this script run

    def briefing() -> bytes:
        shapes, _, _ = _shapes(viewer, code)
        values, legend = _children(viewer, code, period.key, indicator_id)
        urgent = _urgent(viewer, code)[:10]
        data = briefing_html(
            title=f"{scope_name} 城市运行简报", scope_name=scope_name, period_label=period.label,
            indicator_name=legend["name"], svg=svg_map(shapes.merge(values.drop(columns=["name"]), on="code", how="left")),
            tiles=cached_tiles(viewer, code, period.key),
            issues=[f"{i.kind}：{i.text}" for i in urgent],
            generated_at=datetime.now(local_tz()).strftime("%Y-%m-%d %H:%M"), demo=demo_loaded(),
        ).encode("utf-8")
        # Audited like every export (auth.exports does the workbooks): who, what, which scope, when.
        auth_actions.record_export(engine, viewer, "会议简报", code, client=client,
                                   detail={"period": period.key, "indicator": indicator_id, "format": "html",
                                           "issues": len(urgent), "bytes": len(data)})
        return data

    c1.download_button("下载指标工作簿（Excel，按职能分表）", workbook, file_name=f"指标_{code}_{period.key}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/table:", on_click="ignore", width="stretch")
    c2.download_button("下载一页简报（可打印 HTML）", briefing, file_name=f"简报_{code}_{period.key}.html",
                       mime="text/html", icon=":material/print:", on_click="ignore", width="stretch")
