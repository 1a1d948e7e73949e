"""Region shapes for the choropleth: the scope's children (or the scope itself when it is a grid),
with the scope's bounding box for the map view."""
from __future__ import annotations

import json

import pandas as pd
import shapely

from geo.views import RegionViews


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    a, b, c, d = (float(v) for v in text.split(","))
    return a, b, c, d


# Boundaries are drawn simplified to a fraction of a screen pixel: the scope spans at most ~2,300 px
# (60 % of a 3840-px video wall), so a tolerance of 1/4000 of its extent is invisible even there, and
# the city map's boundaries shrink several-fold (the stored survey geometry keeps every vertex).
SCREEN_UNITS = 4000


def for_screen(geometry: str, tolerance: float) -> dict:
    """A stored GeoJSON geometry simplified (topology kept) and rounded for drawing."""
    shape = shapely.from_geojson(geometry)
    drawn = shapely.set_precision(shapely.simplify(shape, tolerance, preserve_topology=True), 1e-5)
    return json.loads(shapely.to_geojson(drawn if not drawn.is_empty else shape))


def scope_shapes(regions: RegionViews, code: str) -> tuple[pd.DataFrame, dict, tuple]:
    """(children frame [code, name, level, geometry(dict), centroid_lon, centroid_lat],
    the scope's own geometry dict, the scope's bbox), as `regions`' viewer may see them. Geometries
    are simplified for the screen."""
    scope = regions.get_region(code)
    kids = regions.drawn_regions(code)
    bbox = _bbox(scope.bbox) or (110.0, 21.0, 112.0, 23.0)
    tolerance = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / SCREEN_UNITS
    frame = pd.DataFrame([{
        "code": r.code, "name": r.name, "level": r.level,
        "geometry": for_screen(r.geometry, tolerance),
        "centroid_lon": r.centroid_lon, "centroid_lat": r.centroid_lat,
    } for r in kids if r.geometry])
    own = for_screen(scope.geometry, tolerance) if scope.geometry else None
    return frame, own, bbox
