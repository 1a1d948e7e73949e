"""A basemap from the city's own files, served offline as vector tiles.

A city's GIS office already has its base layers — roads, water, buildings, place names — as
Shapefiles or GeoPackages (or an OpenStreetMap extract it keeps). `load_layer` reads one of them
through the same reader as the boundaries (geo.boundary_read: any format, CRS, encoding), keeps its
features in `basemap_features` (WGS-84), and rebuilds the deployment's tiles:

- GDAL's MVT/MBTiles driver (the tippecanoe-like tiler GDAL has carried since 2.3, reached through
  pyogrio, so nothing new to install) cuts each kind into Mapbox Vector Tiles, one source layer per kind
  with its own zoom range;
- the tiles of the kinds are merged per z/x/y by concatenating their protobuf messages (a vector tile
  is a protobuf `Tile` whose `layers` field repeats, and concatenated messages merge) and stored in
  `basemap_tiles`, so every app server reads the same tiles from the database;
- geo.tile_routes serves them at /tiles/{z}/{x}/{y}.pbf beside the app, and `style()` adds them to the
  local MapLibre style. Nothing is fetched from outside the server.

Place names are drawn as points: MapLibre needs glyph files (SDF fonts) for text, and no CJK glyph set
ships offline here. Region names come from our own boundaries (drawn by deck.gl on the map).
"""
from __future__ import annotations

import copy
import gzip
import json
import sqlite3
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

import settings
from geo import crs as crs_mod
from geo.boundary_read import FieldMap, Issue, read_source
from geo.geometry import polygonal, to_text
from store.models import BasemapFeature, BasemapTile, Meta, Region

# kind → (Chinese name, geometry families accepted, (min zoom, max zoom) of its tiles)
KINDS = {
    "water": ("水系", ("Polygon", "LineString"), (6, 14)),
    "roads": ("道路", ("LineString",), (8, 14)),
    "buildings": ("建筑", ("Polygon",), (13, 14)),
    "places": ("地名", ("Point",), (9, 14)),
}
MAX_ZOOM = 14  # MapLibre draws deeper zooms from these tiles (overzoom)
TILE_PATH = "/tiles/{z}/{x}/{y}.pbf"
VERSION_KEY = "basemap_version"
BOUNDS_KEY = "basemap_bounds"
_STATIC = settings.ROOT / "static"

Progress = Callable[[int, int], None]


@dataclass
class LoadReport:
    source: str
    city_code: str
    kind: str
    features: int = 0
    loaded: int = 0
    repaired: int = 0
    errors: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crs: str | None = None
    encoding: str | None = None
    tiles: int = 0
    check_only: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        return [e.line() for e in self.errors]

    def summary(self) -> str:
        label = KINDS.get(self.kind, (self.kind,))[0]
        if not self.ok:
            return f"底图图层导入失败：{self.source} 有 {len(self.errors)} 处错误，未写入任何数据："
        conv = "WGS-84" if self.crs == "wgs84" else f"已由 {crs_mod.label(self.crs)} 转换为 WGS-84"
        fixed = f"，修复无效面 {self.repaired} 个" if self.repaired else ""
        head = "检查通过（未写入任何数据），将" if self.check_only else "已"
        return (f"{head}导入 {self.city_code} 的{label}图层：{self.source} 共 {self.features} 个要素（{conv}），"
                f"载入 {self.loaded} 个{fixed}；底图瓦片 {self.tiles} 张。")


def _family(geom_type: str) -> str:
    return geom_type.removeprefix("Multi")


def _clean(geom, kind: str):  # noqa: ANN001, ANN202
    """The feature's geometry as the kind draws it (polygons made valid), or None when it is not of
    the kind's families. Returns (geometry, repaired?)."""
    if geom is None or geom.is_empty:
        return None, False
    if geom.geom_type == "GeometryCollection":
        parts = [p for p in shapely.get_parts(geom) if _family(p.geom_type) in KINDS[kind][1]]
        if not parts:
            return None, False
        geom = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    if _family(geom.geom_type) not in KINDS[kind][1]:
        return None, False
    if _family(geom.geom_type) == "Polygon" and not geom.is_valid:
        fixed = polygonal(shapely.make_valid(geom, method="structure", keep_collapsed=False))
        return (None if fixed.is_empty else fixed), True
    return geom, False


