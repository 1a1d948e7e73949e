"""The cases' map layers: case points coloured by their map state, and the heat of reported cases
where there are too many to draw one by one. Takes the frames of events.views / events.format."""
from __future__ import annotations

import pandas as pd
import pydeck as pdk

# RGBA per events.statuses.MAP_STATES.
STATE_COLORS = {
    "overdue": [231, 76, 60, 230],
    "warning": [241, 196, 15, 230],
    "open": [59, 163, 255, 220],
    "closed": [120, 130, 150, 160],
}
HEAT_COLORS = [[255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32], [189, 0, 38]]


def case_point_layer(points: pd.DataFrame, layer_id: str = "events") -> pdk.Layer:
    """Individual cases (columns id, lon, lat, state in events.statuses.MAP_STATES, tip), by id so a
    selection's row index is stable."""
    data = points.sort_values("id").copy()
    data["color"] = pd.Series([STATE_COLORS.get(s, STATE_COLORS["open"]) for s in data["state"]],
                              index=data.index, dtype=object)
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"],
                     get_fill_color="color", get_radius=25, radius_min_pixels=3, radius_max_pixels=12,
                     pickable=True, stroked=True, get_line_color=[10, 18, 32, 255], line_width_min_pixels=1)


def case_heat_layer(bins: pd.DataFrame, layer_id: str = "event-heat") -> pdk.Layer:
    """Weighted heat map of server-side bins of cases (columns lon, lat, count). Only what the heat map
    draws is sent, at 1 m precision: at city scope there is a bin per grid (10k at prefecture scale)."""
    data = bins[["lon", "lat", "count"]].round({"lon": 5, "lat": 5})
    return pdk.Layer("HeatmapLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_weight="count",
                     radius_pixels=22, intensity=1, threshold=0.08, aggregation="SUM", opacity=0.55,
                     color_range=HEAT_COLORS, pickable=False)
