"""The generic pydeck builders every map stands on: regions (clickable choropleth, outlines), the view
that fits a bounding box, the deck on the offline basemap with the shared Chinese tooltip, and its
compact JSON. Each domain builds the layers of its own objects on these rules (events.layers,
sensors.layers, emergency.maplayers).

Rules that keep maps fast and stable (DESIGN.md "Maps"):
- every layer has an explicit id (selections come back keyed by layer id);
- layer data is sorted deterministically (selections come back as row indices);
- raw points are capped at [map].max_raw_points per view; above that the caller aggregates on the server
  (in SQL, e.g. situation.events_map's grid bins) and sends bins;
- tooltips read one precomputed `tip` field, so every layer shows Chinese text the same way, as text;
- place names are a TextLayer (label_layer) whose glyph atlas deck.gl draws in the browser from the
  locally installed CJK fonts, for exactly the characters the labels use (no web font is fetched).
"""
from __future__ import annotations

import json
import math
from typing import Iterable

import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

import settings

# Fill of a region drawn without a colour of its own (e.g. the grids of a grid officer's own map).
NEUTRAL_FILL = [90, 100, 120, 110]
# "text", never "html": deck.gl then sets the tooltip with innerText, so a name or title from outside
# (an import, a report, a sensor) shows as the characters it is — no markup, no image fetched
# (DESIGN.md "Text from outside is data"). Line breaks still break (white-space: pre-line).
TOOLTIP = {
    "text": "{tip}",
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
    tip, and optionally `color` (RGBA list; NEUTRAL_FILL where missing). The caller colours: e.g. the
    overview by indicator status (indicators.status.status_rgba).

    A SolidPolygonLayer with one row per polygon part, not a GeoJsonLayer: Streamlit 1.67 returns no
    selection for clicks on (composite) GeoJsonLayers, and drill-down depends on the clicked row."""
    rows = []
    for row in regions.sort_values("code").itertuples(index=False):
        geom = row.geometry if isinstance(row.geometry, dict) else json.loads(row.geometry)
        color = getattr(row, "color", None)
        if color is None or (isinstance(color, float) and math.isnan(color)):
            color = NEUTRAL_FILL
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


# Canvas text is drawn with fonts installed on the viewing machine (fonts-noto-cjk on Debian, YaHei on
# Windows, PingFang on macOS); no web font is ever fetched.
CJK_FONTS = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, WenQuanYi Micro Hei, sans-serif"
LABEL_COLOR = [240, 244, 250, 255]
LABEL_OUTLINE = [10, 18, 32, 255]


def character_set(texts: Iterable[str]) -> list[str]:
    """Every character the texts use (sorted, so the spec is stable), plus ASCII digits and letters for
    numbers and units. deck.gl's default atlas is ASCII only: a Chinese character outside the set
    would draw as nothing."""
    chars = {c for t in texts if isinstance(t, str) for c in t}
    chars |= set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .-·()（）")
    # pydeck unquotes a literal by deleting every quote character in it, so '"' cannot be in the set
    # (a label with one draws that character as a gap).
    return sorted(chars - {'"'})


def label_layer(labels: pd.DataFrame, layer_id: str = "labels", *, size: int = 13,
                color: list[int] | None = None, offset: tuple[int, int] = (0, 0)) -> pdk.Layer:
    """Text labels (columns lon, lat, text): place names at region centroids, incident titles, ring
    radii… The glyph atlas is built in the browser from the locally installed CJK fonts for exactly
    the characters used (`characterSet`), so the labels cost no font download and no request.

    pydeck turns a bare string (and a list of strings) into an accessor expression, so the literal font
    family and the character set are passed as quoted strings (pydeck strips the quotes; deck.gl takes
    the set's characters from a string as from a list)."""
    data = labels[["lon", "lat", "text"]].dropna().sort_values(["lon", "lat", "text"]).reset_index(drop=True)
    data["text"] = data["text"].astype(str)
    return pdk.Layer("TextLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_text="text",
                     get_size=size, get_color=color or LABEL_COLOR, get_pixel_offset=list(offset),
                     character_set='"' + "".join(character_set(data["text"])) + '"',
                     font_family=f'"{CJK_FONTS}"', font_weight=600, outline_width=2, outline_color=LABEL_OUTLINE,
                     font_settings={"sdf": True}, pickable=False)


def region_labels(regions: pd.DataFrame) -> pd.DataFrame:
    """Label points of regions (columns name, centroid_lon, centroid_lat, e.g. situation.regions_map's
    frame): our own boundaries' centroids, as [lon, lat, text]."""
    if regions.empty or "centroid_lon" not in regions:
        return pd.DataFrame(columns=["lon", "lat", "text"])
    frame = regions.dropna(subset=["centroid_lon", "centroid_lat", "name"])
    return pd.DataFrame({"lon": frame["centroid_lon"].astype(float), "lat": frame["centroid_lat"].astype(float),
                         "text": frame["name"].astype(str)})


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
