"""生态环境: stations on the map coloured by their current level (offline grey), area AQI now and its
trend, 优良天数比例 and PM2.5 against the limit, district ranking, water and noise compliance, open
alerts with their cases, and one station's detail. Every air figure names the HJ 633 edition it used;
the 同口径 toggle re-assesses history under HJ 633-2026. The KPI figures (优良天数比例, PM2.5) are the
library's env_* indicators from the indicator engine; lists, maps and series are reads of the sensors
read face (sensors.views)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import indicators
from events.statuses import STATUS_NAMES
from geo import layers as L
from sensors.assessment import TZ
from sensors.freshness import reading_lateness
from sensors.layers import station_layer
from sensors.registry import DEFAULT_INTERVAL_S
from sensors.views import SensorViews
from standards.aqi import GOOD_DAY_MAX_AQI, edition_name
from store.scope import PermissionDenied
from ui import charts, map_legend, plain
from ui.chrome import resolve_scope
from ui.context import current_period
from ui.data import app_engine
from ui.overview_parts import region_label_layer
from ui.session import require_viewer

PROPOSAL_STATUS = {"proposed": "待研判", "accepted": "已启动应急", "dismissed": "未采纳"}

viewer = require_viewer()
code, crumbs, _kids = resolve_scope(viewer)
period = current_period()
engine = app_engine()
now = datetime.now(timezone.utc)
today = now.astimezone(TZ).date()

st.markdown(f"### 生态环境 · {plain.md(' › '.join(c['name'] for c in crumbs))} · {period.label}")
same_basis = st.toggle("同口径评价（历史数据统一按 HJ 633-2026 重新评价）", key="env_same_basis",
                       help="2026-03-01 前的数据默认按当时有效的 HJ 633-2012 评价；打开后统一按 HJ 633-2026，便于同比。")
edition = "2026" if same_basis else None
basis = "同口径（HJ 633-2026）" if same_basis else "按监测日期适用版本"

with SensorViews.open(engine, viewer) as v:
    summary = v.air_summary(code, period, today, same_basis=same_basis)
    area = summary["area_code"]
    hourly = v.area_hourly_aqi(code, now - timedelta(hours=48), now + timedelta(hours=1), edition=edition)
    trend = v.area_daily(code, min(period.start, today - timedelta(days=29)), today, same_basis=same_basis)
    counts = v.sensor_counts(code, now)
    alerts = v.open_alerts(code)
kpi = indicators.compute_many(["env_good_days", "env_pm25"], area, period, viewer,
                              engine=engine, now=now, edition="2026" if same_basis else "auto")

# -- headline tiles --------------------------------------------------------------------------------
latest = hourly.dropna(subset=["aqi"]).tail(1)
c1, c2, c3, c4, c5 = st.columns(5)
if latest.empty:
    c1.metric("实时 AQI", "—", help="近 48 小时无有效数据")
else:
    r = latest.iloc[0]
    hour = pd.Timestamp(r["hour"]).to_pydatetime().astimezone(TZ)
    # A figure older than the air stations' reporting interval is marked 延迟 / 过期 with its time.
    late = reading_lateness(hour + timedelta(hours=1), now, DEFAULT_INTERVAL_S["air"])
    c1.metric(f"实时 AQI（{hour:%H}时）" if late is None else f"实时 AQI（{late}）", f"{int(r['aqi'])} {r['category']}",
              help=f"首要污染物：{'、'.join(r['primary']) or '—'}；标准 {edition_name(r['edition'])}")
    if late is None:
        c1.caption(f"标准：{edition_name(r['edition'])}")
    else:
        c1.caption(f":orange[:material/schedule: 数据时间 {hour:%m-%d %H}:00，已{late}] · 标准：{edition_name(r['edition'])}")
yesterday = trend[trend["day"] == today - timedelta(days=1)] if not trend.empty else trend
if yesterday is not None and not yesterday.empty and pd.notna(yesterday.iloc[0]["aqi"]):
    y = yesterday.iloc[0]
    c2.metric("昨日 AQI（日报）", f"{int(y['aqi'])} {y['category']}")
    c2.caption(f"标准：{edition_name(y['edition'])}")
else:
    c2.metric("昨日 AQI（日报）", "—")
good_days = kpi["env_good_days"]
c3.metric("优良天数比例", "—" if good_days.value is None else f"{good_days.value:.1f}%",
          help=f"{summary['period'].label}截至今日：优良 {summary['good']} 天 / 有效 {summary['valid']} 天"
               + (f"；{good_days.note}" if good_days.note else ""))
c3.caption(f"{summary['good']}/{summary['valid']} 天 · {basis}")
pm = kpi["env_pm25"].value
c4.metric("PM2.5 均值（µg/m³）", "—" if pm is None else f"{pm:.1f}",
          delta=None if pm is None else f"{pm - summary['pm25_target']:+.1f} 较限值", delta_color="inverse")
c4.caption(f"年均限值 {summary['pm25_target']}（{summary['pm25_stage']}，二级）")
online = sum(v["online"] for v in counts.values())
total = sum(v["total"] for v in counts.values())
c5.metric("站点在线", f"{online}/{total}", help="超过上报间隔 × 系数未上报即为离线")
c5.caption(f"开放告警 {len(alerts)} 条")
if area != code:
    st.caption(f"当前范围低于区县级，空气质量综合指标取所在区县（{area}）的数值。")
st.caption("区域 AQI：每小时取区域内各站点浓度均值后再评价（HJ 663 城市点位平均）；"
           "日报 PM 等日均值须当日至少 20 个小时值（GB 3095-2026 表 4）。")

# -- map -------------------------------------------------------------------------------------------
kinds = st.segmented_control("图层", options=["air", "water", "noise", "hydro", "iot"], selection_mode="multi",
                             default=["air", "water", "noise", "hydro"], key="env_kinds",
                             format_func=lambda k: {"air": "空气", "water": "水质", "noise": "噪声", "hydro": "水文",
                                                    "iot": "物联"}[k])
with SensorViews.open(engine, viewer) as v:
    stations = v.station_map(code, now, edition=edition, kinds=tuple(kinds or ()) or None)
    outlines = v.scope_outlines(code)
if stations.empty:
    st.info("当前范围内没有监测站点")
else:
    bbox = (stations["lon"].min() - 0.05, stations["lat"].min() - 0.05,
            stations["lon"].max() + 0.05, stations["lat"].max() + 0.05)
    env_layers = [L.outline_layer(outlines, "env-outline"),
                  station_layer(stations[["id", "lon", "lat", "color", "offline", "tip"]], "env-stations")]
    names = region_label_layer(viewer, code)
    if names is not None:
        env_layers.append(names)
    st.pydeck_chart(L.deck(env_layers, L.view_for_bbox(bbox)), key=f"env-map-{code}", height=480)
    map_legend.show(map_legend.sensors(tuple(kinds or ())))
    eds = sorted({e for e in stations["edition"].dropna()})
    if eds:
        st.caption(f"空气评价标准：{'、'.join(edition_name(e) for e in eds)}。")

# -- trend ------------------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.markdown("**区域 AQI 日报趋势**")
    if trend.dropna(subset=["aqi"]).empty:
        st.info("暂无日报数据")
    else:
        t = trend.dropna(subset=["aqi"])
        fig = go.Figure(go.Bar(x=t["day"], y=t["aqi"], marker_color=t["color"].fillna("#BFBFBF"),
                               customdata=t[["category", "edition"]].to_numpy(),
                               hovertemplate=charts.hover_date("day")
                               + "<br>AQI %{y} %{customdata[0]}<br>%{customdata[1]}<extra></extra>"))
        fig.add_hline(y=GOOD_DAY_MAX_AQI, line_dash="dot", line_color="#FF7E00")
        fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="AQI")
        charts.show(charts.time_axis(fig, "day"))
        st.caption("标准：" + "、".join(edition_name(e) for e in sorted(t["edition"].dropna().unique()))
                   + f"（{basis}）")
with right:
    st.markdown("**近 48 小时实时 AQI**")
    h = hourly.dropna(subset=["aqi"])
    if h.empty:
        st.info("暂无小时数据")
    else:
        fig = go.Figure(go.Scatter(x=h["hour"], y=h["aqi"], mode="lines+markers",
                                   marker=dict(color=h["color"].fillna("#BFBFBF"), size=6), line=dict(color="#6C8EBF"),
                                   hovertemplate=charts.hover_date("hour") + "<br>AQI %{y}<extra></extra>"))
        fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="AQI")
        charts.show(charts.time_axis(fig, "hour"))
        st.caption("标准：" + "、".join(edition_name(e) for e in sorted(h["edition"].dropna().unique())))

# -- ranking, water, noise -------------------------------------------------------------------------
with SensorViews.open(engine, viewer) as v:
    ranking = v.district_ranking(code, period, today, same_basis=same_basis)
    water = v.water_stations(code, period, today)
    noise = v.noise_compliance(code, period, today)
st.markdown(f"**区县空气质量排名（{summary['period'].label}，AQI 均值由低到高）**")
if ranking.empty:
    st.info("暂无区县日报数据")
else:
    # A district without daily figures is listed last and says so (sensors.views keeps it in the list).
    ranking = ranking.assign(editions=ranking["editions"].where(ranking["days"] > 0, "无数据"))
    st.dataframe(ranking.drop(columns=["code"]), hide_index=True, width="stretch", column_config={
        "name": "区县", "aqi_mean": st.column_config.NumberColumn("AQI 均值", format="%.0f"),
        "good_ratio": st.column_config.ProgressColumn("优良天数比例", min_value=0, max_value=1, format="percent"),
        "days": "有效天数", "pm25_mean": st.column_config.NumberColumn("PM2.5 均值", format="%.1f"),
        "editions": "评价标准（无数据：本期没有日报）"})
wcol, ncol = st.columns(2)
with wcol:
    st.markdown("**地表水站点水质类别（GB 3838-2002）**")
    if water.empty:
        st.info("当前范围内没有水质站点")
    else:
        met = water["meets"].dropna()
        st.caption(f"达标 {int(met.sum())}/{len(met)} 个站点")
        st.dataframe(water.drop(columns=["id"]), hide_index=True, width="stretch", column_config={
            "name": "站点", "water_body": "水体", "target": "目标类别", "class": "最新类别",
            "meets": st.column_config.CheckboxColumn("达标"), "worst": "超标/定类项目", "day": "日期"})
with ncol:
    st.markdown("**声环境功能区达标（GB 3096-2008）**")
    if noise.empty:
        st.info("当前范围内没有噪声监测点")
    else:
        st.dataframe(noise.drop(columns=["id"]), hide_index=True, width="stretch", column_config={
            "name": "监测点", "zone": "功能区", "limit_day": "昼间限值", "limit_night": "夜间限值",
            "leq_day": st.column_config.NumberColumn("昼间 Leq", format="%.1f"),
            "leq_night": st.column_config.NumberColumn("夜间 Leq", format="%.1f"),
            "day_rate": st.column_config.ProgressColumn("昼间达标率", min_value=0, max_value=1, format="percent"),
            "night_rate": st.column_config.ProgressColumn("夜间达标率", min_value=0, max_value=1, format="percent"),
            "days": "有效天数"})

# -- alerts ------------------------------------------------------------------------------------------
st.markdown("**开放告警及案件**")
if alerts.empty:
    st.success("当前范围内没有开放告警")
else:
    shown = alerts.assign(case=alerts["event_id"].map(lambda e: f"#{int(e)}" if pd.notna(e) else "—"),
                          case_status=alerts["case_state"].map(STATUS_NAMES),
                          proposal=alerts["proposal"].fillna("—"),
                          proposal_status=alerts["proposal_status"].map(PROPOSAL_STATUS).fillna("—"))
    st.dataframe(shown[["opened_at", "severity", "rule", "sensor", "message", "case", "case_status", "proposal",
                        "proposal_status"]], hide_index=True, width="stretch", column_config={
        "opened_at": st.column_config.DatetimeColumn("开始时间", format="MM-DD HH:mm"), "severity": "等级",
        "rule": "规则", "sensor": "站点", "message": "告警内容", "case": "案件", "case_status": "案件状态",
        "proposal": "应急事件建议", "proposal_status": "建议状态"})

# -- station detail ------------------------------------------------------------------------------------
st.markdown("**站点详情**")
with SensorViews.open(engine, viewer) as v:
    options = v.station_options(code)
if options:
    labels = dict(options)
    sid = st.selectbox("站点", options=[o[0] for o in options], format_func=lambda k: labels[k], key="env_station")
    days = st.select_slider("时间范围（天）", options=[1, 3, 7, 14, 30], value=7, key="env_days")
    with SensorViews.open(engine, viewer) as v:
        detail = v.station_detail(sid, now - timedelta(days=days), now + timedelta(hours=1), edition=edition)
    series = detail["series"]
    if series.empty:
        st.info("该时段没有数据")
    else:
        fig = go.Figure()
        for label, part in series.groupby("label"):
            fig.add_trace(go.Scatter(x=part["hour"], y=part["value"], mode="lines", name=label))
        aqi = detail["aqi"]
        if aqi is not None and not aqi.dropna(subset=["aqi"]).empty:
            a = aqi.dropna(subset=["aqi"])
            fig.add_trace(go.Scatter(x=a["hour"], y=a["aqi"], mode="lines", name="AQI（实时报）",
                                     line=dict(color="#FF7E00", width=3), yaxis="y2"))
            fig.update_layout(yaxis2=dict(overlaying="y", side="right", title="AQI"))
        fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h"),
                          hovermode="x unified")
        charts.show(charts.time_axis(fig, "hour"))
        if detail["editions"]:
            st.caption("AQI 标准：" + "、".join(edition_name(e) for e in detail["editions"]))
        exceed = detail["exceed"]
        if exceed is not None and not exceed.empty:
            st.markdown("超标时段")
            st.dataframe(exceed, hide_index=True, width="stretch", column_config={
                "start": st.column_config.DatetimeColumn("开始", format="MM-DD HH:mm"),
                "end": st.column_config.DatetimeColumn("结束", format="MM-DD HH:mm"),
                "periods": "时长（小时/天）", "peak": st.column_config.NumberColumn("峰值", format="%.1f"),
                "what": "类型"})
        else:
            st.caption("该时段无超标")

with st.expander("数据采集状态"):
    with SensorViews.open(engine, viewer) as v:
        try:
            status = v.ingest_status_rows()
        except PermissionDenied as exc:
            status = []
            st.caption(str(exc))
    st.dataframe(pd.DataFrame([{"种类": k, "总数": v["total"], "在线": v["online"], "离线": v["offline"]}
                               for k, v in counts.items()]), hide_index=True)
    for row in status:
        c = row["counters"]
        st.markdown(plain.md(f"采集进程 {row['name']}：{'已连接' if row['connected'] else '未连接'}，"
                             f"更新于 {row['updated_at'].astimezone(TZ):%m-%d %H:%M:%S}；接收 {c.get('received', 0)}，"
                             f"入库 {c.get('stored', 0)}，重复 {c.get('duplicates', 0)}，隔离 {c.get('quarantined', 0)}"))