def load_layer(session: Session, city_code: str, kind: str, source: bytes | str | Path, crs: str | None = None, *,
               name: str | None = None, layer: str | None = None, encoding: str | None = None,
               name_field: str | None = None, class_field: str | None = None, replace: bool = True,
               progress: Progress | None = None) -> LoadReport:
    """Read a base layer for city `city_code` and rebuild the tiles, inside `session`'s transaction.
    `replace`: the city's earlier features of this kind are dropped first. Problems come back in
    `report.errors` (the caller rolls back)."""
    label = name or (source.name if isinstance(source, Path) else "上传的文件")
    report = LoadReport(label, city_code, kind)
    if kind not in KINDS:
        report.errors.append(Issue(None, f"未知的底图图层 {kind!r}，可选：" + "、".join(
            f"{k}（{v[0]}）" for k, v in KINDS.items())))
        return report
    city = session.get(Region, city_code)
    if city is None or city.level != "city" or not city.bbox:
        report.errors.append(Issue(None, f"没有城市 {city_code} 的边界：请先接入该市（manage.py city add）"))
        return report
    try:
        given = crs_mod.parse_crs(crs) if crs else None
    except crs_mod.UnknownCRS as exc:
        report.errors.append(Issue(None, str(exc)))
        return report
    parsed = read_source(source, encoding, name=label, layer=layer,
                         fields=FieldMap(name=name_field, klass=class_field), required=())
    report.encoding, report.features = parsed.encoding, len(parsed.features)
    report.notes.extend(parsed.notes)
    if parsed.issues:
        report.errors.extend(parsed.issues)
        return report
    used = given or parsed.crs
    if used is None:
        report.errors.append(Issue(None, "文件没有坐标系信息（缺少 .prj），请用 --crs 指定，如 --crs EPSG:4546"))
        return report
    if given and parsed.crs and given != parsed.crs and (crs_mod.is_projected(parsed.crs) or crs_mod.is_projected(given)):
        report.errors.append(Issue(None, f"文件声明的坐标系为 {crs_mod.label(parsed.crs)}，与指定的 {crs_mod.label(given)} 不一致"))
        return report
    report.crs = used

    rows = []
    skipped = 0
    total = len(parsed.features)
    for f in parsed.features:
        geom, fixed = _clean(f.geometry, kind)
        if progress is not None:
            progress(f.index, total)
        if geom is None:
            skipped += 1
            continue
        report.repaired += int(fixed)
        rows.append((f, geom))
    if not rows:
        families = "、".join(KINDS[kind][1])
        report.errors.append(Issue(None, f"文件中没有可用于{KINDS[kind][0]}图层的要素（应为 {families}）"))
        return report
    geoms = crs_mod.transform_geometry(np.asarray([g for _, g in rows], dtype=object), used)
    xy = shapely.get_coordinates(geoms)
    minx, miny, maxx, maxy = (float(v) for v in city.bbox.split(","))
    inside = (xy[:, 0] >= minx - 0.5) & (xy[:, 0] <= maxx + 0.5) & (xy[:, 1] >= miny - 0.5) & (xy[:, 1] <= maxy + 0.5)
    if inside.mean() < 0.5:
        x, y = xy[~inside][0]
        report.errors.append(Issue(None, f"大部分要素不在 {city.name}（{city_code}）范围内（如 {x:.6f}, {y:.6f}）："
                                         "坐标系可能不对，或不是本市的文件"))
        return report
    if skipped:
        report.notes.append(f"{skipped} 个要素不是{KINDS[kind][0]}图层的几何类型（或为空），未载入")

    if replace:
        session.execute(delete(BasemapFeature).where(BasemapFeature.city_code == city_code,
                                                     BasemapFeature.kind == kind))
    src = f"{label[:70]}"
    records = [{"city_code": city_code, "kind": kind, "geometry": to_text(g),
                "name": (str(f.props.get("name")).strip()[:100] or None) if f.props.get("name") not in (None, "") else None,
                "klass": str(f.props.get("klass"))[:40] if f.props.get("klass") not in (None, "") else None,
                "source": src} for (f, _), g in zip(rows, geoms)]
    for i in range(0, len(records), 2000):
        session.execute(insert(BasemapFeature), records[i:i + 2000])
    report.loaded = len(records)
    report.tiles = build_tiles(session)
    return report


