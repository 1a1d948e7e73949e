"""A small base layer as a GIS office would hand it over: a few roads and a river with a lake, in
CGCS2000 3-degree Gauss-Krüger (EPSG:4546), GBK attributes, as a GeoPackage — around the centre of a
city's boundary."""
from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import pyogrio
from shapely.geometry import LineString, Point, Polygon


def make_base_layers(folder: Path, lon: float, lat: float, size: float = 0.03) -> Path:
    """roads (3 lines, one 主干道), water (a river line and a lake), places (2 points), within `size`
    degrees of (lon, lat)."""
    d = size
    roads = gpd.GeoDataFrame({"NAME": ["人民大道", "油城路", "站前路"], "DJ": ["主干道", "次干道", "支路"]}, geometry=[
        LineString([(lon - d, lat), (lon + d, lat)]), LineString([(lon, lat - d), (lon, lat + d)]),
        LineString([(lon - d, lat - d), (lon + d, lat + d)])], crs="EPSG:4326")
    water = gpd.GeoDataFrame({"NAME": ["小东江", "人民湖"]}, geometry=[
        LineString([(lon - d, lat + d / 2), (lon - d / 3, lat + d / 3), (lon + d, lat + d / 2)]),
        Polygon([(lon + d / 4, lat - d / 2), (lon + d / 2, lat - d / 2), (lon + d / 2, lat - d / 4),
                 (lon + d / 4, lat - d / 4)])], crs="EPSG:4326")
    places = gpd.GeoDataFrame({"NAME": ["市政府", "火车站"]}, geometry=[Point(lon, lat), Point(lon + d / 2, lat - d / 2)],
                              crs="EPSG:4326")
    path = folder / "底图.gpkg"
    for name, frame in (("道路", roads), ("水系", water), ("地名", places)):
        pyogrio.write_dataframe(frame.to_crs("EPSG:4546"), path, layer=name)
    return path


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile holding (lon, lat) at zoom z (Web Mercator)."""
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y
