"""pydeck layer builders for every map in the product.

Rules that keep maps fast and stable (DESIGN.md "Maps"):
- every layer has an explicit id (selections come back keyed by layer id);
- layer data is sorted deterministically (selections come back as row indices);
- raw points are capped at [map].max_raw_points per view; above that the caller aggregates on the server
  (`bin_points`) and sends bins;
- tooltips read one precomputed `tip` field, so every layer shows Chinese text the same way.
"""
from __future__ import annotations

import json
import math
from typing import Iterable

import numpy as np
import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

import settings

STATUS_COLORS = {
    "green": [46, 204, 113, 170],
    "yellow": [241, 196, 15, 180],
    "red": [231, 76, 60, 190],
    None: [90, 100, 120, 110],
}
EVENT_STATUS_COLORS = {
    "overdue": [231, 76, 60, 230],
    "warning": [241, 196, 15, 230],
    "open": [59, 163, 255, 220],
    "closed": [120, 130, 150, 160],
}
RESOURCE_COLORS = {
    "消防站": [230, 57, 70, 235],
    "综合救援队": [255, 140, 0, 235],
    "排涝抢险队": [30, 144, 255, 235],
    "医疗救护": [46, 204, 113, 235],
    "物资储备库": [186, 85, 211, 235],
    "应急避难场所": [0, 206, 209, 235],
    "危化品处置队": [255, 215, 0, 235],
    "排涝泵车": [65, 105, 225, 235],
    "应急车辆": [255, 99, 71, 235],
}
OFFLINE_GREY = [128, 128, 128, 200]

TOOLTIP = {
    "html": "{tip}",
    "style": {"backgroundColor": "#0F1A2E", "color": "#E6EDF7", "fontSize": "13px",
              "border": "1px solid #2B3B5C", "whiteSpace": "pre-line"},
}


def hex_to_rgba(color: str, alpha: int = 230) -> list[int]:
    color = color.lstrip("#")
    return [int(color[i:i + 2], 16) for i in (0, 2, 4)] + [alpha]


def map_style(dark: bool = True) -> str:
    """The offline MapLibre style served from static/ (never an online basemap)."""
    cfg = settings.get_settings()["map"]
    return cfg["style"] if dark else cfg.get("style_light", cfg["style"])


