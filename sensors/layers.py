"""The sensors' map layer: one point per station, coloured by its current level (sensors.status),
grey when offline. Follows geo.layers' rules (explicit id, rows sorted by id, one `tip` field)."""
from __future__ import annotations

import pandas as pd
import pydeck as pdk

from geo.layers import hex_to_rgba

OFFLINE_RGBA = [128, 128, 128, 200]


def _rgba(row: dict) -> list[int]:
    if row.get("offline"):
        return OFFLINE_RGBA
    c = row.get("color")
    return hex_to_rgba(c) if isinstance(c, str) else (list(c) if c is not None else OFFLINE_RGBA)


def station_layer(stations: pd.DataFrame, layer_id: str = "sensors") -> pdk.Layer:
    """Stations (columns id, lon, lat, color (hex or RGBA), offline (bool), tip), e.g.
    sensors.views.SensorViews.station_map."""
    data = stations.sort_values("id").copy()
    data["rgba"] = [_rgba(r) for r in data.to_dict("records")]
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color="rgba", get_radius=180, radius_min_pixels=5, radius_max_pixels=18,
                     stroked=True, get_line_color=[255, 255, 255, 220], line_width_min_pixels=1, pickable=True)
