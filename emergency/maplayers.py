"""pydeck layers of emergency objects, for the 应急指挥 map and the overview's 应急资源 / 突发事件 layers:
clickable regions (to open an incident where one clicks), resources coloured by kind and outlined by
status, incidents, dispatch lines coloured by the unit's status, proposal lines, range rings, coverage
gaps and Chinese labels. The colours of resource kinds and statuses are defined here, once.

Built on geo.layers (tooltip, offline basemap); every layer has a fixed id and deterministically sorted
data, since selections come back as (layer id, row) pairs.
"""
from __future__ import annotations

import pandas as pd
import pydeck as pdk

from emergency import catalog
from geo import layers as base

LAYER_IDS = {"click": "em-click", "resources": "em-resources", "incidents": "em-incidents",
             "lines": "em-lines", "proposal": "em-proposal", "rings": "em-rings", "gaps": "em-gaps",
             "labels": "em-labels"}
# Fill colour by resource kind; a kind configured later without a colour is drawn grey.
KIND_COLORS = {
    "消防站": [230, 57, 70, 235],
    "综合救援队": [255, 140, 0, 235],
    "排涝抢险队": [30, 144, 255, 235],
    "医疗救护": [46, 204, 113, 235],
    "物资储备库": [186, 85, 211, 235],
    "应急避难场所": [0, 206, 209, 235],
    "危化品处置队": [255, 215, 0, 235],
    "排涝泵车": [65, 105, 225, 235],
    "应急车辆": [244, 164, 96, 235],
}
OTHER_KIND_COLOR = [200, 200, 200, 230]
# Outline colour by resource status, with the colour's name for the map legend.
STATUS_STYLE = {
    "available": ([230, 240, 255, 255], "白"), "dispatched": ([255, 200, 0, 255], "黄"),
    "en_route": ([255, 140, 0, 255], "橙"), "on_site": ([255, 59, 48, 255], "红"),
    "returning": ([90, 200, 250, 255], "蓝"), "out_of_service": ([110, 110, 110, 255], "灰"),
}
STATUS_COLORS = {status: color for status, (color, _) in STATUS_STYLE.items()}
STOCK_LINE_COLOR = [186, 85, 211, 220]


def status_legend() -> str:
    """How the resource outlines read ("白 待命、黄 已调派、…"), for a caption under the map."""
    return "、".join(f"{name} {catalog.status_label(status)}" for status, (_, name) in STATUS_STYLE.items())


def click_layer(regions: pd.DataFrame) -> pdk.Layer:
    """Regions to click on, as a SolidPolygonLayer: in Streamlit 1.67 (checked in Chromium) a click on
    a GeoJsonLayer (a composite layer) returns no selection, and an extra PathLayer for outlines stopped
    clicks from registering at all, so the polygons are one primitive layer without outlines.
    One row per polygon part; every part carries its region."""
    rows = []
    for r in regions.sort_values("code").itertuples():
        g = r.geometry
        parts = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"] if g["type"] == "MultiPolygon" else []
        for part in parts:
            rows.append({"polygon": part, "code": r.code, "name": r.name, "lon": r.lon, "lat": r.lat, "tip": r.tip})
    data = pd.DataFrame(rows, columns=["polygon", "code", "name", "lon", "lat", "tip"])
    return pdk.Layer("SolidPolygonLayer", id=LAYER_IDS["click"], data=data, get_polygon="polygon",
                     get_fill_color=[120, 170, 255, 12], pickable=True, auto_highlight=True,
                     highlight_color=[255, 255, 255, 40])


def resource_layer(resources: pd.DataFrame, layer_id: str = LAYER_IDS["resources"]) -> pdk.Layer:
    """Resources (columns id, kind, name, status, lon, lat, tip): fill by kind, outline by status."""
    data = resources.sort_values("id")[["id", "kind", "name", "status", "lon", "lat", "tip"]].copy()
    data["fill"] = [KIND_COLORS.get(k, OTHER_KIND_COLOR) for k in data["kind"]]
    data["line"] = [STATUS_COLORS.get(s, STATUS_COLORS["available"]) for s in data["status"]]
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color="fill", get_line_color="line", stroked=True, line_width_min_pixels=2,
                     get_radius=220, radius_min_pixels=4, radius_max_pixels=14, pickable=True)


