"""Coordinate systems used by Chinese map data: WGS-84, GCJ-02 (Amap/Tencent) and BD-09 (Baidu).

We store WGS-84. CGCS2000 (Tianditu, surveying) differs from WGS-84 by centimetres to decimetres,
so it is treated as WGS-84.

Boundary, grid and base-layer files from a GIS office also come in projected systems (CGCS2000
3-degree Gauss-Krüger, EPSG:4546 for 茂名…) or any other EPSG system: `parse_crs` names those
"EPSG:<n>" and `transform_geometry` converts them with pyproj. Point importers keep `normalize_crs`
(the three systems a coordinate pair is given in).

GCJ-02 is the published "public secret" obfuscation (the same formula as the eviltransform,
prcoords and coordtransform libraries): a smooth offset on the Krasovsky 1940 ellipsoid, applied
only inside a rough rectangle around China. Its inverse has no closed form, so we iterate the
forward transform to a fixed point (< 1e-9° after a handful of steps). BD-09 is GCJ-02 followed
by Baidu's own polar tweak, whose inverse we also iterate for the same accuracy.

Everything is written over numpy arrays, so bulk imports convert a million points in one call; the
scalar functions are thin wrappers.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

# Aliases accepted from users and files → canonical name.
_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "gps": "wgs84",
    "cgcs2000": "wgs84", "epsg:4490": "wgs84", "4490": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "amap": "gcj02", "gaode": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09",
}
SUPPORTED = ("wgs84", "gcj02", "bd09", "cgcs2000")
LABELS = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses it
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOL = 1e-10  # degrees; iteration stops below this (far under the 1e-7° we promise)
_MAX_ITER = 30


class UnknownCRS(ValueError):
    """The named coordinate system is not one we convert."""


def normalize_crs(crs: str | None) -> str:
    """Canonical CRS name ('wgs84', 'gcj02', 'bd09'); raises UnknownCRS with a Chinese message."""
    key = (crs or "").strip().lower().replace("_", "").replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    key_dash = (crs or "").strip().lower()
    if key_dash in _ALIASES:
        return _ALIASES[key_dash]
    raise UnknownCRS(f"未知的坐标系 {crs!r}，可选：wgs84、gcj02、bd09（cgcs2000 按 wgs84 处理）")


# Geodetic datums whose geographic coordinates we take as WGS-84 (CGCS2000 differs by centimetres).
_WGS84_LIKE_DATUMS = ("World Geodetic System 1984", "China 2000", "China Geodetic Coordinate System 2000")


def _epsg_name(crs: CRS) -> str:
    code = crs.to_epsg(min_confidence=70)
    if code is None:
        raise UnknownCRS(f"无法识别的坐标系（{crs.name}）：请用 EPSG 代码指定，如 --crs EPSG:4546")
    return f"EPSG:{code}"


def parse_crs(value) -> str:  # noqa: ANN001 - a name, an EPSG code, WKT, or a pyproj CRS
    """Canonical name of any coordinate system a boundary or base-layer file may be in: 'wgs84'
    (WGS-84 and CGCS2000 longitude/latitude), 'gcj02', 'bd09', or 'EPSG:<n>' for anything else
    pyproj knows (projected CGCS2000 Gauss-Krüger, Beijing 1954, Web Mercator…). UnknownCRS (Chinese)
    when it is none of these."""
    if isinstance(value, str):
        try:
            return normalize_crs(value)
        except UnknownCRS:
            pass
    try:
        crs = value if isinstance(value, CRS) else CRS.from_user_input(str(value).strip())
    except CRSError:
        raise UnknownCRS(f"未知的坐标系 {value!r}，可选：wgs84、cgcs2000、gcj02、bd09，"
                         "或 EPSG 代码（如 EPSG:4546，CGCS2000 3度带 中央经线 111°E）") from None
    if crs.is_geographic and any(crs.datum.name.startswith(d) for d in _WGS84_LIKE_DATUMS):
        return "wgs84"
    return _epsg_name(crs)


def label(crs: str) -> str:
    """How a canonical CRS is named to people: 'GCJ-02', 'EPSG:4546（CGCS2000 / 3-degree Gauss-Kruger CM 111E）'."""
    if crs in LABELS:
        return LABELS[crs]
    return f"{crs}（{_pyproj_crs(crs).name}）"


@lru_cache(maxsize=32)
def _pyproj_crs(crs: str) -> CRS:
    return CRS.from_user_input(crs)


@lru_cache(maxsize=32)
def _to_wgs84_transformer(crs: str) -> Transformer:
    return Transformer.from_crs(_pyproj_crs(crs), "EPSG:4326", always_xy=True)


def is_projected(crs: str) -> bool:
    return crs not in LABELS and _pyproj_crs(crs).is_projected


def out_of_china(lons, lats) -> np.ndarray:
    """The rectangle outside which GCJ-02 leaves coordinates unchanged (as the common libraries do)."""
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    return ~((lons >= 72.004) & (lons <= 137.8347) & (lats >= 0.8293) & (lats <= 55.8271))


def _gcj_offset(lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees (zero outside China)."""
    x = lons - 105.0
    y = lats - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lats / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(lons, lats)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lons, lats) -> tuple[np.ndarray, np.ndarray]:
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    dlon, dlat = _gcj_offset(lons, lats)
    return lons + dlon, lats + dlat


