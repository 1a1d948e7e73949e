"""指标库: the indicator catalogue. Search and filter by function; each indicator's definition in words
and as a formula, thresholds and target, its live value for the current scope and period, its trend and
the ranking of the child regions; the catalogue exports to Excel (audited)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import indicators as I
from auth import exports
from indicators.catalogue import catalogue_frame, domain_counts, search
from indicators.describe import READ_KINDS, formula_text, reading, summary_rows
from indicators.schema import DOMAINS, GRAIN_NAMES, POLARITY_NAMES
from indicators.status import (STATUS_COLORS, STATUS_LABELS, fmt_delta, fmt_number, fmt_value, status_color,
                               status_label)
from store.period import Period
from store.scope import PermissionDenied, Viewer
from store.region_codes import level_of
from ui import charts, plain, versions
from ui.chrome import resolve_scope
from ui.context import current_period
from ui.data import app_engine
from ui.session import require_viewer

viewer = require_viewer()
code, crumbs, kids = resolve_scope(viewer)
period = current_period()
engine = app_engine()
scope_name = " › ".join(c["name"] for c in crumbs) or code


# Cached by what each figure reads (ui/versions.py: data versions of its domains, and the clock for "now"
# figures), never by a time-to-live; `inputs` is only part of the key.
@st.cache_data(max_entries=256, show_spinner=False)
def _live_values(ids: tuple[str, ...], scope: str, period: Period, who: Viewer, inputs: tuple) -> dict:
    return I.compute_many(list(ids), scope, period, who, engine=app_engine())


def live_values(ids: tuple[str, ...], scope: str, period: Period, who: Viewer) -> dict:
    """In groups by the data they read, so a sensor batch recomputes only the environment figures."""
    out: dict = {}
    for group, inputs in versions.indicator_groups(ids):
        out.update(_live_values(group, scope, period, who, inputs))
    return out


@st.cache_data(max_entries=256, show_spinner=False)
def _trend(indicator_id: str, scope: str, start: str, end: str, grain: str, who: Viewer,
           inputs: tuple) -> pd.DataFrame:
    return I.series(indicator_id, scope, start, end, grain, who, engine=app_engine())


def trend(indicator_id: str, scope: str, start: str, end: str, grain: str, who: Viewer) -> pd.DataFrame:
    return _trend(indicator_id, scope, start, end, grain, who, versions.indicator_inputs([indicator_id]))


@st.cache_data(max_entries=256, show_spinner=False)
def _children(indicator_id: str, scope: str, period: Period, who: Viewer, inputs: tuple) -> pd.DataFrame:
    return I.compute_children(indicator_id, scope, period, who, engine=app_engine())


def children(indicator_id: str, scope: str, period: Period, who: Viewer) -> pd.DataFrame:
    return _children(indicator_id, scope, period, who, versions.indicator_inputs([indicator_id]))


def trend_window(ind, period: Period) -> tuple[str, str, str]:  # noqa: ANN001
    """The trend's span: 24 months, 5 years, or the last 31 days, ending with the period."""
    if ind.grain == "year":
        return str(period.end.year - 4), str(period.end.year), "year"
    if ind.grain == "day":
        start = pd.Timestamp(period.end) - pd.Timedelta(days=30)
        return f"{start:%Y-%m-%d}", period.end.isoformat(), "day"
    end = Period.month(period.end.year, period.end.month)
    start = end
    for _ in range(23):
        start = start.previous()
    return start.key, end.key, "month"


st.markdown(f"### 指标库 · {plain.md(scope_name)} · {period.label}")

# -- search and filter -----------------------------------------------------------------------------------
counts = domain_counts()
c1, c2 = st.columns([2, 3])
text = c1.text_input("搜索指标", placeholder="名称、编号、定义或责任部门，如：结案、PM2.5、12345",
                     key="ind_search")
picked_domains = c2.pills("领域", options=list(DOMAINS), selection_mode="multi", key="ind_domains",
                          format_func=lambda d: f"{d} {counts.get(d, 0)}")
found = search(text, picked_domains or None)
st.caption(f"共 {len(found)} 个指标（指标库合计 {sum(counts.values())} 个）。"
           "数值为当前范围与时段的实时计算结果；无数据表示数据源在该时段没有记录，而不是 0。")
if not found:
    st.info("没有符合条件的指标")
    st.stop()

try:
    results = live_values(tuple(i.id for i in found), code, period, viewer)
except PermissionDenied as exc:
    st.error(str(exc))
    st.stop()

level = level_of(code)
table = pd.DataFrame([{
    "领域": ind.domain, "指标": ind.name,
    "当前值": fmt_value(ind, results[ind.id].value) if level in ind.levels else "本级不适用",
    "状态": STATUS_LABELS.get(results[ind.id].status, "—"),
    "环比": fmt_delta(ind, results[ind.id].mom_delta, results[ind.id].mom_pct),
    "同比": fmt_delta(ind, results[ind.id].yoy_delta, results[ind.id].yoy_pct),
    "读取": READ_KINDS[reading(ind)[0]], "责任部门": ind.owner, "编号": ind.id,
} for ind in found])
picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                      key="ind_table", height=min(420, 38 + 35 * len(table)))