def incident_layer(incidents: pd.DataFrame, selected: int | None = None,
                   layer_id: str = LAYER_IDS["incidents"]) -> pdk.Layer:
    """Incidents (columns id, lon, lat, tip) as red rings; the selected one larger."""
    data = incidents.sort_values("id")[["id", "lon", "lat", "tip"]].copy()
    data["radius"] = [900 if i == selected else 600 for i in data["id"]]
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color=[255, 40, 40, 110], get_line_color=[255, 80, 80, 255], stroked=True,
                     line_width_min_pixels=3, get_radius="radius", radius_min_pixels=9, pickable=True)


def dispatch_lines(dispatches: pd.DataFrame, lon: float, lat: float) -> pdk.Layer:
    data = dispatches.sort_values("dispatch_id")[["dispatch_id", "lon", "lat", "unit_status", "item", "tip"]].copy()
    data["to_lon"], data["to_lat"] = lon, lat
    data["color"] = [STOCK_LINE_COLOR if stock else STATUS_COLORS.get(st, STATUS_COLORS["dispatched"])
                     for stock, st in zip(data["item"].notna(), data["unit_status"])]
    return pdk.Layer("LineLayer", id=LAYER_IDS["lines"], data=data.drop(columns=["item"]),
                     get_source_position=["lon", "lat"], get_target_position=["to_lon", "to_lat"],
                     get_color="color", get_width=3, pickable=True)


def proposal_lines(units: pd.DataFrame, stock: pd.DataFrame, lon: float, lat: float) -> pdk.Layer:
    rows = [{"lon": r.lon, "lat": r.lat, "tip": f"建议：{r.name}（{r.kind}）\n{r.distance_km:.1f} km，约 {r.eta_min:.0f} 分钟"}
            for r in units[units["selected"]].itertuples()]
    rows += [{"lon": r.lon, "lat": r.lat, "tip": f"建议：{r.item} {r.take}{r.unit}（{r.name}）"}
             for r in stock[stock["selected"]].itertuples()]
    data = pd.DataFrame(rows, columns=["lon", "lat", "tip"]).sort_values(["lon", "lat"]).reset_index(drop=True)
    data["to_lon"], data["to_lat"] = lon, lat
    return pdk.Layer("LineLayer", id=LAYER_IDS["proposal"], data=data, get_source_position=["lon", "lat"],
                     get_target_position=["to_lon", "to_lat"], get_color=[0, 229, 255, 160], get_width=2,
                     pickable=True)


def rings(lon: float, lat: float, radii_km: list[float]) -> pdk.Layer:
    """Range rings (radii in km) around the incident."""
    data = pd.DataFrame({"lon": lon, "lat": lat, "radius_m": [r * 1000 for r in radii_km],
                         "tip": [f"{r:g} km" for r in radii_km]})
    return pdk.Layer("ScatterplotLayer", id=LAYER_IDS["rings"], data=data, get_position=["lon", "lat"],
                     get_radius="radius_m", filled=False, stroked=True, get_line_color=[255, 255, 255, 140],
                     line_width_min_pixels=1, pickable=False)


def ring_labels(lon: float, lat: float, radii_km: list[float]) -> pd.DataFrame:
    """Label points at the top of each ring (1° of latitude ≈ 111.2 km on the mean sphere)."""
    return pd.DataFrame({"lon": lon, "lat": [lat + r / 111.195 for r in radii_km], "text": [f"{r:g} km" for r in radii_km]})


def gap_layer(gaps: pd.DataFrame) -> pdk.Layer:
    data = gaps.sort_values("grid_code")[["grid_code", "lon", "lat", "population", "tip"]].copy()
    return pdk.Layer("ScatterplotLayer", id=LAYER_IDS["gaps"], data=data, get_position=["lon", "lat"],
                     get_fill_color=[231, 76, 60, 120], get_line_color=[231, 76, 60, 230], stroked=True,
                     get_radius="population", radius_scale=0.08, radius_min_pixels=3, radius_max_pixels=30,
                     line_width_min_pixels=1, pickable=True)


def label_layer(labels: pd.DataFrame) -> pdk.Layer:
    """Chinese labels (columns lon, lat, text) above their points, through the generic label builder."""
    return base.label_layer(labels, LAYER_IDS["labels"], offset=(0, -16))


def build_deck(layer_list: list[pdk.Layer], view: pdk.ViewState) -> pdk.Deck:
    return base.deck(layer_list, view)