def gcj02_to_wgs84(lons, lats) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point iteration w ← g − offset(w). The offset changes by ~1e-3 of a step per degree,
    so each iteration gains about three digits; 3–4 iterations reach 1e-10°."""
    g_lon = np.asarray(lons, dtype=float)
    g_lat = np.asarray(lats, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_MAX_ITER):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat), [0.0]]))) < _TOL:
            break
    # Outside the rectangle the offset is zero, so such points come back unchanged after one step.
    return w_lon, w_lat


def gcj02_to_bd09(lons, lats) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lons, dtype=float)
    y = np.asarray(lats, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_rough(lons, lats) -> tuple[np.ndarray, np.ndarray]:
    """The published closed-form inverse (good to ~1e-6°); used as the iteration's start."""
    x = np.asarray(lons, dtype=float) - 0.0065
    y = np.asarray(lats, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lons, lats) -> tuple[np.ndarray, np.ndarray]:
    b_lon = np.asarray(lons, dtype=float)
    b_lat = np.asarray(lats, dtype=float)
    g_lon, g_lat = _bd09_to_gcj02_rough(b_lon, b_lat)
    for _ in range(_MAX_ITER):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        e_lon, e_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - e_lon, g_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat), [0.0]]))) < _TOL:
            break
    return g_lon, g_lat


def to_wgs84_array(lons, lats, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays in `crs` → WGS-84 arrays (new arrays; inputs are not modified)."""
    crs = normalize_crs(crs)
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    if crs == "wgs84":
        return lons.copy(), lats.copy()
    if crs == "bd09":
        lons, lats = bd09_to_gcj02(lons, lats)
    return gcj02_to_wgs84(lons, lats)


def from_wgs84_array(lons, lats, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 arrays → arrays in `crs`."""
    crs = normalize_crs(crs)
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    if crs == "wgs84":
        return lons.copy(), lats.copy()
    g_lon, g_lat = wgs84_to_gcj02(lons, lats)
    if crs == "bd09":
        return gcj02_to_bd09(g_lon, g_lat)
    return g_lon, g_lat


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    x, y = to_wgs84_array(lon, lat, crs)
    return float(x), float(y)


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    x, y = from_wgs84_array(lon, lat, crs)
    return float(x), float(y)


def transform_geometry(geom, crs: str):  # noqa: ANN001, ANN201 - shapely geometry (or array of them)
    """A shapely geometry (or array of geometries) in `crs` (any name `parse_crs` gives) → WGS-84.
    Vertices are converted one by one; shared vertices of neighbouring polygons stay shared, so a
    valid coverage stays valid."""
    crs = parse_crs(crs)
    if crs == "wgs84":
        return geom
    if crs in LABELS:
        def _convert(xy: np.ndarray) -> np.ndarray:
            x, y = to_wgs84_array(xy[:, 0], xy[:, 1], crs)
            return np.column_stack([x, y])
    else:
        transformer = _to_wgs84_transformer(crs)

        def _convert(xy: np.ndarray) -> np.ndarray:
            x, y = transformer.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

    return shapely.transform(geom, _convert)
