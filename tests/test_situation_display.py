"""What the situation screens show, checked without a browser (issue 18): map place names and legends,
the one KPI tile renderer, rankings that keep regions without data, the wall ticker's wording by age
and state, late sensor figures, charts in Chinese, the audit log in Chinese, and the wall's probe."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import plotly.graph_objects as go

from geo import layers as L
from indicators.status import NO_DATA
from sensors.freshness import reading_lateness
from situation import kpis
from situation.briefing import Tile
from situation.urgent import NEW_FOR, Item, case_state_word
from ui import charts, kpi_tiles, map_legend
from ui.audit_format import action_label, format_audit_detail

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)


# -- place names --------------------------------------------------------------------------------------
def test_label_layer_carries_exactly_the_characters_its_labels_use():
    labels = pd.DataFrame({"lon": [110.9, 111.0, None], "lat": [21.6, 21.7, 21.8], "text": ["茂南区", "电白区", "丢弃"]})
    spec = json.loads(L.deck_json(L.deck([L.label_layer(labels, "names", size=20)], L.view_for_bbox((110, 21, 112, 23)))))
    layer = spec["layers"][0]
    assert layer["@@type"] == "TextLayer" and layer["id"] == "names"
    chars = set(layer["characterSet"])
    assert set("茂南区电白") <= chars
    assert "丢" not in chars  # the row without a position is dropped, and so are its characters
    assert layer["getSize"] == 20
    assert not str(layer["characterSet"]).startswith("@@=")  # a literal, not a pydeck accessor expression
    assert "Noto Sans CJK SC" in layer["fontFamily"] and not layer["fontFamily"].startswith("@@=")
    assert [row["text"] for row in layer["data"]] == ["茂南区", "电白区"]


def test_region_labels_come_from_our_boundaries_centroids():
    shapes = pd.DataFrame({"code": ["440902"], "name": ["茂南区"], "centroid_lon": [110.9], "centroid_lat": [21.65]})
    out = L.region_labels(shapes)
    assert out.to_dict("records") == [{"lon": 110.9, "lat": 21.65, "text": "茂南区"}]
    assert L.region_labels(pd.DataFrame()).empty


def test_emergency_labels_use_the_generic_builder():
    from emergency import maplayers as ml

    layer = ml.label_layer(pd.DataFrame({"lon": [111.0], "lat": [21.7], "text": ["积水点"]}))
    spec = json.loads(L.deck_json(L.deck([layer], L.view_for_bbox((110, 21, 112, 23)))))["layers"][0]
    assert spec["id"] == ml.LAYER_IDS["labels"] and set("积水点") <= set(spec["characterSet"])


# -- legends --------------------------------------------------------------------------------------------
def test_every_wall_theme_has_a_legend_for_each_of_its_layers():
    from ui.wall_parts import THEMES

    legend = {"name": "按期结案率", "unit": "%", "bands": [
        {"status": "green", "label": "良好", "color": "#2BB673", "range": "≥ 90 %"},
        {"status": "yellow", "label": "关注", "color": "#F5B700", "range": "80–90 %"},
        {"status": "red", "label": "预警", "color": "#E5484D", "range": "< 80 %"}]}
    for theme, (_domains, layers) in THEMES.items():
        groups = map_legend.for_layers(layers, legend)
        titles = " ".join(g.title for g in groups)
        html = map_legend.legend_html(groups)
        assert "按期结案率" in titles and "预警 &lt; 80 %" in html and NO_DATA in html, theme
        if "sensors" in layers:
            assert "空气站" in titles and "离线" in html, theme
        if "resources" in layers:
            assert "消防站" in html and "待命" in html, theme
        if "incidents" in layers:
            assert "突发事件" in titles, theme
        if "events" in layers:
            assert "网格事件" in titles, theme


def test_legend_escapes_library_text():
    groups = map_legend.for_layers(("regions",), {"name": "<b>x</b>", "unit": "&", "bands": []})
    html = map_legend.legend_html(groups)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# -- KPI tiles -------------------------------------------------------------------------------------------
def _tile(value: str = "12.5", unit: str = "元", status: str | None = "green", changes: tuple = ()) -> Tile:
    return Tile("经济调节", "一般公共预算收入（含非常长的名称不得被截断）", value, unit, status, "", changes)


def test_tile_without_data_shows_no_unit():
    html = kpi_tiles.tile_html(_tile(NO_DATA, "元", None))
    assert NO_DATA in html and "元" not in html and "nodata" in html


def test_tile_arrow_colour_follows_polarity():
    up_good = kpis.Change("环比", "5.0%", "up", True)
    down_bad = kpis.Change("同比", "2.0 个百分点", "down", False)
    html = kpi_tiles.tile_html(_tile(changes=(up_good, down_bad)))
    assert html.count("▲") == 1 and html.count("▼") == 1  # one arrow per figure, no second arrow
    assert f'color:{kpi_tiles.GOOD}">▲' in html and f'color:{kpi_tiles.BAD}">▼' in html
    assert "非常长的名称不得被截断" in html and "ellipsis" not in kpi_tiles.DESK_CSS


def test_changes_of_a_lower_is_better_indicator():
    @dataclass
    class R:
        mom_delta: float | None
        mom_pct: float | None
        yoy_delta: float | None = None
        yoy_pct: float | None = None

    ind = kpis.library()["env_pm25"]
    assert ind.polarity == "lower_better"
    (mom,) = kpis._changes(ind, R(-3.0, -10.0))  # noqa: SLF001
    assert mom.direction == "down" and mom.good is True and not mom.text.startswith(("-", "+", "↓"))


def test_tile_with_a_value_but_no_thresholds_is_not_called_no_data():
    html = kpi_tiles.tile_html(_tile("1,983", "件", None))
    assert NO_DATA not in html and "1,983" in html and "件" in html


# -- rankings ---------------------------------------------------------------------------------------------
def test_ranking_keeps_regions_without_data_marked():
    values = pd.DataFrame({"code": ["a", "b", "c"], "name": ["甲区", "乙区", "丙区"], "value": [80.0, None, 95.0],
                           "status": ["yellow", None, "green"], "value_text": ["80.0 %", None, "95.0 %"]})
    ranked = kpis.rank(values, {"name": "按期结案率", "polarity": "higher_better"})
    assert list(ranked["区域"]) == ["丙区", "甲区", "乙区"]
    assert list(ranked["名次"]) == ["1", "2", "—"]
    assert ranked.iloc[2]["按期结案率"] == NO_DATA and ranked.iloc[2]["状态"] == NO_DATA


# -- the wall's ticker -----------------------------------------------------------------------------------
def test_ticker_words_follow_age_and_state():
    fresh = NOW - timedelta(minutes=5)
    old = NOW - NEW_FOR - timedelta(minutes=1)
    later = NOW + timedelta(hours=4)
    assert case_state_word("reported", fresh, None, later, NOW) == ("新事件", "new")
    assert case_state_word("reported", old, None, later, NOW) == ("待立案", "open")
    assert case_state_word("handling", old, None, NOW - timedelta(minutes=1), NOW) == ("已超期", "overdue")
    assert case_state_word("closed", fresh, None, None, NOW) == ("已结案", "done")


def test_ticker_time_shows_the_date_when_not_today():
    today = Item("新事件", "x", NOW - timedelta(minutes=3), "p", {}, now=NOW)
    earlier = Item("预警", "y", NOW - timedelta(days=2), "p", {}, now=NOW)
    assert len(today.when) == 5 and ":" in today.when
    assert earlier.when.startswith("11-18")


# -- late sensor figures ---------------------------------------------------------------------------------
def test_reading_lateness_by_interval():
    hour_end = NOW - timedelta(minutes=30)
    assert reading_lateness(hour_end, NOW, 3600) is None
    assert reading_lateness(NOW - timedelta(hours=2), NOW, 3600, factor=2.5) == "延迟"
    assert reading_lateness(NOW - timedelta(hours=3), NOW, 3600, factor=2.5) == "过期"


# -- charts ---------------------------------------------------------------------------------------------
def test_charts_format_dates_in_chinese():
    fig = charts.time_axis(go.Figure(go.Scatter(x=["2026-01", "2026-02"], y=[1, 2])), "month")
    assert fig.layout.xaxis.tickformat == "%Y年%-m月" and "月" in fig.layout.xaxis.hoverformat
    year = charts.time_axis(go.Figure(go.Bar(x=["2025", "2026"], y=[1, 2])), "year")
    assert year.layout.xaxis.type == "category" and year.layout.xaxis.ticksuffix == "年"
    assert charts.CONFIG["locale"] == "zh-CN"
    fmt = charts.CONFIG["locales"]["zh-CN"]["format"]
    assert fmt["shortMonths"][0] == "1月" and fmt["month"] == "%Y年%-m月"
    assert charts.hover_date("day") == "%{x|%Y年%-m月%-d日}"


# -- audit log ------------------------------------------------------------------------------------------
def test_audit_rows_read_in_chinese():
    assert action_label("event_register") == "案件立案"
    assert action_label("emergency_dispatch") == "应急调派"
    assert action_label("login") == "登录（密码正确）"
    assert action_label("made_up") == "made_up"
    text = format_audit_detail({"from": "reported", "to": "registered", "comment": "情况属实", "role": "leader",
                                "flag": True, "empty": None})
    assert text == "原状态：待立案；新状态：待派遣；意见：情况属实；角色：领导；flag：是"
    assert format_audit_detail(None) == "" and "{" not in format_audit_detail({"x": {"what": 1}})


# -- the wall's screen --------------------------------------------------------------------------------------
def test_wall_probe_is_a_same_origin_script_file():
    from pathlib import Path

    from ui import wall_parts

    assert 'src="app/static/wall_viewport.js"' in wall_parts.VIEWPORT_PROBE
    script = (Path(__file__).resolve().parents[1] / "static" / "wall_viewport.js").read_text()
    assert "screen" in script and "http" not in script.replace("location.href", "")
    w, h = wall_parts.map_size(3840, 2160)
    assert h == int(2160 * wall_parts.MAP_SHARE) and 2200 < w < 2400


# -- the reading time of a 最新值 figure (the wall's 实时PM2.5) --------------------------------------------------
def test_live_station_figure_carries_its_reading_time_and_is_marked_once_late(demo_db_url, use_database):
    from store.db import get_engine
    from store.scope import Viewer

    use_database(demo_db_url)
    city = Viewer("lingdao", "leader", "440900")
    ind = kpis.library()["env_pm25_now"]
    assert kpis._station_metric(ind) == ("PM2.5", "air")  # noqa: SLF001
    from sensors.views import SensorViews
    with SensorViews.open(get_engine(), city) as v:
        newest = v.latest_reading_time("PM2.5", "440900", "air")
    assert newest is not None
    tile = _tile("30.0", "µg/m³", "green")
    (fresh,) = kpis.with_reading_times([tile], [ind], city, "440900", now=newest + timedelta(minutes=20))
    assert fresh.reading_time and fresh.lateness is None
    (delayed,) = kpis.with_reading_times([tile], [ind], city, "440900", now=newest + timedelta(hours=2, minutes=30))
    assert delayed.lateness == "延迟"
    html = kpi_tiles.tile_html(fresh)
    assert "读数时间" in html and "已" not in html.split("读数时间")[1]
    (late,) = kpis.with_reading_times([tile], [ind], city, "440900", now=newest + timedelta(hours=4))
    assert late.lateness == "过期" and "（已过期）" in kpi_tiles.tile_html(late)
    # An indicator that is not a station's newest reading gets no time.
    other = kpis.library()["env_pm25"]
    assert kpis.with_reading_times([tile], [other], city, "440900") == [tile]
