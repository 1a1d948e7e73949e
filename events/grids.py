"""Geometry of the grids a case form and a case map work with: bounding boxes and the lattice of
pickable points that turns a tap on the map into a location (plain functions on frames, no reads)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape as geo_shape


def zone_bbox(grids: pd.DataFrame) -> tuple[float, float, float, float]:
    """Bounding box (minlon, minlat, maxlon, maxlat) of a grids frame (EventViews.zone_grids)."""
    geoms = [geo_shape(g) for g in grids["geometry"]]
    return tuple(float(v) for v in shapely.total_bounds(np.array(geoms, dtype=object)))


def bbox_of(geometry: dict) -> tuple[float, float, float, float]:
    """(minlon, minlat, maxlon, maxlat) of a GeoJSON geometry."""
    return tuple(float(v) for v in geo_shape(geometry).bounds)


def location_lattice(grids: pd.DataFrame, max_points: int = 1500) -> pd.DataFrame:
    """Evenly spaced pickable points inside the zone's grids, so a tap on the map yields a location
    (Streamlit returns the picked object, not the clicked coordinate). Columns id, lon, lat, grid_code."""
    if grids.empty:
        return pd.DataFrame(columns=["id", "lon", "lat", "grid_code"])
    geoms = np.array([geo_shape(g) for g in grids["geometry"]], dtype=object)
    area = float(sum(g.area for g in geoms))
    step = math.sqrt(area / max_points) if area > 0 else 0.001
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    xs = np.arange(minx + step / 2, maxx, step)
    ys = np.arange(miny + step / 2, maxy, step)
    gx, gy = np.meshgrid(xs, ys)
    px, py = gx.ravel(), gy.ravel()
    owner = np.full(px.shape, -1)
    shapely.prepare(geoms)
    for i, g in enumerate(geoms):
        hit = (owner < 0) & shapely.contains_xy(g, px, py)
        owner[hit] = i
    keep = owner >= 0
    frame = pd.DataFrame({"lon": np.round(px[keep], 6), "lat": np.round(py[keep], 6),
                          "grid_code": grids["code"].to_numpy()[owner[keep]]})
    frame.insert(0, "id", np.arange(len(frame)))
    return frame
