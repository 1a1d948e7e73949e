"""The key under (or beside) every map: one swatch per colour the map's layers draw, built from the
same colour tables the layer builders use (indicator status bands, case states, AQI levels, water
classes, resource kinds and statuses), so the legend cannot disagree with the map.

Rendered with st.html as swatches and escaped text; the CSS class lets the wall size it in vw."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from emergency import catalog
from emergency import maplayers as em_layers
from events.layers import HEAT_COLORS, STATE_COLORS
from indicators.status import NO_DATA, NO_DATA_COLOR, STATUS_COLORS, STATUS_LABELS
from sensors import status as sensor_status
from sensors.assessment import WATER_CLASS_COLORS
from sensors.layers import OFFLINE_RGBA
from standards.aqi import level_of
from ui import plain

CASE_STATE_NAMES = {"overdue": "超期", "warning": "临期", "open": "办理中", "closed": "已办结"}
# One AQI value inside each of the six HJ 633 levels (the levels are the same in both editions).
_AQI_SAMPLES = (25, 75, 125, 175, 250, 400)


@dataclass(frozen=True)
class Entry:
    label: str
    color: str            # CSS colour
    shape: str = "box"    # box (area), dot (point), ring (outline), line


@dataclass(frozen=True)
class Group:
    title: str
    entries: tuple[Entry, ...]


def css(rgba: list[int] | tuple[int, ...] | str) -> str:
    if isinstance(rgba, str):
        return rgba
    r, g, b, *a = rgba
    return f"rgba({r},{g},{b},{(a[0] if a else 255) / 255:.2f})"


# -- groups, one per layer kind ------------------------------------------------------------------------
def regions(legend: dict | None) -> Group | None:
    """The choropleth: the indicator's three bands (with their ranges) and 无数据."""
    if not legend:
        return None
    entries = [Entry(f"{b['label']} {b['range']}", b["color"]) for b in legend.get("bands", [])]
    if not entries:  # an indicator without thresholds is drawn in one colour per status it has
        entries = [Entry(STATUS_LABELS[s], STATUS_COLORS[s]) for s in ("green", "yellow", "red")]
    unit = f"（{legend['unit']}）" if legend.get("unit") else ""
    return Group(f"{legend['name']}{unit}", (*entries, Entry(NO_DATA, NO_DATA_COLOR)))


def events(mode: str = "points") -> Group:
    if mode == "heat":
        return Group("网格事件密度", (Entry("少", css(HEAT_COLORS[0] + [200])), Entry("多", css(HEAT_COLORS[-1] + [200]))))
    return Group("网格事件", tuple(Entry(CASE_STATE_NAMES[s], css(c), "dot") for s, c in STATE_COLORS.items()))


def air() -> Group:
    entries = []
    for sample in _AQI_SAMPLES:
        _level, category, color = level_of(sample)
        entries.append(Entry(category, color, "dot"))
    return Group("空气站 AQI（HJ 633）", tuple(entries))


def sensors(kinds: tuple[str, ...] = ("air", "water", "noise", "hydro")) -> list[Group]:
    """Stations: air by AQI level, water by class, noise and water level by state; grey = offline."""
    groups = [air()] if "air" in kinds else []
    if "water" in kinds:
        groups.append(Group("水质类别（GB 3838）", tuple(Entry(f"{c}类", color, "dot")
                                                      for c, color in WATER_CLASS_COLORS.items())))
    if "noise" in kinds:
        groups.append(Group("噪声", (Entry("达标", sensor_status.OK_COLOR, "dot"),
                                    Entry("超标", sensor_status.BREACH_COLOR, "dot"))))
    if "hydro" in kinds:
        groups.append(Group("水位", tuple(Entry(n, c, "dot") for n, c in sensor_status.HYDRO_COLORS.items())))
    groups.append(Group("站点", (Entry("离线", css(OFFLINE_RGBA), "dot"),
                                Entry("无数据", sensor_status.NO_DATA_COLOR, "dot"))))
    return groups


def resources() -> list[Group]:
    kinds = Group("应急资源（填充：类型）", tuple(Entry(k, css(c), "dot") for k, c in em_layers.KIND_COLORS.items()))
    states = Group("资源状态（描边）", tuple(Entry(catalog.status_label(s), css(c), "ring")
                                        for s, (c, _name) in em_layers.STATUS_STYLE.items()))
    return [kinds, states]


def incidents() -> Group:
    return Group("突发事件", (Entry("未关闭事件", "rgba(255,80,80,1)", "ring"),))


def for_layers(layers: tuple[str, ...] | list[str], region_legend: dict | None, events_mode: str = "points") -> list[Group]:
    """The groups of a map showing `layers` (regions, events, sensors, resources, incidents)."""
    out: list[Group] = []
    if "regions" in layers and (g := regions(region_legend)):
        out.append(g)
    if "events" in layers:
        out.append(events(events_mode))
    if "sensors" in layers:
        out += sensors()
    if "resources" in layers:
        out += resources()
    if "incidents" in layers:
        out.append(incidents())
    return out


# -- drawing -------------------------------------------------------------------------------------------
STYLE = """<style>
.map-legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; color: #C9D6EA; line-height: 1.6; }
.map-legend .g { display: flex; flex-wrap: wrap; align-items: center; gap: 2px 10px; }
.map-legend .t { color: #8FB3DE; font-weight: 600; }
.map-legend .e { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
.map-legend .s { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
.map-legend .s.dot { width: 10px; height: 10px; border-radius: 50%; }
.map-legend .s.ring { width: 10px; height: 10px; border-radius: 50%; background: transparent !important;
  border: 2px solid currentColor; }
</style>"""


def legend_html(groups: list[Group], css_class: str = "map-legend") -> str:
    """The legend as HTML (every label escaped: indicator names and units come from the library)."""
    parts = []
    for g in groups:
        items = []
        for e in g.entries:
            colour = plain.html(e.color)
            swatch = (f'<span class="s ring" style="color:{colour}"></span>' if e.shape == "ring"
                      else f'<span class="s {e.shape}" style="background:{colour}"></span>')
            items.append(f'<span class="e">{swatch}{plain.html(e.label)}</span>')
        parts.append(f'<span class="g"><span class="t">{plain.html(g.title)}</span>{"".join(items)}</span>')
    return f'<div class="{css_class}" data-testid="map-legend">{"".join(parts)}</div>'


def show(groups: list[Group]) -> None:
    """The legend under a map on a desk page."""
    if groups:
        st.html(STYLE + legend_html(groups))
