"""Plotly charts in Chinese: dates as "2026年1月" / "1月5日" / "5日 14时" on axes and in hovers, and the
chart toolbar's texts, offline.

Streamlit's Plotly bundle registers no locale but `en`, and a locale module would be a script fetched
from a CDN. Plotly takes locale definitions in the chart's config (`locales`), so ours is passed with
every chart: month and day names and its own date formats. Axes still get explicit tick formats for the
grain of the data (a format that a locale's automatic ticks might not pick)."""
from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

_MONTHS = [f"{i}月" for i in range(1, 13)]
ZH_CN = {
    "moduleType": "locale",
    "name": "zh-CN",
    "dictionary": {
        "Autoscale": "自动缩放", "Box Select": "矩形选择", "Click to enter Colorscale title": "点击输入色阶标题",
        "Click to enter Component A title": "点击输入组件A标题", "Click to enter X axis title": "点击输入X轴标题",
        "Click to enter Y axis title": "点击输入Y轴标题", "Click to enter Plot title": "点击输入图表标题",
        "Compare data on hover": "悬停时比较数据", "Double-click on legend to isolate one trace": "双击图例只显示该序列",
        "Double-click to zoom back out": "双击缩小", "Download plot as a png": "下载图片", "Download plot": "下载图片",
        "Lasso Select": "套索选择", "Orbital rotation": "轨道旋转", "Pan": "平移", "Produced with Plotly": "由 Plotly 生成",
        "Reset": "重置", "Reset axes": "重置坐标轴", "Reset camera to default": "重置视角",
        "Reset camera to last save": "恢复上次视角", "Reset view": "重置视图", "Reset views": "重置视图",
        "Show closest data on hover": "悬停时显示最近的数据", "Snapshot succeeded": "截图成功",
        "Sorry, there was a problem downloading your snapshot!": "抱歉，下载截图时出错。",
        "Taking snapshot - this may take a few seconds": "正在截图，请稍候…", "Toggle Spike Lines": "显示/隐藏辅助线",
        "Toggle show closest data on hover": "切换悬停显示最近数据", "Turntable rotation": "转台旋转",
        "Zoom": "缩放", "Zoom in": "放大", "Zoom out": "缩小", "Fullscreen": "全屏", "Close fullscreen": "退出全屏",
        "close:": "收盘：", "high:": "最高：", "low:": "最低：", "open:": "开盘：", "trace": "序列",
        "mean": "均值", "median": "中位数", "min": "最小值", "max": "最大值", "new text": "新文本",
    },
    "format": {
        "days": ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
        "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
        "months": _MONTHS,
        "shortMonths": _MONTHS,
        "date": "%Y-%m-%d",
        "year": "%Y年",
        "month": "%Y年%-m月",
        "dayMonth": "%-m月%-d日",
        "dayMonthYear": "%Y年%-m月%-d日",
        "decimal": ".",
        "thousands": ",",
        "grouping": [3],
    },
}
CONFIG = {"displaylogo": False, "locale": "zh-CN", "locales": {"zh-CN": ZH_CN}}

# The dark look for charts on dark screens: plotly_dark's layout and the defaults of the traces we draw.
# Naming a template makes Plotly deep-copy it into the figure, and plotly_dark holds defaults for every
# trace type (~40 ms a figure, a tenth of a district's first view); this one costs ~3 ms.
DARK = "cityops_dark"
_full_dark = pio.templates["plotly_dark"]
pio.templates[DARK] = go.layout.Template(layout=_full_dark.layout,
                                         data={"scatter": _full_dark.data.scatter, "bar": _full_dark.data.bar})

# (tick format, hover format) of a time axis by the grain of its points.
TIME_FORMATS = {
    "year": ("%Y年", "%Y年"),
    "quarter": ("%Y年%-m月", "%Y年%-m月起"),
    "month": ("%Y年%-m月", "%Y年%-m月"),
    "week": ("%-m月%-d日", "%Y年%-m月%-d日起"),
    "day": ("%-m月%-d日", "%Y年%-m月%-d日"),
    "hour": ("%-m月%-d日 %H时", "%Y年%-m月%-d日 %H:%M"),
}


def time_axis(fig: go.Figure, grain: str = "day") -> go.Figure:
    """Chinese tick and hover formats on the x axis for points of `grain` (see TIME_FORMATS)."""
    if grain == "year":  # year keys ("2026") would be read as numbers: show them as categories + 年
        fig.update_xaxes(type="category", ticksuffix="年")
        return fig
    tick, hover = TIME_FORMATS.get(grain, TIME_FORMATS["day"])
    fig.update_xaxes(type="date", tickformat=tick, hoverformat=hover)
    return fig


def hover_date(grain: str = "day") -> str:
    """The date part of a hovertemplate for x values of `grain`: "%{x|…}"."""
    return "%{x|" + TIME_FORMATS.get(grain, TIME_FORMATS["day"])[1] + "}"


def show(fig: go.Figure, **kw) -> None:  # noqa: ANN003 - key=, height= as st.plotly_chart
    """st.plotly_chart with the Chinese locale and our toolbar settings, full width."""
    st.plotly_chart(fig, width="stretch", config=CONFIG, **kw)


def prime() -> None:
    """Build and serialise one throwaway figure of each trace kind the screens draw, outside any page.
    Plotly imports its trace and layout classes (about 150 modules) and narwhals only when a figure first
    uses them; server start-up (ui.heap.settle) calls this so a visitor's first chart does not."""
    import pandas as pd  # noqa: PLC0415 - only for this warm-up: pandas input takes plotly's narwhals path
    x = pd.Series(pd.to_datetime(["2026-01-01", "2026-02-01"]))
    fig = go.Figure([go.Scatter(x=x, y=pd.Series([1.0, 2.0]), mode="lines+markers", name="a",
                                hovertemplate=hover_date("month") + "<extra></extra>"),
                     go.Bar(x=x, y=[1, 2], name="b")])
    fig.update_layout(height=200, margin=dict(l=0, r=0, t=0, b=0), legend=dict(orientation="h"))
    time_axis(fig, "month")
    fig.to_plotly_json()
    pio.to_json(fig, validate=False)
    # A template holds defaults for every trace type, so reading one loads all of them: the default and
    # the dark one the screens use.
    for name in (pio.templates.default, DARK):
        go.Figure(layout=dict(template=pio.templates[name])).to_plotly_json()