def _mercator_y(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def view_for_bbox(bbox: tuple[float, float, float, float], width: int = 800, height: int = 560,
                  pitch: float = 0, margin: float = 0.08) -> pdk.ViewState:
    """A view that fits a lon/lat bounding box into a map of about width × height pixels
    (deck.gl's Web Mercator: the world is 512 px wide at zoom 0)."""
    minx, miny, maxx, maxy = bbox
    usable_w, usable_h = width * (1 - 2 * margin), height * (1 - 2 * margin)
    zoom_x = math.log2(usable_w * 360.0 / (512 * max(maxx - minx, 1e-5)))
    merc_span = max(_mercator_y(maxy) - _mercator_y(miny), 1e-7)
    zoom_y = math.log2(usable_h * 2 * math.pi / (512 * merc_span))
    zoom = max(3.0, min(17.0, min(zoom_x, zoom_y)))
    centre_lat = math.degrees(math.atan(math.sinh((_mercator_y(maxy) + _mercator_y(miny)) / 2)))
    return pdk.ViewState(longitude=(minx + maxx) / 2, latitude=centre_lat, zoom=round(zoom, 2),
                         pitch=pitch, bearing=0)


def _polygon_parts(geom: dict) -> list:
    if geom["type"] == "Polygon":
        return [geom["coordinates"]]
    if geom["type"] == "MultiPolygon":
        return list(geom["coordinates"])
    return []


def region_layer(regions: pd.DataFrame, layer_id: str = "regions", *, extruded: bool = False) -> pdk.Layer:
    """Clickable choropleth of regions. `regions` columns: code, name, geometry (GeoJSON dict or text),
    tip, and either `color` (RGBA list) or `status` (green/yellow/red/None).

    A SolidPolygonLayer with one row per polygon part, not a GeoJsonLayer: Streamlit 1.67 returns no
    selection for clicks on (composite) GeoJsonLayers, and drill-down depends on the clicked row."""
    rows = []
    for row in regions.sort_values("code").itertuples(index=False):
        geom = row.geometry if isinstance(row.geometry, dict) else json.loads(row.geometry)
        color = getattr(row, "color", None)
        if color is None or (isinstance(color, float) and math.isnan(color)):
            color = STATUS_COLORS.get(getattr(row, "status", None), STATUS_COLORS[None])
        for part in _polygon_parts(geom):
            rows.append({"code": row.code, "name": row.name, "tip": row.tip, "color": list(color),
                         "polygon": part})
    return pdk.Layer(
        "SolidPolygonLayer", id=layer_id, data=rows, get_polygon="polygon", get_fill_color="color",
        pickable=True, auto_highlight=True, highlight_color=[255, 255, 255, 70], extruded=extruded,
    )


def region_outline_layer(regions: pd.DataFrame, layer_id: str = "region-outlines") -> pdk.Layer:
    """Unpickable borders of the regions drawn by region_layer."""
    features = [{"type": "Feature", "geometry": g if isinstance(g, dict) else json.loads(g), "properties": {}}
                for g in regions.sort_values("code")["geometry"]]
    return pdk.Layer("GeoJsonLayer", id=layer_id, data={"type": "FeatureCollection", "features": features},
                     pickable=False, stroked=True, filled=False, get_line_color=[180, 210, 255, 200],
                     line_width_min_pixels=1)


def outline_layer(geometries: Iterable[dict], layer_id: str = "outline") -> pdk.Layer:
    """Unpickable outline (e.g. the scope's own boundary around its children)."""
    features = [{"type": "Feature", "geometry": g, "properties": {}} for g in geometries]
    return pdk.Layer("GeoJsonLayer", id=layer_id, data={"type": "FeatureCollection", "features": features},
                     pickable=False, stroked=True, filled=False, get_line_color=[120, 200, 255, 255],
                     line_width_min_pixels=2)


def bin_points(lons: np.ndarray, lats: np.ndarray, cell_deg: float) -> pd.DataFrame:
    """Server-side aggregation: counts per square cell of `cell_deg` degrees (cell centres)."""
    if len(lons) == 0:
        return pd.DataFrame({"lon": [], "lat": [], "count": []})
    ix = np.floor(np.asarray(lons) / cell_deg).astype(np.int64)
    iy = np.floor(np.asarray(lats) / cell_deg).astype(np.int64)
    frame = pd.DataFrame({"ix": ix, "iy": iy}).value_counts().reset_index(name="count")
    frame["lon"] = (frame["ix"] + 0.5) * cell_deg
    frame["lat"] = (frame["iy"] + 0.5) * cell_deg
    return frame.sort_values(["ix", "iy"])[["lon", "lat", "count"]].reset_index(drop=True)


def event_heat_layer(bins: pd.DataFrame, layer_id: str = "event-heat") -> pdk.Layer:
    """Weighted heat map of server-side event bins (columns lon, lat, count). Only what the heat map
    draws is sent, at 1 m precision: at city scope there is a bin per grid (10k at prefecture scale)."""
    data = bins[["lon", "lat", "count"]].round({"lon": 5, "lat": 5})
    return pdk.Layer("HeatmapLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_weight="count",
                     radius_pixels=22, intensity=1, threshold=0.08, aggregation="SUM", opacity=0.55,
                     color_range=[[255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60],
                                  [240, 59, 32], [189, 0, 38]], pickable=False)


def event_bin_layer(bins: pd.DataFrame, cell_deg: float, layer_id: str = "event-bins") -> pdk.Layer:
    """Columns of server-side bins, for a 3D wall view (columns lon, lat, count, tip)."""
    return pdk.Layer("GridCellLayer", id=layer_id, data=bins, get_position=["lon", "lat"],
                     cell_size=cell_deg * 111_000 * 0.9, get_elevation="count", elevation_scale=20,
                     get_fill_color=[255, 140, 0, 200], pickable=True, extruded=True)


def event_point_layer(points: pd.DataFrame, layer_id: str = "events") -> pdk.Layer:
    """Individual events (columns id, lon, lat, state in open/warning/overdue/closed, tip)."""
    data = points.sort_values("id").copy()
    data["color"] = data["state"].map(EVENT_STATUS_COLORS).apply(
        lambda c: c if isinstance(c, list) else EVENT_STATUS_COLORS["open"])
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color="color", get_radius=25, radius_min_pixels=3, radius_max_pixels=12,
                     pickable=True, stroked=True, get_line_color=[10, 18, 32, 255], line_width_min_pixels=1)