ids = [i.id for i in found]
rows = picked.selection.rows if picked is not None else []
if rows:
    st.query_params["indicator"] = ids[rows[0]]
wanted = st.query_params.get("indicator")
selected = wanted if wanted in ids else ids[0]

export_frame = catalogue_frame(found).assign(**{
    f"{period.label}数值": [results[i].value for i in ids],
    "状态": [status_label(results[i].status) for i in ids],
    "说明": [results[i].note or "" for i in ids],
})
st.download_button("导出指标库 (Excel)", icon=":material/download:", mime=exports.XLSX_MIME,
                   data=exports.deferred_export(engine, viewer, "指标库", code, export_frame),
                   file_name=exports.export_file_name("指标库", code))

# -- one indicator ------------------------------------------------------------------------------------------
st.divider()
ind = I.get_indicator(selected)
res = results[selected]
st.markdown(f"#### {ind.name}　:gray-badge[{ind.domain}]　:gray-badge[{ind.id}]")

m1, m2, m3, m4 = st.columns(4)
color = "normal" if ind.polarity == "higher_better" else "inverse"
m1.metric(f"{period.label}（{plain.md(scope_name.split(' › ')[-1])}）", fmt_value(ind, res.value),
          delta=None if res.mom_delta is None else fmt_delta(ind, res.mom_delta, res.mom_pct, signed=True),
          delta_color=color, help="箭头为环比（与上一期相比）")
m2.metric("同比", fmt_value(ind, res.yoy), delta=None if res.yoy_delta is None else
          fmt_delta(ind, res.yoy_delta, res.yoy_pct, signed=True), delta_color=color, help="与上年同期相比")
m3.metric("状态", STATUS_LABELS.get(res.status, "无数据" if res.value is None else "未设阈值"))
m4.metric("目标值", "—" if ind.target is None else fmt_value(ind, ind.target))
if res.note:
    st.caption(res.note)

left, right = st.columns([1, 1])
with left:
    st.markdown("**定义**")
    st.write(ind.description)
    st.markdown("**公式**")
    st.markdown(formula_text(ind))
    st.markdown("**数据读取**")
    st.markdown(reading(ind)[1])
    bands = I.bands(ind)
    if bands:
        st.markdown("**阈值**（" + POLARITY_NAMES[ind.polarity] + "）")
        st.markdown("　".join(f"<span style='color:{b['color']}'>●</span> {b['label']} {b['range']}" for b in bands),
                    unsafe_allow_html=True)
    details = dict(summary_rows(ind))
    st.caption(f"适用层级：{details['适用层级']}　统计粒度：{GRAIN_NAMES[ind.grain]}　责任部门：{ind.owner}"
               f"　定义文件：indicators/library/{ind.file}")

with right:
    st.markdown("**趋势**")
    start, end, grain = trend_window(ind, period)
    series = trend(ind.id, code, start, end, grain, viewer)
    if series.empty:
        st.info(series.attrs.get("note", "没有可显示的序列"))
    elif series["value"].isna().all():
        st.info("该时段内没有数据")
    else:
        fig = go.Figure(go.Scatter(x=series["period"], y=series["value"], mode="lines+markers", name=ind.name,
                                   line={"color": "#4C9AFF"}, connectgaps=False))
        if ind.thresholds is not None:
            fig.add_hline(y=ind.thresholds.green, line_dash="dot", line_color=STATUS_COLORS["green"])
            fig.add_hline(y=ind.thresholds.yellow, line_dash="dot", line_color=STATUS_COLORS["yellow"])
        fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, yaxis_title=ind.unit,
                          showlegend=False)
        charts.show(charts.time_axis(fig, grain), key="ind_trend")

st.markdown("**下级区域排名**")
if not kids:
    st.caption("当前范围为网格，没有下级区域")
else:
    ranking = children(ind.id, code, period, viewer)
    if ranking.attrs.get("note"):
        st.info(ranking.attrs["note"])
    data = ranking.dropna(subset=["value"]).copy()
    if data.empty:
        if not ranking.attrs.get("note"):
            st.info("下级区域在该时段均无数据")
    else:
        data = data.sort_values("value", ascending=ind.polarity != "higher_better").reset_index(drop=True)
        data.insert(0, "名次", range(1, len(data) + 1))
        fig = go.Figure(go.Bar(
            x=data["value"], y=data["region_name"], orientation="h",
            marker_color=[status_color(s) for s in data["status"]],
            text=[fmt_number(v, ind.decimals) for v in data["value"]], textposition="auto"))
        fig.update_layout(height=min(600, 60 + 28 * len(data)), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                          yaxis={"autorange": "reversed"}, xaxis_title=ind.unit)
        charts.show(fig, key="ind_rank")
        missing = ranking[ranking["value"].isna()]["region_name"].tolist()
        if missing:
            plain.caption("无数据：" + "、".join(missing))