def _frames(session: Session) -> dict[str, gpd.GeoDataFrame]:
    out: dict[str, gpd.GeoDataFrame] = {}
    for kind in KINDS:
        rows = session.execute(select(BasemapFeature.name, BasemapFeature.klass, BasemapFeature.geometry)
                               .where(BasemapFeature.kind == kind).order_by(BasemapFeature.id)).all()
        if rows:
            geoms = shapely.from_geojson(np.asarray([r.geometry for r in rows], dtype=object))
            out[kind] = gpd.GeoDataFrame({"name": [r.name or "" for r in rows], "class": [r.klass or "" for r in rows]},
                                         geometry=geoms, crs="EPSG:4326")
    return out


def _cut(frame: gpd.GeoDataFrame, kind: str, folder: Path) -> dict[tuple[int, int, int], bytes]:
    """GDAL cuts one kind into vector tiles; returns {(z, x, y): uncompressed protobuf} (XYZ rows)."""
    lo, hi = KINDS[kind][2]
    path = folder / f"{kind}.mbtiles"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.write_dataframe(frame, path, driver="MBTiles", layer=kind,
                                dataset_options={"MINZOOM": lo, "MAXZOOM": min(hi, MAX_ZOOM), "NAME": kind})
    tiles = {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for z, x, tms_y, data in con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles"):
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            tiles[(int(z), int(x), (1 << int(z)) - 1 - int(tms_y))] = raw
    finally:
        con.close()
    return tiles


def build_tiles(session: Session) -> int:
    """Rebuild `basemap_tiles` from every city's base layers; returns the number of tiles."""
    frames = _frames(session)
    merged: dict[tuple[int, int, int], list[bytes]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="cityops-tiles-") as tmp:
        for kind, frame in frames.items():
            for key, raw in _cut(frame, kind, Path(tmp)).items():
                merged[key].append(raw)
    session.execute(delete(BasemapTile))
    rows = [{"z": z, "x": x, "y": y, "data": gzip.compress(b"".join(parts), mtime=0)}
            for (z, x, y), parts in sorted(merged.items())]
    for i in range(0, len(rows), 1000):
        session.execute(insert(BasemapTile), rows[i:i + 1000])
    bounds = None
    if frames:
        b = np.array([f.total_bounds for f in frames.values()])
        bounds = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]
    _set_meta(session, BOUNDS_KEY, json.dumps(bounds))
    version = session.scalar(select(Meta.value).where(Meta.key == VERSION_KEY))
    _set_meta(session, VERSION_KEY, str(int(version or 0) + 1))
    session.flush()
    return len(rows)


def _set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value


def tile(session: Session, z: int, x: int, y: int) -> bytes | None:
    """One tile (gzip-compressed protobuf), or None when there is none there."""
    return session.scalar(select(BasemapTile.data).where(BasemapTile.z == z, BasemapTile.x == x, BasemapTile.y == y))


