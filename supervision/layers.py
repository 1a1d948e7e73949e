"""Supervision's map layers: the day's hotspots as rings sized by how far they exceed their baseline, and
supervised cases as marked points. Take the rows of supervision.views."""
from __future__ import annotations

import math

import pandas as pd
import pydeck as pdk

KIND_COLORS = {"grid": [255, 99, 72, 210], "street": [255, 159, 67, 190], "topic": [155, 89, 182, 190]}
SUPERVISED_COLOR = [231, 76, 60, 255]
SUPERVISED_LATE_COLOR = [192, 57, 43, 255]


def hotspot_layer(rows: list[dict], layer_id: str = "hotspots") -> pdk.Layer:
    """One ring per finding with a location (id, kind, lon, lat, observed, expected, region_name, topic),
    by id so a selection's row index is stable; the radius grows with the excess over the baseline."""
    data = pd.DataFrame([r for r in rows if r.get("lon") is not None and r.get("lat") is not None],
                        columns=["id", "kind", "lon", "lat", "observed", "expected", "region_name", "topic"])
    data = data.sort_values("id").reset_index(drop=True)
    data["radius"] = [120 + 60 * math.sqrt(max(0.0, o - e)) for o, e in zip(data["observed"], data["expected"])]
    data["color"] = pd.Series([KIND_COLORS.get(k, KIND_COLORS["grid"]) for k in data["kind"]], index=data.index,
                              dtype=object)
    data["tip"] = [f"{n} · {t}\n本周 {o} 件，基线每周 {e:.1f} 件" for n, t, o, e in
                   zip(data["region_name"], data["topic"], data["observed"], data["expected"])]
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_radius="radius",
                     radius_min_pixels=6, radius_max_pixels=40, get_fill_color="color", stroked=True, filled=True,
                     get_line_color=[255, 255, 255, 230], line_width_min_pixels=2, opacity=0.6, pickable=True)


def supervised_layer(rows: list[dict], layer_id: str = "supervised") -> pdk.Layer:
    """Supervised cases (id, lon, lat, title, supervision_name, supervision_late) as red-ringed points."""
    data = pd.DataFrame(rows, columns=["id", "lon", "lat", "title", "supervision_name", "supervision_late"])
    data = data.sort_values("id").reset_index(drop=True)
    data["color"] = pd.Series([SUPERVISED_LATE_COLOR if late else SUPERVISED_COLOR
                               for late in data["supervision_late"]], index=data.index, dtype=object)
    data["tip"] = [f"#{i} {t}\n{n}" for i, t, n in zip(data["id"], data["title"], data["supervision_name"])]
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=data, get_position=["lon", "lat"], get_radius=40,
                     radius_min_pixels=5, radius_max_pixels=14, filled=False, stroked=True,
                     get_line_color="color", line_width_min_pixels=3, pickable=True)
