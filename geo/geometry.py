"""Geometry metrics and the text form we store.

Areas are computed in an Albers equal-area projection fitted to China (standard parallels 25°N and
47°N, the usual choice for national maps): an equal-area projection gives true areas everywhere, and
working on projected coordinates lets shapely do a whole array of polygons in one call.
"""
from __future__ import annotations

import json

import numpy as np
import shapely
from pyproj import Transformer

_ALBERS_CHINA = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
_to_albers = Transformer.from_crs("EPSG:4326", _ALBERS_CHINA, always_xy=True)

# Coordinates are stored rounded to 1e-7° (≈ 1 cm): well below survey accuracy, and it keeps the
# stored text short. Shared vertices of neighbours round identically, so they stay shared.
STORE_DECIMALS = 7
POLYGONAL = ("Polygon", "MultiPolygon")


def to_albers(geoms):  # noqa: ANN001, ANN201 - geometry or array of geometries
    def _project(xy: np.ndarray) -> np.ndarray:
        x, y = _to_albers.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _project)


def area_km2(geoms):  # noqa: ANN001, ANN201
    """True area in km² of a WGS-84 geometry (or array of them)."""
    return shapely.area(to_albers(geoms)) / 1e6


def label_point(geom) -> tuple[float, float]:  # noqa: ANN001
    """The centroid, or a point on the surface when the centroid falls outside the shape (a crescent,
    a bay): it is used to place labels and to fly the map to a region, so it must lie inside."""
    c = geom.centroid
    if not geom.contains(c):
        c = geom.representative_point()
    return c.x, c.y


def bbox_text(geom) -> str:  # noqa: ANN001
    return ",".join(f"{v:.6f}" for v in geom.bounds)


def round_coords(geoms, decimals: int = STORE_DECIMALS):  # noqa: ANN001, ANN201
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))


def to_text(geom) -> str:  # noqa: ANN001
    """GeoJSON geometry text as stored in Region.geometry (WGS-84, rounded)."""
    return shapely.to_geojson(round_coords(geom))


def from_text(text: str | None):  # noqa: ANN201
    return None if not text else shapely.from_geojson(text)


def from_texts(texts: list[str]) -> np.ndarray:
    """Many stored geometries at once (GEOS parses them in C)."""
    return shapely.from_geojson(np.asarray(texts, dtype=object))


def region_metrics(geom) -> dict:  # noqa: ANN001
    """The Region columns derived from a WGS-84 geometry."""
    lon, lat = label_point(geom)
    return {
        "geometry": to_text(geom),
        "centroid_lon": round(lon, 7),
        "centroid_lat": round(lat, 7),
        "bbox": bbox_text(geom),
        "area_km2": round(float(area_km2(geom)), 4),
    }


def mapping_of(text: str | None) -> dict | None:
    return None if not text else json.loads(text)


def polygonal(geom):  # noqa: ANN001, ANN201
    """Only the polygon parts of a geometry (clipping can leave stray lines and points where shapes
    touch); a MultiPolygon when several remain."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in POLYGONAL and not p.is_empty]
    flat = [q for p in parts for q in shapely.get_parts(p)]
    if not flat:
        return shapely.Polygon()
    return flat[0] if len(flat) == 1 else shapely.MultiPolygon(flat)


def metrics_many(geoms: list) -> list[dict]:
    """region_metrics for many geometries, with the costly steps (projection, GeoJSON writing) done
    once over the whole array."""
    arr = np.asarray(geoms, dtype=object)
    if not arr.size:
        return []
    areas = area_km2(arr)
    texts = shapely.to_geojson(round_coords(arr))
    out = []
    for geom, area, text in zip(arr, areas, texts):
        lon, lat = label_point(geom)
        out.append({"geometry": str(text), "centroid_lon": round(lon, 7), "centroid_lat": round(lat, 7),
                    "bbox": bbox_text(geom), "area_km2": round(float(area), 4)})
    return out