def summary(session: Session) -> dict:
    """{kind: feature count} per city, and the tile count: what the basemap holds."""
    counts = session.execute(select(BasemapFeature.city_code, BasemapFeature.kind, func.count())
                             .group_by(BasemapFeature.city_code, BasemapFeature.kind)).all()
    per_city: dict[str, dict[str, int]] = defaultdict(dict)
    for city, kind, n in counts:
        per_city[city][kind] = int(n)
    tiles = int(session.scalar(select(func.count()).select_from(BasemapTile)) or 0)
    return {"cities": dict(per_city), "tiles": tiles}


_PAINT = {
    True: {"water_fill": "#10304A", "water_line": "#1B4A6E", "building": "#1C2536", "road_major": "#3A4A66",
           "road_minor": "#2A3650", "place": "#8FA3C0"},
    False: {"water_fill": "#A9CBE6", "water_line": "#86B4DA", "building": "#DDD8CF", "road_major": "#FFFFFF",
            "road_minor": "#F2EFE9", "place": "#55657F"},
}
_MAJOR = ["motorway", "trunk", "primary", "secondary", "高速公路", "国道", "省道", "主干道", "主干路", "快速路"]


def style(session: Session, dark: bool = True, origin: str = "") -> dict:
    """The local MapLibre style (static/basemap-dark.json or -light) with the city base layers added
    when any are loaded. Tile URLs start with `origin` (scheme://host of this site: the map's worker
    cannot resolve a bare path) and carry the basemap version, so a rebuilt basemap is fetched anew."""
    base = json.loads((_STATIC / ("basemap-dark.json" if dark else "basemap-light.json")).read_text(encoding="utf-8"))
    version = session.scalar(select(Meta.value).where(Meta.key == VERSION_KEY))
    has_tiles = session.scalar(select(BasemapTile.z).limit(1)) is not None
    if not version or not has_tiles:
        return base
    out = copy.deepcopy(base)
    bounds = json.loads(session.scalar(select(Meta.value).where(Meta.key == BOUNDS_KEY)) or "null")
    source = {"type": "vector", "tiles": [origin + TILE_PATH + f"?v={version}"], "minzoom": min(v[2][0] for v in KINDS.values()),
              "maxzoom": MAX_ZOOM}
    if bounds:
        source["bounds"] = bounds
    out["sources"]["city"] = source
    p = _PAINT[dark]
    major = ["in", ["get", "class"], ["literal", _MAJOR]]
    layers = [
        {"id": "city-water-fill", "type": "fill", "source": "city", "source-layer": "water",
         "filter": ["==", ["geometry-type"], "Polygon"], "paint": {"fill-color": p["water_fill"]}},
        {"id": "city-water-line", "type": "line", "source": "city", "source-layer": "water",
         "filter": ["==", ["geometry-type"], "LineString"],
         "paint": {"line-color": p["water_line"], "line-width": ["interpolate", ["linear"], ["zoom"], 8, 1, 14, 4]}},
        {"id": "city-buildings", "type": "fill", "source": "city", "source-layer": "buildings", "minzoom": 13,
         "paint": {"fill-color": p["building"], "fill-opacity": 0.9}},
        {"id": "city-roads-minor", "type": "line", "source": "city", "source-layer": "roads",
         "filter": ["!", major], "minzoom": 11,
         "paint": {"line-color": p["road_minor"], "line-width": ["interpolate", ["linear"], ["zoom"], 11, 0.5, 14, 2.5]}},
        {"id": "city-roads-major", "type": "line", "source": "city", "source-layer": "roads", "filter": major,
         "paint": {"line-color": p["road_major"], "line-width": ["interpolate", ["linear"], ["zoom"], 8, 0.8, 14, 5]}},
        {"id": "city-places", "type": "circle", "source": "city", "source-layer": "places",
         "paint": {"circle-color": p["place"], "circle-radius": 2.5}},
    ]
    background = [i for i, layer in enumerate(out["layers"]) if layer.get("type") == "background"]
    at = background[-1] + 1 if background else 0
    out["layers"][at:at] = layers
    out.setdefault("metadata", {})["cityops:basemap"] = "由本市底图文件生成的矢量瓦片（/tiles/），不访问外网"
    return out