def sensor_layer(sensors: pd.DataFrame, layer_id: str = "sensors") -> pdk.Layer:
    """Sensors (columns id, lon, lat, color (hex or RGBA), offline (bool), tip)."""
    data = sensors.sort_values("id").copy()

    def rgba(row) -> list[int]:  # noqa: ANN001
        if row.get("offline"):
            return OFFLINE_GREY
        c = row.get("color")
        return hex_to_rgba(c) if isinstance(c, str) else (list(c) if c is not None else OFFLINE_GREY)

    data["rgba"] = [rgba(r) for r in data.to_dict("records")]
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color="rgba", get_radius=180, radius_min_pixels=5, radius_max_pixels=18,
                     stroked=True, get_line_color=[255, 255, 255, 220], line_width_min_pixels=1, pickable=True)


def resource_layer(resources: pd.DataFrame, layer_id: str = "resources") -> pdk.Layer:
    """Emergency resources as squares-by-colour per kind (columns id, kind, lon, lat, tip)."""
    data = resources.sort_values("id").copy()
    data["rgba"] = data["kind"].map(RESOURCE_COLORS).apply(
        lambda c: c if isinstance(c, list) else [200, 200, 200, 230])
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color="rgba", get_radius=220, radius_min_pixels=4, radius_max_pixels=14,
                     stroked=True, get_line_color=[0, 0, 0, 255], line_width_min_pixels=2, pickable=True)


def incident_layer(incidents: pd.DataFrame, layer_id: str = "incidents") -> pdk.Layer:
    """Active incidents (columns id, lon, lat, tip): large red rings."""
    data = incidents.sort_values("id")
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color=[255, 40, 40, 90], get_line_color=[255, 60, 60, 255], stroked=True,
                     line_width_min_pixels=3, get_radius=600, radius_min_pixels=10, pickable=True)


def line_layer(lines: pd.DataFrame, layer_id: str = "dispatch-lines") -> pdk.Layer:
    """Dispatch lines (columns from_lon, from_lat, to_lon, to_lat, tip)."""
    return pdk.Layer("LineLayer", id=layer_id, data=lines, get_source_position=["from_lon", "from_lat"],
                     get_target_position=["to_lon", "to_lat"], get_color=[255, 200, 0, 220], get_width=3,
                     pickable=True)


def ring_layer(rings: pd.DataFrame, layer_id: str = "range-rings") -> pdk.Layer:
    """Range rings around a point (columns lon, lat, radius_m, tip)."""
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=rings, get_position=["lon", "lat"],
                     get_radius="radius_m", filled=False, stroked=True, get_line_color=[255, 255, 255, 140],
                     line_width_min_pixels=1, pickable=False)


def deck(layers: list[pdk.Layer], view: pdk.ViewState, *, dark: bool = True) -> pdk.Deck:
    """A Deck on the offline basemap with the shared Chinese tooltip."""
    return pdk.Deck(layers=layers, initial_view_state=view, map_style=map_style(dark), tooltip=TOOLTIP)


def deck_json(deck_obj: pdk.Deck) -> str:
    """The deck's JSON spec without pydeck's two-space indentation, which made up about 70 % of the
    bytes sent to the browser (1.66 MB → 0.45 MB for the tenth-scale city map)."""
    return json.dumps(deck_obj, sort_keys=True, default=default_serialize, separators=(",", ":"))


class SerializedDeck:
    """A deck already turned into its JSON spec. st.pydeck_chart asks a deck only for to_json(), its
    tooltip, width and Mapbox key, so a cached spec can be drawn again without rebuilding ~2 MB of
    JSON from Python objects on every rerun (that was about 70 % of a warm overview's server time)."""

    def __init__(self, spec: str, tooltip: dict | None = None):
        self._spec = spec
        self._tooltip = TOOLTIP if tooltip is None else tooltip
        self.layers: list = []  # nothing left for Streamlit's pandas-3 preparation to convert
        self.mapbox_key = None
        self.width = None

    def to_json(self) -> str:
        return self._spec
